"""The receiver's HTTP server, hardened against slow and numerous clients."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import attrs
from aiohttp import web

__all__ = ["ServerLimits", "serve_app"]

logger = logging.getLogger("cwpro.webhooks")

#: Descriptors kept free for everything but client connections (files, sessions, the inbox).
_RESERVED_DESCRIPTORS = 64
_DEFAULT_MAX_CONNECTIONS = 1_000
_MAX_BACKLOG = 128


def _descriptor_limit() -> int | None:
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


@attrs.frozen
class ServerLimits:
    """Timeouts and the connection cap of a receiver's server.

    Attributes:
        header_timeout: seconds for a request's headers to arrive, from its first byte (or
            from the connection's start).
        body_timeout: seconds for a request's body to arrive.
        max_connections: connections open at once; further ones are closed at once.
        keepalive_timeout: seconds an idle keep-alive connection stays open.
        backlog: the listen backlog; asyncio accepts up to this many connections in a row
            before any refused one is closed, so the default cap keeps that many descriptors
            free as well.
    """

    header_timeout: float
    body_timeout: float
    max_connections: int
    keepalive_timeout: float
    backlog: int = _MAX_BACKLOG

    @classmethod
    def for_process(
        cls,
        *,
        header_timeout: float,
        body_timeout: float,
        max_connections: int | None,
        keepalive_timeout: float,
    ) -> ServerLimits:
        """Limits with ``max_connections`` defaulting to what the descriptor limit allows."""
        limit = _descriptor_limit()
        backlog = _MAX_BACKLOG if limit is None else max(16, min(_MAX_BACKLOG, limit // 8))
        if max_connections is None:
            max_connections = _DEFAULT_MAX_CONNECTIONS
            if limit is not None:
                spare = limit - _RESERVED_DESCRIPTORS - backlog
                max_connections = max(1, min(max_connections, spare))
        elif not isinstance(max_connections, int) or max_connections < 1:
            raise ValueError(f"max_connections must be a positive integer, not {max_connections!r}")
        return cls(header_timeout, body_timeout, max_connections, keepalive_timeout, backlog)


class _Counter:
    def __init__(self) -> None:
        self.open = 0
        self.refused = 0
        self.timed_out = 0


class _Guard(asyncio.Protocol):
    """Wraps aiohttp's protocol: refuses connections over the cap, enforces header_timeout."""

    def __init__(self, inner: Any, limits: ServerLimits, counter: _Counter) -> None:
        self._inner = inner
        self._limits = limits
        self._counter = counter
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._admitted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        if self._counter.open >= self._limits.max_connections:
            self._counter.refused += 1
            if self._counter.refused == 1 or self._counter.refused % 1000 == 0:
                logger.warning(
                    "webhook server at its cap of %d connections: refusing new ones "
                    "(%d refused so far)",
                    self._limits.max_connections,
                    self._counter.refused,
                )
            transport.abort()
            return
        self._admitted = True
        self._counter.open += 1
        self._inner.connection_made(transport)
        self._arm()

    def _arm(self) -> None:
        if self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._limits.header_timeout, self._headers_due)

    def _headers_arrived(self) -> bool:
        """True when a request's headers were parsed (queued for, or in, the handler)."""
        return bool(
            getattr(self._inner, "_request_in_progress", False)
            or getattr(self._inner, "_messages", None)
        )

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _headers_due(self) -> None:
        self._timer = None
        if self._headers_arrived():
            return  # the body has its own timeout
        if self._transport is not None and not self._transport.is_closing():
            self._counter.timed_out += 1
            logger.debug("closing a webhook connection whose request headers did not arrive")
            self._transport.abort()

    def data_received(self, data: bytes) -> None:
        if not self._admitted:
            return
        if not self._headers_arrived():
            self._arm()  # these bytes start (or continue) a request's headers
        self._inner.data_received(data)
        if self._headers_arrived():
            self._disarm()

    def eof_received(self) -> bool | None:
        if not self._admitted:
            return None
        result: bool | None = self._inner.eof_received()
        return result

    def pause_writing(self) -> None:
        if self._admitted:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._admitted:
            self._inner.resume_writing()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        if not self._admitted:
            return
        self._admitted = False
        self._counter.open -= 1
        self._inner.connection_lost(exc)


@contextlib.asynccontextmanager
async def serve_app(
    app: web.Application, host: str, port: int, limits: ServerLimits
) -> AsyncIterator[tuple[str, int]]:
    """Serve ``app`` on ``host:port`` within ``limits``; yields (URL host, bound port)."""
    runner = web.AppRunner(app, keepalive_timeout=limits.keepalive_timeout, access_log=None)
    await runner.setup()
    server: asyncio.AbstractServer | None = None
    try:
        handler_factory = runner.server
        assert handler_factory is not None
        counter = _Counter()
        factory: Callable[[], asyncio.Protocol] = lambda: _Guard(  # noqa: E731
            handler_factory(), limits, counter
        )
        loop = asyncio.get_running_loop()
        server = await loop.create_server(factory, host, port, backlog=limits.backlog)
        bound_port = server.sockets[0].getsockname()[1]
        url_host = f"[{host}]" if ":" in host else host
        yield url_host, bound_port
    finally:
        if server is not None:
            server.close()
        await runner.cleanup()
