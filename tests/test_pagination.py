"""Cursor pagination and partitioned export over loopback against the emulator (issue: pagination).

The oracle for the property test is the emulator's own data, fetched whole and filtered/sorted
in Python; the paginated walks must produce exactly the same items, each once.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cwpro
from cwpro import split_range
from cwpro.emulator import Emulator

from .conftest import make_client

STATUSES = ["draft", "open", "scheduled", "in_progress", "on_hold", "completed", "cancelled"]
PRIORITIES = ["low", "normal", "high", "urgent"]


def select(items: list[dict[str, Any]], query: dict[str, Any]) -> list[dict[str, Any]]:
    """The reference implementation of the query language (wire.md semantics)."""

    def keep(item: dict[str, Any]) -> bool:
        filters = query.get("filter_by") or {}
        if filters:
            hits = [item.get(k) == v for k, v in filters.items()]
            if not (any(hits) if query.get("filter_operator") == "or" else all(hits)):
                return False
        for column, values in (query.get("in_") or {}).items():
            if item.get(column) not in values:
                return False
        for column, (lo, hi) in (query.get("between") or {}).items():
            value = cwpro._serde.parse_datetime(item[column])
            if not lo <= value <= hi:
                return False
        return True

    chosen = [i for i in items if keep(i)]
    field, _, direction = (query.get("sort_by") or "_id:asc").partition(":")
    chosen.sort(
        key=lambda i: (i.get(field) is not None, i.get(field) or "", i["_id"]),
        reverse=direction == "desc",
    )
    return chosen


async def everything(client: cwpro.AsyncClient) -> list[dict[str, Any]]:
    return [wo.to_dict() async for wo in client.workorders.list(limit=1000)]


queries = st.fixed_dictionaries(
    {},
    optional={
        "filter_by": st.dictionaries(
            st.sampled_from(["status", "priority"]),
            st.sampled_from(STATUSES + PRIORITIES),
            min_size=1,
            max_size=2,
        ),
        "filter_operator": st.sampled_from(["and", "or"]),
        "in_": st.fixed_dictionaries(
            {},
            optional={
                "status": st.lists(st.sampled_from(STATUSES), min_size=1, max_size=3, unique=True),
                "priority": st.lists(
                    st.sampled_from(PRIORITIES), min_size=1, max_size=2, unique=True
                ),
            },
        ),
        "sort_by": st.sampled_from(
            ["created_date:asc", "created_date:desc", "name:asc", "priority:desc", "_id:desc"]
        ),
    },
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    size=st.integers(0, 180),
    limit=st.integers(1, 60),
    prefetch=st.integers(0, 3),
    query=queries,
    parts=st.integers(1, 9),
    ordered=st.booleans(),
)
def test_walks_and_exports_yield_exactly_the_selected_items(
    seed: int,
    size: int,
    limit: int,
    prefetch: int,
    query: dict[str, Any],
    parts: int,
    ordered: bool,
) -> None:
    async def run() -> None:
        async with (
            Emulator(seed=seed, workorders=size, sites=5, work_types=5, portal_links=0) as emu,
            make_client(emu) as client,
        ):
            data = await everything(client)
            assert len(data) == size
            assert len({d["_id"] for d in data}) == size
            expected = select(data, query)
            walked = [
                wo.to_dict()
                async for wo in client.workorders.list(limit=limit, prefetch=prefetch, **query)
            ]
            assert [w["_id"] for w in walked] == [e["_id"] for e in expected] or _same_up_to_ties(
                walked, expected, query
            )
            if not data:
                return
            dates = [cwpro._serde.parse_datetime(d["created_date"]) for d in data]
            partitions = split_range("created_date", min(dates), max(dates), parts)
            export_query = {k: v for k, v in query.items()}
            exported = [
                wo.to_dict()
                async for wo in client.workorders.export(
                    partitions, concurrency=3, ordered=ordered, limit=limit, **export_query
                )
            ]
            assert sorted(w["_id"] for w in exported) == sorted(e["_id"] for e in expected)

    asyncio.run(run())


def _same_up_to_ties(
    walked: list[dict[str, Any]], expected: list[dict[str, Any]], query: dict[str, Any]
) -> bool:
    field, _, direction = (query.get("sort_by") or "_id:asc").partition(":")
    assert sorted(w["_id"] for w in walked) == sorted(e["_id"] for e in expected)
    keys = [w.get(field) for w in walked]
    ordered = sorted(keys, key=lambda v: (v is not None, v or ""), reverse=direction == "desc")
    assert keys == ordered
    return True


async def test_resume_after_interruption_has_no_gap_and_no_repeat(
    client: cwpro.AsyncClient, emulator: Any
) -> None:
    expected = [wo.id async for wo in client.workorders.list(limit=1000)]
    got: list[str] = []
    emulator.faults.add("status", status=503, route="GET /workorders", probability=0.3)
    cursor: str | None = None
    interruptions = 0
    while True:
        paginator = (
            client.with_options(max_retries=0).workorders.list(limit=17, cursor=cursor)
            if cursor
            else client.with_options(max_retries=0).workorders.list(limit=17)
        )
        try:
            async for page in paginator.pages():
                got.extend(wo.id for wo in page.items)
            break
        except cwpro.InternalServerError as exc:
            interruptions += 1
            cursor = exc.resume_cursor
            assert cursor == paginator.resume_cursor
            if cursor is None:
                got.clear()  # failed on the very first page: start over
    assert interruptions > 0
    assert got == expected


async def test_items_inserted_during_a_walk_appear_at_most_once(client: cwpro.AsyncClient) -> None:
    seen: list[str] = []
    created: list[str] = []
    async for page in client.workorders.list(limit=20, sort_by="created_date:asc").pages():
        seen.extend(wo.id for wo in page.items)
        created.append(
            (await client.workorders.create(name=f"inserted during walk {len(created)}")).id
        )
    assert len(seen) == len(set(seen))
    assert set(created) - set(seen), "items created late in the walk are reached"


async def test_invalid_cursor_is_a_bad_request(client: cwpro.AsyncClient) -> None:
    with pytest.raises(cwpro.BadRequestError) as info:
        await client.workorders.list(cursor="next_garbage")
    assert info.value.code == "PAG_0003"
    page = await client.workorders.list(limit=5)
    assert page.next_cursor
    with pytest.raises(cwpro.BadRequestError):
        await client.workorders.list(limit=5, sort_by="name:desc", cursor=page.next_cursor)


async def test_server_rejects_unknown_columns(client: cwpro.AsyncClient) -> None:
    with pytest.raises(cwpro.BadRequestError) as info:
        await client.workorders.list(sort_by="no_such_column")
    assert info.value.code == "PAG_0002"


async def test_export_checkpoint_resume_over_the_network(client: cwpro.AsyncClient) -> None:
    data = [wo async for wo in client.workorders.list(limit=1000)]
    dates = [wo.created_date for wo in data if wo.created_date]
    partitions = split_range("created_date", min(dates), max(dates), 5)
    export = client.workorders.export(partitions, concurrency=2, limit=11)
    got: list[str] = []
    async for _, page in export.pages():
        got.extend(wo.id for wo in page.items)
        if len(got) > 120:
            break
    saved = export.checkpoint()
    assert not all(p["done"] for p in saved)
    resumed = client.workorders.export(partitions, concurrency=4, limit=11, resume=saved)
    got.extend([wo.id async for wo in resumed])
    assert sorted(got) == sorted(wo.id for wo in data)


async def test_export_rejects_bad_partitions(client: cwpro.AsyncClient) -> None:
    with pytest.raises(ValueError):
        client.workorders.export([{"in_": {"status": []}}])
    with pytest.raises(ValueError):
        client.workorders.export([{"colour": "red"}])
    with pytest.raises(ValueError):
        client.workorders.export([], concurrency=2)
    with pytest.raises(ValueError):
        client.workorders.export(concurrency=0)


def test_prefetch_puts_the_next_request_on_the_wire_before_the_consumer_works() -> None:
    """A CPU-bound consumer still gets overlap: the next page's request reaches the server
    while the consumer is busy with the current page (checked by the server's request count,
    not by timing)."""
    from cwpro.emulator import EmulatorThread

    with EmulatorThread(seed=3, workorders=200, portal_links=0) as emu:
        emu.latency_ms = 20

        async def run() -> list[tuple[int, int]]:
            observed: list[tuple[int, int]] = []
            async with make_client(emu) as client:
                async for index, page in _enumerate(
                    client.workorders.list(limit=25, prefetch=1).pages()
                ):
                    deadline = time.perf_counter() + 0.05  # busy: never yields to the loop
                    while time.perf_counter() < deadline:
                        pass
                    observed.append((index, emu.stats["GET /workorders"]))
                    if not page.has_next:
                        break
            return observed

        observed = asyncio.run(run())
    assert len(observed) == 8
    for index, requests_seen in observed[:-1]:
        assert requests_seen >= index + 2, observed  # page index+1 was already requested


async def _enumerate(iterator: Any) -> Any:
    index = 0
    async for item in iterator:
        yield index, item
        index += 1


@pytest.mark.slow
def test_streaming_200k_items_keeps_memory_flat() -> None:
    """Client peak RSS grows < 50 MB while exporting 200k items from a separate-process emulator."""
    import psutil

    from cwpro.emulator import EmulatorProcess

    process = psutil.Process()

    async def run(base_url: str, client_id: str, secret: str) -> tuple[int, int]:
        count = 0
        async with cwpro.AsyncClient(client_id, secret, base_url=base_url) as client:
            await client.workorders.list(limit=1)
            baseline = process.memory_info().rss
            peak = baseline
            async for page in client.workorders.list(limit=1000, prefetch=2).pages():
                count += len(page.items)
                if count % 20_000 < 1000:
                    peak = max(peak, process.memory_info().rss)
            peak = max(peak, process.memory_info().rss)
        return count, peak - baseline

    with EmulatorProcess(workorders=200_000, sites=50, work_types=10, portal_links=0) as emu:
        count, growth = asyncio.run(run(emu.base_url, emu.client_id, emu.client_secret))
    assert count == 200_000
    assert growth < 50 * 1024 * 1024, f"RSS grew {growth / 1e6:.1f} MB"


async def test_dict_mode_yields_the_envelope_items_of_every_list(
    client: cwpro.AsyncClient, emulator: Any
) -> None:
    models = [wo.to_dict() async for wo in client.workorders.list(limit=60)]
    dicts = [wo async for wo in client.workorders.list(limit=60, as_dict=True)]
    assert all(type(d) is dict for d in dicts)
    assert dicts == models
    pages = [page async for page in client.sites.list(limit=7, as_dict=True).pages()]
    assert all(type(item) is dict for page in pages for item in page.items)
    assert sum(len(p) for p in pages) == 30
    exported = [
        wo
        async for wo in client.workorders.export(
            [{"in_": {"status": [s]}} for s in STATUSES], as_dict=True, limit=40
        )
    ]
    assert sorted(d["_id"] for d in exported) == sorted(d["_id"] for d in models)
    links = [link async for link in client.portal_links.list(per_page=7, as_dict=True)]
    typed = [link.to_dict() async for link in client.portal_links.list(per_page=7)]
    assert links == typed and len(links) == 60
    with pytest.raises(ValueError):
        client.workorders.list(as_dict="yes")  # type: ignore[call-overload]


async def test_max_items_stops_lists_after_that_many(
    client: cwpro.AsyncClient, emulator: Any
) -> None:
    before = emulator.stats["GET /workorders"]
    got = [wo.id async for wo in client.workorders.list(limit=20, max_items=45)]
    assert len(got) == len(set(got)) == 45
    assert emulator.stats["GET /workorders"] - before <= 4  # 3 pages (+ at most one prefetch)
    links = [link async for link in client.portal_links.list(per_page=10, max_items=25)]
    assert len(links) == 25
    assert [link.id for link in links] == [
        link.id async for link in client.portal_links.list(per_page=10)
    ][:25]


async def test_portal_pages_in_flight_stay_within_the_connection_limit(emulator: Any) -> None:
    async with make_client(emulator, max_connections=3) as client:
        paginator = client.portal_links.list(per_page=5, concurrency=16)
        assert paginator._concurrency == 3
        assert len([link async for link in paginator]) == 60
