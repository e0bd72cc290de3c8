"""``python -m benchmarks``: run every benchmark, print the figures, write ``RESULTS.md``.

Each benchmark runs in its own interpreter (``python -m benchmarks.<name> --json FILE``), so one
cannot leave garbage, threads or a raised RSS high-water mark behind for the next. Options:
``--quick`` (fewer rounds: a smoke run, not for the record), ``--only NAME`` (repeatable),
``--output PATH`` (default ``benchmarks/RESULTS.md``; ``--quick`` and ``--only`` runs print only,
unless ``--output`` is given).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ._harness import REPO_ROOT, Figure, machine_info
from ._results import write_results

#: The benchmarks, in the order they run (cheap and sensitive ones first).
BENCHMARKS = (
    "bench_import",
    "bench_request_overhead",
    "bench_items",
    "bench_sync_vs_async",
    "bench_portal_links",
    "bench_cursor_export",
    "bench_memory",
    "bench_load",
    "bench_inbox",
)
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "RESULTS.md"


def run_benchmark(name: str, quick: bool) -> tuple[list[Figure], float, str]:
    """Run one benchmark in a child interpreter; its figures, seconds and any error."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "figures.json"
        command = [sys.executable, "-m", f"benchmarks.{name}", "--json", str(out)]
        if quick:
            command.append("--quick")
        started = time.perf_counter()
        result = subprocess.run(command, cwd=REPO_ROOT, check=False)
        elapsed = time.perf_counter() - started
        if result.returncode != 0 or not out.exists():
            return [], elapsed, f"{name} failed (exit status {result.returncode})"
        figures = [Figure(**data) for data in json.loads(out.read_text())]
    return figures, elapsed, ""


def main() -> int:
    """Run the suite; exit status 1 if a benchmark failed to run (missed targets are not
    failures: they are reported)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds (smoke run)")
    parser.add_argument("--only", action="append", choices=BENCHMARKS, help="run just these")
    parser.add_argument("--output", type=Path, help="where to write the results table")
    args = parser.parse_args()
    names = args.only or list(BENCHMARKS)
    output: Path | None = args.output
    if output is None and not args.quick and not args.only:
        output = DEFAULT_OUTPUT

    machine = machine_info()
    load_before = os.getloadavg()
    started = time.perf_counter()
    figures: list[Figure] = []
    durations: dict[str, float] = {}
    errors: list[str] = []
    for name in names:
        print(f"\n### {name}", flush=True)
        found, seconds, error = run_benchmark(name, args.quick)
        figures += found
        durations[name] = seconds
        if error:
            errors.append(error)
    total = time.perf_counter() - started
    machine["load_before"] = load_before
    machine["load_after"] = os.getloadavg()

    print(f"\n=== {len(figures)} figures in {total:.0f} s")
    for figure in figures:
        verdict = f"[{figure.verdict}]" if figure.target else ""
        target = f"(target {figure.target})" if figure.target else ""
        print(f"  {figure.shown_value:>12}  {target:<20} {verdict:<9} {figure.label}")
    for error in errors:
        print(f"  ERROR: {error}")
    if output is not None:
        write_results(
            output,
            figures,
            machine=machine,
            durations=durations,
            total=total,
            when=dt.datetime.now(dt.timezone.utc),
            errors=errors,
            quick=args.quick,
        )
        print(f"\nwrote {output}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
