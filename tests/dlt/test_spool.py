"""The fetch worker's Parquet files (``cwpro.dlt._spool``): sizes, schema roll-over, the rows
shown to dlt's incremental cursor, the window filter, clean-up."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cwpro.dlt._arrow import ArrowBatch
from cwpro.dlt._fetch import OPEN_HIGH, OPEN_LOW
from cwpro.dlt._spool import ParquetSpool, TableFile

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

BASE = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
STAMP = pa.timestamp("us", tz="UTC")


def _batch(minutes: list[int | None], first_id: int = 0, **extra: list[Any]) -> ArrowBatch:
    dates = [None if m is None else BASE + dt.timedelta(minutes=m) for m in minutes]
    columns = {
        "_id": pa.array([f"id{first_id + i}" for i in range(len(minutes))]),
        "created_date": pa.array(dates, STAMP),
        **{name: pa.array(values) for name, values in extra.items()},
    }
    return ArrowBatch(pa.table(columns), {}, len(minutes))


def _spool(tmp_path: Path, file_rows: int = 4, window: Any = (OPEN_LOW, OPEN_HIGH)) -> ParquetSpool:
    return ParquetSpool(
        pa, str(tmp_path), "workorders", "created_date", window, file_rows=file_rows
    )


def _all(spool: ParquetSpool, batches: list[ArrowBatch]) -> list[TableFile]:
    files = [f for batch in batches for f in spool.add(batch)]
    return files + spool.finish()


def test_files_end_at_the_first_table_reaching_their_size(tmp_path: Path) -> None:
    spool = _spool(tmp_path, file_rows=4)
    files = _all(spool, [_batch([1, 2, 3]), _batch([4, 5], 3), _batch([6], 5)])
    assert [f.rows for f in files] == [5, 1]
    assert [pq.read_table(f.path).num_rows for f in files] == [5, 1]
    assert [os.path.basename(f.path) for f in files] == ["workorders.0.parquet",
                                                         "workorders.1.parquet"]  # fmt: skip
    assert files[0].read(pq).table.column("_id").to_pylist() == [f"id{i}" for i in range(5)]


def test_new_columns_start_a_new_file_with_their_hints(tmp_path: Path) -> None:
    spool = _spool(tmp_path, file_rows=100)
    wider = _batch([3], 2, zz=["x"])
    wider = ArrowBatch(wider.table, {"zz": {"data_type": "json"}}, 1)
    files = _all(spool, [_batch([1, 2]), wider, _batch([4], 3, zz=["y"])])
    assert [f.rows for f in files] == [2, 2]
    assert [f.new_json for f in files] == [{}, {"zz": {"data_type": "json"}}]
    assert pq.read_table(files[1].path).column("zz").to_pylist() == ["x", "y"]


def test_cursor_rows_are_the_newest_and_those_without_a_date(tmp_path: Path) -> None:
    spool = _spool(tmp_path, file_rows=100)
    (file,) = _all(spool, [_batch([5, None, 9]), _batch([9, 2], 3), _batch([7], 5)])
    shown = file.cursor_rows.to_pydict()
    assert shown["_id"] == ["id2", "id3", "id1"]
    assert file.cursor_rows.schema == pq.read_schema(file.path).remove_metadata()


def test_rows_outside_the_window_are_not_written(tmp_path: Path) -> None:
    window = (BASE + dt.timedelta(minutes=2), BASE + dt.timedelta(minutes=4))
    spool = _spool(tmp_path, file_rows=100, window=window)
    (file,) = _all(spool, [_batch([1, 2, 3, 4, 5, None])])
    assert pq.read_table(file.path).column("_id").to_pylist() == ["id1", "id2", "id3", "id5"]
    assert file.rows == 4
    # a file all of whose rows are outside is not made
    spool = _spool(tmp_path / "none", file_rows=100, window=window)
    (tmp_path / "none").mkdir()
    assert _all(spool, [_batch([7, 8])]) == []
    assert os.listdir(tmp_path / "none") == []


def test_discard_removes_the_file_being_written(tmp_path: Path) -> None:
    spool = _spool(tmp_path, file_rows=100)
    assert spool.add(_batch([1, 2])) == []
    assert len(os.listdir(tmp_path)) == 1
    spool.discard()
    assert os.listdir(tmp_path) == []
    assert spool.finish() == []


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.one_of(st.none(), st.integers(0, 20)), min_size=1, max_size=8),
        min_size=1,
        max_size=8,
    ),
    st.integers(1, 12),
)
def test_what_the_cursor_is_shown_gives_the_whole_files_newest_rows(
    tmp_path_factory: pytest.TempPathFactory, pages: list[list[int | None]], file_rows: int
) -> None:
    folder = tmp_path_factory.mktemp("spool")
    spool = _spool(folder, file_rows=file_rows)
    offsets = [sum(len(p) for p in pages[:i]) for i in range(len(pages))]
    files = _all(spool, [_batch(page, first) for page, first in zip(pages, offsets, strict=True)])
    assert sum(f.rows for f in files) == sum(len(p) for p in pages)
    for file in files:
        whole = pq.read_table(file.path).to_pydict()
        rows = list(zip(whole["_id"], whole["created_date"], strict=True))
        dated = [d for _, d in rows if d is not None]
        expected = {i for i, d in rows if d is None or (dated and d == max(dated))}
        shown = file.cursor_rows.to_pydict()
        assert set(shown["_id"]) == expected and len(shown["_id"]) == len(expected)
