"""Paginator mechanics with in-process page sources (network paths: test_pagination.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cwpro import APIConnectionError, CursorPage, NumberedPage, split_range
from cwpro.pagination import AsyncCursorPaginator, AsyncExport, AsyncPagePaginator


def cursor_source(
    items: list[int],
    page_size: int,
    *,
    delay: float = 0.0,
    fail_at: str | None = None,
    log: list[Any] | None = None,
) -> Any:
    async def fetch(cursor: str | None) -> CursorPage[int]:
        start = int(cursor) if cursor else 0
        if log is not None:
            log.append(("start", start, time.perf_counter()))
        if fail_at is not None and cursor == fail_at:
            raise APIConnectionError("boom", method="GET", url="/x")
        await asyncio.sleep(delay)
        chunk = items[start : start + page_size]
        end = start + len(chunk)
        has_next = end < len(items)
        return CursorPage(
            chunk,
            has_next,
            start > 0,
            str(end) if has_next else None,
            None,
            len(chunk),
            len(items),
            cursor,
        )

    return fetch


@pytest.mark.parametrize("prefetch", [0, 1, 3])
async def test_items_and_pages_come_out_once_in_order(prefetch: int) -> None:
    data = list(range(95))
    paginator = AsyncCursorPaginator(cursor_source(data, 10), prefetch=prefetch)
    assert [x async for x in paginator] == data
    assert paginator.exhausted
    assert paginator.resume_cursor is None


async def test_a_cursor_that_does_not_advance_is_an_error_not_a_loop() -> None:
    from cwpro import PaginationError

    async def fetch(cursor: str | None) -> CursorPage[int]:
        return CursorPage([1], True, False, "same", None, 1, None, cursor)

    for prefetch in (0, 1):
        got: list[int] = []
        with pytest.raises(PaginationError) as info:
            async for item in AsyncCursorPaginator(fetch, prefetch=prefetch):
                got.append(item)
        assert got == [1]  # the first page; the one that repeats its cursor is refused
        assert info.value.resume_cursor == "same"


async def test_await_gives_first_page_only() -> None:
    page = await AsyncCursorPaginator(cursor_source(list(range(30)), 10))
    assert page.items == list(range(10))
    assert page.has_next
    assert page.next_cursor == "10"


async def test_prefetch_overlaps_a_cpu_bound_consumer() -> None:
    """The next request starts before the consumer's blocking work, not after it."""
    log: list[Any] = []
    paginator = AsyncCursorPaginator(
        cursor_source(list(range(40)), 10, delay=0.02, log=log), prefetch=1
    )
    handed: list[float] = []
    async for page in paginator.pages():
        handed.append(time.perf_counter())
        time.sleep(0.03)
    starts = [t for kind, _, t in log if kind == "start"]
    # every later fetch started right when the previous page was handed over
    for got, next_start in zip(handed, starts[1:]):
        assert next_start <= got + 0.01


async def test_break_cancels_the_in_flight_fetch() -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def fetch(cursor: str | None) -> CursorPage[int]:
        if cursor is None:
            return CursorPage([1, 2], True, False, "next", None, 2, 4)
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        raise AssertionError("unreachable")

    paginator = AsyncCursorPaginator(fetch, prefetch=1)
    agen = paginator.pages()
    async for _ in agen:
        await started.wait()
        break
    await agen.aclose()
    assert cancelled.is_set()
    assert not [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]


async def test_plain_break_leaves_no_pending_task() -> None:
    paginator = AsyncCursorPaginator(cursor_source(list(range(100)), 5, delay=0.01), prefetch=2)
    async for item in paginator:
        if item == 7:
            break
    for _ in range(5):
        await asyncio.sleep(0.01)  # the loop's async-generator finalizer runs aclose()
    assert not [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]


@pytest.mark.parametrize("prefetch", [0, 1])
async def test_error_carries_resume_cursor_and_resuming_completes_exactly(prefetch: int) -> None:
    data = list(range(50))
    got: list[int] = []
    with pytest.raises(APIConnectionError) as info:
        async for item in AsyncCursorPaginator(
            cursor_source(data, 10, fail_at="30"), prefetch=prefetch
        ):
            got.append(item)
    assert info.value.resume_cursor == "30"
    async for item in AsyncCursorPaginator(
        cursor_source(data, 10), cursor=info.value.resume_cursor, prefetch=prefetch
    ):
        got.append(item)
    assert got == data


def make_export(parts: list[list[int]], **kwargs: Any) -> AsyncExport[int]:
    def make(query: Any, cursor: str | None) -> AsyncCursorPaginator[int]:
        return AsyncCursorPaginator(
            cursor_source(parts[query["part"]], 7, delay=0.001), cursor=cursor
        )

    return AsyncExport(make, [{"part": i} for i in range(len(parts))], **kwargs)


@pytest.mark.parametrize("ordered", [False, True])
@pytest.mark.parametrize("concurrency", [1, 3, 8])
async def test_export_merges_every_partition_once(ordered: bool, concurrency: int) -> None:
    parts = [list(range(i * 100, i * 100 + n)) for i, n in enumerate([0, 13, 40, 7, 22, 1])]
    export = make_export(parts, concurrency=concurrency, ordered=ordered)
    got = [x async for x in export]
    expected = [x for p in parts for x in p]
    assert sorted(got) == expected
    if ordered:
        assert got == expected
    assert export.done
    assert [s["done"] for s in export.checkpoint()] == [True] * len(parts)


async def test_export_checkpoint_resume_is_exact() -> None:
    parts = [list(range(i * 1000, i * 1000 + 60)) for i in range(4)]
    export = make_export(parts, concurrency=2)
    got: list[int] = []
    async for _, page in export.pages():
        got.extend(page.items)
        if len(got) > 100:
            break
    saved = export.checkpoint()
    resumed = make_export(parts, concurrency=2, resume=saved)
    got.extend([x async for x in resumed])
    assert sorted(got) == [x for p in parts for x in p]


async def test_export_error_propagates_with_cursor() -> None:
    def make(query: Any, cursor: str | None) -> AsyncCursorPaginator[int]:
        return AsyncCursorPaginator(
            cursor_source(list(range(30)), 10, fail_at="20" if query["part"] == 1 else None),
            cursor=cursor,
        )

    export = AsyncExport(make, [{"part": 0}, {"part": 1}], concurrency=2)
    with pytest.raises(APIConnectionError) as info:
        async for _ in export:
            pass
    assert info.value.resume_cursor == "20"
    await asyncio.sleep(0.01)
    assert not [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]


async def test_page_paginator_fetches_the_rest_concurrently_in_order() -> None:
    in_flight = 0
    peak = 0

    async def fetch(page: int) -> NumberedPage[int]:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01 * ((page * 7) % 3))
        in_flight -= 1
        return NumberedPage(list(range((page - 1) * 10, min(page * 10, 95))), page, 10, 95, 10)

    items = [x async for x in AsyncPagePaginator(fetch, concurrency=4)]
    assert items == list(range(95))
    assert peak == 4  # never more than `concurrency` requests at once


@given(st.integers(-1000, 1000), st.integers(0, 5000), st.integers(1, 40))
def test_split_range_covers_integers_exactly(start: int, span: int, parts: int) -> None:
    ranges = [p["between"]["n"] for p in split_range("n", start, start + span, parts)]
    covered = [x for lo, hi in ranges for x in range(lo, hi + 1)]
    assert covered == list(range(start, start + span + 1))


@given(
    st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2030, 1, 1)),
    st.integers(0, 10**9),
    st.integers(1, 16),
)
def test_split_range_datetimes_never_overlap(start: dt.datetime, span_ms: int, parts: int) -> None:
    start = start.replace(microsecond=start.microsecond // 1000 * 1000, tzinfo=dt.timezone.utc)
    end = start + dt.timedelta(milliseconds=span_ms)
    ranges = [p["between"]["created_date"] for p in split_range("created_date", start, end, parts)]
    assert ranges[0][0] == start
    assert ranges[-1][1] == end
    for (_, hi), (lo, _) in zip(ranges, ranges[1:]):
        assert lo - hi == dt.timedelta(milliseconds=1)
    assert all(lo <= hi for lo, hi in ranges)


def test_split_range_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        split_range("n", 5, 1, 2)
    with pytest.raises(ValueError):
        split_range("n", 1, 5, 0)
    with pytest.raises(ValueError):
        split_range("n", 1, dt.date(2024, 1, 1), 2)
