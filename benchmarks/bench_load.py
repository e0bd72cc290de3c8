"""Loading into DuckDB: ``cwpro load`` against ``cwpro export`` and dlt's generic ``rest_api``.

The emulator (another process) serves 20,000 seeded work orders with 20 ms added to every
request. Every side runs as its own fresh process (interpreter start and imports included), one
after the other in a rotating order, each round from scratch (new pipeline folder, new file):

* ``load``: ``python -m cwpro load workorders --destination duckdb`` (the SDK's partitioned
  export feeding dlt; 500 items per request, 8 partitions; a first run, as every round is, is
  fetched and made Arrow tables by a worker process while dlt is imported);
* ``export``: ``python -m cwpro export workorders --out FILE`` (JSON lines, its defaults);
* ``rest_api``: dlt's generic ``rest_api`` source configured for the same endpoint (bearer
  token, cursor paginator on ``pagination.nextCursor``, ``data`` selector, 500 per page, merge
  on ``_id``) into DuckDB: pages fetched one after the other.

An unmeasured export runs first (the emulator renders each work order once). Every side may
use every core, as on a machine whose API is elsewhere (the emulator stays
pinned to one core, which it shares): ``cwpro load`` uses a second core for its fetch worker.
One more ``cwpro load`` pinned to the other core alone (where it fetches in a thread: a worker
would share the core) is reported beside the ratios.

Then, on the last round's pipeline, 100 new work orders are created and ``cwpro load`` runs
again: its ``GET /workorders`` requests are compared with the first run's (counted by the
emulator). Peak RSS is the larger of the load process's and its worker's ``ru_maxrss``.

Run alone: ``python -m benchmarks.bench_load [--quick]``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Final

from ._harness import REPO_ROOT, Figure, Stats, Target, emulator, run_script, script_command

COMMAND = script_command("bench_load")
WORK_ORDERS = 20_000
LATENCY_MS = 20
PAGE_SIZE = 500
NEW_WORK_ORDERS = 100


def _env(emu: Any, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CWPRO_")}
    env.update(
        CWPRO_BASE_URL=emu.base_url,
        CWPRO_CLIENT_ID=emu.client_id,
        CWPRO_CLIENT_SECRET=emu.client_secret,
        DLT_DATA_DIR=str(workdir / "dlt-data"),
        RUNTIME__LOG_LEVEL="WARNING",
        PYTHONPATH=str(REPO_ROOT),
    )
    return env


#: The cores a side runs on: all this machine gives (the harness pinned this process to the
#: emulator's others; a child would inherit that).
ALL_CORES: Final = frozenset(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None


def _timed(
    command: list[str], env: dict[str, str], cwd: Path, cores: frozenset[int] | None = ALL_CORES
) -> tuple[float, float]:
    """Run ``command`` on ``cores``; its wall seconds and peak RSS (MB). Raises if it fails."""

    def on_cores() -> None:
        if cores is not None:
            os.sched_setaffinity(0, cores)

    with (cwd / "out.log").open("wb") as out, (cwd / "err.log").open("w+b") as err:
        started = time.perf_counter()
        child = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=out, stderr=err, preexec_fn=on_cores
        )
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"{command} failed ({child.returncode}): {tail}")
    return wall, usage.ru_maxrss * 1024 / 1e6


def _stats(emu: Any) -> dict[str, int]:
    with urllib.request.urlopen(f"{emu.base_url}/_emulator/stats", timeout=30) as response:
        requests: dict[str, int] = json.loads(response.read())["requests"]
    return requests


def _load(workdir: Path) -> list[str]:
    return [
        sys.executable, "-m", "cwpro", "load", "workorders", "--destination", "duckdb",
        "--no-progress", "--pipelines-dir", str(workdir / "pipelines"),
    ]  # fmt: skip


def _export(out: Path) -> list[str]:
    return [sys.executable, "-m", "cwpro", "export", "workorders", "--out", str(out),
            "--no-progress"]  # fmt: skip


def _count(database: Path, table: str) -> int:
    import duckdb

    with duckdb.connect(str(database), read_only=True) as connection:
        row = connection.execute(f"SELECT count(DISTINCT _id) FROM {table}").fetchone()
    return int(row[0]) if row else 0


def rest_api_child(workdir: str) -> None:
    """The ``rest_api`` side (run in its own process): the same endpoint into DuckDB."""
    import aiohttp  # noqa: F401  (same import cost class as the SDK's side)
    import dlt
    from dlt.sources.rest_api import rest_api_source

    os.environ.setdefault("DATA_WRITER__DISABLE_COMPRESSION", "true")  # as cwpro load does
    base_url = os.environ["CWPRO_BASE_URL"]
    body = json.dumps(
        {
            "client_id": os.environ["CWPRO_CLIENT_ID"],
            "client_secret": os.environ["CWPRO_CLIENT_SECRET"],
        }
    ).encode()
    request = urllib.request.Request(
        f"{base_url}/auth/token", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        token = json.loads(response.read())["data"]["access_token"]
    source = rest_api_source(
        {
            "client": {
                "base_url": base_url,
                "auth": {"type": "bearer", "token": token},
                "paginator": {
                    "type": "cursor",
                    "cursor_path": "pagination.nextCursor",
                    "cursor_param": "cursor",
                },
            },
            "resources": [
                {
                    "name": "workorders",
                    "primary_key": "_id",
                    "write_disposition": "merge",
                    "endpoint": {
                        "path": "workorders",
                        "params": {"limit": PAGE_SIZE},
                        "data_selector": "data",
                    },
                }
            ],
        }
    )
    pipeline = dlt.pipeline(
        "rest_api_bench",
        destination=dlt.destinations.duckdb(str(Path(workdir) / "rest_api.duckdb")),
        dataset_name="cwp",
        pipelines_dir=str(Path(workdir) / "pipelines"),
    )
    pipeline.run(source, loader_file_format="jsonl")


def _create_work_orders(emu: Any, count: int) -> None:
    import asyncio

    import cwpro

    async def create() -> None:
        async with cwpro.AsyncClient(
            emu.client_id, emu.client_secret, base_url=emu.base_url
        ) as client:
            for i in range(count):
                await client.workorders.create(name=f"bench new {i}")

    asyncio.run(create())


def run(quick: bool = False) -> list[Figure]:
    """Measure and return the figures."""
    rounds = 1 if quick else 3
    walls: dict[str, list[float]] = {"load": [], "export": [], "rest_api": []}
    rss: list[float] = []
    first_requests: list[int] = []
    with (
        emulator(workorders=WORK_ORDERS, latency_ms=LATENCY_MS) as emu,
        tempfile.TemporaryDirectory() as tmp,
    ):
        names = list(walls)
        workdir = Path(tmp)
        # The emulator renders each work order once (its render cache): a first, unmeasured
        # export pays that, not whichever side happens to run first.
        warm = workdir / "warm-up"
        warm.mkdir()
        _timed(_export(warm / "workorders.jsonl"), _env(emu, warm), warm)
        for round_no in range(rounds):
            shift = round_no % len(names)
            for name in names[shift:] + names[:shift]:
                work = workdir / f"{name}-{round_no}"
                work.mkdir()
                env = _env(emu, work)
                if name == "load":
                    before = _stats(emu).get("GET /workorders", 0)
                    wall, peak = _timed(_load(work), env, work)
                    first_requests.append(_stats(emu).get("GET /workorders", 0) - before)
                    rss.append(peak)
                    if _count(work / "cwpro.duckdb", "cwp.workorders") != WORK_ORDERS:
                        raise AssertionError("cwpro load did not load every work order")
                elif name == "export":
                    out = work / "workorders.jsonl"
                    wall, _ = _timed(_export(out), env, work)
                    if sum(1 for _ in out.open()) != WORK_ORDERS:
                        raise AssertionError("cwpro export did not write every work order")
                else:
                    command = [sys.executable, "-m", "benchmarks.bench_load", "--rest-api",
                               str(work)]  # fmt: skip
                    wall, _ = _timed(command, env, work)
                    if _count(work / "rest_api.duckdb", "cwp.workorders") != WORK_ORDERS:
                        raise AssertionError("rest_api did not load every work order")
                walls[name].append(wall)
        pinned_dir = workdir / "load-pinned"
        pinned_dir.mkdir()
        client_cores = frozenset(os.sched_getaffinity(0)) if ALL_CORES is not None else None
        pinned, _ = _timed(_load(pinned_dir), _env(emu, pinned_dir), pinned_dir, client_cores)
        last = workdir / f"load-{rounds - 1}"
        _create_work_orders(emu, NEW_WORK_ORDERS)
        before = _stats(emu).get("GET /workorders", 0)
        rerun_wall, _ = _timed(_load(last), _env(emu, last), last)
        rerun_requests = _stats(emu).get("GET /workorders", 0) - before
        if _count(last / "cwpro.duckdb", "cwp.workorders") != WORK_ORDERS + NEW_WORK_ORDERS:
            raise AssertionError("the incremental run did not end with the new total")
    load, export, rest = (Stats.of(walls[k]) for k in ("load", "export", "rest_api"))
    per_round = [
        (lo, ex, re)
        for lo, ex, re in zip(walls["load"], walls["export"], walls["rest_api"], strict=True)
    ]
    setup = (
        f"{WORK_ORDERS:,} work orders, {LATENCY_MS} ms latency, fresh process and pipeline per "
        f"run; load {load.median:.2f} s, export {export.median:.2f} s, rest_api {rest.median:.2f} s"
    )
    one_core = (
        f"cwpro load with one core for the client (no worker then: the thread prefetch): "
        f"{pinned:.2f} s, "
        f"{pinned / export.median:.2f}x the export, rest_api {rest.median / pinned:.2f}x it"
    )
    request_ratio = rerun_requests / max(1, first_requests[-1]) * 100
    return [
        Figure.graded(
            "load_vs_export",
            f"cwpro load workorders --destination duckdb / cwpro export workorders (JSONL), "
            f"{WORK_ORDERS:,} items at {LATENCY_MS} ms (wall)",
            Stats.of([lo / ex for lo, ex, _ in per_round]),
            Target.at_most(2.0),
            COMMAND,
            notes=[setup, one_core],
        ),
        Figure.graded(
            "load_vs_rest_api",
            "dlt rest_api source (same endpoint, into DuckDB) / cwpro load (wall)",
            Stats.of([re / lo for lo, _, re in per_round]),
            Target.at_least(4.0),
            COMMAND,
        ),
        Figure.graded(
            "load_incremental_requests",
            f"incremental re-run after {NEW_WORK_ORDERS} new work orders: GET /workorders "
            "requests, % of the first run's",
            Stats.of([request_ratio]),
            Target.at_most(10.0, "%"),
            COMMAND,
            digits=1,
            notes=[
                f"first run {first_requests[-1]} requests (probes + partitions' pages), re-run "
                f"{rerun_requests} in {rerun_wall:.2f} s"
            ],
        ),
        Figure.info(
            "load_peak_rss_mb",
            f"peak RSS of the cwpro load process ({WORK_ORDERS:,} work orders)",
            Stats.of(rss),
            "MB",
            COMMAND,
            digits=0,
        ),
    ]


def main() -> None:
    """Command line entry point."""
    if len(sys.argv) == 3 and sys.argv[1] == "--rest-api":
        rest_api_child(sys.argv[2])
        return
    run_script("loading into DuckDB: cwpro load vs export vs dlt rest_api (20 ms latency)", run)


if __name__ == "__main__":
    main()
