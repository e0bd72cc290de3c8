"""The emulator's middleware chain, outermost first:
stats -> latency -> fault injection -> bearer auth -> rate limit -> error shaping -> handler.

The control API under ``/_emulator/`` skips all but error shaping. ``POST /auth/token`` and the
public ``GET /portal/{token}`` skip auth. Errors on ``/workorder-portal-link*`` and ``/portal/``
use the portal shape ``{"success": false, "error": ...}``, all others the CWP envelope.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from cwpro.emulator.auth import bearer_token
from cwpro.emulator.context import EmulatorContext, context_of
from cwpro.emulator.faults import BODY_REWRITE_KINDS, OPTIONALLY_PROCESSED_KINDS, Fault
from cwpro.emulator.ratelimit import rate_limit_middleware
from cwpro.emulator.routes_admin import ADMIN_PREFIX
from cwpro.emulator.wire import (
    BusinessError,
    HttpError,
    dumps,
    error_response,
    loads,
    status_phrase,
)

logger = logging.getLogger("cwpro.emulator")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PUBLIC_TEMPLATES = frozenset({"POST /auth/token", "GET /portal/{token}"})
LIST_TEMPLATES = frozenset(
    {
        "/workorders",
        "/worktypes",
        "/sites",
        "/webhooks",
        "/workorders/{id}/resources/{resource_name}",
    }
)
HTML_ERROR_PAGE = (
    "<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


def route_template(request: web.BaseRequest) -> str:
    """The route template that matched (``/workorders/{id}``), else the raw path."""
    match_info = getattr(request, "match_info", None)
    resource = None if match_info is None else match_info.route.resource
    return resource.canonical if resource is not None else request.path


def _is_admin(request: web.BaseRequest) -> bool:
    return request.path.startswith(ADMIN_PREFIX)


@web.middleware
async def in_flight_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Keep the task answering ``request`` in the context's ``in_flight`` while it runs: one
    whose client has gone is no connection aiohttp's shutdown waits for, so closing the
    emulator cancels it (a slow fault would sleep on past the loop, destroyed pending)."""
    task = asyncio.current_task()
    if task is None:  # pragma: no cover - aiohttp answers every request in a task
        return await handler(request)
    in_flight = context_of(request).in_flight
    in_flight.add(task)
    try:
        return await handler(request)
    finally:
        in_flight.discard(task)


@web.middleware
async def stats_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count every API request by ``"METHOD /route-template"``."""
    if not _is_admin(request):
        context_of(request).stats.record_request(f"{request.method} {route_template(request)}")
    return await handler(request)


@web.middleware
async def latency_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Delay every API request by the configured latency."""
    latency_ms = context_of(request).settings.latency_ms
    if latency_ms > 0 and not _is_admin(request):
        await asyncio.sleep(latency_ms / 1000.0)
    return await handler(request)


@web.middleware
async def fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Act out the fault rule that fires for this request, if any."""
    if _is_admin(request):
        return await handler(request)
    ctx = context_of(request)
    template = route_template(request)
    fault = ctx.faults.pick(
        request.method,
        template,
        request.path,
        is_list_route=request.method == "GET" and template in LIST_TEMPLATES,
    )
    if fault is None:
        return await handler(request)
    ctx.stats.record_fault()
    logger.debug("injecting %s fault into %s %s", fault.kind, request.method, request.path)
    return await act_out(fault, request, handler, ctx)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Require a valid bearer token, except on public routes."""
    if _is_admin(request) or f"{request.method} {route_template(request)}" in PUBLIC_TEMPLATES:
        return await handler(request)
    token = bearer_token(request)
    tokens = context_of(request).tokens
    if token is None:
        return error_response(
            request.path, 401, "Missing bearer token", "Send Authorization: Bearer <token>"
        )
    if not tokens.is_valid(token):
        return error_response(
            request.path,
            401,
            "The bearer token is invalid or expired",
            "Request a new token at POST /auth/token",
        )
    return await handler(request)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn raised errors into JSON bodies of the right shape."""
    try:
        return await handler(request)
    except BusinessError as exc:
        return exc.response()
    except HttpError as exc:
        return error_response(request.path, exc.status, exc.message, exc.detail)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        message = (
            exc.text
            if exc.text and not exc.text.startswith(str(exc.status))
            else status_phrase(exc.status)
        )
        return error_response(request.path, exc.status, message, headers=headers)
    except (asyncio.CancelledError, ConnectionError):
        raise
    except Exception:
        logger.exception("emulator handler failed on %s %s", request.method, request.path)
        return error_response(request.path, 500, "Internal emulator error")


MIDDLEWARES = (
    in_flight_middleware,
    stats_middleware,
    latency_middleware,
    fault_middleware,
    auth_middleware,
    rate_limit_middleware,
    error_middleware,
)


# ---------------------------------------------------------------------------------------------
# acting out faults
# ---------------------------------------------------------------------------------------------
def _status_response(fault: Fault, request: web.Request) -> web.Response:
    status = fault.status or 500
    retry_after = fault.retry_after_header()
    headers = {"Retry-After": retry_after} if retry_after is not None else None
    if fault.body == "html":
        page = HTML_ERROR_PAGE.format(status=status, phrase=status_phrase(status))
        return web.Response(text=page, status=status, content_type="text/html", headers=headers)
    return error_response(
        request.path,
        status,
        f"Injected fault: HTTP {status}",
        status_phrase(status),
        headers=headers,
    )


async def _body_of(
    handler: Handler, request: web.Request
) -> tuple[web.StreamResponse, bytes | None]:
    """The handler's response and its bytes (None when it is not a plain bytes response)."""
    response = await handler(request)
    if isinstance(response, web.Response) and isinstance(response.body, bytes):
        return response, response.body
    return response, None


def _copied_headers(response: web.Response) -> dict[str, str]:
    skipped = {"content-length", "transfer-encoding", "content-encoding"}
    return {k: v for k, v in response.headers.items() if k.lower() not in skipped}


async def _partial_stream(
    request: web.Request, response: web.Response, body: bytes, *, pause: float | None
) -> web.StreamResponse:
    """Send headers and the first half of ``body``; then either pause and send the rest
    (``pause`` given) or drop the connection."""
    stream = web.StreamResponse(status=response.status, headers=_copied_headers(response))
    stream.content_length = len(body)
    half = max(1, len(body) // 2)
    try:
        await stream.prepare(request)
        await stream.write(body[:half])
        if pause is None:
            transport = request.transport
            if transport is not None:
                transport.close()
            return stream
        await asyncio.sleep(pause)
        await stream.write(body[half:])
    except ConnectionError:
        # The client went away; aiohttp drops the unfinished response quietly.
        logger.debug("client disconnected during a %s fault", "slow_body" if pause else "reset")
    return stream


def _abort(request: web.Request) -> web.Response:
    """Close the connection at once; the returned response is never written (aiohttp drops a
    response meant for an aborted transport silently)."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    return web.Response(status=500)


async def _received(request: web.Request) -> None:
    """Read the request body in full without acting on it (the request was received)."""
    with contextlib.suppress(web.HTTPException):
        await request.read()


def _stripped(data: Any) -> Any:
    if isinstance(data, dict):
        return {"_id": data["_id"]} if "_id" in data else {}
    if isinstance(data, list):
        return [_stripped(item) if isinstance(item, dict) else item for item in data]
    return {}


def _rewritten(kind: str, response: web.Response, body: bytes) -> web.Response:
    """The handler's answer with its body replaced the way a body-rewrite fault says."""
    headers = _copied_headers(response)
    if kind == "html_body":
        headers.pop("Content-Type", None)
        page = HTML_ERROR_PAGE.format(status=response.status, phrase=status_phrase(response.status))
        return web.Response(
            text=page, status=response.status, content_type="text/html", headers=headers
        )
    if kind == "truncate_body":
        cut = body[: max(0, len(body) - max(1, len(body) // 3))]
        return web.Response(body=cut, status=response.status, headers=headers)
    try:
        payload = loads(body)
    except ValueError:
        return web.Response(body=body, status=response.status, headers=headers)
    if isinstance(payload, dict) and "data" in payload:
        if kind == "missing_data":
            del payload["data"]
        else:
            payload["data"] = _stripped(payload["data"])
    return web.Response(body=dumps(payload), status=response.status, headers=headers)


async def act_out(
    fault: Fault, request: web.Request, handler: Handler, ctx: EmulatorContext
) -> web.StreamResponse:
    """Answer ``request`` the way fault ``fault.kind`` says (see ``faults.py`` for each kind)."""
    kind = fault.kind
    if kind == "invalid_cursor":
        return BusinessError(
            "PAG_0003", "The cursor provided is not valid", "Injected fault: invalid cursor"
        ).response()
    if kind == "expire_token":
        ctx.tokens.expire_all()
        return await handler(request)
    if kind == "slow_headers":
        await asyncio.sleep(fault.delay)
        return await handler(request)
    if kind in OPTIONALLY_PROCESSED_KINDS:
        if fault.processed:
            await handler(request)  # the work is done; its answer is thrown away
        else:
            await _received(request)
        return _status_response(fault, request) if kind == "status" else _abort(request)
    response, body = await _body_of(handler, request)
    if body is None or not isinstance(response, web.Response):
        return response
    if kind in BODY_REWRITE_KINDS:
        return _rewritten(kind, response, body)
    if kind == "reset_mid_body":
        return await _partial_stream(request, response, body, pause=None)
    if kind == "slow_body":
        return await _partial_stream(request, response, body, pause=fault.delay)
    raise AssertionError(f"unhandled fault kind {kind}")
