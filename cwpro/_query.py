"""The cursor lists' query language, as Python, validated before any request is sent.

=================  ==============================================  ============================
Python             meaning                                         wire
=================  ==============================================  ============================
``limit=50``       items per page (1..1000)                        ``limit=50``
``sort_by=...``    one column: ``"name"``, ``"name:desc"``,         ``sortBy=name:desc``
                   ``("name", "desc")`` or ``{"name": "desc"}``
``filter_by={}``   exact matches, combined by ``filter_operator``  ``filterBy=<JSON>``
``filter_operator``  ``"and"`` (default) or ``"or"``               ``filterOperator=or``
``in_={c: [..]}``  column in values; one ``in`` per column          ``in=status![draft, open]``
``between={c: (a, b)}``  inclusive range; one per column            ``between=created_date![a, b]``
=================  ==============================================  ============================

Dates and datetimes in ``in_``/``between``/``filter_by`` are written the way the API expects
(``2024-01-01`` for a date, ``2024-01-01T00:00:00.000Z`` for a datetime, UTC).
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal, TypeAlias

from typing_extensions import TypedDict

from ._errors import InvalidArgumentError
from ._serde import format_datetime

__all__ = ["ListQuery", "QueryValue", "build_query", "format_value"]

QueryValue: TypeAlias = str | int | float | bool | _dt.date | _dt.datetime
SortSpec: TypeAlias = str | tuple[str, str] | Mapping[str, str]

MAX_LIMIT = 1000


class ListQuery(TypedDict, total=False):
    """The query options every cursor list accepts (all optional).

    * ``limit``: items per page, 1..1000 (the API's default is 100).
    * ``sort_by``: one column and direction: ``"name"``, ``"name:desc"``, ``("name", "desc")``.
    * ``filter_by``: column -> exact value; combined with ``filter_operator``.
    * ``filter_operator``: ``"and"`` (default) or ``"or"``.
    * ``in_``: column -> values the column may take (one ``in`` parameter per column).
    * ``between``: column -> ``(start, end)``, inclusive.
    * ``cursor``: start from this page cursor (resume a saved position).
    * ``prefetch``: pages fetched ahead while you work on the current one (default 1, 0 = off).
    """

    limit: int
    sort_by: SortSpec
    filter_by: Mapping[str, Any]
    filter_operator: Literal["and", "or"]
    in_: Mapping[str, Sequence[QueryValue]]
    between: Mapping[str, tuple[QueryValue, QueryValue]]
    cursor: str
    prefetch: int


QUERY_KEYS = frozenset(ListQuery.__annotations__)
PAGINATION_KEYS = frozenset({"cursor", "prefetch"})


def format_value(value: Any) -> str:
    """A query value as the API expects it inside ``in``/``between`` lists."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (_dt.datetime, _dt.date)):
        return format_datetime(value)
    if isinstance(value, (int, float, str)):
        text = str(value)
        if isinstance(value, str) and ("," in value or "]" in value or "[" in value):
            raise InvalidArgumentError(
                f"in_/between values cannot contain ',', '[' or ']': {value!r}"
            )
        return text
    raise InvalidArgumentError(f"unsupported query value type {type(value).__name__}: {value!r}")


def _json_default(value: Any) -> Any:
    if isinstance(value, (_dt.datetime, _dt.date)):
        return format_datetime(value)
    raise TypeError(f"filter_by values must be JSON values, got {type(value).__name__}")


def _check_column(kind: str, column: Any) -> str:
    if not isinstance(column, str) or not column or "!" in column or "[" in column:
        raise InvalidArgumentError(
            f"{kind}: column names must be non-empty strings without '!' or '[', got {column!r}"
        )
    return column


def _sort_param(sort_by: SortSpec) -> str:
    if isinstance(sort_by, Mapping):
        if len(sort_by) != 1:
            raise InvalidArgumentError(
                f"sort_by: the API sorts by exactly one column, got {len(sort_by)}"
            )
        ((column, direction),) = sort_by.items()
    elif isinstance(sort_by, tuple):
        if len(sort_by) != 2:
            raise InvalidArgumentError("sort_by: give (column, 'asc'|'desc')")
        column, direction = sort_by
    elif isinstance(sort_by, str):
        if "," in sort_by:
            raise InvalidArgumentError(
                f"sort_by: the API sorts by one column only, got {sort_by!r}"
            )
        column, _, direction = sort_by.partition(":")
        direction = direction or "asc"
        if column.startswith("-"):
            column, direction = column[1:], "desc"
    else:
        raise InvalidArgumentError(f"sort_by: unsupported value {sort_by!r}")
    direction = str(direction).lower()
    if direction not in ("asc", "desc"):
        raise InvalidArgumentError(f"sort_by: direction must be 'asc' or 'desc', got {direction!r}")
    return f"{_check_column('sort_by', column)}:{direction}"


def build_query(
    options: Mapping[str, Any], extra: Iterable[tuple[str, str]] = ()
) -> list[tuple[str, str]]:
    """Validate list options (see :class:`ListQuery`) and turn them into query parameters.

    Raises ``ValueError`` with a message naming the bad option; nothing is sent.
    """
    unknown = set(options) - QUERY_KEYS
    if unknown:
        raise InvalidArgumentError(f"unknown list option(s): {', '.join(sorted(unknown))}")
    params: list[tuple[str, str]] = list(extra)
    limit = options.get("limit")
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise InvalidArgumentError(f"limit must be an integer in 1..{MAX_LIMIT}, got {limit!r}")
        params.append(("limit", str(limit)))
    sort_by = options.get("sort_by")
    if sort_by is not None:
        params.append(("sortBy", _sort_param(sort_by)))
    filter_by = options.get("filter_by")
    if filter_by is not None:
        if not isinstance(filter_by, Mapping) or not filter_by:
            raise InvalidArgumentError("filter_by must be a non-empty mapping of column -> value")
        for column in filter_by:
            _check_column("filter_by", column)
        try:
            encoded = json.dumps(dict(filter_by), default=_json_default, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(f"filter_by: {exc}") from None
        params.append(("filterBy", encoded))
    operator = options.get("filter_operator")
    if operator is not None:
        if operator not in ("and", "or"):
            raise InvalidArgumentError(f"filter_operator must be 'and' or 'or', got {operator!r}")
        params.append(("filterOperator", operator))
    for column, values in _by_column(options, "in_", "values"):
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise InvalidArgumentError(f"in_[{column!r}] must be a list of values, not {values!r}")
        items = [format_value(v) for v in values]
        if not items:
            raise InvalidArgumentError(f"in_[{column!r}] is empty: it would match nothing")
        params.append(("in", f"{column}![{', '.join(items)}]"))
    for column, bounds in _by_column(options, "between", "(start, end)"):
        if isinstance(bounds, (str, bytes)) or not isinstance(bounds, Sequence) or len(bounds) != 2:
            raise InvalidArgumentError(
                f"between[{column!r}] must be a (start, end) pair, got {bounds!r}"
            )
        start, end = bounds
        if type(start) is not type(end) and not (
            isinstance(start, (int, float)) and isinstance(end, (int, float))
        ):
            raise InvalidArgumentError(
                f"between[{column!r}]: start and end must be of the same kind"
            )
        try:
            if start > end:
                raise InvalidArgumentError(
                    f"between[{column!r}]: start {start!r} is after end {end!r}"
                )
        except TypeError:
            raise InvalidArgumentError(
                f"between[{column!r}]: start and end cannot be compared"
            ) from None
        params.append(("between", f"{column}![{format_value(start)}, {format_value(end)}]"))
    return params


def _by_column(options: Mapping[str, Any], key: str, what: str) -> Iterator[tuple[str, Any]]:
    """The (column, value) pairs of the mapping option ``key``, each column name checked."""
    given = options.get(key)
    if given is None:
        return
    if not isinstance(given, Mapping):
        raise InvalidArgumentError(f"{key} must be a mapping of column -> {what}")
    for column, value in given.items():
        _check_column(key, column)
        yield column, value
