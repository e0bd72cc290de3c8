"""The fetch worker process (``cwpro.dlt._worker``) over loopback against the emulator.

In this (multi-threaded) test process the worker is spawned; ``cwpro load`` forks it from a
single-threaded process, which the subprocess tests at the end run for real.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import cwpro
from cwpro.dlt._arrow import TableBuilder, load_pyarrow
from cwpro.dlt._fetch import OPEN_HIGH, OPEN_LOW, CursorWindow, parse_instant
from cwpro.dlt._prefetch import Prefetch
from cwpro.dlt._spool import FILE_ROWS, TableFile
from cwpro.dlt._worker import FetchWorker, FetchWorkerDied, fork_is_safe
from cwpro.emulator import EmulatorThread

from .conftest import CLIENT_ID, CLIENT_SECRET, RECENT, WORK_ORDERS

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
duckdb = pytest.importorskip("duckdb")

TOTAL = WORK_ORDERS + RECENT


def _window(emu: EmulatorThread, attribute: str = "workorders", **options: Any) -> CursorWindow:
    client = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "base_url": emu.base_url,
        "max_retries": 0,
        **options,
    }
    return CursorWindow(attribute, client, OPEN_LOW, OPEN_HIGH, 100, 4)


def _worker(
    emu: EmulatorThread, ahead: int = 8, file_rows: int = FILE_ROWS, **windows: CursorWindow
) -> FetchWorker:
    from cwpro.dlt._fetch import CURSOR_RESOURCES

    chosen = windows or {"workorders": _window(emu)}
    models = {name: (window, CURSOR_RESOURCES[name][1]) for name, window in chosen.items()}
    return FetchWorker(models, ahead=ahead, method="spawn", file_rows=file_rows)


def _gone(pid: int, within: float = 30.0) -> bool:
    """Whether process ``pid`` has ended (or is a zombie) within ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().split(") ", 1)[1].startswith("Z"):
                    return True
        except FileNotFoundError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def test_the_worker_sends_every_row_in_files_as_the_in_process_builder_makes_them(
    emu: EmulatorThread,
) -> None:
    worker = _worker(emu, sites=_window(emu, "sites"), workorders=_window(emu))
    try:
        files = {name: list(worker.stream(name)) for name in ("workorders", "sites")}
        assert all(isinstance(f, TableFile) for fs in files.values() for f in fs)
        tables = [f.read(pq) for f in files["workorders"]]
        assert all(os.path.dirname(f.path) == worker.directory for f in files["workorders"])
    finally:
        worker.close()
    assert not os.path.exists(worker.directory)  # closed: its folder and files are gone
    parts = files["workorders"]
    assert [f.rows for f in parts[:-1]] == [FILE_ROWS] * (len(parts) - 1)
    assert [t.rows for t in tables] == [f.rows for f in parts]
    assert sum(f.rows for f in parts) == TOTAL
    ids = [i for t in tables for i in t.table.column("_id").to_pylist()]
    assert len(set(ids)) == TOTAL
    assert sum(f.rows for f in files["sites"]) == 25
    # what dlt's incremental is shown of each file: the rows at its newest created_date
    for part, table in zip(parts, tables, strict=True):
        dates = table.table.column("created_date").to_pylist()
        shown = part.cursor_rows.column("created_date").to_pylist()
        assert shown == [max(dates)] * dates.count(max(dates))
        assert part.cursor_rows.schema == table.table.schema

    # the same columns and types as the resources' own builder makes of the same rows
    async def rows() -> list[dict[str, Any]]:
        async with cwpro.AsyncClient(CLIENT_ID, CLIENT_SECRET, base_url=emu.base_url) as client:
            page = await client.workorders.list(limit=50, as_dict=True, sort_by="created_date")
            return page.items

    import asyncio

    local = TableBuilder(load_pyarrow(), cwpro.WorkOrder, "workorders").table(asyncio.run(rows()))
    assert tables[0].table.schema == local[0].schema
    assert worker.pid is not None and _gone(worker.pid, 0.0)


def test_an_api_error_in_the_worker_is_raised_here_as_itself(emu: EmulatorThread) -> None:
    emu.emulator.faults.add("status", status=403, route="GET /workorders")
    worker = _worker(emu)
    try:
        with pytest.raises(cwpro.PermissionDeniedError) as caught:
            list(worker.stream("workorders"))
    finally:
        worker.close()
    assert caught.value.status == 403 and "/workorders" in caught.value.url


def test_a_killed_worker_is_reported_not_waited_for(emu: EmulatorThread) -> None:
    emu.emulator.faults.add("slow_headers", delay=60.0, route="GET /workorders")
    worker = _worker(emu)
    try:
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGKILL)
        with pytest.raises(FetchWorkerDied, match="ended before it sent all workorders"):
            list(worker.stream("workorders"))
    finally:
        worker.close()


def test_leaving_a_stream_early_stops_its_fetch_and_close_ends_the_worker(
    capfd: pytest.CaptureFixture[str],
) -> None:
    with EmulatorThread(seed=5, workorders=12_000, client_id=CLIENT_ID,
                        client_secret=CLIENT_SECRET) as emu:  # fmt: skip
        stats = emu.emulator.stats
        whole = _worker(emu, file_rows=2000)
        try:
            assert sum(file.rows for file in whole.stream("workorders")) == 12_000
        finally:
            whole.close()
        everything = stats["GET /workorders"]
        worker = _worker(emu, ahead=1, file_rows=2000)
        try:
            stream = iter(worker.stream("workorders"))
            assert 2000 <= next(stream).rows < 2000 + 100  # cut at the page that reaches it
            stream.close()  # e.g. dlt failed on another resource
            with pytest.raises(KeyError):  # cancelled: gone
                worker.stream("workorders")
        finally:
            worker.close()
        assert worker.pid is not None and _gone(worker.pid, 0.0)
        # held at most: a file in the pipe, one queued, one being written, pages in flight
        assert stats["GET /workorders"] - everything < everything * 3 / 4
    # the walks were closed before their client: no request failed unread in the worker
    assert "never retrieved" not in capfd.readouterr().err


def test_a_prefetch_worker_is_taken_for_its_own_window_and_form(emu: EmulatorThread) -> None:
    window = _window(emu)
    prefetch = Prefetch()
    prefetch.start_worker({"workorders": window, "sites": _window(emu, "sites")}, ahead=4,
                          method="spawn")  # fmt: skip
    assert prefetch.take("sites", window, tables=True) is None  # another window: cancelled
    assert prefetch.take("workorders", window, tables=False) is None  # dicts wanted: cancelled
    assert prefetch.resources() == []
    prefetch.close()
    prefetch = Prefetch()
    prefetch.start_worker({"workorders": window}, ahead=4, method="spawn")
    files = prefetch.take("workorders", window, tables=True)
    assert files is not None and sum(file.rows for file in files) == TOTAL
    prefetch.close()


def test_cwpro_errors_cross_a_process_boundary_as_themselves() -> None:
    error = cwpro.RateLimitError("slow down", status=429, method="GET", url="https://x/y")
    error.retry_after = 2.5
    error.resume_cursor = "c1"
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is cwpro.RateLimitError and str(back) == str(error)
    assert (back.retry_after, back.resume_cursor, back.url) == (2.5, "c1", "https://x/y")


# -- cwpro load in a process of its own: the worker is forked ---------------------------------
def _env(emu: EmulatorThread, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CWPRO_")}
    env.update(
        CWPRO_BASE_URL=emu.base_url,
        CWPRO_CLIENT_ID=CLIENT_ID,
        CWPRO_CLIENT_SECRET=CLIENT_SECRET,
        DLT_DATA_DIR=str(tmp_path / "dlt-data"),
        RUNTIME__LOG_LEVEL="WARNING",
    )
    return env


def _cwpro_load(tmp_path: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "cwpro", "-v", "load", "--no-progress",
            "--pipelines-dir", str(tmp_path / "pipelines"), *args]  # fmt: skip


@pytest.mark.skipif(sys.platform != "linux", reason="the worker is forked on Linux only")
def test_cwpro_load_forks_its_fetch_worker_and_loads_every_row(
    emu: EmulatorThread, tmp_path: Path
) -> None:
    stats = emu.emulator.stats
    done = subprocess.run(
        _cwpro_load(tmp_path, "workorders", "sites"),
        env=_env(emu, tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "in worker process" in done.stderr and "(fork)" in done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["rows"] == {"workorders": TOTAL, "sites": 25}
    with duckdb.connect(str(tmp_path / "cwpro.duckdb"), read_only=True) as connection:
        row = connection.execute("SELECT count(*), count(DISTINCT _id) FROM cwp.workorders")
        assert row.fetchone() == (TOTAL, TOTAL)
        newest = connection.execute("SELECT max(created_date) FROM cwp.workorders").fetchone()
    # dlt's incremental saw the files' newest rows: its position is the newest row loaded
    import dlt

    state = dlt.attach("cwpro", pipelines_dir=str(tmp_path / "pipelines")).state
    cursor = state["sources"]["cwpro"]["resources"]["workorders"]["incremental"]["created_date"]
    assert newest is not None and parse_instant(cursor["last_value"]) == newest[0]
    once = first = stats["GET /workorders"]
    # the next run is incremental: no prefetch (there is state), the lag window only
    done = subprocess.run(
        _cwpro_load(tmp_path, "workorders"),
        env=_env(emu, tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "in worker process" not in done.stderr
    assert stats["GET /workorders"] - first < first / 2
    with duckdb.connect(str(tmp_path / "cwpro.duckdb"), read_only=True) as connection:
        row = connection.execute("SELECT count(*), count(DISTINCT _id) FROM cwp.workorders")
        assert row.fetchone() == (TOTAL, TOTAL)
    first = stats["GET /workorders"]  # now after the incremental run
    # a full refresh reads the same window: the worker's prefetch is taken, fetched once
    done = subprocess.run(
        _cwpro_load(tmp_path, "workorders", "--full-refresh"),
        env=_env(emu, tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "workorders: taking its prefetched window" in done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["rows"] == {"workorders": TOTAL}
    assert stats["GET /workorders"] == first + once
    # the same window fetched by a thread (a full refresh with pyarrow's form not wanted:
    # --nested-tables) costs the same requests: the worker fetched the window once
    done = subprocess.run(
        _cwpro_load(tmp_path, "workorders", "--full-refresh", "--nested-tables",
                    "--dataset-name", "cwp_nested"),
        env=_env(emu, tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "in worker process" not in done.stderr
    assert stats["GET /workorders"] == first + 2 * once


@pytest.mark.skipif(sys.platform != "linux", reason="the worker is forked on Linux only")
def test_a_worker_whose_loading_process_dies_stops(emu: EmulatorThread, tmp_path: Path) -> None:
    emu.emulator.faults.add("slow_headers", delay=60.0, route="GET /workorders")
    script = textwrap.dedent(
        f"""
        import os, sys
        from cwpro.dlt._fetch import OPEN_HIGH, OPEN_LOW, CursorWindow, parse_instant
        from cwpro.dlt._worker import FetchWorker, fork_is_safe
        import cwpro
        assert fork_is_safe()
        window = CursorWindow("workorders", {{"client_id": {CLIENT_ID!r},
            "client_secret": {CLIENT_SECRET!r}, "base_url": {emu.base_url!r}}},
            OPEN_LOW, OPEN_HIGH, 100, 2)
        worker = FetchWorker({{"workorders": (window, cwpro.WorkOrder)}}, ahead=2)
        print(worker.pid, worker.directory, flush=True)
        os._exit(0)  # no clean-up: as if killed
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    pid, directory = done.stdout.split()
    assert _gone(int(pid))
    assert not os.path.exists(directory)  # the worker removed its folder


def test_fork_is_safe_only_with_one_thread() -> None:
    # this test process runs threads (the emulator's, pytest's plugins'...)
    import threading

    started = threading.Event()
    stop = threading.Event()
    thread = threading.Thread(target=lambda: (started.set(), stop.wait()))
    thread.start()
    try:
        assert started.wait(10)
        assert not fork_is_safe()
    finally:
        stop.set()
        thread.join()
    single = subprocess.run(
        [sys.executable, "-c", "from cwpro.dlt._worker import fork_is_safe; print(fork_is_safe())"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert single.stdout.strip() == str(sys.platform == "linux")


@pytest.mark.skipif(sys.platform != "linux", reason="the worker is forked on Linux only")
def test_the_worker_is_used_only_with_a_second_core() -> None:
    def helps(cores: set[int]) -> str:
        return subprocess.run(
            [sys.executable, "-c", "from cwpro.dlt._worker import worker_helps; print(worker_helps())"],
            capture_output=True, text=True, timeout=60,
            preexec_fn=lambda: os.sched_setaffinity(0, cores),
        ).stdout.strip()  # fmt: skip

    cores = os.sched_getaffinity(0)
    assert helps({min(cores)}) == "False"  # one core: the thread prefetch does better
    assert helps(cores) == str(len(cores) >= 2)


@pytest.mark.skipif(sys.platform != "linux", reason="the worker is forked on Linux only")
@pytest.mark.parametrize(
    "when",
    [
        "in worker process",  # just forked: the loading process is importing dlt
        "taking its prefetched window",  # dlt is extracting: it waits on the worker
    ],
)
def test_ctrl_c_stops_cwpro_load_and_its_worker(
    emu: EmulatorThread, tmp_path: Path, when: str
) -> None:
    emu.emulator.faults.add("slow_headers", delay=60.0, route="GET /workorders")
    load = subprocess.Popen(
        _cwpro_load(tmp_path, "workorders"),
        env=_env(emu, tmp_path),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # Ctrl-C reaches the whole group: both processes
    )
    try:
        assert load.stderr is not None
        worker = None
        for line in load.stderr:
            if "in worker process" in line:
                worker = int(line.split("in worker process ")[1].split()[0])
            if when in line:
                break
        assert worker is not None, "no worker was started"
        os.killpg(load.pid, signal.SIGINT)
        _, err = load.communicate(timeout=120)
    finally:
        if load.poll() is None:
            load.kill()
            load.wait()
    assert load.returncode == 130, err
    assert "interrupted: nothing of this run is reported as loaded" in err
    assert _gone(worker)


@pytest.mark.parametrize(
    ("extra", "read"),
    [
        # a JSON column new in the file: its hints go along with the file (so do those of
        # company_namespace, a field the models do not know, in every run)
        ({"zz_tags": ["a", 1]}, False),
        # a field whose name dlt changes: the file is read into a table, dlt renames it there
        ({"zz_tags": ["a", 1], "zzCamel": "kept"}, True),
    ],
)
def test_a_load_from_the_workers_files_equals_the_load_from_tables(
    emu: EmulatorThread,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    extra: dict[str, Any],
    read: bool,
) -> None:
    """The same rows, columns, types and incremental position either way."""
    import dlt

    from cwpro.dlt._fetch import MAX_PARTITIONS
    from cwpro.dlt._source import DEFAULT_PAGE_SIZE, DEFAULT_PARTITIONS

    from .conftest import query, source_for

    total = TOTAL + 1
    store = emu.emulator.state.workorders
    body = {"name": "extras", "status": "open", **extra}
    extra_id = emu.call(lambda: str(store.create(body, emu.emulator.clock.now())["_id"]))
    assert DEFAULT_PARTITIONS <= MAX_PARTITIONS
    options = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "token": None,
        "api_key": None,
        "base_url": emu.base_url,
        "environment": None,
        "max_retries": 3,
        "retry_backoff_base": 0.01,
        "retry_backoff_max": 0.05,
    }  # fmt: skip  (what source_for gives cwp_source, as cwp_source makes it)
    window = CursorWindow(
        "workorders", options, OPEN_LOW, OPEN_HIGH, DEFAULT_PAGE_SIZE, DEFAULT_PARTITIONS
    )

    def load(name: str, prefetch: Prefetch | None) -> Any:
        pipeline = dlt.pipeline(
            name,
            destination=dlt.destinations.duckdb(str(tmp_path / f"{name}.duckdb")),
            dataset_name="cwp",
            pipelines_dir=str(tmp_path / "pipelines"),
        )
        source = source_for(emu, prefetch=prefetch).with_resources("workorders")
        pipeline.run(source, loader_file_format="parquet")
        return pipeline

    prefetch = Prefetch()
    prefetch.start_worker({"workorders": window}, ahead=4, method="spawn")
    caplog.set_level(logging.DEBUG, logger="cwpro.dlt")
    try:
        files = load("from_files", prefetch)
        assert prefetch.resources() == []  # taken
    finally:
        prefetch.close()
    tables = load("from_tables", None)
    handed = [r.getMessage() for r in caplog.records if r.name == "cwpro.dlt"]
    read_in = sum(": read into a table" in m for m in handed)
    imported = sum(": imported (" in m for m in handed)
    assert (read_in, imported) == ((1, 0) if read else (0, 1))

    def table(pipeline: Any) -> list[tuple[Any, ...]]:
        return sorted(query(pipeline, "SELECT * FROM workorders"), key=lambda row: str(row))

    def cursor(pipeline: Any) -> Any:
        resources = pipeline.state["sources"]["cwpro"]["resources"]
        return resources["workorders"]["incremental"]["created_date"]

    def columns(pipeline: Any) -> dict[str, Any]:
        schema = pipeline.default_schema.get_table_columns("workorders")
        return {name: (c["data_type"], c.get("nullable")) for name, c in schema.items()}

    assert columns(files) == columns(tables)
    assert columns(files)["zz_tags"][0] == "json"
    assert columns(files)["company_namespace"][0] == "json"
    assert table(files) == table(tables) and len(table(files)) == total
    assert cursor(files) == cursor(tables)
    ((tags,),) = query(files, f"SELECT zz_tags FROM workorders WHERE _id = '{extra_id}'")
    assert json.loads(tags) == ["a", 1]
    if read:
        ((camel,),) = query(files, f"SELECT zz_camel FROM workorders WHERE _id = '{extra_id}'")
        assert camel == "kept"
