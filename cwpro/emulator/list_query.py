"""Cursor-list queries: parsing ``limit``/``sortBy``/``filterBy``/``filterOperator``/``in``/
``between``/``cursor`` into a :class:`ListQuery`, the row conditions, and the keyset cursors.

A cursor stores the sort value and ``_id`` of the first (``prev_``) or last (``next_``) item of
the page it came from plus a fingerprint of the query, so a cursor replayed with another query
(or on another list) is rejected with ``PAG_0003``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from multidict import MultiMapping

from cwpro.emulator.wire import BusinessError, dumps, format_datetime, loads, parse_datetime

ColumnKind = Literal["string", "date", "number", "list", "bool"]
SortKey = tuple[Any, ...]
RowKey = tuple[SortKey, str]

DEFAULT_LIMIT = 100
_OPERATOR_RE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*!\s*\[(.*)\]\s*$", re.DOTALL)


def bad_operator(detail: str) -> BusinessError:
    """The ``PAG_0002`` error (malformed or unknown query operator/column)."""
    return BusinessError("PAG_0002", "Invalid pagination query operator", detail)


def invalid_cursor(detail: str) -> BusinessError:
    """The ``PAG_0003`` error (cursor that does not decode or does not match the query)."""
    return BusinessError("PAG_0003", "The cursor provided is not valid", detail)


def sort_key(value: Any) -> SortKey:
    """A total order over JSON values: null < booleans < numbers < strings < the rest."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, (int, float)):
        return (2, value)
    if isinstance(value, str):
        return (3, value)
    return (4, dumps(value).decode("utf-8"))


def as_query_string(value: Any) -> str:
    """How ``in`` compares a value: JSON spelling for null/booleans/numbers, strings as-is."""
    if isinstance(value, str):
        return value
    return dumps(value).decode("utf-8")


# ---------------------------------------------------------------------------------------------
# conditions
# ---------------------------------------------------------------------------------------------
class Condition(Protocol):
    """One test on one column."""

    @property
    def field(self) -> str:
        """The column tested."""

    def matches(self, value: Any) -> bool:
        """True when a row whose column holds ``value`` passes."""


def _any_element(value: Any, test: Callable[[Any], bool]) -> bool:
    if isinstance(value, list):
        return any(test(element) for element in value)
    return test(value)


@dataclass(frozen=True)
class Equals:
    """``filterBy`` entry: exact value (array columns: contains the value)."""

    field: str
    value: Any

    def matches(self, value: Any) -> bool:
        """Exact equality, element-wise for arrays."""
        expected = self.value
        return _any_element(
            value,
            lambda element: (
                element == expected and isinstance(element, bool) == isinstance(expected, bool)
            ),
        )


@dataclass(frozen=True)
class OneOf:
    """``in`` operator: the value's string form is one of ``values``."""

    field: str
    values: frozenset[str]

    def matches(self, value: Any) -> bool:
        """Membership by string comparison, element-wise for arrays."""
        return _any_element(value, lambda element: as_query_string(element) in self.values)


@dataclass(frozen=True)
class Between:
    """``between`` operator: ``low <= value <= high`` (values already in the column's type)."""

    field: str
    low: Any
    high: Any
    numeric: bool

    def matches(self, value: Any) -> bool:
        """Inclusive range test (numbers as numbers, dates/strings as canonical strings)."""

        def test(element: Any) -> bool:
            if self.numeric:
                if isinstance(element, bool) or not isinstance(element, (int, float)):
                    return False
            elif not isinstance(element, str):
                return False
            return bool(self.low <= element <= self.high)

        return _any_element(value, test)


def _date_bound(text: str, *, upper: bool) -> str:
    """A query date bound as a canonical wire string comparable with stored dates.

    Stored dates have millisecond precision, so a lower bound rounds up and an upper bound rounds
    down to the millisecond (keeping both ends inclusive as datetimes).
    """
    try:
        parsed = parse_datetime(text)
    except ValueError as exc:
        raise bad_operator(f"{text!r} is not a date (use YYYY-MM-DD or ISO 8601)") from exc
    micros = parsed.microsecond % 1000
    if micros and not upper:
        parsed += dt.timedelta(microseconds=1000 - micros)
    return format_datetime(parsed)


def _normalize_filter_value(field_name: str, kind: ColumnKind, value: Any) -> Any:
    if kind == "date" and isinstance(value, str):
        try:
            return format_datetime(parse_datetime(value))
        except ValueError as exc:
            raise bad_operator(f"filterBy {field_name}: {value!r} is not a date") from exc
    return value


# ---------------------------------------------------------------------------------------------
# query
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cursor:
    """A decoded cursor: which way to move and the key of the item to move from."""

    direction: Literal["next", "prev"]
    sort_value: Any
    object_id: str

    @property
    def key(self) -> RowKey:
        """The row key the cursor points at."""
        return (sort_key(self.sort_value), self.object_id)


@dataclass
class ListQuery:
    """A parsed list request."""

    limit: int
    sort_field: str = "_id"
    descending: bool = False
    filter_group: list[Equals] = field(default_factory=list)
    filter_operator: Literal["and", "or"] = "and"
    conditions: list[Condition] = field(default_factory=list)
    cursor: Cursor | None = None
    fingerprint: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def is_plain(self) -> bool:
        """True when nothing filters the rows (only the sort may differ from ``_id:asc``)."""
        return not self.filter_group and not self.conditions


def _parse_limit(raw: str | None, max_limit: int) -> int:
    if raw is None:
        return min(DEFAULT_LIMIT, max_limit)
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= max_limit:
        raise BusinessError(
            "PAG_0001",
            f"The limit must be an integer between 1 and {max_limit}",
            f"Received limit={raw!r}",
        )
    return limit


def _split_operator(raw: str, name: str) -> tuple[str, list[str]]:
    match = _OPERATOR_RE.match(raw)
    if match is None:
        raise bad_operator(f"{name} must look like column![value1, value2], got {raw!r}")
    inner = match.group(2).strip()
    values = [part.strip() for part in inner.split(",")] if inner else []
    return match.group(1), values


def _check_column(columns: Mapping[str, ColumnKind], name: str, where: str) -> ColumnKind:
    kind = columns.get(name)
    if kind is None:
        raise bad_operator(
            f"{where}: unknown column {name!r}; valid columns: " + ", ".join(sorted(columns))
        )
    return kind


def _parse_between(raw: str, columns: Mapping[str, ColumnKind]) -> Between:
    name, values = _split_operator(raw, "between")
    kind = _check_column(columns, name, "between")
    if len(values) < 2:
        raise bad_operator(f"between needs two values, got {raw!r}")
    low_text, high_text = values[0], values[1]
    if kind == "number":
        try:
            return Between(name, float(low_text), float(high_text), numeric=True)
        except ValueError as exc:
            raise bad_operator(f"between on {name} needs numbers, got {raw!r}") from exc
    if kind == "date":
        return Between(
            name,
            _date_bound(low_text, upper=False),
            _date_bound(high_text, upper=True),
            numeric=False,
        )
    return Between(name, low_text, high_text, numeric=False)


def _parse_filter_by(raw: str, columns: Mapping[str, ColumnKind]) -> list[Equals]:
    try:
        decoded = loads(raw)
    except ValueError as exc:
        raise bad_operator(f"filterBy is not valid JSON: {exc}") from exc
    if not isinstance(decoded, dict):
        raise bad_operator("filterBy must be a JSON object of column -> value")
    entries = []
    for name, value in decoded.items():
        kind = _check_column(columns, name, "filterBy")
        entries.append(Equals(name, _normalize_filter_value(name, kind, value)))
    return entries


def _decode_cursor(raw: str, fingerprint: str) -> Cursor:
    prefix, _, payload = raw.partition("_")
    if prefix not in ("next", "prev") or not payload:
        raise invalid_cursor("A cursor starts with next_ or prev_")
    try:
        padded = payload.replace(" ", "+") + "=" * (-len(payload) % 4)
        decoded = loads(base64.b64decode(padded, altchars=b"-_", validate=False))
    except (ValueError, binascii.Error) as exc:
        raise invalid_cursor("The cursor could not be decoded") from exc
    if (
        not isinstance(decoded, dict)
        or decoded.get("d") != prefix
        or not isinstance(decoded.get("i"), str)
        or "v" not in decoded
    ):
        raise invalid_cursor("The cursor could not be decoded")
    if decoded.get("q") != fingerprint:
        raise invalid_cursor("The cursor belongs to a different query (sort or filters changed)")
    return Cursor(direction=prefix, sort_value=decoded["v"], object_id=decoded["i"])  # type: ignore[arg-type]


def encode_cursor(direction: str, sort_value: Any, object_id: str, fingerprint: str) -> str:
    """An opaque ``next_...``/``prev_...`` cursor for the item with ``sort_value``/``object_id``."""
    payload = dumps({"d": direction, "v": sort_value, "i": object_id, "q": fingerprint})
    return f"{direction}_{base64.urlsafe_b64encode(payload).decode('ascii')}"


def parse_list_query(
    query: MultiMapping[str],
    columns: Mapping[str, ColumnKind],
    *,
    scope: str,
    max_limit: int,
    extra: Sequence[tuple[str, Condition]] = (),
) -> ListQuery:
    """Parse cursor-list query parameters (``query`` is a multidict such as ``request.query``).

    ``scope`` names the list (a cursor of one list is invalid in another); ``extra`` are
    route-specific conditions already parsed, each with the raw text that identifies it.
    Raises :class:`BusinessError` ``PAG_0001``/``PAG_0002``/``PAG_0003``.
    """
    limit = _parse_limit(query.get("limit"), max_limit)
    parsed = ListQuery(limit=limit)
    sort_raw = query.get("sortBy")
    if sort_raw is not None and sort_raw.strip():
        column, sep, direction = sort_raw.strip().partition(":")
        direction = direction.strip().lower() if sep else "asc"
        if direction not in ("asc", "desc"):
            raise bad_operator(f"sortBy direction must be asc or desc, got {sort_raw!r}")
        parsed.sort_field = column.strip()
        _check_column(columns, parsed.sort_field, "sortBy")
        parsed.descending = direction == "desc"
    operator = (query.get("filterOperator") or "and").strip().lower()
    if operator not in ("and", "or"):
        raise bad_operator(f"filterOperator must be and or or, got {operator!r}")
    parsed.filter_operator = operator  # type: ignore[assignment]
    filter_raw = query.get("filterBy")
    if filter_raw is not None and filter_raw.strip():
        parsed.filter_group = _parse_filter_by(filter_raw, columns)
    identity: list[Any] = []
    for raw in query.getall("in", []):
        name, values = _split_operator(raw, "in")
        _check_column(columns, name, "in")
        parsed.conditions.append(OneOf(name, frozenset(values)))
        identity.append(["in", name, sorted(values)])
    for raw in query.getall("between", []):
        between = _parse_between(raw, columns)
        parsed.conditions.append(between)
        identity.append(["between", between.field, between.low, between.high])
    for text, condition in extra:
        parsed.conditions.append(condition)
        identity.append(["extra", text])
    direction = "desc" if parsed.descending else "asc"
    group = [[entry.field, entry.value] for entry in parsed.filter_group]
    digest = hashlib.sha256(
        dumps([scope, parsed.sort_field, direction, parsed.filter_operator, group, identity])
    ).hexdigest()
    parsed.fingerprint = digest[:16]
    parsed.options = {"limit": limit, "sortBy": {"field": parsed.sort_field, "value": direction}}
    if parsed.filter_group:
        parsed.options["filterBy"] = [
            {"field": entry.field, "value": entry.value} for entry in parsed.filter_group
        ]
    cursor_raw = query.get("cursor")
    if cursor_raw is not None and cursor_raw.strip():
        parsed.cursor = _decode_cursor(cursor_raw.strip(), parsed.fingerprint)
    return parsed
