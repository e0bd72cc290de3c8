"""Webhook notifications as the API records them (``GET /webhooks``)."""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any

import attrs

from .._serde import OpenEnum, wire
from ._base import Model

if TYPE_CHECKING:
    from ..webhooks import WebhookEvent


class EventType(OpenEnum):
    """Webhook event names; unknown names are kept, never rejected."""

    WORKORDER_CREATE = "WORKORDER.CREATE"
    SITE_CREATE = "SITE.CREATE"


@attrs.frozen(kw_only=True, slots=False)
class WebhookNotification(Model):
    """A recorded notification: what was (or should have been) delivered to your listener."""

    id: str = wire("_id")
    event: EventType
    created_date: _dt.datetime
    data: dict[str, Any] = attrs.field(factory=dict)

    def to_event(self) -> WebhookEvent:
        """The typed webhook event of this record (what a delivery of it parses to), e.g. a
        :class:`~cwpro.webhooks.WorkOrderCreated`; raises :class:`~cwpro.WebhookPayloadError`
        when the record is not a valid notification (an empty id or event name)."""
        from ..webhooks._events import event_from_mapping

        return event_from_mapping(self.to_dict())
