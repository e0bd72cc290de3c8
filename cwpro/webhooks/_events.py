"""Typed webhook events and the parsers that build them from a request body or an API record.

CWP delivers ``{"id", "event", "created_date", "data"}``; the webhook notifications API returns
the same record with ``_id`` instead of ``id``. Both shapes become a frozen :class:`WebhookEvent`
subclass: :class:`WorkOrderCreated`, :class:`SiteCreated` or, for any other event name,
:class:`GenericEvent` (an unknown event name is never an error).

Every parsing failure raises :class:`~cwpro._errors.WebhookPayloadError` and nothing else.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Final, TypeVar

import attrs

from cwpro._errors import WebhookPayloadError

if TYPE_CHECKING:
    from cwpro.models import Site, WorkOrder

__all__ = [
    "EVENT_TYPES",
    "GenericEvent",
    "SiteCreated",
    "WebhookEvent",
    "WorkOrderCreated",
    "event_from_mapping",
    "parse_event",
    "parse_event_datetime",
]

_T = TypeVar("_T")

#: Charsets a webhook body may declare; JSON on the wire is UTF-8 (RFC 8259), ASCII is a subset.
_ACCEPTED_CHARSETS: Final = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})

_ISO_DATETIME: Final = re.compile(
    r"""
    (?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})
    [Tt\x20]
    (?P<hour>\d{2}):(?P<minute>\d{2})
    (?::(?P<second>\d{2})(?:[.,](?P<fraction>\d{1,9}))?)?
    (?P<tz>[Zz]|[+-]\d{2}(?::?\d{2})?)?
    """,
    re.VERBOSE | re.ASCII,
)


def _frozen_mapping(value: Mapping[str, Any]) -> Mapping[str, Any]:
    """A read-only view of ``value`` (already-read-only views are kept as they are)."""
    if isinstance(value, MappingProxyType):
        return value
    return MappingProxyType(dict(value))


@attrs.frozen(kw_only=True)
class WebhookEvent:
    """One CWP webhook notification.

    Attributes:
        id: the notification id (``_id`` of the notification record); the de-duplication key.
        event: the event name as sent, e.g. ``"WORKORDER.CREATE"``.
        created_date: when the event happened (timezone-aware, UTC); order events by this.
        data: the object the event is about (read-only view of the JSON object).
        raw: the whole notification as received (read-only view).

    Events compare equal when all of ``id``, ``event``, ``created_date`` and ``data`` are equal;
    the hash uses ``id``, ``event`` and ``created_date`` only, so events can live in sets.
    """

    #: The event name this class stands for (``None`` for :class:`GenericEvent`).
    EVENT_NAME: ClassVar[str | None] = None

    id: str
    event: str
    created_date: datetime
    data: Mapping[str, Any] = attrs.field(converter=_frozen_mapping, hash=False, repr=False)
    raw: Mapping[str, Any] = attrs.field(
        converter=_frozen_mapping, eq=False, hash=False, repr=False
    )


def _structure_data(event: WebhookEvent, cls: type[_T]) -> _T:
    """Turn ``event.data`` into ``cls``, reporting any failure as a WebhookPayloadError."""
    from cwpro._serde import structure

    try:
        return structure(dict(event.data), cls)
    except WebhookPayloadError:
        raise
    except Exception as exc:
        raise WebhookPayloadError(
            f"the data of {event.event} notification {event.id!r} is not a valid "
            f"{cls.__name__}: {exc}"
        ) from exc


@attrs.frozen(kw_only=True)
class WorkOrderCreated(WebhookEvent):
    """``WORKORDER.CREATE``: a work order was created; ``data`` is the work order."""

    EVENT_NAME: ClassVar[str | None] = "WORKORDER.CREATE"

    @functools.cached_property
    def work_order(self) -> WorkOrder:
        """The created work order, structured from ``data`` on first access (then cached).

        Raises:
            WebhookPayloadError: ``data`` is not a valid work order.
        """
        from cwpro.models import WorkOrder

        return _structure_data(self, WorkOrder)


@attrs.frozen(kw_only=True)
class SiteCreated(WebhookEvent):
    """``SITE.CREATE``: a site was created; ``data`` is the site."""

    EVENT_NAME: ClassVar[str | None] = "SITE.CREATE"

    @functools.cached_property
    def site(self) -> Site:
        """The created site, structured from ``data`` on first access (then cached).

        Raises:
            WebhookPayloadError: ``data`` is not a valid site.
        """
        from cwpro.models import Site

        return _structure_data(self, Site)


@attrs.frozen(kw_only=True)
class GenericEvent(WebhookEvent):
    """Any event whose name this SDK version does not know; ``data`` is left as JSON."""


#: Event name -> event class. Names missing here parse as :class:`GenericEvent`.
EVENT_TYPES: Final[Mapping[str, type[WebhookEvent]]] = MappingProxyType(
    {
        "WORKORDER.CREATE": WorkOrderCreated,
        "SITE.CREATE": SiteCreated,
    }
)


def parse_event_datetime(value: object, *, field: str = "created_date") -> datetime:
    """Parse an ISO 8601 datetime of a notification into an aware UTC datetime.

    Accepts ``Z``/``z``, ``+HH:MM``/``+HHMM``/``+HH`` offsets, ``T`` or a space between date
    and time, optional seconds and 1 to 9 fraction digits (cut to microseconds). A value without
    an offset is taken as UTC.

    Raises:
        WebhookPayloadError: ``value`` is not a string or not a valid datetime.
    """
    if not isinstance(value, str):
        raise WebhookPayloadError(f"{field} must be a string, not {_json_type(value)}")
    match = _ISO_DATETIME.fullmatch(value.strip())
    if match is None:
        raise WebhookPayloadError(f"{field} is not an ISO 8601 datetime: {value[:40]!r}")
    parts = match.groupdict()
    fraction = (parts["fraction"] or "").ljust(6, "0")[:6]
    try:
        tzinfo = _parse_offset(parts["tz"])
        parsed = datetime(
            int(parts["year"]),
            int(parts["month"]),
            int(parts["day"]),
            int(parts["hour"]),
            int(parts["minute"]),
            int(parts["second"] or 0),
            int(fraction),
            tzinfo=tzinfo,
        )
        return parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError) as exc:
        raise WebhookPayloadError(f"{field} is not a valid datetime: {value[:40]!r}") from exc


def _parse_offset(text: str | None) -> timezone:
    """The timezone of an ISO 8601 offset (``None``/``Z`` -> UTC); ValueError when invalid."""
    if text is None or text in ("Z", "z"):
        return timezone.utc
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError(f"invalid UTC offset {text!r}")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _required_string(obj: Mapping[str, Any], *keys: str) -> str:
    """The first of ``keys`` present in ``obj``, which must be a non-empty string."""
    for key in keys:
        if key in obj:
            value = obj[key]
            if not isinstance(value, str):
                raise WebhookPayloadError(f"{key} must be a string, not {_json_type(value)}")
            if not value.strip():
                raise WebhookPayloadError(f"{key} must not be empty")
            return value
    raise WebhookPayloadError(f"the notification has no {' or '.join(keys)} field")


def event_from_mapping(obj: object) -> WebhookEvent:
    """Build the typed event of a decoded notification.

    ``obj`` is either a delivered body (``id``) or a record from the webhook notifications API
    (``_id``); when both keys are present ``id`` wins.

    Raises:
        WebhookPayloadError: ``obj`` is not an object, or a field is missing or of the wrong
            type, or ``created_date`` is not a datetime.
    """
    if not isinstance(obj, Mapping):
        raise WebhookPayloadError(f"a notification must be a JSON object, not {_json_type(obj)}")
    if not all(isinstance(key, str) for key in obj):
        raise WebhookPayloadError("a notification's keys must be strings")
    event_id = _required_string(obj, "id", "_id")
    event_name = _required_string(obj, "event")
    created_date = parse_event_datetime(obj.get("created_date"))
    if "data" not in obj:
        raise WebhookPayloadError("the notification has no data field")
    data = obj["data"]
    if not isinstance(data, Mapping):
        raise WebhookPayloadError(f"data must be an object, not {_json_type(data)}")
    event_class = EVENT_TYPES.get(event_name, GenericEvent)
    return event_class(id=event_id, event=event_name, created_date=created_date, data=data, raw=obj)


def _reject_constant(name: str) -> Any:
    """``json`` hook: NaN and Infinity are not JSON."""
    raise ValueError(f"{name} is not valid JSON")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A header value by case-insensitive name (works for plain dicts and multidicts)."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


def _declared_charset(headers: Mapping[str, str] | None) -> str | None:
    """The ``charset`` parameter of the Content-Type header, lower-cased, if any."""
    if not headers:
        return None
    content_type = _header(headers, "Content-Type")
    if not content_type:
        return None
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return None


def parse_event(body: bytes, headers: Mapping[str, str] | None = None) -> WebhookEvent:
    """Parse a webhook request body into a typed event.

    Args:
        body: the raw request body (UTF-8 JSON; a leading byte-order mark is ignored).
        headers: the request headers, optional. Only ``Content-Type`` is read: a declared
            ``charset`` other than UTF-8/ASCII is refused. The media type itself is not checked
            (a body that decodes as a valid notification is accepted whatever it is labelled).

    Returns:
        A :class:`WorkOrderCreated`, :class:`SiteCreated` or :class:`GenericEvent`.

    Raises:
        WebhookPayloadError: for every way the body can be wrong (not UTF-8, not JSON, not an
            object, a missing or mistyped field, a bad date, nesting too deep ...). No other
            exception type escapes.
    """
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise WebhookPayloadError(f"the body must be bytes, not {type(body).__name__}")
    charset = _declared_charset(headers)
    if charset is not None and charset not in _ACCEPTED_CHARSETS:
        raise WebhookPayloadError(f"unsupported charset {charset[:40]!r}; expected utf-8")
    try:
        text = bytes(body).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise WebhookPayloadError(
            f"the body is not valid UTF-8 (byte {exc.start}: {exc.reason})"
        ) from exc
    if not text.strip():
        raise WebhookPayloadError("the body is empty")
    try:
        decoded = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise WebhookPayloadError(
            f"the body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from exc
    except RecursionError as exc:
        raise WebhookPayloadError("the body's JSON is nested too deeply") from exc
    except ValueError as exc:  # NaN/Infinity, integers over the digit limit
        raise WebhookPayloadError(f"the body is not valid JSON: {exc}") from exc
    return event_from_mapping(decoded)
