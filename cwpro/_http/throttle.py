"""The client-side throttle: one per client, consulted before every request that client sends.

Until the server first answers 429 the throttle is inert: :meth:`Throttle.try_acquire` counts
the request and returns True (a counter and one attribute check, no ``await``), unless a static
``max_rate`` was set.
After a 429 it paces every send of the client through a token bucket whose rate adapts:

* **first 429** (or the first after the limit stopped binding): the rate starts at one request
  per second per request in flight and doubles every :data:`DOUBLING_PERIOD` seconds ("slow
  start"), so the limit is found in a few probes instead of by a storm of rejected requests;
* **each further 429**: the rate is cut to ``beta`` times the rate that provoked it (at the end
  of slow start: to half of it, the rate before the doubling that overshot), then grows back
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
#: With ``Retry-After: p`` on the 429s, the cubic constant is divided by ``1 + PAUSE_SLOWDOWN * p``.
PAUSE_SLOWDOWN = 4.0
#: Seconds per doubling of the rate in slow start.
DOUBLING_PERIOD = 0.4
#: At the end of slow start the pace goes back to this share of the rate that overshot.
SLOW_START_EXIT = 0.5
#: Back to slow start when the cubic curve passes this multiple of the rate of the last cut.
SLOW_START_AGAIN = 1.5
#: The slowest pace the throttle goes down to (requests per second).
MIN_RATE = 0.5
#: Bursts the token bucket allows on top of the steady pace, in seconds of the current rate.
BURST_SECONDS = 0.05
#: How long the 429s of requests sent before a cut are treated as echoes of that cut, at most.
ECHO_WINDOW = 1.0
#: After a cut, 429s within this many intervals of the new rate do not cut again (the server's
#: bucket may still be empty from the overshoot).
COOLDOWN_SENDS = 3.0
#: The head of the queue looks at the clock at least this often (seconds).
HEAD_POLL = 0.05
#: The window over which the send rate is measured (seconds): slow start gives up when the
#: client uses less than a quarter of the rate it is allowed.
SEND_WINDOW = 1.0
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
        #: the slot of the last send: the next is due one interval (at the current rate) later
        self._slot = -math.inf
        self._last_grant = 0.0
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
        self._cooldown_until = 0.0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._answers_at_cut = 0
        # the sends of the last SEND_WINDOW seconds, while engaged
        self._sends: collections.deque[float] = collections.deque()
        self._measured_since = 0.0
        #: the rate of the last cut: where the next slow start begins (half of it)
        self._learned = 0.0

    # -- the hot path ---------------------------------------------------------------------------
    def try_acquire(self) -> bool:
        """Take a send slot if one is free now, without waiting: True (counted), else False.

        The transport calls it before every attempt and awaits :meth:`acquire` only when it
        answers False, so an unthrottled client pays no ``await`` for its throttle.
        """
        if self._engaged and (self._waiters or not self._try_grant()):
            return False
        self._sent += 1
        return True

    async def acquire(self) -> None:
        """Wait until this client may send a request (call before every attempt)."""
        if self._engaged:
            await self._wait()
        self._sent += 1

    def on_success(self) -> None:
        """An answer that is not a 429 arrived: the rate may grow back."""
        self._answers += 1
        if self._engaged:
            self._rate_at(self._clock())

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
        if now < self._cooldown_until or (
            now < self._echo_until and self._answers - self._answers_at_cut <= self._echo_answers
        ):
            return  # a request sent before the last cut: that overshoot was already answered
        self._cut(now, pause)

    def _cut(self, now: float, pause: float) -> None:
        resume = max(now, self._pause_until)
        in_flight = max(0, self._sent - self._answers)
        current = self._rate_at(now)
        if current is None:
            # Nothing is known about the limit yet: start low, find it by doubling.
            start = max(float(in_flight + 1), 0.5 * self._learned)
            new_rate = self._start_slow(start, resume)
            reason = "first 429: slow start"
        else:
            # probing above the learned rate slows down when every throttle costs a pause
            self._c = CUBIC_C / (1.0 + PAUSE_SLOWDOWN * pause)
            if self._phase is _Phase.SLOW_START:
                # the last doubling overshot: the limit is above half the rate, which was fine;
                # go on from there along the convex (probing) part of the curve
                w_max = max(current * SLOW_START_EXIT, MIN_RATE)
                self._k = 0.0
                new_rate = self._capped(w_max)
            else:
                w_max = max(current, MIN_RATE)
                if self._phase is _Phase.CUBIC and w_max < self._w_max:
                    # throttled before getting back to the last learned rate: the limit is
                    # lower than that, so do not aim that high again (TCP CUBIC's fast
                    # convergence)
                    w_max *= (1.0 + BETA) / 2.0
                self._k = ((1.0 - BETA) / self._c) ** (1.0 / 3.0)
                new_rate = self._capped(w_max * BETA)
            self._phase = _Phase.CUBIC
            self._w_max = w_max
            self._learned = w_max
            self._phase_start = resume
            reason = "429: rate cut"
        self._rate = new_rate
        self._engaged = True
        # the next send keeps the new spacing from the last one (no burst right after a cut)
        self._slot = max(self._slot, self._last_grant, resume - 1.0 / new_rate)
        self._echo_answers = in_flight
        self._answers_at_cut = self._answers
        self._echo_until = resume + ECHO_WINDOW
        self._cooldown_until = resume + min(ECHO_WINDOW, COOLDOWN_SENDS / new_rate)
        self._log_change(new_rate, reason, force=True)

    def _start_slow(self, rate: float, start: float) -> float:
        self._phase = _Phase.SLOW_START
        self._start_rate = self._capped(rate)
        self._phase_start = start
        self._measured_since = start
        return self._start_rate

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
            if self._max_rate is not None and rate >= self._max_rate:
                return self._release(now, "back at max_rate")
            if elapsed > SEND_WINDOW and rate > 4.0 * max(self._send_rate(now), MIN_RATE):
                return self._release(now, "no 429 in slow start")
        else:
            offset = elapsed - self._k
            rate = self._w_max * (1.0 + self._c * offset * offset * offset)
            if rate > SLOW_START_AGAIN * self._w_max:
                # far above the rate of the last cut without a 429: the limit moved, find it
                rate = self._start_slow(rate, now)
                self._log_change(rate, "no 429 above the learned rate: slow start", force=True)
        rate = self._capped(rate)
        self._rate = rate
        self._log_change(rate, "probing up")
        return rate

    def _release(self, now: float, reason: str) -> float | None:
        """The limit no longer binds: back to the static cap, or to unthrottled."""
        self._phase = _Phase.STATIC if self._max_rate is not None else _Phase.UNLIMITED
        self._engaged = self._max_rate is not None or now < self._pause_until
        self._rate = self._max_rate
        self._log_change(self._rate, reason, force=True)
        return self._rate

    def _record_send(self, now: float) -> None:
        sends = self._sends
        sends.append(now)
        horizon = now - SEND_WINDOW
        while sends[0] < horizon:
            sends.popleft()

    def _send_rate(self, now: float) -> float:
        """Requests let through per second over the last second (or since slow start began)."""
        horizon = now - SEND_WINDOW
        sends = self._sends
        while sends and sends[0] < horizon:
            sends.popleft()
        span = min(SEND_WINDOW, max(now - self._measured_since, 0.1))
        return len(sends) / span

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
        """Queue (first come, first served) until a pause is over and the pace allows a send.

        Only the head of the queue watches the clock, waking at least every
        :data:`HEAD_POLL` seconds so that a rate change or a new pause applies at once; the
        others wait for their turn without timers.
        """
        waiters = self._waiters
        if not waiters and self._try_grant():
            return
        sleep = self._sleep or asyncio.sleep
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters.append(turn)
        try:
            if waiters[0] is not turn:
                await turn
            while not self._try_grant():
                await sleep(self._delay())
        finally:
            head = waiters[0] is turn
            waiters.remove(turn)
            if head and waiters and not waiters[0].done():
                waiters[0].set_result(None)

    def _try_grant(self) -> bool:
        now = self._clock()
        if now < self._pause_until:
            return False
        rate = self._rate_at(now)
        if rate is None:
            return True
        interval = 1.0 / rate
        tolerance = min(BURST_SECONDS, 4.0 * interval)
        due = self._slot + interval
        if due - tolerance > now:
            return False
        self._slot = max(due, now - tolerance)
        self._last_grant = now
        self._record_send(now)
        return True

    def _delay(self) -> float:
        """How long the head of the queue sleeps before it looks again."""
        now = self._clock()
        if now < self._pause_until:
            return min(self._pause_until - now, HEAD_POLL)
        rate = self._rate or MIN_RATE
        ready = self._slot + 1.0 / rate - min(BURST_SECONDS, 4.0 / rate)
        return min(max(ready - now, 0.001), HEAD_POLL)

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
