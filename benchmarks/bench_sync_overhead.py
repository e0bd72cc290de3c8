"""What the blocking client costs over the async one, per call (prints figures, asserts nothing).

Against ``cwpro.emulator.EmulatorProcess`` (a separate process), one ``workorders.get`` per call:

* ``async``: ``await client.workorders.get(id)`` on an asyncio loop (the baseline);
* ``sync``: ``cwpro_sync.Client.workorders.get(id)`` from a plain thread (the caller runs the
  client's loop itself: no thread hop);
* ``sync in loop``: the same call made from inside a running event loop (as in Jupyter), so the
  bridge's helper thread runs the client's loop (one thread hop);
* with ``--alternatives``, the bridges the design was chosen against, each wrapping its own
  ``AsyncClient``: ``asyncio.run_coroutine_threadsafe`` to a loop thread, a minimal hand-rolled
  thread hop, anyio's blocking portal.

Blocks of ``--calls`` calls alternate between the variants for ``--rounds`` rounds; the ratio
to ``async`` is taken per round (so machine-load drift cancels out) and reported as median and
interquartile range, with the client's CPU time per call. Also timed: streaming a whole list
(``--items`` work orders, 100 per page) sync vs async.

Run: ``python benchmarks/bench_sync_overhead.py [--rounds 15] [--calls 60] [--alternatives]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import threading
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Coroutine, Iterable
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anyio.from_thread

import cwpro
import cwpro_sync
from cwpro.emulator import EmulatorProcess

T = TypeVar("T")
Block = Callable[[], float]


class ThreadHop:
    """The minimal hand-rolled hop: a loop thread, ``call_soon_threadsafe`` and a lock."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        done = threading.Lock()
        done.acquire()
        box: list[asyncio.Future[T]] = []

        def start() -> None:
            task = self.loop.create_task(coro)
            box.append(task)
            task.add_done_callback(lambda _: done.release())

        self.loop.call_soon_threadsafe(start)
        done.acquire()
        return box[0].result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


def client_options(emu: EmulatorProcess) -> dict[str, Any]:
    return {
        "client_id": emu.client_id,
        "client_secret": emu.client_secret,
        "base_url": emu.base_url,
    }


def per_call(calls: int, fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - started) / calls


async def per_item(walk: Callable[[], AsyncIterable[object]], expected: int) -> float:
    """Wall seconds per item of one walk of ``walk()``, checked to yield ``expected`` items."""
    started = time.perf_counter()
    count = 0
    async for _ in walk():
        count += 1
    if count != expected:
        raise AssertionError(f"streamed {count} work orders, expected {expected}")
    return (time.perf_counter() - started) / count


def per_item_sync(walk: Callable[[], Iterable[object]], expected: int) -> float:
    """:func:`per_item` for a blocking ``walk``."""
    started = time.perf_counter()
    count = sum(1 for _ in walk())
    if count != expected:
        raise AssertionError(f"streamed {count} work orders, expected {expected}")
    return (time.perf_counter() - started) / count


def measure(
    blocks: dict[str, Block], rounds: int, count: int
) -> dict[str, tuple[list[float], list[float]]]:
    """Alternate the blocks ``rounds`` times: per variant, wall and CPU seconds per operation.

    Each block returns its wall time per operation; ``count`` operations run per block.
    """
    results: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in blocks}
    for block in blocks.values():
        block()  # warm up: token, connection, caches
    for _ in range(rounds):
        for name, block in blocks.items():
            cpu = time.process_time()
            results[name][0].append(block())
            results[name][1].append((time.process_time() - cpu) / count)
    return results


def report(title: str, results: dict[str, tuple[list[float], list[float]]], baseline: str) -> None:
    print(f"\n{title}")
    print(f"{'variant':<28}{'median us':>10}{'cpu us':>9}{'ratio':>8}{'IQR':>16}")
    base = results[baseline][0]
    for name, (walls, cpus) in results.items():
        ratios = [wall / ref for wall, ref in zip(walls, base, strict=True)]
        q1, _, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else (ratios[0],) * 3
        wall_us, cpu_us = statistics.median(walls) * 1e6, statistics.median(cpus) * 1e6
        spread = f"{q1:.3f}-{q3:.3f}"
        print(
            f"{name:<28}{wall_us:>10.0f}{cpu_us:>9.0f}{statistics.median(ratios):>8.3f}{spread:>16}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=60, help="calls per block")
    parser.add_argument("--items", type=int, default=2000, help="work orders to stream")
    parser.add_argument("--alternatives", action="store_true", help="also time other bridges")
    parser.add_argument("--pin", action="store_true", help="pin client and server to cores 0, 1")
    options = parser.parse_args()
    calls: int = options.calls

    with EmulatorProcess(seed=1, workorders=options.items) as emu:
        if options.pin and hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
            os.sched_setaffinity(emu.pid, {1})  # server and client on different cores
            os.sched_setaffinity(0, {0})
        loop = asyncio.new_event_loop()
        aclient = cwpro.AsyncClient(**client_options(emu))
        sclient = cwpro_sync.Client(**client_options(emu))
        wo_id = loop.run_until_complete(aclient.workorders.list(limit=1)).items[0].id
        closers: list[Callable[[], None]] = [sclient.close]

        async def async_block() -> float:
            started = time.perf_counter()
            for _ in range(calls):
                await aclient.workorders.get(wo_id)
            return (time.perf_counter() - started) / calls

        async def sync_in_loop_block() -> float:
            return per_call(calls, lambda: sclient.workorders.get(wo_id))

        blocks: dict[str, Block] = {
            "async": lambda: loop.run_until_complete(async_block()),
            "sync (caller runs the loop)": lambda: per_call(
                calls, lambda: sclient.workorders.get(wo_id)
            ),
            "sync in loop (helper hop)": lambda: loop.run_until_complete(sync_in_loop_block()),
        }
        if options.alternatives:
            blocks.update(alternatives(emu, wo_id, calls, closers))
        title = f"one workorders.get per call ({calls} calls x {options.rounds} rounds)"
        report(title, measure(blocks, options.rounds, calls), "async")

        streams: dict[str, Block] = {
            "async": lambda: loop.run_until_complete(
                per_item(lambda: aclient.workorders.list(limit=100), options.items)
            ),
            "sync": lambda: per_item_sync(
                lambda: sclient.workorders.list(limit=100), options.items
            ),
        }
        title = f"streaming {options.items} work orders, 100 per page (per item)"
        report(title, measure(streams, max(3, options.rounds // 3), options.items), "async")

        loop.run_until_complete(aclient.close())
        loop.close()
        for close in closers:
            close()


def alternatives(
    emu: EmulatorProcess, wo_id: str, calls: int, closers: list[Callable[[], None]]
) -> dict[str, Block]:
    """Other ways to wrap the async client, each with its own client on its own loop."""

    def on_loop(run: Callable[[Awaitable[Any]], Any]) -> cwpro.AsyncClient:
        async def make() -> cwpro.AsyncClient:
            return cwpro.AsyncClient(**client_options(emu))

        client: cwpro.AsyncClient = run(make())
        closers.append(lambda: run(client.close()))
        return client

    rcts_loop = asyncio.new_event_loop()
    rcts_thread = threading.Thread(target=rcts_loop.run_forever, daemon=True)
    rcts_thread.start()

    def rcts(aw: Awaitable[T]) -> T:
        async def wrap() -> T:
            return await aw

        return asyncio.run_coroutine_threadsafe(wrap(), rcts_loop).result()

    rcts_client = on_loop(rcts)

    def stop_rcts_loop() -> None:
        rcts_loop.call_soon_threadsafe(rcts_loop.stop)
        rcts_thread.join()
        rcts_loop.close()

    closers.append(stop_rcts_loop)

    hop = ThreadHop()

    def hop_run(aw: Awaitable[T]) -> T:
        async def wrap() -> T:
            return await aw

        return hop.run(wrap())

    hop_client = on_loop(hop_run)
    closers.append(hop.close)

    portal_cm = anyio.from_thread.start_blocking_portal()
    portal = portal_cm.__enter__()

    def portal_run(aw: Awaitable[T]) -> T:
        async def wrap() -> T:
            return await aw

        return portal.call(wrap)

    portal_client = on_loop(portal_run)

    def stop_portal() -> None:
        portal_cm.__exit__(None, None, None)

    closers.append(stop_portal)

    def timed(run: Callable[[Awaitable[Any]], Any], client: cwpro.AsyncClient) -> Block:
        return lambda: per_call(calls, lambda: run(client.workorders.get(wo_id)))

    return {
        "run_coroutine_threadsafe": timed(rcts, rcts_client),
        "hand-rolled thread hop": timed(hop_run, hop_client),
        "anyio blocking portal": timed(portal_run, portal_client),
    }


if __name__ == "__main__":
    main()
