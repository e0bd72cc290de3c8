"""The unauthenticated control API under ``/_emulator/`` (for emulators in another process).

| route | body | effect |
| --- | --- | --- |
| ``POST /_emulator/faults`` | ``FaultRegistry.add`` kwargs | add a rule -> its description |
| ``GET /_emulator/faults`` | | active rules and injected counts |
| ``DELETE /_emulator/faults`` | | remove every rule |
| ``POST /_emulator/latency`` | ``{"ms": 20}`` | set the added latency |
| ``POST /_emulator/expire-tokens`` | | invalidate every token |
| ``POST /_emulator/clock`` | ``{"advance": seconds}`` | move the emulator clock forward |
| ``GET /_emulator/stats`` | ``?route=PATTERN`` optional | request counters (+ ``count``) |
| ``DELETE /_emulator/stats`` | | zero the request counters |
| ``POST /_emulator/webhook-targets`` | ``{"url", "username"?, "password"?}`` | subscribe a URL |
| ``POST /_emulator/drain-webhooks`` | ``{"timeout"?: seconds}`` | wait for deliveries |
| ``GET /_emulator/webhook-attempts`` | | every delivery attempt |
| ``GET /_emulator/documents/{id}`` | | download an uploaded document |
| ``GET /_emulator/health`` | | ``{"ok": true}`` |
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

from cwpro.emulator.context import context_of
from cwpro.emulator.wire import format_datetime, json_response, loads

ADMIN_PREFIX = "/_emulator/"


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = loads(raw)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=f"invalid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="expected a JSON object")
    return body


async def add_fault(request: web.Request) -> web.Response:
    """Add a fault rule from JSON kwargs."""
    ctx = context_of(request)
    body = await _body(request)
    kind = body.pop("kind", None)
    if not isinstance(kind, str):
        return json_response({"error": "kind is required"}, status=400)
    try:
        fault = ctx.faults.add(kind, **body)
    except (TypeError, ValueError) as exc:
        return json_response({"error": str(exc)}, status=400)
    return json_response(fault.to_dict(), status=201)


def _non_negative(
    body: dict[str, Any], key: str, default: float | None = None
) -> float | web.Response:
    """``body[key]`` as a float if it is a number >= 0 (a bool is not), else the 400 to answer."""
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        return json_response({"error": f"{key} must be a number >= 0"}, status=400)
    return float(value)


async def list_faults(request: web.Request) -> web.Response:
    """Active fault rules and per-kind injection counts."""
    ctx = context_of(request)
    return json_response(
        {"faults": [fault.to_dict() for fault in ctx.faults], "injected": dict(ctx.faults.injected)}
    )


async def clear_faults(request: web.Request) -> web.Response:
    """Remove every fault rule."""
    context_of(request).faults.clear()
    return json_response({"cleared": True})


async def set_latency(request: web.Request) -> web.Response:
    """Set the latency added to every API request."""
    ctx = context_of(request)
    milliseconds = _non_negative(await _body(request), "ms")
    if isinstance(milliseconds, web.Response):
        return milliseconds
    ctx.settings.latency_ms = milliseconds
    return json_response({"latency_ms": ctx.settings.latency_ms})


async def expire_tokens(request: web.Request) -> web.Response:
    """Invalidate every issued token."""
    context_of(request).tokens.expire_all()
    return json_response({"expired": True})


async def advance_clock(request: web.Request) -> web.Response:
    """Move the emulator clock forward by ``advance`` seconds."""
    ctx = context_of(request)
    seconds = _non_negative(await _body(request), "advance", 0)
    if isinstance(seconds, web.Response):
        return seconds
    return json_response({"now": format_datetime(ctx.clock.advance(seconds))})


async def get_stats(request: web.Request) -> web.Response:
    """Request counters, fault counts and webhook progress; with ``?route=PATTERN`` also
    ``count``, the requests received on the routes the pattern matches."""
    ctx = context_of(request)
    snapshot = ctx.stats.snapshot()
    route = request.query.get("route")
    if route is not None:
        snapshot["count"] = ctx.stats.count(route)
    snapshot["faults_by_kind"] = dict(ctx.faults.injected)
    snapshot["webhook_attempts"] = len(ctx.webhooks.attempts)
    snapshot["webhooks_pending"] = ctx.webhooks.pending
    return json_response(snapshot)


async def reset_stats(request: web.Request) -> web.Response:
    """Zero the request counters (the per-kind fault counts are kept)."""
    context_of(request).stats.reset()
    return json_response({"reset": True})


async def add_webhook_target(request: web.Request) -> web.Response:
    """Subscribe a URL to every future event."""
    ctx = context_of(request)
    body = await _body(request)
    url = body.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return json_response({"error": "url must be an http(s) URL"}, status=400)
    username, password = body.get("username"), body.get("password")
    basic_auth = None
    if username is not None:
        basic_auth = (str(username), str(password or ""))
    ctx.webhooks.add_target(url, basic_auth=basic_auth)
    return json_response({"url": url, "targets": len(ctx.webhooks.targets)}, status=201)


async def drain_webhooks(request: web.Request) -> web.Response:
    """Wait (up to ``timeout`` seconds, default 30) until deliveries finish."""
    ctx = context_of(request)
    body = await _body(request)
    timeout = body.get("timeout", 30.0)
    try:
        await ctx.webhooks.drain(timeout=float(timeout))
    except TimeoutError:
        return json_response({"drained": False, "pending": ctx.webhooks.pending})
    return json_response({"drained": True, "pending": 0})


async def webhook_attempts(request: web.Request) -> web.Response:
    """Every delivery attempt so far."""
    ctx = context_of(request)
    return json_response({"attempts": [dataclasses.asdict(a) for a in ctx.webhooks.attempts]})


async def download_document(request: web.Request) -> web.StreamResponse:
    """The bytes of an uploaded document."""
    ctx = context_of(request)
    document = ctx.state.documents.get(request.match_info["id"])
    if document is None or not document.path.exists():
        raise web.HTTPNotFound()
    return web.FileResponse(
        document.path, headers={"Content-Type": str(document.meta["content_type"])}
    )


async def health(request: web.Request) -> web.Response:
    """Liveness probe."""
    return json_response({"ok": True})


def admin_routes() -> list[web.RouteDef]:
    """The control routes."""
    return [
        web.post("/_emulator/faults", add_fault),
        web.get("/_emulator/faults", list_faults, allow_head=False),
        web.delete("/_emulator/faults", clear_faults),
        web.post("/_emulator/latency", set_latency),
        web.post("/_emulator/expire-tokens", expire_tokens),
        web.post("/_emulator/clock", advance_clock),
        web.get("/_emulator/stats", get_stats, allow_head=False),
        web.delete("/_emulator/stats", reset_stats),
        web.post("/_emulator/webhook-targets", add_webhook_target),
        web.post("/_emulator/drain-webhooks", drain_webhooks),
        web.get("/_emulator/webhook-attempts", webhook_attempts, allow_head=False),
        web.get("/_emulator/documents/{id}", download_document, allow_head=False),
        web.get("/_emulator/health", health, allow_head=False),
    ]
