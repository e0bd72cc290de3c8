"""Running handlers from a durable inbox: claims, retries with backoff, dead events."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from cwpro._errors import WebhookInboxError
from cwpro.webhooks._inbox import Inbox, InboxEntry, error_text

if TYPE_CHECKING:
    from cwpro.webhooks import WebhookEvent

__all__ = ["InboxDispatcher", "InboxSeenStore"]

logger = logging.getLogger("cwpro.webhooks")


class InboxSeenStore:
    """The :class:`~cwpro.webhooks.SeenStore` view of an inbox (``receiver.dedupe``).

    :func:`~cwpro.webhooks.backfill` given this store writes the events it reads into the
    inbox instead of calling its handler, so the receiver's workers run them and an event
    both delivered and backfilled is handled once. Used as a plain seen store, ``add``
    records an id handled elsewhere and ``discard`` forgets only such ids.
    """

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    def __repr__(self) -> str:
        return f"InboxSeenStore({self.inbox!r})"

    async def add(self, event_id: str) -> bool:
        """Record ``event_id`` as handled elsewhere; True if the inbox did not know it."""
        return await self.inbox.mark_seen(event_id)

    async def discard(self, event_id: str) -> None:
        """Forget an id recorded by :meth:`add` (stored events stay)."""
        await self.inbox.forget(event_id)

    async def contains(self, event_id: str) -> bool:
        """True if the inbox knows ``event_id`` (stored, or recorded by :meth:`add`)."""
        return await self.inbox.contains(event_id)


class _OutageLog:
    """Logs the cause of an inbox outage once, and its end."""

    def __init__(self) -> None:
        self.cause: str | None = None

    def failed(self, what: str, exc: WebhookInboxError) -> None:
        cause = str(exc)
        if self.cause is None:
            logger.error(
                "webhook inbox unavailable (%s): %s; deliveries get 503 until it works", what, cause
            )
        else:
            logger.debug("webhook inbox still unavailable (%s): %s", what, cause)
        self.cause = cause

    def worked(self) -> None:
        if self.cause is not None:
            logger.warning("webhook inbox works again (was: %s)", self.cause)
            self.cause = None


class InboxDispatcher:
    """Stores accepted events in an inbox and runs the handler from it in worker tasks."""

    def __init__(
        self,
        inbox: Inbox,
        call_handler: Callable[[WebhookEvent], Awaitable[Exception | None]],
        *,
        workers: int,
        window: float,
        max_attempts: int,
        retry_backoff: float,
        max_retry_backoff: float,
        poll_interval: float,
    ) -> None:
        self.inbox = inbox
        self._call_handler = call_handler
        self.workers = workers
        self.window = window
        self.max_attempts = max_attempts
        self.retry_backoff = retry_backoff
        self.max_retry_backoff = max_retry_backoff
        self.poll_interval = poll_interval
        self.outage = _OutageLog()
        self._opened = False
        self._pump: asyncio.Task[None] | None = None
        self._running: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._closing = False
        self._claiming = False
        #: Events parked as dead by this dispatcher.
        self.dead = 0
        #: Handler calls that will be retried later.
        self.retried = 0

    def backoff(self, attempts: int) -> float:
        """Seconds before the retry following attempt number ``attempts``."""
        return float(min(self.retry_backoff * 2 ** (attempts - 1), self.max_retry_backoff))

    async def _ensure_open(self) -> None:
        if not self._opened:
            await self.inbox.open()
            recovered = await self.inbox.recover()
            if recovered:
                logger.warning(
                    "%d webhook event(s) were being handled when the last receiver stopped; "
                    "handling them again first",
                    recovered,
                )
            self._opened = True

    async def start(self) -> None:
        """Open the inbox (an outage is logged, not raised) and start the pump."""
        self._closing = False
        try:
            await self._ensure_open()
        except WebhookInboxError as exc:
            self.outage.failed("opening", exc)
        self._pump = asyncio.get_running_loop().create_task(
            self._claim_loop(), name="cwpro-webhooks-inbox"
        )

    async def store(self, event: WebhookEvent) -> bool:
        """Store one accepted event; True if new. Raises WebhookInboxError if not stored."""
        try:
            await self._ensure_open()
            (new,) = await self.inbox.store([event])
        except WebhookInboxError as exc:
            self.outage.failed("storing", exc)
            raise
        self.outage.worked()
        if new:
            self._wake.set()
        return new

    def wake(self) -> None:
        """Look for due events now (e.g. after a replay)."""
        self._wake.set()

    async def _claim_loop(self) -> None:
        backlog_before: float | None = time.time()
        while True:
            free = self.workers - len(self._running)
            if free <= 0:
                await self._wait(self._progress, None)
                continue
            cutoff = backlog_before if backlog_before is not None else time.time() - self.window
            self._claiming = True
            try:
                await self._ensure_open()
                entries = await self.inbox.claim(free, received_before=cutoff)
            except WebhookInboxError as exc:
                self._claiming = False
                self.outage.failed("claiming events", exc)
                await self._wait(self._wake, self.poll_interval)
                continue
            for entry in entries:
                self._spawn(entry)
            self._claiming = False
            if entries:
                continue
            if backlog_before is not None:
                backlog_before = None  # events left by the last process are all claimed
                continue
            await self._wait(self._wake, await self._idle_timeout())

    async def _idle_timeout(self) -> float:
        try:
            due = await self.inbox.next_due(window=self.window)
        except WebhookInboxError:
            return self.poll_interval
        if due is None:
            return self.poll_interval
        return min(max(due - time.time(), 0.001), self.poll_interval)

    @staticmethod
    async def _wait(event: asyncio.Event, timeout: float | None) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)
        event.clear()

    def _spawn(self, entry: InboxEntry) -> None:
        task = asyncio.get_running_loop().create_task(
            self._handle(entry), name=f"cwpro-webhooks-handler-{entry.id}"
        )
        self._running[entry.id] = task

    async def _handle(self, entry: InboxEntry) -> None:
        try:
            error = await self._call_handler(entry.event)
            await self._record(entry, error)
        finally:
            self._running.pop(entry.id, None)
            self._progress.set()
            self._wake.set()

    async def _record(self, entry: InboxEntry, error: Exception | None) -> None:
        """Write the outcome; an inbox outage is retried (the event stays claimed meanwhile)."""
        while True:
            try:
                if error is None:
                    await self.inbox.complete(entry.id)
                elif entry.attempts >= self.max_attempts:
                    await self.inbox.fail(entry.id, error_text(error), retry_at=None)
                    self.dead += 1
                    logger.error(
                        "webhook event %s (%s) failed %d time(s); parked as dead (replay it "
                        "with inbox.replay)",
                        entry.id,
                        entry.event.event,
                        entry.attempts,
                    )
                else:
                    delay = self.backoff(entry.attempts)
                    await self.inbox.fail(entry.id, error_text(error), retry_at=time.time() + delay)
                    self.retried += 1
                    logger.info(
                        "webhook event %s will be retried in %.1f s (attempt %d of %d failed)",
                        entry.id,
                        delay,
                        entry.attempts,
                        self.max_attempts,
                    )
                self.outage.worked()
                return
            except WebhookInboxError as exc:
                self.outage.failed("recording a handler outcome", exc)
                await asyncio.sleep(self.poll_interval)

    async def join(self) -> None:
        """Wait until nothing is running and no pending event is left (dead ones excepted)."""
        while True:
            if not self._running and not self._claiming:
                try:
                    if await self.inbox.next_due(window=self.window) is None:
                        return
                except WebhookInboxError:
                    pass
            self._wake.set()
            await self._wait(self._progress, self.poll_interval)

    async def close(self, timeout: float) -> None:
        """Stop claiming, give running handlers ``timeout`` seconds, give back the rest."""
        self._closing = True
        pump, self._pump = self._pump, None
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        running = list(self._running.values())
        if running:
            _, late = await asyncio.wait(running, timeout=timeout)
            unfinished = [entry_id for entry_id, task in self._running.items() if task in late]
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
            if unfinished:
                logger.warning(
                    "%d webhook handler(s) did not finish within %.1f s; their events stay in "
                    "the inbox and run again",
                    len(unfinished),
                    timeout,
                )
                await self._release(unfinished)
        self._running.clear()
        try:
            await self.inbox.close()
        finally:
            self._opened = False

    async def _release(self, event_ids: Sequence[str]) -> None:
        try:
            await self.inbox.release(event_ids)
        except WebhookInboxError as exc:
            logger.warning("could not give back unfinished webhook events (%s)", exc)
