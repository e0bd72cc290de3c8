"""Webhook notification routes: the list (last 90 days, ``event=`` filter) and one record."""

from __future__ import annotations

from aiohttp import web

from cwpro.emulator.context import context_of
from cwpro.emulator.datasets import NotificationStore
from cwpro.emulator.list_query import Between, Condition, Equals
from cwpro.emulator.wire import HttpError, ok

_LATEST = "9999-12-31T23:59:59.999Z"


async def list_notifications(request: web.Request) -> web.Response:
    """``GET /webhooks``: cursor list of the notifications of the last 90 days."""
    ctx = context_of(request)
    cutoff = NotificationStore.cutoff(ctx.clock.now())
    extra: list[tuple[str, Condition]] = [
        ("retention", Between("created_date", cutoff, _LATEST, numeric=False)),
    ]
    event = request.query.get("event")
    if event is not None and event.strip():
        extra.append((f"event={event.strip()}", Equals("event", event.strip())))
    return ctx.list_response(request, ctx.state.notifications, scope="webhooks", extra=extra)


async def get_notification(request: web.Request) -> web.Response:
    """``GET /webhooks/{id}``: 404 when unknown or older than 90 days."""
    ctx = context_of(request)
    object_id = request.match_info["id"]
    record = ctx.state.notifications.visible(object_id, ctx.clock.now())
    if record is None:
        raise HttpError(
            404, "Webhook notification not found", "Notifications are kept for 3 months"
        )
    return ok(record)


def notification_routes() -> list[web.RouteDef]:
    """The webhook notification routes."""
    return [
        web.get("/webhooks", list_notifications, allow_head=False),
        web.get("/webhooks/{id}", get_notification, allow_head=False),
    ]
