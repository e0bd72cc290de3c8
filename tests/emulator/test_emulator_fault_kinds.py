"""The faults an SDK's reliability tests need, per route and method, with the request counts the
server saw and whether the side effect was done; plain aiohttp over loopback, no SDK."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from cwpro.emulator import Emulator, FaultRegistry, parse_fault_spec
from tests.emulator.live import Live

BASE = "/workorder-portal-link"
ITEM = f"{BASE}/{{link_id}}"
DELETE_ROUTE = f"DELETE {ITEM}"
CREATE_ROUTE = f"POST {BASE}"


@pytest.fixture
async def fresh() -> AsyncIterator[Live]:
    """Like ``live`` but every request on a new connection (no pooled-connection effects)."""
    async with (
        Emulator(seed=6, workorders=20, sites=3, work_types=3, portal_links=10) as emu,
        Live.open(emu, fresh_connections=True) as client,
    ):
        emu.stats.reset()
        yield client


def workorder_of(live: Live) -> str:
    return next(live.emu.state.workorder_ids())


async def send(live: Live, method: str, path: str, **kwargs: Any) -> Any:
    """The reply, or the aiohttp exception type the call ended with."""
    try:
        return await live.call(method, path, **kwargs)
    except (
        aiohttp.ClientPayloadError,
        aiohttp.ServerDisconnectedError,
        aiohttp.ClientOSError,
    ) as e:
        return type(e)


# -- (a) complete but undecodable 2xx: the work is done ------------------------------------------
async def test_html_body_keeps_the_status_and_the_side_effect(fresh: Live) -> None:
    fresh.emu.faults.add("html_body", route=CREATE_ROUTE, times=1)
    before = len(fresh.emu.portal_links)
    reply = await fresh.call("POST", BASE, json={"workorder": workorder_of(fresh)})
    assert reply.status == 201
    assert reply.headers["Content-Type"].startswith("text/html")
    assert reply.raw.startswith(b"<html>")
    assert b"201 Created" in reply.raw
    assert len(fresh.emu.portal_links) == before + 1
    assert fresh.emu.stats[CREATE_ROUTE] == 1


async def test_truncate_body_is_invalid_json_with_a_matching_length(fresh: Live) -> None:
    link = fresh.first_link()
    fresh.emu.faults.add("truncate_body", route="POST */activate", times=1)
    fresh.emu.portal_links.set_active(link["_id"], False)
    reply = await fresh.call("POST", f"{BASE}/{link['_id']}/activate")
    assert reply.status == 200
    assert int(reply.headers["Content-Length"]) == len(reply.raw)
    with pytest.raises(json.JSONDecodeError):
        json.loads(reply.raw)
    assert fresh.emu.portal_links.get(link["_id"])["is_active"] is True  # type: ignore[index]


async def test_missing_data_drops_data_after_doing_the_work(fresh: Live) -> None:
    link = fresh.first_link()
    fresh.emu.faults.add("missing_data", route="PATCH /workorder-portal-link/*", times=1)
    reply = await fresh.call("PATCH", f"{BASE}/{link['_id']}", json={"link_type": "secure"})
    assert (reply.status, reply.body) == (200, {"success": True})
    assert fresh.emu.portal_links.get(link["_id"])["link_type"] == "secure"  # type: ignore[index]
    workorder = workorder_of(fresh)
    fresh.emu.faults.add("missing_data", route="PATCH /workorders/*/status", times=1)
    reply = await fresh.call("PATCH", f"/workorders/{workorder}/status", json={"status": "open"})
    assert (reply.status, reply.body) == (200, {"code": 200, "reason": "", "success": True})
    assert fresh.emu.state.workorders.get(workorder)["status"] == "open"  # type: ignore[index]


async def test_missing_fields_keeps_only_ids(fresh: Live) -> None:
    fresh.emu.faults.add("missing_fields", route=f"GET {BASE}", times=1)
    reply = await fresh.call("GET", BASE, params={"per_page": "3"})
    assert reply.status == 200
    assert len(reply.body["data"]) == 3
    assert all(set(item) == {"_id"} for item in reply.body["data"])
    assert reply.body["paging"]["per_page"] == 3
    workorder = workorder_of(fresh)
    fresh.emu.faults.add("missing_fields", route="GET /workorders/*", times=1)
    reply = await fresh.call("GET", f"/workorders/{workorder}")
    assert reply.body["data"] == {"_id": workorder}
    fresh.emu.faults.add("missing_fields", route="PATCH /workorders/*/status", times=1)
    reply = await fresh.call("PATCH", f"/workorders/{workorder}/status", json={"status": "open"})
    assert reply.body["data"] == {}


async def test_a_delete_answered_without_data_is_the_spec_and_missing_data_is_a_no_op(
    fresh: Live,
) -> None:
    link = fresh.first_link()
    fresh.emu.faults.add("missing_data", route=DELETE_ROUTE, times=1)
    reply = await fresh.call("DELETE", f"{BASE}/{link['_id']}")
    assert (reply.status, reply.body) == (200, {"success": True})
    assert fresh.emu.portal_links.get(link["_id"]) is None


# -- (b) reset before the response: done or not done ---------------------------------------------
@pytest.mark.parametrize("processed", [False, True])
async def test_reset_before_headers_on_a_create(fresh: Live, processed: bool) -> None:
    fresh.emu.faults.add("reset_before_headers", route=CREATE_ROUTE, times=1, processed=processed)
    before = len(fresh.emu.portal_links)
    outcome = await send(fresh, "POST", BASE, json={"workorder": workorder_of(fresh)})
    assert outcome is aiohttp.ServerDisconnectedError
    assert fresh.emu.stats[CREATE_ROUTE] == 1  # aiohttp never re-sends a POST
    assert len(fresh.emu.portal_links) == before + int(processed)


@pytest.mark.parametrize("processed", [False, True])
async def test_reset_before_headers_on_a_delete_is_resent_once_by_aiohttp(
    fresh: Live, processed: bool
) -> None:
    link = fresh.first_link()
    fault = fresh.emu.faults.add(
        "reset_before_headers", route=DELETE_ROUTE, times=1, processed=processed
    )
    reply = await fresh.call("DELETE", f"{BASE}/{link['_id']}")
    # "done, answer lost" turns into a 404 on aiohttp's own re-send; "never processed" succeeds
    assert reply.status == (404 if processed else 200)
    assert fresh.emu.stats[DELETE_ROUTE] == 2
    assert fault.hits == 1
    assert fresh.emu.portal_links.get(link["_id"]) is None


async def test_two_resets_exhaust_aiohttps_single_resend(fresh: Live) -> None:
    fresh.emu.faults.add("reset_before_headers", route="GET /workorders", times=2)
    assert await send(fresh, "GET", "/workorders") is aiohttp.ServerDisconnectedError
    assert fresh.emu.stats["GET /workorders"] == 2
    assert (await fresh.call("GET", "/workorders")).status == 200
    assert fresh.emu.stats.count("GET /workorders") == 3


async def test_pooled_connections_see_the_same_resend(live: Live) -> None:
    workorder = workorder_of(live)
    await live.call("GET", f"/workorders/{workorder}")  # a pooled keep-alive connection exists
    live.emu.faults.add("reset_before_headers", route="GET /workorders/*", times=1)
    assert (await live.call("GET", f"/workorders/{workorder}")).status == 200
    assert live.emu.stats.count("GET /workorders/*") == 3


# -- (c) body cut short --------------------------------------------------------------------------
async def test_reset_mid_body_is_never_resent_and_the_work_is_done(fresh: Live) -> None:
    fresh.emu.faults.add("reset_mid_body", route=CREATE_ROUTE, times=1)
    before = len(fresh.emu.portal_links)
    async with fresh.session.post(
        fresh.emu.url_for(BASE),
        json={"workorder": workorder_of(fresh)},
        headers={"Authorization": f"Bearer {fresh.token}"},
    ) as response:
        assert response.status == 201
        declared = int(response.headers["Content-Length"])
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
    assert declared > 100
    assert len(fresh.emu.portal_links) == before + 1
    fresh.emu.faults.add("reset_mid_body", route=DELETE_ROUTE, times=1)
    link = fresh.first_link()
    assert await send(fresh, "DELETE", f"{BASE}/{link['_id']}") is aiohttp.ClientPayloadError
    assert fresh.emu.stats.count(f"* {BASE}*") == 2


# -- (d) 429 and (e) 5xx -------------------------------------------------------------------------
async def test_429_with_retry_after_is_not_processed(fresh: Live) -> None:
    fresh.emu.faults.add("status", status=429, retry_after=3, route=CREATE_ROUTE, times=1)
    before = len(fresh.emu.portal_links)
    body = {"workorder": workorder_of(fresh)}
    limited = await fresh.call("POST", BASE, json=body)
    assert (limited.status, limited.headers["Retry-After"]) == (429, "3")
    assert set(limited.body) == {"success", "error"}
    assert len(fresh.emu.portal_links) == before
    assert (await fresh.call("POST", BASE, json=body)).status == 201
    assert (fresh.emu.stats[CREATE_ROUTE], len(fresh.emu.portal_links)) == (2, before + 1)


async def test_retry_after_as_an_http_date(fresh: Live) -> None:
    date = "Wed, 21 Oct 2037 07:28:00 GMT"
    fresh.emu.faults.add("status", status=429, retry_after=date, route="GET /sites", times=1)
    assert (await fresh.call("GET", "/sites")).headers["Retry-After"] == date


@pytest.mark.parametrize(("status", "processed"), [(500, False), (503, False), (500, True)])
async def test_server_errors_with_and_without_the_work_done(
    fresh: Live, status: int, processed: bool
) -> None:
    link = fresh.first_link()
    fresh.emu.faults.add("status", status=status, route=DELETE_ROUTE, times=1, processed=processed)
    reply = await fresh.call("DELETE", f"{BASE}/{link['_id']}")
    assert reply.status == status
    assert (fresh.emu.portal_links.get(link["_id"]) is None) is processed
    fresh.emu.faults.add("status", status=status, route="PATCH /workorders/*/status", times=1)
    workorder = workorder_of(fresh)
    reply = await fresh.call("PATCH", f"/workorders/{workorder}/status", json={"status": "open"})
    assert (reply.status, reply.body["code"], reply.body["success"]) == (status, status, False)


# -- selection, counting, the N-times rule, the control API --------------------------------------
async def test_a_rule_applies_n_times_then_stops_and_only_to_its_route_and_method(
    fresh: Live,
) -> None:
    link = fresh.first_link()
    fault = fresh.emu.faults.add("status", status=503, route=f"GET {ITEM}", times=3)
    assert (await fresh.call("PATCH", f"{BASE}/{link['_id']}", json={})).status == 200
    assert (await fresh.call("GET", BASE)).status == 200
    statuses = [(await fresh.call("GET", f"{BASE}/{link['_id']}")).status for _ in range(5)]
    assert statuses == [503, 503, 503, 200, 200]
    assert (fault.hits, len(fresh.emu.faults)) == (3, 0)
    assert fresh.emu.stats.count(f"GET {ITEM}") == 5
    assert fresh.emu.stats.count(f"GET {BASE}/*") == 5
    assert fresh.emu.stats.count(f"* {BASE}*") == 7
    assert fresh.emu.stats.count("PATCH") == 1


async def test_control_api_adds_processed_faults_and_reads_counts(fresh: Live) -> None:
    link = fresh.first_link()
    admin = fresh.emu.url_for("/_emulator/")
    rule = {"kind": "reset_before_headers", "route": "POST */deactivate", "times": 1}
    async with fresh.session.post(admin + "faults", json={**rule, "processed": True}) as r:
        assert r.status == 201
        assert (await r.json())["processed"] is True
    assert await send(fresh, "POST", f"{BASE}/{link['_id']}/deactivate") is (
        aiohttp.ServerDisconnectedError
    )
    assert fresh.emu.portal_links.get(link["_id"])["is_active"] is False  # type: ignore[index]
    async with fresh.session.get(admin + "stats", params={"route": "POST */deactivate"}) as r:
        assert (await r.json())["count"] == 1
    async with fresh.session.post(
        admin + "faults", json={"kind": "html_body", "processed": False}
    ) as r:
        assert r.status == 400
        assert "always processed" in (await r.json())["error"]
    async with fresh.session.delete(admin + "stats") as r:
        assert r.status == 200
    assert fresh.emu.stats.total == 0


def test_processed_is_validated_and_reported() -> None:
    registry = FaultRegistry()
    assert registry.add("status").processed is False
    assert registry.add("reset_before_headers", processed=True).processed is True
    assert registry.add("missing_data").processed is True
    assert registry.add("invalid_cursor").processed is False
    for kind, value in [("html_body", False), ("invalid_cursor", True), ("status", "yes")]:
        with pytest.raises(ValueError, match="processed"):
            registry.add(kind, processed=value)
    assert registry.add("status", processed=True).to_dict()["processed"] is True
    for bad_times in (0, True, 1.5):
        with pytest.raises(ValueError, match="times"):
            registry.add("status", times=bad_times)  # type: ignore[arg-type]


def test_fault_spec_grammar_knows_processed_and_the_new_kinds() -> None:
    assert parse_fault_spec("reset_before_headers:processed=true:times=1:route=DELETE /x/*") == {
        "kind": "reset_before_headers",
        "processed": True,
        "times": 1,
        "route": "DELETE /x/*",
    }
    assert parse_fault_spec("status:500:processed=False")["processed"] is False
    for kind in ("html_body", "missing_data", "missing_fields"):
        assert parse_fault_spec(f"{kind}:route=GET /sites") == {"kind": kind, "route": "GET /sites"}
    with pytest.raises(ValueError):
        parse_fault_spec("status:processed=maybe")
