"""The blocking client against the async one, per call: the suite's figure for ``cwpro_sync``.

Reuses the blocks of ``benchmarks/bench_sync_overhead.py`` (the sync client's own, more detailed
benchmark, which also times the bridges the design was chosen against; it still runs alone:
``python benchmarks/bench_sync_overhead.py --alternatives``), timed with the suite's harness
(order rotating every round): blocks of ``calls`` ``workorders.get`` calls alternate between

* ``async``: ``await client.workorders.get(id)`` on an asyncio loop (the baseline),
* ``sync``: ``cwpro_sync.Client.workorders.get(id)`` from a thread with no loop (the common case:
  the caller runs the client's loop itself),
* ``sync in loop``: the same call from inside a running loop (Jupyter), one thread hop,

with the ratio to ``async`` taken per round. Also: streaming 2,000 work orders, sync / async.

Run alone: ``python -m benchmarks.bench_sync_vs_async [--quick]``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import cwpro
import cwpro_sync

from ._harness import (
    Figure,
    Sample,
    Stats,
    Target,
    alternate_sync,
    cpus,
    emulator,
    measure_sync,
    ratio_stats,
    run_script,
    script_command,
    walls,
)
from .bench_sync_overhead import client_options, per_call, per_item, per_item_sync

COMMAND = script_command("bench_sync_vs_async")
STREAM_ITEMS = 2_000


def run(quick: bool = False) -> list[Figure]:
    """Measure and return the figures."""
    rounds, calls, stream_rounds = (5, 20, 2) if quick else (60, 20, 5)
    with emulator(workorders=STREAM_ITEMS) as emu:
        loop = asyncio.new_event_loop()
        aclient = cwpro.AsyncClient(**client_options(emu))
        sclient = cwpro_sync.Client(**client_options(emu))
        try:
            wo_id = loop.run_until_complete(aclient.workorders.list(limit=1)).items[0].id

            def get() -> None:
                sclient.workorders.get(wo_id)

            async def async_block() -> None:
                for _ in range(calls):
                    await aclient.workorders.get(wo_id)

            async def sync_in_loop_block() -> None:
                per_call(calls, get)

            def timed(block: Callable[[], object]) -> Callable[[], Sample]:
                return lambda: measure_sync(block, calls)

            variants = {
                "async": timed(lambda: loop.run_until_complete(async_block())),
                "sync": timed(lambda: per_call(calls, get)),
                "sync in loop": timed(lambda: loop.run_until_complete(sync_in_loop_block())),
            }
            for variant in variants.values():  # warm-up: token, connections, both loops
                variant()
            calls_measured = alternate_sync(variants, rounds)

            def async_stream() -> float:
                walk = per_item(lambda: aclient.workorders.list(limit=100), STREAM_ITEMS)
                return loop.run_until_complete(walk)

            def sync_stream() -> float:
                return per_item_sync(lambda: sclient.workorders.list(limit=100), STREAM_ITEMS)

            streams = alternate_sync(
                {
                    "async": lambda: Sample(async_stream(), 0.0),
                    "sync": lambda: Sample(sync_stream(), 0.0),
                },
                stream_rounds,
            )
        finally:
            sclient.close()
            loop.run_until_complete(aclient.close())
            loop.close()

    wall = {name: walls(values) for name, values in calls_measured.items()}
    cpu = {name: cpus(values) for name, values in calls_measured.items()}
    absolute = ", ".join(
        f"{name} {Stats.of(wall[name]).median * 1e6:.0f} us wall / "
        f"{Stats.of(cpu[name]).median * 1e6:.0f} us CPU"
        for name in wall
    )
    return [
        Figure.graded(
            "sync_ratio",
            "wall time per workorders.get: cwpro_sync.Client / await cwpro.AsyncClient",
            ratio_stats(wall["sync"], wall["async"]),
            Target.at_most(1.1),
            COMMAND,
            notes=[
                f"blocks of {calls} calls, {rounds} rounds, per-round ratios; per call: {absolute}"
            ],
        ),
        Figure.info(
            "sync_cpu_ratio",
            "client CPU per workorders.get: cwpro_sync.Client / await cwpro.AsyncClient",
            ratio_stats(cpu["sync"], cpu["async"]),
            "x",
            COMMAND,
        ),
        Figure.info(
            "sync_in_loop_ratio",
            "same, called from inside a running event loop (helper thread hop) / async",
            ratio_stats(wall["sync in loop"], wall["async"]),
            "x",
            COMMAND,
        ),
        Figure.info(
            "sync_stream_ratio",
            f"streaming {STREAM_ITEMS:,} work orders (100 per page), wall per item: sync / async",
            ratio_stats(walls(streams["sync"]), walls(streams["async"])),
            "x",
            COMMAND,
        ),
    ]


def main() -> None:
    """Command line entry point."""
    run_script("blocking client vs async client", run)


if __name__ == "__main__":
    main()
