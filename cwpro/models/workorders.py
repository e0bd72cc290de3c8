"""Work orders and work types."""

from __future__ import annotations

import datetime as _dt
from typing import Any

import attrs

from .._serde import OpenEnum, wire
from ._base import Model


class WorkOrderStatus(OpenEnum):
    """A work order's status. Values the SDK does not know are kept as pseudo-members."""

    DRAFT = "draft"
    OPEN = "open"
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Priority(OpenEnum):
    """A work order's priority."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


@attrs.frozen(kw_only=True, slots=False)
class WorkType(Model):
    """A kind of work (``GET /worktypes``), also embedded in expanded work orders."""

    id: str = wire("_id")
    name: str | None = None
    description: str | None = None
    created_date: _dt.datetime | None = None


@attrs.frozen(kw_only=True, slots=False)
class WorkOrder(Model):
    """A work order. ``work_types`` is filled only by ``get(id, expand=True)``."""

    id: str = wire("_id")
    name: str | None = None
    description: str | None = None
    status: WorkOrderStatus | None = None
    priority: Priority | None = None
    site_id: str | None = None
    work_type_ids: list[str] = attrs.field(factory=list)
    work_types: list[WorkType] | None = None
    scheduled_date: _dt.datetime | None = None
    created_date: _dt.datetime | None = None
    updated_date: _dt.datetime | None = None


def work_order_body(
    *,
    name: str | None = None,
    description: str | None = None,
    status: WorkOrderStatus | str | None = None,
    priority: Priority | str | None = None,
    site_id: str | None = None,
    work_type_ids: list[str] | None = None,
    scheduled_date: _dt.datetime | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON body for creating/updating a work order: only the fields that were given."""
    from .._serde import format_datetime

    body: dict[str, Any] = dict(extra or {})
    for key, value in (
        ("name", name),
        ("description", description),
        ("status", None if status is None else str(WorkOrderStatus(status).value)),
        ("priority", None if priority is None else str(Priority(priority).value)),
        ("site_id", site_id),
        ("work_type_ids", None if work_type_ids is None else list(work_type_ids)),
        ("scheduled_date", None if scheduled_date is None else format_datetime(scheduled_date)),
    ):
        if value is not None:
            body[key] = value
    return body
