"""Durable webhook acknowledgements: ``WebhookReceiver(inbox=SQLiteInbox)`` vs the in-memory queue.

The receiver runs in its own process (a trivial handler); 32 concurrent senders on loopback POST
~1 KB notifications, each waiting for its answer. Per round and mode: acknowledgements per
second (200s over the wall time of the whole batch) and the p50/p99 time from sending a request
to its 200. The two modes alternate over the rounds in the same run. The durable mode commits
(``synchronous=FULL``, WAL) before each 200; concurrent deliveries share a commit (the events
per commit are reported).

Run alone: ``python -m benchmarks.bench_inbox [--quick]``.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from ._harness import REPO_ROOT, Figure, Stats, Target, run_script, script_command

COMMAND = script_command("bench_inbox")
SENDERS = 32
MODES = ("inbox", "memory")

_CHILD = """
import asyncio, json, signal, sys
from cwpro.webhooks import WebhookReceiver, SQLiteInbox

async def main(mode, db):
    async def handle(event):
        return None
    inbox = SQLiteInbox(db) if mode == "inbox" else None
    receiver = WebhookReceiver(handle, inbox=inbox, allowed_ips=None, queue_size=100_000)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with receiver.serve() as url:
        print(url, flush=True)
        await stop.wait()
        await receiver.join()
    counts = {"commits": 0, "writes": 0} if inbox is None else {
        "commits": inbox.commits, "writes": inbox.writes}
    print(json.dumps(counts), flush=True)

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def notification(number: int) -> bytes:
    """A ~1 KB WORKORDER.CREATE notification."""
    return json.dumps(
        {
            "id": f"{number:024x}",
            "event": "WORKORDER.CREATE",
            "created_date": f"2024-01-01T00:{number // 60 % 60:02d}:{number % 60:02d}.000Z",
            "data": {
                "_id": f"{number + 10**9:024x}",
                "name": f"work order {number}",
                "status": "open",
                "description": "x" * 800,
            },
        }
    ).encode()


async def one_round(mode: str, events: int, workdir: Path) -> tuple[float, list[float], float]:
    """(acks/s, latencies in ms, events per commit) of one batch against a fresh receiver."""
    db = workdir / f"{mode}-{time.monotonic_ns()}.db"
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _CHILD, mode, str(db),
        stdout=asyncio.subprocess.PIPE, cwd=REPO_ROOT,
    )  # fmt: skip
    assert child.stdout is not None
    url = (await child.stdout.readline()).decode().strip()
    bodies = [notification(n) for n in range(events)]
    latencies: list[float] = []
    queue = iter(range(events))
    acked = 0
    connector = aiohttp.TCPConnector(limit=SENDERS)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def sender() -> None:
            nonlocal acked
            for number in queue:
                started = time.perf_counter()
                async with session.post(url, data=bodies[number]) as response:
                    await response.read()
                    if response.status == 200:
                        acked += 1
                latencies.append((time.perf_counter() - started) * 1e3)

        # one connection warmed up, unmeasured (a notification outside the measured ids)
        async with session.post(url, data=notification(10**8)) as response:
            await response.read()
        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(SENDERS)))
        wall = time.perf_counter() - started
    child.terminate()
    tail = (await child.stdout.read()).decode().strip().splitlines()
    await child.wait()
    counts = json.loads(tail[-1])
    per_commit = counts["writes"] / counts["commits"] if counts["commits"] else 0.0
    return acked / wall, latencies, per_commit


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` quantile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run(quick: bool = False) -> list[Figure]:
    """Measure and return the figures."""
    rounds = 2 if quick else 6
    events = 1_000 if quick else 3_000
    rates: dict[str, list[float]] = {mode: [] for mode in MODES}
    p50: dict[str, list[float]] = {mode: [] for mode in MODES}
    p99: dict[str, list[float]] = {mode: [] for mode in MODES}
    per_commit: list[float] = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("CWPRO_BENCH_DIR")) as tmp:
        for round_no in range(rounds):
            order = MODES if round_no % 2 == 0 else MODES[::-1]
            for mode in order:
                rate, latencies, batch = asyncio.run(one_round(mode, events, Path(tmp)))
                rates[mode].append(rate)
                p50[mode].append(percentile(latencies, 0.50))
                p99[mode].append(percentile(latencies, 0.99))
                if mode == "inbox":
                    per_commit.append(batch)
    note = (
        f"{events:,} events of ~1 KB per round from {SENDERS} concurrent senders; in-memory "
        f"queue mode in the same run: {statistics.median(rates['memory']):,.0f} acks/s, p50 "
        f"{statistics.median(p50['memory']):.1f} ms, p99 {statistics.median(p99['memory']):.1f} "
        f"ms; durable: {statistics.median(per_commit):.1f} write operations per commit "
        "(group commit of stores, claims and outcomes; 3 per event)"
    )
    return [
        Figure.graded(
            "inbox_acks_per_s",
            f"durable acks/s: WebhookReceiver(inbox=SQLiteInbox), {SENDERS} senders, ~1 KB events",
            Stats.of(rates["inbox"]),
            Target.at_least(1000, "acks/s"),
            COMMAND,
            digits=0,
            notes=[note],
        ),
        Figure.graded(
            "inbox_p99_ms",
            "durable p99 time to 200 (fsync'd commit before the answer)",
            Stats.of(p99["inbox"]),
            Target.at_most(100, "ms"),
            COMMAND,
            digits=1,
        ),
        Figure.info(
            "inbox_p50_ms",
            "durable p50 time to 200",
            Stats.of(p50["inbox"]),
            "ms",
            COMMAND,
            digits=1,
        ),
        Figure.info(
            "memory_acks_per_s",
            "in-memory queue mode acks/s (same run, same senders)",
            Stats.of(rates["memory"]),
            "acks/s",
            COMMAND,
            digits=0,
        ),
        Figure.info(
            "memory_p99_ms",
            "in-memory queue mode p99 time to 200",
            Stats.of(p99["memory"]),
            "ms",
            COMMAND,
            digits=1,
        ),
    ]


def main() -> None:
    """Command line entry point."""
    run_script("durable webhook inbox", run)


if __name__ == "__main__":
    main()
