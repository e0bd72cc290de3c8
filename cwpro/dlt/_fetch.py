"""Pages of the API as lists of plain rows for dlt: the envelope's objects as they came
(``as_dict=True``: wire names, no models built).

Cursor collections are read over a ``created_date`` window ``[start, end]`` with the SDK's
partitioned export: one request sorted by ``created_date`` gives up to a page of the window's
oldest items (a small window -- the usual incremental run -- is complete after it); the rest of
the window, from the instant of that page's newest item, is split into concurrent partitions of
about equal item counts, as many as its size needs
(:func:`cwpro.pagination.planning.plan_partitions`: a few dozen one-item counts).
Portal links are read whole, page by page (page 1, then the rest concurrently). Every yield is
one page: memory stays flat.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Final, Protocol

import attrs

import cwpro
from cwpro.pagination._closing import closing
from cwpro.pagination.planning import OPEN_HIGH, OPEN_LOW, plan_partitions

__all__ = [
    "CURSOR_RESOURCES",
    "DATE_FIELD",
    "MAX_PAGE_SIZE",
    "MAX_PARTITIONS",
    "OPEN_HIGH",
    "OPEN_LOW",
    "RESOURCES",
    "CursorCollection",
    "CursorWindow",
    "cursor_pages",
    "parse_instant",
    "portal_link_pages",
]

#: Resource name -> (client attribute, model) of the collections loaded on ``created_date``.
CURSOR_RESOURCES: Final[dict[str, tuple[str, type[cwpro.Model]]]] = {
    "workorders": ("workorders", cwpro.WorkOrder),
    "sites": ("sites", cwpro.Site),
    "work_types": ("work_types", cwpro.WorkType),
    "webhooks": ("webhooks", cwpro.WebhookNotification),
}
#: Every resource of :func:`cwpro.dlt.cwp_source`, in load order.
RESOURCES: Final = (*CURSOR_RESOURCES, "portal_links")
DATE_FIELD: Final = "created_date"
PORTAL_LINKS_PER_PAGE: Final = 100
#: Bounds of ``cwp_source``'s ``page_size`` and ``partitions`` (``cwpro load``'s --limit and
#: --partitions).
MAX_PAGE_SIZE: Final = 1000
MAX_PARTITIONS: Final = 64


class CursorCollection(Protocol):
    """What the cursor resources of :class:`cwpro.AsyncClient` offer (``client.workorders``...)."""

    def list(self, **query: Any) -> cwpro.AsyncCursorPaginator[Any]:
        """A cursor paginator over the collection."""

    def export(
        self, partitions: Sequence[Mapping[str, Any]] | None = None, **options: Any
    ) -> cwpro.AsyncExport[Any]:
        """A partitioned export of the collection."""


def parse_instant(value: Any) -> _dt.datetime:
    """An aware UTC datetime from a datetime or an ISO 8601 string (``Z`` accepted)."""
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            value = _dt.datetime.fromisoformat(text)
        except ValueError:
            raise cwpro.InvalidArgumentError(f"not an ISO 8601 datetime: {value!r}") from None
    if not isinstance(value, _dt.datetime):
        raise cwpro.InvalidArgumentError(f"expected a datetime, got {value!r}")
    moment: _dt.datetime = value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    return moment.astimezone(_dt.timezone.utc)


async def cursor_pages(
    collection: CursorCollection,
    *,
    start: _dt.datetime,
    end: _dt.datetime,
    page_size: int,
    partitions: int,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Every item created in ``[start, end]``, one page of rows at a time (see the module)."""
    window = {"between": {DATE_FIELD: (start, end)}}
    first = await collection.list(
        limit=page_size, sort_by=f"{DATE_FIELD}:asc", as_dict=True, **window
    )
    if first.items:
        yield first.items
    if not first.has_next:
        return
    rest_from = _newest_if_sorted(first.items) or start
    # Items created in the first page's last instant may go on beyond it: the rest of the
    # window starts at that instant, and the rows the first page gave are dropped from it.
    given = {row.get("_id") for row in first.items} - {None}
    total = first.total_results
    remaining = page_size * partitions if total is None else total - len(first.items)
    parts = max(1, min(partitions, math.ceil(max(remaining, 1) / page_size)))
    plan = await plan_partitions(
        collection.list, {}, parts=parts, field=DATE_FIELD, since=rest_from, until=end
    )
    export = collection.export(
        plan.partitions, concurrency=len(plan.partitions), limit=page_size, as_dict=True
    )
    async with closing(export.pages()) as pages:
        async for _, page in pages:
            rows = [row for row in page.items if row.get("_id") not in given]
            if rows:
                yield rows


def _newest_if_sorted(rows: Sequence[Mapping[str, Any]]) -> _dt.datetime | None:
    """The last row's ``created_date`` if the rows are in ascending order of it, else None.

    (A server that ignored the sort would otherwise make the rest of the window skip the
    items older than the first page's last one that the page did not hold.)
    """
    newest: _dt.datetime | None = None
    for row in rows:
        try:
            moment = parse_instant(row.get(DATE_FIELD))
        except cwpro.InvalidArgumentError:
            return None
        if newest is not None and moment < newest:
            return None
        newest = moment
    return newest


@attrs.frozen
class CursorWindow:
    """What one cursor resource fetches in a run: equal windows fetch the same pages."""

    #: The client attribute of the collection (``workorders``...).
    attribute: str
    #: The :class:`cwpro.AsyncClient` keyword arguments.
    client_options: Mapping[str, Any]
    start: _dt.datetime
    end: _dt.datetime
    page_size: int
    partitions: int

    async def pages(self) -> AsyncIterator[list[dict[str, Any]]]:
        """:func:`cursor_pages` of the window, on a client of its own."""
        async with cwpro.AsyncClient(**self.client_options) as client:
            batches = cursor_pages(
                getattr(client, self.attribute),
                start=self.start,
                end=self.end,
                page_size=self.page_size,
                partitions=self.partitions,
            )
            async with closing(batches):  # closed (its requests cancelled) before the client
                async for batch in batches:
                    yield batch


async def portal_link_pages(client: cwpro.AsyncClient) -> AsyncIterator[list[dict[str, Any]]]:
    """Every portal link, one page of rows at a time."""
    links = client.portal_links.list(per_page=PORTAL_LINKS_PER_PAGE, as_dict=True)
    async with closing(links.pages()) as pages:
        async for page in pages:
            if page.items:
                yield page.items
