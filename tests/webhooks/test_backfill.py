"""backfill: each unseen event handled once; a failing handler leaves the event unseen."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable

import pytest

from cwpro.webhooks import BackfillResult, InMemorySeenStore, WebhookEvent, backfill, parse_event

from ._helpers import BASE_TIME, body, object_id
from ._receiving import Recorder


async def events_of(numbers: Iterable[int]) -> AsyncIterator[WebhookEvent]:
    for number in numbers:
        yield parse_event(body(number))


async def test_unseen_events_are_handled_once() -> None:
    store = InMemorySeenStore()
    await store.add(object_id(2))
    recorder = Recorder()
    result = await backfill(events_of([1, 2, 3, 3]), recorder, seen=store)
    assert recorder.ids == [object_id(1), object_id(3)]
    assert result == BackfillResult(
        handled=2, skipped=2, newest_created_date=BASE_TIME.replace(second=3)
    )
    assert result.total == 4
    assert await store.contains(object_id(1))


async def test_empty_source() -> None:
    result = await backfill(events_of([]), Recorder(), seen=InMemorySeenStore())
    assert result == BackfillResult(handled=0, skipped=0, newest_created_date=None)


async def test_handler_failure_propagates_and_leaves_the_event_unseen() -> None:
    store = InMemorySeenStore()
    recorder = Recorder(fail_times=2)  # fails on event 1, then on event 1 again
    with pytest.raises(RuntimeError, match="handler failure 1"):
        await backfill(events_of([1, 2]), recorder, seen=store)
    assert not await store.contains(object_id(1))
    assert not await store.contains(object_id(2))  # never reached
    with pytest.raises(RuntimeError, match="handler failure 2"):
        await backfill(events_of([1, 2]), recorder, seen=store)
    result = await backfill(events_of([1, 2]), recorder, seen=store)
    assert (result.handled, result.skipped) == (2, 0)
    assert recorder.ids == [object_id(1), object_id(2)]


async def test_cancelled_backfill_leaves_the_event_unseen() -> None:
    store = InMemorySeenStore()
    recorder = Recorder(gate=asyncio.Event())
    task = asyncio.ensure_future(backfill(events_of([1]), recorder, seen=store))
    await asyncio.sleep(0.01)
    assert await store.contains(object_id(1))  # claimed while the handler runs
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not await store.contains(object_id(1))


async def test_claim_prevents_concurrent_double_handling() -> None:
    store = InMemorySeenStore()
    gate = asyncio.Event()
    recorder = Recorder(gate=gate)
    first = asyncio.ensure_future(backfill(events_of([1]), recorder, seen=store))
    await asyncio.sleep(0.01)
    second = await backfill(events_of([1]), recorder, seen=store)
    gate.set()
    assert (await first).handled == 1
    assert (second.handled, second.skipped) == (0, 1)
    assert recorder.ids == [object_id(1)]


async def test_source_generator_is_closed_when_the_handler_fails() -> None:
    closed = False

    async def source() -> AsyncIterator[WebhookEvent]:
        nonlocal closed
        try:
            for number in range(10):
                yield parse_event(body(number))
        finally:
            closed = True

    with pytest.raises(RuntimeError):
        await backfill(source(), Recorder(fail_times=1), seen=InMemorySeenStore())
    assert closed
