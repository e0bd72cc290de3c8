"""Partitioned concurrent export: several cursor walks at once, merged into one stream.

Up to ``concurrency`` partitions are walked at a time, each by its own
:class:`~cwpro.pagination.cursor.CursorWalk` (one request in flight per walk). The merge keeps
one plain asyncio task per running partition ("give me your next page") and waits for the first
to finish (``ordered=False``) or for the lowest partition's (``ordered=True``); a partition that
delivered a page gets its next task at once, so memory stays bounded either way: per running
partition, the page waiting to be handed over plus its walk's prefetch. When a partition ends,
the next pending one starts. Checkpoints: :mod:`cwpro.pagination.checkpoint`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from .._errors import InvalidArgumentError
from .checkpoint import PartitionState, checkpoint_of, restore, states_for
from .cursor import AsyncCursorPaginator, CursorWalk, attach_cursor, cancel_all, check_count
from .pages import CursorPage

__all__ = ["AsyncExport", "MakePaginator"]

T = TypeVar("T")

#: ``(partition query, cursor) -> paginator`` for one partition.
MakePaginator = Callable[[Mapping[str, Any], str | None], AsyncCursorPaginator[T]]


class AsyncExport(Generic[T]):
    """A partitioned concurrent export; iterate items, or pages tagged with their partition.

    Made by ``client.<resource>.export(partitions=[...], concurrency=8, ordered=False, **query)``.
    ``checkpoint()`` returns, per partition, the cursor after the last page handed to you
    (``None`` with ``done=True`` when finished), so a job that records it after writing each page
    resumes with ``export(..., resume=checkpoint)`` with no gap and no repeat.
    """

    def __init__(
        self,
        make_paginator: MakePaginator[T],
        partitions: Sequence[Mapping[str, Any]],
        *,
        concurrency: int = 8,
        ordered: bool = False,
        resume: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        check_count("concurrency", concurrency, 1)
        if not partitions:
            raise InvalidArgumentError(
                "export needs at least one partition (use [{}] for the whole list)"
            )
        self._make = make_paginator
        self._concurrency = concurrency
        self._ordered = ordered
        self.partitions: list[PartitionState] = states_for(partitions)
        if resume is not None:
            restore(self.partitions, resume)

    def checkpoint(self) -> list[dict[str, Any]]:
        """JSON-ready resume state of every partition (see the class docstring)."""
        return checkpoint_of(self.partitions)

    @property
    def done(self) -> bool:
        """True when every partition has been delivered completely."""
        return all(s.done for s in self.partitions)

    def _start(self, state: PartitionState) -> CursorWalk[T]:
        return self._make(state.query, state.cursor)._walk(state.cursor)

    async def pages(self) -> AsyncIterator[tuple[PartitionState, CursorPage[T]]]:
        """Stream ``(partition, page)``; a partition's cursor moves past a page as you get it."""
        pending = deque(s for s in self.partitions if not s.done)
        walks: dict[int, CursorWalk[T]] = {}
        tasks: dict[int, asyncio.Task[CursorPage[T] | None]] = {}
        states = {s.index: s for s in self.partitions}

        def fill() -> None:
            while pending and len(walks) < self._concurrency:
                state = pending.popleft()
                walk = walks[state.index] = self._start(state)
                tasks[state.index] = asyncio.ensure_future(walk.next())

        try:
            fill()
            while tasks:
                waiting = [tasks[min(tasks)]] if self._ordered else list(tasks.values())
                await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                for index in sorted(i for i, task in tasks.items() if task.done()):
                    if self._ordered and index != min(tasks):
                        break
                    state, walk = states[index], walks[index]
                    try:
                        page = tasks.pop(index).result()
                    except BaseException as exc:
                        attach_cursor(exc, state.cursor)
                        raise
                    if page is not None:
                        state.items += len(page.items)
                        state.pages += 1
                        state.cursor = walk.resume_cursor
                    # The last page handed over finishes the partition now: a checkpoint taken
                    # while the consumer holds it must not restart the partition from the top.
                    state.done = page is None or walk.exhausted
                    if state.done:
                        state.cursor = None
                        del walks[index]
                        await walk.close()
                        fill()
                    else:
                        tasks[index] = asyncio.ensure_future(walk.next())
                    if page is not None:
                        yield state, page
        finally:
            # One cancel_all over every fetch of every walk: each is cancelled before the first
            # wait, so a second cancellation arriving while this waits leaves none running.
            in_flight: list[asyncio.Task[Any]] = list(tasks.values())
            for walk in walks.values():
                in_flight += walk.take_in_flight()
            await cancel_all(in_flight)

    async def __aiter__(self) -> AsyncIterator[T]:
        """Stream items from all partitions (merged; partition order if ``ordered=True``)."""
        async for _, page in self.pages():
            for item in page.items:
                yield item
