"""Putting webhook events back in ``created_date`` order (CWP does not deliver them in order)."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime

import attrs

from cwpro.webhooks._events import WebhookEvent

__all__ = ["OrderingBuffer"]

logger = logging.getLogger("cwpro.webhooks")


@attrs.define(eq=False)
class _Held:
    """An event waiting in the buffer."""

    event: WebhookEvent
    deadline: float
    released: bool = False


class OrderingBuffer:
    """Holds events for up to ``window`` seconds and releases them in ``created_date`` order.

    Each event put in the buffer is released at the latest ``window`` seconds after it
    arrived. When an event's time is up it is released together with every held event created
    before it, oldest first, so events that arrive at most ``window`` seconds apart come out in
    ``created_date`` order whatever order they arrived in. Events with equal ``created_date``
    keep their arrival order.

    An event that arrives *late* - created before an event already released - cannot be put in
    order any more: it is released at once (never dropped) and counted in :attr:`late`.

    ``emit`` is awaited for one event at a time, in release order. It should not raise: an
    exception is logged (logger ``cwpro.webhooks``), counted in :attr:`errors` and the release
    goes on with the next event.

    Use it as an async context manager (or call :meth:`aclose`): leaving releases every held
    event and stops the background timer task::

        async with OrderingBuffer(5.0, emit=handle) as buffer:
            await buffer.put(event)

    Args:
        window: how long an event may wait for earlier ones, in seconds (>= 0).
        emit: the coroutine function receiving the events in order.
    """

    def __init__(self, window: float, *, emit: Callable[[WebhookEvent], Awaitable[None]]) -> None:
        if not (isinstance(window, (int, float)) and math.isfinite(window) and window >= 0):
            raise ValueError(f"window must be a finite number of seconds >= 0, not {window!r}")
        self.window = float(window)
        self._emit = emit
        self._heap: list[tuple[datetime, int, _Held]] = []
        self._arrivals: deque[_Held] = deque()
        self._sequence = itertools.count()
        self._watermark: datetime | None = None
        self._lock = asyncio.Lock()
        self._wakeup = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()
        self._unemitted = 0  # taken from the heap (or late) and not yet through ``emit``
        self._timer: asyncio.Task[None] | None = None
        self._closed = False
        #: Events released after a later-created event had already been released.
        self.late = 0
        #: Events passed to ``emit`` so far (including late ones and ones whose emit failed).
        self.released = 0
        #: Events whose ``emit`` raised.
        self.errors = 0

    def __repr__(self) -> str:
        return (
            f"OrderingBuffer(window={self.window}, pending={self.pending}, "
            f"released={self.released}, late={self.late})"
        )

    @property
    def pending(self) -> int:
        """Events accepted by :meth:`put` and not yet passed to ``emit``."""
        return len(self._heap) + self._unemitted

    @property
    def closed(self) -> bool:
        """True after :meth:`aclose`; :meth:`put` then refuses events."""
        return self._closed

    @property
    def last_released(self) -> datetime | None:
        """The newest ``created_date`` released so far (later arrivals before it are late)."""
        return self._watermark

    async def __aenter__(self) -> OrderingBuffer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def put(self, event: WebhookEvent) -> None:
        """Add an event; a late event is emitted before this returns.

        Raises:
            RuntimeError: the buffer is closed.
        """
        if self._closed:
            raise RuntimeError("the ordering buffer is closed")
        if self._watermark is not None and event.created_date < self._watermark:
            await self._emit_late(event)
            return
        loop = asyncio.get_running_loop()
        held = _Held(event=event, deadline=loop.time() + self.window)
        heapq.heappush(self._heap, (event.created_date, next(self._sequence), held))
        self._arrivals.append(held)
        self._empty.clear()
        self._ensure_timer()
        self._wakeup.set()

    async def flush(self) -> None:
        """Release every held event now, in ``created_date`` order."""
        async with self._lock:
            batch = self._take(None)
            self._arrivals.clear()
            await self._emit_batch(batch)

    async def wait_empty(self) -> None:
        """Wait until every event put so far has been passed to ``emit``."""
        await self._empty.wait()

    async def aclose(self) -> None:
        """Release every held event, refuse new ones and stop the timer task."""
        self._closed = True
        try:
            await self.flush()
        finally:
            timer, self._timer = self._timer, None
            if timer is not None:
                timer.cancel()
                try:
                    await timer
                except asyncio.CancelledError:
                    if not timer.cancelled():
                        raise

    def _ensure_timer(self) -> None:
        """Start the background task that releases events when their time is up."""
        if self._timer is None or self._timer.done():
            self._timer = asyncio.get_running_loop().create_task(
                self._release_when_due(), name="cwpro-webhooks-ordering"
            )

    async def _release_when_due(self) -> None:
        """Background loop: sleep until the oldest arrival's deadline, then release."""
        loop = asyncio.get_running_loop()
        while True:
            while self._arrivals and self._arrivals[0].released:
                self._arrivals.popleft()
            if not self._arrivals:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            delay = self._arrivals[0].deadline - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            await self._release_due(loop.time())

    async def _release_due(self, now: float) -> None:
        """Release the events whose time is up and every held event created before them."""
        async with self._lock:
            newest_due: datetime | None = None
            while self._arrivals and (
                self._arrivals[0].released or self._arrivals[0].deadline <= now
            ):
                held = self._arrivals.popleft()
                if not held.released and (
                    newest_due is None or held.event.created_date > newest_due
                ):
                    newest_due = held.event.created_date
            if newest_due is None:
                return
            batch = self._take(newest_due)
            await self._emit_batch(batch)

    def _take(self, up_to: datetime | None) -> list[WebhookEvent]:
        """Pop held events created at or before ``up_to`` (all if None), oldest first.

        Moves the watermark synchronously, so that an event put while the batch is being
        emitted is recognised as late.
        """
        batch: list[WebhookEvent] = []
        while self._heap and (up_to is None or self._heap[0][0] <= up_to):
            _, _, held = heapq.heappop(self._heap)
            held.released = True
            batch.append(held.event)
        self._unemitted += len(batch)
        if batch:
            newest = batch[-1].created_date
            if self._watermark is None or newest > self._watermark:
                self._watermark = newest
        return batch

    async def _emit_batch(self, batch: list[WebhookEvent]) -> None:
        """Emit events one after the other (with the lock held by the caller)."""
        emitted = 0
        try:
            for event in batch:
                await self._emit_one(event)
                emitted += 1
                self._unemitted -= 1
        finally:
            self._unemitted -= len(batch) - emitted  # only when cancelled half-way
            self._update_empty()

    async def _emit_late(self, event: WebhookEvent) -> None:
        """Emit an event that arrived after later-created ones were released."""
        self.late += 1
        self._unemitted += 1
        self._empty.clear()
        logger.debug(
            "webhook event %s (created %s) arrived after newer events were released",
            event.id,
            event.created_date.isoformat(),
        )
        try:
            async with self._lock:
                await self._emit_one(event)
        finally:
            self._unemitted -= 1
            self._update_empty()

    async def _emit_one(self, event: WebhookEvent) -> None:
        """Pass one event to ``emit``; log and count an exception instead of raising it."""
        self.released += 1
        try:
            await self._emit(event)
        except Exception:
            self.errors += 1
            logger.exception("releasing webhook event %s (%s) failed", event.id, event.event)

    def _update_empty(self) -> None:
        if self.pending == 0:
            self._empty.set()
