"""Request counters of the emulator, for assertions in tests and benchmarks."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class EmulatorStats:
    """Counts requests per ``"METHOD /route-template"`` (e.g. ``"GET /workorders/{id}"``)."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.token_requests = 0
        self.faults_injected = 0
        self._lock = threading.Lock()

    def record_request(self, route: str) -> None:
        """Count one request to ``route``."""
        with self._lock:
            self.requests[route] += 1
            if route == "POST /auth/token":
                self.token_requests += 1

    def record_fault(self) -> None:
        """Count one injected fault."""
        with self._lock:
            self.faults_injected += 1

    def __getitem__(self, route: str) -> int:
        return self.requests[route]

    @property
    def total(self) -> int:
        """Every request counted so far."""
        return sum(self.requests.values())

    def reset(self) -> None:
        """Zero every counter."""
        with self._lock:
            self.requests.clear()
            self.token_requests = 0
            self.faults_injected = 0

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able copy of the counters."""
        with self._lock:
            return {
                "requests": dict(self.requests),
                "token_requests": self.token_requests,
                "faults_injected": self.faults_injected,
                "total": sum(self.requests.values()),
            }
