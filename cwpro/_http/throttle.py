"""The client-side throttle: one per client, consulted before every request that client sends.

Until the server first answers 429 the throttle is inert: :meth:`Throttle.acquire` counts the
request and returns (a counter and one attribute check), unless a static ``max_rate`` was set.
After a 429 it paces every send of the client through a token bucket whose rate adapts:

* **first 429** (or the first after the limit stopped binding): the rate starts at one request
  per second per request in flight and doubles every :data:`DOUBLING_PERIOD` seconds ("slow
  start"), so the limit is found in a few probes instead of by a storm of rejected requests;
* **each further 429**: the rate is cut to ``beta`` times the rate that provoked it (at the end
  of slow start: of the rate the server actually accepted over the last second), then grows back
  along a cubic curve (the shape of TCP CUBIC and botocore's adaptive mode): fast while far below
  the rate of the last cut, flat around it, probing above it only slowly. The curve is scaled to
  the rate, so it behaves the same at 10 and at 10,000 requests/s. When 429s come with a
  ``Retry-After`` pause (every throttle costs the whole client that long), the probing above the
  learned rate slows down in proportion: a throttle episode is expensive, so it should be rare;
* 429s answering requests that were already in flight when the rate was cut are counted but do
  not cut it again (one overshoot is one cut, however many requests it caught);
* ``Retry-After`` pauses **every** new send of the client until it has passed (bounded by
  ``max_pause``), not only the retry of the request that got it;
* when the rate has grown to twice the rate of the last cut without another 429 (or slow start
  outgrew what the client actually uses), the limit is no longer binding and the throttle goes
  back to inert.

With ``adaptive=False`` the rate never changes (it stays ``max_rate``, or unlimited), but
``Retry-After`` pauses still hold back every send. Each rate change of at least
:data:`LOGGED_CHANGE` (and every cut) is logged at DEBUG on the ``cwpro`` logger and counted in
:attr:`ThrottleStats.rate_changes`.

A throttle belongs to one event loop (the one its client runs on); it creates no asyncio objects,
so it may be built anywhere.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
import math
import time
from collections.abc import Awaitable, Callable

import attrs

__all__ = ["Throttle", "ThrottleStats"]

logger = logging.getLogger("cwpro")

#: Factor the rate is cut to on a throttle (TCP CUBIC uses 0.7; with the echo suppression below
#: a cut happens once per overshoot, so a gentler cut loses less goodput).
BETA = 0.85
#: Cubic growth constant, relative to the rate of the last cut: ``rate(t) = w * (1 + C (t-K)^3)``.
#: With ``BETA`` it takes ``K = cbrt((1 - BETA) / C)`` (about 3.3 s) to get back to ``w``.
CUBIC_C = 0.004
#: Seconds per doubling of the rate in slow start.
DOUBLING_PERIOD = 0.4
#: The slowest pace the throttle goes down to (requests per second).
MIN_RATE = 0.5
#: Bursts the token bucket allows on top of the steady pace, in seconds of the current rate.
BURST_SECONDS = 0.05
#: How long the 429s of requests sent before a cut are treated as echoes of that cut, at most.
ECHO_WINDOW = 1.0
#: The window over which the rate the server accepted is measured (seconds).
ACCEPTED_WINDOW = 1.0
#: Relative change of the rate worth a log line and a count in ``rate_changes``.
LOGGED_CHANGE = 0.1


class _Phase(enum.Enum):
    UNLIMITED = "unthrottled"
    STATIC = "static"
    SLOW_START = "slow start"
    CUBIC = "cubic"


@attrs.frozen
class ThrottleStats:
    """A snapshot of a client's throttle.

    ``requests_sent``: requests that passed the throttle (first attempts and retries);
    ``throttled``: 429 answers seen; ``current_rate``: the pace in requests per second, None
    while unthrottled; ``paused_seconds``: time during which ``Retry-After`` held back every send;
    ``rate_changes``: rate changes logged (cuts, steps of 10 % or more, back to unthrottled).
    """

    requests_sent: int
    throttled: int
    current_rate: float | None
    paused_seconds: float
    rate_changes: int


def _check_rate(max_rate: float | None) -> float | None:
    if max_rate is None:
        return None
    if isinstance(max_rate, bool) or not isinstance(max_rate, (int, float)):
        raise TypeError(
            f"max_rate must be a number of requests per second or None, got "
            f"{type(max_rate).__name__}"
        )
    if not math.isfinite(max_rate) or max_rate <= 0:
        raise ValueError(
            f"max_rate must be a positive number of requests per second, got {max_rate!r}"
        )
    return float(max_rate)


class Throttle:
    """Paces the sends of one client under a server-side rate limit (see the module docstring).

    ``max_rate`` is a static cap in requests per second (None: no cap); ``adaptive=False`` keeps
    the rate fixed; ``max_pause`` bounds one ``Retry-After`` pause; ``clock`` and ``sleep`` are
    the monotonic clock and the sleep the throttle uses (``asyncio.sleep`` by default).
    """

    def __init__(
        self,
        *,
        max_rate: float | None = None,
        adaptive: bool = True,
        max_pause: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self._max_rate = _check_rate(max_rate)
        if not isinstance(max_pause, (int, float)) or not max_pause >= 0:
            raise ValueError(f"max_pause must be a number of seconds >= 0, got {max_pause!r}")
        self._adaptive = bool(adaptive)
        self._max_pause = float(max_pause)
        self._clock = clock
        self._sleep = sleep
        #: True once acquire() must look at the clock (a rate or a pause is in force).
        self._engaged = self._max_rate is not None
        self._phase = _Phase.STATIC if self._max_rate is not None else _Phase.UNLIMITED
        self._sent = 0
        self._answers = 0
        self._throttled = 0
        self._rate: float | None = self._max_rate
        self._logged_rate: float | None = self._max_rate
        self._rate_changes = 0
        # pacing (virtual scheduling: the time of the next free slot)
        self._next_slot = 0.0
        self._generation = 0
        # Retry-After
        self._pause_until = 0.0
        self._paused = 0.0
        # the adaptive curve
        self._phase_start = 0.0
        self._start_rate = 0.0
        self._w_max = 0.0
        self._k = 0.0
        self._c = CUBIC_C
        # echoes of the last cut
        self._echo_answers = 0
        self._echo_until = 0.0
        self._answers_at_cut = 0
        # accepted (non-429) answers over the last ACCEPTED_WINDOW seconds
        self._accepted: collections.deque[float] = collections.deque()
        self._measured_since = 0.0

    # -- the hot path ---------------------------------------------------------------------------
    async def acquire(self) -> None:
        """Wait until this client may send a request (call before every attempt)."""
        if self._engaged:
            await self._wait()
        self._sent += 1

    def on_success(self) -> None:
        """An answer that is not a 429 arrived: the rate may grow back."""
        self._answers += 1
        if self._engaged:
            now = self._clock()
            self._record_accepted(now)
            self._rate_at(now)

    # -- throttles ------------------------------------------------------------------------------
    def on_throttled(self, retry_after: float | None) -> None:
        """A 429 (or the envelope's equivalent) arrived, with the server's ``Retry-After``
        seconds if it sent any: pause every send until then and cut the rate."""
        self._answers += 1
        self._throttled += 1
        now = self._clock()
        pause = 0.0
        if retry_after is not None and retry_after > 0 and math.isfinite(retry_after):
            pause = min(float(retry_after), self._max_pause)
        if pause > 0:
            until = now + pause
            if until > self._pause_until:
                self._paused += until - max(self._pause_until, now)
                self._pause_until = until
                self._engaged = True
                logger.debug(
                    "throttle: server asked to wait %.2f s; every send of this client "
                    "is paused until then",
                    pause,
                )
        if not self._adaptive:
            return
        if now < self._echo_until and self._answers - self._answers_at_cut <= self._echo_answers:
            return  # a request sent before the last cut: that overshoot was already answered
        self._cut(now, pause)

    def _cut(self, now: float, pause: float) -> None:
        resume = max(now, self._pause_until)
        in_flight = max(0, self._sent - self._answers)
        current = self._rate_at(now)
        if self._phase is _Phase.UNLIMITED:
            # Nothing is known about the limit yet: start low, find it by doubling.
            self._phase = _Phase.SLOW_START
            self._start_rate = self._capped(float(max(1, in_flight + 1)))
            self._measured_since = resume
            self._accepted.clear()
            new_rate = self._start_rate
            self._phase_start = resume
            reason = "first 429: slow start"
        else:
            if self._phase is _Phase.SLOW_START:
                accepted = self._accepted_rate(now)
                w_max = min(current, accepted) if current is not None else accepted
            else:
                w_max = current if current is not None else self._accepted_rate(now)
            w_max = max(w_max, MIN_RATE)
            self._phase = _Phase.CUBIC
            self._w_max = w_max
            # probing above the learned rate slows down when every throttle costs a pause
            self._c = CUBIC_C / (1.0 + pause)
            self._k = ((1.0 - BETA) / self._c) ** (1.0 / 3.0)
            self._phase_start = resume
            new_rate = self._capped(w_max * BETA)
            reason = "429: rate cut"
        self._rate = new_rate
        self._engaged = True
        self._generation += 1
        self._next_slot = resume
        self._echo_answers = in_flight
        self._answers_at_cut = self._answers
        self._echo_until = resume + ECHO_WINDOW
        self._log_change(new_rate, reason, force=True)

    # -- the rate -------------------------------------------------------------------------------
    def _capped(self, rate: float) -> float:
        rate = max(rate, MIN_RATE)
        return rate if self._max_rate is None else min(rate, self._max_rate)

    def _rate_at(self, now: float) -> float | None:
        """The current pace (None: unthrottled); moves the curve forward to ``now``."""
        phase = self._phase
        if phase is _Phase.UNLIMITED or phase is _Phase.STATIC:
            return self._rate
        elapsed = now - self._phase_start
        if elapsed <= 0:
            return self._rate
        if phase is _Phase.SLOW_START:
            rate = self._start_rate * 2.0 ** (elapsed / DOUBLING_PERIOD)
            if elapsed > ACCEPTED_WINDOW and rate > 4.0 * max(self._accepted_rate(now), MIN_RATE):
                return self._release(rate, now, "no 429 in slow start")
        else:
            offset = elapsed - self._k
            rate = self._w_max * (1.0 + self._c * offset * offset * offset)
            if rate > 2.0 * self._w_max:
                return self._release(rate, now, "no 429 since the rate doubled")
        rate = self._capped(rate)
        self._rate = rate
        self._log_change(rate, "probing up")
        return rate

    def _release(self, rate: float, now: float, reason: str) -> float | None:
        """The limit no longer binds: back to the static cap, or to unthrottled."""
        if self._max_rate is not None and rate >= self._max_rate:
            self._phase = _Phase.STATIC
        elif self._max_rate is None:
            self._phase = _Phase.UNLIMITED
            self._engaged = now < self._pause_until
        else:  # still below the static cap: keep probing towards it
            rate = self._capped(rate)
            self._rate = rate
            self._log_change(rate, "probing up")
            return rate
        self._rate = self._max_rate
        self._accepted.clear()
        self._log_change(self._rate, reason, force=True)
        return self._rate

    def _record_accepted(self, now: float) -> None:
        accepted = self._accepted
        accepted.append(now)
        horizon = now - ACCEPTED_WINDOW
        while accepted[0] < horizon:
            accepted.popleft()

    def _accepted_rate(self, now: float) -> float:
        """Non-429 answers per second over the last second (or since the measure began)."""
        horizon = now - ACCEPTED_WINDOW
        accepted = self._accepted
        while accepted and accepted[0] < horizon:
            accepted.popleft()
        span = min(ACCEPTED_WINDOW, max(now - self._measured_since, 0.1))
        return len(accepted) / span

    def _log_change(self, rate: float | None, reason: str, *, force: bool = False) -> None:
        last = self._logged_rate
        unchanged = rate is None or last is None or abs(rate - last) < LOGGED_CHANGE * last
        if unchanged and not force:
            return
        self._logged_rate = rate
        self._rate_changes += 1
        if logger.isEnabledFor(logging.DEBUG):
            shown = "unthrottled" if rate is None else f"{rate:.1f} requests/s"
            logger.debug("throttle: %s -> %s (%d 429s so far)", reason, shown, self._throttled)

    # -- waiting --------------------------------------------------------------------------------
    async def _wait(self) -> None:
        sleep = self._sleep or asyncio.sleep
        clock = self._clock
        while True:
            now = clock()
            if now < self._pause_until:
                await sleep(self._pause_until - now)
                continue
            rate = self._rate_at(now)
            if rate is None:
                return
            interval = 1.0 / rate
            slot = max(self._next_slot, now)
            self._next_slot = slot + interval
            start = slot - min(BURST_SECONDS, 4 * interval)
            if start <= now:
                return
            generation = self._generation
            await sleep(start - now)
            if generation == self._generation and clock() >= self._pause_until:
                return
            # the rate was cut or a pause began while this request waited: queue again

    # -- observation ----------------------------------------------------------------------------
    @property
    def stats(self) -> ThrottleStats:
        """A snapshot of the counters and the current rate."""
        now = self._clock()
        rate = self._rate_at(now) if self._engaged else self._rate
        return ThrottleStats(
            requests_sent=self._sent,
            throttled=self._throttled,
            current_rate=rate,
            paused_seconds=self._paused,
            rate_changes=self._rate_changes,
        )

    def __repr__(self) -> str:
        stats = self.stats
        rate = "unthrottled" if stats.current_rate is None else f"{stats.current_rate:.1f}/s"
        return f"Throttle({rate}, sent={stats.requests_sent}, throttled={stats.throttled})"
