"""OrderingBuffer: created_date order within the window, late events, flush, clean shutdown."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import pytest

from cwpro.webhooks import OrderingBuffer, WebhookEvent, parse_event

from ._helpers import BASE_TIME, body


def event(number: int, seconds: float | None = None) -> WebhookEvent:
    created = BASE_TIME + timedelta(seconds=number if seconds is None else seconds)
    return parse_event(body(number, created=created))


class Recorder:
    def __init__(self) -> None:
        self.events: list[WebhookEvent] = []
        self.released_at: list[float] = []

    async def __call__(self, event: WebhookEvent) -> None:
        self.events.append(event)
        self.released_at.append(asyncio.get_running_loop().time())

    @property
    def numbers(self) -> list[int]:
        return [int(item.id, 16) for item in self.events]


async def test_shuffled_events_come_out_in_created_date_order() -> None:
    recorder = Recorder()
    numbers = list(range(200))
    random.Random(7).shuffle(numbers)
    async with OrderingBuffer(0.05, emit=recorder) as buffer:
        for number in numbers:
            await buffer.put(event(number))
        assert recorder.events == []
        await asyncio.wait_for(buffer.wait_empty(), 2)
    assert recorder.numbers == list(range(200))
    assert buffer.late == 0
    assert buffer.released == 200


async def test_events_wait_about_the_window() -> None:
    recorder = Recorder()
    async with OrderingBuffer(0.1, emit=recorder) as buffer:
        start = asyncio.get_running_loop().time()
        await buffer.put(event(1))
        await asyncio.sleep(0.05)
        assert recorder.events == []
        await asyncio.wait_for(buffer.wait_empty(), 1)
    waited = recorder.released_at[0] - start
    assert 0.09 <= waited < 0.5


async def test_a_due_event_releases_earlier_created_ones_with_it() -> None:
    recorder = Recorder()
    loop = asyncio.get_running_loop()
    async with OrderingBuffer(0.3, emit=recorder) as buffer:
        await buffer.put(event(5))
        await asyncio.sleep(0.1)
        await buffer.put(event(3))  # arrived later, created earlier: released with 5
        own_deadline = loop.time() + 0.3
        await asyncio.wait_for(buffer.wait_empty(), 2)
    assert recorder.numbers == [3, 5]
    assert recorder.released_at[0] < own_deadline


async def test_late_event_is_released_at_once_and_counted() -> None:
    recorder = Recorder()
    async with OrderingBuffer(0.02, emit=recorder) as buffer:
        await buffer.put(event(10))
        await asyncio.wait_for(buffer.wait_empty(), 1)
        await buffer.put(event(4))
        assert recorder.numbers == [10, 4]
        assert buffer.late == 1
        await buffer.put(event(10, seconds=10))  # same created_date as the last: not late
        assert buffer.late == 1


async def test_flush_releases_everything_in_order() -> None:
    recorder = Recorder()
    async with OrderingBuffer(60, emit=recorder) as buffer:
        for number in (3, 1, 2):
            await buffer.put(event(number))
        assert buffer.pending == 3
        await buffer.flush()
        assert recorder.numbers == [1, 2, 3]
        assert buffer.pending == 0
        assert buffer.last_released == event(3).created_date


async def test_leaving_the_context_releases_held_events_and_stops_the_timer() -> None:
    recorder = Recorder()
    tasks_before = asyncio.all_tasks()
    async with OrderingBuffer(60, emit=recorder) as buffer:
        await buffer.put(event(2))
        await buffer.put(event(1))
    assert recorder.numbers == [1, 2]
    assert asyncio.all_tasks() == tasks_before
    assert buffer.closed
    with pytest.raises(RuntimeError, match="closed"):
        await buffer.put(event(3))


async def test_equal_created_dates_keep_arrival_order() -> None:
    recorder = Recorder()
    async with OrderingBuffer(60, emit=recorder) as buffer:
        for number in (7, 3, 5):
            await buffer.put(event(number, seconds=0))
    assert recorder.numbers == [7, 3, 5]


async def test_a_failing_emit_is_logged_and_the_release_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[int] = []

    async def emit(item: WebhookEvent) -> None:
        seen.append(int(item.id, 16))
        if len(seen) == 1:
            raise RuntimeError("boom")

    async with OrderingBuffer(60, emit=emit) as buffer:
        await buffer.put(event(1))
        await buffer.put(event(2))
    assert seen == [1, 2]
    assert buffer.errors == 1
    assert "releasing webhook event" in caplog.text


async def test_event_put_while_a_batch_is_emitted_is_late_not_misordered() -> None:
    order: list[int] = []
    gate = asyncio.Event()

    async def slow_emit(item: WebhookEvent) -> None:
        await gate.wait()
        order.append(int(item.id, 16))

    async with OrderingBuffer(0, emit=slow_emit) as buffer:
        await buffer.put(event(5))
        await buffer.put(event(6))
        await asyncio.sleep(0.01)  # the timer takes 5 and 6 and blocks emitting 5
        late = asyncio.ensure_future(buffer.put(event(4)))
        await asyncio.sleep(0.01)
        gate.set()
        await late
    assert order == [5, 6, 4]
    assert buffer.late == 1


@pytest.mark.parametrize("window", [-1, float("nan"), float("inf")])
def test_bad_window(window: float) -> None:
    async def emit(item: WebhookEvent) -> None:
        raise AssertionError

    with pytest.raises(ValueError, match="window"):
        OrderingBuffer(window, emit=emit)


async def test_pending_counts_events_taken_but_not_yet_emitted() -> None:
    gate = asyncio.Event()

    async def blocked_emit(item: WebhookEvent) -> None:
        await gate.wait()

    async with OrderingBuffer(0, emit=blocked_emit) as buffer:
        for number in (1, 2, 3):
            await buffer.put(event(number))
        await asyncio.sleep(0.01)  # the timer took all three and waits in emit
        assert buffer.pending == 3
        waiter = asyncio.ensure_future(buffer.wait_empty())
        await asyncio.sleep(0.01)
        assert not waiter.done()
        gate.set()
        await asyncio.wait_for(waiter, 1)
        assert buffer.pending == 0
