"""The emulator's notion of "now": real time that tests can move forward."""

from __future__ import annotations

import datetime as dt
import threading
import time

UTC = dt.timezone.utc


class EmulatorClock:
    """Wall-clock time of the emulator: starts at ``start`` (default: the real UTC now) and runs
    at real speed; :meth:`advance` jumps it forward (token expiry, the 90-day webhook window and
    the dates of created objects all follow it).
    """

    def __init__(self, start: dt.datetime | None = None) -> None:
        if start is None:
            start = dt.datetime.now(UTC)
        elif start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        self._start = start.astimezone(UTC)
        self._monotonic_start = time.monotonic()
        self._offset = 0.0
        self._lock = threading.Lock()

    @property
    def start(self) -> dt.datetime:
        """The instant the clock started at."""
        return self._start

    def now(self) -> dt.datetime:
        """The current emulator time (aware, UTC)."""
        elapsed = time.monotonic() - self._monotonic_start + self._offset
        return self._start + dt.timedelta(seconds=elapsed)

    def advance(self, seconds: float) -> dt.datetime:
        """Move the clock ``seconds`` forward (must be >= 0) and return the new now."""
        if seconds < 0:
            raise ValueError("the emulator clock only moves forward")
        with self._lock:
            self._offset += seconds
        return self.now()

    def __call__(self) -> dt.datetime:
        """Alias of :meth:`now`, so the clock can be passed where a ``() -> datetime`` is wanted."""
        return self.now()
