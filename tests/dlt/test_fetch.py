"""cwpro.dlt's window fetch (``cursor_pages``) over loopback: every item once, no page twice."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import cwpro
from cwpro.dlt import _fetch
from cwpro.dlt._fetch import OPEN_HIGH, OPEN_LOW, cursor_pages
from cwpro.emulator import EmulatorThread
from cwpro.pagination.planning import PartitionPlan
from tests.dlt.conftest import CLIENT_ID, CLIENT_SECRET, create_workorders


class Recording:
    """A work-order collection that records the rows each of its pages brought."""

    def __init__(self, client: cwpro.AsyncClient) -> None:
        self.inner = client.workorders
        self.first_page: list[str] = []
        self.exported: list[str] = []

    def list(self, **query: Any) -> Any:
        paginator = self.inner.list(**query)
        if query.get("limit") != 1:  # planning's one-item counts are not pages of rows
            return _Recorded(paginator, self.first_page)
        return paginator

    def export(self, partitions: Any = None, **options: Any) -> Any:
        export = self.inner.export(partitions, **options)
        recorded = self.exported

        class Pages:
            async def pages(self) -> AsyncIterator[Any]:
                async for state, page in export.pages():
                    recorded.extend(row["_id"] for row in page.items)
                    yield state, page

        return Pages()


class _Recorded:
    def __init__(self, paginator: Any, into: list[str]) -> None:
        self.paginator, self.into = paginator, into

    def __await__(self) -> Any:
        page = yield from self.paginator.__await__()
        self.into.extend(row["_id"] for row in page.items)
        return page


async def _rows(collection: Any, **window: Any) -> list[dict[str, Any]]:
    options = {"start": OPEN_LOW, "end": OPEN_HIGH, "page_size": 100, "partitions": 4, **window}
    return [row async for batch in cursor_pages(collection, **options) for row in batch]


def _client(emu: EmulatorThread) -> cwpro.AsyncClient:
    return cwpro.AsyncClient(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, base_url=emu.base_url
    )


async def test_a_big_window_gives_every_item_once_and_fetches_the_first_page_once(
    emu: EmulatorThread,
) -> None:
    store = emu.emulator.state.workorders
    expected = set(emu.call(lambda: [str(object_id) for object_id in store.ids()]))
    async with _client(emu) as client:
        collection = Recording(client)
        rows = await _rows(collection)
    ids = [row["_id"] for row in rows]
    assert len(ids) == len(set(ids)) == len(expected)
    assert set(ids) == expected
    assert len(collection.first_page) == 100
    assert ids[:100] == collection.first_page  # handed over, not thrown away
    # The rest starts at the first page's newest instant: only rows of that instant come again.
    again = set(collection.first_page) & set(collection.exported)
    newest = max(row["created_date"] for row in rows[:100])
    assert all(row["created_date"] == newest for row in rows[:100] if row["_id"] in again)
    assert len(collection.exported) == len(expected) - 100 + len(again)


async def test_items_of_one_instant_across_the_first_page_come_once(
    emu: EmulatorThread,
) -> None:
    burst = set(create_workorders(emu, 250, "burst"))  # 250 work orders of one instant
    async with _client(emu) as client:
        newest = (await client.workorders.list(limit=1, sort_by="created_date:desc")).items[0]
        since = newest.created_date
        rows = await _rows(Recording(client), start=since, end=OPEN_HIGH)
    ids = [row["_id"] for row in rows]
    assert len(ids) == len(set(ids))
    assert set(ids) == burst


async def test_a_first_page_out_of_order_makes_the_rest_start_at_the_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server that ignored the sort: the rest of the window is the whole window."""
    rows = [
        {"_id": "b", "created_date": "2026-01-02T00:00:00Z"},
        {"_id": "a", "created_date": "2026-01-01T00:00:00Z"},
    ]
    planned: list[dt.datetime] = []

    async def plan(*args: Any, since: dt.datetime, **kwargs: Any) -> PartitionPlan:
        planned.append(since)
        return PartitionPlan([{}], None, None, 0)

    class Collection:
        def list(self, **query: Any) -> Any:
            async def first() -> Any:
                return cwpro.CursorPage(rows, True, False, "next", None, 2, 3, None)

            return first()

        def export(self, partitions: Any = None, **options: Any) -> Any:
            class Pages:
                async def pages(self) -> AsyncIterator[Any]:
                    page = [*rows, {"_id": "c", "created_date": "2025-12-31T00:00:00Z"}]
                    yield None, cwpro.CursorPage(page, False, False, None, None, 3, 3, None)

            return Pages()

    monkeypatch.setattr(_fetch, "plan_partitions", plan)
    start = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    got = await _rows(Collection(), start=start, page_size=2)
    assert planned == [start]
    assert [row["_id"] for row in got] == ["b", "a", "c"]


_instants = st.datetimes(
    min_value=dt.datetime(1971, 1, 1),
    max_value=dt.datetime(9998, 1, 1),
    timezones=st.just(dt.timezone.utc),
)
_created = st.one_of(
    _instants.map(lambda moment: moment.isoformat().replace("+00:00", "Z")),
    st.text(max_size=12),
    st.none(),
    st.integers(),
)


@given(st.lists(st.fixed_dictionaries({"created_date": _created}), min_size=1, max_size=20))
def test_the_rest_of_a_window_starts_only_after_sorted_parseable_rows(
    rows: Sequence[Mapping[str, Any]],
) -> None:
    newest = _fetch._newest_if_sorted(rows)
    try:
        moments = [_fetch.parse_instant(row["created_date"]) for row in rows]
    except cwpro.InvalidArgumentError:
        assert newest is None  # a row without a readable instant: no shortcut
        return
    if moments == sorted(moments):
        assert newest == moments[-1]
    else:
        assert newest is None
