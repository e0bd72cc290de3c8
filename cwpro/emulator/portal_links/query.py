"""The list route's query string: paging, sort order and filters, checked as a strict server does.

- Only the published parameters are accepted (`page`, `per_page`, `sort`, `company_namespace`,
  `workorder`, `is_active`, `link_type`, `_id`); anything else is a 400 naming it.
- Array filters repeat their key (`_id=a&_id=b`, `company_namespace=x&company_namespace=y`);
  the bracket form (`_id[]=a`) is a 400 saying so. Scalar parameters may appear at most once.
- Booleans are lowercase `true`/`false` only (`True`, `1`, `yes` are 400s).
- `sort` takes comma-separated fields (dotted for nested scalars, `-` for descending); an
  unknown field is a 400. Ties are broken by `_id` in the direction of the first field.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any, Final

from multidict import MultiMapping

from cwpro.emulator.portal_links.errors import ApiError
from cwpro.emulator.portal_links.schema import (
    LINK_TYPES,
    NESTED_SCHEMAS,
    OBJECT_ID,
    Document,
    check_ip_list,
    check_str_list,
)

DEFAULT_PER_PAGE: Final = 25
MAX_PER_PAGE: Final = 100
ARRAY_PARAMETERS: Final = ("company_namespace", "_id")
SCALAR_PARAMETERS: Final = ("page", "per_page", "sort", "workorder", "is_active", "link_type")
_DIGITS: Final = re.compile(r"-?[0-9]{1,18}")

SortKey = tuple[str, bool]
"""A sort field (dotted path) and whether it sorts descending."""

DEFAULT_SORT: Final[tuple[SortKey, ...]] = (("createdAt", False), ("_id", False))

SORTABLE_FIELDS: Final = frozenset(
    (
        "_id",
        "workorder",
        "link_token",
        "link_type",
        "expiry_date",
        "is_active",
        "createdAt",
        "modifiedAt",
        "SVClient",
        "__v",
        "metadata.created_by",
        "usage_stats.total_views",
        "usage_stats.unique_visitors",
        "usage_stats.last_accessed",
    )
) | frozenset(
    f"{name}.{key}"
    for name, schema in NESTED_SCHEMAS.items()
    for key, (check, _default) in schema.items()
    if check not in (check_str_list, check_ip_list)
)
"""Fields `sort` accepts: every scalar field of a link, nested ones as dotted paths."""


@dataclasses.dataclass(frozen=True)
class LinkQuery:
    """A validated list request: paging, sort order and filters (empty filter = no filter)."""

    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    sort: tuple[SortKey, ...] = DEFAULT_SORT
    company_namespaces: frozenset[str] = frozenset()
    workorder: str | None = None
    is_active: bool | None = None
    link_type: str | None = None
    ids: frozenset[str] = frozenset()

    def matches(self, document: Document) -> bool:
        """Whether a stored link passes every filter of this query."""
        return (
            (not self.ids or document["_id"] in self.ids)
            and (self.workorder is None or document["workorder"] == self.workorder)
            and (self.is_active is None or document["is_active"] is self.is_active)
            and (self.link_type is None or document["link_type"] == self.link_type)
            and (
                not self.company_namespaces
                or not self.company_namespaces.isdisjoint(document["company_namespace"])
            )
        )


def lookup(document: Document, path: str) -> Any:
    """The value at a dotted path (`"permissions.can_view_details"`), None when absent."""
    value: Any = document
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def sort_key(path: str) -> Callable[[Document], tuple[int, Any]]:
    """Sort key of a field; None sorts before every value (after them descending), as in MongoDB."""

    def key(document: Document) -> tuple[int, Any]:
        value = lookup(document, path)
        return (0, 0) if value is None else (1, value)

    return key


def _check_names(params: MultiMapping[str]) -> None:
    for name in params:
        if name in ARRAY_PARAMETERS or name in SCALAR_PARAMETERS:
            continue
        base = name.removesuffix("[]")
        if base in ARRAY_PARAMETERS:
            raise ApiError(400, f"Invalid query parameter {name}: repeat {base}=... instead")
        raise ApiError(400, f"Unknown query parameter: {name}")


def _single(params: MultiMapping[str], name: str) -> str | None:
    values = params.getall(name, [])
    if len(values) > 1:
        raise ApiError(400, f"Invalid {name}: give it at most once")
    return values[0] if values else None


def _int_param(
    params: MultiMapping[str], name: str, default: int, low: int, high: int | None
) -> int:
    text = _single(params, name)
    if text is None:
        return default
    value = int(text) if _DIGITS.fullmatch(text) else None
    if value is None or value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"between {low} and {high}"
        raise ApiError(400, f"Invalid {name}: must be an integer {bounds}")
    return value


def _ids_param(params: MultiMapping[str]) -> frozenset[str]:
    values = params.getall("_id", [])
    if not all(OBJECT_ID.fullmatch(value) for value in values):
        raise ApiError(400, "Invalid ID format")
    return frozenset(value.lower() for value in values)


def _bool_param(params: MultiMapping[str], name: str) -> bool | None:
    text = _single(params, name)
    if text is None:
        return None
    if text not in ("true", "false"):
        raise ApiError(400, f"Invalid {name}: must be true or false (lowercase)")
    return text == "true"


def _sort_param(text: str | None) -> tuple[SortKey, ...]:
    if text is None or not text.strip():
        return DEFAULT_SORT
    keys: list[SortKey] = []
    for raw_field in text.split(","):
        field = raw_field.strip()
        descending = field.startswith("-")
        field = field.removeprefix("-")
        if field not in SORTABLE_FIELDS:
            raise ApiError(400, f"Invalid sort field: {field or repr(raw_field)}")
        keys.append((field, descending))
    return tuple(keys)


def parse_list_query(params: MultiMapping[str]) -> LinkQuery:
    """Turn the list route's query string into a LinkQuery; bad values raise a 400 `ApiError`."""
    _check_names(params)
    link_type = _single(params, "link_type")
    if link_type is not None and link_type not in LINK_TYPES:
        raise ApiError(400, f"Invalid link_type: must be one of {', '.join(LINK_TYPES)}")
    workorder = _single(params, "workorder")
    if workorder is not None and not OBJECT_ID.fullmatch(workorder):
        raise ApiError(400, "Invalid ID format")
    return LinkQuery(
        page=_int_param(params, "page", 1, 1, None),
        per_page=_int_param(params, "per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE),
        sort=_sort_param(_single(params, "sort")),
        company_namespaces=frozenset(params.getall("company_namespace", [])),
        workorder=None if workorder is None else workorder.lower(),
        is_active=_bool_param(params, "is_active"),
        link_type=link_type,
        ids=_ids_param(params),
    )
