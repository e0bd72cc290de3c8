"""Page-number lists (portal links): page 1, then the other pages concurrently, in page order.

After page 1 (which says how many pages there are), ``concurrency`` requests stay in flight all
the time as plain asyncio tasks in a window keyed by page number: a slow page does not stall the
others, and pages that arrived early wait to be handed over in order (at most
``2 * concurrency`` of them are held). Items already seen on an earlier page (lists shift under
concurrent inserts and deletes) are not repeated.

With ``finish`` (the resources pass their model builder), a fetch task ends as soon as its page
is decoded and the items are built as the page is handed over: building 25 nested models per
page then overlaps the requests in flight instead of holding back the next one (1,000 portal
links at 20 ms: 8.2x -> 8.8x a sequential loop, the same as plain dicts).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator, Hashable
from typing import Any, Generic, TypeVar

from .cursor import cancel_all, check_count, let_it_start
from .pages import NumberedPage

__all__ = ["AsyncPagePaginator", "FetchNumberedPage"]

T = TypeVar("T")

FetchNumberedPage = Callable[[int], Awaitable[NumberedPage[T]]]


def _key(item: Any) -> Hashable | None:
    value = item.get("_id") if type(item) is dict else getattr(item, "id", None)
    return value if isinstance(value, (str, int)) else None


class AsyncPagePaginator(Generic[T]):
    """Streams a page-number list: page 1, then the rest concurrently, yielded in page order.

    Items seen on an earlier page (shifted by concurrent inserts/deletes) are not repeated;
    ``max_items`` stops after that many items. ``finish``, when given, turns each fetched page
    into the page handed over (e.g. builds its models), just before it is handed over.
    """

    def __init__(
        self,
        fetch: FetchNumberedPage[T],
        *,
        first_page: int = 1,
        concurrency: int = 16,
        max_items: int | None = None,
        finish: Callable[[NumberedPage[T]], NumberedPage[T]] | None = None,
    ) -> None:
        check_count("concurrency", concurrency, 1)
        check_count("max_items", max_items, 1, optional=True)
        self._fetch = fetch
        self._finish = finish
        self._first = first_page
        self._concurrency = concurrency
        self._max_items = max_items

    def __await__(self) -> Generator[Any, None, NumberedPage[T]]:
        """``await paginator``: just the first requested page."""
        return self._first_page().__await__()

    async def _first_page(self) -> NumberedPage[T]:
        page = await self._fetch(self._first)
        return page if self._finish is None else self._finish(page)

    async def _numbered(self) -> AsyncGenerator[NumberedPage[T], None]:
        first = await self._first_page()
        yield first
        finish = self._finish
        last = first.pages
        next_page = self._first + 1
        held = 2 * self._concurrency
        window: dict[int, asyncio.Task[NumberedPage[T]]] = {}
        try:
            while next_page <= last or window:
                in_flight = sum(1 for task in window.values() if not task.done())
                while next_page <= last and in_flight < self._concurrency and len(window) < held:
                    window[next_page] = asyncio.ensure_future(self._fetch(next_page))
                    next_page += 1
                    in_flight += 1
                lowest = window[min(window)]
                if not lowest.done():
                    running = [task for task in window.values() if not task.done()]
                    await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                    continue
                page = window.pop(min(window)).result()
                await let_it_start()
                yield page if finish is None else finish(page)
        finally:
            await cancel_all(list(window.values()))

    async def pages(self) -> AsyncIterator[NumberedPage[T]]:
        """Stream pages in order, fetching up to ``concurrency`` pages ahead.

        Items seen on an earlier page are left out of later pages; ``max_items`` cuts the page
        that reaches it and ends the walk.
        """
        seen: set[Hashable] = set()
        remaining = self._max_items
        walk = self._numbered()
        try:
            async for page in walk:
                items = []
                for item in page.items:
                    key = _key(item)
                    if key is not None:
                        if key in seen:
                            continue
                        seen.add(key)
                    items.append(item)
                if remaining is not None:
                    items = items[:remaining]
                    remaining -= len(items)
                if len(items) != len(page.items):
                    page = NumberedPage(items, page.page, page.per_page, page.total, page.pages)
                yield page
                if remaining == 0:
                    return
        finally:
            await walk.aclose()

    async def __aiter__(self) -> AsyncIterator[T]:
        """Stream items across all pages (duplicates from shifting pages dropped)."""
        async for page in self.pages():
            for item in page.items:
                yield item

    async def to_list(self) -> list[T]:
        """Collect every item into a list."""
        return [item async for item in self]
