"""The :class:`Emulator`: a real ``aiohttp.web`` server on loopback speaking the CWP API."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import secrets
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, overload

from aiohttp import web

from cwpro.emulator.auth import TokenStore
from cwpro.emulator.clock import EmulatorClock
from cwpro.emulator.context import CONTEXT, EmulatorContext, RuntimeSettings
from cwpro.emulator.datasets import EmulatorState, WorkOrderStore
from cwpro.emulator.faults import Fault, FaultRegistry, parse_fault_spec
from cwpro.emulator.generator import anchor_for, mix64
from cwpro.emulator.middleware import MIDDLEWARES
from cwpro.emulator.portal_links import PortalLinkStore, portal_link_routes
from cwpro.emulator.ratelimit import (
    RATE_LIMITER,
    RateLimit,
    RateLimiter,
    parse_rate_limit,
    rate_limit_routes,
)
from cwpro.emulator.routes_admin import admin_routes
from cwpro.emulator.routes_auth import auth_routes
from cwpro.emulator.routes_catalog import catalog_routes
from cwpro.emulator.routes_documents import document_routes
from cwpro.emulator.routes_notifications import notification_routes
from cwpro.emulator.routes_workorders import workorder_routes
from cwpro.emulator.stats import EmulatorStats
from cwpro.emulator.webhook_delivery import WebhookDispatcher

logger = logging.getLogger("cwpro.emulator")
KEEPALIVE_TIMEOUT = 5.0
"""Seconds an idle keep-alive connection stays open, like the published portal-link server."""


class _WorkOrderIds(Sequence[str]):
    """Every work order id as a lazy sequence (random access without materializing)."""

    def __init__(self, store: WorkOrderStore) -> None:
        self._store = store

    def __len__(self) -> int:
        return self._store.size()

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        if isinstance(index, slice):
            return [self._store.id_at(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._store.id_at(index)


class Emulator:
    """The CWP API served on ``host:port`` (port 0 = any free port) from seeded data.

    Use ``async with Emulator(...) as emu:`` or :meth:`start`/:meth:`close`. Everything is
    deterministic from ``seed`` (and the UTC day of ``start_time``, default now). Public
    attributes: ``base_url``, ``client_id``, ``client_secret``, ``state`` (datasets),
    ``stats`` (request counters), ``faults`` (:class:`FaultRegistry`), ``webhooks``
    (:class:`WebhookDispatcher`), ``clock`` (:class:`EmulatorClock`: ``emu.clock.advance(s)``),
    ``portal_links`` (the portal link store), ``rate_limiter`` (the per-client token buckets:
    ``rate_limit="100/s,burst=20"``, ``rate_limit_retry_after=N`` for a fixed ``Retry-After``,
    :meth:`set_rate_limit` while running); settable ``latency_ms`` and ``token_lifetime``.
    ``keepalive_timeout`` (default :data:`KEEPALIVE_TIMEOUT`, 5 s) is how long the server keeps
    an idle keep-alive connection before closing it.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        workorders: int = 200,
        sites: int = 20,
        work_types: int = 10,
        portal_links: int = 50,
        notifications: int | None = None,
        token_lifetime: float = 3600.0,
        latency_ms: float = 0.0,
        client_id: str | None = None,
        client_secret: str | None = None,
        max_page_size: int = 1000,
        webhook_time_scale: float = 1.0,
        webhook_duplicate_probability: float = 0.0,
        webhook_reorder_window: float = 0.0,
        start_time: dt.datetime | None = None,
        keepalive_timeout: float = KEEPALIVE_TIMEOUT,
        fault_specs: Iterable[str | Mapping[str, Any]] = (),
        rate_limit: str | RateLimit | None = None,
        rate_limit_retry_after: float | None = None,
    ) -> None:
        for name, value in (
            ("workorders", workorders),
            ("sites", sites),
            ("work_types", work_types),
            ("portal_links", portal_links),
            ("keepalive_timeout", keepalive_timeout),
        ):
            if value < 0:
                raise ValueError(f"{name} must be >= 0")
        self.host = host
        self.port = port
        self.seed = seed
        self.keepalive_timeout = keepalive_timeout
        self.client_id = client_id if client_id is not None else "cwpe_" + secrets.token_hex(8)
        self.client_secret = (
            client_secret if client_secret is not None else secrets.token_urlsafe(24)
        )
        self.clock = EmulatorClock(start_time)
        self.state = EmulatorState(
            seed=seed,
            anchor=anchor_for(self.clock.start),
            workorders=workorders,
            sites=sites,
            work_types=work_types,
            notifications=notifications,
        )
        self.stats = EmulatorStats()
        self.faults = FaultRegistry(seed=mix64(seed + 0xFA017) & 0xFFFFFFFF)
        self.webhooks = WebhookDispatcher(
            seed=mix64(seed + 0x3E800) & 0xFFFFFFFF,
            time_scale=webhook_time_scale,
            duplicate_probability=webhook_duplicate_probability,
            reorder_window=webhook_reorder_window,
        )
        self._tokens = TokenStore(
            client_id=self.client_id,
            client_secret=self.client_secret,
            clock=self.clock,
            lifetime=token_lifetime,
        )
        self._settings = RuntimeSettings(latency_ms=latency_ms, max_page_size=max_page_size)
        self._base_url: str | None = None
        self._context = EmulatorContext(
            state=self.state,
            clock=self.clock,
            tokens=self._tokens,
            faults=self.faults,
            stats=self.stats,
            webhooks=self.webhooks,
            settings=self._settings,
            base_url=self._current_base_url,
        )
        workorder_store = self.state.workorders
        self.portal_links = PortalLinkStore(
            rng=random.Random(mix64(seed + 0x9041) & 0xFFFFFFFF),
            clock=self.clock.now,
            base_url=self._current_base_url,
            workorder_exists=lambda object_id: object_id in workorder_store,
        )
        if portal_links and workorder_store.size():
            self.portal_links.seed(portal_links, _WorkOrderIds(workorder_store))
        for spec in fault_specs:
            options = dict(parse_fault_spec(spec) if isinstance(spec, str) else spec)
            self.faults.add(options.pop("kind"), **options)
        self.rate_limiter = RateLimiter()
        self.set_rate_limit(rate_limit, retry_after=rate_limit_retry_after)
        self._runner: web.AppRunner | None = None
        self._upload_dir: Path | None = None

    # -- settings -------------------------------------------------------------------------
    @property
    def latency_ms(self) -> float:
        """Milliseconds added to every API request."""
        return self._settings.latency_ms

    @latency_ms.setter
    def latency_ms(self, value: float) -> None:
        if value < 0:
            raise ValueError("latency_ms must be >= 0")
        self._settings.latency_ms = float(value)

    @property
    def token_lifetime(self) -> float:
        """Lifetime in seconds of newly issued tokens."""
        return self._tokens.lifetime

    @token_lifetime.setter
    def token_lifetime(self, value: float) -> None:
        self._tokens.lifetime = float(value)

    @property
    def max_page_size(self) -> int:
        """The largest ``limit`` accepted by cursor lists."""
        return self._settings.max_page_size

    @property
    def tokens(self) -> TokenStore:
        """The issued bearer tokens."""
        return self._tokens

    def expire_tokens(self) -> None:
        """Invalidate every token issued so far (the next API call gets a 401)."""
        self._tokens.expire_all()

    def set_rate_limit(
        self, limit: str | RateLimit | None, *, retry_after: float | None = None
    ) -> RateLimit | None:
        """Limit every client to ``limit`` (``"100/s,burst=20"``, a :class:`RateLimit`, or None
        for no limit); ``retry_after`` fixes the ``Retry-After`` of each 429. Returns the limit."""
        if isinstance(limit, str):
            limit = parse_rate_limit(limit, retry_after=retry_after)
        elif isinstance(limit, RateLimit) and retry_after is not None:
            limit = RateLimit(limit.rate, limit.burst, retry_after)
        elif limit is None and retry_after is not None:
            raise ValueError("retry_after needs a rate limit")
        elif limit is not None and not isinstance(limit, RateLimit):
            raise TypeError(
                f"rate_limit must be a spec string, a RateLimit or None, got {type(limit).__name__}"
            )
        self.rate_limiter.set_limit(limit)
        return limit

    def add_fault(self, kind: str, **options: Any) -> Fault:
        """Shortcut for ``emu.faults.add(kind, **options)``."""
        return self.faults.add(kind, **options)

    # -- addresses -------------------------------------------------------------------------
    def _current_base_url(self) -> str:
        return self._base_url or f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (available once started)."""
        if self._base_url is None:
            raise RuntimeError("the emulator is not started")
        return self._base_url

    def url_for(self, path: str) -> str:
        """The absolute URL of ``path`` (e.g. ``"/workorders"``) on this emulator."""
        return f"{self.base_url}/{path.lstrip('/')}"

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`close`."""
        return self._runner is not None

    # -- lifecycle ---------------------------------------------------------------------------
    def build_app(self) -> web.Application:
        """The aiohttp application (routes, middleware, context)."""
        app = web.Application(middlewares=list(MIDDLEWARES), client_max_size=64 * 1024 * 1024)
        app[CONTEXT] = self._context
        app[RATE_LIMITER] = self.rate_limiter
        app.add_routes(auth_routes())
        app.add_routes(workorder_routes())
        app.add_routes(document_routes())
        app.add_routes(catalog_routes())
        app.add_routes(notification_routes())
        app.add_routes(portal_link_routes(self.portal_links))
        app.add_routes(admin_routes())
        app.add_routes(rate_limit_routes())
        return app

    async def start(self) -> Emulator:
        """Bind the port and start serving (idempotent)."""
        if self._runner is not None:
            return self
        self.webhooks.open()
        self._upload_dir = Path(tempfile.mkdtemp(prefix="cwpro-emulator-"))
        self._context.upload_dir = self._upload_dir
        runner = web.AppRunner(
            self.build_app(),
            access_log=None,
            handle_signals=False,
            shutdown_timeout=1.0,
            keepalive_timeout=self.keepalive_timeout,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            self._remove_upload_dir()
            raise
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.port = int(port)
        shown_host = f"[{host}]" if ":" in str(host) else str(host)
        self._base_url = f"http://{shown_host}:{self.port}"
        logger.info("CWP emulator listening on %s", self._base_url)
        return self

    async def close(self) -> None:
        """Stop webhook deliveries, stop serving, and delete uploaded files (idempotent)."""
        await self.webhooks.close()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            # What the shutdown did not wait for (a request whose client has gone, still in a
            # slow fault) is cancelled here, before the loop can close over it.
            waiting = list(self._context.in_flight)
            for task in waiting:
                task.cancel()
            await asyncio.gather(*waiting, return_exceptions=True)
        self._remove_upload_dir()

    def _remove_upload_dir(self) -> None:
        upload_dir, self._upload_dir = self._upload_dir, None
        self._context.upload_dir = None
        if upload_dir is not None:
            shutil.rmtree(upload_dir, ignore_errors=True)

    async def __aenter__(self) -> Emulator:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        where = self._base_url or "not started"
        return f"Emulator({where}, seed={self.seed}, workorders={self.state.workorder_count()})"
