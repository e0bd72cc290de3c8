"""Handing missed notifications (fetched from the API) to the same handler, exactly once."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, Awaitable, Callable
from datetime import datetime

import attrs

from cwpro.pagination._closing import closing
from cwpro.webhooks._dedupe import SeenStore
from cwpro.webhooks._dispatch import InboxSeenStore
from cwpro.webhooks._events import WebhookEvent
from cwpro.webhooks._inbox import Inbox

__all__ = ["BackfillResult", "backfill"]

logger = logging.getLogger("cwpro.webhooks")


@attrs.frozen
class BackfillResult:
    """What a :func:`backfill` did.

    Attributes:
        handled: events passed to the handler (all succeeded).
        skipped: events already in the seen store or inbox (handled before, or delivered).
        stored: events written into an inbox (its receiver's workers handle them).
        newest_created_date: the newest ``created_date`` among all events read (handled or
            skipped), a good ``since`` for the next backfill; None when there were none.
    """

    handled: int = 0
    skipped: int = 0
    newest_created_date: datetime | None = None
    stored: int = 0

    @property
    def total(self) -> int:
        """Events read from the source."""
        return self.handled + self.skipped + self.stored


_STORE_BATCH = 500


async def backfill(
    events: AsyncIterable[WebhookEvent],
    handler: Callable[[WebhookEvent], Awaitable[object]] | None = None,
    *,
    seen: SeenStore | None = None,
    inbox: Inbox | None = None,
) -> BackfillResult:
    """Pass every event of ``events`` not yet in ``seen`` to ``handler``, once each, in order.

    With a durable inbox (``inbox=``, or ``seen`` being an inbox receiver's ``dedupe``), the
    events are written into the inbox instead - the ones it already holds are skipped - and
    the receiver's workers run them; ``handler`` is then not called. An event both delivered
    and backfilled is so handled once, and a backfill is as durable as a delivery.

    Share ``seen`` with the :class:`~cwpro.webhooks.WebhookReceiver` (its ``dedupe``) so an
    event delivered live and also fetched back is handled only once.

    Each event is claimed with ``seen.add`` before its handler runs, so a receiver running at
    the same time does not handle it too. If the handler raises (or the backfill is
    cancelled), the claim is discarded before the exception propagates: the event counts as
    seen only once its handler succeeded, and a new backfill picks it up again.

    Args:
        events: the events, e.g. notifications from ``GET /webhooks`` parsed with
            :func:`~cwpro.webhooks.event_from_mapping`.
        handler: ``async def handler(event) -> None``.
        seen: the de-duplication store (or an :class:`~cwpro.webhooks.InboxSeenStore`).
        inbox: the durable inbox to write into.

    Returns:
        The counts of handled and skipped events.

    When ``events`` is an async generator it is closed before returning or raising.

    Raises:
        ValueError: neither a handler with a seen store, nor an inbox, was given.
    """
    if inbox is None and isinstance(seen, InboxSeenStore):
        inbox = seen.inbox
    if inbox is not None:
        return await _backfill_into(events, inbox)
    if handler is None or seen is None:
        raise ValueError("backfill needs a handler and a seen store, or an inbox")
    handled = 0
    skipped = 0
    newest: datetime | None = None
    async with closing(aiter(events)) as iterator:
        async for event in iterator:
            if newest is None or event.created_date > newest:
                newest = event.created_date
            if not await seen.add(event.id):
                skipped += 1
                continue
            try:
                await handler(event)
            except BaseException:
                await seen.discard(event.id)
                raise
            handled += 1
    logger.info("webhook backfill done: %d handled, %d already seen", handled, skipped)
    return BackfillResult(handled=handled, skipped=skipped, newest_created_date=newest)


async def _backfill_into(events: AsyncIterable[WebhookEvent], inbox: Inbox) -> BackfillResult:
    """Store the events in ``inbox`` in batches (each batch committed before the next read)."""
    stored = 0
    skipped = 0
    newest: datetime | None = None
    batch: list[WebhookEvent] = []

    async def flush() -> None:
        nonlocal stored, skipped
        flags = await inbox.store(batch)
        stored += sum(flags)
        skipped += len(flags) - sum(flags)
        batch.clear()

    async with closing(aiter(events)) as iterator:
        async for event in iterator:
            if newest is None or event.created_date > newest:
                newest = event.created_date
            batch.append(event)
            if len(batch) >= _STORE_BATCH:
                await flush()
        if batch:
            await flush()
    logger.info("webhook backfill done: %d stored in the inbox, %d already there", stored, skipped)
    return BackfillResult(skipped=skipped, stored=stored, newest_created_date=newest)
