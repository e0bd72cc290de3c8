"""Under a server-side rate limit: the client's adaptive throttle and retry budget.

The emulator (another process) limits the client to R = 100 requests/s (token bucket, burst 20,
429 with ``Retry-After`` = the whole seconds until a token is free, so ``0``). Each workload runs
twice in the same run: with the client's throttle (the default) and without it (each request
backs off on its own, the behaviour before the throttle existed: ``transport.throttle = None``).
Counts come from the server (requests allowed, requests answered 429).

1. **gets**: 2,000 ``workorders.get`` calls, 32 at a time;
2. **export**: a 16-partition ``workorders.export`` of about 1,000 pages (every item once);
3. **Retry-After: 1**: every 429 says ``Retry-After: 1`` (a one-second pause of the whole client
   each time), gets 32 at a time for at least 60 s;
4. **503 storm**: the server answers 503 to every ``GET /workorders/{id}``; 200 concurrent
   ``get`` calls with ``max_retries=3``, with the retry budget and without it.

Goodput is the successful (not 429) requests per second over the workload's wall time, as a share
of R. A 429 re-sent after the throttle's pause is not a failure; 429 retries are bounded by
``max_retry_time``. Run alone: ``python -m benchmarks.bench_rate_limit [--quick]``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import cwpro

from ._harness import Figure, Stats, Target, emulator, run_script, script_command

COMMAND = script_command("bench_rate_limit")
RATE = 100.0
LIMIT = "100/s,burst=20"
CONCURRENCY = 32
GETS = 2000
PARTITIONS = 16
EXPORT_PAGES = 1000
PAGE_SIZE = 10
STORM_CALLS = 200


@dataclass
class Outcome:
    """What the server saw during one workload, and how the calls ended."""

    seconds: float
    allowed: int
    limited: int
    failed: int
    items: int = 0
    unique: int = 0

    @property
    def goodput(self) -> float:
        """Successful requests per second, as a share of R."""
        return self.allowed / self.seconds / RATE

    @property
    def share_429(self) -> float:
        """429 answers as a share of every request (percent)."""
        total = self.allowed + self.limited
        return 100.0 * self.limited / total if total else 0.0

    def describe(self) -> str:
        """One line for the notes."""
        return (
            f"{self.seconds:.1f} s, {self.allowed:,} ok + {self.limited:,} 429 -> goodput "
            f"{self.goodput:.2f} R, {self.share_429:.1f}% 429s, {self.failed} calls failed"
        )


def _client(emu: Any, *, throttled: bool, **settings: Any) -> cwpro.AsyncClient:
    client = cwpro.AsyncClient(
        emu.client_id, emu.client_secret, base_url=emu.base_url, max_retry_time=600, **settings
    )
    if not throttled:
        client._transport.throttle = None  # each request backs off on its own
    return client


def _counts(emu: Any) -> tuple[int, int]:
    snapshot = emu.rate_limit()
    return int(snapshot["allowed"]), int(snapshot["limited"])


async def _gets(emu: Any, ids: list[str], *, throttled: bool, count: int) -> Outcome:
    async with _client(emu, throttled=throttled) as client:
        await client.workorders.list(limit=1)  # token and connection before the clock starts
        calls = [ids[i % len(ids)] for i in range(count)]
        queue = iter(calls)
        failed = 0

        async def worker() -> None:
            nonlocal failed
            for workorder_id in queue:
                try:
                    await client.workorders.get(workorder_id)
                except cwpro.CwproError:
                    failed += 1

        allowed, limited = _counts(emu)
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        seconds = time.perf_counter() - started
        after_allowed, after_limited = _counts(emu)
    return Outcome(seconds, after_allowed - allowed, after_limited - limited, failed)


async def _export(emu: Any, parts: list[dict[str, Any]], *, throttled: bool) -> Outcome:
    async with _client(emu, throttled=throttled) as client:
        await client.workorders.list(limit=1)
        seen: list[str] = []
        failed = 0
        allowed, limited = _counts(emu)
        started = time.perf_counter()
        try:
            export = client.workorders.export(parts, concurrency=PARTITIONS, limit=PAGE_SIZE)
            async for workorder in export:
                seen.append(workorder.id)
        except cwpro.CwproError:
            failed = 1
        seconds = time.perf_counter() - started
        after_allowed, after_limited = _counts(emu)
    return Outcome(
        seconds, after_allowed - allowed, after_limited - limited, failed, len(seen), len(set(seen))
    )


async def _storm(emu: Any, ids: list[str], *, budgeted: bool) -> tuple[int, int]:
    """Requests the server received for 200 concurrent gets answered 503; calls that raised
    InternalServerError."""
    async with _client(emu, throttled=True, max_retries=3, retry_backoff_base=0.05) as client:
        await client.workorders.list(limit=1)
        if not budgeted:
            client._transport.budget = None
        emu.add_fault("status", status=503, route="GET /workorders/{id}")
        before = emu.stats()["requests"].get("GET /workorders/{id}", 0)
        results = await asyncio.gather(
            *(client.workorders.get(ids[i % len(ids)]) for i in range(STORM_CALLS)),
            return_exceptions=True,
        )
        after = emu.stats()["requests"].get("GET /workorders/{id}", 0)
        emu.clear_faults()
    raised = sum(isinstance(r, cwpro.InternalServerError) for r in results)
    return after - before, raised


async def _partitions(client: cwpro.AsyncClient) -> list[dict[str, Any]]:
    first = (await client.workorders.list(limit=1)).items[0]
    last = (await client.workorders.list(limit=1, sort_by="_id:desc")).items[0]
    return cwpro.split_range("created_date", first.created_date, last.created_date, PARTITIONS)


@dataclass
class Results:
    """Everything one run measured."""

    gets: dict[bool, Outcome]
    export: dict[bool, Outcome]
    pause: dict[bool, Outcome]
    storm: dict[bool, tuple[int, int]]
    workorders: int


async def _measure(quick: bool) -> Results:
    gets = 600 if quick else GETS
    pause_gets = 1500 if quick else 6500  # ~0.85 R for > 60 s
    pages = 200 if quick else EXPORT_PAGES
    workorders = pages * PAGE_SIZE
    with emulator(workorders=workorders) as emu:
        async with _client(emu, throttled=True) as client:
            ids = [wo.id for wo in (await client.workorders.list(limit=1000)).items]
            parts = await _partitions(client)
        outcome_gets: dict[bool, Outcome] = {}
        outcome_export: dict[bool, Outcome] = {}
        outcome_pause: dict[bool, Outcome] = {}
        for throttled in (True, False):
            emu.set_rate_limit(LIMIT)
            outcome_gets[throttled] = await _gets(emu, ids, throttled=throttled, count=gets)
            emu.set_rate_limit(LIMIT)
            outcome_export[throttled] = await _export(emu, parts, throttled=throttled)
        for throttled in (True, False):
            emu.set_rate_limit(LIMIT, retry_after=1)
            # without the throttle a run is ~3x slower: a quarter of the calls tells the same
            count = pause_gets if throttled else pause_gets // 4
            outcome_pause[throttled] = await _gets(emu, ids, throttled=throttled, count=count)
        emu.set_rate_limit(None)
        storm = {budgeted: await _storm(emu, ids, budgeted=budgeted) for budgeted in (True, False)}
    return Results(outcome_gets, outcome_export, outcome_pause, storm, workorders)


def _problems(outcome: Outcome, expected_items: int | None) -> int:
    """Failed calls, plus duplicate and missing items for an export."""
    if expected_items is None:
        return outcome.failed
    duplicates = outcome.items - outcome.unique
    return outcome.failed + duplicates + abs(expected_items - outcome.unique)


def _one(value: float) -> Stats:
    return Stats.of([value])


def run(quick: bool = False) -> list[Figure]:
    """Measure and return the figures."""
    result = asyncio.run(_measure(quick))
    figures: list[Figure] = []
    setup = f"R = {RATE:.0f} requests/s, burst 20, Retry-After 0"
    for name, label, outcomes in (
        ("gets", f"{GETS:,} gets, {CONCURRENCY} at a time", result.gets),
        (
            "export",
            f"{PARTITIONS}-partition export of {result.workorders // PAGE_SIZE:,} pages",
            result.export,
        ),
    ):
        on, off = outcomes[True], outcomes[False]
        notes = [setup, f"throttle: {on.describe()}", f"no throttle: {off.describe()}"]
        if name == "export":
            notes.append(
                f"items: {on.items:,} delivered, {on.unique:,} distinct, "
                f"{result.workorders:,} expected (no throttle: {off.items:,}/{off.unique:,})"
            )
        figures += [
            Figure.graded(
                f"rate_limit_{name}_goodput",
                f"rate limit, {label}: goodput with the throttle (share of R)",
                _one(on.goodput),
                Target.at_least(0.9, "R"),
                COMMAND,
                notes=notes,
            ),
            Figure.graded(
                f"rate_limit_{name}_429_share",
                f"rate limit, {label}: 429s with the throttle (share of all requests)",
                _one(on.share_429),
                Target.at_most(3.0, "%"),
                COMMAND,
                digits=1,
                notes=[f"no throttle on the same run: {off.share_429:.1f}% 429s"],
            ),
            Figure.graded(
                f"rate_limit_{name}_failed",
                f"rate limit, {label}: calls failed with the throttle",
                _one(float(_problems(on, result.workorders if name == "export" else None))),
                Target.at_most(0, "calls"),
                COMMAND,
                digits=0,
                notes=[
                    "export: counts duplicate and missing items too"
                    if name == "export"
                    else "gets that raised",
                    f"no throttle: {off.failed} failed",
                ],
            ),
            Figure.info(
                f"rate_limit_{name}_429_share_unthrottled",
                f"rate limit, {label}: 429s without the throttle (each request backs off alone)",
                _one(off.share_429),
                "%",
                COMMAND,
                digits=1,
                notes=[f"goodput {off.goodput:.2f} R"],
            ),
        ]
    on, off = result.pause[True], result.pause[False]
    pause_notes = [
        "every 429 says Retry-After: 1",
        f"throttle: {on.describe()}",
        f"no throttle (a quarter of the calls): {off.describe()}",
    ]
    figures += [
        Figure.graded(
            "rate_limit_retry_after_goodput",
            f"rate limit with Retry-After: 1, gets {CONCURRENCY} at a time for "
            f"{on.seconds:.0f} s: goodput with the throttle (share of R)",
            _one(on.goodput),
            Target.at_least(0.8, "R"),
            COMMAND,
            notes=pause_notes,
        ),
        Figure.graded(
            "rate_limit_retry_after_429_share",
            "rate limit with Retry-After: 1: 429s with the throttle (share of all requests)",
            _one(on.share_429),
            Target.at_most(1.0, "%"),
            COMMAND,
            digits=1,
            notes=[
                f"no throttle on the same run: {off.share_429:.1f}% 429s, "
                f"goodput {off.goodput:.2f} R"
            ],
        ),
    ]
    (sent, raised), (sent_off, raised_off) = result.storm[True], result.storm[False]
    figures.append(
        Figure.graded(
            "rate_limit_storm_requests",
            f"503 storm, {STORM_CALLS} concurrent gets, max_retries=3: requests sent / calls "
            "(retry budget)",
            _one(sent / STORM_CALLS),
            Target.at_most(1.5),
            COMMAND,
            notes=[
                f"budget: {sent} requests, {raised} calls raised InternalServerError",
                f"no budget: {sent_off} requests ({sent_off / STORM_CALLS:.2f}x), "
                f"{raised_off} raised",
            ],
        )
    )
    return figures


if __name__ == "__main__":
    run_script("under a rate limit: adaptive throttle and retry budget", run)
