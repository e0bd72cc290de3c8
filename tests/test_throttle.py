"""Unit tests of the client-side Throttle and the RetryBudget, on a fake clock (no timing)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

import cwpro
from cwpro._http.budget import RetryBudget
from cwpro._http.throttle import Throttle
from tests.conftest import make_client


class FakeClock:
    """A clock that only moves when a sleep asks it to."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


async def saturate(throttle: Throttle, clock: FakeClock, seconds: float) -> None:
    """Send as fast as the throttle lets a client send, for ``seconds`` of fake time."""
    until = clock.now + seconds
    while clock.now < until:
        await throttle.acquire()
        throttle.on_success()


def make(clock: FakeClock, **options: object) -> Throttle:
    return Throttle(clock=clock, sleep=clock.sleep, **options)  # type: ignore[arg-type]


async def test_inert_until_the_first_429() -> None:
    clock = FakeClock()
    throttle = make(clock)
    for _ in range(1000):
        await throttle.acquire()
        throttle.on_success()
    stats = throttle.stats
    assert stats.requests_sent == 1000
    assert stats.throttled == 0
    assert stats.current_rate is None
    assert stats.rate_changes == 0
    assert clock.sleeps == []


async def test_first_429_starts_slow_start_then_paces() -> None:
    clock = FakeClock()
    throttle = make(clock)
    for _ in range(9):
        await throttle.acquire()  # nine in flight
    throttle.on_throttled(0.0)
    stats = throttle.stats
    assert stats.throttled == 1
    assert stats.current_rate == pytest.approx(9.0)  # one per in-flight request (8) + 1
    started = clock.now
    for _ in range(50):
        await throttle.acquire()
    # paced: 50 sends at <= ~9..(growing) per second take simulated time
    assert clock.now > started


async def test_echoes_of_one_overshoot_cut_once() -> None:
    clock = FakeClock()
    throttle = make(clock)
    for _ in range(33):
        await throttle.acquire()
    for _ in range(33):
        throttle.on_throttled(0.0)  # every in-flight request comes back 429
    stats = throttle.stats
    assert stats.throttled == 33
    assert stats.rate_changes == 1  # the first 429 engaged the throttle; the rest are echoes


async def test_fresh_429_after_the_echo_cuts_the_rate() -> None:
    clock = FakeClock()
    throttle = make(clock)
    await throttle.acquire()
    throttle.on_throttled(0.0)  # slow start at 1 req/s ... doubling every 0.4 s
    await saturate(throttle, clock, 3.0)
    before = throttle.stats.current_rate
    assert before is not None and before > 100
    await throttle.acquire()
    throttle.on_throttled(0.0)
    after = throttle.stats.current_rate
    assert after is not None and after == pytest.approx(before / 2, rel=0.05)
    # a 429 of a request sent after the cut (beyond the cooldown) cuts again, by beta
    await saturate(throttle, clock, 0.5)
    current = throttle.stats.current_rate
    assert current is not None
    throttle.on_throttled(0.0)
    cut = throttle.stats.current_rate
    assert cut is not None and cut < current


async def test_rate_probes_back_up_and_releases() -> None:
    clock = FakeClock()
    throttle = make(clock)
    await throttle.acquire()
    throttle.on_throttled(0.0)
    await saturate(throttle, clock, 3.0)
    throttle.on_throttled(0.0)  # leaves slow start
    low = throttle.stats.current_rate
    assert low is not None
    await saturate(throttle, clock, 4.0)
    higher = throttle.stats.current_rate
    assert higher is not None and higher > low
    # far above the learned rate without a 429: slow start again, and with nobody sending
    # at that rate, back to unthrottled
    clock.now += 30.0
    throttle.on_success()
    clock.now += 5.0
    throttle.on_success()
    assert throttle.stats.current_rate is None


async def test_retry_after_pauses_every_waiter() -> None:
    clock = FakeClock()
    throttle = make(clock)
    await throttle.acquire()
    throttle.on_throttled(2.0)
    paused_at = clock.now
    sent_at: list[float] = []

    async def send() -> None:
        await throttle.acquire()
        sent_at.append(clock.now)

    await asyncio.gather(*(send() for _ in range(5)))
    assert all(when >= paused_at + 2.0 for when in sent_at)
    assert throttle.stats.paused_seconds == pytest.approx(2.0)


async def test_retry_after_is_bounded_by_max_pause() -> None:
    clock = FakeClock()
    throttle = make(clock, max_pause=5.0)
    throttle.on_throttled(3600.0)
    assert throttle.stats.paused_seconds == pytest.approx(5.0)


async def test_overlapping_pauses_are_counted_once() -> None:
    clock = FakeClock()
    throttle = make(clock)
    throttle.on_throttled(2.0)
    clock.now += 1.0
    throttle.on_throttled(2.0)  # extends the pause by one second
    assert throttle.stats.paused_seconds == pytest.approx(3.0)


async def test_static_max_rate_paces_from_the_start() -> None:
    clock = FakeClock()
    throttle = make(clock, max_rate=10.0)
    assert throttle.stats.current_rate == 10.0
    started = clock.now
    for _ in range(21):
        await throttle.acquire()
    assert clock.now - started == pytest.approx(2.0, abs=0.2)


async def test_max_rate_caps_recovery() -> None:
    clock = FakeClock()
    throttle = make(clock, max_rate=50.0)
    await throttle.acquire()
    throttle.on_throttled(0.0)
    cut = throttle.stats.current_rate
    assert cut is not None and cut < 50.0
    clock.now += 60.0
    throttle.on_success()
    assert throttle.stats.current_rate == 50.0


async def test_adaptive_off_never_changes_the_rate_but_pauses() -> None:
    clock = FakeClock()
    throttle = make(clock, adaptive=False)
    await throttle.acquire()
    throttle.on_throttled(0.0)
    assert throttle.stats.current_rate is None
    throttle.on_throttled(1.5)
    assert throttle.stats.current_rate is None
    before = clock.now
    await throttle.acquire()
    assert clock.now >= before + 1.5


async def test_cancelled_waiter_hands_the_turn_on() -> None:
    clock = FakeClock()
    throttle = make(clock, max_rate=1.0)
    await throttle.acquire()
    await throttle.acquire()
    first = asyncio.ensure_future(throttle.acquire())
    second = asyncio.ensure_future(throttle.acquire())
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    await second
    assert throttle.stats.requests_sent == 3


async def test_rate_changes_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    throttle = make(clock)
    with caplog.at_level(logging.DEBUG, logger="cwpro"):
        await throttle.acquire()
        throttle.on_throttled(0.0)
    assert any("throttle: first 429" in record.getMessage() for record in caplog.records)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="max_rate"):
        Throttle(max_rate=0)
    with pytest.raises(ValueError, match="max_rate"):
        Throttle(max_rate=float("nan"))
    with pytest.raises(TypeError, match="max_rate"):
        Throttle(max_rate="10")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_pause"):
        Throttle(max_pause=-1)


def test_throttle_builds_outside_an_event_loop() -> None:
    throttle = Throttle()
    assert "unthrottled" in repr(throttle)


# -- the retry budget --------------------------------------------------------------------------
def test_budget_pays_for_capacity_over_cost_retries_then_refuses() -> None:
    budget = RetryBudget()
    allowed = sum(budget.try_spend() for _ in range(200))
    assert allowed == 100  # 500 tokens / 5 per retry
    stats = budget.stats
    assert stats.retries_allowed == 100
    assert stats.retries_refused == 100
    assert stats.level == 0


def test_budget_timeouts_cost_more() -> None:
    budget = RetryBudget(capacity=100)
    assert sum(budget.try_spend(timeout=True) for _ in range(20)) == 10


def test_budget_refills_after_successes_up_to_capacity() -> None:
    budget = RetryBudget(capacity=10, retry_cost=5)
    assert budget.try_spend() and budget.try_spend()
    assert not budget.try_spend()
    for _ in range(5):
        budget.on_success()
    assert budget.try_spend()
    for _ in range(100):
        budget.on_success()
    assert budget.stats.level == 10


def test_transient_failures_among_successes_keep_being_retried() -> None:
    budget = RetryBudget()
    refused = 0
    for i in range(10_000):
        if i % 20 == 0:  # a 503 every 20 calls
            refused += not budget.try_spend()
        else:
            budget.on_success()
    assert refused == 0


def test_budget_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="retry_cost"):
        RetryBudget(retry_cost=0)
    with pytest.raises(TypeError, match="capacity"):
        RetryBudget(capacity=1.5)  # type: ignore[arg-type]


# -- over the emulator (loopback HTTP; requests counted at the server) ---------------------------
GET_ONE = "GET /workorders/{id}"


async def _ids(client: cwpro.AsyncClient, count: int) -> list[str]:
    return [wo.id for wo in (await client.workorders.list(limit=count)).items]


async def test_retry_after_pause_holds_back_every_task_of_the_client(emulator: Any) -> None:
    async with make_client(emulator) as client:
        ids = await _ids(client, 6)
        emulator.stats.reset()
        emulator.add_fault("status", status=429, retry_after=2, times=1, route=GET_ONE)
        throttle = client._transport.throttle
        assert throttle is not None
        first = asyncio.ensure_future(client.workorders.get(ids[0]))
        while throttle.stats.throttled == 0:  # noqa: ASYNC110 - a counter, not an event
            await asyncio.sleep(0.01)
        others = [asyncio.ensure_future(client.workorders.get(i)) for i in ids[1:]]
        await asyncio.sleep(0.5)  # well inside the two-second pause
        assert emulator.stats[GET_ONE] == 1, "a task sent a request during the pause"
        results = await asyncio.gather(first, *others)
        assert [wo.id for wo in results] == ids
        assert emulator.stats[GET_ONE] == 7  # the 429, its retry, five others
        assert throttle.stats.paused_seconds >= 2.0


async def test_one_throttle_paces_partitions_and_prefetch(emulator: Any) -> None:
    async with make_client(emulator, max_retry_time=120) as client:
        first = (await client.workorders.list(limit=1)).items[0]
        last = (await client.workorders.list(limit=1, sort_by="_id:desc")).items[0]
        parts = cwpro.split_range("created_date", first.created_date, last.created_date, 4)
        emulator.stats.reset()
        emulator.set_rate_limit("40/s,burst=4")
        throttle = client._transport.throttle
        assert throttle is not None
        before = throttle.stats.requests_sent
        seen: list[str] = []
        async for wo in client.workorders.export(parts, concurrency=4, limit=10):
            seen.append(wo.id)
        assert len(seen) == len(set(seen)) == emulator.state.workorder_count()
        api_requests = emulator.stats.total - emulator.stats.token_requests
        # every request of every partition (and its prefetch) went through the one throttle
        assert throttle.stats.requests_sent - before == api_requests
        assert throttle.stats.throttled == emulator.rate_limiter.limited > 0
        assert throttle.stats.current_rate is not None


async def test_budget_refuses_retries_under_a_storm_and_refills(emulator: Any) -> None:
    async with make_client(emulator, max_retries=3) as client:
        ids = await _ids(client, 200)
        emulator.stats.reset()
        storm = emulator.add_fault("status", status=503, route=GET_ONE)
        results = await asyncio.gather(
            *(client.workorders.get(i) for i in ids), return_exceptions=True
        )
        assert all(isinstance(r, cwpro.InternalServerError) for r in results)
        assert emulator.stats[GET_ONE] <= 300  # not 800
        budget = client._transport.budget
        assert budget is not None
        assert budget.stats.retries_refused > 0
        storm.remove()
        for i in ids[:20]:
            await client.workorders.get(i)  # successes refill the budget
        emulator.stats.reset()
        emulator.add_fault("status", status=503, route=GET_ONE, times=1)
        assert (await client.workorders.get(ids[0])).id == ids[0]
        assert emulator.stats[GET_ONE] == 2  # the transient 503 was retried again


async def test_posts_are_never_retried_on_5xx(emulator: Any) -> None:
    async with make_client(emulator) as client:
        emulator.stats.reset()
        emulator.add_fault("status", status=503, route="POST /workorders", times=1)
        with pytest.raises(cwpro.InternalServerError):
            await client.workorders.create(name="one only")
        assert emulator.stats["POST /workorders"] == 1


async def test_429s_are_retried_past_max_retries_within_max_retry_time(emulator: Any) -> None:
    async with make_client(emulator, max_retries=1) as client:
        ids = await _ids(client, 1)
        emulator.stats.reset()
        emulator.add_fault("status", status=429, retry_after=0, times=3, route=GET_ONE)
        assert (await client.workorders.get(ids[0])).id == ids[0]
        assert emulator.stats[GET_ONE] == 4


async def test_client_stats_show_the_throttle_and_the_budget() -> None:
    from cwpro.emulator import Emulator
    from tests.conftest import make_client

    async with Emulator(seed=3, workorders=20) as emu, make_client(emu) as client:
        wo = (await client.workorders.list(limit=1)).items[0].id
        emu.faults.add("status", status=429, retry_after=0, route="GET /workorders/*", times=1)
        emu.faults.add("status", status=503, route="GET /workorders/*", times=1)
        await client.workorders.get(wo)
        stats = client.stats
    assert stats.throttled == 1 and stats.throttled_retries == 1 and stats.failed_retries == 1
    assert stats.retries == 2 and stats.retries_refused == 0 and stats.token_requests == 1
    assert stats.requests_sent == 5  # token, list, 429, 503, success
