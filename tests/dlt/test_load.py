"""cwp_source into DuckDB and a real PostgreSQL: first load, incremental merge, full refresh,
interrupted loads. Requests are counted at the emulator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cwpro.emulator import EmulatorThread

from .conftest import (
    RECENT,
    WORK_ORDERS,
    as_utc,
    create_workorders,
    list_requests,
    query,
    source_for,
    update_workorders,
)

dlt = pytest.importorskip("dlt")
from dlt.pipeline.exceptions import PipelineStepFailed  # noqa: E402

Factory = Callable[[], Any]


@pytest.fixture(params=["duckdb", "postgres"])
def pipeline(request: pytest.FixtureRequest) -> Factory:
    """The same tests on DuckDB and on PostgreSQL."""
    factory: Factory = request.getfixturevalue(f"{request.param}_pipeline")
    return factory


def emulator_ids(emu: EmulatorThread) -> set[str]:
    store = emu.emulator.state.workorders
    return set(emu.call(lambda: list(store.ids())))


def table_ids(pipeline: Any, table: str = "workorders") -> list[str]:
    return [row[0] for row in query(pipeline, f"SELECT _id FROM {table}")]


def assert_complete(pipeline: Any, emu: EmulatorThread, expected: int) -> None:
    ids = table_ids(pipeline)
    assert len(ids) == expected, "row count"
    assert len(set(ids)) == expected, "duplicate _id"
    assert set(ids) == emulator_ids(emu)


def test_first_load_is_the_emulators_data(pipeline: Factory, emu: EmulatorThread) -> None:
    target = pipeline()
    target.run(source_for(emu))
    assert_complete(target, emu, WORK_ORDERS + RECENT)
    state = emu.emulator.state
    for object_id in (state.workorders.id_at(0), state.workorders.id_at(WORK_ORDERS + 3)):
        expected = state.workorder(object_id)
        assert expected is not None
        ((name, status, created),) = query(
            target, f"SELECT name, status, created_date FROM workorders WHERE _id = '{object_id}'"
        )
        assert (name, status) == (expected["name"], expected["status"])
        assert (
            as_utc(created).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            == (expected["created_date"])
        )
    for table, count in (("sites", 25), ("work_types", 8), ("portal_links", 40)):
        rows = query(target, f"SELECT count(*), count(DISTINCT _id) FROM {table}")
        assert rows == [(count, count)], table
    ((webhooks,),) = query(target, "SELECT count(*) FROM webhooks")
    assert webhooks > 0
    types = dict(
        query(
            target,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'cwp' AND table_name = 'workorders'",
        )
    )
    assert types["created_date"].lower() == "timestamp with time zone"
    assert types["_id"].lower() in ("varchar", "character varying", "text")
    assert types["work_type_ids"].lower() in ("json", "jsonb")  # Arrow form: lists are JSON
    assert not [t for t in tables(target) if t.startswith("workorders__")]


def tables(pipeline: Any) -> list[str]:
    return [
        row[0]
        for row in query(
            pipeline,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'cwp'",
        )
    ]


def test_nested_tables_form(pipeline: Factory, emu: EmulatorThread) -> None:
    """arrow=False: dicts through dlt's normalizer, lists as child tables, objects flattened."""
    target = pipeline()
    target.run(source_for(emu, arrow=False))
    assert_complete(target, emu, WORK_ORDERS + RECENT)
    ((work_type_ids,),) = query(target, "SELECT count(*) FROM workorders__work_type_ids")
    assert work_type_ids >= WORK_ORDERS  # the list became dlt's child table
    site = emu.emulator.state.sites.item_at(0)
    assert query(target, f"SELECT address__city FROM sites WHERE _id = '{site['_id']}'") == [
        (site["address"]["city"],)
    ]
    ((created,),) = query(target, "SELECT max(created_date) FROM workorders")
    assert as_utc(created).year >= 2024
    create_workorders(emu, 20, "nested later")
    emu.emulator.stats.reset()
    pipeline().run(source_for(emu, arrow=False))  # incremental in this form too
    assert list_requests(emu) <= 2
    assert_complete(target, emu, WORK_ORDERS + RECENT + 20)


def test_incremental_run_merges_new_and_changed_rows_with_few_requests(
    pipeline: Factory, emu: EmulatorThread
) -> None:
    target = pipeline()
    target.run(source_for(emu))
    first_run_requests = list_requests(emu)
    recent = sorted(table_ids(target))[-RECENT:]  # created just before the first load
    changed = recent[:10]
    update_workorders(emu, changed, name="changed in the lag window", status="completed")
    created = create_workorders(emu, 100, "new")
    emu.emulator.stats.reset()

    pipeline().run(source_for(emu))

    assert_complete(target, emu, WORK_ORDERS + RECENT + 100)
    rows = query(
        target,
        "SELECT _id, name, status FROM workorders WHERE name = 'changed in the lag window'",
    )
    assert sorted(row[0] for row in rows) == sorted(changed)
    assert {row[2] for row in rows} == {"completed"}
    ((new_rows,),) = query(target, "SELECT count(*) FROM workorders WHERE name LIKE 'new %'")
    assert new_rows == len(created)
    # The 140 items of the window fit in one page: one request instead of the first run's many.
    assert list_requests(emu) <= 2 < first_run_requests
    for route in ("GET /sites", "GET /worktypes", "GET /webhooks"):
        assert list_requests(emu, route) == 1, route


def test_full_refresh_bypasses_the_incremental_filter(
    pipeline: Factory, emu: EmulatorThread
) -> None:
    target = pipeline()
    target.run(source_for(emu))
    old = emu.emulator.state.workorders.id_at(5)  # created long before the lag window
    update_workorders(emu, [old], name="changed long after creation")
    pipeline().run(source_for(emu))
    assert query(target, f"SELECT name FROM workorders WHERE _id = '{old}'") != [
        ("changed long after creation",)
    ]  # outside the lag window: an incremental run does not see it

    pipeline().run(source_for(emu, full_refresh=True))

    assert query(target, f"SELECT name FROM workorders WHERE _id = '{old}'") == [
        ("changed long after creation",)
    ]
    assert_complete(target, emu, WORK_ORDERS + RECENT)
    emu.emulator.stats.reset()
    pipeline().run(source_for(emu))  # the incremental position survived the full refresh
    assert list_requests(emu) <= 2
    assert_complete(target, emu, WORK_ORDERS + RECENT)


def _fail_after(rows: int) -> Callable[[Any], Any]:
    """A map that raises once more than ``rows`` rows passed (an Arrow table counts its rows)."""
    seen = 0

    def count(item: Any) -> Any:
        nonlocal seen
        seen += getattr(item, "num_rows", 1)
        if seen > rows:
            raise RuntimeError("the load was interrupted here")
        return item

    return count


@pytest.mark.parametrize("arrow", [True, False], ids=["arrow", "nested"])
def test_an_exception_mid_run_loses_nothing(
    pipeline: Factory, emu: EmulatorThread, arrow: bool
) -> None:
    target = pipeline()
    target.run(source_for(emu, arrow=arrow).with_resources("sites"))  # an earlier, complete load
    broken = source_for(emu, arrow=arrow)
    broken.resources["workorders"].add_map(_fail_after(700))
    with pytest.raises(PipelineStepFailed, match="interrupted"):
        target.run(broken)
    create_workorders(emu, 25, "meanwhile")

    pipeline().run(source_for(emu, arrow=arrow))

    assert_complete(target, emu, WORK_ORDERS + RECENT + 25)


def test_an_api_failure_mid_run_loses_nothing(pipeline: Factory, emu: EmulatorThread) -> None:
    target = pipeline()
    emu.emulator.faults.add("status", status=403, route="GET /workorders", probability=0.3)
    with pytest.raises(PipelineStepFailed):
        target.run(source_for(emu, page_size=100))
    assert emu.emulator.faults.injected["status"] >= 1
    emu.emulator.faults.clear()

    pipeline().run(source_for(emu, page_size=100))

    assert_complete(target, emu, WORK_ORDERS + RECENT)


def test_credentials_from_dlt_secrets_and_config(
    duckdb_pipeline: Factory, emu: EmulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cwpro.dlt import cwp_source

    for name in ("CWPRO_CLIENT_ID", "CWPRO_CLIENT_SECRET", "CWPRO_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SOURCES__CWPRO__CLIENT_ID", emu.client_id)
    monkeypatch.setenv("SOURCES__CWPRO__CLIENT_SECRET", emu.client_secret)
    monkeypatch.setenv("SOURCES__CWPRO__BASE_URL", emu.base_url)
    target = duckdb_pipeline()
    target.run(cwp_source().with_resources("sites", "work_types"))
    assert query(target, "SELECT count(*) FROM sites") == [(25,)]
    assert query(target, "SELECT count(*) FROM work_types") == [(8,)]


@pytest.mark.parametrize(
    ("option", "value"), [("page_size", 0), ("partitions", 0), ("lag", -1), ("since", "soon")]
)
def test_bad_options_fail_before_any_request(emu: EmulatorThread, option: str, value: Any) -> None:
    import cwpro

    with pytest.raises(Exception) as caught:
        source_for(emu, **{option: value})
    error: BaseException | None = caught.value
    while error is not None and not isinstance(error, cwpro.InvalidArgumentError):
        error = error.__cause__ or error.__context__
    assert error is not None, caught.value
    assert emu.emulator.stats.total == 0
