"""``client.work_types``: the kinds of work a work order can need."""

from __future__ import annotations

from .. import _wire
from ..models import WorkType
from ._base import CursorListResource, Endpoint

__all__ = ["WorkTypes"]


class WorkTypes(CursorListResource[WorkType]):
    """Work types: list/export and get."""

    LIST = Endpoint("GET", _wire.WORKTYPES, WorkType, pagination="cursor")
    GET = Endpoint("GET", _wire.WORKTYPE, WorkType)

    async def get(self, id: str) -> WorkType:
        """Fetch one work type (:class:`cwpro.NotFoundError` if unknown)."""
        result: WorkType = await self._call(self.GET, path={"id": id})
        return result
