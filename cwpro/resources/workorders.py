"""``client.workorders``: work orders."""

from __future__ import annotations

import datetime as _dt
from typing import Any

from typing_extensions import Unpack

from .. import _wire
from .._errors import InvalidArgumentError
from .._http.options import CallOptions
from .._validate import non_empty_string
from ..models import Priority, WorkOrder, WorkOrderStatus
from ..models.workorders import work_order_body
from ._base import CursorListResource, Endpoint, RawView, raw_method

__all__ = ["WorkOrders", "WorkOrdersWithRawResponse"]


class WorkOrders(CursorListResource[WorkOrder]):
    """Work orders: list/export, get (optionally expanded), create, update, change status."""

    LIST = Endpoint("GET", _wire.WORKORDERS, WorkOrder, safe_to_repeat=True, pagination="cursor")
    GET = Endpoint("GET", _wire.WORKORDER, WorkOrder, safe_to_repeat=True)
    CREATE = Endpoint("POST", _wire.WORKORDERS, WorkOrder, safe_to_repeat=False)
    UPDATE = Endpoint("PATCH", _wire.WORKORDER, WorkOrder, safe_to_repeat=False)
    #: A status change notifies people and fires webhooks: never re-sent once it may have run.
    UPDATE_STATUS = Endpoint("PATCH", _wire.WORKORDER_STATUS, str, safe_to_repeat=False)

    @property
    def with_raw_response(self) -> WorkOrdersWithRawResponse:
        """The same calls, each returning the :class:`cwpro.APIResponse`."""
        return WorkOrdersWithRawResponse(self)

    async def get(
        self, id: str, *, expand: bool = False, **options: Unpack[CallOptions]
    ) -> WorkOrder:
        """Fetch one work order. ``expand=True`` sends ``summary=full`` and fills ``work_types``.

        Raises :class:`cwpro.NotFoundError` when there is no such work order.
        """
        params = [_wire.EXPAND_PARAM] if expand else None
        return await self._call(self.GET, path={"id": id}, params=params, options=options)

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
        **options: Unpack[CallOptions],
    ) -> WorkOrder:
        """Create a work order and return it as stored (fields not given are not sent).

        ``extra`` adds fields this SDK does not model. Unknown work type ids raise
        :class:`cwpro.BadRequestError` with ``code == "WO_0005"``.
        """
        non_empty_string("name", name.strip() if isinstance(name, str) else name)
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
        return await self._call(self.CREATE, json=body, options=options)

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
        **options: Unpack[CallOptions],
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
        return await self._update(self.UPDATE, id, body, options)

    async def update_status(
        self, id: str, status: WorkOrderStatus | str, **options: Unpack[CallOptions]
    ) -> str:
        """Set a work order's status; returns the server's confirmation message.

        Never re-sent after the server may have acted on it (a 5xx or a broken connection
        raises): check the work order before trying again.
        """
        try:
            value = WorkOrderStatus(status).value
        except ValueError:
            raise InvalidArgumentError(f"unknown work order status {status!r}") from None
        return await self._call(
            self.UPDATE_STATUS, path={"id": id}, json={"status": value}, options=options
        )


class WorkOrdersWithRawResponse(RawView[WorkOrders]):
    """``client.workorders.with_raw_response``: each call returns its ``APIResponse``."""

    get = raw_method(WorkOrders.get)
    create = raw_method(WorkOrders.create)
    update = raw_method(WorkOrders.update)
    update_status = raw_method(WorkOrders.update_status)
