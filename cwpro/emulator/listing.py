"""Cursor-paginated lists: selecting, ordering and paging rows for a parsed query.

A list is an ordered view of ``(sort key, _id)`` pairs. Paging from a cursor is a binary search
for the cursor's key, so items inserted while a client walks the pages show up once or not at
all, and nothing is skipped. Unfiltered ``_id`` lists use the store's own O(1) view (a million
lazily generated work orders page in O(page size)); anything else is materialized and cached per
store version.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from cwpro.emulator.list_query import (
    ColumnKind,
    ListQuery,
    RowKey,
    encode_cursor,
    sort_key,
)


# ---------------------------------------------------------------------------------------------
# sources and views
# ---------------------------------------------------------------------------------------------
class OrderedView(Protocol):
    """Rows in ascending ``(sort key, _id)`` order."""

    def __len__(self) -> int:
        """Number of rows."""

    def key_at(self, position: int) -> RowKey:
        """The key of the row at ``position``."""

    def item_at(self, position: int) -> dict[str, Any]:
        """The JSON object of the row at ``position``."""


class ListSource(Protocol):
    """A collection that can be listed: rows at positions ``0..size-1`` in ``_id`` order."""

    columns: Mapping[str, ColumnKind]

    @property
    def version(self) -> int | None:
        """Changes whenever the rows change; None when results must not be cached."""

    def size(self) -> int:
        """Number of rows."""

    def column(self, name: str) -> Sequence[Any]:
        """The values of column ``name`` of every row, by position."""

    def item_at(self, position: int) -> dict[str, Any]:
        """The JSON object at ``position``."""

    def id_view(self) -> OrderedView:
        """All rows ordered by ``_id`` (cheap; used for unfiltered ``_id`` lists)."""


class _KeySequence:
    """Adapts an :class:`OrderedView` to the sequence protocol ``bisect`` needs."""

    def __init__(self, view: OrderedView) -> None:
        self._view = view

    def __len__(self) -> int:
        return len(self._view)

    def __getitem__(self, position: int) -> RowKey:
        return self._view.key_at(position)


class MaterializedView:
    """A filtered and sorted selection of a source's rows."""

    def __init__(
        self, keys: list[RowKey], positions: list[int], item_of: Callable[[int], dict[str, Any]]
    ) -> None:
        self._keys = keys
        self._positions = positions
        self._item_of = item_of

    def __len__(self) -> int:
        return len(self._keys)

    def key_at(self, position: int) -> RowKey:
        """The key of the selected row at ``position``."""
        return self._keys[position]

    def item_at(self, position: int) -> dict[str, Any]:
        """The JSON object of the selected row at ``position``."""
        return self._item_of(self._positions[position])


def _filtered_positions(source: ListSource, query: ListQuery) -> Iterable[int]:
    positions: Iterable[int] = range(source.size())
    group = query.filter_group
    if group and query.filter_operator == "and":
        for entry in group:
            values = source.column(entry.field)
            positions = [p for p in positions if entry.matches(values[p])]
    elif group:
        tests = [(entry, source.column(entry.field)) for entry in group]
        positions = [
            p for p in positions if any(entry.matches(values[p]) for entry, values in tests)
        ]
    for condition in query.conditions:
        values = source.column(condition.field)
        positions = [p for p in positions if condition.matches(values[p])]
    return positions


class SelectionCache:
    """An LRU of materialized selections keyed by source, version and query fingerprint.

    Bounded by rows, not entries: a selection of 200k rows takes ~30 MB, so a handful of big
    ones fit, while a partitioned export's many small selections (one per partition, each
    asked for page after page) all stay cached instead of being re-filtered on every page.
    """

    def __init__(self, size: int = 64, max_rows: int = 400_000) -> None:
        self._size = size
        self._max_rows = max_rows
        self._rows = 0
        self._entries: OrderedDict[tuple[int, str, int], MaterializedView] = OrderedDict()

    def get(self, key: tuple[int, str, int]) -> MaterializedView | None:
        """The cached selection for ``key`` (refreshing its recency), or None."""
        view = self._entries.get(key)
        if view is not None:
            self._entries.move_to_end(key)
        return view

    def put(self, key: tuple[int, str, int], view: MaterializedView) -> None:
        """Remember ``view``, evicting the least recently used entry when full."""
        previous = self._entries.pop(key, None)
        if previous is not None:
            self._rows -= len(previous)
        self._entries[key] = view
        self._rows += len(view)
        while len(self._entries) > 1 and (
            len(self._entries) > self._size or self._rows > self._max_rows
        ):
            _, evicted = self._entries.popitem(last=False)
            self._rows -= len(evicted)

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()
        self._rows = 0


def select(
    source: ListSource, query: ListQuery, cache: SelectionCache | None = None
) -> OrderedView:
    """The rows of ``source`` that pass ``query``, in ascending ``(sort key, _id)`` order."""
    if query.is_plain and query.sort_field == "_id":
        return source.id_view()
    version = source.version
    cache_key = (id(source), query.fingerprint, version if version is not None else -1)
    if cache is not None and version is not None:
        cached = cache.get(cache_key)
        if cached is not None:
            return cached
    positions = list(_filtered_positions(source, query))
    ids = source.column("_id")
    if query.sort_field == "_id":
        keys: list[RowKey] = [(sort_key(ids[p]), ids[p]) for p in positions]
    else:
        values = source.column(query.sort_field)
        ordered = sorted(((sort_key(values[p]), ids[p]), p) for p in positions)
        keys = [key for key, _ in ordered]
        positions = [p for _, p in ordered]
    view = MaterializedView(keys, positions, source.item_at)
    if cache is not None and version is not None:
        cache.put(cache_key, view)
    return view


def page_body(view: OrderedView, query: ListQuery) -> dict[str, Any]:
    """The full list response body (envelope, page of data, pagination, options)."""
    total = len(view)
    if query.cursor is None:
        start, end = 0, min(total, query.limit)
    else:
        keys = _KeySequence(view)
        low = bisect.bisect_left(keys, query.cursor.key)
        high = bisect.bisect_right(keys, query.cursor.key)
        if query.cursor.direction == "next":
            start = total - low if query.descending else high
            end = min(total, start + query.limit)
        else:
            end = total - high if query.descending else low
            start = max(0, end - query.limit)

    def asc_position(presented: int) -> int:
        return total - 1 - presented if query.descending else presented

    items = [view.item_at(asc_position(p)) for p in range(start, end)]
    has_prev = start > 0 and bool(items)
    has_next = end < total and bool(items)
    next_cursor = prev_cursor = None
    if items:
        if has_next:
            next_cursor = encode_cursor(
                "next", items[-1].get(query.sort_field), str(items[-1]["_id"]), query.fingerprint
            )
        if has_prev:
            prev_cursor = encode_cursor(
                "prev", items[0].get(query.sort_field), str(items[0]["_id"]), query.fingerprint
            )
    return {
        "code": 200,
        "reason": "",
        "data": items,
        "pagination": {
            "hasNext": has_next,
            "hasPrev": has_prev,
            "nextCursor": next_cursor,
            "prevCursor": prev_cursor,
            "pageResults": len(items),
            "totalResults": total,
        },
        "options": query.options,
        "success": True,
    }
