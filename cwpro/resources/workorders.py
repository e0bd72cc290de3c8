"""``client.workorders``: work orders."""

from __future__ import annotations

import datetime as _dt
from typing import Any

from .. import _wire
from ..models import Priority, WorkOrder, WorkOrderStatus
from ..models.workorders import work_order_body
from ._base import CursorListResource, Endpoint

__all__ = ["WorkOrders"]


class WorkOrders(CursorListResource[WorkOrder]):
    """Work orders: list/export, get (optionally expanded), create, update, change status."""

    LIST = Endpoint("GET", _wire.WORKORDERS, WorkOrder, pagination="cursor")
    GET = Endpoint("GET", _wire.WORKORDER, WorkOrder)
    CREATE = Endpoint("POST", _wire.WORKORDERS, WorkOrder)
    UPDATE = Endpoint("PATCH", _wire.WORKORDER, WorkOrder)
    UPDATE_STATUS = Endpoint("PATCH", _wire.WORKORDER_STATUS, None, idempotent=True)

    async def get(self, id: str, *, expand: bool = False) -> WorkOrder:
        """Fetch one work order. ``expand=True`` sends ``summary=full`` and fills ``work_types``.

        Raises :class:`cwpro.NotFoundError` when there is no such work order.
        """
        params = [_wire.EXPAND_PARAM] if expand else None
        result: WorkOrder = await self._call(self.GET, path={"id": id}, params=params)
        return result

    async def create(
        self,
        *,
        name: str,
        description: str | None = None,
        status: WorkOrderStatus | str | None = None,
        priority: Priority | str | None = None,
        site_id: str | None = None,
        work_type_ids: list[str] | None = None,
        scheduled_date: _dt.datetime | None = None,
        extra: dict[str, Any] | None = None,
    ) -> WorkOrder:
        """Create a work order and return it as stored (fields not given are not sent).

        ``extra`` adds fields this SDK does not model. Unknown work type ids raise
        :class:`cwpro.BadRequestError` with ``code == "WO_0005"``.
        """
        if not isinstance(name, str) or not name.strip():
            raise ValueError("name must be a non-empty string")
        body = work_order_body(
            name=name,
            description=description,
            status=status,
            priority=priority,
            site_id=site_id,
            work_type_ids=work_type_ids,
            scheduled_date=scheduled_date,
            extra=extra,
        )
        result: WorkOrder = await self._call(self.CREATE, json=body)
        return result

    async def update(
        self,
        id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        status: WorkOrderStatus | str | None = None,
        priority: Priority | str | None = None,
        site_id: str | None = None,
        work_type_ids: list[str] | None = None,
        scheduled_date: _dt.datetime | None = None,
        extra: dict[str, Any] | None = None,
    ) -> WorkOrder:
        """Change the given fields of a work order (PATCH: only those are sent); returns it."""
        body = work_order_body(
            name=name,
            description=description,
            status=status,
            priority=priority,
            site_id=site_id,
            work_type_ids=work_type_ids,
            scheduled_date=scheduled_date,
            extra=extra,
        )
        if not body:
            raise ValueError("update() needs at least one field to change")
        result: WorkOrder = await self._call(self.UPDATE, path={"id": id}, json=body)
        return result

    async def update_status(self, id: str, status: WorkOrderStatus | str) -> str:
        """Set a work order's status; returns the server's confirmation message."""
        value = WorkOrderStatus(status).value
        message = await self._call(self.UPDATE_STATUS, path={"id": id}, json={"status": value})
        return str(message)
