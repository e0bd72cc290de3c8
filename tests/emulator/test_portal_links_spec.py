"""The emulator answers like the published portal-link OpenAPI file (and the CWP side like
API.md), seen from plain aiohttp over loopback through the full emulator (auth, middleware)."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest

from cwpro.emulator import Emulator
from cwpro.emulator.server import KEEPALIVE_TIMEOUT
from tests.emulator.live import Live
from tests.emulator.portal_helpers import DETAILS_HEADER

BASE = "/workorder-portal-link"
AWARE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
DATETIME_FIELDS = ("expiry_date", "createdAt", "modifiedAt")
ACTIONS = ("regenerate", "activate", "deactivate")


def assert_error_shape(body: Any, error: str | None = None) -> None:
    assert set(body) == {"success", "error"}
    assert body["success"] is False
    assert isinstance(body["error"], str)
    if error is not None:
        assert body["error"] == error


def datetimes_of(link: dict[str, Any]) -> list[str]:
    values = [link[name] for name in DATETIME_FIELDS]
    stats = link["usage_stats"]
    values.append(stats["last_accessed"])
    values += [entry["timestamp"] for entry in stats["access_log"]]
    return [value for value in values if value is not None]


async def test_all_eight_operations_answer_the_published_shapes(live: Live) -> None:
    workorder = next(live.emu.state.workorder_ids())
    listed = await live.call("GET", BASE, params=[("per_page", "5")])
    assert listed.status == 200
    assert set(listed.body) == {"success", "data", "paging"}
    assert set(listed.body["paging"]) == {"total", "page", "per_page", "pages"}
    created = await live.call("POST", BASE, json={"workorder": workorder})
    assert created.status == 201
    assert set(created.body) == {"success", "data"}
    link = created.body["data"]
    item = f"{BASE}/{link['_id']}"
    got = await live.call("GET", item)
    assert (got.status, got.body) == (200, {"success": True, "data": link})
    patched = await live.call("PATCH", item, json={"link_type": "public"})
    assert (patched.status, patched.body["data"]["link_type"]) == (200, "public")
    for action in ACTIONS:
        answered = await live.call("POST", f"{item}/{action}")
        assert answered.status == 200
        assert set(answered.body) == {"success", "data"}
        assert answered.body["data"]["_id"] == link["_id"]
    deleted = await live.call("DELETE", item)
    assert deleted.status == 200
    assert deleted.body == {"success": True}
    assert "data" not in deleted.body
    assert (await live.call("GET", item)).status == 404
    assert (await live.call("DELETE", item)).status == 404
    assert live.emu.stats.count(f"* {BASE}*") == 10


@pytest.mark.parametrize("method_suffix", [("DELETE", ""), *(("POST", f"/{a}") for a in ACTIONS)])
@pytest.mark.parametrize(
    ("data", "headers"),
    [
        (b"{}", {"Content-Type": "application/json"}),
        (b"null", {"Content-Type": "application/json"}),
        (b"x", {"Content-Type": "text/plain"}),
        (b" ", {}),
    ],
)
async def test_bodyless_operations_refuse_any_body_and_do_nothing(
    live: Live, method_suffix: tuple[str, str], data: bytes, headers: dict[str, str]
) -> None:
    method, suffix = method_suffix
    before = live.first_link()
    reply = await live.call(method, f"{BASE}/{before['_id']}{suffix}", data=data, headers=headers)
    assert reply.status == 400
    assert_error_shape(reply.body, "Request body is not allowed for this operation")
    assert json.loads(reply.headers[DETAILS_HEADER]) == [
        f"{method} {BASE}/{before['_id']}{suffix} takes no body; send none"
    ]
    assert live.emu.portal_links.get(before["_id"]) == before


async def test_bodyless_operations_accept_a_content_type_without_a_body(live: Live) -> None:
    link = live.first_link()
    json_header = {"Content-Type": "application/json"}
    reply = await live.call("POST", f"{BASE}/{link['_id']}/deactivate", headers=json_header)
    assert (reply.status, reply.body["data"]["is_active"]) == (200, False)
    reply = await live.call("DELETE", f"{BASE}/{link['_id']}", headers=json_header)
    assert (reply.status, reply.body) == (200, {"success": True})


async def test_query_booleans_are_lowercase_and_arrays_repeat_their_key(live: Live) -> None:
    everything = (await live.call("GET", BASE, params={"per_page": "100"})).body["data"]
    active = await live.call("GET", BASE, params={"is_active": "true", "per_page": "100"})
    assert [link["_id"] for link in active.body["data"]] == [
        link["_id"] for link in everything if link["is_active"]
    ]
    for bad in ("True", "TRUE", "1", "yes"):
        reply = await live.call("GET", BASE, params={"is_active": bad})
        assert reply.status == 400
        assert_error_shape(reply.body, "Invalid is_active: must be true or false (lowercase)")
    chosen = [everything[1]["_id"], everything[7]["_id"]]
    reply = await live.call("GET", BASE, params=[("_id", chosen[0]), ("_id", chosen[1])])
    assert [link["_id"] for link in reply.body["data"]] == chosen
    namespaces = sorted({ns for link in everything for ns in link["company_namespace"]})[:2]
    reply = await live.call(
        "GET", BASE, params=[("company_namespace", ns) for ns in namespaces] + [("per_page", "100")]
    )
    assert [link["_id"] for link in reply.body["data"]] == [
        link["_id"] for link in everything if set(namespaces) & set(link["company_namespace"])
    ]
    for bracketed in ("_id[]", "company_namespace[]"):
        reply = await live.call("GET", BASE, params={bracketed: chosen[0]})
        assert reply.status == 400
        assert_error_shape(reply.body)


async def test_every_datetime_carries_a_timezone(live: Live) -> None:
    links = (await live.call("GET", BASE, params={"per_page": "100"})).body["data"]
    moments = [moment for link in links for moment in datetimes_of(link)]
    assert len(moments) > len(links) * 2
    assert all(AWARE.fullmatch(moment) for moment in moments)
    workorder = next(live.emu.state.workorder_ids())
    naive = await live.call(
        "POST", BASE, json={"workorder": workorder, "expiry_date": "2031-01-01T00:00:00"}
    )
    assert naive.status == 422
    offset = await live.call(
        "POST", BASE, json={"workorder": workorder, "expiry_date": "2031-01-01T02:00:00+02:00"}
    )
    assert offset.body["data"]["expiry_date"] == "2031-01-01T00:00:00.000Z"


async def test_error_bodies_hold_no_details_which_travel_in_a_header(live: Live) -> None:
    link = live.first_link()
    invalid = await live.call(
        "POST", BASE, json={"link_type": "nope", "permissions": {"can_view_details": 1}}
    )
    assert invalid.status == 422
    assert_error_shape(invalid.body, "Validation failed")
    assert json.loads(invalid.headers[DETAILS_HEADER]) == [
        "workorder: is required",
        "link_type: must be one of public, private, secure",
        "permissions.can_view_details: must be a boolean",
    ]
    for method, path, kwargs, status in [
        ("GET", f"{BASE}/not-an-id", {}, 400),
        ("GET", BASE, {"params": {"page": "0"}}, 400),
        (
            "PATCH",
            f"{BASE}/{link['_id']}",
            {"data": b"{", "headers": {"Content-Type": "application/json"}},
            400,
        ),
        ("PATCH", f"{BASE}/{link['_id']}", {"data": b"{}"}, 422),
        ("GET", f"{BASE}/{'0' * 24}", {}, 404),
    ]:
        reply = await live.call(method, path, **kwargs)
        assert reply.status == status
        assert_error_shape(reply.body)
    unauthenticated = await live.call("GET", BASE, auth=False)
    assert unauthenticated.status == 401
    assert_error_shape(unauthenticated.body, "Missing bearer token")
    assert json.loads(unauthenticated.headers[DETAILS_HEADER]) == [
        "Send Authorization: Bearer <token>"
    ]


async def test_long_details_are_cut_to_a_bounded_ascii_header(live: Live) -> None:
    body = {"permissions": {key: "x" for key in ("can_view_details", "can_add_comments")}}
    body["access_restrictions"] = {"allowed_ips": ["\u00e9" * 3000]}
    reply = await live.call("POST", BASE, json=body)
    header = reply.headers[DETAILS_HEADER]
    assert header.isascii()
    assert len(header) <= 4000
    details = json.loads(header)
    assert details[0] == "workorder: is required"
    assert details[-1].startswith("... ")


def test_keepalive_default_is_five_seconds_like_the_published_server() -> None:
    assert KEEPALIVE_TIMEOUT == 5.0
    assert Emulator().keepalive_timeout == 5.0
    with pytest.raises(ValueError, match="keepalive_timeout"):
        Emulator(keepalive_timeout=-1)


async def _idle_connection_closes(emu: Emulator, wait: float) -> bool:
    host, port = emu.base_url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        request = f"GET /_emulator/health HTTP/1.1\r\nHost: {host}\r\n\r\n"
        writer.write(request.encode())
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
        await reader.readexactly(length)
        try:
            return await asyncio.wait_for(reader.read(1), wait) == b""
        except TimeoutError:
            return False
    finally:
        writer.close()
        await writer.wait_closed()


async def test_idle_keepalive_connections_are_closed_by_the_server() -> None:
    async with Emulator(workorders=1, portal_links=0, keepalive_timeout=0.2) as emu:
        assert await _idle_connection_closes(emu, wait=10.0)
    async with Emulator(workorders=1, portal_links=0, keepalive_timeout=30.0) as emu:
        assert not await _idle_connection_closes(emu, wait=0.5)


# -- the CWP side against API.md ------------------------------------------------------------------
async def test_cwp_envelope_and_business_errors_as_http_200(live: Live) -> None:
    workorder = next(live.emu.state.workorder_ids())
    got = await live.call("GET", f"/workorders/{workorder}")
    assert got.status == 200
    assert set(got.body) == {"code", "reason", "data", "success"}
    assert (got.body["code"], got.body["reason"], got.body["success"]) == (200, "", True)
    status = await live.call("PATCH", f"/workorders/{workorder}/status", json={"status": "draft"})
    assert isinstance(status.body["data"], str)
    business = await live.call("POST", "/workorders", json={"description": "no name"})
    assert business.status == 200
    assert business.body["code"] == 400
    assert business.body["error"]["code"] == "WO_0001"
    assert set(business.body["error"]) == {"code", "message", "detail"}
    assert business.body["data"] == {}
    wrong_type = await live.call("POST", "/workorders", data=b"{}")
    assert (wrong_type.status, wrong_type.body["code"]) == (422, 422)
    missing = await live.call("GET", f"/workorders/{'0' * 24}")
    assert (missing.status, missing.body["success"]) == (404, False)
    unauthenticated = await live.call("GET", "/workorders", auth=False)
    assert (unauthenticated.status, unauthenticated.body["code"]) == (401, 401)
