"""``cwpro load`` in-process: zero configuration into DuckDB, PostgreSQL, bad input, exit codes."""

from __future__ import annotations

import gc
import json
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from cwpro.cli import main
from cwpro.emulator import EmulatorThread
from tests.postgres import PostgresServer

from .conftest import RECENT, WORK_ORDERS, create_workorders

duckdb = pytest.importorskip("duckdb")


def _load(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["load", "--no-progress", "--pipelines-dir", "pipelines", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _summary(stdout: str) -> dict[str, Any]:
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, stdout
    summary: dict[str, Any] = json.loads(lines[-1])
    return summary


def _duckdb_count(path: Path, table: str) -> tuple[int, int]:
    with duckdb.connect(str(path), read_only=True) as connection:
        row = connection.execute(
            f"SELECT count(*), count(DISTINCT _id) FROM cwp.{table}"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_zero_configuration_duckdb_load_then_incremental(
    cwpro_env: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, stdout, stderr = _load(capsys, "--destination", "duckdb")
    assert status == 0, stderr
    summary = _summary(stdout)
    assert summary["event"] == "load.done" and summary["dataset"] == "cwp"
    assert summary["rows"]["workorders"] == WORK_ORDERS + RECENT
    assert summary["rows"]["sites"] == 25 and summary["rows"]["portal_links"] == 40
    assert f"loaded {WORK_ORDERS + RECENT:,} workorders" in stderr
    database = tmp_path / "cwpro.duckdb"  # in the working directory, named after the pipeline
    assert _duckdb_count(database, "workorders") == (WORK_ORDERS + RECENT,) * 2

    create_workorders(cwpro_env, 30, "later")
    status, stdout, stderr = _load(capsys)
    assert status == 0, stderr
    assert _summary(stdout)["rows"]["workorders"] == RECENT + 30  # the lag window and the new
    assert _duckdb_count(database, "workorders") == (WORK_ORDERS + RECENT + 30,) * 2


@pytest.mark.parametrize("keep", [None, "false"])
def test_the_staging_dataset_is_emptied_after_a_load_unless_dlt_is_told_otherwise(
    cwpro_env: EmulatorThread,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    keep: str | None,
) -> None:
    if keep is not None:
        monkeypatch.setenv("LOAD__TRUNCATE_STAGING_DATASET", keep)
    status, _, stderr = _load(capsys, "workorders", "--destination", "duckdb")
    assert status == 0, stderr
    with duckdb.connect(str(tmp_path / "cwpro.duckdb"), read_only=True) as connection:
        row = connection.execute("SELECT count(*) FROM cwp_staging.workorders").fetchone()
    assert row == ((0,) if keep is None else (WORK_ORDERS + RECENT,))
    assert _duckdb_count(tmp_path / "cwpro.duckdb", "workorders") == (WORK_ORDERS + RECENT,) * 2


def test_nested_tables_option(
    cwpro_env: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, stdout, stderr = _load(capsys, "workorders", "--nested-tables")
    assert status == 0, stderr
    summary = _summary(stdout)
    assert summary["nested_tables"] is True
    assert summary["rows"] == {"workorders": WORK_ORDERS + RECENT}
    with duckdb.connect(str(tmp_path / "cwpro.duckdb"), read_only=True) as connection:
        row = connection.execute("SELECT count(*) FROM cwp.workorders__work_type_ids").fetchone()
        types = dict(
            connection.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'cwp' AND table_name = 'workorders'"
            ).fetchall()
        )
    assert row is not None and row[0] >= WORK_ORDERS  # lists as child tables
    assert types["address__city"] == "VARCHAR" and "work_type_ids" not in types


def test_default_form_has_json_columns(
    cwpro_env: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, stdout, stderr = _load(capsys, "workorders")
    assert status == 0, stderr
    assert _summary(stdout)["nested_tables"] is False
    with duckdb.connect(str(tmp_path / "cwpro.duckdb"), read_only=True) as connection:
        types = dict(
            connection.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'cwp' AND table_name = 'workorders'"
            ).fetchall()
        )
    assert types["work_type_ids"] == "JSON" and types["created_date"] == "TIMESTAMP WITH TIME ZONE"
    # dlt's notice about JSON hints over Arrow string columns is intended, so it is not shown
    assert "when merging arrow schema" not in stderr


def test_selected_resources_only(
    cwpro_env: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, stdout, stderr = _load(capsys, "sites", "work-types", "--dataset-name", "picked")
    assert status == 0, stderr
    assert _summary(stdout)["rows"] == {"sites": 25, "work_types": 8}
    assert cwpro_env.emulator.stats["GET /workorders"] == 0


def test_the_collector_is_left_as_it_was(
    cwpro_env: EmulatorThread, capsys: pytest.CaptureFixture[str]
) -> None:
    # the command tunes and freezes the collector for its run; a process that calls it goes on
    # with its own settings, after a failed run too
    before = gc.get_threshold(), gc.get_freeze_count()
    status, _, stderr = _load(capsys, "sites")
    assert status == 0, stderr
    assert (gc.get_threshold(), gc.get_freeze_count()) == before
    cwpro_env.emulator.faults.add("status", status=403, route="GET /sites")
    assert _load(capsys, "sites")[0] == 1
    assert (gc.get_threshold(), gc.get_freeze_count()) == before


def test_postgres_destination(
    cwpro_env: EmulatorThread,
    postgres_server: PostgresServer,
    postgres_database: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", postgres_database)
    status, stdout, stderr = _load(capsys, "--destination", "postgres")
    assert status == 0, stderr
    assert "postgres" in stderr and "cwpro-test-password" not in stderr + stdout
    database = postgres_database.rsplit("/", 1)[1]
    count = postgres_server.psql("SELECT count(DISTINCT _id) FROM cwp.workorders", database)
    assert int(count) == WORK_ORDERS + RECENT


def test_unknown_resource_is_a_usage_error(
    cwpro_env: EmulatorThread, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, stderr = _load(capsys, "invoices")
    assert status == 2
    assert "unknown resource 'invoices'" in stderr and "workorders" in stderr


def test_destination_not_installed_names_the_install(
    cwpro_env: EmulatorThread, capsys: pytest.CaptureFixture[str]
) -> None:
    status, stdout, stderr = _load(capsys, "--destination", "mssql")
    assert status == 2
    assert "not installed" in stderr and "pip install" in stderr and stdout == ""
    assert cwpro_env.emulator.stats.total == 0  # checked before anything was fetched


def test_unknown_and_unconfigured_destinations(
    cwpro_env: EmulatorThread, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, stderr = _load(capsys, "--destination", "no_such_destination")
    assert status == 2 and "unknown destination" in stderr
    monkeypatch.delenv("DESTINATION__POSTGRES__CREDENTIALS", raising=False)
    status, _, stderr = _load(capsys, "--destination", "postgres")
    assert status == 2 and "DESTINATION__POSTGRES__CREDENTIALS" in stderr


def test_unreachable_database(
    cwpro_env: EmulatorThread, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there once closed
    monkeypatch.setenv(
        "DESTINATION__POSTGRES__CREDENTIALS", f"postgresql://u:secret-pw@127.0.0.1:{port}/db"
    )
    status, stdout, stderr = _load(capsys, "--destination", "postgres")
    assert status == 1
    assert "cannot connect" in stderr and "secret-pw" not in stderr and stdout == ""
    assert cwpro_env.emulator.stats.total == 0


def test_api_failure_reports_nothing_as_loaded_and_the_rerun_completes(
    cwpro_env: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cwpro_env.emulator.faults.add("status", status=403, route="GET /workorders")
    status, stdout, stderr = _load(capsys)
    assert status == 1
    assert "PermissionDeniedError" in stderr and "nothing of this run" in stderr
    assert "loaded " not in stderr.replace("nothing of this run was loaded", "") and stdout == ""
    cwpro_env.emulator.faults.clear()
    status, stdout, stderr = _load(capsys)
    assert status == 0, stderr
    assert _duckdb_count(tmp_path / "cwpro.duckdb", "workorders") == (WORK_ORDERS + RECENT,) * 2


def test_missing_credentials_are_a_usage_error(
    emu: EmulatorThread, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("CWPRO_CLIENT_ID", "CWPRO_CLIENT_SECRET", "CWPRO_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    status, _, stderr = _load(capsys, "--base-url", emu.base_url)
    assert status == 2 and "cwpro: error:" in stderr


def test_core_and_cli_do_not_import_dlt() -> None:
    code = (
        "import sys, cwpro, cwpro.cli; cwpro.cli.build_parser(); "
        "assert 'dlt' not in sys.modules, 'dlt imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_without_pyarrow_the_load_files_are_for_dicts(monkeypatch: pytest.MonkeyPatch) -> None:
    from cwpro.cli import load
    from cwpro.dlt import _arrow

    assert load._file_format("duckdb", nested_tables=False) == "parquet"
    assert load._file_format("duckdb", nested_tables=True) == "jsonl"
    assert load._file_format("postgres", nested_tables=False) is None
    monkeypatch.setattr(_arrow, "load_pyarrow", lambda: None)  # rows fall back to dicts
    assert load._file_format("duckdb", nested_tables=False) == "jsonl"


def test_first_run_prefetch_is_used_and_a_wrong_guess_is_dropped(
    cwpro_env: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a first run fetches its window before dlt is set up: the same requests as a full refresh
    # of the same window, never two fetches of it
    stats = cwpro_env.emulator.stats
    status, stdout, stderr = _load(capsys, "workorders")
    assert status == 0, stderr
    first = stats["GET /workorders"]
    status, stdout, stderr = _load(capsys, "workorders", "--full-refresh")
    assert status == 0, stderr
    assert stats["GET /workorders"] - first == first
    assert _summary(stdout)["rows"]["workorders"] == WORK_ORDERS + RECENT
    # without its local state the run looks like a first one, but dlt restores the state from
    # the database: its window (the lag hour) is not the guessed one, so the prefetch is
    # dropped and only the window's rows are read and merged
    import shutil

    shutil.rmtree(tmp_path / "pipelines")
    create_workorders(cwpro_env, 5, "after")
    status, stdout, stderr = _load(capsys, "workorders")
    assert status == 0, stderr
    assert _summary(stdout)["rows"]["workorders"] == RECENT + 5
    assert _duckdb_count(tmp_path / "cwpro.duckdb", "workorders") == (WORK_ORDERS + RECENT + 5,) * 2
    assert [t for t in threading.enumerate() if t.name.startswith("cwpro-dlt-")] == []


def test_a_prefetch_is_taken_only_for_its_own_window() -> None:
    import datetime as dt

    from cwpro.dlt._fetch import CursorWindow
    from cwpro.dlt._prefetch import Prefetch

    started = threading.Event()

    class Window(CursorWindow):
        async def pages(self) -> Any:
            started.set()
            for n in range(5):
                yield [{"n": n}]

    low = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    window = Window("workorders", {"token": "t"}, low, low, 500, 8)
    prefetch = Prefetch()
    prefetch.start("workorders", window, ahead=2)
    assert started.wait(10)
    later = Window("workorders", {"token": "t"}, low + dt.timedelta(hours=1), low, 500, 8)
    assert prefetch.take("workorders", later, tables=True) is None  # another window: cancelled
    assert prefetch.take("workorders", window, tables=True) is None  # and gone
    prefetch.start("workorders", window, ahead=2)
    pages = prefetch.take("workorders", window, tables=True)  # dicts fit both
    assert pages is not None and [page[0]["n"] for page in pages] == list(range(5))
    prefetch.start("sites", window, ahead=2)
    prefetch.close()
    assert prefetch.resources() == []
    assert [t for t in threading.enumerate() if t.name.startswith("cwpro-dlt-")] == []


def test_the_command_names_the_sources_resources() -> None:
    from cwpro.cli import load
    from cwpro.dlt import RESOURCES

    assert load.RESOURCES == RESOURCES
