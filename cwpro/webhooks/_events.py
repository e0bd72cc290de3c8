"""Typed webhook events and the parsers that build them from a request body or an API record.

CWP delivers ``{"id", "event", "created_date", "data"}``; the webhook notifications API returns
the same record with ``_id`` instead of ``id``. Both shapes become a frozen :class:`WebhookEvent`
subclass: :class:`WorkOrderCreated`, :class:`SiteCreated` or, for any other event name,
:class:`GenericEvent` (an unknown event name is never an error).

Every parsing failure raises :class:`~cwpro._errors.WebhookPayloadError` and nothing else.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Final, TypeVar

import attrs

from cwpro._errors import ModelError, WebhookPayloadError
from cwpro._serde import json_type, loads, parse_datetime, structure, wire
from cwpro.models import EventType, Model

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


def _frozen_mapping(value: Mapping[str, Any]) -> Mapping[str, Any]:
    """A read-only view of ``value`` (already-read-only views are kept as they are)."""
    if isinstance(value, MappingProxyType):
        return value
    return MappingProxyType(dict(value))


@attrs.frozen(kw_only=True, slots=False)
class WebhookEvent(Model):
    """One CWP webhook notification: a :class:`~cwpro.models.Model`, like
    :class:`~cwpro.models.WebhookNotification` (the same record from the API), built by the same
    converter.

    Attributes:
        id: the notification id (``id`` as delivered, ``_id`` in an API record); the
            de-duplication key.
        event: the event name as sent, e.g. ``"WORKORDER.CREATE"`` (an
            :class:`~cwpro.models.EventType`: a string; unknown names are kept).
        created_date: when the event happened (timezone-aware, UTC); order events by this.
        data: the object the event is about (read-only view of the JSON object).
        raw: the whole notification as received (read-only view).

    Events compare equal when all of ``id``, ``event``, ``created_date`` and ``data`` are equal;
    the hash uses ``id``, ``event`` and ``created_date`` only, so events can live in sets.
    """

    #: The event name this class stands for (``None`` for :class:`GenericEvent`).
    EVENT_NAME: ClassVar[str | None] = None

    id: str = wire("id", "_id")
    event: EventType
    created_date: datetime
    data: Mapping[str, Any] = attrs.field(converter=_frozen_mapping, hash=False, repr=False)

    @property
    def raw(self) -> Mapping[str, Any]:
        """The whole notification as received (read-only view; the fields for an event built
        in code)."""
        source = self.__dict__.get("_wire")
        if source is None:
            return MappingProxyType(self.to_dict())
        return source if isinstance(source, MappingProxyType) else MappingProxyType(source)


def _structure_data(event: WebhookEvent, cls: type[_T]) -> _T:
    """Turn ``event.data`` into ``cls``, reporting any failure as a WebhookPayloadError."""
    try:
        return structure(dict(event.data), cls)
    except ModelError as exc:
        raise WebhookPayloadError(
            f"the data of {event.event} notification {event.id!r} is not a valid "
            f"{cls.__name__}: {exc}"
        ) from None


@attrs.frozen(kw_only=True, slots=False)
class WorkOrderCreated(WebhookEvent):
    """``WORKORDER.CREATE``: a work order was created; ``data`` is the work order."""

    EVENT_NAME: ClassVar[str | None] = EventType.WORKORDER_CREATE.value

    @functools.cached_property
    def work_order(self) -> WorkOrder:
        """The created work order, structured from ``data`` on first access (then cached).

        Raises:
            WebhookPayloadError: ``data`` is not a valid work order.
        """
        from cwpro.models import WorkOrder

        return _structure_data(self, WorkOrder)


@attrs.frozen(kw_only=True, slots=False)
class SiteCreated(WebhookEvent):
    """``SITE.CREATE``: a site was created; ``data`` is the site."""

    EVENT_NAME: ClassVar[str | None] = EventType.SITE_CREATE.value

    @functools.cached_property
    def site(self) -> Site:
        """The created site, structured from ``data`` on first access (then cached).

        Raises:
            WebhookPayloadError: ``data`` is not a valid site.
        """
        from cwpro.models import Site

        return _structure_data(self, Site)


@attrs.frozen(kw_only=True, slots=False)
class GenericEvent(WebhookEvent):
    """Any event whose name this SDK version does not know; ``data`` is left as JSON."""


#: Event name -> event class. Names missing here parse as :class:`GenericEvent`.
EVENT_TYPES: Final[Mapping[str, type[WebhookEvent]]] = MappingProxyType(
    {cls.EVENT_NAME: cls for cls in (WorkOrderCreated, SiteCreated) if cls.EVENT_NAME}
)


def parse_event_datetime(value: object, *, field: str = "created_date") -> datetime:
    """Parse a notification's date-time with :func:`cwpro._serde.parse_datetime` (the one
    parser models use too) into an aware UTC datetime.

    Raises:
        WebhookPayloadError: ``value`` is not a date-time.
    """
    try:
        return parse_datetime(value)
    except ValueError as exc:
        raise WebhookPayloadError(f"{field}: {exc}") from None


def event_from_mapping(obj: object) -> WebhookEvent:
    """Build the typed event of a decoded notification.

    ``obj`` is either a delivered body (``id``) or a record from the webhook notifications API
    (``_id``); when both keys are present ``id`` wins. An unknown event name gives a
    :class:`GenericEvent`, never an error.

    Raises:
        WebhookPayloadError: ``obj`` is not an object, or a field is missing, empty or of the
            wrong type, or ``created_date`` is not a date-time.
    """
    if not isinstance(obj, Mapping):
        raise WebhookPayloadError(f"a notification must be a JSON object, not {json_type(obj)}")
    return _event(dict(obj))  # the event keeps its source: a copy the caller cannot change


def _event(obj: object) -> WebhookEvent:
    """:func:`event_from_mapping` for a decoded body the event may keep as it is."""
    if not isinstance(obj, Mapping):
        raise WebhookPayloadError(f"a notification must be a JSON object, not {json_type(obj)}")
    if not all(isinstance(key, str) for key in obj):
        raise WebhookPayloadError("a notification's keys must be strings")
    name = obj.get("event")
    event_class = EVENT_TYPES.get(name, GenericEvent) if isinstance(name, str) else GenericEvent
    try:
        event = structure(obj, event_class)
    except ModelError as exc:
        raise WebhookPayloadError(f"not a valid notification: {exc}") from None
    for field in ("id", "event"):
        if not getattr(event, field).strip():
            raise WebhookPayloadError(f"not a valid notification: {field} must not be empty")
    return event


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
    raw = bytes(body)
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WebhookPayloadError(
            f"the body is not valid UTF-8 (byte {exc.start}: {exc.reason})"
        ) from None
    if not text.strip():
        raise WebhookPayloadError("the body is empty")
    try:
        decoded = loads(raw)
    except ValueError as exc:  # syntax, NaN/Infinity, nesting, integers over the digit limit
        raise WebhookPayloadError(f"the body is {exc}") from None
    return _event(decoded)
