"""Work type and site routes.

Business error codes: ``SITE_0001`` name missing, ``SITE_0002`` a field of the wrong type
(emulator-chosen code).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from cwpro.emulator.context import context_of
from cwpro.emulator.wire import (
    BusinessError,
    format_datetime,
    found,
    ok,
    read_json_object,
)

SITE_SERVER_FIELDS = frozenset({"_id", "created_date", "updated_date"})
ADDRESS_KEYS = ("street", "city", "state", "zip_code", "country")


async def list_work_types(request: web.Request) -> web.Response:
    """``GET /worktypes``: cursor list."""
    ctx = context_of(request)
    return ctx.list_response(request, ctx.state.work_types, scope="worktypes")


async def get_work_type(request: web.Request) -> web.Response:
    """``GET /worktypes/{id}``."""
    ctx = context_of(request)
    return ok(found(ctx.state.work_types, request.match_info["id"], "work type"))


async def list_sites(request: web.Request) -> web.Response:
    """``GET /sites``: cursor list."""
    ctx = context_of(request)
    return ctx.list_response(request, ctx.state.sites, scope="sites")


async def get_site(request: web.Request) -> web.Response:
    """``GET /sites/{id}``."""
    ctx = context_of(request)
    return ok(found(ctx.state.sites, request.match_info["id"], "site"))


def _site_field_error(name: str, problem: str) -> BusinessError:
    return BusinessError("SITE_0002", f"The field {name} is not valid", f"{name} {problem}")


def validated_site(body: dict[str, Any]) -> dict[str, Any]:
    """The stored fields of a new site (raises ``SITE_0001``/``SITE_0002``)."""
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise BusinessError(
            "SITE_0001",
            "The site name is required",
            "This error happens when you send a site without a name",
        )
    address = body.get("address")
    if address is None:
        address = {key: None for key in ADDRESS_KEYS}
    elif not isinstance(address, dict):
        raise _site_field_error("address", "must be an object")
    else:
        address = {**{key: None for key in ADDRESS_KEYS}, **address}
    fields: dict[str, Any] = {"name": name, "address": address}
    for coordinate in ("latitude", "longitude"):
        value = body.get(coordinate)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise _site_field_error(coordinate, "must be a number")
        fields[coordinate] = value
    for key, value in body.items():
        if key not in fields and key not in SITE_SERVER_FIELDS:
            fields[key] = value
    return fields


async def create_site(request: web.Request) -> web.Response:
    """``POST /sites``: validate, store, record ``SITE.CREATE``."""
    ctx = context_of(request)
    body = await read_json_object(request)
    fields = validated_site(body)
    now = ctx.clock.now()
    stamp = format_datetime(now)
    fields_order = {
        "_id": ctx.state.site_ids_allocator.allocate(now),
        **fields,
        "created_date": stamp,
        "updated_date": stamp,
    }
    item = ctx.state.sites.append(fields_order)
    ctx.publish("SITE.CREATE", item)
    return ok(item)


def catalog_routes() -> list[web.RouteDef]:
    """The work type and site routes."""
    return [
        web.get("/worktypes", list_work_types, allow_head=False),
        web.get("/worktypes/{id}", get_work_type, allow_head=False),
        web.get("/sites", list_sites, allow_head=False),
        web.post("/sites", create_site),
        web.get("/sites/{id}", get_site, allow_head=False),
    ]
