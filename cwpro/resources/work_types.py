"""``client.work_types``: the kinds of work a work order can need."""

from __future__ import annotations

from typing_extensions import Unpack

from .. import _wire
from .._http.options import CallOptions
from ..models import WorkType
from ._base import CursorListResource, Endpoint, RawView, raw_method

__all__ = ["WorkTypes", "WorkTypesWithRawResponse"]


class WorkTypes(CursorListResource[WorkType]):
    """Work types: list/export and get."""

    LIST = Endpoint("GET", _wire.WORKTYPES, WorkType, safe_to_repeat=True, pagination="cursor")
    GET = Endpoint("GET", _wire.WORKTYPE, WorkType, safe_to_repeat=True)

    @property
    def with_raw_response(self) -> WorkTypesWithRawResponse:
        """The same calls, each returning the :class:`cwpro.APIResponse`."""
        return WorkTypesWithRawResponse(self)

    async def get(self, id: str, **options: Unpack[CallOptions]) -> WorkType:
        """Fetch one work type (:class:`cwpro.NotFoundError` if unknown)."""
        return await self._call(self.GET, path={"id": id}, options=options)


class WorkTypesWithRawResponse(RawView[WorkTypes]):
    """``client.work_types.with_raw_response``: each call returns its ``APIResponse``."""

    get = raw_method(WorkTypes.get)
