"""What keeps one cursor walk honest: it must advance, never loop, and yield each item once.

* **Cursors.** Every cursor the walk fetched with is remembered as an 8-byte BLAKE2b digest (a
  Python int in a set: about 70-100 bytes per page, so a walk of 1,000,000 items in pages of 100
  keeps under 1 MB). A ``nextCursor`` seen before in the same walk (a cycle of any length:
  A -> A, A -> B -> A, ...) raises :class:`cwpro.PaginationError` carrying that cursor, once the
  page that led back to it has been handed over. A page with ``hasNext`` and no usable cursor
  raises before it is handed over (its items are not delivered; resume re-fetches it).
* **Items.** Ids already yielded in the walk are dropped (the API's 24-hex-digit ids are kept as
  96-bit ints). The memory is bounded: two generations of :data:`ID_GENERATION` ids, so the walk
  remembers at least the last 32,768 ids it yielded and at most 65,536 (about 5 MB at most).
  Items without an id are always yielded.
* **Pages.** A page whose ids are exactly the previous page's raises
  :class:`cwpro.PaginationError` (a server that serves one page over and over).
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable
from typing import Any, Final, TypeVar

import attrs

from .._errors import PaginationError
from .pages import CursorPage

__all__ = ["ID_GENERATION", "WalkGuard"]

T = TypeVar("T")

#: Ids per generation of the seen-id memory (see the module docstring).
ID_GENERATION: Final = 32_768


def _digest(cursor: str) -> int:
    raw = hashlib.blake2b(cursor.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(raw, "big")


def _key(item: Any) -> Hashable | None:
    """The id of a model (``.id``) or of a plain dict (``"_id"``); ``None`` when it has none."""
    value = item.get("_id") if type(item) is dict else getattr(item, "id", None)
    if type(value) is str:
        if len(value) == 24:
            try:
                return int(value, 16)
            except ValueError:
                return value
        return value
    if value is None or isinstance(value, (int, float, bool)):
        return value
    return None


def _shown(cursor: str) -> str:
    return cursor if len(cursor) <= 80 else cursor[:77] + "..."


class WalkGuard:
    """The checks of one walk (see the module docstring); not shared between walks."""

    def __init__(self, start: str | None) -> None:
        self._cursors: set[int] = set()
        if start is not None:
            self._cursors.add(_digest(start))
        self._ids: set[Hashable] = set()
        self._older_ids: set[Hashable] = set()
        self._previous: list[Hashable | None] = []

    def next_cursor(self, page: CursorPage[Any]) -> str | None:
        """Where the walk goes after ``page`` (``None``: it ended); raises if it cannot go on.

        Called once per page, in page order.
        """
        if not page.has_next:
            return None
        cursor = page.next_cursor
        if not isinstance(cursor, str) or not cursor:
            return None  # refused by fresh() before the page is handed over
        digest = _digest(cursor)
        if digest in self._cursors:
            error = PaginationError(
                f"the API's cursors run in a cycle: nextCursor {_shown(cursor)!r} was already "
                "followed in this walk; following it again would loop forever"
            )
            error.resume_cursor = cursor
            raise error
        self._cursors.add(digest)
        return cursor

    def fresh(self, page: CursorPage[T]) -> CursorPage[T]:
        """``page`` without the items already yielded in this walk (the same page if none).

        A page that says more follow but gives no cursor is refused before it is handed over
        (``resume_cursor`` is its own cursor): its items are not counted as delivered.
        """
        if page.has_next and (not isinstance(page.next_cursor, str) or not page.next_cursor):
            error = PaginationError(
                f"the API says more pages follow (hasNext) but gives no usable nextCursor "
                f"(got {page.next_cursor!r}): the walk cannot continue"
            )
            error.resume_cursor = page.cursor
            raise error
        items = page.items
        keys = [_key(item) for item in items]
        if keys and keys == self._previous and None not in keys:
            error = PaginationError(
                f"the API answered the same {len(keys)} items as the previous page"
                + (f" for cursor {_shown(page.cursor)!r}" if page.cursor else "")
                + ": the walk does not advance"
            )
            error.resume_cursor = page.cursor
            raise error
        self._previous = keys
        unique = set(keys)
        if (
            len(unique) == len(keys)
            and None not in unique
            and unique.isdisjoint(self._ids)
            and unique.isdisjoint(self._older_ids)
        ):
            self._ids |= unique
            kept = page
        else:
            fresh: list[T] = []
            for item, key in zip(items, keys, strict=True):
                if key is None:
                    fresh.append(item)
                elif key not in self._ids and key not in self._older_ids:
                    self._ids.add(key)
                    fresh.append(item)
            kept = attrs.evolve(page, items=fresh)
        if len(self._ids) >= ID_GENERATION:
            self._older_ids, self._ids = self._ids, set()
        return kept
