"""The retry policy: one function of (error, attempt) deciding whether, and after how long.

The rule (``shared/API.md``, "Rules for every call"), the only place it is decided:

* **A complete answer is final.** A 2xx whose body cannot be decoded or structured, a 3xx the
  SDK will not follow, a 4xx, an answer over ``max_response_bytes``: never re-sent. The server
  did what it did; re-sending a DELETE that succeeded turns success into a 404, re-sending a
  POST creates a second object.
* **429 is re-sent** (the request was not processed), after ``Retry-After`` (seconds or an HTTP
  date, capped at ``max_retry_after``) or a jittered backoff, bounded by ``max_retry_time``
  rather than by ``max_retries`` (at most ten attempts per allowed retry), and paced by the
  client's throttle when it has one.
* **5xx, and exchanges that never completed** (a reset, a body shorter than its
  ``Content-Length``, a timeout) are re-sent only for calls **declared safe to repeat** (per
  endpoint, see ``cwpro.resources``), and only while the client's retry budget allows.
* **A request that was never sent** (the connection could not be opened; the token could not be
  obtained) is re-sent for every call: nothing reached the server.
* A failed TLS certificate check is never retried: it cannot heal.
* ``max_retries=0`` means exactly one request.

Delays: attempt ``n`` waits ``uniform(0, min(max_delay, base * factor**(n-1)))`` (full jitter).
"""

from __future__ import annotations

import email.utils
import random
import time
from typing import Protocol

import attrs

from .._errors import (
    APIConnectionError,
    APITimeoutError,
    ConnectFailed,
    CwproError,
    InternalServerError,
    RateLimitError,
    TLSVerificationFailed,
)

__all__ = ["RetryAllowance", "RetryPolicy", "SendGate", "parse_retry_after"]

#: 429s are bounded by ``max_retry_time``, and also by this many attempts per allowed retry
#: (so a server answering 429 with ``Retry-After: 0`` forever cannot spin a call).
THROTTLED_ATTEMPTS_PER_RETRY = 10


class SendGate(Protocol):
    """The client's throttle, as the retry loop uses it (see ``cwpro._http.throttle``)."""

    async def acquire(self) -> None:
        """Wait until a request may be sent."""
        ...

    def on_throttled(self, retry_after: float | None) -> None:
        """A 429 arrived (``retry_after``: the server's hint in seconds)."""
        ...

    def on_success(self) -> None:
        """An answer that is not a 429 arrived."""
        ...


class RetryAllowance(Protocol):
    """The client's retry budget, as the retry loop uses it (see ``cwpro._http.budget``)."""

    def try_spend(self, *, timeout: bool = False) -> bool:
        """Take what one retry costs; False when the budget refuses it."""
        ...

    def on_success(self) -> None:
        """A request succeeded: refill a little."""
        ...


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` (delta-seconds or HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN / inf
        return None
    return max(0.0, seconds)


@attrs.frozen
class RetryPolicy:
    """Bounded exponential backoff with full jitter, honouring ``Retry-After``."""

    max_retries: int = 3
    max_elapsed: float = 120.0
    base_delay: float = 0.5
    factor: float = 2.0
    max_delay: float = 8.0
    max_retry_after: float = 60.0

    def delay(
        self,
        error: CwproError,
        attempt: int,
        *,
        safe_to_repeat: bool,
        sent: bool,
        elapsed: float,
        max_retries: int,
        budget: RetryAllowance | None = None,
    ) -> float | None:
        """Seconds to wait before re-sending after ``error`` on ``attempt``; None: give up.

        ``safe_to_repeat``: the endpoint's declaration. ``sent``: whether the request may have
        reached the server (False when the connection could not even be opened, or the token
        could not be obtained).
        """
        if max_retries == 0:
            return None
        if isinstance(error, RateLimitError):
            if attempt > THROTTLED_ATTEMPTS_PER_RETRY * max_retries:
                return None
            hint = error.retry_after
            wait = min(hint, self.max_retry_after) if hint is not None else self._backoff(attempt)
            return wait if elapsed + wait <= self.max_elapsed else None
        if attempt > max_retries or not self._retryable(error, safe_to_repeat, sent):
            return None
        wait = self._backoff(attempt)
        if elapsed + wait > self.max_elapsed:
            return None
        if budget is not None and not budget.try_spend(timeout=isinstance(error, APITimeoutError)):
            return None
        return wait

    @staticmethod
    def _retryable(error: CwproError, safe_to_repeat: bool, sent: bool) -> bool:
        if isinstance(error, TLSVerificationFailed):
            return False
        transient = isinstance(error, (InternalServerError, APIConnectionError))
        if not sent or isinstance(error, ConnectFailed):
            return transient  # nothing reached the server
        return safe_to_repeat and transient

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.max_delay, self.base_delay * self.factor ** min(attempt - 1, 60))
        return random.uniform(0, ceiling)
