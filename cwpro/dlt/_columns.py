"""dlt column hints made from the SDK's models: timestamps as timestamps, ids as text.

A model's fields give the hints, under their wire names (``_id``, ``createdAt``...; dlt then
normalizes the names, e.g. ``created_at``). Free-form objects (a notification's ``data``) are
one JSON column. Two shapes, one per way rows reach dlt:

* ``nested=True`` (dicts through dlt's row normalizer): nested models are flattened the way
  dlt flattens nested objects (``address__city``), so their fields are typed too; lists
  (``work_type_ids``, ``usage_stats.access_log``) become dlt's child tables and are left to its
  inference;
* ``nested=False`` (Arrow tables, ``_arrow``): nested models and lists are JSON columns.

Fields the SDK does not model are inferred from the data.
"""

from __future__ import annotations

import datetime as _dt
import enum
import types
import typing
from typing import Any, Final

import attrs

__all__ = ["column_hints"]

#: Python type -> dlt data type.
_SCALARS: Final[dict[type, str]] = {
    bool: "bool",
    int: "bigint",
    float: "double",
    str: "text",
    _dt.datetime: "timestamp",
    _dt.date: "date",
}
#: dlt's separator of nested object paths in column names.
NESTING: Final = "__"


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    """``X | None`` -> ``(X, True)``; anything else -> ``(annotation, False)``."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(annotation))
        if len(args) == 1:
            return args[0], nullable
    return annotation, False


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and attrs.has(annotation)


def _data_type(annotation: Any, nested: bool) -> str | None:
    """The dlt data type of a field's type, or None when dlt should make a child table."""
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):  # the SDK's enums are string enums
            return "text"
        for python_type, data_type in _SCALARS.items():
            if annotation is python_type:
                return data_type
    origin = typing.get_origin(annotation)
    if origin in (dict, typing.get_origin(typing.Mapping[str, Any])):
        return "json"
    return None if nested else "json"


def column_hints(
    model: type[Any], *, nested: bool = True, prefix: str = ""
) -> dict[str, dict[str, Any]]:
    """dlt column hints (``{name: {"data_type": ..., "nullable": ...}}``) for ``model``.

    In model field order; ``nested`` picks the shape (see the module docstring).
    """
    hints: dict[str, dict[str, Any]] = {}
    resolved = typing.get_type_hints(model)
    for field in attrs.fields(model):
        if field.name in ("extra", "_absent") or not field.init:
            continue
        name = prefix + str(field.metadata.get("wire", field.name))
        annotation, nullable = _unwrap_optional(resolved[field.name])
        if nested and _is_model(annotation):
            hints.update(column_hints(annotation, prefix=name + NESTING))
            continue
        data_type = "json" if _is_model(annotation) else _data_type(annotation, nested)
        if data_type is None:
            continue
        nullable = nullable or bool(prefix) or field.default is not attrs.NOTHING
        hints[name] = {"data_type": data_type, "nullable": nullable}
    return hints
