"""Request counters of the emulator, for assertions in tests and benchmarks."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from cwpro.emulator.faults import normalize_route, route_matches


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

    def count(self, route: str) -> int:
        """Requests received on the routes a fault-style pattern matches: an exact key
        (``"DELETE /workorder-portal-link/{link_id}"``) or a pattern with ``*`` wildcards
        (``"DELETE /workorder-portal-link/*"``, ``"* /workorders*"``, ``"POST"``), matched
        against the route templates. Faulted requests count too."""
        with self._lock:
            if route in self.requests:
                return self.requests[route]
            pattern = normalize_route(route)
            return sum(
                number
                for key, number in self.requests.items()
                if route_matches(pattern, *key.split(" ", 1))
            )

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
