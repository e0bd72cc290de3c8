"""Paginator mechanics with in-process page sources (network paths: test_pagination.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cwpro import APIConnectionError, CursorPage, NumberedPage, PaginationError, split_range
from cwpro.pagination import AsyncCursorPaginator, AsyncExport, AsyncPagePaginator
from tests._support import any_json


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


def _oid(n: int) -> str:
    return f"{n:024x}"


@pytest.mark.parametrize("prefetch", [0, 1, 2])
async def test_a_cursor_that_does_not_advance_is_an_error_not_a_loop(prefetch: int) -> None:
    async def fetch(cursor: str | None) -> CursorPage[dict[str, Any]]:
        item = {"_id": _oid(1 if cursor is None else 2)}
        return CursorPage([item], True, False, "same", None, 1, None, cursor)

    got: list[dict[str, Any]] = []
    with pytest.raises(PaginationError) as info:
        async for item in AsyncCursorPaginator(fetch, prefetch=prefetch):
            got.append(item)
    assert [i["_id"] for i in got] == [_oid(1), _oid(2)]  # each page once, then the refusal
    assert info.value.resume_cursor == "same"
    assert "cycle" in str(info.value)


@pytest.mark.parametrize("prefetch", [0, 1, 3])
@pytest.mark.parametrize("length", [1, 2, 3, 7])
async def test_cursor_cycles_of_any_length_raise_after_each_item_once(
    prefetch: int, length: int
) -> None:
    """first -> c0 -> c1 -> ... -> c(length-1) -> c0: every page is new, the walk then stops."""
    requests: list[str | None] = []

    async def fetch(cursor: str | None) -> CursorPage[dict[str, Any]]:
        requests.append(cursor)
        position = -1 if cursor is None else int(cursor[1:])
        following = f"c{(position + 1) % length}"
        items = [{"_id": _oid(100 * (position + 2) + k)} for k in range(3)]
        return CursorPage(items, True, False, following, None, 3, None, cursor)

    got: list[str] = []
    with pytest.raises(PaginationError) as info:
        async for item in AsyncCursorPaginator(fetch, prefetch=prefetch):
            got.append(item["_id"])
    assert len(got) == len(set(got)) == 3 * (length + 1)
    assert info.value.resume_cursor == "c0"
    assert len(requests) == length + 1  # the cycle is refused without another request


@pytest.mark.parametrize("prefetch", [0, 1])
async def test_has_next_without_a_cursor_raises_instead_of_ending(prefetch: int) -> None:
    async def fetch(cursor: str | None) -> CursorPage[int]:
        if cursor is None:
            return CursorPage([1, 2], True, False, "p2", None, 2, 1000, cursor)
        return CursorPage([3, 4], True, False, None, None, 2, 1000, cursor)

    got: list[int] = []
    paginator = AsyncCursorPaginator(fetch, prefetch=prefetch)
    with pytest.raises(PaginationError, match="nextCursor") as info:
        async for item in paginator:
            got.append(item)
    assert got == [1, 2]  # the page that cannot be followed is not handed over
    assert info.value.resume_cursor == "p2" == paginator.resume_cursor
    assert not paginator.exhausted


async def test_a_page_repeating_the_previous_page_raises() -> None:
    async def fetch(cursor: str | None) -> CursorPage[dict[str, Any]]:
        number = 0 if cursor is None else int(cursor)
        items = [{"_id": _oid(k)} for k in range(5)]  # every page serves the same items
        return CursorPage(items, True, False, str(number + 1), None, 5, None, cursor)

    got: list[dict[str, Any]] = []
    with pytest.raises(PaginationError, match="same 5 items") as info:
        async for item in AsyncCursorPaginator(fetch, prefetch=1):
            got.append(item)
    assert len(got) == 5
    assert info.value.resume_cursor == "1"


async def test_ids_already_yielded_in_the_walk_are_dropped() -> None:
    """Overlapping pages (a sort key that moved during the walk): each id comes out once."""

    async def fetch(cursor: str | None) -> CursorPage[Any]:
        start = 0 if cursor is None else int(cursor)
        items: list[Any] = [{"_id": _oid(n)} for n in range(max(0, start - 2), start + 5)]
        items.append({"name": "no id"})  # items without an id are never dropped
        has_next = start + 5 < 40
        return CursorPage(items, has_next, False, str(start + 5), None, 8, None, cursor)

    got = [item async for item in AsyncCursorPaginator(fetch, prefetch=1)]
    ids = [item["_id"] for item in got if "_id" in item]
    assert ids == [_oid(n) for n in range(40)]
    assert len(got) - len(ids) == 8


def test_the_seen_id_memory_is_bounded() -> None:
    from cwpro.pagination._guard import ID_GENERATION, WalkGuard

    guard = WalkGuard(None)
    for page in range(2 * ID_GENERATION // 100 + 50):
        items = [{"_id": _oid(page * 100 + k)} for k in range(100)]
        kept = guard.fresh(CursorPage(items, True, False, "x", None, 100, None, str(page)))
        assert len(kept.items) == 100
    assert len(guard._ids) + len(guard._older_ids) <= 2 * ID_GENERATION
    again = [{"_id": _oid(page * 100 + k)} for k in range(100)]  # the last page once more
    again.reverse()
    assert guard.fresh(CursorPage(again, True, False, "x", None, 100, None, "y")).items == []


@given(
    st.lists(
        st.lists(st.integers(0, 60).map(_oid), max_size=8),
        max_size=12,
    )
)
def test_dropping_duplicates_keeps_the_first_of_each_id(pages: list[list[str]]) -> None:
    async def run() -> list[str]:
        async def fetch(cursor: str | None) -> CursorPage[dict[str, Any]]:
            n = 0 if cursor is None else int(cursor)
            items = [{"_id": i} for i in pages[n]] if pages else []
            more = n + 1 < len(pages)
            return CursorPage(items, more, False, str(n + 1) if more else None, None, 0, None)

        got: list[str] = []
        try:
            async for item in AsyncCursorPaginator(fetch, prefetch=1):
                got.append(item["_id"])
        except PaginationError:
            pass  # a page identical to the previous one
        return got

    got = asyncio.run(run())
    assert len(got) == len(set(got))
    flat = [i for page in pages for i in page]
    assert got == list(dict.fromkeys(flat))[: len(got)]


@pytest.mark.parametrize("prefetch", [0, 1, 2])
async def test_max_items_stops_the_walk(prefetch: int) -> None:
    requests: list[str | None] = []
    source = cursor_source(list(range(95)), 10)

    async def fetch(cursor: str | None) -> CursorPage[int]:
        requests.append(cursor)
        page: CursorPage[int] = await source(cursor)
        return page

    paginator = AsyncCursorPaginator(fetch, prefetch=prefetch, max_items=25)
    assert [x async for x in paginator] == list(range(25))
    assert paginator.resume_cursor == "20"  # the cut page's own cursor
    assert len(requests) <= 3 + prefetch
    with pytest.raises(ValueError):
        AsyncCursorPaginator(fetch, max_items=0)


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


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("nope", "must be a mapping"),
        ({"cursor": 5}, "cursor must be"),
        ({"cursor": ""}, "cursor must be"),
        ({"done": "yes"}, "done must be"),
        ({"items": -5}, "items must be"),
        ({"pages": True}, "pages must be"),
        ({"index": 7}, "index is 7"),
        ({"cursor": "c", "done": True}, "no cursor"),
    ],
)
def test_a_malformed_resume_checkpoint_is_refused_before_any_request(
    entry: Any, message: str
) -> None:
    from cwpro import InvalidArgumentError

    good = make_export([[1], [2]]).checkpoint()
    with pytest.raises(InvalidArgumentError, match=message):
        make_export([[1], [2]], resume=[good[0], entry])
    with pytest.raises(InvalidArgumentError, match="2 partitions"):
        make_export([[1], [2]], resume=good[:1])
    with pytest.raises(InvalidArgumentError, match="list of checkpoint entries"):
        make_export([[1], [2]], resume="[]")


async def test_a_partition_with_pages_and_no_cursor_resumes_as_finished() -> None:
    """Older checkpoints said ``done: false`` for a partition whose last page was handed out."""
    parts = [list(range(0, 5)), list(range(100, 130))]
    saved = [
        {"index": 0, "cursor": None, "done": False, "items": 5, "pages": 1},
        {"index": 1, "cursor": None, "done": False, "items": 0, "pages": 0},
    ]
    export = make_export(parts, resume=saved)
    assert [x async for x in export] == parts[1]
    assert export.checkpoint()[0]["done"] is True


async def test_the_checkpoint_taken_while_holding_a_last_page_is_done() -> None:
    export = make_export([list(range(7)), list(range(100, 200))], concurrency=2, ordered=True)
    async for state, page in export.pages():
        if state.index == 0:
            assert export.checkpoint()[0] == {
                "index": 0, "cursor": None, "done": True, "items": 7, "pages": 1,
            }  # fmt: skip
            break


_json = any_json(text=5, key=8, entries=3, leaves=12)
_pagination = st.fixed_dictionaries(
    {},
    optional={
        "hasNext": _json,
        "hasPrev": _json,
        "nextCursor": _json | st.text(min_size=1, max_size=10),
        "prevCursor": _json,
        "pageResults": _json,
        "totalResults": _json,
    },
)
_payloads = st.fixed_dictionaries(
    {},
    optional={
        "data": st.lists(st.dictionaries(st.text(max_size=4), _json, max_size=3), max_size=4)
        | _json,
        "pagination": _pagination | _json,
        "paging": st.dictionaries(st.sampled_from(["page", "per_page", "total", "pages"]), _json)
        | _json,
        "options": _json,
    },
)


@given(_payloads, st.none() | st.text(min_size=1, max_size=6))
def test_reading_any_envelope_gives_a_page_or_a_clear_error(
    payload: dict[str, Any], cursor: str | None
) -> None:
    from cwpro import ModelError
    from cwpro.pagination.pages import dict_items, read_cursor_page, read_numbered_page

    try:
        page = read_cursor_page(payload, dict_items, cursor=cursor, where="GET /x")
    except (ModelError, PaginationError):
        pass
    else:
        assert isinstance(page.has_next, bool) and isinstance(page.page_results, int)
        assert page.total_results is None or isinstance(page.total_results, int)
        assert not page.has_next or (isinstance(page.next_cursor, str) and page.next_cursor)
        assert all(type(item) is dict for item in page.items)
    try:
        numbered = read_numbered_page(payload, dict_items, page=3, where="GET /y")
    except ModelError:
        pass
    else:
        assert all(isinstance(v, int) for v in (numbered.page, numbered.pages, numbered.total))


@pytest.mark.parametrize("ordered", [False, True])
async def test_export_keeps_at_most_concurrency_requests_in_flight(ordered: bool) -> None:
    in_flight = peak = 0
    parts = [list(range(i * 100, i * 100 + 40)) for i in range(6)]

    def make(query: Any, cursor: str | None) -> AsyncCursorPaginator[int]:
        source = cursor_source(parts[query["part"]], 5)

        async def fetch(cursor: str | None) -> CursorPage[int]:
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            try:
                await asyncio.sleep(0.002)
                page: CursorPage[int] = await source(cursor)
                return page
            finally:
                in_flight -= 1

        return AsyncCursorPaginator(fetch, cursor=cursor, prefetch=2)

    export = AsyncExport(make, [{"part": i} for i in range(6)], concurrency=3, ordered=ordered)
    got = [x async for x in export]
    assert sorted(got) == [x for p in parts for x in p]
    assert peak <= 3


async def test_break_out_of_an_export_leaves_nothing_running() -> None:
    export = make_export([list(range(i * 100, i * 100 + 50)) for i in range(4)], concurrency=4)
    pages = export.pages()
    async for _ in pages:
        break
    await pages.aclose()  # type: ignore[attr-defined]
    assert not [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert not export.done


async def test_a_second_cancel_in_the_export_clean_up_leaves_no_fetch_running() -> None:
    """The window where a cancellation cannot collapse a walk's prefetch chain by itself.

    A page arrives in the same loop iteration as the consumer's cancellation: the fetch that
    follows it starts at once, awaiting nothing the cancellation touches. The export's clean-up
    then waits for what it cancelled, and a second cancellation lands in that wait. Every fetch
    must have been cancelled before it.
    """
    loop = asyncio.get_running_loop()
    answers = {cursor: loop.create_future() for cursor in ("1", "2", "3")}
    started: list[str] = []
    cancelled: list[str] = []

    async def fetch(cursor: str | None) -> CursorPage[int]:
        key = cursor or "0"
        started.append(key)
        if key != "0":
            try:
                await answers[key]
            except asyncio.CancelledError:
                cancelled.append(key)
                raise
        number = int(key)
        return CursorPage([number], True, number > 0, str(number + 1), None, 1, None, cursor)

    def make(query: Any, cursor: str | None) -> AsyncCursorPaginator[int]:
        return AsyncCursorPaginator(fetch, cursor=cursor, prefetch=2)

    async def consume() -> None:
        async for _ in AsyncExport(make, [{}], concurrency=1):
            pass

    consumer = asyncio.ensure_future(consume())
    for _ in range(10):  # page 0 handed over; the fetch of page 1 waits for its answer
        await asyncio.sleep(0)
    assert started == ["0", "1"]
    answers["1"].set_result(None)  # page 1 arrives in the iteration the cancellation lands in
    consumer.cancel()
    await asyncio.sleep(0)  # the consumer is in its clean-up, waiting for what it cancelled
    assert not consumer.done()
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    for _ in range(10):
        await asyncio.sleep(0)
    running = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
    assert not running, f"fetches outlived the export: started {started}, cancelled {cancelled}"
