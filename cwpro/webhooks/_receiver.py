"""The aiohttp webhook listener: checks, de-duplication, ordering, and background handling."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import enum
import logging
import math
import os
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, Final, Literal, TypeAlias

import attrs
from aiohttp import ClientPayloadError, web
from aiohttp.http_exceptions import HttpProcessingError

from cwpro._errors import WebhookInboxError, WebhookPayloadError
from cwpro.webhooks._dedupe import InMemorySeenStore, SeenStore
from cwpro.webhooks._dispatch import InboxDispatcher, InboxSeenStore
from cwpro.webhooks._events import WebhookEvent, parse_event
from cwpro.webhooks._inbox import Inbox
from cwpro.webhooks._ordering import OrderingBuffer
from cwpro.webhooks._security import (
    CWP_SENDER_IPS,
    AddressMatcher,
    client_ip,
    verify_basic_auth,
)
from cwpro.webhooks._server import ServerLimits, serve_app
from cwpro.webhooks._sqlite_inbox import SQLiteInbox

__all__ = ["FailedEvent", "ReceiverStats", "WebhookHandler", "WebhookReceiver"]

logger = logging.getLogger("cwpro.webhooks")

#: An async callable that handles one event (its return value is ignored).
WebhookHandler: TypeAlias = Callable[[WebhookEvent], Awaitable[object]]

_READ_CHUNK: Final = 64 * 1024
_BASIC_REALM: Final = 'Basic realm="cwpro-webhooks", charset="UTF-8"'


class _Default(enum.Enum):
    """Marks "argument not given" where ``None`` has a meaning of its own."""

    NEW_STORE = enum.auto()


#: Rejection reasons counted in :attr:`ReceiverStats.rejected`.
REJECTION_REASONS: Final = (
    "forbidden",  # 403: the sender is not in allowed_ips
    "method_not_allowed",  # 405: not a POST
    "unauthorized",  # 401: missing or wrong Basic credentials
    "too_large",  # 413: body over max_body_bytes
    "malformed",  # 400: not a valid notification
    "overloaded",  # 503: queue full (CWP will redeliver)
    "inbox_unavailable",  # 503: the inbox could not store the event (CWP will redeliver)
    "timeout",  # 408: the body did not arrive within body_timeout
    "unavailable",  # 503: the receiver is shutting down
)


@attrs.define
class ReceiverStats:
    """Counters of a :class:`WebhookReceiver` (read them; the receiver updates them).

    Attributes:
        received: requests that reached the webhook route.
        accepted: new events accepted for handling.
        duplicates: events already seen (answered 200, not handled again).
        rejected: refused requests by reason (see ``REJECTION_REASONS``).
        handled: handler calls that succeeded (retries included).
        failed: handler calls that raised (retries included).
        late: events that arrived after a later-created event was released (ordering only).
    """

    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: dict[str, int] = attrs.field(factory=lambda: dict.fromkeys(REJECTION_REASONS, 0))
    handled: int = 0
    failed: int = 0
    late: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The counters as a plain dict (e.g. for a metrics endpoint)."""
        return attrs.asdict(self)


@attrs.frozen
class FailedEvent:
    """An event whose handler raised in queue mode, kept for :meth:`WebhookReceiver.retry_failed`.

    Attributes:
        event: the event.
        error: the exception the handler raised (last attempt).
        attempts: how many times the handler was called for it.
        failed_at: when the last attempt failed (UTC).
    """

    event: WebhookEvent
    error: Exception
    attempts: int = 1
    failed_at: _dt.datetime = attrs.field(factory=lambda: _dt.datetime.now(_dt.timezone.utc))


def _json_response(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"status": status, "message": message}, status=status, headers=headers)


class WebhookReceiver:
    """An HTTP endpoint receiving CWP webhook notifications and passing them to ``handler``.

    Each request is checked in this order, and answered:

    ======  ================================================================================
    403     the sender's address is not in ``allowed_ips``
    405     not a ``POST`` (``Allow: POST``)
    401     ``basic_auth`` is set and the request lacks those credentials (``WWW-Authenticate``)
    413     the body is over ``max_body_bytes`` (by ``Content-Length``, and counted while reading:
            never more than the limit plus one byte is read)
    400     not a valid notification (see :func:`~cwpro.webhooks.parse_event`)
    200     a new event, accepted; or a duplicate (already seen), not handled again
    408     the body did not arrive within ``body_timeout`` seconds
    503     queue mode with a full queue, or shutting down: the event is not marked seen, so
            CWP's redelivery is handled; inbox mode: the inbox could not store the event
            (disk full, locked or corrupt file; the cause is logged once per outage)
    500     inline mode, the handler raised: the event is forgotten by the de-duplication
            store, so CWP's redelivery is handled
    ======  ================================================================================

    Modes:
        ``inbox="events.db"`` (a path, or an :class:`~cwpro.webhooks.Inbox` such as
        :class:`~cwpro.webhooks.SQLiteInbox` or :class:`~cwpro.webhooks.PostgresInbox`): the
        durable mode. An event is committed to the inbox (synced to disk) *before* the 200;
        the inbox is the de-duplication store, across restarts too. ``workers`` tasks run the
        handler from the inbox in ``created_date`` order (within ``ordering_window``, if set;
        keep ``workers=1`` for strict order); an event is done only once its handler returned.
        A handler that raises is retried after ``retry_backoff`` seconds, doubling up to
        ``max_retry_backoff``, and after ``max_attempts`` calls parked as dead with its error
        (see ``inbox.dead()`` and ``inbox.replay(id)``). Events left pending by a crash run
        first at the next start. :attr:`dedupe` then is a view of the inbox, so
        ``client.webhooks.backfill(..., seen=receiver.dedupe)`` writes into the same inbox.
        ``"queue"`` (default without an inbox): answer 200 as soon as the event is in a
        bounded queue; ``workers`` background tasks run the handler. A handler exception is
        logged (logger ``cwpro.webhooks``) and the event is kept in :attr:`failed` (the
        newest ``max_failed``) for :meth:`retry_failed`; it stays marked as seen, so a
        duplicate delivery does not run it a second time.
        ``"inline"``: run the handler before answering (200 on success, 500 on an exception).
        CWP wants a fast answer, so keep inline handlers short.

    Ordering (``ordering_window`` seconds): events pass through an :class:`OrderingBuffer`
    and reach the handler in ``created_date`` order (events arriving at most the window apart).
    In queue mode keep ``workers=1`` for ordered handling. In inline mode the answer waits for
    the event's turn (at most the window) and its handler.

    Sender address and proxies (secure by default): the sender is the TCP peer, and
    ``X-Forwarded-For`` is ignored. Behind a reverse proxy either

    * list the proxy addresses in ``trusted_proxies``: ``X-Forwarded-For`` is then read only
      on requests whose peer is one of them, walking from the right past trusted proxies; or
    * set ``trust_forwarded_for=True`` (and no ``trusted_proxies``) to read it from *any*
      peer - only safe when nothing but your proxy can reach this server, since otherwise
      anyone can claim to be CWP. A warning is logged when this is configured.

    ``allowed_ips=None`` accepts every sender (e.g. when the proxy already filters). Refused
    senders are logged at WARNING.

    Slow clients (:meth:`serve`): a request's headers must arrive within ``header_timeout``
    seconds and its body within ``body_timeout``; at most ``max_connections`` connections are
    open at once (further ones are closed at once; the default stays below the process's
    file-descriptor limit, so ``accept()`` never runs out of descriptors).

    Integration:
        * ``receiver.app`` - a ready :class:`aiohttp.web.Application`;
        * ``receiver.add_routes(app)`` - mount on your own application (workers start and stop
          with it);
        * ``async with receiver.serve(port=8080) as url:`` - run a server;
        * ``async with receiver:`` - start/stop the workers yourself.

    Args:
        handler: ``async def handler(event: WebhookEvent) -> None``.
        basic_auth: ``(username, password)`` CWP must send, or None for no auth.
        allowed_ips: sender addresses/networks allowed; default CWP's two addresses.
        trusted_proxies: addresses/networks of reverse proxies in front of this server.
        trust_forwarded_for: read ``X-Forwarded-For`` from any peer (see above).
        max_body_bytes: the largest body accepted.
        dedupe: the :class:`SeenStore`; default a new :class:`InMemorySeenStore`; None turns
            de-duplication off.
        mode: ``"queue"`` or ``"inline"``.
        queue_size: how many accepted events may wait (buffered + queued) before 503.
        ordering_window: seconds to hold events for re-ordering, or None for arrival order.
        path: the route's path.
        workers: handler tasks in queue mode.
        max_failed: how many failed events :attr:`failed` keeps (oldest dropped first).
        shutdown_timeout: seconds to let workers finish the queue when stopping; events still
            queued then are dropped and forgotten by the de-duplication store (fetch them back
            with :func:`~cwpro.webhooks.backfill`). In inbox mode they stay in the inbox.
        inbox: a SQLite file path or an :class:`~cwpro.webhooks.Inbox` (the durable mode).
        max_attempts: inbox mode: handler calls before an event is parked as dead.
        retry_backoff: inbox mode: seconds before the first retry (doubled each time).
        max_retry_backoff: inbox mode: the longest wait between retries.
        poll_interval: inbox mode: how often to look for events stored by other processes,
            replayed ones or an inbox that was unavailable.
        header_timeout: seconds for a request's headers to arrive (:meth:`serve`).
        body_timeout: seconds for a request's body to arrive.
        max_connections: open connections allowed (:meth:`serve`); None for a default
            below the file-descriptor limit.
        keepalive_timeout: seconds an idle keep-alive connection stays open (:meth:`serve`).
    """

    def __init__(
        self,
        handler: WebhookHandler,
        *,
        basic_auth: tuple[str, str] | None = None,
        allowed_ips: Iterable[str] | None = CWP_SENDER_IPS,
        trusted_proxies: Iterable[str] = (),
        trust_forwarded_for: bool = False,
        max_body_bytes: int = 1_048_576,
        dedupe: SeenStore | _Default | None = _Default.NEW_STORE,
        mode: Literal["queue", "inline"] = "queue",
        queue_size: int = 10_000,
        ordering_window: float | None = None,
        path: str = "/webhooks",
        workers: int = 1,
        max_failed: int = 1_000,
        shutdown_timeout: float = 30.0,
        inbox: str | os.PathLike[str] | Inbox | None = None,
        max_attempts: int = 5,
        retry_backoff: float = 1.0,
        max_retry_backoff: float = 300.0,
        poll_interval: float = 1.0,
        header_timeout: float = 10.0,
        body_timeout: float = 30.0,
        max_connections: int | None = None,
        keepalive_timeout: float = 15.0,
    ) -> None:
        if not callable(handler):
            raise TypeError("handler must be an async callable taking a WebhookEvent")
        if basic_auth is not None and not (
            len(basic_auth) == 2 and all(isinstance(part, str) for part in basic_auth)
        ):
            raise ValueError("basic_auth must be a (username, password) tuple of strings")
        if mode not in ("queue", "inline"):
            raise ValueError(f"mode must be 'queue' or 'inline', not {mode!r}")
        for name, value in (
            ("max_body_bytes", max_body_bytes),
            ("queue_size", queue_size),
            ("workers", workers),
            ("max_failed", max_failed),
            ("max_attempts", max_attempts),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if ordering_window is not None and not (
            math.isfinite(ordering_window) and ordering_window >= 0
        ):
            raise ValueError(f"ordering_window must be >= 0 seconds or None: {ordering_window!r}")
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/': {path!r}")
        for name, seconds in (
            ("retry_backoff", retry_backoff),
            ("max_retry_backoff", max_retry_backoff),
            ("poll_interval", poll_interval),
            ("header_timeout", header_timeout),
            ("body_timeout", body_timeout),
            ("keepalive_timeout", keepalive_timeout),
        ):
            if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds > 0):
                raise ValueError(f"{name} must be a positive number of seconds, not {seconds!r}")
        self.limits = ServerLimits.for_process(
            header_timeout=header_timeout,
            body_timeout=body_timeout,
            max_connections=max_connections,
            keepalive_timeout=keepalive_timeout,
        )
        self._dispatcher: InboxDispatcher | None = None
        if inbox is not None:
            if mode != "queue":
                raise ValueError("an inbox runs handlers in the background: use mode='queue'")
            if dedupe is not _Default.NEW_STORE:
                raise ValueError("with an inbox, the inbox is the de-duplication store")
            if isinstance(inbox, (str, os.PathLike)):
                inbox = SQLiteInbox(inbox)
            elif not isinstance(inbox, Inbox):
                raise TypeError(f"inbox must be a path or an Inbox, not {type(inbox).__name__}")
            self._dispatcher = InboxDispatcher(
                inbox,
                self._call_handler,
                workers=workers,
                window=ordering_window or 0.0,
                max_attempts=max_attempts,
                retry_backoff=retry_backoff,
                max_retry_backoff=max_retry_backoff,
                poll_interval=poll_interval,
            )
            dedupe = InboxSeenStore(inbox)
        self._handler = handler
        self._basic_auth = basic_auth
        self._allowed: AddressMatcher | None = None
        if allowed_ips is not None:
            self._allowed = AddressMatcher(allowed_ips)
            if not self._allowed:
                raise ValueError("allowed_ips is empty; pass None to accept every sender")
        self._trusted_proxies = AddressMatcher(trusted_proxies)
        self._trust_any_peer = trust_forwarded_for and not self._trusted_proxies
        if self._trust_any_peer:
            logger.warning(
                "X-Forwarded-For is trusted from any peer (trust_forwarded_for=True without "
                "trusted_proxies): make sure only your proxy can reach this server"
            )
        self.max_body_bytes = max_body_bytes
        self._dedupe: SeenStore | None = (
            InMemorySeenStore() if dedupe is _Default.NEW_STORE else dedupe
        )
        self.mode: Literal["queue", "inline"] = mode
        self.queue_size = queue_size
        self.ordering_window = ordering_window
        self.path = path
        self.workers = workers
        self.shutdown_timeout = shutdown_timeout
        #: Counters (see :class:`ReceiverStats`).
        self.stats = ReceiverStats()
        #: Events whose handler raised in queue mode, newest last (see :meth:`retry_failed`).
        self.failed: deque[FailedEvent] = deque(maxlen=max_failed)
        self._app: web.Application | None = None
        self._queue: asyncio.Queue[WebhookEvent] | None = None
        self._buffer: OrderingBuffer | None = None
        self._worker_tasks: list[asyncio.Task[None]] = []
        self._in_progress: dict[int, WebhookEvent] = {}
        self._inline_waiters: dict[int, asyncio.Future[Exception | None]] = {}
        self._running = False
        self._stopping = False

    def __repr__(self) -> str:
        inbox = "" if self._dispatcher is None else f", inbox={self._dispatcher.inbox!r}"
        return (
            f"WebhookReceiver(path={self.path!r}, mode={self.mode!r}{inbox}, "
            f"running={self._running}, auth={'on' if self._basic_auth else 'off'})"
        )

    @property
    def inbox(self) -> Inbox | None:
        """The durable inbox (None without one)."""
        return None if self._dispatcher is None else self._dispatcher.inbox

    @property
    def dedupe(self) -> SeenStore | None:
        """The de-duplication store (None when de-duplication is off)."""
        return self._dedupe

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`close`."""
        return self._running

    # -- integration ---------------------------------------------------------------------

    @property
    def app(self) -> web.Application:
        """An aiohttp application serving the webhook route (created on first access)."""
        if self._app is None:
            self._app = web.Application()
            self.add_routes(self._app)
        return self._app

    def add_routes(self, app: web.Application) -> None:
        """Mount the webhook route on ``app``; the workers start and stop with the app."""
        app.router.add_route("*", self.path, self._handle_request)
        app.on_startup.append(self._on_startup)
        app.on_cleanup.append(self._on_cleanup)

    async def _on_startup(self, _app: web.Application) -> None:
        await self.start()

    async def _on_cleanup(self, _app: web.Application) -> None:
        await self.close()

    @contextlib.asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Run an HTTP server for :attr:`app`; yields the webhook URL.

        ``port=0`` picks a free port. On exit the server stops accepting requests and the
        workers finish the queue (see ``shutdown_timeout``) before being stopped.
        """
        async with serve_app(self.app, host, port, self.limits) as (url_host, bound_port):
            yield f"http://{url_host}:{bound_port}{self.path}"

    async def __aenter__(self) -> WebhookReceiver:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Create the queue, the ordering buffer and the workers (idempotent)."""
        if self._running:
            return
        self._stopping = False
        if self._dispatcher is not None:
            await self._dispatcher.start()
            self._running = True
            return
        if self.mode == "queue":
            self._queue = asyncio.Queue(maxsize=self.queue_size)
            loop = asyncio.get_running_loop()
            self._worker_tasks = [
                loop.create_task(self._work(), name=f"cwpro-webhooks-worker-{number}")
                for number in range(self.workers)
            ]
        if self.ordering_window is not None:
            emit = self._enqueue if self.mode == "queue" else self._handle_inline_in_order
            self._buffer = OrderingBuffer(self.ordering_window, emit=emit)
        self._running = True

    async def close(self) -> None:
        """Release held events, let the workers finish the queue, then stop them."""
        if not self._running:
            return
        self._stopping = True
        if self._dispatcher is not None:
            try:
                await self._dispatcher.close(self.shutdown_timeout)
            finally:
                self._running = False
            return
        try:
            if self._buffer is not None:
                await self._buffer.aclose()
            if self._queue is not None and self._worker_tasks:
                try:
                    await asyncio.wait_for(self._queue.join(), self.shutdown_timeout)
                except asyncio.TimeoutError:
                    logger.warning(
                        "webhook workers did not finish within %.1f s; stopping them",
                        self.shutdown_timeout,
                    )
        finally:
            await self._stop_workers()
            self._running = False

    async def _stop_workers(self) -> None:
        """Cancel the workers and forget the events they did not handle."""
        tasks, self._worker_tasks = self._worker_tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        dropped = list(self._in_progress.values())
        self._in_progress.clear()
        if self._queue is not None:
            while not self._queue.empty():
                dropped.append(self._queue.get_nowait())
                self._queue.task_done()
        if dropped:
            logger.warning(
                "%d accepted webhook event(s) were not handled before shutdown; they are "
                "forgotten by the de-duplication store so a backfill or redelivery handles them",
                len(dropped),
            )
            if self._dedupe is not None:
                for event in dropped:
                    await self._dedupe.discard(event.id)

    async def join(self, *, flush: bool = False) -> None:
        """Wait until every accepted event has been handled (or failed).

        Args:
            flush: release the events held by the ordering buffer now instead of waiting for
                their window to pass (not in inbox mode: there the window is part of the
                stored events' due time).

        In inbox mode: until no event is running or pending (events waiting for a retry
        included; dead events excepted).
        """
        if self._dispatcher is not None:
            await self._dispatcher.join()
            return
        if self._buffer is not None:
            if flush:
                await self._buffer.flush()
            await self._buffer.wait_empty()
        if self._queue is not None:
            await self._queue.join()

    async def retry_failed(self) -> int:
        """Run the handler again for every event in :attr:`failed`, oldest first.

        Events that fail again go back to :attr:`failed` with ``attempts`` increased.
        (In inbox mode failed events are in the inbox: see ``inbox.dead()`` and
        ``inbox.replay()``.)

        Returns:
            How many events were handled successfully this time.
        """
        entries = list(self.failed)
        self.failed.clear()
        succeeded = 0
        for entry in entries:
            error = await self._call_handler(entry.event)
            if error is None:
                succeeded += 1
            else:
                self._remember_failure(entry.event, error, entry.attempts + 1)
        return succeeded

    # -- request handling ----------------------------------------------------------------

    async def _handle_request(self, request: web.Request) -> web.StreamResponse:
        """The webhook route."""
        self.stats.received += 1
        forwarded = request.headers.getall("X-Forwarded-For", [])
        sender = client_ip(
            request.remote,
            ", ".join(forwarded) if forwarded else None,
            self._trusted_proxies,
            trust_any_peer=self._trust_any_peer,
        )
        if self._allowed is not None and not self._allowed.matches(sender):
            return self._reject(403, "forbidden", "sender not allowed", sender)
        if request.method != "POST":
            return self._reject(405, "method_not_allowed", "use POST", sender, Allow="POST")
        if self._basic_auth is not None and not verify_basic_auth(
            request.headers.get("Authorization"), *self._basic_auth
        ):
            return self._reject(
                401,
                "unauthorized",
                "authentication required",
                sender,
                **{"WWW-Authenticate": _BASIC_REALM},
            )
        if request.content_length is not None and request.content_length > self.max_body_bytes:
            return self._reject(413, "too_large", "body too large", sender)
        try:
            body = await asyncio.wait_for(self._read_body(request), self.limits.body_timeout)
        except asyncio.TimeoutError:
            response = self._reject(408, "timeout", "request body too slow", sender)
            response.force_close()
            return response
        except (OSError, ClientPayloadError, HttpProcessingError) as exc:
            # a client that hung up, or a broken chunked/compressed body
            return self._reject(400, "malformed", f"unreadable body: {type(exc).__name__}", sender)
        if body is None:
            return self._reject(413, "too_large", "body too large", sender)
        try:
            event = parse_event(body, request.headers)
        except WebhookPayloadError as exc:
            return self._reject(400, "malformed", str(exc), sender)
        return await self._accept(event, sender)

    async def _read_body(self, request: web.Request) -> bytes | None:
        """The body, or None as soon as it exceeds ``max_body_bytes``."""
        limit = self.max_body_bytes
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = await request.content.read(min(_READ_CHUNK, limit + 1 - total))
            if not chunk:
                return b"".join(chunks)
            total += len(chunk)
            if total > limit:
                return None
            chunks.append(chunk)

    def _reject(
        self, status: int, reason: str, message: str, sender: str, **headers: str
    ) -> web.Response:
        """Count and log a refused request, and build its response."""
        self.stats.rejected[reason] = self.stats.rejected.get(reason, 0) + 1
        level = logging.INFO if status in (401, 405, 413) else logging.WARNING
        logger.log(
            level, "webhook request from %s refused (%d %s): %s", sender, status, reason, message
        )
        response = _json_response(status, message, **headers)
        if status == 413:
            response.force_close()  # do not read the rest of an oversized body
        return response

    async def _accept(self, event: WebhookEvent, sender: str) -> web.Response:
        """De-duplicate an event and hand it to the queue or the handler."""
        if not self._running:
            if self._stopping:
                return self._reject(503, "unavailable", "shutting down", sender)
            await self.start()
        if self._dispatcher is not None:
            return await self._accept_into_inbox(self._dispatcher, event, sender)
        if self._dedupe is not None and not await self._dedupe.add(event.id):
            self.stats.duplicates += 1
            logger.debug("duplicate webhook event %s ignored", event.id)
            return _json_response(200, "duplicate")
        if self._stopping:
            await self._forget(event)
            return self._reject(503, "unavailable", "shutting down", sender)
        if self.mode == "inline":
            return await self._accept_inline(event)
        if not self._has_room():
            await self._forget(event)
            return self._reject(
                503, "overloaded", "queue full, retry later", sender, **{"Retry-After": "60"}
            )
        self.stats.accepted += 1
        if self._buffer is not None:
            await self._put_in_order(self._buffer, event)
        else:
            assert self._queue is not None
            self._queue.put_nowait(event)
        return _json_response(200, "accepted")

    async def _accept_into_inbox(
        self, dispatcher: InboxDispatcher, event: WebhookEvent, sender: str
    ) -> web.Response:
        """Inbox mode: 200 only once the event is durably stored (or was already)."""
        try:
            new = await dispatcher.store(event)
        except WebhookInboxError:
            # the cause was logged once by the dispatcher; CWP redelivers after a 503
            self.stats.rejected["inbox_unavailable"] += 1
            logger.debug("webhook event %s from %s not stored: 503", event.id, sender)
            return _json_response(503, "inbox unavailable, retry later", **{"Retry-After": "60"})
        if not new:
            self.stats.duplicates += 1
            return _json_response(200, "duplicate")
        self.stats.accepted += 1
        return _json_response(200, "accepted")

    def _has_room(self) -> bool:
        """True when one more event fits in the buffer plus the queue."""
        assert self._queue is not None
        held = self._buffer.pending if self._buffer is not None else 0
        return self._queue.qsize() + held < self.queue_size

    async def _put_in_order(self, buffer: OrderingBuffer, event: WebhookEvent) -> None:
        late_before = buffer.late
        await buffer.put(event)
        self.stats.late += buffer.late - late_before

    async def _forget(self, event: WebhookEvent) -> None:
        if self._dedupe is not None:
            await self._dedupe.discard(event.id)

    async def _accept_inline(self, event: WebhookEvent) -> web.Response:
        """Inline mode: handle (in order, if ordering) before answering."""
        self.stats.accepted += 1
        if self._buffer is not None:
            waiter: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()
            self._inline_waiters[id(event)] = waiter
            try:
                await self._put_in_order(self._buffer, event)
                error = await waiter
            finally:
                self._inline_waiters.pop(id(event), None)
        else:
            error = await self._call_handler(event)
        if error is not None:
            await self._forget(event)
            return _json_response(500, "handler failed")
        return _json_response(200, "handled")

    async def _handle_inline_in_order(self, event: WebhookEvent) -> None:
        """Ordering-buffer output in inline mode: run the handler, wake the request."""
        error = await self._call_handler(event)
        waiter = self._inline_waiters.get(id(event))
        if waiter is not None and not waiter.done():
            waiter.set_result(error)

    # -- handling ------------------------------------------------------------------------

    async def _enqueue(self, event: WebhookEvent) -> None:
        """Ordering-buffer output in queue mode (room was reserved when accepted)."""
        assert self._queue is not None
        await self._queue.put(event)

    async def _work(self) -> None:
        """A worker: take events from the queue and run the handler."""
        assert self._queue is not None
        queue = self._queue
        while True:
            event = await queue.get()
            self._in_progress[id(event)] = event
            try:
                error = await self._call_handler(event)
            except asyncio.CancelledError:
                # stopped mid-handler: the event stays in _in_progress for _stop_workers
                queue.task_done()
                raise
            del self._in_progress[id(event)]
            if error is not None:
                self._remember_failure(event, error, 1)
            queue.task_done()

    async def _call_handler(self, event: WebhookEvent) -> Exception | None:
        """Run the handler; count and log the outcome; return its exception, if any."""
        try:
            await self._handler(event)
        except Exception as exc:
            self.stats.failed += 1
            logger.error(
                "webhook handler failed for event %s (%s): %s: %s",
                event.id,
                event.event,
                type(exc).__name__,
                exc,
                exc_info=exc,
            )
            return exc
        self.stats.handled += 1
        return None

    def _remember_failure(self, event: WebhookEvent, error: Exception, attempts: int) -> None:
        if self.failed.maxlen is not None and len(self.failed) == self.failed.maxlen:
            dropped = self.failed[0]
            logger.warning(
                "too many failed webhook events kept; dropping event %s", dropped.event.id
            )
        self.failed.append(FailedEvent(event=event, error=error, attempts=attempts))
