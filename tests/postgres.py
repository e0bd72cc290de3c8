"""A real PostgreSQL server for the tests, started and stopped by the tests themselves.

``postgres_server`` (session-scoped) creates a cluster with ``initdb`` in a temporary
directory, starts ``postgres`` on a free loopback port and stops it at the end. As root
(CI runs as root and PostgreSQL refuses to), the server runs as the ``postgres`` system user.
The server trusts loopback connections, yet the user has a password: some clients (dlt) refuse
credentials without one.

Locally, without PostgreSQL on the PATH, the tests that use it are skipped with the reason;
under ``CI=true`` they fail instead, so CI can never pass by skipping them.

Use it from a test module with ``from tests.postgres import postgres_server  # noqa: F401``
or through ``postgres_database``, which creates a fresh database per test.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

__all__ = ["PostgresServer", "postgres_database", "postgres_server"]

USER = "cwpro"
PASSWORD = "cwpro-test-password"


@attrs.frozen
class PostgresServer:
    """Where the test server listens, and how to reach one of its databases."""

    host: str
    port: int
    user: str
    password: str
    data_dir: Path
    run_as: str | None

    def dsn(self, database: str = "postgres") -> str:
        """A libpq URL for ``database`` (password included)."""
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` with ``psql`` and return its unaligned output."""
        env = {**os.environ, "PGPASSWORD": self.password}
        done = subprocess.run(
            [_tool("psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql,
             self.dsn(database)],
            capture_output=True, text=True, env=env, timeout=60, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def create_database(self, name: str) -> str:
        """Create database ``name`` and return its DSN."""
        self.psql(f'CREATE DATABASE "{name}"')
        return self.dsn(name)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"PostgreSQL is required under CI=true: {reason}")
    pytest.skip(f"PostgreSQL not available: {reason}")


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for base in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (base / name).exists():
            return str(base / name)
    raise FileNotFoundError(name)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_user(user: str | None, argv: list[str]) -> list[str]:
    if user is None:
        return argv
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", user, "--", *argv]
    return [_tool("su"), user, "-s", "/bin/sh", "-c", " ".join(argv)]


def _start() -> tuple[PostgresServer, Path]:
    try:
        initdb, pg_ctl = _tool("initdb"), _tool("pg_ctl")
        _tool("postgres")
    except FileNotFoundError as exc:
        _unavailable(f"{exc.args[0]} is not on the PATH")
        raise  # unreachable: skip/fail raise
    run_as: str | None = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            _unavailable("running as root and there is no 'postgres' system user")
        run_as = "postgres"
    base = Path(tempfile.mkdtemp(prefix="cwpro-pg-"))
    data = base / "data"
    pwfile = base / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if run_as is not None:
        entry = pwd.getpwnam(run_as)
        for path in (base, pwfile):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    port = _free_port()
    subprocess.run(
        _as_user(run_as, [initdb, "-D", str(data), "-U", USER, "--pwfile", str(pwfile),
                          "-A", "trust", "-E", "UTF8", "--no-sync"]),
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    options = f"-h 127.0.0.1 -p {port} -k {base} -c fsync=off -c max_connections=100"
    subprocess.run(
        _as_user(run_as, [pg_ctl, "-D", str(data), "-l", str(base / "log"), "-o", options,
                          "-w", "-t", "60", "start"]),
        check=True, capture_output=True, timeout=90,
    )  # fmt: skip
    server = PostgresServer("127.0.0.1", port, USER, PASSWORD, data, run_as)
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    return server, base


def _stop(server: PostgresServer, base: Path) -> None:
    with contextlib.suppress(Exception):
        subprocess.run(
            _as_user(server.run_as, [_tool("pg_ctl"), "-D", str(server.data_dir), "-m", "fast",
                                     "-w", "stop"]),
            capture_output=True, timeout=60, check=False,
        )  # fmt: skip
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A running PostgreSQL server on loopback for the whole test session."""
    try:
        server, base = _start()
    except subprocess.CalledProcessError as exc:
        _unavailable(f"could not start it: {exc.stderr!r}")
        raise
    try:
        yield server
    finally:
        _stop(server, base)


@pytest.fixture
def postgres_database(postgres_server: PostgresServer) -> str:
    """A new, empty database on the test server; returns its DSN."""
    return postgres_server.create_database("t_" + secrets.token_hex(6))
