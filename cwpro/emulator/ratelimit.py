"""A server-side rate limit for the emulator: a token bucket per client credentials.

Each client (the ``client_id`` owning the request's bearer token) has a bucket of ``burst``
tokens refilled at ``rate`` tokens per second. An authenticated API request takes one token; when
the bucket is empty it is answered ``429 Too Many Requests`` in the API's error envelope, with
``Retry-After`` = the whole seconds until a token is free (so ``0`` at any rate of one per second
or more), or a fixed value when ``retry_after`` is set (as some servers send). Token requests
(``POST /auth/token``), the public portal and the control API are not limited.

Spec grammar (``--rate-limit``), parsed by :func:`parse_rate_limit`::

    SPEC := RATE ["/" UNIT] ["," "burst=" N]       UNIT := s | sec | second | m | min | minute

    100/s              100 requests per second, burst 100 (one second's worth)
    100/s,burst=20     100 requests per second, at most 20 at once
    600/min,burst=5    10 requests per second, at most 5 at once

Control API: ``GET /_emulator/rate-limit`` (the limit and its counters), ``POST
/_emulator/rate-limit`` with ``{"limit": "100/s,burst=20" | null, "retry_after": N | null}``
(set or remove the limit; the counters are kept), ``DELETE /_emulator/rate-limit`` (remove it).
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from cwpro.emulator.context import context_of
from cwpro.emulator.wire import error_response, json_response, loads

__all__ = [
    "RATE_LIMITER",
    "RateLimit",
    "RateLimiter",
    "parse_rate_limit",
    "rate_limit_middleware",
    "rate_limit_routes",
]

_UNITS = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0}
_SPEC = re.compile(
    r"\s*(?P<rate>\d+(?:\.\d*)?|\.\d+)\s*(?:/\s*(?P<unit>[a-z]+))?\s*"
    r"(?:,\s*burst\s*=\s*(?P<burst>\d+)\s*)?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class RateLimit:
    """``rate`` tokens per second, buckets of ``burst`` tokens, and an optional fixed
    ``Retry-After`` (seconds) sent with every 429 instead of the computed one."""

    rate: float
    burst: int
    retry_after: float | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.rate) or self.rate <= 0:
            raise ValueError(f"the rate limit must be a positive rate, got {self.rate!r}")
        if self.burst < 1:
            raise ValueError(f"burst must be >= 1, got {self.burst!r}")
        if self.retry_after is not None and not (
            math.isfinite(self.retry_after) and self.retry_after >= 0
        ):
            raise ValueError(
                f"retry_after must be a number of seconds >= 0, got {self.retry_after!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description (used by the control API)."""
        return {"rate": self.rate, "burst": self.burst, "retry_after": self.retry_after}


def parse_rate_limit(spec: str, *, retry_after: float | None = None) -> RateLimit:
    """Parse a ``--rate-limit`` spec (grammar in the module docstring); ``ValueError`` if bad."""
    match = _SPEC.fullmatch(spec)
    if match is None:
        raise ValueError(f"bad rate limit {spec!r}; expected e.g. '100/s' or '100/s,burst=20'")
    unit = (match["unit"] or "s").lower()
    if unit not in _UNITS:
        raise ValueError(f"bad unit {match['unit']!r} in rate limit {spec!r}; use /s or /min")
    rate = float(match["rate"]) / _UNITS[unit]
    if rate <= 0:
        raise ValueError(f"the rate limit must be above zero, got {spec!r}")
    burst = int(match["burst"]) if match["burst"] is not None else max(1, math.ceil(rate))
    return RateLimit(rate=rate, burst=burst, retry_after=retry_after)


class RateLimiter:
    """Token buckets per client key under one :class:`RateLimit` (or none: everything passes).

    Thread-safe: the limit may be changed from any thread while the emulator serves. Counters:
    ``allowed`` and ``limited`` (requests answered 429), also per key in ``limited_by_key``.
    """

    def __init__(
        self, limit: RateLimit | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limit = limit
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self.allowed = 0
        self.limited = 0
        self.limited_by_key: Counter[str] = Counter()

    @property
    def limit(self) -> RateLimit | None:
        """The limit in force (None: unlimited)."""
        return self._limit

    def set_limit(self, limit: RateLimit | None) -> None:
        """Replace the limit (None removes it); every bucket starts full again."""
        with self._lock:
            self._limit = limit
            self._buckets.clear()

    def take(self, key: str) -> float | None:
        """Take a token from ``key``'s bucket: None when one was free, else the seconds until
        the next token is (nothing is taken)."""
        limit = self._limit
        if limit is None:
            return None
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(limit.burst), now))
            tokens = min(float(limit.burst), tokens + (now - last) * limit.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                self.allowed += 1
                return None
            self._buckets[key] = (tokens, now)
            self.limited += 1
            self.limited_by_key[key] += 1
            return (1.0 - tokens) / limit.rate

    def retry_after_header(self, wait: float) -> str:
        """The ``Retry-After`` value for a 429 whose next token is ``wait`` seconds away."""
        limit = self._limit
        fixed = None if limit is None else limit.retry_after
        if fixed is not None:
            return str(int(fixed)) if float(fixed).is_integer() else str(fixed)
        return str(int(wait))

    def reset_counters(self) -> None:
        """Zero the counters (the buckets are kept)."""
        with self._lock:
            self.allowed = 0
            self.limited = 0
            self.limited_by_key.clear()

    def snapshot(self) -> dict[str, Any]:
        """The limit and the counters, JSON-able."""
        with self._lock:
            return {
                "limit": None if self._limit is None else self._limit.to_dict(),
                "allowed": self.allowed,
                "limited": self.limited,
                "limited_by_client": dict(self.limited_by_key),
            }


RATE_LIMITER = web.AppKey("cwpro_emulator_rate_limiter", RateLimiter)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_EXEMPT = frozenset({"/auth/token"})


def _client_key(request: web.Request) -> str:
    """The client the request is made for: the owner of its (already checked) bearer token.

    The emulator issues tokens to one set of client credentials, so that owner is its client id.
    """
    return context_of(request).tokens.client_id


@web.middleware
async def rate_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer 429 when the client's bucket is empty (placed after bearer auth)."""
    limiter = request.app.get(RATE_LIMITER)
    if (
        limiter is None
        or limiter.limit is None
        or request.path.startswith("/_emulator/")
        or request.path in _EXEMPT
        or request.path.startswith("/portal/")
    ):
        return await handler(request)
    wait = limiter.take(_client_key(request))
    if wait is None:
        return await handler(request)
    limit = limiter.limit
    rate = "?" if limit is None else f"{limit.rate:g}"
    return error_response(
        request.path,
        429,
        "Too many requests",
        f"Rate limit of {rate} requests per second exceeded",
        headers={"Retry-After": limiter.retry_after_header(wait)},
    )


# -- control API --------------------------------------------------------------------------------
async def _get_rate_limit(request: web.Request) -> web.Response:
    return json_response(request.app[RATE_LIMITER].snapshot())


async def _set_rate_limit(request: web.Request) -> web.Response:
    limiter = request.app[RATE_LIMITER]
    raw = await request.read()
    try:
        body = loads(raw) if raw.strip() else {}
    except ValueError as exc:
        return json_response({"error": f"invalid JSON: {exc}"}, status=400)
    if not isinstance(body, dict):
        return json_response({"error": "expected a JSON object"}, status=400)
    spec, retry_after = body.get("limit"), body.get("retry_after")
    if retry_after is not None and (
        isinstance(retry_after, bool) or not isinstance(retry_after, (int, float))
    ):
        return json_response({"error": "retry_after must be a number or null"}, status=400)
    if spec is None and retry_after is not None:
        return json_response({"error": "retry_after needs a limit"}, status=400)
    if spec is not None and not isinstance(spec, str):
        return json_response(
            {"error": "limit must be a spec like '100/s,burst=20' or null"}, status=400
        )
    try:
        limit = (
            None
            if spec is None
            else parse_rate_limit(
                spec, retry_after=None if retry_after is None else float(retry_after)
            )
        )
    except ValueError as exc:
        return json_response({"error": str(exc)}, status=400)
    limiter.set_limit(limit)
    return json_response(limiter.snapshot())


async def _clear_rate_limit(request: web.Request) -> web.Response:
    limiter = request.app[RATE_LIMITER]
    limiter.set_limit(None)
    return json_response(limiter.snapshot())


def rate_limit_routes() -> list[web.RouteDef]:
    """The control routes of the rate limit."""
    return [
        web.get("/_emulator/rate-limit", _get_rate_limit, allow_head=False),
        web.post("/_emulator/rate-limit", _set_rate_limit),
        web.delete("/_emulator/rate-limit", _clear_rate_limit),
    ]
