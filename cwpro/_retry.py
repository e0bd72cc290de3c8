"""What is retried, and how long to wait: exponential backoff with full jitter via ``backoff``.

* 429 is always retryable (the request was not processed), and ``Retry-After`` (seconds or an
  HTTP date) is honoured exactly, capped at ``max_retry_after``.
* 5xx, timeouts, broken connections and cut-short or non-JSON bodies are retried only for
  idempotent requests (a POST that reached the server may have taken effect).
* A failed TLS certificate check is never retried: it cannot heal.
* A connection that could not be opened at all (refused, DNS) is retried for every method: the
  request never left.

Delays come from a ``backoff`` wait generator that receives the failed attempt's exception, so
the same generator applies full jitter to the exponential case and none to ``Retry-After``.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Generator
from typing import Any

import attrs

from ._errors import (
    APIConnectionError,
    APIDecodeError,
    APIStatusError,
    ConnectFailed,
    CwproError,
    InternalServerError,
    RateLimitError,
    TLSVerificationFailed,
)

__all__ = ["RetryPolicy", "parse_retry_after"]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


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
    """Bounded exponential backoff with full jitter.

    Attempt ``n`` (1-based) waits ``uniform(0, min(max_delay, base * factor**(n-1)))`` unless
    the server sent ``Retry-After``.
    """

    max_retries: int = 3
    max_elapsed: float = 120.0
    base_delay: float = 0.5
    factor: float = 2.0
    max_delay: float = 8.0
    max_retry_after: float = 60.0

    def is_retryable(self, exc: BaseException, method: str, idempotent: bool | None) -> bool:
        """Whether a failed attempt may be tried again."""
        if isinstance(exc, RateLimitError):
            return True
        if isinstance(exc, TLSVerificationFailed):
            return False
        if isinstance(exc, ConnectFailed):
            return True
        safe = method.upper() in IDEMPOTENT_METHODS if idempotent is None else idempotent
        if not safe:
            return False
        # A cut-short or non-JSON 2xx body is a broken answer (proxy, reset): asking again is safe.
        return isinstance(exc, (InternalServerError, APIConnectionError, APIDecodeError))

    def wait_gen(self) -> Generator[float, Any, None]:
        """A ``backoff`` wait generator; ``backoff`` sends it each failed attempt's exception."""
        attempt = 0
        exc: Any = yield 0.0  # primed by backoff with send(None)
        while True:
            attempt += 1
            hint = getattr(exc, "retry_after", None)
            if isinstance(hint, (int, float)):
                delay = min(float(hint), self.max_retry_after)
            else:
                ceiling = min(self.max_delay, self.base_delay * self.factor ** (attempt - 1))
                delay = random.uniform(0, ceiling)
            exc = yield delay


def retry_after_of(exc: CwproError) -> float | None:
    """The server's ``Retry-After`` hint carried by an error, if any."""
    if isinstance(exc, APIStatusError):
        value: Any = getattr(exc, "retry_after", None)
        return value if isinstance(value, (int, float)) else None
    return None
