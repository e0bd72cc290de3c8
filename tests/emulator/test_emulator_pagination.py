"""Cursor pagination of the emulator over loopback: walks, keyset stability, operators, errors."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from cwpro.emulator import Emulator

UTC = dt.timezone.utc


class Api:
    """A bare aiohttp client for one emulator, holding a bearer token."""

    def __init__(self, emu: Emulator, session: aiohttp.ClientSession, token: str) -> None:
        self.emu = emu
        self.session = session
        self.headers = {"Authorization": f"Bearer {token}"}

    async def get(self, path: str, params: Any = None) -> tuple[int, Any]:
        async with self.session.get(
            self.emu.url_for(path), params=params, headers=self.headers
        ) as response:
            return response.status, await response.json()

    async def post(self, path: str, body: Any) -> tuple[int, Any]:
        async with self.session.post(
            self.emu.url_for(path), json=body, headers=self.headers
        ) as response:
            return response.status, await response.json()


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with (
        Emulator(seed=3, workorders=300, sites=25, work_types=8, portal_links=5) as emu,
        aiohttp.ClientSession() as session,
    ):
        credentials = {"client_id": emu.client_id, "client_secret": emu.client_secret}
        async with session.post(emu.url_for("/auth/token"), json=credentials) as response:
            token = (await response.json())["data"]["access_token"]
        yield Api(emu, session, token)


def _sort_key(value: Any) -> tuple[Any, ...]:
    if value is None:
        return (0, 0)
    if isinstance(value, (int, float)):
        return (2, value)
    return (3, str(value))


async def walk(
    api: Api, path: str, params: list[tuple[str, str]], cursor: str | None = None
) -> list[dict[str, Any]]:
    """Follow nextCursor to the end, checking the pagination block of every page."""
    items: list[dict[str, Any]] = []
    resumed = cursor is not None
    total = None
    pages = 0
    while True:
        query = list(params) + ([("cursor", cursor)] if cursor else [])
        status, body = await api.get(path, query)
        assert (status, body["success"], body["code"]) == (200, True, 200), body
        page = body["pagination"]
        assert page["pageResults"] == len(body["data"])
        if total is None:
            total = page["totalResults"]
        assert page["totalResults"] == total
        assert page["hasPrev"] == ((pages > 0 or resumed) and bool(body["data"]))
        assert (page["prevCursor"] is not None) == page["hasPrev"]
        assert (page["nextCursor"] is not None) == page["hasNext"]
        items.extend(body["data"])
        pages += 1
        if not page["hasNext"]:
            break
        assert page["nextCursor"].startswith("next_")
        cursor = page["nextCursor"]
    if not resumed:
        assert len(items) == total
    return items


def all_workorders(emu: Emulator) -> list[dict[str, Any]]:
    return [emu.state.workorder(object_id) for object_id in emu.state.workorder_ids()]


async def test_default_walk_returns_every_item_once_in_id_order(api: Api) -> None:
    items = await walk(api, "/workorders", [("limit", "37")])
    ids = [item["_id"] for item in items]
    assert ids == list(api.emu.state.workorder_ids())
    assert ids == sorted(ids)
    assert items[5] == api.emu.state.workorder(ids[5])


def _in_created_window(item: dict[str, Any]) -> bool:
    return item["created_date"] >= "2025-01-01T00:00:00.000Z"


CASES: list[tuple[str, list[tuple[str, str]], Any]] = [
    ("_id:desc", [], lambda item: True),
    ("name:asc", [], lambda item: True),
    (
        "name:desc",
        [("filterBy", json.dumps({"status": "open"}))],
        lambda item: item["status"] == "open",
    ),
    (
        "status:asc",
        [
            ("filterBy", json.dumps({"status": "open", "priority": "high"})),
            ("filterOperator", "or"),
        ],
        lambda item: item["status"] == "open" or item["priority"] == "high",
    ),
    (
        "priority:desc",
        [("in", "status![draft,  completed ]")],
        lambda item: item["status"] in ("draft", "completed"),
    ),
    (
        "scheduled_date:asc",
        [("in", "priority![low, urgent]"), ("in", "status![open, draft]")],
        lambda item: item["priority"] in ("low", "urgent") and item["status"] in ("open", "draft"),
    ),
    (
        "created_date:desc",
        [
            ("between", "created_date![2025-01-01, 2099-01-01]"),
            ("filterBy", json.dumps({"priority": "normal"})),
        ],
        lambda item: _in_created_window(item) and item["priority"] == "normal",
    ),
    ("updated_date:asc", [], lambda item: True),
]


@pytest.mark.parametrize(
    ("sort", "params", "predicate"),
    CASES,
    ids=[case[0] + (f"+{len(case[1])}ops" if case[1] else "") for case in CASES],
)
async def test_walks_match_brute_force(
    api: Api, sort: str, params: list[tuple[str, str]], predicate: Any
) -> None:
    field, _, direction = sort.partition(":")
    items = await walk(api, "/workorders", [("limit", "23"), ("sortBy", sort), *params])
    expected = [item for item in all_workorders(api.emu) if predicate(item)]
    assert expected, "the case should select something"
    assert sorted(i["_id"] for i in items) == sorted(i["_id"] for i in expected)
    keys = [(_sort_key(item[field]), item["_id"]) for item in items]
    assert keys == sorted(keys, reverse=direction == "desc")


async def test_prev_cursors_walk_back_over_the_same_pages(api: Api) -> None:
    params = [("limit", "40"), ("sortBy", "status:desc")]
    forward: list[list[str]] = []
    cursor = None
    body: dict[str, Any] = {}
    while True:
        _, body = await api.get("/workorders", params + ([("cursor", cursor)] if cursor else []))
        forward.append([item["_id"] for item in body["data"]])
        if not body["pagination"]["hasNext"]:
            break
        cursor = body["pagination"]["nextCursor"]
    backward: list[list[str]] = [forward[-1]]
    cursor = body["pagination"]["prevCursor"]
    while cursor:
        _, body = await api.get("/workorders", [*params, ("cursor", cursor)])
        assert body["pagination"]["hasNext"] is True
        backward.append([item["_id"] for item in body["data"]])
        cursor = body["pagination"]["prevCursor"]
    # the last page may be short, so compare flattened sequences
    assert [i for page in reversed(backward) for i in page] == [i for p in forward for i in p]
    assert body["pagination"]["hasPrev"] is False


async def test_inserts_during_a_walk_never_duplicate_or_skip(api: Api) -> None:
    seen: list[str] = []
    created: list[str] = []
    params = [("limit", "50"), ("sortBy", "name:asc")]
    cursor = None
    while True:
        _, body = await api.get("/workorders", params + ([("cursor", cursor)] if cursor else []))
        seen.extend(item["_id"] for item in body["data"])
        for name in ("AAA sorts first", "zzz sorts last", body["data"][-1]["name"]):
            status, made = await api.post("/workorders", {"name": name})
            assert status == 200
            assert made["code"] == 200
            created.append(made["data"]["_id"])
        if not body["pagination"]["hasNext"]:
            break
        cursor = body["pagination"]["nextCursor"]
    assert len(seen) == len(set(seen))
    original = set(api.emu.state.first_workorder_ids(300))
    assert original <= set(seen), "an existing item was skipped"
    assert any(object_id in seen for object_id in created), "late 'zzz' inserts should show up"


async def test_inserted_items_come_last_in_the_default_order(api: Api) -> None:
    _, first = await api.get("/workorders", {"limit": "100"})
    _, made = await api.post("/workorders", {"name": "late arrival"})
    items = await walk(
        api, "/workorders", [("limit", "100")], cursor=first["pagination"]["nextCursor"]
    )
    ids = [item["_id"] for item in first["data"]] + [item["_id"] for item in items]
    assert ids[-1] == made["data"]["_id"]
    assert len(ids) == len(set(ids)) == 301


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "next_",
        "next_!!!notbase64",
        "sideways_eyJ9",
        "next_bm90IGpzb24=",
        "next_eyJkIjoibmV4dCJ9",
    ],
)
async def test_malformed_cursors_get_the_pag_0003_envelope(api: Api, cursor: str) -> None:
    status, body = await api.get("/workorders", {"cursor": cursor})
    assert status == 200
    assert body["code"] == 400
    assert body["error"]["code"] == "PAG_0003"
    assert body["success"] is True
    assert body["data"] == {}


async def test_cursor_replayed_with_another_query_is_rejected(api: Api) -> None:
    _, body = await api.get("/workorders", {"limit": "10", "sortBy": "name:asc"})
    cursor = body["pagination"]["nextCursor"]
    for other in (
        {"sortBy": "name:desc"},
        {"sortBy": "status:asc"},
        {"sortBy": "name:asc", "filterBy": '{"status": "open"}'},
    ):
        _, rejected = await api.get("/workorders", {"limit": "10", "cursor": cursor, **other})
        assert rejected["error"]["code"] == "PAG_0003", other
    _, rejected = await api.get("/sites", {"cursor": cursor, "sortBy": "name:asc"})
    assert rejected["error"]["code"] == "PAG_0003"
    _, accepted = await api.get(
        "/workorders", {"limit": "25", "cursor": cursor, "sortBy": "name:asc"}
    )
    assert accepted["code"] == 200
    assert accepted["pagination"]["pageResults"] == 25


@pytest.mark.parametrize("limit", ["0", "1001", "abc", "-5", "2.5"])
async def test_bad_limits_get_pag_0001(api: Api, limit: str) -> None:
    status, body = await api.get("/workorders", {"limit": limit})
    assert status == 200
    assert body["error"]["code"] == "PAG_0001"
    assert body["code"] == 400


async def test_limit_bounds_are_accepted(api: Api) -> None:
    _, one = await api.get("/workorders", {"limit": "1"})
    assert one["pagination"]["pageResults"] == 1
    _, most = await api.get("/workorders", {"limit": "1000"})
    assert most["pagination"]["pageResults"] == 300
    assert most["pagination"]["hasNext"] is False
    assert most["pagination"]["nextCursor"] is None
    _, default = await api.get("/workorders")
    assert default["pagination"]["pageResults"] == 100
    assert default["options"] == {"limit": 100, "sortBy": {"field": "_id", "value": "asc"}}


@pytest.mark.parametrize(
    "params",
    [
        {"sortBy": "nonsense:asc"},
        {"sortBy": "name:sideways"},
        {"filterBy": "{not json"},
        {"filterBy": "[1, 2]"},
        {"filterBy": '{"unknown_column": 1}'},
        {"filterOperator": "xor"},
        {"in": "status[open]"},
        {"in": "nonsense![a]"},
        {"between": "created_date![2024-01-01]"},
        {"between": "created_date![yesterday, today]"},
        {"between": "missing_bang[1, 2]"},
    ],
)
async def test_bad_operators_get_pag_0002(api: Api, params: dict[str, str]) -> None:
    status, body = await api.get("/workorders", params)
    assert status == 200
    assert body["code"] == 400
    assert body["error"]["code"] == "PAG_0002", body
    assert body["error"]["message"]
    assert body["reason"] == body["error"]["message"]


async def test_options_echo_sort_and_filters(api: Api) -> None:
    _, body = await api.get(
        "/workorders",
        {
            "limit": "5",
            "sortBy": "name:desc",
            "filterBy": json.dumps({"status": "open", "priority": "high"}),
        },
    )
    assert body["options"] == {
        "limit": 5,
        "sortBy": {"field": "name", "value": "desc"},
        "filterBy": [{"field": "status", "value": "open"}, {"field": "priority", "value": "high"}],
    }


async def test_between_is_inclusive_at_both_ends(api: Api) -> None:
    ids = api.emu.state.first_workorder_ids(30)
    low = api.emu.state.workorder(ids[10])["created_date"]
    high = api.emu.state.workorder(ids[20])["created_date"]
    items = await walk(api, "/workorders", [("between", f"created_date![{low}, {high}]")])
    assert [item["_id"] for item in items] == ids[10:21]
    # naive datetimes are UTC; date-only bounds work as midnight
    naive_low = low.replace("Z", "")
    again = await walk(api, "/workorders", [("between", f"created_date![{naive_low}, {high}]")])
    assert again == items


async def test_in_compares_strings_and_array_members(api: Api) -> None:
    type_id = api.emu.state.work_type_ids()[0]
    items = await walk(api, "/workorders", [("in", f"work_type_ids![{type_id}]")])
    expected = [i["_id"] for i in all_workorders(api.emu) if type_id in i["work_type_ids"]]
    assert [item["_id"] for item in items] == expected
    assert expected


async def test_filter_by_null_matches_missing_schedules(api: Api) -> None:
    items = await walk(api, "/workorders", [("filterBy", '{"scheduled_date": null}')])
    expected = [i["_id"] for i in all_workorders(api.emu) if i["scheduled_date"] is None]
    assert [item["_id"] for item in items] == expected
    assert expected


async def test_sites_and_work_types_paginate_with_numeric_between(api: Api) -> None:
    sites = await walk(api, "/sites", [("limit", "7"), ("sortBy", "latitude:desc")])
    assert len(sites) == 25
    latitudes = [site["latitude"] for site in sites]
    assert latitudes == sorted(latitudes, reverse=True)
    middle = sorted(latitudes)[5:15]
    bounded = await walk(api, "/sites", [("between", f"latitude![{middle[0]}, {middle[-1]}]")])
    assert sorted(site["latitude"] for site in bounded) == middle
    types = await walk(api, "/worktypes", [("limit", "3"), ("sortBy", "name:asc")])
    assert sorted(t["name"] for t in types) == [t["name"] for t in types]
    assert len(types) == 8


async def test_webhook_list_filters_by_event_and_date(api: Api) -> None:
    everything = await walk(api, "/webhooks", [("limit", "9")])
    now = api.emu.clock.now()
    cutoff = (now - dt.timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%S")
    assert everything
    assert all(item["created_date"] >= cutoff for item in everything)
    hidden = len(api.emu.state.notification_ids()) - len(everything)
    assert hidden > 0, "the seeded history has notifications older than 90 days"
    sites_only = await walk(api, "/webhooks", [("event", "SITE.CREATE")])
    assert sites_only
    assert {item["event"] for item in sites_only} == {"SITE.CREATE"}
    low, high = everything[3]["created_date"], everything[8]["created_date"]
    window = await walk(api, "/webhooks", [("between", f"created_date![{low}, {high}]")])
    assert [item["_id"] for item in window] == [item["_id"] for item in everything[3:9]]
    _, body = await api.get("/webhooks", {"limit": "2", "event": "SITE.CREATE"})
    cursor = body["pagination"]["nextCursor"]
    _, rejected = await api.get("/webhooks", {"cursor": cursor, "event": "WORKORDER.CREATE"})
    assert rejected["error"]["code"] == "PAG_0003"
