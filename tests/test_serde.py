"""Models: unknown fields kept, exact round trips, clear errors on bad data."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cwpro import LinkType, ModelError, PortalLink, Site, WorkOrder, WorkOrderStatus
from cwpro._serde import format_datetime, parse_datetime, structure, unstructure

HEX = "0123456789abcdef"
ids = st.text(alphabet=HEX, min_size=24, max_size=24)
wire_dates = st.datetimes(
    min_value=dt.datetime(1971, 1, 1),
    max_value=dt.datetime(2100, 1, 1),
    timezones=st.just(dt.timezone.utc),
).map(lambda d: format_datetime(d.replace(microsecond=d.microsecond // 1000 * 1000)))
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20))
json_values = st.recursive(
    json_scalars,
    lambda c: st.one_of(
        st.lists(c, max_size=3), st.dictionaries(st.text(max_size=8), c, max_size=3)
    ),
    max_leaves=8,
)
unknown_fields = st.dictionaries(
    st.text(min_size=1, max_size=12).map(lambda k: "x_" + k), json_values, max_size=4
)


def maybe(strategy: Any) -> Any:
    return st.one_of(st.none(), strategy)


@st.composite
def work_order_payloads(draw: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"_id": draw(ids)}
    optional = {
        "name": maybe(st.text(max_size=30)),
        "description": maybe(st.text(max_size=30)),
        "status": maybe(st.sampled_from(["draft", "open", "completed", "brand_new_status"])),
        "priority": maybe(st.sampled_from(["low", "urgent", "someday"])),
        "site_id": maybe(ids),
        "work_type_ids": st.lists(ids, max_size=3),
        "work_types": maybe(
            st.lists(
                st.fixed_dictionaries(
                    {"_id": ids, "name": st.text(max_size=10)}, optional={"zz": json_values}
                ),
                max_size=2,
            )
        ),
        "scheduled_date": maybe(wire_dates),
        "created_date": maybe(wire_dates),
        "updated_date": maybe(wire_dates),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            payload[key] = draw(strategy)
    payload.update(draw(unknown_fields))
    return payload


@settings(max_examples=200)
@given(work_order_payloads())
def test_work_order_round_trips_exactly(payload: dict[str, Any]) -> None:
    assert unstructure(structure(payload, WorkOrder)) == payload


@st.composite
def portal_link_payloads(draw: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "_id": draw(ids),
        "workorder": draw(ids),
        "link_token": "wpl_" + draw(st.text(alphabet=HEX, min_size=8, max_size=8)),
    }
    nested = {
        "link_type": st.sampled_from(["public", "private", "secure", "quantum"]),
        "permissions": st.fixed_dictionaries(
            {"can_view_details": st.booleans()},
            optional={"can_approve_reject": st.booleans(), "future_flag": json_values},
        ),
        "access_restrictions": st.fixed_dictionaries(
            {
                "allowed_ips": st.lists(st.ip_addresses(v=4).map(str), max_size=2),
                "max_uses": st.integers(0, 10),
            }
        ),
        "usage_stats": st.fixed_dictionaries(
            {
                "total_views": st.integers(0, 9),
                "access_log": st.lists(
                    st.fixed_dictionaries(
                        {"timestamp": wire_dates, "ip_address": st.text(max_size=5)}
                    ),
                    max_size=2,
                ),
            }
        ),
        "metadata": st.fixed_dictionaries(
            {"tags": st.lists(st.text(max_size=5), max_size=2)},
            optional={"created_by": st.text(max_size=5)},
        ),
        "expiry_date": maybe(wire_dates),
        "createdAt": wire_dates,
        "__v": st.integers(0, 99),
        "SVClient": st.integers(0, 3),
        "is_active": st.booleans(),
    }
    for key, strategy in nested.items():
        if draw(st.booleans()):
            payload[key] = draw(strategy)
    payload.update(draw(unknown_fields))
    return payload


@settings(max_examples=200)
@given(portal_link_payloads())
def test_portal_link_round_trips_exactly(payload: dict[str, Any]) -> None:
    assert unstructure(structure(payload, PortalLink)) == payload


def test_unknown_enum_values_are_kept() -> None:
    wo = WorkOrder.from_dict({"_id": "a" * 24, "status": "teleported"})
    assert wo.status == "teleported"
    assert isinstance(wo.status, WorkOrderStatus)
    assert not wo.status.known
    assert WorkOrderStatus.DRAFT.known
    assert LinkType("secure") is LinkType.SECURE


def test_datetimes_are_aware() -> None:
    assert parse_datetime("2024-01-01T00:00:00").tzinfo is dt.timezone.utc
    assert parse_datetime("2024-01-01T02:00:00+02:00") == dt.datetime(
        2024, 1, 1, tzinfo=dt.timezone.utc
    )
    assert (
        format_datetime(dt.datetime(2024, 1, 1, 0, 0, 0, 123456, tzinfo=dt.timezone.utc))
        == "2024-01-01T00:00:00.123456Z"
    )
    assert (
        format_datetime(dt.datetime(2024, 1, 1, 0, 0, 0, 5000, tzinfo=dt.timezone.utc))
        == "2024-01-01T00:00:00.005Z"
    )


@pytest.mark.parametrize(
    "payload",
    [
        [],
        "x",
        None,
        {},
        {"_id": {}},
        {"_id": "1", "created_date": "yesterday"},
        {"_id": "1", "work_type_ids": "abc"},
        {"_id": "1", "work_types": [3]},
        {"_id": "1", "status": 4},
    ],
)
def test_bad_payloads_raise_model_error(payload: Any) -> None:
    with pytest.raises(ModelError):
        structure(payload, WorkOrder)


json_anything = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=200)
    ),
    lambda c: st.one_of(
        st.lists(c, max_size=4),
        st.dictionaries(
            st.sampled_from(
                [
                    "_id",
                    "name",
                    "status",
                    "address",
                    "work_type_ids",
                    "work_types",
                    "created_date",
                    "latitude",
                    "permissions",
                    "usage_stats",
                    "access_log",
                    "x",
                ]
            ),
            c,
            max_size=6,
        ),
    ),
    max_leaves=20,
)


@settings(max_examples=300)
@given(json_anything, st.sampled_from([WorkOrder, Site, PortalLink]))
def test_structuring_junk_raises_only_model_error(payload: Any, cls: type) -> None:
    try:
        structure(payload, cls)
    except ModelError:
        pass
