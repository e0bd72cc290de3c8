"""parse_event / event_from_mapping: typed events, dates, and nothing but WebhookPayloadError."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cwpro._errors import WebhookPayloadError
from cwpro.models import Site, WorkOrder
from cwpro.webhooks import (
    GenericEvent,
    SiteCreated,
    WebhookEvent,
    WorkOrderCreated,
    event_from_mapping,
    parse_event,
)

from ._helpers import BASE_TIME, body, notification, object_id


def test_work_order_created_is_typed_and_structured_lazily() -> None:
    event = parse_event(body(1))
    assert isinstance(event, WorkOrderCreated)
    assert event.id == object_id(1)
    assert event.event == "WORKORDER.CREATE"
    assert event.created_date == BASE_TIME + timedelta(seconds=1)
    assert event.created_date.tzinfo is not None
    assert event.raw["id"] == object_id(1)
    work_order = event.work_order
    assert isinstance(work_order, WorkOrder)
    assert work_order.id == object_id(1_000_001)
    assert work_order.name == "work order 1"
    assert event.work_order is work_order  # cached


def test_site_created() -> None:
    data = {"_id": object_id(7), "name": "HQ", "address": {"city": "Austin"}, "latitude": 30.2}
    event = parse_event(body(2, event="SITE.CREATE", data=data))
    assert isinstance(event, SiteCreated)
    assert isinstance(event.site, Site)
    assert event.site.name == "HQ"
    assert event.site.address is not None
    assert event.site.address.city == "Austin"


def test_unknown_event_name_is_a_generic_event() -> None:
    event = parse_event(body(3, event="INVOICE.PAID", data={"amount": 3}))
    assert type(event) is GenericEvent
    assert event.event == "INVOICE.PAID"
    assert event.data == {"amount": 3}


def test_event_names_are_case_sensitive() -> None:
    assert type(parse_event(body(3, event="workorder.create"))) is GenericEvent


def test_bad_work_order_data_raises_payload_error_on_access() -> None:
    event = parse_event(body(4, data={"_id": {"not": "a string"}, "name": "x"}))
    assert isinstance(event, WorkOrderCreated)
    with pytest.raises(WebhookPayloadError, match="not a valid WorkOrder"):
        _ = event.work_order


def test_data_and_raw_are_read_only() -> None:
    event = parse_event(body(5))
    with pytest.raises(TypeError):
        event.data["name"] = "changed"  # type: ignore[index]
    with pytest.raises(TypeError):
        event.raw["id"] = "changed"  # type: ignore[index]


def test_events_are_hashable_and_compare_by_value() -> None:
    first, again = parse_event(body(6)), parse_event(body(6))
    assert first == again
    assert hash(first) == hash(again)
    assert len({first, again, parse_event(body(7))}) == 2
    assert first != parse_event(body(6, data={"other": True}))


def test_event_from_mapping_accepts_record_shape() -> None:
    record = notification(8)
    record["_id"] = record.pop("id")
    event = event_from_mapping(record)
    assert isinstance(event, WorkOrderCreated)
    assert event.id == object_id(8)
    assert event.raw["_id"] == object_id(8)


def test_event_from_mapping_prefers_id_over_underscore_id() -> None:
    record = notification(9)
    record["_id"] = "other"
    assert event_from_mapping(record).id == object_id(9)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-02T03:04:05.678Z", datetime(2024, 1, 2, 3, 4, 5, 678000, timezone.utc)),
        ("2024-01-02T03:04:05Z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
        ("2024-01-02t03:04:05z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
        ("2024-01-02 03:04:05", datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
        ("2024-01-02T03:04", datetime(2024, 1, 2, 3, 4, tzinfo=timezone.utc)),
        ("2024-01-02T05:04:05+02:00", datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
        ("2024-01-02T05:04:05+0200", datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
        ("2024-01-02T01:04:05-02", datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
        ("2024-01-02T03:04:05.1Z", datetime(2024, 1, 2, 3, 4, 5, 100000, timezone.utc)),
        ("2024-01-02T03:04:05.123456789Z", datetime(2024, 1, 2, 3, 4, 5, 123456, timezone.utc)),
        ("2024-01-02T03:04:05,5Z", datetime(2024, 1, 2, 3, 4, 5, 500000, timezone.utc)),
        # one parser for models and events (cwpro._serde.parse_datetime): dates and epochs too
        ("2024-01-02", datetime(2024, 1, 2, tzinfo=timezone.utc)),
    ],
)
def test_created_date_forms(text: str, expected: datetime) -> None:
    event = parse_event(
        body(10, created=BASE_TIME).replace(b"2024-01-01T00:00:00.000Z", text.encode(), 1)
    )
    assert event.created_date == expected
    assert event.created_date.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "value",
    [
        "2024-13-01T00:00:00Z",
        "2024-02-30T00:00:00Z",
        "2024-01-01T24:00:00Z",
        "2024-01-01T00:00:60Z",
        "2024-01-01T00:00:00+24:00",
        "yesterday",
        "",
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",
        "\uff12\uff10\uff12\uff14-01-01T00:00:00Z",  # full-width digits
        True,
        None,
        ["2024-01-01T00:00:00Z"],
    ],
)
def test_bad_created_date(value: Any) -> None:
    payload = notification(11)
    payload["created_date"] = value
    with pytest.raises(WebhookPayloadError, match="created_date"):
        parse_event(json.dumps(payload).encode())


def _without(key: str) -> dict[str, Any]:
    payload = notification(12)
    del payload[key]
    return payload


def _with(key: str, value: Any) -> dict[str, Any]:
    payload = notification(12)
    payload[key] = value
    return payload


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (_without("id"), "missing required field 'id' \\(or '_id'\\)"),
        (_without("event"), "missing required field 'event'"),
        (_without("created_date"), "created_date"),
        (_without("data"), "missing required field 'data'"),
        (_with("id", {}), "id: expected a string, got an object"),
        (_with("id", ""), "id must not be empty"),
        (_with("event", None), "event: expected a string, got null"),
        (_with("event", "  "), "event must not be empty"),
        (_with("data", []), "data: expected an object, got an array"),
        (_with("data", None), "data: expected an object, got null"),
        (_with("data", "text"), "data: expected an object, got a string"),
        ([], "must be a JSON object, not an array"),
        ("text", "must be a JSON object, not a string"),
        (3.5, "not a number"),
        (None, "not null"),
    ],
)
def test_bad_fields(payload: Any, message: str) -> None:
    with pytest.raises(WebhookPayloadError, match=message):
        parse_event(json.dumps(payload).encode())


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"\xff\xfe{}", "not valid UTF-8"),
        (b'{"id": "\xe9"}', "not valid UTF-8"),
        (b"{", "not valid JSON"),
        (b'{"id": 1,}', "not valid JSON"),
        (b"NaN", "not valid JSON"),
        (b'{"x": Infinity}', "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
        (b"1" * 5000, "not valid JSON"),
    ],
)
def test_bad_bodies(raw: bytes, message: str) -> None:
    with pytest.raises(WebhookPayloadError, match=message):
        parse_event(raw)


def test_byte_order_mark_is_ignored() -> None:
    assert parse_event(b"\xef\xbb\xbf" + body(13)).id == object_id(13)


def test_declared_charset() -> None:
    assert parse_event(body(14), {"content-type": "application/json; charset=UTF-8"}).id
    assert parse_event(body(14), {"Content-Type": 'application/json; charset="utf-8"'}).id
    assert parse_event(body(14), {"Content-Type": "application/json"}).id
    with pytest.raises(WebhookPayloadError, match="unsupported charset"):
        parse_event(body(14), {"CONTENT-TYPE": "application/json; charset=latin-1"})


def test_non_bytes_body_is_a_payload_error() -> None:
    with pytest.raises(WebhookPayloadError, match="must be bytes"):
        parse_event("{}")  # type: ignore[arg-type]


def test_event_from_mapping_rejects_non_mappings_and_non_string_keys() -> None:
    with pytest.raises(WebhookPayloadError, match="JSON object"):
        event_from_mapping([("id", "x")])
    with pytest.raises(WebhookPayloadError, match="keys must be strings"):
        event_from_mapping({1: "x"})


def _parse_or_error(raw: bytes) -> WebhookEvent | None:
    """The event, or None when parse_event raised WebhookPayloadError (with a message)."""
    try:
        return parse_event(raw)
    except WebhookPayloadError as exc:
        message = str(exc)
    assert message
    return None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_raise_only_payload_errors(raw: bytes) -> None:
    _parse_or_error(raw)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)  # beyond 64 bits orjson (cwpro[speed]) gives floats
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)

field_values = (
    json_values
    | st.sampled_from(["WORKORDER.CREATE", "SITE.CREATE", "2024-01-01T00:00:00Z", "x"])
    | st.datetimes().map(lambda moment: moment.isoformat())
)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["id", "_id", "event", "created_date", "data", "other"]),
        field_values,
    )
    | json_values
)
def test_arbitrary_json_raises_only_payload_errors(value: Any) -> None:
    event = _parse_or_error(json.dumps(value).encode())
    if event is not None:
        assert isinstance(value, dict)
        assert isinstance(event.data, Mapping)
        assert event.created_date.tzinfo is not None
        # structuring the typed payload may fail, but only with WebhookPayloadError
        try:
            if isinstance(event, WorkOrderCreated):
                _ = event.work_order
            elif isinstance(event, SiteCreated):
                _ = event.site
        except WebhookPayloadError:
            pass


@settings(max_examples=100, deadline=None)
@given(
    event_id=st.text(min_size=1, max_size=30).filter(str.strip),
    name=st.text(min_size=1, max_size=30).filter(str.strip),
    created=st.datetimes(
        min_value=datetime(1970, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.just(timezone.utc),
    ),
    data=st.dictionaries(st.text(max_size=10), json_values, max_size=5),
)
def test_valid_notifications_round_trip(
    event_id: str, name: str, created: datetime, data: dict[str, Any]
) -> None:
    payload = {"id": event_id, "event": name, "created_date": created.isoformat(), "data": data}
    event = parse_event(json.dumps(payload).encode())
    assert (event.id, event.event, event.created_date, dict(event.data)) == (
        event_id,
        name,
        created,
        data,
    )


def test_api_records_and_deliveries_give_the_same_event() -> None:
    from cwpro.models import WebhookNotification

    delivered = notification(15)
    record = dict(delivered)
    record["_id"] = record.pop("id")
    from_api = WebhookNotification.from_dict(record)
    event = from_api.to_event()
    assert isinstance(event, WorkOrderCreated)
    assert event == parse_event(json.dumps(delivered).encode())
    assert event.to_dict() == record  # the record round-trips, under the name it used
    assert from_api.created_date == event.created_date


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=20).filter(str.strip))
def test_unknown_event_names_are_generic_events(name: str) -> None:
    payload = notification(16)
    payload["event"] = name
    event = parse_event(json.dumps(payload).encode())
    expected = {"WORKORDER.CREATE": WorkOrderCreated, "SITE.CREATE": SiteCreated}
    assert type(event) is expected.get(name, GenericEvent)
    assert event.event == name
