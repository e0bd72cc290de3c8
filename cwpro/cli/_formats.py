"""Output formats of ``cwpro export``: each page becomes one chunk of bytes appended to the file.

Items are the API's objects as plain dicts (the export runs in the SDK's dict mode: wire names,
unknown fields kept, no models built).

* ``jsonl``: one JSON object per line, exactly the API's object, UTF-8.
* ``csv``: RFC 4180 (``csv`` module: quoting, ``\\r\\n`` rows, newlines inside quoted cells).
  The header is stable: the model's known fields in declaration order (wire names), then one
  ``extra`` column holding the fields the SDK does not model, as a JSON object. Cells: strings
  as they are; ``null``/absent as an empty cell; numbers and booleans as JSON (``true``);
  lists and objects as compact JSON.

Only valid JSON is written: a value JSON cannot represent (``NaN``, ``Infinity``, which Python's
decoder lets through) raises :class:`cwpro.ModelError` and nothing of that page is written.
(With orjson, which the SDK then also decodes with, such values cannot arrive at all.)
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, Protocol

import attrs

import cwpro

FORMATS: Final = ("jsonl", "csv")
EXTRA_COLUMN: Final = "extra"


class PageFormat(Protocol):
    """Turns items into bytes for the output file."""

    def header(self) -> bytes:
        """What the file starts with (empty for JSON lines)."""

    def encode(self, items: Iterable[Mapping[str, Any]]) -> bytes:
        """The bytes of one page of items."""


def known_fields(model: type[cwpro.Model]) -> list[str]:
    """The wire names of ``model``'s declared fields, in declaration order."""
    return [
        field.metadata.get("wire", field.name)
        for field in attrs.fields(model)
        if field.init and not field.name.startswith("_")
    ]


_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _strict(value: Any) -> str:
    try:
        return _ENCODER.encode(value)
    except ValueError as exc:  # NaN or Infinity
        identifier = value.get("_id") if isinstance(value, Mapping) else None
        raise cwpro.ModelError(
            f"refusing to write {'item ' + repr(identifier) if identifier else 'an item'}: "
            f"it holds a number JSON cannot represent ({exc})"
        ) from None


def _stdlib_json_line(value: Any) -> bytes:
    return (_strict(value) + "\n").encode("utf-8")


def _make_json_line() -> Callable[[Any], bytes]:
    """Compact UTF-8 JSON plus a newline; orjson when installed (``cwpro[speed]``)."""
    try:
        import orjson
    except ImportError:
        return _stdlib_json_line
    option = orjson.OPT_APPEND_NEWLINE

    def json_line(value: Any) -> bytes:
        try:
            return orjson.dumps(value, option=option)
        except (TypeError, orjson.JSONEncodeError):  # e.g. integers beyond 64 bits
            return _stdlib_json_line(value)

    return json_line


json_line: Final = _make_json_line()


def _compact_json(value: Any) -> str:
    return _strict(value)


class JsonLines:
    """``jsonl``: one API object per line."""

    def header(self) -> bytes:
        """Nothing: JSON lines have no header."""
        return b""

    def encode(self, items: Iterable[Mapping[str, Any]]) -> bytes:
        """One line per item."""
        return b"".join([json_line(item) for item in items])


def csv_cell(value: Any) -> str:
    """One CSV cell: see the module docstring."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return _compact_json(value)


class Csv:
    """``csv``: known fields, then the ``extra`` JSON column."""

    def __init__(self, model: type[cwpro.Model]) -> None:
        self.fields = known_fields(model)
        self.extra_column = EXTRA_COLUMN
        while self.extra_column in self.fields:
            self.extra_column = "_" + self.extra_column
        self.columns: Sequence[str] = [*self.fields, self.extra_column]

    def _rows(self, rows: Iterable[Sequence[str]]) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer).writerows(rows)
        return buffer.getvalue().encode("utf-8")

    def header(self) -> bytes:
        """The header row."""
        return self._rows([self.columns])

    def row(self, item: Mapping[str, Any]) -> list[str]:
        """The cells of one item."""
        data = dict(item)
        cells = [csv_cell(data.pop(name, None)) for name in self.fields]
        cells.append(_compact_json(data) if data else "")
        return cells

    def encode(self, items: Iterable[Mapping[str, Any]]) -> bytes:
        """One row per item."""
        return self._rows(self.row(item) for item in items)


def make_format(name: str, model: type[cwpro.Model]) -> PageFormat:
    """The format called ``name`` for items of type ``model``."""
    if name == "jsonl":
        return JsonLines()
    if name == "csv":
        return Csv(model)
    raise ValueError(f"unknown format {name!r} (choose from {', '.join(FORMATS)})")
