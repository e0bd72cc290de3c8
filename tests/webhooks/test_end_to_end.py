"""End to end with the emulator: CWP creates work orders and sites, the receiver gets them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cwpro.emulator import Emulator
from cwpro.webhooks import (
    InMemorySeenStore,
    SiteCreated,
    WebhookEvent,
    WorkOrderCreated,
    backfill,
    event_from_mapping,
)
from tests.emulator.live import Live

from ._receiving import Recorder, serving

AUTH = ("cwp-hooks", "correct horse battery staple")
TIME_SCALE = 1e-4  # retries after 0.06 s, 0.12 s, ...


class Api(Live):
    """Raw calls to the emulator with a bearer token."""

    async def payload(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON payload of a call that must succeed."""
        reply = await self.call(method, path, **kwargs)
        assert reply.status == 200, reply.raw.decode()
        assert reply.headers["Content-Type"].startswith("application/json"), reply.headers
        payload = reply.body
        assert payload.get("code", 200) == 200, payload
        return payload

    async def create_work_order(self, name: str) -> dict[str, Any]:
        return (await self.payload("POST", "/workorders", json={"name": name}))["data"]  # type: ignore[no-any-return]

    async def notifications(self) -> AsyncIterator[WebhookEvent]:
        """Every notification record, through the cursor list."""
        cursor: str | None = None
        while True:
            params = {"limit": "50", **({"cursor": cursor} if cursor else {})}
            page = await self.payload("GET", "/webhooks", params=params)
            for record in page["data"]:
                yield event_from_mapping(record)
            cursor = page["pagination"]["nextCursor"]
            if not page["pagination"]["hasNext"] or not cursor:
                return


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(
        seed=3,
        workorders=5,
        sites=2,
        work_types=2,
        portal_links=0,
        notifications=0,
        webhook_time_scale=TIME_SCALE,
    ) as emulator:
        yield emulator


@pytest.fixture
async def api(emu: Emulator) -> AsyncIterator[Api]:
    async with Api.open(emu) as client:
        yield client


async def test_created_work_order_reaches_the_receiver(emu: Emulator, api: Api) -> None:
    recorder = Recorder()
    async with serving(recorder, basic_auth=AUTH) as (receiver, url, _):
        emu.webhooks.add_target(url, basic_auth=AUTH)
        created = await api.create_work_order("Replace the boiler")
        site = (await api.payload("POST", "/sites", json={"name": "Depot"}))["data"]
        await emu.webhooks.drain(timeout=5)
        await receiver.join()
    by_type = {type(event): event for event in recorder.events}
    work_order_event = by_type[WorkOrderCreated]
    assert isinstance(work_order_event, WorkOrderCreated)
    assert work_order_event.work_order.id == created["_id"]
    assert work_order_event.work_order.name == "Replace the boiler"
    site_event = by_type[SiteCreated]
    assert isinstance(site_event, SiteCreated)
    assert site_event.site.id == site["_id"]
    assert all(attempt.delivered for attempt in emu.webhooks.attempts)


async def test_wrong_credentials_are_refused_and_retried(emu: Emulator, api: Api) -> None:
    recorder = Recorder()
    emu.webhooks.time_scale = 1e-5  # all 5 retries within 0.15 s
    async with serving(recorder, basic_auth=AUTH) as (receiver, url, _):
        emu.webhooks.add_target(url, basic_auth=("cwp-hooks", "guess"))
        await api.create_work_order("Nope")
        await emu.webhooks.drain(timeout=5)
    assert [attempt.status for attempt in emu.webhooks.attempts] == [401] * 6
    assert recorder.calls == 0
    assert receiver.stats.rejected["unauthorized"] == 6


async def test_handler_failing_twice_is_handled_on_the_third_attempt(
    emu: Emulator, api: Api
) -> None:
    recorder = Recorder(fail_times=2)
    async with serving(recorder, mode="inline", basic_auth=AUTH) as (receiver, url, _):
        emu.webhooks.add_target(url, basic_auth=AUTH)
        created = await api.create_work_order("Flaky")
        await emu.webhooks.drain(timeout=5)
    attempts = [a for a in emu.webhooks.attempts if a.event == "WORKORDER.CREATE"]
    assert [(a.attempt, a.status) for a in attempts] == [(1, 500), (2, 500), (3, 200)]
    first_wait = attempts[1].at - attempts[0].at
    second_wait = attempts[2].at - attempts[1].at
    assert first_wait >= 600 * TIME_SCALE * 0.9
    assert second_wait >= 1200 * TIME_SCALE * 0.9
    assert second_wait > first_wait * 1.2
    assert [event.data["_id"] for event in recorder.events] == [created["_id"]]
    assert recorder.calls == 3
    assert receiver.stats.failed == 2
    assert receiver.stats.handled == 1


async def test_duplicated_and_shuffled_deliveries_are_handled_once_in_order() -> None:
    recorder = Recorder()
    async with (
        Emulator(
            seed=5,
            workorders=0,
            sites=0,
            work_types=1,
            portal_links=0,
            notifications=0,
            webhook_duplicate_probability=0.5,
            webhook_reorder_window=0.15,
        ) as emu,
        Api.open(emu) as api,
    ):
        async with serving(recorder, ordering_window=0.4) as (receiver, url, _):
            emu.webhooks.add_target(url)
            created = [await api.create_work_order(f"order {n}") for n in range(30)]
            await emu.webhooks.drain(timeout=5)
            await asyncio.wait_for(receiver.join(), 5)
        assert any(attempt.duplicate for attempt in emu.webhooks.attempts)
    # each exactly once, in created_date order (equal milliseconds keep arrival order)
    assert sorted(event.data["_id"] for event in recorder.events) == [wo["_id"] for wo in created]
    dates = [event.created_date for event in recorder.events]
    assert dates == sorted(dates)
    assert receiver.stats.duplicates > 0
    assert receiver.stats.late == 0


async def test_backfill_handles_only_what_the_receiver_missed(emu: Emulator, api: Api) -> None:
    recorder = Recorder()
    store = InMemorySeenStore()
    missed = [await api.create_work_order(f"missed {n}") for n in range(3)]  # nobody listening
    async with serving(recorder, dedupe=store) as (receiver, url, _):
        emu.webhooks.add_target(url)
        live = [await api.create_work_order(f"live {n}") for n in range(2)]
        await emu.webhooks.drain(timeout=5)
        await receiver.join()
    assert [event.data["_id"] for event in recorder.events] == [wo["_id"] for wo in live]

    backfilled = Recorder()
    result = await backfill(api.notifications(), backfilled, seen=store)
    assert [event.data["_id"] for event in backfilled.events] == [wo["_id"] for wo in missed]
    assert (result.handled, result.skipped) == (3, 2)
    again = await backfill(api.notifications(), backfilled, seen=store)
    assert (again.handled, again.skipped) == (0, 5)
