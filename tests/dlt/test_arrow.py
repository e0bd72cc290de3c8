"""The Arrow form of cwp_source (the default): column types in DuckDB and a real PostgreSQL, JSON
columns equal to what the API served, unknown fields kept, the fallback without pyarrow, and
``on_stats``. The table builder's typing rules are unit-tested at the end."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest

import cwpro
from cwpro.emulator import EmulatorThread

from .conftest import CLIENT_ID, CLIENT_SECRET, RECENT, WORK_ORDERS, as_utc, query, source_for

pa = pytest.importorskip("pyarrow")
dlt = pytest.importorskip("dlt")

from cwpro.dlt import BatchStats, _arrow  # noqa: E402
from cwpro.dlt._arrow import VARIANT_SUFFIX, TableBuilder  # noqa: E402
from cwpro.dlt._batches import BATCH_ROWS  # noqa: E402

Factory = Callable[[], Any]
TEXT = ("varchar", "character varying", "text")
JSON = ("json", "jsonb")
TIMESTAMP = "timestamp with time zone"


@pytest.fixture(params=["duckdb", "postgres"])
def pipeline(request: pytest.FixtureRequest) -> Factory:
    factory: Factory = request.getfixturevalue(f"{request.param}_pipeline")
    return factory


def column_types(pipeline: Any, table: str) -> dict[str, str]:
    rows = query(
        pipeline,
        "SELECT column_name, data_type FROM information_schema.columns "
        f"WHERE table_schema = 'cwp' AND table_name = '{table}'",
    )
    return {name: str(data_type).lower() for name, data_type in rows}


def decoded(value: Any) -> Any:
    """A JSON column's value: DuckDB gives the text, psycopg the decoded jsonb."""
    return json.loads(value) if isinstance(value, str) else value


def served(emu: EmulatorThread, collection: str) -> dict[str, dict[str, Any]]:
    """Every item of ``collection`` as the API serves it (plain dicts), by ``_id``."""

    async def fetch() -> dict[str, dict[str, Any]]:
        async with cwpro.AsyncClient(CLIENT_ID, CLIENT_SECRET, base_url=emu.base_url) as client:
            resource = getattr(client, collection)
            items = (
                resource.list(per_page=100, as_dict=True)
                if collection == "portal_links"
                else resource.list(limit=500, as_dict=True)
            )
            return {item["_id"]: item async for item in items}

    return asyncio.run(fetch())


def test_columns_are_typed_and_json_columns_hold_the_served_values(
    pipeline: Factory, emu: EmulatorThread
) -> None:
    target = pipeline()
    target.run(source_for(emu))

    types = column_types(target, "workorders")
    for name in ("created_date", "updated_date", "scheduled_date"):
        assert types[name] == TIMESTAMP, name
    for name in ("_id", "site_id", "name", "status", "notes", "external_reference"):
        assert types[name] in TEXT, name
    # Modelled lists and fields the models do not know (objects, lists) are JSON columns.
    for name in ("work_type_ids", "address", "contacts", "custom_fields", "company_namespace"):
        assert types[name] in JSON, name
    assert not [name for name in types if "__" in name and not name.startswith("_dlt")]

    expected = served(emu, "workorders")
    assert len(expected) == WORK_ORDERS + RECENT
    picked = sorted(expected)[:: (WORK_ORDERS + RECENT) // 7]
    rows = query(
        target,
        "SELECT _id, work_type_ids, address, contacts, custom_fields, company_namespace, notes, "
        f"created_date FROM workorders WHERE _id IN ({', '.join(repr(i) for i in picked)})",
    )
    assert len(rows) == len(picked)
    for object_id, work_type_ids, address, contacts, custom, namespace, notes, created in rows:
        item = expected[object_id]
        assert decoded(work_type_ids) == item["work_type_ids"]
        assert decoded(address) == item.get("address")
        assert decoded(contacts) == item.get("contacts")
        assert decoded(custom) == item.get("custom_fields")  # numbers, booleans as served
        assert decoded(namespace) == item.get("company_namespace")
        assert notes == item.get("notes")
        assert as_utc(created) == as_utc(item["created_date"])

    links = column_types(target, "portal_links")
    assert links["created_at"] == TIMESTAMP and links["expiry_date"] == TIMESTAMP  # createdAt
    assert links["is_active"] == "boolean"
    assert links["usage_stats"] in JSON and links["permissions"] in JSON
    served_links = served(emu, "portal_links")
    rows = query(target, "SELECT _id, usage_stats, permissions, metadata FROM portal_links")
    assert len(rows) == len(served_links) == 40
    for object_id, usage, permissions, metadata in rows:
        link = served_links[object_id]
        # Nested lists of objects (access_log) and their timestamps: exactly as served.
        assert decoded(usage) == link["usage_stats"]
        assert decoded(permissions) == link["permissions"]
        assert decoded(metadata) == link["metadata"]

    assert column_types(target, "webhooks")["data"] in JSON
    served_hooks = served(emu, "webhooks")
    for object_id, data in query(target, "SELECT _id, data FROM webhooks"):
        assert decoded(data) == served_hooks[object_id]["data"]


def test_unknown_fields_are_kept(duckdb_pipeline: Factory, emu: EmulatorThread) -> None:
    store = emu.emulator.state.workorders

    def create() -> str:
        body = {"name": "with extras", "status": "open", "zz_score": 7, "zz_tags": ["a", 1]}
        return str(store.create(body, emu.emulator.clock.now())["_id"])

    object_id = emu.call(create)
    target = duckdb_pipeline()
    target.run(source_for(emu).with_resources("workorders"))
    types = column_types(target, "workorders")
    assert types["zz_score"] == "bigint" and types["zz_tags"] == "json"
    ((score, tags),) = query(
        target, f"SELECT zz_score, zz_tags FROM workorders WHERE _id = '{object_id}'"
    )
    assert (score, decoded(tags)) == (7, ["a", 1])
    ((nulls,),) = query(target, "SELECT count(*) FROM workorders WHERE zz_score IS NULL")
    assert nulls == WORK_ORDERS + RECENT  # the other rows do not have it


def test_without_pyarrow_rows_go_as_dicts(
    duckdb_pipeline: Factory,
    emu: EmulatorThread,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:

    monkeypatch.setattr(_arrow, "load_pyarrow", lambda: None)
    with caplog.at_level(logging.WARNING, logger="cwpro"):
        source = source_for(emu).with_resources("workorders", "sites")
    assert "pyarrow is not installed" in caplog.text and "cwpro[dlt]" in caplog.text
    target = duckdb_pipeline()
    target.run(source)
    assert query(target, "SELECT count(DISTINCT _id) FROM workorders") == [(WORK_ORDERS + RECENT,)]
    ((children,),) = query(target, "SELECT count(*) FROM workorders__work_type_ids")
    assert children >= WORK_ORDERS  # dlt's child table: the dict form
    assert column_types(target, "sites")["address__city"] in TEXT
    assert column_types(target, "workorders")["created_date"] == TIMESTAMP


def test_on_stats_reports_every_batch(duckdb_pipeline: Factory, emu: EmulatorThread) -> None:
    seen: list[BatchStats] = []
    target = duckdb_pipeline()
    target.run(source_for(emu, on_stats=seen.append).with_resources("workorders", "sites"))
    by_resource: dict[str, list[BatchStats]] = {}
    for stats in seen:
        by_resource.setdefault(stats.resource, []).append(stats)
    assert set(by_resource) == {"workorders", "sites"}
    orders = by_resource["workorders"]
    assert sum(s.rows for s in orders) == orders[-1].total_rows == WORK_ORDERS + RECENT
    assert all(0 < s.rows <= BATCH_ROWS + 500 for s in orders)
    assert [s.total_rows for s in orders] == sorted(s.total_rows for s in orders)
    assert by_resource["sites"][-1].total_rows == 25
    assert all(s.seconds >= 0 for s in seen)
    with pytest.raises(cwpro.InvalidArgumentError, match="on_stats"):
        source_for(emu, on_stats="print")
    with pytest.raises(cwpro.InvalidArgumentError, match="arrow"):
        source_for(emu, arrow="yes")


# -- the table builder, without a network ---------------------------------------------------------
def builder() -> TableBuilder:
    return TableBuilder(pa, cwpro.WorkOrder, "workorders")


def test_builder_types_model_fields_and_infers_unknown_ones() -> None:
    table, new_json = builder().table(
        [
            {"_id": "a", "created_date": "2024-01-02T03:04:05.678Z", "work_type_ids": ["x"]},
            {"_id": "b", "n": 1, "f": 1, "s": "x", "b": True, "o": {"k": [1, None]}, "e": None},
            {"_id": "c", "f": 2.5, "mixed": "x"},
            {"_id": "d", "mixed": 3},
        ]
    )
    schema = table.schema
    assert schema.field("_id").type == pa.string()
    assert schema.field("created_date").type == pa.timestamp("us", tz="UTC")
    assert schema.field("work_type_ids").type == pa.string()  # JSON text
    assert schema.field("n").type == pa.int64() and schema.field("f").type == pa.float64()
    assert schema.field("s").type == pa.string() and schema.field("b").type == pa.bool_()
    assert "e" not in schema.names  # all null: typed once a value comes
    assert set(new_json) == {"o", "mixed"}  # JSON columns dlt is told about
    assert table.column("o").to_pylist()[1] == '{"k":[1,null]}'
    assert table.column("mixed").to_pylist()[2:] == ['"x"', "3"]
    assert table.column("created_date").to_pylist()[0] == dt.datetime(
        2024, 1, 2, 3, 4, 5, 678000, tzinfo=dt.timezone.utc
    )
    assert schema.names[:3] == ["_id", "name", "description"]  # model order first


def test_builder_keeps_columns_across_tables_and_makes_variants() -> None:
    tables = builder()
    first, _ = tables.table([{"_id": "a", "score": 1, "note": "x"}])
    second, new_json = tables.table([{"_id": "b", "score": "high"}, {"_id": "c", "score": 2}])
    assert first.schema.names == second.schema.names[: len(first.schema.names)]
    assert second.column("note").to_pylist() == [None, None]  # present, null
    assert second.column("score").to_pylist() == [None, 2]
    assert second.column("score" + VARIANT_SUFFIX).to_pylist() == ['"high"', None]
    assert new_json == {"score" + VARIANT_SUFFIX: {"data_type": "json", "nullable": True}}
    third, new_json = tables.table([{"_id": "d", "score": 3.5}])  # a float: not an int column
    assert third.schema.names == second.schema.names and new_json == {}
    assert third.column("score" + VARIANT_SUFFIX).to_pylist() == ["3.5"]


def test_builder_parses_other_timestamp_forms_with_the_sdk_parser() -> None:
    table, _ = builder().table(
        [
            {"_id": "a", "created_date": "2024-01-02T03:04:05"},  # no offset: UTC
            {"_id": "b", "created_date": "2024-01-02T05:04:05+02:00"},
            {"_id": "c", "created_date": 1704164645},  # seconds since the epoch
            {"_id": "d", "created_date": None},
        ]
    )
    moment = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    assert table.column("created_date").to_pylist() == [moment, moment, moment, None]


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"_id": "a", "created_date": "soon"}, "created_date"),
        ({"_id": 5}, "_id"),
    ],
)
def test_builder_rejects_values_that_do_not_fit_a_model_field(
    row: dict[str, Any], field: str
) -> None:
    with pytest.raises(cwpro.ModelError, match=f"workorders: field '{field}'"):
        builder().table([{"_id": "ok"}, row])
