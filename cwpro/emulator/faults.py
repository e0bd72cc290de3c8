"""Fault injection rules: which request gets which fault, reproducibly from a seed.

A rule (:class:`Fault`) names a kind, optionally a route pattern, and how often it fires:
``times=N`` fires on the next N matching requests, ``probability=p`` fires on each matching request
with probability p (drawn from the registry's own ``random.Random(seed)``), both together fire
with probability p until N firings, neither fires on every matching request. The first rule (in the
order they were added) that fires wins. How each kind is acted out lives in ``middleware.py``.

Route patterns are ``"METHOD /path"`` with ``*`` wildcards, matched against both the route
template (``GET /workorders/{id}``) and the concrete path (``GET /workorders/63...``); a pattern
without a method matches any method. ``route=None`` matches every API route except
``POST /auth/token``, which only a pattern that names ``/auth`` can hit.

Command-line spec grammar (``--fault``), parsed by :func:`parse_fault_spec`::

    SPEC   := KIND [":" STATUS] (":" KEY "=" VALUE)*
    KIND   := status | reset_before_headers | reset_mid_body | truncate_body | slow_headers
            | slow_body | invalid_cursor | expire_token
    KEY    := route | times | probability | status | retry_after | body | delay

    status:503:times=3:route=GET /workorders
    status:429:retry_after=2:probability=0.1
    reset_mid_body:route=GET /workorders/*:times=1
    slow_headers:delay=0.5:route=* /workorder-portal-link*
"""

from __future__ import annotations

import fnmatch
import itertools
import random
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

FAULT_KINDS = (
    "status",
    "reset_before_headers",
    "reset_mid_body",
    "truncate_body",
    "slow_headers",
    "slow_body",
    "invalid_cursor",
    "expire_token",
)
BODY_STYLES = ("json", "html")
AUTH_ROUTE = "POST /auth/token"


def _normalize_route(route: str) -> str:
    route = route.strip()
    method, sep, path = route.partition(" ")
    if not sep:
        return f"* {route}" if route.startswith(("/", "*")) else f"{route.upper()} *"
    return f"{method.upper()} {path.strip()}"


@dataclass(eq=False)
class Fault:
    """One injection rule; returned by :meth:`FaultRegistry.add` as a handle."""

    kind: str
    route: str | None = None
    times: int | None = None
    probability: float | None = None
    status: int | None = None
    retry_after: float | str | None = None
    body: str = "json"
    delay: float = 0.0
    fault_id: int = 0
    hits: int = 0
    _registry: FaultRegistry | None = field(default=None, repr=False)

    def matches(self, method: str, template: str, path: str) -> bool:
        """True when this rule applies to a request (ignoring probability and times)."""
        template_key = f"{method} {template}"
        if self.route is None:
            return template_key != AUTH_ROUTE
        if template_key == AUTH_ROUTE and "/auth" not in self.route:
            return False
        return fnmatch.fnmatchcase(template_key, self.route) or fnmatch.fnmatchcase(
            f"{method} {path}", self.route
        )

    @property
    def exhausted(self) -> bool:
        """True once a ``times=N`` rule has fired N times."""
        return self.times is not None and self.hits >= self.times

    def retry_after_header(self) -> str | None:
        """The ``Retry-After`` header value, if any."""
        if self.retry_after is None:
            return None
        if isinstance(self.retry_after, float) and self.retry_after.is_integer():
            return str(int(self.retry_after))
        return str(self.retry_after)

    def remove(self) -> None:
        """Stop this rule from firing again."""
        if self._registry is not None:
            self._registry.remove(self)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description (used by the admin API)."""
        return {
            "id": self.fault_id,
            "kind": self.kind,
            "route": self.route,
            "times": self.times,
            "probability": self.probability,
            "status": self.status,
            "retry_after": self.retry_after,
            "body": self.body,
            "delay": self.delay,
            "hits": self.hits,
        }


class FaultRegistry:
    """The active fault rules of one emulator (thread-safe: rules may be added from any thread)."""

    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(seed)
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.injected: Counter[str] = Counter()

    def add(
        self,
        kind: str,
        *,
        route: str | None = None,
        times: int | None = None,
        probability: float | None = None,
        status: int | None = None,
        retry_after: float | str | None = None,
        body: str = "json",
        delay: float = 0.0,
    ) -> Fault:
        """Add a rule and return its handle (raises ``ValueError`` on a bad argument)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
        if body not in BODY_STYLES:
            raise ValueError(f"body must be 'json' or 'html', got {body!r}")
        if times is not None and times < 1:
            raise ValueError("times must be >= 1")
        if probability is not None and not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be within 0..1")
        if delay < 0:
            raise ValueError("delay must be >= 0")
        if kind == "status":
            status = 500 if status is None else int(status)
            if not 100 <= status <= 599:
                raise ValueError(f"status must be an HTTP status code, got {status}")
        fault = Fault(
            kind=kind,
            route=None if route is None else _normalize_route(route),
            times=times,
            probability=probability,
            status=status,
            retry_after=retry_after,
            body=body,
            delay=float(delay),
            fault_id=next(self._ids),
            _registry=self,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def remove(self, fault: Fault) -> None:
        """Deactivate one rule (no error if already gone)."""
        with self._lock:
            if fault in self._faults:
                self._faults.remove(fault)

    def clear(self) -> None:
        """Deactivate every rule (the ``injected`` counts are kept)."""
        with self._lock:
            self._faults.clear()

    def __iter__(self) -> Iterator[Fault]:
        with self._lock:
            return iter(list(self._faults))

    def __len__(self) -> int:
        with self._lock:
            return len(self._faults)

    def pick(self, method: str, template: str, path: str, *, is_list_route: bool) -> Fault | None:
        """The rule that fires for this request, if any (consumes one of its ``times``)."""
        with self._lock:
            for fault in self._faults:
                if fault.kind == "invalid_cursor" and not is_list_route:
                    continue
                if not fault.matches(method, template, path):
                    continue
                if fault.probability is not None and self._rng.random() >= fault.probability:
                    continue
                fault.hits += 1
                if fault.exhausted:
                    self._faults.remove(fault)
                self.injected[fault.kind] += 1
                return fault
        return None


_SPEC_KEYS = {
    "route",
    "times",
    "probability",
    "p",
    "status",
    "retry_after",
    "retry-after",
    "body",
    "delay",
}


def parse_fault_spec(spec: str) -> dict[str, Any]:
    """Turn a ``--fault`` spec (grammar in the module docstring) into :meth:`FaultRegistry.add`
    keyword arguments, ``kind`` included. Raises ``ValueError`` on a malformed spec."""
    kind, *parts = spec.split(":")
    kind = kind.strip()
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r} in {spec!r}")
    options: dict[str, Any] = {"kind": kind}
    for part in parts:
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep:
            if key.isdigit() and "status" not in options:
                options["status"] = int(key)
                continue
            raise ValueError(f"expected key=value in fault spec {spec!r}, got {part!r}")
        if key not in _SPEC_KEYS:
            raise ValueError(f"unknown key {key!r} in fault spec {spec!r}")
        try:
            if key in ("times", "status"):
                options[key] = int(value)
            elif key in ("probability", "p"):
                options["probability"] = float(value)
            elif key in ("retry_after", "retry-after"):
                options["retry_after"] = float(value)
            elif key == "delay":
                options["delay"] = float(value)
            else:
                options[key] = value.strip()
        except ValueError as exc:
            raise ValueError(f"bad value for {key!r} in fault spec {spec!r}") from exc
    return options
