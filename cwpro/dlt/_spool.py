"""The fetch worker's tables as Parquet files that dlt imports as they are.

The fetch worker (``_worker``) writes the Arrow tables it builds into Parquet files of about
:data:`FILE_ROWS` rows (:class:`ParquetSpool`), in a folder of its own, and sends each
finished file's :class:`TableFile`. The loading process hands the file to dlt unread
(``dlt.mark.with_file_import``: linked into the load package), so it neither unpickles the
tables nor has dlt write them out again: that was most of its extract step.

dlt's incremental cursor still sees what it needs of each file: :attr:`TableFile.cursor_rows`,
the file's rows at its newest cursor value and those without one. From them it takes the same
last value (and boundary rows) as from the whole file, and it raises on a missing cursor value
as it would for the whole file. Rows outside the window the worker asked for are not written
(a server bug: dlt's own filter would drop them too); so ``cursor_rows`` are inside it, and
dlt's filter never drops a file.

A file's columns are those of its first table: a table with new columns (fields the models do
not know) starts a new file. Files are written uncompressed, as ``cwpro load`` has dlt write
its own. This module imports no dlt.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import itertools
import os
from typing import Any, Final

import attrs

from ._arrow import ArrowBatch

__all__ = ["FILE_ROWS", "ParquetSpool", "TableFile"]

#: Rows per Parquet file the worker hands over (a file ends at the first table reaching it).
FILE_ROWS: Final = 100_000


@attrs.frozen
class TableFile:
    """One finished Parquet file of a resource's rows (owned by whoever received it)."""

    path: str
    rows: int
    #: The rows at the file's newest cursor value and those with none (an Arrow table with
    #: the file's columns): what dlt's incremental cursor is shown in place of the file.
    cursor_rows: Any
    #: The dlt hints of the JSON columns new in this file (see ``_arrow.ArrowBatch``).
    new_json: dict[str, Any]

    def read(self, pq: Any) -> ArrowBatch:
        """The file's rows as one table (``pq``: ``pyarrow.parquet``)."""
        return ArrowBatch(pq.read_table(self.path), self.new_json, self.rows)


class ParquetSpool:
    """Writes one resource's tables into numbered Parquet files in ``directory``.

    :meth:`add` each table, then :meth:`finish`; each returns the files it completed.
    :meth:`discard` removes the file being written (a cancelled fetch)."""

    def __init__(
        self,
        pa: Any,
        directory: str,
        resource: str,
        cursor: str,
        window: tuple[_dt.datetime, _dt.datetime],
        *,
        file_rows: int = FILE_ROWS,
    ) -> None:
        # typed Any: pyarrow has no stubs
        self._pa = pa
        self._pc = importlib.import_module("pyarrow.compute")
        self._pq = importlib.import_module("pyarrow.parquet")
        self._directory = directory
        self._resource = resource
        self._cursor = cursor
        self._window = window
        self._file_rows = file_rows
        self._numbers = itertools.count()
        self._writer: Any = None
        self._schema: Any = None
        self._path = ""
        self._rows = 0
        self._new_json: dict[str, Any] = {}
        self._newest: Any = None  # the newest cursor value so far, and its rows
        self._at_newest: list[Any] = []
        self._without: list[Any] = []  # rows with no cursor value

    def add(self, batch: ArrowBatch) -> list[TableFile]:
        """Write ``batch``'s rows in the window; the files this completed."""
        table = self._in_window(batch.table)
        done: list[TableFile] = []
        if self._writer is not None and table.schema != self._schema:
            done += self._close()
        if self._writer is None:
            self._path = os.path.join(
                self._directory, f"{self._resource}.{next(self._numbers)}.parquet"
            )
            self._schema = table.schema
            self._writer = self._pq.ParquetWriter(self._path, table.schema, compression="none")
        self._new_json.update(batch.new_json)
        self._writer.write_table(table)
        self._rows += table.num_rows
        self._track(table)
        if self._rows >= self._file_rows:
            done += self._close()
        return done

    def finish(self) -> list[TableFile]:
        """Complete the file being written (if any rows went into it)."""
        return self._close() if self._writer is not None else []

    def discard(self) -> None:
        """Close and remove the file being written."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            os.unlink(self._path)

    def _in_window(self, table: Any) -> Any:
        pc, values = self._pc, table.column(self._cursor)
        start, end = self._window
        inside = pc.and_kleene(pc.greater_equal(values, start), pc.less_equal(values, end))
        keep = pc.or_kleene(pc.is_null(values), inside)
        return table if pc.all(keep).as_py() else table.filter(keep)

    def _track(self, table: Any) -> None:
        pc, values = self._pc, table.column(self._cursor)
        nulls = pc.is_null(values)
        if pc.any(nulls).as_py():
            self._without.append(table.filter(nulls))
        newest = pc.max(values)
        if not newest.is_valid:
            return
        if self._newest is not None and pc.less(newest, self._newest).as_py():
            return
        at_newest = table.filter(pc.equal(values, newest))
        if self._newest is None or pc.greater(newest, self._newest).as_py():
            self._newest, self._at_newest = newest, [at_newest]
        else:
            self._at_newest.append(at_newest)

    def _close(self) -> list[TableFile]:
        writer, self._writer = self._writer, None
        writer.close()
        parts = [*self._at_newest, *self._without]
        cursor_rows = self._pa.concat_tables(parts) if parts else self._schema.empty_table()
        done = TableFile(self._path, self._rows, cursor_rows, self._new_json)
        self._rows, self._new_json = 0, {}
        self._newest, self._at_newest, self._without = None, [], []
        return [done] if done.rows else self._dropped(done)

    @staticmethod
    def _dropped(file: TableFile) -> list[TableFile]:
        os.unlink(file.path)  # every row was outside the window: nothing to import
        return []
