"""Memory: peak RSS growth of the client process while streaming 1,000,000 work orders.

The emulator (another process) serves 1,000,000 seeded work orders (~1 KB of JSON each, about
1 GB in all); a fresh client process (so nothing else ever raised its high-water mark) streams
them with ``async for wo in client.workorders.list(limit=1000)`` (1,000 pages, prefetch=1),
counting them. Growth = peak RSS (``ru_maxrss``) at the end - RSS just before the first request
(after imports and client construction). RSS is also sampled every 100,000 items, to show it
stays flat. Target: < 20 MB.

Run alone: ``python -m benchmarks.bench_memory [--quick]`` (``--quick`` streams 100,000).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

from ._harness import Figure, Stats, Target, emulator, run_script, script_command

COMMAND = script_command("bench_memory")
ITEMS = 1_000_000
PAGE_SIZE = 1000
SAMPLE_EVERY = 100_000


def rss_mb() -> float:
    """Current resident set size of this process, in MB (from /proc/self/statm)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (``ru_maxrss`` is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


async def stream(base_url: str, items: int) -> dict[str, Any]:
    """The child's job: stream ``items`` work orders and report memory figures."""
    import cwpro

    async with cwpro.AsyncClient(base_url=base_url) as client:  # credentials from CWPRO_*
        baseline = rss_mb()
        peak_before = peak_rss_mb()
        samples: list[tuple[int, float]] = []
        count = 0
        started = time.perf_counter()
        async for _ in client.workorders.list(limit=PAGE_SIZE):
            count += 1
            if count % SAMPLE_EVERY == 0:
                samples.append((count, rss_mb()))
        elapsed = time.perf_counter() - started
    return {
        "items": count,
        "expected": items,
        "baseline_mb": baseline,
        "peak_before_mb": peak_before,
        "peak_mb": peak_rss_mb(),
        "samples": samples,
        "seconds": elapsed,
    }


def run(quick: bool = False) -> list[Figure]:
    """Measure (in a fresh child process) and return the figures."""
    items = 100_000 if quick else ITEMS
    with emulator(workorders=items, max_page_size=PAGE_SIZE) as emu:
        env = dict(os.environ, CWPRO_CLIENT_ID=emu.client_id, CWPRO_CLIENT_SECRET=emu.client_secret)
        child = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_memory", "--child", emu.base_url, str(items)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
    result = json.loads(child.stdout.strip().splitlines()[-1])
    if result["items"] != items:
        raise AssertionError(f"streamed {result['items']} work orders, expected {items}")
    growth = result["peak_mb"] - result["baseline_mb"]
    trail = ", ".join(f"{n // 1000}k: {mb:.0f} MB" for n, mb in result["samples"])
    return [
        Figure.graded(
            "stream_peak_rss_growth_mb",
            f"peak RSS growth of the client while streaming {items:,} work orders "
            f"(limit={PAGE_SIZE}, prefetch=1)",
            Stats.of([growth]),
            Target.below(20, "MB"),
            COMMAND,
            digits=1,
            notes=[
                f"RSS before the first request {result['baseline_mb']:.0f} MB, peak "
                f"{result['peak_mb']:.0f} MB; RSS along the way: {trail}",
                f"{items / result['seconds']:,.0f} items/s ({result['seconds']:.0f} s, one run)",
            ],
        )
    ]


def main() -> None:
    """Command line entry point (``--child URL ITEMS`` is the streaming process itself)."""
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        parser = argparse.ArgumentParser()
        parser.add_argument("--child", required=True)
        parser.add_argument("items", type=int)
        args = parser.parse_args()
        print(json.dumps(asyncio.run(stream(args.child, args.items))))
        return
    run_script("memory while streaming", run)


if __name__ == "__main__":
    main()
