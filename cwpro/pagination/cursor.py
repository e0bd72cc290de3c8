"""Cursor walks: :class:`AsyncCursorPaginator`, and the walk machinery the export reuses.

A walk fetches its pages in order. With ``prefetch=k`` up to ``k`` pages are fetched ahead as a
chain of plain asyncio tasks (each waits for the page before it, reads its ``nextCursor`` and
fetches), so at most one request of a walk is in flight and at most ``k + 1`` pages are held.
After handing a page over, the walk yields to the event loop once so that the next request is
on the wire before the consumer (which may be CPU-bound and never yield) gets the page: without
that, a CPU-bound consumer gets no overlap at all.

Each walk is checked by a :class:`~cwpro.pagination._guard.WalkGuard`: cursor cycles of any
length and ``hasNext`` without a cursor raise :class:`cwpro.PaginationError` (after the page
that revealed it was handed over, so every item is yielded once); ids already yielded are
dropped; a page repeating the previous page's ids raises.

``break``, an exception or cancellation cancels the tasks still running and awaits them; nothing
is left pending. A failed fetch's error carries ``resume_cursor``: pass it back as ``cursor=``
to continue with no gap and no repeat.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from typing import Any, Generic, TypeVar

import attrs

from .._errors import CwproError, InvalidArgumentError
from ._guard import WalkGuard
from .pages import CursorPage

__all__ = ["AsyncCursorPaginator", "CursorWalk", "FetchCursorPage", "check_count"]

T = TypeVar("T")

FetchCursorPage = Callable[[str | None], Awaitable[CursorPage[T]]]


def check_count(name: str, value: Any, minimum: int, *, optional: bool = False) -> None:
    """Raise :class:`cwpro.InvalidArgumentError` unless ``value`` is an int >= ``minimum``."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgumentError(f"{name} must be an integer >= {minimum}, got {value!r}")


def attach_cursor(exc: BaseException, cursor: str | None) -> None:
    """Give a failure the cursor a walk resumes from, unless it already has one."""
    if isinstance(exc, CwproError) and exc.resume_cursor is None:
        exc.resume_cursor = cursor


async def let_it_start() -> None:
    """One trip through the loop: a just-scheduled fetch writes its request to the socket."""
    await asyncio.sleep(0)


async def cancel_all(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks`` and wait until each has finished (their errors are consumed)."""
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


class CursorWalk(Generic[T]):
    """One walk over a cursor list: :meth:`next` gives page after page, ``None`` at the end.

    :attr:`resume_cursor` is where the walk would continue once the page just handed over is
    stored; :attr:`exhausted` is true once the last page was handed over. Call :meth:`close`
    when done (it cancels what is still in flight).
    """

    def __init__(
        self,
        fetch: FetchCursorPage[T],
        cursor: str | None,
        *,
        prefetch: int,
        max_items: int | None = None,
    ) -> None:
        self._fetch = fetch
        self._start = cursor
        self._prefetch = prefetch
        self._remaining = max_items
        self._guard = WalkGuard(cursor)
        self._ahead: deque[asyncio.Task[CursorPage[T] | None]] = deque()
        self._tail: asyncio.Task[CursorPage[T] | None] | None = None
        self.resume_cursor: str | None = cursor
        self.exhausted = False
        #: True once ``max_items`` items were handed over.
        self.stopped = False
        self.pages_fetched = 0

    async def _fetch_page(self, cursor: str | None) -> CursorPage[T]:
        try:
            page = await self._fetch(cursor)
        except BaseException as exc:
            attach_cursor(exc, cursor)
            raise
        self.pages_fetched += 1
        return page

    async def _first(self) -> CursorPage[T] | None:
        return await self._fetch_page(self._start)

    async def _after(self, previous: asyncio.Task[CursorPage[T] | None]) -> CursorPage[T] | None:
        try:
            page = await previous
        except Exception:
            return None  # the consumer gets that failure from ``previous`` itself, first
        if page is None:
            return None
        cursor = self._guard.next_cursor(page)
        if cursor is None:
            return None
        return await self._fetch_page(cursor)

    def _schedule(self) -> None:
        coroutine = self._first() if self._tail is None else self._after(self._tail)
        self._tail = asyncio.ensure_future(coroutine)
        self._ahead.append(self._tail)

    async def next(self) -> CursorPage[T] | None:
        """The next page (items already yielded in this walk dropped), or ``None`` at the end."""
        if self.exhausted or self.stopped:
            return None
        while len(self._ahead) < self._prefetch + 1:
            self._schedule()
        fetched = await self._ahead.popleft()
        if fetched is None:  # defensive: a page without a next one is never followed
            self.exhausted = True
            await self.close()
            return None
        page = self._guard.fresh(fetched)
        self.resume_cursor = fetched.next_cursor if fetched.has_next else None
        self.exhausted = not fetched.has_next
        if self._remaining is not None and len(page.items) >= self._remaining:
            if len(page.items) > self._remaining:
                page = attrs.evolve(page, items=page.items[: self._remaining])
                self.resume_cursor = page.cursor  # the rest of this page was not handed over
            self.stopped = True
        if self._remaining is not None:
            self._remaining -= len(page.items)
        if self.exhausted or self.stopped:
            await self.close()
        elif self._prefetch:
            while len(self._ahead) < self._prefetch:
                self._schedule()
            await let_it_start()
        return page

    def take_in_flight(self) -> list[asyncio.Task[CursorPage[T] | None]]:
        """Hand over the fetches still in flight; the walk no longer owns them.

        For a caller that cancels several walks at once: all of them are cancelled before the
        first wait, so a second cancellation during that wait leaves none running.
        """
        tasks = list(self._ahead)
        self._ahead.clear()
        return tasks

    async def close(self) -> None:
        """Cancel and await the fetches still in flight (idempotent)."""
        await cancel_all(self.take_in_flight())


class AsyncCursorPaginator(Generic[T]):
    """Streams a cursor list: iterate it for the items, or its pages with ``pages()``.

    ``await paginator`` gives just the first page (no prefetch). ``cursor`` is where the walk
    starts (``None`` = first page); ``prefetch`` pages are fetched ahead while you work on the
    current one (default 1, 0 = off); ``max_items`` stops the walk after that many items.
    :attr:`resume_cursor` is where it would continue: once a page has been handed to you, the
    cursor of the page after it (after a page cut short by ``max_items``: that page's own
    cursor). Save it after you have stored a page and a later ``list(cursor=...)`` goes on
    exactly. Cursor cycles, ``hasNext`` without a cursor and a page repeating the previous one
    raise :class:`cwpro.PaginationError`; ids already yielded in the walk are dropped.
    """

    def __init__(
        self,
        fetch: FetchCursorPage[T],
        *,
        cursor: str | None = None,
        prefetch: int = 1,
        max_items: int | None = None,
    ) -> None:
        check_count("prefetch", prefetch, 0)
        check_count("max_items", max_items, 1, optional=True)
        self._fetch = fetch
        self._start = cursor
        self._prefetch = prefetch
        self._max_items = max_items
        self.resume_cursor: str | None = cursor
        #: True once the last page was handed out.
        self.exhausted = False
        self.pages_fetched = 0

    def __await__(self) -> Generator[Any, None, CursorPage[T]]:
        """``await paginator``: just the first page (no prefetch)."""
        return self._fetch(self._start).__await__()

    def _walk(self, cursor: str | None) -> CursorWalk[T]:
        """A new walk from ``cursor`` (the export runs one per partition)."""
        return CursorWalk(self._fetch, cursor, prefetch=self._prefetch, max_items=self._max_items)

    async def pages(self) -> AsyncIterator[CursorPage[T]]:
        """Stream pages; the next ``prefetch`` pages are fetched while you hold this one."""
        walk = self._walk(self.resume_cursor)
        fetched_before = self.pages_fetched
        try:
            while True:
                page = await walk.next()
                self.pages_fetched = fetched_before + walk.pages_fetched
                if page is None:
                    return
                self.resume_cursor = walk.resume_cursor
                self.exhausted = walk.exhausted
                yield page
                if walk.exhausted or walk.stopped:
                    return
        finally:
            await walk.close()

    async def __aiter__(self) -> AsyncIterator[T]:
        """Stream items across pages."""
        async for page in self.pages():
            for item in page.items:
                yield item

    async def to_list(self, *, max_items: int | None = None) -> list[T]:
        """Collect every item (or the first ``max_items``) into a list. Mind the memory."""
        result: list[T] = []
        async for page in self.pages():
            result.extend(page.items)
            if max_items is not None and len(result) >= max_items:
                return result[:max_items]
        return result
