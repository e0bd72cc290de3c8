"""The two page types, and reading them from a list response's envelope.

A cursor page (CWP lists) carries ``pagination: {hasNext, hasPrev, nextCursor, prevCursor,
pageResults, totalResults}`` and ``options``; a numbered page (portal links) carries
``paging: {total, page, per_page, pages}``. The readers take the decoded envelope and a function
that turns the raw ``data`` list into items (models, or the plain dicts themselves), so the
same reading serves the typed mode and the dict mode.

What is checked: ``data`` is a list; ``hasNext: true`` comes with a non-empty string
``nextCursor`` (else :class:`cwpro.PaginationError`: the walk cannot continue, and ending it
quietly would lose the rest of the list). Figures the envelope leaves out or gives in the wrong
type fall back to what the page itself shows (its length, its number).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import attrs

from .._errors import ModelError, PaginationError

__all__ = [
    "CursorPage",
    "NumberedPage",
    "StructureItems",
    "dict_items",
    "read_cursor_page",
    "read_numbered_page",
]

T = TypeVar("T")

#: Turns the envelope's raw ``data`` list into the page's items.
StructureItems = Callable[[list[Any]], list[T]]


@attrs.frozen
class CursorPage(Generic[T]):
    """One page of a cursor list.

    ``cursor`` is the cursor this page was fetched with (``None`` for the first page): saving it
    lets you fetch the same page again; ``next_cursor`` continues after it.
    """

    items: list[T]
    has_next: bool
    has_prev: bool
    next_cursor: str | None
    prev_cursor: str | None
    page_results: int
    total_results: int | None
    cursor: str | None = None
    options: Mapping[str, Any] = attrs.field(factory=dict)

    def __len__(self) -> int:
        return len(self.items)


@attrs.frozen
class NumberedPage(Generic[T]):
    """One page of a page-number list (portal links)."""

    items: list[T]
    page: int
    per_page: int
    total: int
    pages: int

    @property
    def has_next(self) -> bool:
        """True when a later page exists."""
        return self.page < self.pages


def dict_items(data: list[Any]) -> list[dict[str, Any]]:
    """The dict mode's items: the envelope's objects as they are (each must be an object)."""
    for item in data:
        if type(item) is not dict:
            raise ModelError(f"expected objects in 'data', got {type(item).__name__}")
    return data


def _int(value: Any, default: int) -> int:
    return value if type(value) is int else default


def _mapping(payload: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = payload.get(key)
    return value if isinstance(value, Mapping) else {}


def _data(payload: Mapping[str, Any], where: str) -> list[Any]:
    data = payload.get("data")
    if not isinstance(data, list):
        raise ModelError(f"expected a list in 'data' ({where})")
    return data


def read_cursor_page(
    payload: Mapping[str, Any],
    structure: StructureItems[T],
    *,
    cursor: str | None,
    where: str,
) -> CursorPage[T]:
    """The cursor page in ``payload`` (fetched with ``cursor``; ``where`` names the request)."""
    items = structure(_data(payload, where))
    pagination = _mapping(payload, "pagination")
    has_next = bool(pagination.get("hasNext"))
    next_cursor = pagination.get("nextCursor")
    if has_next and (not isinstance(next_cursor, str) or not next_cursor):
        error = PaginationError(
            f"the API says more pages follow (hasNext) but gives no usable nextCursor "
            f"(got {next_cursor!r}) ({where}): the walk cannot continue"
        )
        error.resume_cursor = cursor
        raise error
    prev_cursor = pagination.get("prevCursor")
    total = pagination.get("totalResults")
    return CursorPage(
        items=items,
        has_next=has_next,
        has_prev=bool(pagination.get("hasPrev")),
        next_cursor=next_cursor if isinstance(next_cursor, str) and next_cursor else None,
        prev_cursor=prev_cursor if isinstance(prev_cursor, str) and prev_cursor else None,
        page_results=_int(pagination.get("pageResults"), len(items)),
        total_results=total if type(total) is int else None,
        cursor=cursor,
        options=_mapping(payload, "options"),
    )


def read_numbered_page(
    payload: Mapping[str, Any], structure: StructureItems[T], *, page: int, where: str
) -> NumberedPage[T]:
    """The numbered page in ``payload`` (requested as page ``page``)."""
    items = structure(_data(payload, where))
    paging = _mapping(payload, "paging")
    return NumberedPage(
        items=items,
        page=_int(paging.get("page"), page),
        per_page=_int(paging.get("per_page"), len(items)),
        total=_int(paging.get("total"), len(items)),
        pages=_int(paging.get("pages"), page),
    )
