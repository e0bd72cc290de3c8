"""Rows as Arrow tables for dlt: typed columns, and no pass of dlt's Python row normalizer.

dlt writes an Arrow table to a Parquet file as it is and loads that file (DuckDB reads it
directly; other destinations get it converted by dlt in C++/Arrow code), so the per-row Python
work of loading dicts -- the largest cost of a large load -- never runs. The columns:

* the model's fields (:func:`~cwpro.dlt._columns.column_hints` with ``nested=False``), always
  present, in model order: timestamps as ``timestamp[us, UTC]`` (the API's ISO strings parsed
  by Arrow, other forms by the SDK's own parser), ids, enums and other strings as ``string``,
  integers ``int64``, floats ``float64``, booleans ``bool``; nested objects and lists as JSON
  text in columns hinted ``json`` (DuckDB ``JSON``, PostgreSQL ``jsonb``): the values as the
  API sent them, nothing flattened or dropped;
* fields the models do not know, kept: typed from the values of the first batch that has them
  (strings, booleans, integers, floats -- integers and floats together are floats -- else
  JSON), then present in every later table. A later value that does not fit that type goes, as
  JSON, to a ``<name>__v_json`` column (null in the field's own), the way dlt makes variant
  columns.

Every table of one :class:`TableBuilder` has the columns of the one before, plus any new ones.
Pages are joined into tables of at least :data:`BATCH_ROWS` rows (:class:`Regroup`): few, large
items keep dlt's per-item work small. This module imports no dlt (the fetch worker uses it).
"""

from __future__ import annotations

import datetime as _dt
import functools
import importlib
import itertools
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

import attrs

import cwpro
from cwpro._serde import parse_datetime

from ._columns import column_hints

__all__ = [
    "BATCH_ROWS",
    "VARIANT_SUFFIX",
    "ArrowBatch",
    "Regroup",
    "TableBuilder",
    "load_pyarrow",
    "quiet_hint_overrides",
]

#: Rows per Arrow table handed to dlt (pages are joined up to at least this many).
BATCH_ROWS: Final = 2000

#: Suffix of the column that takes values not fitting their field's column (dlt's spelling).
VARIANT_SUFFIX: Final = "__v_json"
#: What dlt logs for every Arrow table whose column types differ from the resource's hints --
#: here on purpose: JSON columns arrive as Arrow strings.
_OVERRIDE_MESSAGE: Final = "when merging arrow schema with dlt schema"
#: What a failed conversion of a column raises: Arrow's ``ArrowInvalid`` (a ValueError),
#: ``ArrowTypeError`` (a TypeError), ``ArrowNotImplementedError``; the SDK's parser's ValueError.
_FAILURES: Final = (ValueError, TypeError, OverflowError, NotImplementedError)


def load_pyarrow() -> Any:
    """The ``pyarrow`` module, or None when it is not installed (typed ``Any``: no stubs)."""
    try:
        return importlib.import_module("pyarrow")
    except ImportError:
        return None


class _HintOverrideFilter(logging.Filter):
    """Drops dlt's per-table notice about the Arrow/hint type differences of given resources."""

    def __init__(self) -> None:
        super().__init__()
        self.resources: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if _OVERRIDE_MESSAGE not in message or not message.startswith("In resource: "):
            return True
        return message[len("In resource: ") :].split(",", 1)[0] not in self.resources


@functools.cache
def _override_filter() -> _HintOverrideFilter:
    hint_filter = _HintOverrideFilter()
    logging.getLogger("dlt").addFilter(hint_filter)
    return hint_filter


def quiet_hint_overrides(resource: str) -> None:
    """Silence dlt's notice that ``resource``'s JSON hints override its Arrow string columns."""
    _override_filter().resources.add(resource)


def _infer(values: Iterable[Any]) -> str | None:
    """The data type of a field the models do not know, from its values (None: all null)."""
    kinds = {type(value) for value in values if value is not None}
    if not kinds:
        return None
    if kinds == {str}:
        return "text"
    if kinds == {bool}:
        return "bool"
    if kinds == {int}:
        return "bigint"
    if kinds <= {int, float}:
        return "double"
    return "json"


def _fits(data_type: str, values: Sequence[Any]) -> bool:
    found = _infer(values)
    return found in (None, data_type) or (data_type == "double" and found == "bigint")


@attrs.frozen
class ArrowBatch:
    """One table of a resource's rows, and the dlt hints of the JSON columns new in it."""

    table: Any
    new_json: dict[str, Any]
    rows: int


class Regroup:
    """Joins pages of rows into lists of at least ``size`` rows (:meth:`add`, then :meth:`rest`)."""

    def __init__(self, size: int = BATCH_ROWS) -> None:
        self._size = size
        self._rows: list[dict[str, Any]] = []

    def add(self, page: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """The rows gathered so far once they are ``size`` or more (then it starts again)."""
        self._rows.extend(page)
        if len(self._rows) < self._size:
            return None
        full, self._rows = self._rows, []
        return full

    def rest(self) -> list[dict[str, Any]] | None:
        """The rows left at the end (fewer than ``size``), or None."""
        rest, self._rows = self._rows, []
        return rest or None


class TableBuilder:
    """Arrow tables of one resource's rows (see the module docstring); one per resource run."""

    def __init__(self, pa: Any, model: type[cwpro.Model], resource: str) -> None:
        self._pa = pa
        self._resource = resource
        hints = column_hints(model, nested=False)
        self._types: dict[str, str] = {name: hint["data_type"] for name, hint in hints.items()}
        self._required = frozenset(name for name, hint in hints.items() if not hint["nullable"])
        self._known = frozenset(self._types)
        self._dumps = _json_dumps()
        self._arrow_types: Final = {
            "text": pa.string(),
            "json": pa.string(),
            "bigint": pa.int64(),
            "double": pa.float64(),
            "bool": pa.bool_(),
            "timestamp": pa.timestamp("us", tz="UTC"),
            "date": pa.date32(),
        }

    def batch(self, rows: Sequence[dict[str, Any]]) -> ArrowBatch:
        """``rows`` as an :class:`ArrowBatch`."""
        table, new_json = self.table(rows)
        return ArrowBatch(table, new_json, len(rows))

    def table(self, rows: Sequence[dict[str, Any]]) -> tuple[Any, dict[str, Any]]:
        """``rows`` as a table, and the dlt column hints of JSON columns new in it."""
        new_json: dict[str, Any] = {}
        self._add_unknown(rows, new_json)
        columns: dict[str, list[Any]] = {}
        for name, data_type in list(self._types.items()):
            if name in columns:  # a variant column, filled with its field's misfits
                continue
            values = [row.get(name) for row in rows]
            if name not in self._known and not _fits(data_type, values):
                misfit = [v is not None and not _fits(data_type, [v]) for v in values]
                variant = name + VARIANT_SUFFIX
                columns[variant] = [v if m else None for v, m in zip(values, misfit, strict=True)]
                values = [None if m else v for v, m in zip(values, misfit, strict=True)]
                if variant not in self._types:
                    self._types[variant] = "json"
                    new_json[variant] = {"data_type": "json", "nullable": True}
            columns[name] = values
        arrays = [self._array(name, kind, columns[name]) for name, kind in self._types.items()]
        fields = [  # required and complete: not null, as dlt's schema has it (nothing to cast)
            self._pa.field(
                name, array.type, nullable=name not in self._required or bool(array.null_count)
            )
            for name, array in zip(self._types, arrays, strict=True)
        ]
        return self._pa.Table.from_arrays(arrays, schema=self._pa.schema(fields)), new_json

    def _add_unknown(self, rows: Sequence[dict[str, Any]], new_json: dict[str, Any]) -> None:
        """Give the fields of ``rows`` not seen before a type (the all-null ones wait)."""
        for name in dict.fromkeys(itertools.chain.from_iterable(rows)):
            if name in self._types:
                continue
            data_type = _infer(row.get(name) for row in rows)
            if data_type is None:
                continue
            self._types[name] = data_type
            if data_type == "json":
                new_json[name] = {"data_type": "json", "nullable": True}

    def _array(self, name: str, data_type: str, values: list[Any]) -> Any:
        try:
            return self._convert(data_type, values)
        except _FAILURES as exc:
            raise self._error(name, data_type, values) from exc

    def _convert(self, data_type: str, values: list[Any]) -> Any:
        pa = self._pa
        if data_type == "json":
            dumps = self._dumps
            return pa.array([None if v is None else dumps(v) for v in values], pa.string())
        arrow_type = self._arrow_types[data_type]
        if data_type not in ("timestamp", "date"):
            return pa.array(values, arrow_type)
        # Timestamps (and dates): Arrow parses the API's ISO strings; other forms, the SDK.
        try:
            return pa.array(values, pa.string()).cast(arrow_type)
        except _FAILURES:
            pass
        parse: Callable[[Any], Any] = parse_datetime if data_type == "timestamp" else _parse_date
        return pa.array([None if v is None else parse(v) for v in values], arrow_type)

    def _error(self, name: str, data_type: str, values: list[Any]) -> cwpro.ModelError:
        bad = None
        for value in values:
            try:
                self._convert(data_type, [value])
            except _FAILURES:
                bad = value
                break
        return cwpro.ModelError(
            f"{self._resource}: field {name!r} must be {data_type}, got {bad!r} "
            "(load with arrow=False / --nested-tables to let dlt infer the column)"
        )


def _parse_date(value: Any) -> _dt.date:
    if isinstance(value, _dt.date):
        return value
    return _dt.date.fromisoformat(str(value))


def _json_dumps() -> Callable[[Any], str]:
    """JSON text of a nested value: orjson when installed (``cwpro[speed]``), else json."""
    try:
        import orjson
    except ImportError:
        return functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":"))

    def dumps(value: Any) -> str:
        try:
            return orjson.dumps(value).decode()
        except TypeError:  # what orjson does not take (integers beyond 64 bits)
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    return dumps
