"""Work order routes: list, get (``summary=full``), create, update, status update.

Business error codes: ``WO_0001`` name missing, ``WO_0002`` a field of the wrong type or an
unparseable ``scheduled_date`` (emulator-chosen code), ``WO_0003`` invalid status, ``WO_0004``
invalid priority, ``WO_0005`` unknown work type ids, ``WO_0006`` unknown site.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from cwpro.emulator.context import EmulatorContext, context_of
from cwpro.emulator.datasets import EmulatorState
from cwpro.emulator.generator import PRIORITIES, STATUSES
from cwpro.emulator.wire import (
    BusinessError,
    format_datetime,
    found,
    not_found,
    ok,
    parse_datetime,
    read_json_object,
)

SERVER_FIELDS = frozenset({"_id", "created_date", "updated_date", "work_types"})
CORE_DEFAULTS: dict[str, Any] = {
    "name": None,
    "description": "",
    "status": "draft",
    "priority": "normal",
    "site_id": None,
    "work_type_ids": [],
    "scheduled_date": None,
}


def _invalid_field(name: str, problem: str) -> BusinessError:
    return BusinessError("WO_0002", f"The field {name} is not valid", f"{name} {problem}")


def _check_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BusinessError(
            "WO_0001",
            "The work order name is required",
            "This error happens when you send a work order without a name",
        )
    return value


def _one_of(value: Any, allowed: tuple[str, ...], code: str, what: str, plural: str) -> str:
    if value not in allowed:
        raise BusinessError(
            code, f"The {what} provided is not valid", f"Valid {plural} are: " + ", ".join(allowed)
        )
    return str(value)


def _check_status(value: Any) -> str:
    return _one_of(value, STATUSES, "WO_0003", "status", "statuses")


def _check_priority(value: Any) -> str:
    return _one_of(value, PRIORITIES, "WO_0004", "priority", "priorities")


def _check_site(value: Any, state: EmulatorState) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in state.sites:
        raise BusinessError(
            "WO_0006",
            "The site provided was not found in CWP platform",
            "This error happens when you send a site ID that does not exist in CWP platform",
        )
    return value


def _check_work_types(value: Any, state: EmulatorState) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _invalid_field("work_type_ids", "must be an array of work type ids")
    if any(item not in state.work_types for item in value):
        raise BusinessError(
            "WO_0005",
            "The work types provided were not found in CWP platform",
            "This error happens when you send work type IDs that do not exists in CWP platform",
        )
    return list(value)


def _check_scheduled_date(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid_field("scheduled_date", "must be an ISO 8601 datetime or null")
    try:
        return format_datetime(parse_datetime(value))
    except ValueError as exc:
        raise _invalid_field("scheduled_date", "must be an ISO 8601 datetime or null") from exc


def _check_description(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _invalid_field("description", "must be a string")
    return value


def validated_fields(
    body: dict[str, Any], state: EmulatorState, *, creating: bool
) -> dict[str, Any]:
    """The stored fields for a create (defaults filled in) or update (only what was sent).

    Raises :class:`BusinessError` with the ``WO_*`` code of the first problem found.
    """
    if creating:
        body = {**CORE_DEFAULTS, **body}
    fields: dict[str, Any] = {}
    if "name" in body:
        fields["name"] = _check_name(body["name"])
    if "description" in body:
        fields["description"] = _check_description(body["description"])
    if "status" in body:
        fields["status"] = _check_status(body["status"])
    if "priority" in body:
        fields["priority"] = _check_priority(body["priority"])
    if "site_id" in body:
        fields["site_id"] = _check_site(body["site_id"], state)
    if "work_type_ids" in body:
        fields["work_type_ids"] = _check_work_types(body["work_type_ids"], state)
    if "scheduled_date" in body:
        fields["scheduled_date"] = _check_scheduled_date(body["scheduled_date"])
    for key, value in body.items():
        if key not in fields and key not in SERVER_FIELDS:
            fields[key] = value
    return fields


def expanded(ctx: EmulatorContext, item: dict[str, Any]) -> dict[str, Any]:
    """``item`` plus ``work_types: [{_id, name, description}]`` (``summary=full``)."""
    work_types = []
    for type_id in item.get("work_type_ids") or []:
        work_type = ctx.state.work_types.get(type_id)
        if work_type is not None:
            work_types.append({key: work_type[key] for key in ("_id", "name", "description")})
    return {**item, "work_types": work_types}


async def list_workorders(request: web.Request) -> web.Response:
    """``GET /workorders``: cursor list."""
    ctx = context_of(request)
    return ctx.list_response(request, ctx.state.workorders, scope="workorders")


async def get_workorder(request: web.Request) -> web.Response:
    """``GET /workorders/{id}`` (``?summary=full`` adds ``work_types``)."""
    ctx = context_of(request)
    item = found(ctx.state.workorders, request.match_info["id"], "work order")
    if request.query.get("summary") == "full":
        item = expanded(ctx, item)
    return ok(item)


async def create_workorder(request: web.Request) -> web.Response:
    """``POST /workorders``: validate, store, record ``WORKORDER.CREATE``."""
    ctx = context_of(request)
    body = await read_json_object(request)
    fields = validated_fields(body, ctx.state, creating=True)
    item = ctx.state.workorders.create(fields, ctx.clock.now())
    ctx.publish("WORKORDER.CREATE", item)
    return ok(item)


async def _patch_of(request: web.Request) -> tuple[EmulatorContext, str, dict[str, Any]]:
    """The context, the id of an existing work order (else the 404) and the JSON body."""
    ctx = context_of(request)
    object_id = request.match_info["id"]
    found(ctx.state.workorders, object_id, "work order")
    return ctx, object_id, await read_json_object(request)


async def update_workorder(request: web.Request) -> web.Response:
    """``PATCH /workorders/{id}``: validate the sent fields and apply them."""
    ctx, object_id, body = await _patch_of(request)
    fields = validated_fields(body, ctx.state, creating=False)
    updated = ctx.state.workorders.update(object_id, fields, ctx.clock.now())
    if updated is None:
        raise not_found("work order", object_id)
    return ok(updated)


async def update_workorder_status(request: web.Request) -> web.Response:
    """``PATCH /workorders/{id}/status`` with ``{"status": ...}``: data is a message string."""
    ctx, object_id, body = await _patch_of(request)
    status = _check_status(body.get("status"))
    ctx.state.workorders.update(object_id, {"status": status}, ctx.clock.now())
    return ok(f"Status updated successfully to: '{status}' for work order with ID: {object_id}")


def workorder_routes() -> list[web.RouteDef]:
    """The work order routes."""
    return [
        web.get("/workorders", list_workorders, allow_head=False),
        web.post("/workorders", create_workorder),
        web.get("/workorders/{id}", get_workorder, allow_head=False),
        web.patch("/workorders/{id}", update_workorder),
        web.patch("/workorders/{id}/status", update_workorder_status),
    ]
