"""Webhook notifications as the API records them (``GET /webhooks``)."""

from __future__ import annotations

import datetime as _dt
from typing import Any

import attrs

from .._serde import OpenEnum, wire
from ._base import Model


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
