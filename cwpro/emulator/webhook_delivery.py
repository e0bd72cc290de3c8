"""Delivery of webhook notifications to subscriber URLs, with CWP's retry schedule.

Each recorded event is POSTed to every target as JSON ``{"id", "event", "created_date", "data"}``.
Anything but HTTP 200 (or a connection failure) is retried ``n * 10`` minutes after the previous
try, n = 1..5, every delay multiplied by ``time_scale`` (tests use ~1e-4). Optional chaos:
``duplicate_probability`` sends an extra copy of a delivery, ``reorder_window`` delays each
delivery by a random 0..window seconds so that deliveries arrive shuffled.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from cwpro.emulator.wire import JSON_CONTENT_TYPE, dumps

logger = logging.getLogger("cwpro.emulator.webhooks")

RETRY_STEP_SECONDS = 600.0
MAX_RETRIES = 5


def basic_authorization(username: str, password: str) -> str:
    """The ``Authorization`` header value of HTTP Basic credentials."""
    if ":" in username:
        raise ValueError("a Basic auth username cannot contain ':'")
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def split_target_url(url: str) -> tuple[str, tuple[str, str] | None]:
    """``http://user:pass@host/path`` -> (``http://host/path``, (user, pass)); no userinfo -> None.

    Raises ``ValueError`` for anything but an absolute http(s) URL.
    """
    from urllib.parse import unquote, urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"a webhook target must be an http(s) URL, not {url!r}")
    if parts.username is None:
        return url, None
    netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    bare = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return bare, (unquote(parts.username), unquote(parts.password or ""))


@dataclass(frozen=True)
class WebhookTarget:
    """A subscriber URL, with an optional ``Authorization`` header (never shown in repr)."""

    url: str
    authorization: str | None = None

    def __repr__(self) -> str:
        return f"WebhookTarget(url={self.url!r}, basic_auth={self.authorization is not None})"


@dataclass(frozen=True)
class DeliveryAttempt:
    """One POST of one event to one target."""

    event_id: str
    event: str
    target: str
    attempt: int
    at: float
    outcome: str
    status: int | None
    duplicate: bool = False

    @property
    def delivered(self) -> bool:
        """True when the target answered 200."""
        return self.outcome == "delivered"


def delivery_body(record: dict[str, Any]) -> dict[str, Any]:
    """The JSON posted to subscribers for a notification record."""
    return {
        "id": record["_id"],
        "event": record["event"],
        "created_date": record["created_date"],
        "data": record["data"],
    }


class WebhookDispatcher:
    """Posts recorded events to the registered targets in background tasks."""

    def __init__(
        self,
        *,
        seed: int = 0,
        time_scale: float = 1.0,
        duplicate_probability: float = 0.0,
        reorder_window: float = 0.0,
        request_timeout: float = 10.0,
    ) -> None:
        self.time_scale = time_scale
        self.duplicate_probability = duplicate_probability
        self.reorder_window = reorder_window
        self.request_timeout = request_timeout
        self.targets: list[WebhookTarget] = []
        self.attempts: list[DeliveryAttempt] = []
        self.gave_up: list[tuple[str, str]] = []
        self._rng = random.Random(seed)
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def add_target(self, url: str, *, basic_auth: tuple[str, str] | None = None) -> WebhookTarget:
        """Subscribe ``url`` to every future event (``basic_auth``: (user, password))."""
        authorization = None if basic_auth is None else basic_authorization(*basic_auth)
        target = WebhookTarget(url=url, authorization=authorization)
        self.targets.append(target)
        return target

    def remove_target(self, target: WebhookTarget) -> None:
        """Unsubscribe a target (deliveries already under way continue)."""
        if target in self.targets:
            self.targets.remove(target)

    @property
    def pending(self) -> int:
        """Deliveries not yet finished (delivered or given up)."""
        return len(self._tasks)

    def retry_delays(self) -> Sequence[float]:
        """The scaled waits before retries 1..5, in seconds."""
        return [n * RETRY_STEP_SECONDS * self.time_scale for n in range(1, MAX_RETRIES + 1)]

    def dispatch(self, record: dict[str, Any]) -> None:
        """Start delivering ``record`` to every target (call on the emulator's event loop)."""
        if self._closed or not self.targets:
            return
        body = dumps(delivery_body(record))
        for target in list(self.targets):
            copies = 1
            if self.duplicate_probability and self._rng.random() < self.duplicate_probability:
                copies = 2
            for copy_number in range(copies):
                self._spawn(target, record, body, duplicate=copy_number > 0)

    def _spawn(
        self, target: WebhookTarget, record: dict[str, Any], body: bytes, *, duplicate: bool
    ) -> None:
        jitter = self._rng.uniform(0.0, self.reorder_window) if self.reorder_window else 0.0
        task = asyncio.get_running_loop().create_task(
            self._deliver(target, str(record["_id"]), str(record["event"]), body, jitter, duplicate)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def _post(self, target: WebhookTarget, body: bytes) -> tuple[str, int | None]:
        try:
            headers = {"Content-Type": JSON_CONTENT_TYPE}
            if target.authorization is not None:
                headers["Authorization"] = target.authorization
            async with self._client().post(
                target.url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.request_timeout),
            ) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            return f"error: {type(exc).__name__}", None
        return ("delivered" if status == 200 else f"http_{status}"), status

    async def _deliver(
        self,
        target: WebhookTarget,
        event_id: str,
        event: str,
        body: bytes,
        jitter: float,
        duplicate: bool,
    ) -> None:
        if jitter:
            await asyncio.sleep(jitter)
        delays = self.retry_delays()
        for attempt in range(1, MAX_RETRIES + 2):
            outcome, status = await self._post(target, body)
            self.attempts.append(
                DeliveryAttempt(
                    event_id=event_id,
                    event=event,
                    target=target.url,
                    attempt=attempt,
                    at=time.monotonic(),
                    outcome=outcome,
                    status=status,
                    duplicate=duplicate,
                )
            )
            if outcome == "delivered":
                logger.debug(
                    "webhook %s delivered to %s (attempt %d)", event_id, target.url, attempt
                )
                return
            logger.debug(
                "webhook %s to %s failed (%s, attempt %d)", event_id, target.url, outcome, attempt
            )
            if attempt > MAX_RETRIES:
                break
            await asyncio.sleep(delays[attempt - 1])
        self.gave_up.append((event_id, target.url))

    async def drain(self, timeout: float | None = None) -> None:
        """Wait until every delivery so far has succeeded or given up.

        Raises ``TimeoutError`` when ``timeout`` seconds pass first (deliveries keep going).
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while self._tasks:
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                raise TimeoutError(f"{len(self._tasks)} webhook deliveries still pending")
            await asyncio.wait(set(self._tasks), timeout=remaining)

    def delivered_ids(self) -> list[str]:
        """Event ids in the order their deliveries succeeded (duplicates included)."""
        return [a.event_id for a in self.attempts if a.delivered]

    def open(self) -> None:
        """Accept events again after :meth:`close` (an emulator restart)."""
        self._closed = False

    async def close(self) -> None:
        """Cancel every pending delivery, wait for them, and close the HTTP session."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
