"""Models: unknown fields kept, exact round trips, clear errors on bad data."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cwpro import LinkType, ModelError, PortalLink, Site, WorkOrder, WorkOrderStatus, _serde
from cwpro._serde import format_datetime, loads, parse_datetime, structure, unstructure

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
def payloads(draw: Any, required: dict[str, Any], optional: dict[str, Any]) -> dict[str, Any]:
    """Every ``required`` key, each ``optional`` key half the time, and unknown ``x_`` fields."""
    payload = {key: draw(strategy) for key, strategy in required.items()}
    for key, strategy in optional.items():
        if draw(st.booleans()):
            payload[key] = draw(strategy)
    payload.update(draw(unknown_fields))
    return payload


work_order_payloads = payloads(
    required={"_id": ids},
    optional={
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
    },
)


@settings(max_examples=200)
@given(work_order_payloads)
def test_work_order_round_trips_exactly(payload: dict[str, Any]) -> None:
    assert unstructure(structure(payload, WorkOrder)) == payload


portal_link_payloads = payloads(
    required={
        "_id": ids,
        "workorder": ids,
        "link_token": st.text(alphabet=HEX, min_size=8, max_size=8).map(lambda t: "wpl_" + t),
    },
    optional={
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
    },
)


@settings(max_examples=200)
@given(portal_link_payloads)
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


# -- strict JSON decoding (issue 15.6) ------------------------------------------------------------

finite_json = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
    ),
    lambda c: st.one_of(
        st.lists(c, max_size=4), st.dictionaries(st.text(max_size=8), c, max_size=4)
    ),
    max_leaves=20,
)
NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"]


def _loads_with_json(body: bytes) -> Any:
    """``_serde.loads`` as it runs without orjson (the default install)."""
    saved = _serde._decode
    _serde._decode = _serde._json_loads
    try:
        return loads(body)
    finally:
        _serde._decode = saved


def _decoders() -> list[Any]:
    return [_loads_with_json, loads]  # the json fallback, and the decoder as installed


@settings(max_examples=200)
@given(finite_json)
def test_valid_json_round_trips(value: Any) -> None:
    body = json.dumps(value, allow_nan=False).encode()
    for decode in _decoders():
        assert decode(body) == value


MARK = "@@non-finite@@"


def _plant(value: Any, rnd: Any) -> Any:
    """``value`` with MARK added in one of its arrays/objects (or beside it)."""
    containers: list[Any] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, dict)):
            containers.append(item)
            stack.extend(item if isinstance(item, list) else item.values())
    if not containers:
        return rnd.choice([MARK, [value, MARK], {"k": MARK}])
    target = rnd.choice(containers)
    if isinstance(target, list):
        target.insert(rnd.randint(0, len(target)), MARK)
    else:
        target[MARK] = MARK
    return value


@settings(max_examples=200)
@given(finite_json, st.sampled_from(NON_FINITE), st.randoms(use_true_random=False))
def test_non_finite_numbers_anywhere_are_refused(value: Any, constant: str, rnd: Any) -> None:
    text = json.dumps(_plant(value, rnd), allow_nan=False)
    text = text.replace(f": {json.dumps(MARK)}", f": {constant}").replace(
        json.dumps(MARK), constant
    )
    assert constant in text
    for decode in _decoders():
        with pytest.raises(ValueError, match="not valid JSON"):
            decode(text.encode())


@pytest.mark.parametrize(
    "body", [b"NaN", b'{"a": [1, Infinity]}', b'{"a": -Infinity}', b"[1e999]", b"{", b"\xff"]
)
def test_loads_refuses_without_chaining_the_body(body: bytes) -> None:
    for decode in _decoders():
        with pytest.raises(ValueError, match="not valid JSON") as info:
            decode(body)
        assert info.value.__context__ is None  # the decoder's error (which keeps `doc`) is gone
        assert info.value.__cause__ is None


def test_json_fallback_refuses_non_finite_numbers() -> None:
    for body in (b"NaN", b"[Infinity]", b'{"x": -Infinity}', b"1e400"):
        with pytest.raises(ValueError):
            _serde._json_loads(body)


# -- to_dict / to_json are JSON (issue 19) --------------------------------------------------------
def test_to_dict_has_enum_values_and_iso_datetimes() -> None:
    wo = WorkOrder(
        id="a",
        status=WorkOrderStatus.OPEN,
        created_date=dt.datetime(2024, 1, 1, 2, tzinfo=dt.timezone(dt.timedelta(hours=2))),
    )
    data = wo.to_dict()
    assert type(data["status"]) is str and data["status"] == "open"
    assert data["created_date"] == "2024-01-01T00:00:00.000Z"
    assert json.loads(wo.to_json()) == data
    assert isinstance(wo.to_json(indent=2), str)
    built = WorkOrder.from_dict({"_id": "a", "status": "brand_new", "x": {"y": [1]}})
    assert built.to_dict() == {"_id": "a", "status": "brand_new", "x": {"y": [1]}}
    assert type(built.to_dict()["status"]) is str


def test_to_dict_refuses_what_json_cannot_carry() -> None:
    with pytest.raises(ModelError):
        Site(id="s", latitude=float("nan")).to_dict()
    site = Site.from_dict({"_id": "s"})
    site.extra["when"] = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    assert site.to_dict()["when"] == "2024-01-01T00:00:00.000Z"
    site.extra["thing"] = object()
    with pytest.raises(ModelError):
        site.to_dict()


@settings(max_examples=200)
@given(work_order_payloads)
def test_to_dict_always_dumps_strictly(payload: dict[str, Any]) -> None:
    model = WorkOrder.from_dict(payload)
    text = json.dumps(model.to_dict(), allow_nan=False)
    assert json.loads(text) == payload
    assert json.loads(model.to_json()) == payload


@settings(max_examples=100)
@given(portal_link_payloads)
def test_portal_link_to_json_round_trips(payload: dict[str, Any]) -> None:
    model = PortalLink.from_dict(payload)
    assert PortalLink.from_dict(json.loads(model.to_json())) == model


def test_float_fields_refuse_non_finite_numbers() -> None:
    for value in (float("nan"), float("inf")):
        with pytest.raises(ModelError, match="latitude"):
            Site.from_dict({"_id": "s", "latitude": value})


# -- the one builder ------------------------------------------------------------------------------
def test_errors_name_the_model_and_the_field() -> None:
    with pytest.raises(ModelError, match=r"WorkOrder\.created_date: not an ISO 8601"):
        WorkOrder.from_dict({"_id": "1", "created_date": "yesterday"})
    with pytest.raises(ModelError, match=r"PortalLink\.permissions: Permissions\.can_view"):
        PortalLink.from_dict({"_id": "1", "permissions": {"can_view_details": "yes"}})
    with pytest.raises(ModelError, match="missing required field '_id'"):
        WorkOrder.from_dict({"name": "x"})


def test_from_dict_copies_and_structure_keeps_the_payload() -> None:
    payload: dict[str, Any] = {"_id": "1", "x": 1}
    model = WorkOrder.from_dict(payload)
    payload["y"] = 2
    assert model.extra == {"x": 1}
    assert model.to_dict() == {"_id": "1", "x": 1}


def test_replace_keeps_unknown_fields_and_absence() -> None:
    model = WorkOrder.from_dict({"_id": "1", "name": None, "zz": [1]})
    changed = model.replace(description="d")
    assert changed.to_dict() == {"_id": "1", "name": None, "description": "d", "zz": [1]}
    assert changed.extra == {"zz": [1]} and changed.extra is not model.extra


def test_models_built_in_code_equal_structured_ones() -> None:
    payload = {
        "_id": "1",
        "status": "open",
        "work_type_ids": ["a", 2],
        "created_date": "2024-01-01T00:00:00Z",
    }
    built = WorkOrder.from_dict(payload)
    assert built == WorkOrder(
        id="1",
        status=WorkOrderStatus.OPEN,
        work_type_ids=["a", "2"],
        created_date=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-02T03:04:05.678Z", dt.datetime(2024, 1, 2, 3, 4, 5, 678000, dt.timezone.utc)),
        ("2024-01-02 05:04:05+0200", dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)),
        ("2024-01-02", dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc)),
        (1704067200, dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)),
        (1704067200000, dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)),
    ],
)
def test_parse_datetime_forms_are_utc(text: Any, expected: dt.datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed == expected and parsed.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), True, "2024-13-01", [], "x"])
def test_parse_datetime_refuses(value: Any) -> None:
    with pytest.raises(ValueError):
        parse_datetime(value)


@settings(max_examples=200)
@given(
    st.datetimes(
        min_value=dt.datetime(1, 1, 2),
        max_value=dt.datetime(9999, 12, 30),
        timezones=st.sampled_from(
            [
                dt.timezone.utc,
                dt.timezone(dt.timedelta(hours=5, minutes=30)),
                dt.timezone(-dt.timedelta(hours=8)),
            ]
        ),
    ),
    st.sampled_from(["T", " "]),
)
def test_parse_datetime_reads_isoformat(moment: dt.datetime, sep: str) -> None:
    assert parse_datetime(moment.isoformat(sep)) == moment
    assert parse_datetime(format_datetime(moment)) == moment.replace(microsecond=moment.microsecond)
