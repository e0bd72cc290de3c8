"""The retry budget: retries of failed attempts draw from a bucket that successes refill.

One budget is shared by everything a client does. Each retry of a failed (non-429) attempt costs
``retry_cost`` tokens (``timeout_cost`` after a timeout, which holds a connection far longer);
every successful answer puts ``success_refill`` back, up to ``capacity``. While most attempts
succeed the bucket stays full and transient failures are retried as usual; when most fail (a 5xx
storm, a dead host) it empties and further retries are refused, so calls fail fast with their
last error instead of each one retrying ``max_retries`` times against a server that is down.
With the defaults a full bucket pays for 100 retries: 200 calls against a server that fails
everything send at most 300 requests, not 800. 429s are not retries of this kind: they follow the
client's :class:`~cwpro._http.throttle.Throttle`.
"""

from __future__ import annotations

import logging

import attrs

__all__ = ["BudgetStats", "RetryBudget"]

logger = logging.getLogger("cwpro")


@attrs.frozen
class BudgetStats:
    """A snapshot of a retry budget: retries allowed and refused so far, and the tokens left."""

    retries_allowed: int
    retries_refused: int
    level: int


def _check_count(name: str, value: int, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


class RetryBudget:
    """A token bucket paying for retries (see the module docstring).

    ``capacity``: tokens when full (and at the start); ``retry_cost`` / ``timeout_cost``: tokens
    one retry takes after a failure / after a timeout; ``success_refill``: tokens a success
    returns.
    """

    def __init__(
        self,
        *,
        capacity: int = 500,
        retry_cost: int = 5,
        timeout_cost: int = 10,
        success_refill: int = 1,
    ) -> None:
        self._capacity = _check_count("capacity", capacity, minimum=0)
        self._retry_cost = _check_count("retry_cost", retry_cost, minimum=1)
        self._timeout_cost = _check_count("timeout_cost", timeout_cost, minimum=1)
        self._refill = _check_count("success_refill", success_refill, minimum=0)
        self._level = self._capacity
        self._allowed = 0
        self._refused = 0

    def try_spend(self, *, timeout: bool = False) -> bool:
        """Take the cost of one retry; False (and nothing taken) when the budget cannot pay."""
        cost = self._timeout_cost if timeout else self._retry_cost
        if cost > self._level:
            self._refused += 1
            if self._refused == 1 or self._refused % 100 == 0:
                logger.debug(
                    "retry budget exhausted (%d tokens left): %d retries refused so far",
                    self._level,
                    self._refused,
                )
            return False
        self._level -= cost
        self._allowed += 1
        return True

    def on_success(self) -> None:
        """A successful answer: return ``success_refill`` tokens (up to ``capacity``)."""
        level = self._level + self._refill
        self._level = level if level < self._capacity else self._capacity

    @property
    def stats(self) -> BudgetStats:
        """A snapshot of the counters and the tokens left."""
        return BudgetStats(
            retries_allowed=self._allowed, retries_refused=self._refused, level=self._level
        )

    def __repr__(self) -> str:
        return (
            f"RetryBudget(level={self._level}/{self._capacity}, allowed={self._allowed}, "
            f"refused={self._refused})"
        )
