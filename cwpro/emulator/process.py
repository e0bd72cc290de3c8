"""``python -m cwpro.emulator`` in a child process, so client and server do not share a process."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

_FLAGS = {
    "host": "--host",
    "port": "--port",
    "seed": "--seed",
    "workorders": "--workorders",
    "sites": "--sites",
    "work_types": "--work-types",
    "portal_links": "--portal-links",
    "notifications": "--notifications",
    "latency_ms": "--latency-ms",
    "token_lifetime": "--token-lifetime",
    "client_id": "--client-id",
    "client_secret": "--client-secret",
    "max_page_size": "--max-page-size",
    "webhook_time_scale": "--webhook-time-scale",
    "keepalive_timeout": "--keepalive-timeout",
    "log_level": "--log-level",
    "rate_limit": "--rate-limit",
    "rate_limit_retry_after": "--retry-after",
}


def command_line(options: Mapping[str, Any]) -> list[str]:
    """The ``python -m cwpro.emulator`` arguments for :class:`Emulator`-style keyword options
    (``faults`` = a list of ``--fault`` specs). Raises ``TypeError`` on an unknown option."""
    arguments: list[str] = []
    for name, value in options.items():
        if value is None:
            continue
        if name in ("faults", "fault_specs"):
            specs = [value] if isinstance(value, str) else list(value)
            for spec in specs:
                arguments += ["--fault", str(spec)]
            continue
        flag = _FLAGS.get(name)
        if flag is None:
            raise TypeError(f"EmulatorProcess got an unknown option {name!r}")
        arguments += [flag, str(value)]
    return arguments


def _terminate(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """Stop the child (SIGTERM, then SIGKILL after ``grace`` seconds) and close its pipes."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            pipe.close()


def _read_line(stream: IO[bytes], process: subprocess.Popen[bytes], timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"the emulator did not start within {timeout} s")
            if not selector.select(remaining):
                continue
            chunk = os.read(stream.fileno(), 4096)
            if not chunk:
                code = process.wait()
                raise RuntimeError(
                    f"the emulator process exited with status {code} before announcing its address"
                )
            buffer += chunk
    return buffer.split(b"\n", 1)[0]


class EmulatorProcess:
    """Spawns ``python -m cwpro.emulator --port 0 ...`` and reads its announcement line.

    ``with EmulatorProcess(seed=1, workorders=10_000) as emu:`` exposes ``base_url``,
    ``client_id``, ``client_secret`` and ``pid``, plus blocking helpers for the control API
    (:meth:`add_fault`, :meth:`clear_faults`, :meth:`set_latency`, :meth:`expire_tokens`,
    :meth:`stats`, :meth:`request_count`, ...). The child is terminated on exit, on garbage
    collection and at interpreter exit, and exits by itself if this process dies (it watches its
    stdin).
    """

    def __init__(
        self,
        *,
        startup_timeout: float = 30.0,
        python: str | None = None,
        env: Mapping[str, str] | None = None,
        **options: Any,
    ) -> None:
        options.setdefault("port", 0)
        self._arguments = command_line(options)
        self._startup_timeout = startup_timeout
        self._python = python or sys.executable
        self._env = dict(env) if env is not None else None
        self._process: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self.base_url = ""
        self.client_id = ""
        self.client_secret = ""
        self.pid = 0

    def _child_env(self) -> dict[str, str]:
        env = dict(os.environ if self._env is None else self._env)
        package_root = str(Path(__file__).resolve().parents[2])
        existing = env.get("PYTHONPATH")
        env["PYTHONPATH"] = package_root if not existing else package_root + os.pathsep + existing
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def start(self) -> EmulatorProcess:
        """Spawn the child and wait for its address (raises on failure or timeout)."""
        if self._process is not None:
            return self
        command = [self._python, "-m", "cwpro.emulator", "--watch-stdin", *self._arguments]
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=self._child_env()
        )
        self._finalizer = weakref.finalize(self, _terminate, process)
        assert process.stdout is not None
        try:
            announcement = json.loads(_read_line(process.stdout, process, self._startup_timeout))
        except BaseException:
            self._finalizer()
            raise
        self._process = process
        self.base_url = str(announcement["base_url"])
        self.client_id = str(announcement["client_id"])
        self.client_secret = str(announcement["client_secret"])
        self.pid = int(announcement["pid"])
        return self

    @property
    def running(self) -> bool:
        """True while the child process is alive."""
        return self._process is not None and self._process.poll() is None

    def close(self) -> None:
        """Terminate the child process (idempotent)."""
        if self._finalizer is not None:
            self._finalizer()
        self._process = None

    def url_for(self, path: str) -> str:
        """The absolute URL of ``path`` on the emulator."""
        return f"{self.base_url}/{path.lstrip('/')}"

    # -- control API ---------------------------------------------------------------------------
    def admin(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, timeout: float = 60.0
    ) -> Any:
        """Call ``/_emulator/<path>`` and return its decoded JSON."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url_for(f"/_emulator/{path.lstrip('/')}"),
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"null")

    def add_fault(self, kind: str, **options: Any) -> dict[str, Any]:
        """Add a fault rule (same arguments as ``FaultRegistry.add``)."""
        result: dict[str, Any] = self.admin("POST", "faults", {"kind": kind, **options})
        return result

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self.admin("DELETE", "faults")

    def set_latency(self, milliseconds: float) -> None:
        """Set the latency added to every API request."""
        self.admin("POST", "latency", {"ms": milliseconds})

    def expire_tokens(self) -> None:
        """Invalidate every issued token."""
        self.admin("POST", "expire-tokens")

    def advance_clock(self, seconds: float) -> str:
        """Move the emulator clock forward; returns the new now."""
        return str(self.admin("POST", "clock", {"advance": seconds})["now"])

    def set_rate_limit(
        self, limit: str | None, *, retry_after: float | None = None
    ) -> dict[str, Any]:
        """Limit each client to ``limit`` (``"100/s,burst=20"``; None removes the limit), with a
        fixed ``Retry-After`` when ``retry_after`` is given; returns the limit and its counters."""
        result: dict[str, Any] = self.admin(
            "POST", "rate-limit", {"limit": limit, "retry_after": retry_after}
        )
        return result

    def rate_limit(self) -> dict[str, Any]:
        """The rate limit in force and its counters (``allowed``, ``limited``)."""
        result: dict[str, Any] = self.admin("GET", "rate-limit")
        return result

    def stats(self) -> dict[str, Any]:
        """The request counters."""
        result: dict[str, Any] = self.admin("GET", "stats")
        return result

    def request_count(self, route: str) -> int:
        """Requests the emulator received on ``route`` (an exact ``"METHOD /template"`` or a
        pattern with ``*``, as in ``EmulatorStats.count``)."""
        query = urllib.parse.urlencode({"route": route})
        return int(self.admin("GET", f"stats?{query}")["count"])

    def reset_stats(self) -> None:
        """Zero the request counters."""
        self.admin("DELETE", "stats")

    def add_webhook_target(
        self, url: str, username: str | None = None, password: str | None = None
    ) -> None:
        """Subscribe a URL to every future event."""
        body: dict[str, Any] = {"url": url}
        if username is not None:
            body.update(username=username, password=password or "")
        self.admin("POST", "webhook-targets", body)

    def drain_webhooks(self, timeout: float = 30.0) -> bool:
        """Wait for webhook deliveries; True when all finished within ``timeout``."""
        return bool(
            self.admin("POST", "drain-webhooks", {"timeout": timeout}, timeout=timeout + 10)[
                "drained"
            ]
        )

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EmulatorProcess(pid={self.pid}, base_url={self.base_url!r})"
