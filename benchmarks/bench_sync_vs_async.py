"""The blocking client against the async one, per call: the suite's figure for ``cwpro_sync``.

Reuses the machinery of ``benchmarks/bench_sync_overhead.py`` (the sync client's own, more
detailed benchmark, which also times the bridges the design was chosen against; it still runs
alone: ``python benchmarks/bench_sync_overhead.py --alternatives``): blocks of ``calls``
``workorders.get`` calls alternate between

* ``async``: ``await client.workorders.get(id)`` on an asyncio loop (the baseline),
* ``sync``: ``cwpro_sync.Client.workorders.get(id)`` from a thread with no loop (the common case:
  the caller runs the client's loop itself),
* ``sync in loop``: the same call from inside a running loop (Jupyter), one thread hop,

with the ratio to ``async`` taken per round. Also: streaming 2,000 work orders, sync / async.

Run alone: ``python -m benchmarks.bench_sync_vs_async [--quick]``.
"""

from __future__ import annotations

import asyncio
import time

import cwpro
import cwpro_sync

from ._harness import Figure, Stats, Target, emulator, ratio_stats, run_script, script_command
from .bench_sync_overhead import client_options, measure, per_call

COMMAND = script_command("bench_sync_vs_async")
STREAM_ITEMS = 2_000


def run(quick: bool = False) -> list[Figure]:
    """Measure and return the figures."""
    rounds, calls, stream_rounds = (5, 10, 2) if quick else (100, 10, 5)
    with emulator(workorders=STREAM_ITEMS) as emu:
        loop = asyncio.new_event_loop()
        aclient = cwpro.AsyncClient(**client_options(emu))
        sclient = cwpro_sync.Client(**client_options(emu))
        try:
            wo_id = loop.run_until_complete(aclient.workorders.list(limit=1)).items[0].id

            async def async_block() -> float:
                started = time.perf_counter()
                for _ in range(calls):
                    await aclient.workorders.get(wo_id)
                return (time.perf_counter() - started) / calls

            async def sync_in_loop_block() -> float:
                return per_call(calls, lambda: sclient.workorders.get(wo_id))

            calls_measured = measure(
                {
                    "async": lambda: loop.run_until_complete(async_block()),
                    "sync": lambda: per_call(calls, lambda: sclient.workorders.get(wo_id)),
                    "sync in loop": lambda: loop.run_until_complete(sync_in_loop_block()),
                },
                rounds,
                calls,
            )

            async def async_stream() -> float:
                started = time.perf_counter()
                count = 0
                async for _ in aclient.workorders.list(limit=100):
                    count += 1
                if count != STREAM_ITEMS:
                    raise AssertionError(f"streamed {count} work orders")
                return (time.perf_counter() - started) / count

            def sync_stream() -> float:
                started = time.perf_counter()
                count = sum(1 for _ in sclient.workorders.list(limit=100))
                if count != STREAM_ITEMS:
                    raise AssertionError(f"streamed {count} work orders")
                return (time.perf_counter() - started) / count

            streams = measure(
                {"async": lambda: loop.run_until_complete(async_stream()), "sync": sync_stream},
                stream_rounds,
                STREAM_ITEMS,
            )
        finally:
            sclient.close()
            loop.run_until_complete(aclient.close())
            loop.close()

    walls = {name: values[0] for name, values in calls_measured.items()}
    cpus = {name: values[1] for name, values in calls_measured.items()}
    absolute = ", ".join(
        f"{name} {Stats.of(walls[name]).median * 1e6:.0f} us wall / "
        f"{Stats.of(cpus[name]).median * 1e6:.0f} us CPU"
        for name in walls
    )
    return [
        Figure.graded(
            "sync_ratio",
            "wall time per workorders.get: cwpro_sync.Client / await cwpro.AsyncClient",
            ratio_stats(walls["sync"], walls["async"]),
            Target.at_most(1.2),
            COMMAND,
            notes=[
                f"blocks of {calls} calls, {rounds} rounds, per-round ratios; per call: {absolute}"
            ],
        ),
        Figure.info(
            "sync_in_loop_ratio",
            "same, called from inside a running event loop (helper thread hop) / async",
            ratio_stats(walls["sync in loop"], walls["async"]),
            "x",
            COMMAND,
        ),
        Figure.info(
            "sync_stream_ratio",
            f"streaming {STREAM_ITEMS:,} work orders (100 per page), wall per item: sync / async",
            ratio_stats(streams["sync"][0], streams["async"][0]),
            "x",
            COMMAND,
        ),
    ]


def main() -> None:
    """Command line entry point."""
    run_script("blocking client vs async client", run)


if __name__ == "__main__":
    main()
