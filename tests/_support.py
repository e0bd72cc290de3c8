"""Helpers several test modules share: ``mypy --strict`` on user code, a raw TCP server, SIGINT,
a crafted API, arbitrary JSON values for hypothesis.

``mypy_strict`` runs as a user runs it: outside the repository, on the installed packages (the
editable install is a plain path entry; ``PYTHONPATH``/``MYPYPATH`` are dropped).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st

import cwpro

#: Marks a test that interrupts itself with SIGINT (POSIX, Python's own handler installed).
needs_sigint = pytest.mark.skipif(
    sys.platform == "win32" or signal.getsignal(signal.SIGINT) is not signal.default_int_handler,
    reason="POSIX signals, and no custom SIGINT handler installed",
)


def mypy_strict(directory: Path, *files: str) -> subprocess.CompletedProcess[str]:
    """``mypy --strict files`` run in ``directory`` with a fresh cache there."""
    pytest.importorskip("mypy")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MYPYPATH")}
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(directory / ".mypy"),
         "--no-color-output", *files],
        cwd=directory, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


@contextlib.asynccontextmanager
async def raw_server(
    serve: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[str]:
    """A TCP server on loopback running ``serve`` per connection (the connection is closed when
    ``serve`` returns or raises); yields its ``http://`` URL."""

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await serve(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(connection, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


def any_json(*, text: int, key: int, entries: int, leaves: int) -> st.SearchStrategy[Any]:
    """Any JSON value (floats without NaN): strings up to ``text`` characters, arrays and objects
    of up to ``entries`` members, keys up to ``key`` characters, at most ``leaves`` scalars."""
    return st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False)
        | st.text(max_size=text),
        lambda children: (
            st.lists(children, max_size=entries)
            | st.dictionaries(st.text(max_size=key), children, max_size=entries)
        ),
        max_leaves=leaves,
    )


def send_sigint_after(seconds: float) -> threading.Timer:
    """SIGINT to this process in ``seconds`` (the main thread gets a KeyboardInterrupt)."""
    timer = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    return timer


async def _token(request: Any) -> Any:
    from aiohttp import web

    data = {"access_token": "t", "token_type": "Bearer", "expires_in": 3600}
    return web.json_response({"code": 200, "success": True, "reason": "", "data": data})


@contextlib.asynccontextmanager
async def crafted_api(
    routes: Mapping[str, Callable[[Any], Awaitable[Any]]],
) -> AsyncIterator[cwpro.AsyncClient]:
    """An ``aiohttp.web`` app on loopback answering ``GET path`` with ``routes[path]`` (and the
    token endpoint), and a client of it (no retries, 10 s timeout)."""
    from aiohttp import web

    app = web.Application()
    app.router.add_post("/auth/token", _token)
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with cwpro.AsyncClient(
            "id", "secret", base_url=f"http://127.0.0.1:{port}", max_retries=0, timeout=10
        ) as client:
            yield client
    finally:
        await runner.cleanup()
