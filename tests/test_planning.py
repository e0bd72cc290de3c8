"""Export planning: partitions that cover every item exactly once and hold about equal counts.

Two levels: the planner against a fake list (hypothesis draws the data: bursts, gaps, skew) for
the invariants, and ``client.workorders.plan_partitions`` over loopback against the emulator,
with the requests counted at the server, for the balance an export actually gets.
"""

from __future__ import annotations

import asyncio
import bisect
import datetime as dt
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cwpro
from cwpro.emulator import Emulator
from cwpro.pagination.pages import CursorPage
from cwpro.pagination.planning import OPEN_HIGH, OPEN_LOW, plan_partitions

UTC = dt.timezone.utc
FIELD = "created_date"
MS = dt.timedelta(milliseconds=1)
START = dt.datetime(2024, 1, 1, tzinfo=UTC)


class FakeList:
    """A sorted list of datetimes served the way the API's one-item pages are."""

    def __init__(self, moments: list[dt.datetime], *, with_totals: bool = True) -> None:
        self.moments = sorted(moments)
        self.with_totals = with_totals
        self.requests: list[dict[str, Any]] = []

    async def __call__(self, **options: Any) -> CursorPage[dict[str, Any]]:
        self.requests.append(options)
        assert options["limit"] == 1
        low, high = options.get("between", {}).get(FIELD, (OPEN_LOW, OPEN_HIGH))
        lo = bisect.bisect_left(self.moments, low)
        hi = bisect.bisect_right(self.moments, high)
        selected = self.moments[lo:hi]
        if options.get("sort_by") == f"{FIELD}:desc":
            selected = selected[::-1]
        items = [{FIELD: m.isoformat().replace("+00:00", "Z")} for m in selected[:1]]
        return CursorPage(
            items=items,
            has_next=len(selected) > 1,
            has_prev=False,
            next_cursor=None,
            prev_cursor=None,
            page_results=len(items),
            total_results=len(selected) if self.with_totals else None,
        )

    def count(self, part: Mapping[str, Any]) -> int:
        low, high = part.get("between", {}).get(FIELD, (OPEN_LOW, OPEN_HIGH))
        return bisect.bisect_right(self.moments, high) - bisect.bisect_left(self.moments, low)


def _check_cover(plan: cwpro.PartitionPlan, fake: FakeList) -> list[int]:
    bounds = [part["between"][FIELD] for part in plan.partitions]
    assert bounds[0][0] == OPEN_LOW
    assert bounds[-1][1] == OPEN_HIGH
    for (_, left_high), (right_low, _) in zip(bounds, bounds[1:], strict=False):
        assert right_low - left_high == MS  # adjacent, no overlap, no gap
    for low, high in bounds:
        assert low <= high
        assert low.microsecond % 1000 == 0 and high.microsecond % 1000 == 0  # the API's step
    counts = [fake.count(part) for part in plan.partitions]
    assert sum(counts) == len(fake.moments)  # every item in exactly one partition
    return counts


# Bursts (many items in one millisecond), gaps and skew: offsets in ms from START.
offsets = st.lists(
    st.one_of(
        st.integers(0, 10**10),  # spread over ~4 months
        st.integers(10**10 - 10**6, 10**10),  # a dense recent stretch
        st.sampled_from([5_000, 5_001]),  # bursts
    ),
    min_size=1,
    max_size=400,
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(offsets=offsets, parts=st.integers(1, 12), samples=st.integers(1, 6))
async def test_partitions_cover_every_item_exactly_once(
    offsets: list[int], parts: int, samples: int
) -> None:
    fake = FakeList([START + dt.timedelta(milliseconds=o) for o in offsets])
    plan = await plan_partitions(fake, {}, parts=parts, field=FIELD, samples=samples)
    assert plan.total == len(offsets)
    assert plan.requests == len(fake.requests) <= 2 + 64 + 10 * 8 * (parts - 1)
    if parts == 1:
        assert plan.partitions == [{}]
        return
    counts = _check_cover(plan, fake)
    assert len(plan.partitions) <= parts
    assert plan.estimated is not None and len(plan.estimated) == len(plan.partitions)
    assert sum(plan.estimated) == len(offsets)
    assert all(count >= 0 for count in counts)


async def test_skewed_data_is_cut_into_equal_counts() -> None:
    # Growth: each day has more items than the one before (the usual shape of a collection).
    moments = [
        START + dt.timedelta(days=day, minutes=i * 7)
        for day in range(100)
        for i in range(1 + day * day // 50)
    ]
    fake = FakeList(moments)
    plan = await plan_partitions(fake, {}, parts=8, field=FIELD)
    counts = _check_cover(plan, fake)
    share = len(moments) / 8
    assert max(counts) <= 1.1 * share, counts
    assert min(counts) >= 0.9 * share, counts
    equal_time = cwpro.split_range(FIELD, moments[0], moments[-1], 8)
    assert max(fake.count(part) for part in equal_time) > 2 * share  # what it replaces


async def test_without_counts_it_falls_back_to_equal_slices_of_time() -> None:
    fake = FakeList([START + dt.timedelta(hours=h) for h in range(100)], with_totals=False)
    plan = await plan_partitions(fake, {}, parts=4, field=FIELD)
    assert plan.total is None and plan.estimated is None
    _check_cover(plan, fake)
    assert len(plan.partitions) == 4


async def test_since_and_until_bound_the_outer_partitions() -> None:
    fake = FakeList([START + dt.timedelta(hours=h) for h in range(100)])
    since, until = START + dt.timedelta(hours=10), START + dt.timedelta(hours=60, minutes=30)
    plan = await plan_partitions(fake, {}, parts=5, field=FIELD, since=since, until=until)
    bounds = [part["between"][FIELD] for part in plan.partitions]
    assert bounds[0][0] == since and bounds[-1][1] == until
    assert plan.total == 51
    assert sum(fake.count(part) for part in plan.partitions) == 51


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"parts": 0}, "parts must be an integer >= 1"),
        ({"parts": True}, "parts must be an integer >= 1"),
        ({"parts": 2, "samples": 0}, "samples must be an integer >= 1"),
        ({"parts": 2, "since": dt.datetime(2025, 1, 1)}, "since must be an aware datetime"),
        ({"parts": 2, "until": "2025-01-01"}, "until must be an aware datetime"),
        (
            {"parts": 2, "since": START + MS, "until": START},
            "is after until",
        ),
    ],
)
async def test_bad_arguments_are_refused_before_any_request(
    options: dict[str, Any], message: str
) -> None:
    fake = FakeList([START])
    with pytest.raises(cwpro.InvalidArgumentError, match=message):
        await plan_partitions(fake, {}, field=FIELD, **options)
    assert fake.requests == []


# -- over loopback, against the emulator --------------------------------------------------------
@pytest.fixture
async def emulated() -> AsyncIterator[tuple[Emulator, cwpro.AsyncClient]]:
    async with (
        Emulator(seed=11, workorders=1_200, sites=20) as emu,
        cwpro.AsyncClient(emu.client_id, emu.client_secret, base_url=emu.base_url) as client,
    ):
        yield emu, client


def _list_requests(emu: Emulator) -> int:
    return emu.stats["GET /workorders"]


async def test_plan_partitions_balances_an_export_of_the_emulator(
    emulated: tuple[Emulator, cwpro.AsyncClient],
) -> None:
    emu, client = emulated
    for i in range(400):  # a burst of new work orders: the last stretch of time is dense
        await client.workorders.create(name=f"burst {i}")
    before = _list_requests(emu)
    plan = await client.workorders.plan_partitions(8, limit=100)
    assert _list_requests(emu) - before == plan.requests
    assert plan.total == 1_600
    export = client.workorders.export(plan.partitions, limit=100, as_dict=True)
    per_partition: dict[int, int] = {}
    ids: list[str] = []
    async for state, page in export.pages():
        per_partition[state.index] = per_partition.get(state.index, 0) + len(page.items)
        ids.extend(str(item["_id"]) for item in page.items)
    assert len(ids) == len(set(ids)) == 1_600
    assert max(per_partition.values()) <= 1.25 * 1_600 / len(plan.partitions), per_partition
    first, last = plan.partitions[0]["between"][FIELD], plan.partitions[-1]["between"][FIELD]
    assert first[0] == OPEN_LOW and last[1] == OPEN_HIGH
    created = await client.workorders.create(name="after planning")
    tail = [wo.id async for wo in client.workorders.list(**plan.partitions[-1])]
    assert created.id in tail


async def test_a_cursor_or_bad_query_is_refused_before_any_request(
    emulated: tuple[Emulator, cwpro.AsyncClient],
) -> None:
    emu, client = emulated
    before = _list_requests(emu)
    with pytest.raises(cwpro.InvalidArgumentError, match="no cursor"):
        await client.workorders.plan_partitions(4, cursor="abc")
    with pytest.raises(cwpro.InvalidArgumentError):
        await client.workorders.plan_partitions(4, between={"name": (1, "z")})
    assert _list_requests(emu) == before


async def test_a_failed_count_cancels_the_other_probes_and_raises() -> None:
    fake = FakeList([START + dt.timedelta(hours=h) for h in range(100)])
    started: list[int] = []

    async def flaky(**options: Any) -> CursorPage[dict[str, Any]]:
        started.append(len(started))
        if len(started) == 5:
            raise cwpro.APIConnectionError("the API went away")
        await asyncio.sleep(0.05)  # the other probes are still in flight when it fails
        return await fake(**options)

    with pytest.raises(cwpro.APIConnectionError, match="went away"):
        await plan_partitions(flaky, {}, parts=4, field=FIELD)
    await asyncio.sleep(0)
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert not others  # cancelled and awaited: no probe left running, no error left unread
    assert len(fake.requests) == 2  # the two edges; no count was answered after the failure
