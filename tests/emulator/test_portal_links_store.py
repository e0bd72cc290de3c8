"""Tests of the emulator's portal-link store without HTTP: seeding, access log, paging walks."""

from __future__ import annotations

import dataclasses
import datetime
import functools
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import MultiDict

from cwpro.emulator.portal_links import (
    ACCESS_LOG_LIMIT,
    LINK_TYPES,
    ApiError,
    LinkQuery,
    PortalLinkStore,
    parse_datetime,
    parse_list_query,
)
from cwpro.emulator.portal_links.schema import validate_body
from tests._support import any_json
from tests.emulator.portal_helpers import OBJECT_ID as OBJECT_ID_PATTERN
from tests.emulator.portal_helpers import (
    START,
    UTC,
    WIRE_DATETIME,
    WORKORDERS,
    FakeClock,
    make_store,
    wire,
)

# --------------------------------------------------------------------------- seeding


def test_seed_is_diverse_and_consistent() -> None:
    store = make_store(FakeClock(START))
    store.seed(120, WORKORDERS[:3])
    page = store.list_links(LinkQuery(per_page=100))
    links = page.items + store.list_links(LinkQuery(page=2, per_page=100)).items
    assert len(store) == len(links) == 120
    assert {link["link_type"] for link in links} == set(LINK_TYPES)
    assert {link["is_active"] for link in links} == {True, False}
    assert len({ns for link in links for ns in link["company_namespace"]}) >= 3
    assert {link["workorder"] for link in links} <= set(WORKORDERS[:3])
    logged = [link for link in links if link["usage_stats"]["access_log"]]
    assert logged
    assert len(logged) < len(links)
    for link in logged:
        stats = link["usage_stats"]
        assert stats["total_views"] == len(stats["access_log"])
        assert stats["unique_visitors"] == len({e["ip_address"] for e in stats["access_log"]})
        assert stats["last_accessed"] == stats["access_log"][-1]["timestamp"]
    assert any(link["expiry_date"] and link["expiry_date"] < wire(START) for link in links)
    assert any(link["expiry_date"] and link["expiry_date"] > wire(START) for link in links)
    assert any(link["expiry_date"] is None for link in links)
    assert len({link["link_token"] for link in links}) == 120
    # _id order is creation order, and the _id starts with the creation second
    assert [link["_id"] for link in links] == sorted(link["_id"] for link in links)
    for link in links:
        created = datetime.datetime.strptime(link["createdAt"], "%Y-%m-%dT%H:%M:%S.%fZ")
        assert int(link["_id"][:8], 16) == int(created.replace(tzinfo=UTC).timestamp())
        assert link["modifiedAt"] >= link["createdAt"]
        assert WIRE_DATETIME.fullmatch(link["createdAt"])
        assert link["full_url"] == f"http://emulator.test/portal/{link['link_token']}"


def test_seed_is_deterministic_for_a_given_rng() -> None:
    first, second = make_store(FakeClock(START)), make_store(FakeClock(START))
    first.seed(30, WORKORDERS)
    second.seed(30, WORKORDERS)
    query = LinkQuery(per_page=100)
    assert first.list_links(query).items == second.list_links(query).items


def test_seed_rejects_bad_arguments() -> None:
    store = make_store(FakeClock(START))
    with pytest.raises(ValueError, match="count"):
        store.seed(-1, WORKORDERS)
    with pytest.raises(ValueError, match="workorder"):
        store.seed(3, [])
    store.seed(0, [])
    assert len(store) == 0


def test_clear_forgets_links_and_tokens() -> None:
    store = make_store(FakeClock(START))
    store.seed(5, WORKORDERS)
    token = store.list_links(LinkQuery()).items[0]["link_token"]
    store.clear()
    assert len(store) == 0
    assert store.by_token(token) is None


def test_access_log_keeps_the_latest_entries_and_counts_unique_visitors() -> None:
    clock = FakeClock(START)
    store = make_store(clock)
    link = store.create({"workorder": WORKORDERS[0]})
    for view in range(ACCESS_LOG_LIMIT + 5):
        clock.advance(seconds=1)
        summary = store.record_view(
            link["link_token"], ip_address=f"198.51.100.{view % 7}", user_agent="ua"
        )
        assert summary == {"_id": link["_id"], "workorder": WORKORDERS[0], "link_type": "private"}
    stats = store.get(link["_id"])["usage_stats"]  # type: ignore[index]
    assert stats["total_views"] == ACCESS_LOG_LIMIT + 5
    assert stats["unique_visitors"] == 7
    assert len(stats["access_log"]) == ACCESS_LOG_LIMIT
    assert stats["access_log"][-1]["timestamp"] == stats["last_accessed"] == wire(clock.now)
    assert stats["access_log"][0]["timestamp"] == wire(START + datetime.timedelta(seconds=6))


def test_full_url_follows_the_base_url_of_the_moment() -> None:
    base = {"url": "http://127.0.0.1:1111"}
    store = PortalLinkStore(
        rng=random.Random(1),
        clock=FakeClock(START),
        base_url=lambda: base["url"],
        workorder_exists=lambda _: True,
    )
    link = store.create({"workorder": WORKORDERS[0]})
    assert link["full_url"] == f"http://127.0.0.1:1111/portal/{link['link_token']}"
    base["url"] = "http://127.0.0.1:2222/"
    assert store.get(link["_id"])["full_url"] == (  # type: ignore[index]
        f"http://127.0.0.1:2222/portal/{link['link_token']}"
    )


def test_parse_list_query_defaults() -> None:
    query = parse_list_query(MultiDict())
    assert query == LinkQuery()
    assert (query.page, query.per_page) == (1, 25)
    assert query.sort == (("createdAt", False), ("_id", False))


@functools.cache
def seeded_store() -> PortalLinkStore:
    store = make_store(FakeClock(START), seed=99)
    store.seed(230, WORKORDERS[:5])
    return store


@settings(max_examples=60, deadline=None)
@given(
    per_page=st.integers(min_value=1, max_value=100),
    sort=st.sampled_from(
        [
            (("createdAt", False), ("_id", False)),
            (("createdAt", True),),
            (("link_type", False), ("usage_stats.total_views", True)),
            (("expiry_date", False),),
            (("is_active", True),),
        ]
    ),
    link_type=st.sampled_from([None, *LINK_TYPES]),
    is_active=st.sampled_from([None, True, False]),
    namespaces=st.frozensets(
        st.sampled_from(["acme", "globex", "initech", "umbrella", "stark"]), max_size=2
    ),
)
def test_walking_every_page_returns_each_matching_link_exactly_once(
    per_page: int,
    sort: tuple[tuple[str, bool], ...],
    link_type: str | None,
    is_active: bool | None,
    namespaces: frozenset[str],
) -> None:
    store = seeded_store()
    query = LinkQuery(
        per_page=per_page,
        sort=sort,
        link_type=link_type,
        is_active=is_active,
        company_namespaces=namespaces,
    )
    first = store.list_links(query)
    seen: list[str] = []
    for page in range(1, first.pages + 2):
        result = store.list_links(dataclasses.replace(query, page=page))
        assert result.total == first.total
        assert len(result.items) == (
            min(per_page, first.total - (page - 1) * per_page) if page <= first.pages else 0
        )
        seen.extend(link["_id"] for link in result.items)
    everything = (
        store.list_links(LinkQuery(per_page=100)).items
        + store.list_links(LinkQuery(per_page=100, page=2)).items
        + store.list_links(LinkQuery(per_page=100, page=3)).items
    )
    matching = {link["_id"] for link in everything if query.matches(link)}
    assert len(seen) == len(set(seen)) == first.total
    assert set(seen) == matching
    assert first.pages == math.ceil(first.total / per_page)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2030-01-02T03:04:05Z", datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2030-01-02T03:04:05.678901z", datetime.datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)),
        ("2030-01-02T05:04:05+02:00", datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2030-01-02T03:04:05", None),
        ("2030-01-02T03:04", None),
        ("2030-01-02", None),
        ("tomorrow", None),
        ("2030-13-02T03:04:05Z", None),
    ],
)
def test_parse_datetime_requires_a_timezone(text: str, expected: datetime.datetime | None) -> None:
    assert parse_datetime(text) == expected


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_parse_datetime_never_raises_and_answers_aware_utc(text: str) -> None:
    parsed = parse_datetime(text)
    assert parsed is None or (
        parsed.utcoffset() == datetime.timedelta(0) and parsed.microsecond % 1000 == 0
    )


_QUERY_NAMES = st.sampled_from(
    [
        "page",
        "per_page",
        "sort",
        "company_namespace",
        "workorder",
        "is_active",
        "link_type",
        "_id",
        "_id[]",
        "company_namespace[]",
        "other",
    ]
)
_JSON = any_json(text=30, key=12, entries=4, leaves=12)
_LINK_KEYS = st.sampled_from(
    [
        "workorder",
        "link_type",
        "expiry_date",
        "is_active",
        "company_namespace",
        "permissions",
        "access_restrictions",
        "notification_settings",
        "custom_branding",
        "metadata",
        "x",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_QUERY_NAMES, st.text(max_size=30)), max_size=6))
def test_parse_list_query_answers_a_query_or_a_400(pairs: list[tuple[str, str]]) -> None:
    failure: ApiError | None = None
    try:
        query = parse_list_query(MultiDict(pairs))
    except ApiError as error:
        failure = error
    if failure is not None:
        assert failure.status == 400
        assert failure.message
        return
    assert query.page >= 1
    assert 1 <= query.per_page <= 100
    assert query.is_active in (None, True, False)


@settings(max_examples=300, deadline=None)
@given(st.booleans(), st.dictionaries(_LINK_KEYS, _JSON, max_size=6))
def test_validate_body_never_raises_and_reports_or_converts(
    creating: bool, body: dict[str, object]
) -> None:
    fields, problems = validate_body(body, creating=creating)
    assert all(isinstance(problem, str) and ": " in problem for problem in problems)
    assert set(fields) <= set(body) - {"x"}
    if not problems and creating:
        assert OBJECT_ID_PATTERN.fullmatch(fields["workorder"])
