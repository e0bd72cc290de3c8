"""Fixtures of the dlt tests: an emulator thread, dlt kept in a temporary folder, pipelines."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

dlt = pytest.importorskip("dlt", reason="cwpro[dlt] is not installed")

from cwpro.emulator import EmulatorThread  # noqa: E402
from tests.postgres import postgres_database, postgres_server  # noqa: E402, F401

CLIENT_ID = "dlt-tests"
CLIENT_SECRET = "dlt-tests-secret"
WORK_ORDERS = 1500
RECENT = 40  # work orders created just before the first load: inside its lag window


@pytest.fixture(autouse=True)
def _dlt_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """dlt keeps its state under tmp_path (as root it would use /var/dlt whatever HOME says)."""
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt-data"))
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "WARNING")
    monkeypatch.chdir(tmp_path)
    for name in ("CWPRO_TOKEN", "CWPRO_API_KEY", "CWPRO_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def emu() -> Iterator[EmulatorThread]:
    """An emulator whose newest work orders were created a moment ago (in the lag window)."""
    with EmulatorThread(
        seed=5,
        workorders=WORK_ORDERS,
        sites=25,
        work_types=8,
        portal_links=40,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
    ) as emulator:
        create_workorders(emulator, RECENT, "recent")
        yield emulator


@pytest.fixture
def cwpro_env(emu: EmulatorThread, monkeypatch: pytest.MonkeyPatch) -> EmulatorThread:
    """``CWPRO_*`` variables pointing at ``emu`` (for the CLI)."""
    monkeypatch.setenv("CWPRO_BASE_URL", emu.base_url)
    monkeypatch.setenv("CWPRO_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("CWPRO_CLIENT_SECRET", CLIENT_SECRET)
    return emu


def create_workorders(emu: EmulatorThread, count: int, tag: str) -> list[str]:
    """Create ``count`` work orders (created now, by the emulator's clock); their ids."""
    store = emu.emulator.state.workorders

    def create() -> list[str]:
        now = emu.emulator.clock.now()
        return [
            str(store.create({"name": f"{tag} {i}", "status": "open"}, now)["_id"])
            for i in range(count)
        ]

    return emu.call(create)


def update_workorders(emu: EmulatorThread, ids: list[str], **fields: Any) -> None:
    """Change ``fields`` of the work orders ``ids`` (their updated_date moves to now)."""
    store = emu.emulator.state.workorders

    def update() -> None:
        now = emu.emulator.clock.now()
        for object_id in ids:
            assert store.update(object_id, dict(fields), now) is not None

    emu.call(update)


def list_requests(emu: EmulatorThread, route: str = "GET /workorders") -> int:
    """How many list requests ``route`` has received so far."""
    return int(emu.emulator.stats[route])


def source_for(emu: EmulatorThread, **options: Any) -> Any:
    """``cwp_source`` pointed at ``emu``."""
    from cwpro.dlt import cwp_source

    return cwp_source(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        base_url=emu.base_url,
        client_options={"retry_backoff_base": 0.01, "retry_backoff_max": 0.05},
        **options,
    )


@pytest.fixture
def duckdb_pipeline(tmp_path: Path) -> Callable[[], Any]:
    """A factory of the (same) DuckDB pipeline, its state under tmp_path."""

    def make() -> Any:
        return dlt.pipeline(
            "cwpro_test",
            destination=dlt.destinations.duckdb(str(tmp_path / "load.duckdb")),
            dataset_name="cwp",
            pipelines_dir=str(tmp_path / "pipelines"),
        )

    return make


@pytest.fixture
def postgres_pipeline(tmp_path: Path, postgres_database: str) -> Callable[[], Any]:  # noqa: F811
    """A factory of the (same) PostgreSQL pipeline on a fresh database of the test server."""

    def make() -> Any:
        return dlt.pipeline(
            "cwpro_test_pg",
            destination=dlt.destinations.postgres(postgres_database),
            dataset_name="cwp",
            pipelines_dir=str(tmp_path / "pipelines"),
        )

    return make


def query(pipeline: Any, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` run in the pipeline's dataset."""
    with pipeline.sql_client() as client:
        return [tuple(row) for row in client.execute_sql(sql)]


def as_utc(value: Any) -> dt.datetime:
    """A timestamp read back from a destination, as an aware UTC datetime."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert isinstance(value, dt.datetime)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)
