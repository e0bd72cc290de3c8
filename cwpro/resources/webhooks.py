"""``client.webhooks``: the notifications CWP recorded, and backfilling the ones you missed."""

from __future__ import annotations

import datetime as _dt
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

from typing_extensions import Unpack

from .. import _wire
from .._errors import InvalidArgumentError
from .._http.options import CallOptions
from .._query import ListQuery
from ..models import EventType, WebhookNotification
from ..pagination import AsyncCursorPaginator, AsyncExport
from ._base import Endpoint, ExportArgs, ListArgs, RawView, Resource, raw_method

if TYPE_CHECKING:
    from ..webhooks import BackfillResult, SeenStore, WebhookEvent

__all__ = ["WebhookExportArgs", "WebhookListArgs", "Webhooks", "WebhooksWithRawResponse"]

_FAR_FUTURE = _dt.datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=_dt.timezone.utc)
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


class WebhookListArgs(ListArgs, total=False):
    """The keywords of ``Webhooks.list()`` besides ``as_dict`` (for its overloads)."""

    event: EventType | str | None
    since: _dt.datetime | None
    until: _dt.datetime | None


class WebhookExportArgs(ExportArgs, total=False):
    """The keywords of ``Webhooks.export()`` besides ``as_dict`` (for its overloads)."""

    event: EventType | str | None


def _date_range(since: _dt.datetime | None, until: _dt.datetime | None) -> dict[str, Any]:
    if since is None and until is None:
        return {}
    for name, value in (("since", since), ("until", until)):
        if value is not None and not isinstance(value, _dt.datetime):
            raise InvalidArgumentError(f"{name} must be a datetime, got {value!r}")
        if value is not None and value.tzinfo is None:
            raise InvalidArgumentError(
                f"{name} must be timezone-aware (e.g. datetime.now(timezone.utc))"
            )
    return {_wire.WEBHOOK_DATE_FIELD: (since or _EPOCH, until or _FAR_FUTURE)}


def _event_param(event: EventType | str | None) -> list[tuple[str, str]]:
    """The query parameter filtering notifications by event name (none when not given)."""
    return [] if event is None else [(_wire.WEBHOOK_EVENT_PARAM, str(EventType(event).value))]


class Webhooks(Resource):
    """Recorded webhook notifications (kept 3 months by CWP) and backfill."""

    LIST = Endpoint(
        "GET",
        _wire.WEBHOOK_NOTIFICATIONS,
        WebhookNotification,
        safe_to_repeat=True,
        pagination="cursor",
    )
    GET = Endpoint("GET", _wire.WEBHOOK_NOTIFICATION, WebhookNotification, safe_to_repeat=True)

    @property
    def with_raw_response(self) -> WebhooksWithRawResponse:
        """The same calls, each returning the :class:`cwpro.APIResponse`."""
        return WebhooksWithRawResponse(self)

    if TYPE_CHECKING:  # the result's item type follows as_dict; the rest is WebhookListArgs

        @overload
        def list(
            self, *, as_dict: Literal[False] = False, **args: Unpack[WebhookListArgs]
        ) -> AsyncCursorPaginator[WebhookNotification]: ...

        @overload
        def list(
            self, *, as_dict: Literal[True], **args: Unpack[WebhookListArgs]
        ) -> AsyncCursorPaginator[dict[str, Any]]: ...

        @overload
        def list(
            self, *, as_dict: bool = False, **args: Unpack[WebhookListArgs]
        ) -> AsyncCursorPaginator[Any]: ...

    def list(
        self,
        *,
        event: EventType | str | None = None,
        since: _dt.datetime | None = None,
        until: _dt.datetime | None = None,
        as_dict: bool = False,
        max_items: int | None = None,
        **query: Unpack[ListQuery],
    ) -> AsyncCursorPaginator[Any]:
        """Stream recorded notifications, optionally of one ``event`` and within [since, until].

        ``since``/``until`` are aware datetimes (inclusive); other options as for every list
        (``as_dict=True``: plain dicts; ``max_items``: stop after that many).
        """
        extra = _event_param(event)
        dated = _date_range(since, until)
        if dated:
            if "between" in query and _wire.WEBHOOK_DATE_FIELD in query["between"]:
                raise InvalidArgumentError("give since/until or between[created_date], not both")
            query["between"] = {**query.get("between", {}), **dated}
        return self._list(
            self.LIST, query, extra_params=extra, as_dict=as_dict, max_items=max_items
        )

    if TYPE_CHECKING:  # as for list(): the rest is WebhookExportArgs

        @overload
        def export(
            self,
            partitions: Sequence[Mapping[str, Any]] | None = None,
            *,
            as_dict: Literal[False] = False,
            **args: Unpack[WebhookExportArgs],
        ) -> AsyncExport[WebhookNotification]: ...

        @overload
        def export(
            self,
            partitions: Sequence[Mapping[str, Any]] | None = None,
            *,
            as_dict: Literal[True],
            **args: Unpack[WebhookExportArgs],
        ) -> AsyncExport[dict[str, Any]]: ...

        @overload
        def export(
            self,
            partitions: Sequence[Mapping[str, Any]] | None = None,
            *,
            as_dict: bool = False,
            **args: Unpack[WebhookExportArgs],
        ) -> AsyncExport[Any]: ...

    def export(
        self,
        partitions: Sequence[Mapping[str, Any]] | None = None,
        *,
        event: EventType | str | None = None,
        concurrency: int = 8,
        ordered: bool = False,
        resume: Sequence[Mapping[str, Any]] | None = None,
        as_dict: bool = False,
        **query: Unpack[ListQuery],
    ) -> AsyncExport[Any]:
        """Export recorded notifications over concurrent partitions (see ``WorkOrders.export``).

        Partition on ``created_date`` with :func:`cwpro.split_range`; ``event`` filters by name;
        ``as_dict=True`` yields plain dicts.
        """
        extra = _event_param(event)
        return self._export(
            self.LIST,
            partitions,
            query,
            concurrency=concurrency,
            ordered=ordered,
            resume=resume,
            extra_params=extra,
            as_dict=as_dict,
        )

    async def get(self, id: str, **options: Unpack[CallOptions]) -> WebhookNotification:
        """Fetch one notification.

        Raises :class:`cwpro.NotFoundError` when it is unknown or older than 3 months.
        """
        return await self._call(self.GET, path={"id": id}, options=options)

    async def backfill(
        self,
        *,
        since: _dt.datetime,
        handler: Callable[[WebhookEvent], Awaitable[object]],
        seen: SeenStore,
        until: _dt.datetime | None = None,
        event: EventType | str | None = None,
    ) -> BackfillResult:
        """Hand every notification since ``since`` not yet in ``seen`` to ``handler``, once each.

        Share ``seen`` with your :class:`cwpro.webhooks.WebhookReceiver` (its ``dedupe``) so an
        event that was delivered live is not handled again. Notifications are read oldest
        first. A handler exception stops the backfill (that event stays unseen, so the next
        backfill retries it).
        """
        from ..webhooks import backfill, event_from_mapping

        notifications = self.list(since=since, until=until, event=event, sort_by="created_date:asc")

        async def events() -> AsyncIterator[WebhookEvent]:
            async for notification in notifications:
                yield event_from_mapping(notification.to_dict())

        return await backfill(events(), handler, seen=seen)


class WebhooksWithRawResponse(RawView[Webhooks]):
    """``client.webhooks.with_raw_response``: each call returns its ``APIResponse``."""

    get = raw_method(Webhooks.get)
