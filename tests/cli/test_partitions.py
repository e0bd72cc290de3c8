"""Partition planning: together the partitions hold every item exactly once."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest

import cwpro
from cwpro.cli._partitions import (
    DATE_FIELD,
    OPEN_HIGH,
    OPEN_LOW,
    partitions_from_json,
    partitions_to_json,
    plan_partitions,
)
from cwpro.emulator import Emulator

UTC = dt.timezone.utc


@pytest.fixture
async def client() -> AsyncIterator[cwpro.AsyncClient]:
    async with (
        Emulator(seed=5, workorders=900, sites=40) as emu,
        cwpro.AsyncClient(
            emu.client_id, emu.client_secret, base_url=emu.base_url, timeout=10
        ) as api,
    ):
        yield api


async def _ids(client: cwpro.AsyncClient, query: dict[str, Any]) -> list[str]:
    return [item.id async for item in client.workorders.list(limit=1000, **query)]


@pytest.mark.parametrize("parts", [2, 8, 31])
async def test_partitions_cover_every_item_exactly_once(
    client: cwpro.AsyncClient, parts: int
) -> None:
    plan = await plan_partitions(client.workorders.list, {"limit": 500}, parts=parts)
    assert len(plan.partitions) == parts
    assert plan.expected_total == 900
    assert plan.partitions[0]["between"][DATE_FIELD][0] == OPEN_LOW
    assert plan.partitions[-1]["between"][DATE_FIELD][1] == OPEN_HIGH
    per_partition = [await _ids(client, part) for part in plan.partitions]
    assert all(per_partition), "a partition is empty: the split ignores the data's range"
    everything = [i for ids in per_partition for i in ids]
    assert len(everything) == len(set(everything)) == 900
    assert set(everything) == set(await _ids(client, {}))
    for left, right in zip(plan.partitions, plan.partitions[1:], strict=False):
        gap = right["between"][DATE_FIELD][0] - left["between"][DATE_FIELD][1]
        assert gap == dt.timedelta(milliseconds=1)


async def test_an_item_created_after_planning_falls_in_the_last_partition(
    client: cwpro.AsyncClient,
) -> None:
    plan = await plan_partitions(client.workorders.list, {}, parts=4)
    created = await client.workorders.create(name="after planning")
    assert created.id in await _ids(client, plan.partitions[-1])


async def test_since_and_until_bound_the_partitions(client: cwpro.AsyncClient) -> None:
    today = dt.datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    since = today - dt.timedelta(days=400)  # the seeded data spans the last 730 days
    until = today - dt.timedelta(days=100, milliseconds=1)
    within = {"between": {DATE_FIELD: (since, until)}}
    expected = await _ids(client, within)
    assert 0 < len(expected) < 900
    plan = await plan_partitions(
        client.workorders.list, {"limit": 200}, parts=5, since=since, until=until
    )
    assert plan.expected_total == len(expected)
    assert plan.partitions[0]["between"][DATE_FIELD][0] == since
    assert plan.partitions[-1]["between"][DATE_FIELD][1] == until
    got = [i for part in plan.partitions for i in await _ids(client, part)]
    assert sorted(got) == sorted(expected)


async def test_one_partition_is_the_plain_list_and_empty_lists_are_not_split(
    client: cwpro.AsyncClient,
) -> None:
    assert (await plan_partitions(client.workorders.list, {}, parts=1)).partitions == [{}]
    nothing = await plan_partitions(
        client.workorders.list, {"filter_by": {"name": "no such name"}}, parts=8
    )
    assert nothing.expected_total == 0
    assert nothing.partitions == [{}]
    only_since = await plan_partitions(
        client.workorders.list, {}, parts=1, since=dt.datetime(2025, 1, 1, tzinfo=UTC)
    )
    assert only_since.partitions == [
        {"between": {DATE_FIELD: (dt.datetime(2025, 1, 1, tzinfo=UTC), OPEN_HIGH)}}
    ]


async def test_since_after_until_is_refused(client: cwpro.AsyncClient) -> None:
    with pytest.raises(ValueError, match="is after"):
        await plan_partitions(
            client.workorders.list,
            {},
            parts=2,
            since=dt.datetime(2025, 2, 1, tzinfo=UTC),
            until=dt.datetime(2025, 1, 1, tzinfo=UTC),
        )


def test_partitions_survive_the_checkpoint_json() -> None:
    partitions: list[dict[str, Any]] = [
        {},
        {"between": {DATE_FIELD: (OPEN_LOW, dt.datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC))}},
    ]
    assert partitions_from_json(partitions_to_json(partitions)) == partitions
    with pytest.raises(ValueError):
        partitions_from_json([{"unexpected": 1}])
    with pytest.raises(ValueError):
        partitions_from_json([])
