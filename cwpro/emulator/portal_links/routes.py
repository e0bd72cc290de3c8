"""The aiohttp routes of the portal-link API, bound to one :class:`PortalLinkStore`.

Checks run in this order: id format (400), then for create/update the Content-Type (422), JSON
syntax (400) and body schema (422), for DELETE and the action POSTs the absence of a body (400),
and last the existence of the link or of the workorder (404).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from aiohttp import web

from cwpro.emulator.portal_links.errors import ApiError
from cwpro.emulator.portal_links.query import parse_list_query
from cwpro.emulator.portal_links.schema import OBJECT_ID, Document, validate_body
from cwpro.emulator.portal_links.store import PORTAL_PATH, PortalLinkStore
from cwpro.emulator.wire import json_response

BASE_PATH: Final = "/workorder-portal-link"

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _answering_errors(handler: _Handler) -> _Handler:
    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as error:
            return error.response()

    return wrapped


def _ok(data: Any, status: int = 200) -> web.Response:
    return json_response({"success": True, "data": data}, status=status)


def _found(link: Document | None) -> Document:
    if link is None:
        raise ApiError(404, "Workorder portal link not found")
    return link


def _path_id(request: web.Request) -> str:
    link_id = request.match_info["link_id"]
    if not OBJECT_ID.fullmatch(link_id):
        raise ApiError(400, "Invalid ID format")
    return link_id.lower()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def _json_object(request: web.Request) -> Document:
    """The JSON object body of a create/update (an empty body counts as `{}`)."""
    if request.content_type != "application/json":
        raise ApiError(422, "Content-Type must be application/json")
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiError(400, "Malformed JSON in request body") from None
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object")
    return body


async def _no_body(request: web.Request) -> None:
    """Refuse any request body (even `{}` or `null`): the operation declares none."""
    if request.body_exists and await request.read():
        raise ApiError(
            400,
            "Request body is not allowed for this operation",
            [f"{request.method} {request.path} takes no body; send none"],
        )


def _validated(body: Mapping[str, Any], *, creating: bool) -> Document:
    fields, problems = validate_body(body, creating=creating)
    if problems:
        raise ApiError(422, "Validation failed", problems)
    return fields


class _PortalLinkHandlers:
    """The route handlers, bound to one store."""

    def __init__(self, store: PortalLinkStore) -> None:
        self._store = store

    async def list_links(self, request: web.Request) -> web.Response:
        page = self._store.list_links(parse_list_query(request.query))
        return json_response({"success": True, "data": page.items, "paging": page.paging()})

    async def create_link(self, request: web.Request) -> web.Response:
        fields = _validated(await _json_object(request), creating=True)
        if not self._store.workorder_exists(fields["workorder"]):
            raise ApiError(404, "Workorder not found")
        return _ok(self._store.create(fields), status=201)

    async def get_link(self, request: web.Request) -> web.Response:
        return _ok(_found(self._store.get(_path_id(request))))

    async def update_link(self, request: web.Request) -> web.Response:
        link_id = _path_id(request)
        fields = _validated(await _json_object(request), creating=False)
        current = _found(self._store.get(link_id))
        if fields.get("workorder", current["workorder"]) != current["workorder"]:
            raise ApiError(422, "Validation failed", ["workorder: cannot be changed"])
        return _ok(_found(self._store.update(link_id, fields)))

    async def delete_link(self, request: web.Request) -> web.Response:
        link_id = _path_id(request)
        await _no_body(request)
        _found(self._store.delete(link_id))
        return json_response({"success": True})

    async def regenerate(self, request: web.Request) -> web.Response:
        link_id = _path_id(request)
        await _no_body(request)
        return _ok(_found(self._store.regenerate_token(link_id)))

    async def activate(self, request: web.Request) -> web.Response:
        link_id = _path_id(request)
        await _no_body(request)
        return _ok(_found(self._store.set_active(link_id, True)))

    async def deactivate(self, request: web.Request) -> web.Response:
        link_id = _path_id(request)
        await _no_body(request)
        return _ok(_found(self._store.set_active(link_id, False)))

    async def open_portal(self, request: web.Request) -> web.Response:
        summary = self._store.record_view(
            request.match_info["token"],
            ip_address=request.remote or "",
            user_agent=request.headers.get("User-Agent", ""),
        )
        if summary is None:
            raise ApiError(404, "Portal link not found")
        return _ok(summary)


def portal_link_routes(store: PortalLinkStore) -> list[web.RouteDef]:
    """The portal-link routes (`/workorder-portal-link...` and the public `/portal/{token}`)."""
    handlers = _PortalLinkHandlers(store)
    item = f"{BASE_PATH}/{{link_id}}"
    return [
        web.get(BASE_PATH, _answering_errors(handlers.list_links), allow_head=False),
        web.post(BASE_PATH, _answering_errors(handlers.create_link)),
        web.get(item, _answering_errors(handlers.get_link), allow_head=False),
        web.patch(item, _answering_errors(handlers.update_link)),
        web.delete(item, _answering_errors(handlers.delete_link)),
        web.post(f"{item}/regenerate", _answering_errors(handlers.regenerate)),
        web.post(f"{item}/activate", _answering_errors(handlers.activate)),
        web.post(f"{item}/deactivate", _answering_errors(handlers.deactivate)),
        web.get(
            f"{PORTAL_PATH}/{{token}}", _answering_errors(handlers.open_portal), allow_head=False
        ),
    ]
