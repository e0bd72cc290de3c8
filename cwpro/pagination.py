"""Pages streamed through async iterators, with concurrency where it pays.

* :class:`AsyncCursorPaginator` — CWP cursor lists. ``async for item in paginator`` streams
  items; ``paginator.pages()`` streams pages; ``await paginator`` gives the first page.
  Up to ``prefetch`` next pages are fetched by a background task while you work on the current
  one (a bounded queue keeps memory flat). After scheduling the fetch the paginator yields to
  the loop once, so the next request is on the wire before your code gets the page: without
  that, a CPU-bound consumer gets no overlap at all.
* :class:`AsyncExport` — partitioned concurrent export: several cursor walks (partitions, e.g.
  date ranges from :func:`split_range`) under a concurrency limit, merged into one stream.
  :meth:`AsyncExport.checkpoint` gives each partition's resume cursor for exactly-once jobs.
* :class:`AsyncPagePaginator` — page-number lists (portal links): page 1 first, then the other
  pages concurrently (a bounded window), yielded in page order.

Every iterator cleans up after itself: ``break``, an exception, or cancellation cancels the
in-flight requests and awaits them; nothing is left pending. When a fetch fails, the error
carries ``resume_cursor``: pass it back as ``cursor=`` to continue with no gap and no repeat.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs

from ._errors import CwproError, PaginationError
from ._lazy import lazy_module

if TYPE_CHECKING:
    import anyio
else:
    anyio = lazy_module("anyio", globals())

__all__ = [
    "AsyncCursorPaginator",
    "AsyncExport",
    "AsyncPagePaginator",
    "CursorPage",
    "NumberedPage",
    "PartitionState",
    "split_range",
]

T = TypeVar("T")
_DONE = "<done>"


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


FetchCursorPage = Callable[[str | None], Awaitable[CursorPage[T]]]
FetchNumberedPage = Callable[[int], Awaitable[NumberedPage[T]]]


def _attach_cursor(exc: BaseException, cursor: str | None) -> None:
    if isinstance(exc, CwproError) and exc.resume_cursor is None:
        exc.resume_cursor = cursor


async def _let_it_start() -> None:
    # One trip through the loop lets a just-scheduled fetch write its request to the socket
    # before the consumer (which may be CPU-bound) gets control back.
    await asyncio.sleep(0)


class AsyncCursorPaginator(Generic[T]):
    """Streams a cursor list. See the module docstring.

    ``cursor`` is where the walk starts (``None`` = first page). :attr:`resume_cursor` is
    where it would continue: once a page has been handed to you, the cursor of the page after
    it. Save it after you have stored a page and a later ``list(cursor=...)`` goes on exactly.
    """

    def __init__(
        self, fetch: FetchCursorPage[T], *, cursor: str | None = None, prefetch: int = 1
    ) -> None:
        if isinstance(prefetch, bool) or not isinstance(prefetch, int) or prefetch < 0:
            raise ValueError(f"prefetch must be an integer >= 0, got {prefetch!r}")
        self._fetch = fetch
        self._start = cursor
        self._prefetch = prefetch
        self.resume_cursor: str | None = cursor
        #: True once the last page was handed out.
        self.exhausted = False
        self.pages_fetched = 0

    def __await__(self) -> Generator[Any, None, CursorPage[T]]:
        """``await paginator``: just the first page (no prefetch)."""
        return self._fetch(self._start).__await__()

    async def _fetch_page(self, cursor: str | None) -> CursorPage[T]:
        try:
            page = await self._fetch(cursor)
        except BaseException as exc:
            _attach_cursor(exc, cursor)
            raise
        if page.has_next and cursor is not None and page.next_cursor == cursor:
            error = PaginationError(
                "the API answered a page whose next cursor is the cursor that fetched it; "
                "following it would loop forever"
            )
            error.resume_cursor = cursor
            raise error
        self.pages_fetched += 1
        return page

    async def pages(self) -> AsyncIterator[CursorPage[T]]:
        """Stream pages; the next ``prefetch`` pages are fetched while you hold this one."""
        if self._prefetch == 0:
            cursor = self.resume_cursor
            while True:
                page = await self._fetch_page(cursor)
                cursor = page.next_cursor if page.has_next else None
                self.resume_cursor = cursor
                self.exhausted = cursor is None
                yield page
                if cursor is None:
                    return
        queue: asyncio.Queue[tuple[CursorPage[T] | None, BaseException | None]] = asyncio.Queue(
            maxsize=self._prefetch
        )

        async def produce(cursor: str | None) -> None:
            while True:
                try:
                    page = await self._fetch_page(cursor)
                except Exception as exc:
                    await queue.put((None, exc))
                    return
                await queue.put((page, None))
                if not page.has_next or not page.next_cursor:
                    return
                cursor = page.next_cursor

        producer = asyncio.ensure_future(produce(self.resume_cursor))
        try:
            while True:
                fetched, error = await queue.get()
                if error is not None:
                    raise error
                assert fetched is not None
                await _let_it_start()
                self.resume_cursor = fetched.next_cursor if fetched.has_next else None
                self.exhausted = self.resume_cursor is None
                yield fetched
                if self.exhausted:
                    return
        finally:
            if not producer.done():
                producer.cancel()
            await asyncio.gather(producer, return_exceptions=True)

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


@attrs.define
class PartitionState:
    """Where one export partition stands: ``cursor`` to resume from, ``done`` when finished."""

    index: int
    query: Mapping[str, Any]
    cursor: str | None = None
    done: bool = False
    items: int = 0
    pages: int = 0


class AsyncExport(Generic[T]):
    """A partitioned concurrent export; iterate items, or pages tagged with their partition.

    Made by ``client.<resource>.export(partitions=[...], concurrency=8, ordered=False, **query)``.
    ``checkpoint()`` returns, per partition, the cursor after the last page handed to you
    (``None`` with ``done=True`` when finished), so a job that records it after writing each page
    resumes with ``export(..., resume=checkpoint)`` with no gap and no repeat.
    """

    def __init__(
        self,
        make_paginator: Callable[[Mapping[str, Any], str | None], AsyncCursorPaginator[T]],
        partitions: Sequence[Mapping[str, Any]],
        *,
        concurrency: int = 8,
        ordered: bool = False,
        buffer_pages: int = 2,
        resume: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be an integer >= 1, got {concurrency!r}")
        if not partitions:
            raise ValueError("export needs at least one partition (use [{}] for the whole list)")
        self._make = make_paginator
        self._concurrency = concurrency
        self._ordered = ordered
        self._buffer = max(1, buffer_pages)
        self.partitions = [PartitionState(i, dict(p)) for i, p in enumerate(partitions)]
        if resume is not None:
            if len(resume) != len(self.partitions):
                raise ValueError("resume checkpoint does not match the partitions (count differs)")
            for state, saved in zip(self.partitions, resume, strict=True):
                state.cursor = saved.get("cursor")
                state.done = bool(saved.get("done", False))
                state.items = int(saved.get("items", 0))
                state.pages = int(saved.get("pages", 0))

    def checkpoint(self) -> list[dict[str, Any]]:
        """JSON-ready resume state of every partition (see the class docstring)."""
        return [
            {
                "index": s.index,
                "cursor": s.cursor,
                "done": s.done,
                "items": s.items,
                "pages": s.pages,
            }
            for s in self.partitions
        ]

    @property
    def done(self) -> bool:
        """True when every partition has been delivered completely."""
        return all(s.done for s in self.partitions)

    async def pages(self) -> AsyncIterator[tuple[PartitionState, CursorPage[T]]]:
        """Stream ``(partition, page)``; a partition's cursor moves past a page as you get it."""
        pending = [s for s in self.partitions if not s.done]
        if not pending:
            return
        if self._ordered:
            channels = [anyio.create_memory_object_stream[Any](self._buffer) for _ in pending]
        else:
            shared = anyio.create_memory_object_stream[Any](self._buffer * self._concurrency)
            channels = [shared] * len(pending)
        # The task group lives in its own task, not in this generator: a generator finalized
        # after ``break`` runs its cleanup in another task, where a cancel scope cannot exit.
        runner = asyncio.ensure_future(self._run(pending, [send for send, _ in channels]))  # noqa: RUF006
        receivers = list({id(r): r for _, r in channels}.values())
        try:
            for receive in receivers:
                async with receive:
                    async for state, page, error in receive:
                        if error is not None:
                            _attach_cursor(error, state.cursor)
                            raise error
                        if page is None:
                            state.done = True
                            state.cursor = None
                            continue
                        state.items += len(page.items)
                        state.pages += 1
                        state.cursor = page.next_cursor if page.has_next else None
                        # The last page handed over finishes the partition now, not when its
                        # end marker is read: a checkpoint taken in between (after an error in
                        # another partition, or a break) must not restart it from the top.
                        state.done = state.cursor is None
                        yield state, page
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
            for send, receive in channels:
                send.close()
                receive.close()

    async def _run(self, pending: list[PartitionState], sends: list[Any]) -> None:
        limiter = anyio.CapacityLimiter(self._concurrency)

        async def run_partition(state: PartitionState, send: Any) -> None:
            async with send, limiter:
                paginator = self._make(state.query, state.cursor)
                try:
                    async for page in paginator.pages():
                        await send.send((state, page, None))
                except Exception as exc:
                    await send.send((state, None, exc))
                    return
                await send.send((state, None, None))

        async with anyio.create_task_group() as tg:
            for state, send in zip(pending, sends, strict=True):
                tg.start_soon(run_partition, state, send.clone())
            for send in {id(s): s for s in sends}.values():
                send.close()  # the clones keep each channel open until their partition ends

    async def __aiter__(self) -> AsyncIterator[T]:
        """Stream items from all partitions (merged; partition order if ``ordered=True``)."""
        async for _, page in self.pages():
            for item in page.items:
                yield item


class AsyncPagePaginator(Generic[T]):
    """Streams a page-number list: page 1, then the rest concurrently, yielded in page order.

    Items seen on an earlier page (shifted by concurrent inserts/deletes) are not repeated.
    """

    def __init__(
        self, fetch: FetchNumberedPage[T], *, first_page: int = 1, concurrency: int = 16
    ) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be an integer >= 1, got {concurrency!r}")
        self._fetch = fetch
        self._first = first_page
        self._concurrency = concurrency

    def __await__(self) -> Generator[Any, None, NumberedPage[T]]:
        """``await paginator``: just the first requested page."""
        return self._fetch(self._first).__await__()

    async def pages(self) -> AsyncIterator[NumberedPage[T]]:
        """Stream pages in order, fetching up to ``concurrency`` pages ahead."""
        first = await self._fetch(self._first)
        yield first
        last = first.pages
        next_page = self._first + 1
        # ``concurrency`` requests stay in flight all the time (a slow page does not stall the
        # others); pages that arrived early wait in order, at most ``2 * concurrency`` of them.
        buffered_limit = 2 * self._concurrency
        window: dict[int, asyncio.Future[NumberedPage[T]]] = {}
        try:
            while next_page <= last or window:
                in_flight = sum(1 for task in window.values() if not task.done())
                while (
                    next_page <= last
                    and in_flight < self._concurrency
                    and len(window) < buffered_limit
                ):
                    window[next_page] = asyncio.ensure_future(self._fetch(next_page))
                    next_page += 1
                    in_flight += 1
                lowest = min(window)
                if not window[lowest].done():
                    pending = [task for task in window.values() if not task.done()]
                    await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    continue
                page = window.pop(lowest).result()
                await _let_it_start()
                yield page
        finally:
            for task in window.values():
                task.cancel()
            if window:
                await asyncio.gather(*window.values(), return_exceptions=True)

    async def __aiter__(self) -> AsyncIterator[T]:
        """Stream items across all pages (duplicates from shifting pages dropped)."""
        seen: set[Any] = set()
        async for page in self.pages():
            for item in page.items:
                key = getattr(item, "id", None)
                if key is not None:
                    if key in seen:
                        continue
                    seen.add(key)
                yield item

    async def to_list(self) -> list[T]:
        """Collect every item into a list."""
        return [item async for item in self]


def split_range(field: str, start: Any, end: Any, parts: int) -> list[dict[str, Any]]:
    """Split ``[start, end]`` on ``field`` into ``parts`` ``between`` partitions that never overlap.

    The API's ``between`` includes both ends, so each partition ends one step before the next
    begins: 1 for integers, 1 millisecond (the API's resolution) for datetimes, one day for dates.
    Together the partitions cover ``[start, end]`` exactly. Returns a list of
    ``{"between": {field: (lo, hi)}}`` ready for ``export(partitions=...)``.
    """
    if isinstance(parts, bool) or not isinstance(parts, int) or parts < 1:
        raise ValueError(f"parts must be an integer >= 1, got {parts!r}")
    if isinstance(start, _dt.datetime) and isinstance(end, _dt.datetime):
        if (start.tzinfo is None) != (end.tzinfo is None):
            raise ValueError("split_range: start and end must both be aware or both naive")
        step: Any = _dt.timedelta(milliseconds=1)
        start = start.replace(microsecond=start.microsecond // 1000 * 1000)
        span_units = (end - start) // step
    elif (
        isinstance(start, _dt.date)
        and isinstance(end, _dt.date)
        and not isinstance(start, _dt.datetime)
        and not isinstance(end, _dt.datetime)
    ):
        step = _dt.timedelta(days=1)
        span_units = (end - start).days
    elif (
        isinstance(start, int)
        and isinstance(end, int)
        and not isinstance(start, bool)
        and not isinstance(end, bool)
    ):
        step = 1
        span_units = end - start
    else:
        raise ValueError("split_range: start and end must both be ints, dates or datetimes")
    if span_units < 0:
        raise ValueError(f"split_range: start {start!r} is after end {end!r}")
    parts = min(parts, span_units + 1)
    bounds = []
    total = span_units + 1
    for i in range(parts):
        lo_units = total * i // parts
        hi_units = total * (i + 1) // parts - 1
        bounds.append((start + step * lo_units, start + step * hi_units))
    return [{"between": {field: (lo, hi)}} for lo, hi in bounds]
