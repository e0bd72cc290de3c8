"""Fault injection of the emulator, seen from a plain aiohttp client over loopback."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from cwpro.emulator import Emulator, FaultRegistry, parse_fault_spec
from tests.emulator.live import Live


class Api(Live):
    """Fresh connection per request (so aiohttp never silently retries a dropped one)."""

    async def get(self, path: str, **params: str) -> tuple[int, dict[str, str], bytes]:
        reply = await self.call("GET", path, params=params)
        return reply.status, reply.headers, reply.raw


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with (
        Emulator(seed=2, workorders=60, sites=5, work_types=4, portal_links=5) as emu,
        Api.open(emu, fresh_connections=True) as client,
    ):
        yield client


async def test_status_fault_json_envelope_with_retry_after(api: Api) -> None:
    api.emu.faults.add("status", status=429, retry_after=7, times=2, route="GET /workorders")
    for _ in range(2):
        status, headers, raw = await api.get("/workorders")
        body = json.loads(raw)
        assert status == 429
        assert headers["Retry-After"] == "7"
        assert body["success"] is False
        assert body["error"]["code"] == "TOO_MANY_REQUESTS"
    assert (await api.get("/workorders"))[0] == 200
    assert api.emu.faults.injected["status"] == 2
    assert api.emu.stats.faults_injected == 2
    assert len(api.emu.faults) == 0


async def test_status_fault_html_body(api: Api) -> None:
    api.emu.faults.add("status", status=502, body="html", times=1)
    status, headers, raw = await api.get("/sites")
    assert status == 502
    assert headers["Content-Type"].startswith("text/html")
    assert b"502 Bad Gateway" in raw


async def test_status_fault_on_portal_routes_uses_the_portal_shape(api: Api) -> None:
    api.emu.faults.add("status", status=500, route="* /workorder-portal-link*", times=1)
    status, _, raw = await api.get("/workorder-portal-link")
    assert status == 500
    body = json.loads(raw)
    assert body["success"] is False
    assert isinstance(body["error"], str)


async def test_route_patterns_select_requests(api: Api) -> None:
    object_id = next(api.emu.state.workorder_ids())
    api.emu.faults.add("status", status=503, route="GET /workorders/*")
    assert (await api.get("/workorders"))[0] == 200
    assert (await api.get(f"/workorders/{object_id}"))[0] == 503
    assert (await api.get("/sites"))[0] == 200
    api.emu.faults.clear()
    handle = api.emu.faults.add("status", status=503, route="/sites")
    assert (await api.get("/sites"))[0] == 503
    handle.remove()
    assert (await api.get("/sites"))[0] == 200


async def test_token_route_is_only_hit_when_named(api: Api) -> None:
    api.emu.faults.add("status", status=500)
    await api.login()
    assert api.token
    api.emu.faults.clear()
    api.emu.faults.add("status", status=500, route="POST /auth/token", times=1)
    async with api.session.post(
        api.emu.url_for("/auth/token"),
        json={"client_id": api.emu.client_id, "client_secret": api.emu.client_secret},
    ) as r:
        assert r.status == 500


async def test_reset_before_headers(api: Api) -> None:
    # aiohttp itself retries an idempotent request once after a dropped connection
    api.emu.faults.add("reset_before_headers", times=2)
    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        await api.get("/workorders")
    assert (await api.get("/workorders"))[0] == 200
    assert api.emu.faults.injected["reset_before_headers"] == 2
    assert api.emu.stats["GET /workorders"] == 3


async def test_reset_mid_body(api: Api) -> None:
    api.emu.faults.add("reset_mid_body", times=1)
    async with api.session.get(
        api.emu.url_for("/workorders"), headers={"Authorization": f"Bearer {api.token}"}
    ) as response:
        assert response.status == 200
        assert int(response.headers["Content-Length"]) > 1000
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()


async def test_truncate_body(api: Api) -> None:
    api.emu.faults.add("truncate_body", times=1)
    status, headers, raw = await api.get("/workorders", limit="5")
    assert status == 200
    assert int(headers["Content-Length"]) == len(raw)
    assert raw.startswith(b'{"code":200')
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)


async def test_slow_headers_and_slow_body(api: Api) -> None:
    api.emu.faults.add("slow_headers", delay=0.2, times=1)
    started = time.perf_counter()
    status, _, _ = await api.get("/worktypes")
    assert status == 200
    assert time.perf_counter() - started >= 0.2
    api.emu.faults.add("slow_body", delay=0.2, times=1)
    async with api.session.get(
        api.emu.url_for("/workorders"), headers={"Authorization": f"Bearer {api.token}"}
    ) as response:
        headers_at = time.perf_counter()
        assert response.status == 200
        body = await response.read()
        assert time.perf_counter() - headers_at >= 0.15
    assert len(json.loads(body)["data"]) == 60


async def test_invalid_cursor_only_hits_list_routes(api: Api) -> None:
    object_id = next(api.emu.state.workorder_ids())
    api.emu.faults.add("invalid_cursor", times=1)
    status, _, raw = await api.get(f"/workorders/{object_id}")
    assert status == 200
    assert json.loads(raw)["code"] == 200
    status, _, raw = await api.get("/workorders")
    body = json.loads(raw)
    assert (status, body["code"], body["error"]["code"]) == (200, 400, "PAG_0003")


async def test_expire_token_fault(api: Api) -> None:
    api.emu.faults.add("expire_token", times=1)
    assert (await api.get("/sites"))[0] == 401
    assert (await api.get("/sites"))[0] == 401
    await api.login()
    assert (await api.get("/sites"))[0] == 200


async def test_probability_is_reproducible_from_the_seed(api: Api) -> None:
    def pattern(seed: int) -> list[bool]:
        registry = FaultRegistry(seed)
        registry.add("status", status=500, probability=0.3)
        return [
            registry.pick("GET", "/sites", "/sites", is_list_route=True) is not None
            for _ in range(200)
        ]

    first = pattern(1)
    assert first == pattern(1)
    assert first != pattern(2)
    assert 30 < sum(first) < 90
    api.emu.faults.add("status", status=500, probability=0.5, times=3)
    statuses = [(await api.get("/sites"))[0] for _ in range(40)]
    assert statuses.count(500) == 3


def test_fault_spec_grammar() -> None:
    assert parse_fault_spec("status:503:times=3:route=GET /workorders") == {
        "kind": "status",
        "status": 503,
        "times": 3,
        "route": "GET /workorders",
    }
    assert parse_fault_spec("slow_body:delay=0.5:probability=0.25:body=html") == {
        "kind": "slow_body",
        "delay": 0.5,
        "probability": 0.25,
        "body": "html",
    }
    assert parse_fault_spec("status:status=429:retry_after=2") == {
        "kind": "status",
        "status": 429,
        "retry_after": 2.0,
    }
    for bad in ("explode", "status:times=x", "status:color=red", "status:oops"):
        with pytest.raises(ValueError):
            parse_fault_spec(bad)


def test_fault_arguments_are_validated() -> None:
    registry = FaultRegistry()
    bad: list[dict[str, Any]] = [
        {"kind": "nope"},
        {"kind": "status", "times": 0},
        {"kind": "status", "probability": 2},
        {"kind": "status", "body": "xml"},
        {"kind": "slow_body", "delay": -1},
        {"kind": "status", "status": 42},
    ]
    for options in bad:
        with pytest.raises(ValueError):
            registry.add(**options)


async def test_cli_style_fault_specs_at_construction() -> None:
    async with Emulator(
        workorders=5, portal_links=0, fault_specs=["status:503:times=1:route=GET /sites"]
    ) as emu:
        assert [fault.status for fault in emu.faults] == [503]
