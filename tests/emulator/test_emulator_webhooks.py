"""Webhook delivery of the emulator to a real loopback receiver: bodies, retries, chaos."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from cwpro.emulator import Emulator

SCALE = 5e-5  # 10 minutes -> 30 ms


class Receiver:
    """A webhook listener answering statuses from a script (then 200)."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.received: list[tuple[float, dict[str, str], Any]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((time.monotonic(), dict(request.headers), await request.json()))
        status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status, text="ok")

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/hook"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    def bodies(self) -> list[Any]:
        return [body for _, _, body in self.received]


async def _login(emu: Emulator, session: aiohttp.ClientSession) -> dict[str, str]:
    async with session.post(
        emu.url_for("/auth/token"),
        json={"client_id": emu.client_id, "client_secret": emu.client_secret},
    ) as response:
        token = (await response.json())["data"]["access_token"]
    return {"Authorization": f"Bearer {token}"}


async def _create(
    emu: Emulator, session: aiohttp.ClientSession, headers: dict[str, str], name: str
) -> dict[str, Any]:
    async with session.post(
        emu.url_for("/workorders"), json={"name": name}, headers=headers
    ) as response:
        data: dict[str, Any] = (await response.json())["data"]
        return data


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as listener:
        yield listener


async def test_events_are_posted_with_the_wire_body(receiver: Receiver) -> None:
    async with (
        Emulator(workorders=5, portal_links=0, webhook_time_scale=SCALE) as emu,
        aiohttp.ClientSession() as session,
    ):
        emu.webhooks.add_target(receiver.url, basic_auth=("hook-user", "s3cret"))
        headers = await _login(emu, session)
        item = await _create(emu, session, headers, "Hooked")
        async with session.post(
            emu.url_for("/sites"), json={"name": "Site"}, headers=headers
        ) as response:
            site = (await response.json())["data"]
        await emu.webhooks.drain(timeout=5)
        records = {r["data"]["_id"]: r for r in emu.state.notifications}
    bodies = receiver.bodies()
    assert [body["event"] for body in sorted(bodies, key=lambda b: b["created_date"])] == [
        "WORKORDER.CREATE",
        "SITE.CREATE",
    ]
    by_object = {body["data"]["_id"]: body for body in bodies}
    assert by_object[item["_id"]]["data"] == item
    assert by_object[site["_id"]]["data"] == site
    record = records[item["_id"]]
    assert by_object[item["_id"]] == {
        "id": record["_id"],
        "event": "WORKORDER.CREATE",
        "created_date": record["created_date"],
        "data": item,
    }
    _, headers_seen, _ = receiver.received[0]
    assert headers_seen["Content-Type"] == "application/json"
    expected = "Basic " + base64.b64encode(b"hook-user:s3cret").decode()
    assert headers_seen["Authorization"] == expected


async def test_failed_deliveries_are_retried_at_scaled_times(receiver: Receiver) -> None:
    receiver.statuses = [500, 503, 404]
    async with (
        Emulator(workorders=5, portal_links=0, webhook_time_scale=SCALE) as emu,
        aiohttp.ClientSession() as session,
    ):
        emu.webhooks.add_target(receiver.url)
        await _create(emu, session, await _login(emu, session), "Retry me")
        await emu.webhooks.drain(timeout=5)
        attempts = list(emu.webhooks.attempts)
        assert emu.webhooks.delivered_ids() == [attempts[-1].event_id]
    assert [a.attempt for a in attempts] == [1, 2, 3, 4]
    assert [a.outcome for a in attempts] == ["http_500", "http_503", "http_404", "delivered"]
    gaps = [later.at - earlier.at for earlier, later in zip(attempts, attempts[1:], strict=False)]
    for n, gap in enumerate(gaps, start=1):
        expected = n * 600 * SCALE
        assert expected * 0.95 <= gap < expected + 1.0, (n, gap)  # upper bound: load tolerant
    assert len({body["id"] for body in receiver.bodies()}) == 1


async def test_delivery_gives_up_after_five_retries() -> None:
    async with (
        Emulator(workorders=5, portal_links=0, webhook_time_scale=1e-5) as emu,
        aiohttp.ClientSession() as session,
    ):
        emu.webhooks.add_target("http://127.0.0.1:9/unreachable")
        await _create(emu, session, await _login(emu, session), "Nobody listens")
        await emu.webhooks.drain(timeout=5)
        attempts = list(emu.webhooks.attempts)
        assert [a.attempt for a in attempts] == [1, 2, 3, 4, 5, 6]
        assert all(a.outcome.startswith("error") for a in attempts)
        assert len(emu.webhooks.gave_up) == 1
        assert emu.webhooks.pending == 0


async def test_duplicates_and_reordering(receiver: Receiver) -> None:
    async with (
        Emulator(
            workorders=5,
            portal_links=0,
            webhook_duplicate_probability=1.0,
            webhook_reorder_window=0.3,
        ) as emu,
        aiohttp.ClientSession() as session,
    ):
        emu.webhooks.add_target(receiver.url)
        headers = await _login(emu, session)
        created = [(await _create(emu, session, headers, f"n{i}"))["_id"] for i in range(8)]
        await emu.webhooks.drain(timeout=5)
    arrived = [body["data"]["_id"] for body in receiver.bodies()]
    assert sorted(arrived) == sorted(created * 2)
    first_arrivals = list(dict.fromkeys(arrived))
    assert first_arrivals != created, "a 0.3 s reorder window should shuffle 8 deliveries"


async def test_drain_times_out_and_close_cancels_pending_deliveries(receiver: Receiver) -> None:
    receiver.statuses = [500] * 10
    async with Emulator(workorders=5, portal_links=0) as emu, aiohttp.ClientSession() as session:
        emu.webhooks.add_target(receiver.url)
        await _create(emu, session, await _login(emu, session), "Stuck")
        with pytest.raises(TimeoutError):
            await emu.webhooks.drain(timeout=0.2)
        assert emu.webhooks.pending == 1
        started = time.monotonic()
    assert time.monotonic() - started < 2
    assert emu.webhooks.pending == 0
    assert len(receiver.received) == 1


async def test_admin_routes_control_webhooks(receiver: Receiver) -> None:
    async with (
        Emulator(workorders=5, portal_links=0, webhook_time_scale=SCALE) as emu,
        aiohttp.ClientSession() as session,
    ):
        async with session.post(
            emu.url_for("/_emulator/webhook-targets"),
            json={"url": receiver.url, "username": "u", "password": "p"},
        ) as response:
            assert response.status == 201
        receiver.statuses = [500]
        await _create(emu, session, await _login(emu, session), "Admin")
        async with session.post(
            emu.url_for("/_emulator/drain-webhooks"), json={"timeout": 5}
        ) as response:
            assert await response.json() == {"drained": True, "pending": 0}
        async with session.get(emu.url_for("/_emulator/webhook-attempts")) as response:
            attempts = (await response.json())["attempts"]
    assert [a["outcome"] for a in attempts] == ["http_500", "delivered"]
    assert receiver.received[0][1]["Authorization"].startswith("Basic ")


async def test_only_subscribed_targets_get_events(receiver: Receiver) -> None:
    async with Emulator(workorders=5, portal_links=0) as emu, aiohttp.ClientSession() as session:
        headers = await _login(emu, session)
        await _create(emu, session, headers, "Unseen")
        target = emu.webhooks.add_target(receiver.url, basic_auth=("user", "hidden-pw"))
        assert "hidden-pw" not in repr(target)
        emu.webhooks.remove_target(target)
        await _create(emu, session, headers, "Unsubscribed")
        await emu.webhooks.drain(timeout=5)
        await asyncio.sleep(0)
    assert receiver.received == []
