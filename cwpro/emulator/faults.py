"""Fault injection rules: which request gets which fault, reproducibly from a seed.

A rule (:class:`Fault`) names a kind, optionally a route pattern, and how often it fires:
``times=N`` fires on the next N matching requests and then stops (the rule removes itself),
``probability=p`` fires on each matching request with probability p (drawn from the registry's
own ``random.Random(seed)``), both together fire with probability p until N firings, neither
fires on every matching request. The first rule (in the order they were added) that fires wins.
How each kind is acted out lives in ``middleware.py``.

Kinds, and whether the request is *processed* (the handler runs, so its side effect - a create,
a delete, a status change - is done) before the fault is acted out:

=====================  =========  ==============================================================
kind                   processed  what the client receives
=====================  =========  ==============================================================
``status``             no [#]_    a complete ``status`` answer (default 500) in the route's error
                                  shape, ``body="html"`` for an nginx-style HTML page;
                                  ``retry_after`` adds ``Retry-After`` (seconds or an HTTP date)
``reset_before_headers`` no [#]_  the request is read in full, then the connection is closed
                                  before any response byte
``reset_mid_body``     yes        headers with the full ``Content-Length``, half the body, then
                                  the connection is closed (a body cut short)
``truncate_body``      yes        a complete answer whose JSON is cut by a third and whose
                                  ``Content-Length`` matches: invalid JSON in a 2xx
``html_body``          yes        the handler's status with an HTML page instead of its JSON
``missing_data``       yes        the handler's JSON without its ``data`` key
``missing_fields``     yes        the handler's JSON whose ``data`` lost every field but ``_id``
                                  (each item of a list likewise; a non-object ``data`` -> ``{}``)
``slow_headers``       yes        the answer, after ``delay`` seconds
``slow_body``          yes        headers and half the body, ``delay`` seconds later the rest
``invalid_cursor``     no         the CWP business error ``PAG_0003`` (list routes only)
``expire_token``       yes        every token is invalidated first (so this request gets a 401)
=====================  =========  ==============================================================

.. [#] ``processed=True`` runs the handler first and then answers the status anyway ("the
   server did the work but answered 500").
.. [#] ``processed=True`` runs the handler first and then closes the connection ("the server
   did the work but the answer never arrived"); the default is "never processed".

The body rewrites (``truncate_body``, ``html_body``, ``missing_*``) apply whatever status the
handler answered (a 404 gets its body rewritten too). Every request the server receives is
counted by route template in :class:`~cwpro.emulator.stats.EmulatorStats` (``emu.stats``),
faulted or not, so tests can assert how many times a client sent a call.

What a plain ``aiohttp`` client sees (aiohttp 3.14, measured by ``tests/emulator``): when a
connection is closed before the response headers arrive (``reset_before_headers``, or an idle
keep-alive connection the server closed, see ``Emulator(keepalive_timeout=...)``), aiohttp's
``ClientSession`` silently sends the request once more on a new connection if the method is
GET, HEAD, OPTIONS, TRACE, PUT or DELETE, whether the first connection was pooled or fresh. So a
``reset_before_headers`` rule with ``times=1`` on ``DELETE`` is seen by the server twice
(``emu.stats`` counts 2) and the caller gets the second answer; with ``processed=True`` the
first delete happened and the re-sent one answers 404. ``times=2`` makes the caller see
``aiohttp.ServerDisconnectedError`` after two requests. POST and PATCH are never re-sent by
aiohttp (count 1, ``ServerDisconnectedError``). Once the headers have arrived nothing is re-sent:
``reset_mid_body`` gives ``aiohttp.ClientPayloadError`` on reading the body after one request.

Route patterns are ``"METHOD /path"`` with ``*`` wildcards, matched against both the route
template (``GET /workorders/{id}``) and the concrete path (``GET /workorders/63...``); a pattern
without a method matches any method. ``route=None`` matches every API route except
``POST /auth/token``, which only a pattern that names ``/auth`` can hit.

Command-line spec grammar (``--fault``), parsed by :func:`parse_fault_spec`::

    SPEC   := KIND [":" STATUS] (":" KEY "=" VALUE)*
    KIND   := one of FAULT_KINDS
    KEY    := route | times | probability | status | retry_after | body | delay | processed

    status:503:times=3:route=GET /workorders
    status:429:retry_after=2:probability=0.1
    status:500:processed=true:route=POST /workorders:times=1
    reset_before_headers:processed=true:route=DELETE /workorder-portal-link/*:times=1
    reset_mid_body:route=GET /workorders/*:times=1
    missing_data:route=DELETE /workorder-portal-link/*
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
    "html_body",
    "missing_data",
    "missing_fields",
    "slow_headers",
    "slow_body",
    "invalid_cursor",
    "expire_token",
)
BODY_REWRITE_KINDS = ("truncate_body", "html_body", "missing_data", "missing_fields")
"""Kinds that run the handler and then replace its body (the status is kept)."""
OPTIONALLY_PROCESSED_KINDS = ("status", "reset_before_headers")
"""Kinds for which ``processed`` may be chosen (default False); the others have it fixed."""
_NEVER_PROCESSED = ("invalid_cursor",)
BODY_STYLES = ("json", "html")
AUTH_ROUTE = "POST /auth/token"


def normalize_route(route: str) -> str:
    """A route pattern as ``"METHOD /path"`` (``"/x"`` -> ``"* /x"``, ``"get"`` -> ``"GET *"``)."""
    route = route.strip()
    method, sep, path = route.partition(" ")
    if not sep:
        return f"* {route}" if route.startswith(("/", "*")) else f"{route.upper()} *"
    return f"{method.upper()} {path.strip()}"


def route_matches(pattern: str, method: str, template: str, path: str | None = None) -> bool:
    """Whether a normalized pattern matches ``METHOD template`` (or ``METHOD path``)."""
    return fnmatch.fnmatchcase(f"{method} {template}", pattern) or (
        path is not None and fnmatch.fnmatchcase(f"{method} {path}", pattern)
    )


def _default_processed(kind: str, processed: bool | None) -> bool:
    if processed is not None and not isinstance(processed, bool):
        raise ValueError(f"processed must be a boolean, got {processed!r}")
    if kind in OPTIONALLY_PROCESSED_KINDS:
        return bool(processed)
    fixed = kind not in _NEVER_PROCESSED
    if processed is not None and processed is not fixed:
        raise ValueError(
            f"a {kind} fault is always {'processed' if fixed else 'unprocessed'}; "
            f"processed can be chosen only for {', '.join(OPTIONALLY_PROCESSED_KINDS)}"
        )
    return fixed


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
    processed: bool = False
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
        return route_matches(self.route, method, template, path)

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
            "processed": self.processed,
            "hits": self.hits,
        }


def _check_options(
    kind: str, times: int | None, probability: float | None, body: str, delay: float
) -> None:
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
    if body not in BODY_STYLES:
        raise ValueError(f"body must be 'json' or 'html', got {body!r}")
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        raise ValueError(f"times must be an integer >= 1, got {times!r}")
    if probability is not None and not 0.0 <= probability <= 1.0:
        raise ValueError("probability must be within 0..1")
    if delay < 0:
        raise ValueError("delay must be >= 0")


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
        processed: bool | None = None,
    ) -> Fault:
        """Add a rule and return its handle (raises ``ValueError`` on a bad argument).

        ``processed`` (only for ``status`` and ``reset_before_headers``, default False) runs the
        handler before the fault is acted out; see the module docstring for every kind.
        """
        _check_options(kind, times, probability, body, delay)
        resolved = _default_processed(kind, processed)
        if kind == "status":
            status = 500 if status is None else int(status)
            if not 100 <= status <= 599:
                raise ValueError(f"status must be an HTTP status code, got {status}")
        fault = Fault(
            kind=kind,
            route=None if route is None else normalize_route(route),
            times=times,
            probability=probability,
            status=status,
            retry_after=retry_after,
            body=body,
            delay=float(delay),
            processed=resolved,
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
    "processed",
}
_BOOLEANS = {"true": True, "false": False}


def _spec_value(key: str, value: str) -> tuple[str, Any]:
    if key in ("times", "status"):
        return key, int(value)
    if key in ("probability", "p"):
        return "probability", float(value)
    if key in ("retry_after", "retry-after"):
        return "retry_after", float(value)
    if key == "delay":
        return key, float(value)
    if key == "processed":
        if value.strip().lower() not in _BOOLEANS:
            raise ValueError(f"processed must be true or false, got {value!r}")
        return key, _BOOLEANS[value.strip().lower()]
    return key, value.strip()


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
            name, parsed = _spec_value(key, value)
        except ValueError as exc:
            raise ValueError(f"bad value for {key!r} in fault spec {spec!r}") from exc
        options[name] = parsed
    return options
