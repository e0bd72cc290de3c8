"""What a resource hands dlt, and the report after each batch (``on_stats``).

With pyarrow (``arrow=True``), the pages are regrouped into Arrow tables of about
:data:`~cwpro.dlt._arrow.BATCH_ROWS` rows (``_arrow``): few, large items keep dlt's per-item
work small. Or they come as Parquet files already (written by the fetch worker, ``_spool``):
each is handed to dlt to import as it is, with the rows its incremental cursor needs (a file
dlt could not take unread -- columns its naming would rename, JSON columns new in it -- is read
into a table and goes the table's way; either way it is deleted once dlt has it). Without
it, each page goes as its list of dicts, its ``created_date`` parsed to a datetime: the
incremental cursor holds datetimes in both forms. The two forms make different tables (JSON
columns vs child tables; dlt's ``_dlt_load_id`` is a column of the dict form only): a dataset
keeps the form it was first loaded with.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import attrs
import dlt
from dlt.extract.hints import HintsMeta

import cwpro
from cwpro._serde import parse_datetime

from ._arrow import BATCH_ROWS, ArrowBatch, Regroup, TableBuilder, quiet_hint_overrides
from ._spool import TableFile
from ._worker import TableStream

__all__ = ["BATCH_ROWS", "BatchStats", "OnStats", "batches", "regroup"]

logger = logging.getLogger("cwpro.dlt")


@attrs.frozen
class BatchStats:
    """One resource's progress in a run, reported once dlt has taken each batch."""

    #: The resource (``workorders``...).
    resource: str
    #: Rows in this batch.
    rows: int
    #: Rows of this resource handed to dlt so far in this run.
    total_rows: int
    #: Seconds since the resource started in this run.
    seconds: float


#: The ``on_stats`` callback of :func:`cwpro.dlt.cwp_source` (called in dlt's extract thread).
OnStats = Callable[[BatchStats], None]


def regroup(pages: Iterable[list[dict[str, Any]]], size: int) -> Iterator[list[dict[str, Any]]]:
    """The rows of ``pages`` in lists of at least ``size`` (the last one may be shorter)."""
    groups = Regroup(size)
    for page in pages:
        full = groups.add(page)
        if full is not None:
            yield full
    rest = groups.rest()
    if rest is not None:
        yield rest


def _with_datetimes(page: list[dict[str, Any]], field: str) -> list[dict[str, Any]]:
    for row in page:
        value = row.get(field)
        if value is not None:
            try:
                row[field] = parse_datetime(value)
            except ValueError:
                raise cwpro.ModelError(f"{field} is not a date-time: {value!r}") from None
    return page


def batches(
    pages: Iterable[list[dict[str, Any]]] | TableStream,
    *,
    resource: str,
    model: type[cwpro.Model],
    pyarrow: Any,
    date_field: str | None,
    on_stats: OnStats | None,
) -> Iterator[Any]:
    """The items for dlt made from ``pages``: Arrow tables when ``pyarrow`` is a module (or
    ``pages`` is a :class:`TableStream` of Parquet files), else the pages of dicts;
    ``on_stats`` after each one dlt has taken."""
    started = time.monotonic()
    total = 0
    items: Iterator[tuple[int, Any]]
    if isinstance(pages, TableStream):
        quiet_hint_overrides(resource)
        items = _imported(pages)
    elif pyarrow is None:
        items = (
            (len(page), page if date_field is None else _with_datetimes(page, date_field))
            for page in pages
        )
    else:
        quiet_hint_overrides(resource)
        builder = TableBuilder(pyarrow, model, resource)
        items = _hinted(builder.batch(rows) for rows in regroup(pages, BATCH_ROWS))
    for rows, item in items:
        yield item
        total += rows
        if on_stats is not None:
            on_stats(BatchStats(resource, rows, total, time.monotonic() - started))


def _hinted(tables: Iterable[ArrowBatch]) -> Iterator[tuple[int, Any]]:
    for batch in tables:
        if batch.new_json:  # JSON columns of fields the models do not know: dlt is told once
            hints = dlt.mark.make_hints(columns=batch.new_json)
            yield batch.rows, dlt.mark.with_hints(batch.table, hints)
        else:
            yield batch.rows, batch.table


def _imported(files: Iterable[TableFile]) -> Iterator[tuple[int, Any]]:
    """Each file for dlt to import, or read as a table where it cannot be imported as it is;
    deleted once dlt has it (it resumes this generator only after it imported the file)."""
    pq = importlib.import_module("pyarrow.parquet")  # typed Any: pyarrow has no stubs
    naming = dlt.current.source_schema().naming
    for file in files:
        try:
            item = dlt.mark.with_file_import(
                file.path, "parquet", items_count=file.rows, hints=file.cursor_rows
            )
            hinted = isinstance(getattr(item, "meta", None), HintsMeta)
            names = file.cursor_rows.column_names
            if any(naming.normalize_identifier(n) != n for n in names) or (
                file.new_json and not hinted
            ):
                logger.debug("%s: read into a table (dlt would change it)", file.path)
                yield from _hinted([file.read(pq)])
                continue
            logger.debug("%s: imported (%d rows)", file.path, file.rows)
            if file.new_json:  # dlt takes hints or a table to take the schema from: both here
                item.meta.hints = dlt.mark.make_hints(columns=file.new_json)
            yield file.rows, item
        finally:
            with contextlib.suppress(OSError):
                os.unlink(file.path)
