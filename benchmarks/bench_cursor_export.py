"""Cursor lists under 20 ms of latency: prefetch, and partitioned export.

The emulator (another process) adds 20 ms to every request and serves 8,000 seeded work orders
(~1 KB of JSON each); pages hold 100 items. Both comparisons alternate their two sides, round by
round, in one run.

1. **Prefetch** -- a consumer that works on every page as long as a page takes to fetch:

   * ``sequential``: the page loop a user writes by hand,
     ``page = await client.workorders.list(limit=100, cursor=cursor)``, then the work;
   * ``prefetch=1``: ``async for page in client.workorders.list(limit=100).pages()``, same work.

   The work is **busy CPU** (a loop that never yields), the fair and hard case: the consumer
   holds the event loop, so a prefetch only overlaps if the next request was already on the
   wire when the page was handed over, and whatever the paginator does per page (decoding,
   building models) cannot hide behind the work. A consumer that *sleeps* (awaits I/O) is the
   easy case -- decoding overlaps too -- and is reported as well. Work per page = the median
   fetch time measured just before (so the best possible ratio is 2.0x).

2. **Partitioned export** -- no consumer work, the whole list: the sequential page loop against
   ``client.workorders.export(plan.partitions, concurrency=8, limit=100)`` where ``plan =
   await client.workorders.plan_partitions(8, limit=100)`` (planned once, before the rounds; its
   own time and requests are reported). Both must deliver exactly the 8,000 work orders. The
   same export over equal slices of time (``split_range`` between the oldest and newest item)
   is reported too: the seeded data grows with time, so its last partition holds ~1.5x a share
   and the export waits for it.

Run alone: ``python -m benchmarks.bench_cursor_export [--quick]``.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

import cwpro
from cwpro._query import build_query

from ._harness import (
    Figure,
    Sample,
    ServerCPU,
    Stats,
    Target,
    alternate,
    busy,
    cpus,
    emulator,
    loads,
    measure,
    ratio_stats,
    run_async,
    run_script,
    script_command,
    sdk_and_raw,
    walls,
)

COMMAND = script_command("bench_cursor_export")
LATENCY_MS = 20
PAGE_SIZE = 100
WORK_ORDERS = 8_000
PARTITIONS = 8
PREFETCH_PAGES = 30


async def sequential_pages(
    client: cwpro.AsyncClient,
    pages: int | None,
    work: Callable[[], Awaitable[None]] | None,
    as_dict: bool = False,
) -> int:
    """The hand-written loop: fetch a page, work on it, fetch the next. Returns items seen."""
    cursor: str | None = None
    items = fetched = 0
    while True:
        if cursor is None:
            page = await client.workorders.list(limit=PAGE_SIZE, as_dict=as_dict)
        else:
            page = await client.workorders.list(limit=PAGE_SIZE, cursor=cursor, as_dict=as_dict)
        fetched += 1
        items += len(page.items)
        if work is not None:
            await work()
        if not page.has_next or (pages is not None and fetched >= pages):
            return items
        cursor = page.next_cursor


async def prefetched_pages(
    client: cwpro.AsyncClient,
    pages: int,
    work: Callable[[], Awaitable[None]],
    as_dict: bool = False,
) -> int:
    """The paginator with ``prefetch=1`` (its default), same work per page."""
    items = fetched = 0
    walk = client.workorders.list(limit=PAGE_SIZE, prefetch=1, as_dict=as_dict)
    async for page in walk.pages():
        fetched += 1
        items += len(page.items)
        await work()
        if fetched >= pages:
            break
    return items


async def fetch_time(client: cwpro.AsyncClient, pages: int = 12) -> float:
    """Median seconds to fetch one page (request, 20 ms latency, decoding, models)."""
    times = []
    cursor: str | None = None
    for _ in range(pages):
        started = time.perf_counter()
        if cursor is None:
            page = await client.workorders.list(limit=PAGE_SIZE)
        else:
            page = await client.workorders.list(limit=PAGE_SIZE, cursor=cursor)
        times.append(time.perf_counter() - started)
        cursor = page.next_cursor
    return statistics.median(times)


async def equal_time_partitions(client: cwpro.AsyncClient) -> list[dict[str, Any]]:
    """Eight equal ``created_date`` ranges covering the whole list (ids follow creation order)."""
    first = (await client.workorders.list(limit=1)).items[0]
    last = (await client.workorders.list(limit=1, sort_by="_id:desc")).items[0]
    if first.created_date is None or last.created_date is None:
        raise RuntimeError("seeded work orders always have a created_date")
    return cwpro.split_range("created_date", first.created_date, last.created_date, PARTITIONS)


async def export_items(
    client: cwpro.AsyncClient, parts: list[dict[str, Any]], concurrency: int, as_dict: bool = False
) -> int:
    """Walk the whole export, page by page; returns the items seen."""
    export = client.workorders.export(
        parts, concurrency=concurrency, limit=PAGE_SIZE, as_dict=as_dict
    )
    items = 0
    async for _, page in export.pages():
        items += len(page.items)
    return items


async def raw_export_items(
    session: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    parts: list[dict[str, Any]],
) -> int:
    """The reference: one raw aiohttp cursor walk per partition, all at once (orjson, no
    models), the same queries as the SDK's export. What the stack and the emulator allow."""

    async def walk(part: dict[str, Any]) -> int:
        params = build_query({**part, "limit": PAGE_SIZE})
        items = 0
        while True:
            async with session.get(url, params=params, headers=headers) as resp:
                body = loads(await resp.read())
            items += len(body["data"])
            cursor = body["pagination"]["nextCursor"]
            if not body["pagination"]["hasNext"] or not cursor:
                return items
            params = [*build_query({**part, "limit": PAGE_SIZE}), ("cursor", cursor)]

    return sum(await asyncio.gather(*(walk(part) for part in parts)))


def _checked(run: Callable[[], Awaitable[int]], expected: int) -> Callable[[], Awaitable[None]]:
    async def block() -> None:
        got = await run()
        if got != expected:
            raise AssertionError(f"expected {expected} items, got {got}")

    return block


async def _measure(rounds: int, export_rounds: int) -> Measured:
    with emulator(workorders=WORK_ORDERS, latency_ms=LATENCY_MS) as emu:
        server = ServerCPU(emu.pid)
        async with sdk_and_raw(emu) as (client, session, headers):
            url = f"{emu.base_url}/workorders"
            plan = await client.workorders.plan_partitions(PARTITIONS, limit=PAGE_SIZE)
            parts = plan.partitions
            equal_time = await equal_time_partitions(client)
            await sequential_pages(client, PREFETCH_PAGES, None)  # warm-up
            fetch = await fetch_time(client)

            async def cpu_work() -> None:
                busy(fetch)

            async def sleep_work() -> None:
                await asyncio.sleep(fetch)

            n, walked = PREFETCH_PAGES, PREFETCH_PAGES * PAGE_SIZE

            def walk(
                loop: Callable[..., Awaitable[int]],
                work: Callable[[], Awaitable[None]],
                as_dict: bool = False,
            ) -> Callable[[], Awaitable[Sample]]:
                block = _checked(lambda: loop(client, n, work, as_dict), walked)
                return lambda: measure(block, 1)

            prefetch = await alternate(
                {
                    "sequential": walk(sequential_pages, cpu_work),
                    "prefetch": walk(prefetched_pages, cpu_work),
                    "sequential-sleep": walk(sequential_pages, sleep_work),
                    "prefetch-sleep": walk(prefetched_pages, sleep_work),
                    "sequential-dict": walk(sequential_pages, cpu_work, True),
                    "prefetch-dict": walk(prefetched_pages, cpu_work, True),
                },
                rounds,
            )

            def whole(
                name: str, run: Callable[[], Awaitable[int]]
            ) -> Callable[[], Awaitable[Sample]]:
                return server.measured(name, _checked(run, WORK_ORDERS))

            await export_items(client, parts, PARTITIONS)  # warm-up (and the emulator's caches)
            everything = await alternate(
                {
                    "sequential": whole("sequential", lambda: sequential_pages(client, None, None)),
                    "export": whole("export", lambda: export_items(client, parts, PARTITIONS)),
                    "export-4": whole("export-4", lambda: export_items(client, parts, 4)),
                    "export-equal-time": whole(
                        "export-equal-time",
                        lambda: export_items(client, equal_time, PARTITIONS),
                    ),
                    "export-dict": whole(
                        "export-dict", lambda: export_items(client, parts, PARTITIONS, True)
                    ),
                    "raw-export": whole(
                        "raw-export", lambda: raw_export_items(session, url, headers, parts)
                    ),
                },
                export_rounds,
            )
            planning: list[float] = []
            for _ in range(export_rounds):
                started = time.perf_counter()
                await client.workorders.plan_partitions(PARTITIONS, limit=PAGE_SIZE)
                planning.append(time.perf_counter() - started)
            return Measured(fetch, prefetch, everything, server.during, plan, planning)


@dataclass
class Measured:
    """What one run measured."""

    fetch: float
    prefetch: dict[str, list[Sample]]
    export: dict[str, list[Sample]]
    server_cpu: dict[str, list[float]]
    plan: cwpro.PartitionPlan
    planning: list[float]


def run(quick: bool = False) -> list[Figure]:
    """Measure and return the figures."""
    rounds, export_rounds = (2, 2) if quick else (5, 5)
    result = run_async(_measure(rounds, export_rounds))
    prefetch, everything = result.prefetch, result.export
    seq = Stats.of(walls(prefetch["sequential"]))
    pre = Stats.of(walls(prefetch["prefetch"]))
    seq_all = Stats.of(walls(everything["sequential"]))
    exp_all = Stats.of(walls(everything["export"]))
    exp4_all = Stats.of(walls(everything["export-4"]))
    raw_all = Stats.of(walls(everything["raw-export"]))
    dict_all = Stats.of(walls(everything["export-dict"]))
    equal_all = Stats.of(walls(everything["export-equal-time"]))
    pages = WORK_ORDERS // PAGE_SIZE
    per_page = {
        name: statistics.median(values) / pages * 1e3 for name, values in result.server_cpu.items()
    }
    client_ms = {
        name: statistics.median(cpus(samples)) / pages * 1e3 for name, samples in everything.items()
    }
    setup = (
        f"{LATENCY_MS} ms latency, {PAGE_SIZE} items/page, {PREFETCH_PAGES} pages per walk, "
        f"consumer work per page = median fetch time = {result.fetch * 1e3:.1f} ms"
    )
    return [
        Figure.graded(
            "prefetch_ratio_cpu_consumer",
            "cursor walk, CPU-bound consumer: sequential page loop / paginator prefetch=1 (wall)",
            ratio_stats(walls(prefetch["sequential"]), walls(prefetch["prefetch"])),
            Target.at_least(1.85),
            COMMAND,
            notes=[
                setup,
                f"sequential {seq.median:.2f} s, prefetch {pre.median:.2f} s per walk "
                f"(best possible 2.0x)",
            ],
        ),
        Figure.info(
            "prefetch_ratio_cpu_consumer_dict_mode",
            "same, both sides with as_dict=True (plain dicts, no models)",
            ratio_stats(walls(prefetch["sequential-dict"]), walls(prefetch["prefetch-dict"])),
            "x",
            COMMAND,
        ),
        Figure.info(
            "prefetch_ratio_sleep_consumer",
            "cursor walk, consumer that awaits (sleep): sequential / prefetch=1 (wall)",
            ratio_stats(walls(prefetch["sequential-sleep"]), walls(prefetch["prefetch-sleep"])),
            "x",
            COMMAND,
        ),
        Figure.graded(
            "export_ratio",
            f"whole list ({WORK_ORDERS:,} items): sequential page loop / export, "
            f"{PARTITIONS} partitions, concurrency {PARTITIONS} (wall)",
            ratio_stats(walls(everything["sequential"]), walls(everything["export"])),
            Target.at_least(7.3),
            COMMAND,
            notes=[
                f"sequential {seq_all.median:.2f} s ({WORK_ORDERS / seq_all.median:,.0f} items/s),"
                f" export {exp_all.median:.2f} s ({WORK_ORDERS / exp_all.median:,.0f} items/s)",
                "per page: emulator CPU "
                + ", ".join(f"{k} {v:.1f} ms" for k, v in per_page.items())
                + "; client CPU "
                + ", ".join(f"{k} {v:.1f} ms" for k, v in client_ms.items()),
            ],
        ),
        Figure.info(
            "export_ratio_concurrency_4",
            f"whole list: sequential page loop / export, {PARTITIONS} partitions, concurrency 4",
            ratio_stats(walls(everything["sequential"]), walls(everything["export-4"])),
            "x",
            COMMAND,
            notes=[f"export (concurrency 4) {exp4_all.median:.2f} s"],
        ),
        Figure.info(
            "export_ratio_equal_time_partitions",
            f"whole list: sequential page loop / export over {PARTITIONS} equal slices of time "
            "(split_range, not planned)",
            ratio_stats(walls(everything["sequential"]), walls(everything["export-equal-time"])),
            "x",
            COMMAND,
            notes=[f"export over equal slices of time {equal_all.median:.2f} s"],
        ),
        Figure.info(
            "export_planning_ms",
            f"plan_partitions({PARTITIONS}) before the export: wall time "
            f"({result.plan.requests} one-item requests)",
            Stats.of([t * 1e3 for t in result.planning]),
            "ms",
            COMMAND,
            digits=0,
            notes=[
                f"items per planned partition (estimated): {result.plan.estimated}; the "
                "emulator filters every row for each count (a server with an index on "
                "created_date answers a count faster)"
            ],
        ),
        Figure.info(
            "export_ratio_dict_mode",
            f"whole list: sequential page loop / export(as_dict=True), {PARTITIONS} partitions "
            "(plain dicts, no models)",
            ratio_stats(walls(everything["sequential"]), walls(everything["export-dict"])),
            "x",
            COMMAND,
            notes=[f"export in dict mode {dict_all.median:.2f} s"],
        ),
        Figure.info(
            "export_ratio_raw_reference",
            f"reference: sequential page loop / raw aiohttp, {PARTITIONS} partition walks at once "
            "(orjson, no models)",
            ratio_stats(walls(everything["sequential"]), walls(everything["raw-export"])),
            "x",
            COMMAND,
            notes=[
                f"raw export {raw_all.median:.2f} s: the ceiling this emulator and machine allow"
            ],
        ),
    ]


def main() -> None:
    """Command line entry point."""
    run_script("cursor lists: prefetch and partitioned export (20 ms latency)", run)


if __name__ == "__main__":
    main()
