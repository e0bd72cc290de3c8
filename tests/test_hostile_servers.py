"""Hostile answers end cleanly and secrets stay home (issue: redirects, size limits, token
refresh, redaction). Small servers on loopback count what they received; nothing is timed
except as a generous bound on a test that would otherwise hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import attrs
import psutil
import pytest
from aiohttp import web

import cwpro
from cwpro import (
    APITimeoutError,
    AuthenticationError,
    InternalServerError,
    RedirectError,
    ResponseTooLargeError,
)
from tests._support import raw_server

SECRET = "hostile-client-secret-value"
API_KEY = "hostile-api-key-value"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@attrs.define
class Server:
    url: str
    seen: list[tuple[str, str, dict[str, str], bytes]] = attrs.field(factory=list)

    def count(self, path: str) -> int:
        return sum(1 for _, p, _, _ in self.seen if p == path)


@contextlib.asynccontextmanager
async def serve(routes: dict[str, Handler]) -> AsyncIterator[Server]:
    """An aiohttp server on loopback whose handlers see every request recorded."""
    server = Server("")

    async def dispatch(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        server.seen.append((request.method, request.path, dict(request.headers), body))
        handler = routes.get(request.path) or routes.get("*")
        if handler is None:
            return web.json_response({"code": 404, "error": {"message": "no"}}, status=404)
        return await handler(request)

    app = web.Application(client_max_size=1024**2)
    app.router.add_route("*", "/{tail:.*}", dispatch)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    server.url = f"http://127.0.0.1:{port}"
    try:
        yield server
    finally:
        await runner.cleanup()


def token_handler(tokens: list[str] | None = None, lifetime: int = 3600) -> Handler:
    issued = iter(tokens or [f"tok-{n:04d}" for n in range(10_000)])

    async def handle(request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {"code": 200, "data": {"access_token": next(issued), "expires_in": lifetime}}
        )

    return handle


def ok(data: Any = None) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        return web.json_response({"code": 200, "reason": "", "data": data or {"_id": "1" * 24}})

    return handle


def client_for(url: str, **kwargs: Any) -> cwpro.AsyncClient:
    options: dict[str, Any] = {
        "client_id": "hostile-id",
        "client_secret": SECRET,
        "api_key": API_KEY,
        "base_url": url,
        "retry_backoff_base": 0.01,
        "retry_backoff_max": 0.02,
        "timeout": 10,
    }
    options.update(kwargs)
    return cwpro.AsyncClient(**options)


def _no_secret(server: Server, *secrets: str) -> None:
    for method, path, headers, body in server.seen:
        text = f"{method} {path} {headers} {body!r}"
        for secret in (SECRET, API_KEY, *secrets):
            assert secret not in text, f"{secret!r} reached the thief: {method} {path}"


# -- 1. redirects -----------------------------------------------------------------------------
@pytest.mark.parametrize("status", [307, 308])
async def test_token_request_never_follows_a_redirect_to_another_host(status: int) -> None:
    async with serve({"*": ok()}) as thief:

        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(status=status, headers={"Location": f"{thief.url}/auth/token"})

        async with serve({"/auth/token": handler, "*": ok()}) as api:
            async with client_for(api.url) as client:
                with pytest.raises(RedirectError) as raised:
                    await client.workorders.get("1" * 24)
            assert "127.0.0.1" in str(raised.value) and "another origin" in str(raised.value)
            assert thief.seen == []
            assert api.count("/auth/token") == 1  # refused, not retried
        _no_secret(thief)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_api_calls_never_follow_a_redirect_to_another_host(status: int) -> None:
    async with serve({"*": ok()}) as thief:

        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(status=status, headers={"Location": f"{thief.url}/steal"})

        async with serve({"/auth/token": token_handler(["tok-secret-1"]), "*": handler}) as api:
            async with client_for(api.url) as client:
                with pytest.raises(RedirectError) as raised:
                    await client.workorders.get("1" * 24)
                with pytest.raises(RedirectError):
                    await client.workorders.create(name="x")
            assert raised.value.location.startswith(thief.url)
        assert thief.seen == []
        _no_secret(thief, "tok-secret-1")


async def test_same_origin_get_redirect_is_followed_but_a_post_is_not() -> None:
    async def moved(request: web.Request) -> web.StreamResponse:
        return web.Response(status=301, headers={"Location": "/workorders/new-home"})

    routes = {
        "/auth/token": token_handler(),
        "/workorders/old": moved,
        "/workorders": moved,
        "/workorders/new-home": ok({"_id": "2" * 24, "name": "moved"}),
    }
    async with serve(routes) as api, client_for(api.url) as client:
        response = await client.workorders.with_raw_response.get("old")
        assert response.parse().id == "2" * 24
        assert response.attempts == 2
        with pytest.raises(RedirectError, match="re-send"):
            await client.workorders.create(name="never twice")
        assert api.count("/workorders") == 1 and api.count("/workorders/new-home") == 1


# -- 2. size limits ---------------------------------------------------------------------------
def _rss() -> int:
    gc.collect()
    return int(psutil.Process(os.getpid()).memory_info().rss)


async def test_gzip_bomb_and_huge_bodies_end_in_a_clear_error_with_bounded_memory() -> None:
    inflated = 1024**3  # 1 GiB of zeros in about 1 MB of gzip
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"\0" * (1024 * 1024)
    bomb = b"".join(compressor.compress(block) for _ in range(inflated // len(block)))
    bomb += compressor.flush()

    async def gzip_bomb(request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=bomb,
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )

    async def chunked_300mb(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        chunk = b" " * (1024 * 1024)
        with contextlib.suppress(ConnectionError, RuntimeError):
            for _ in range(300):
                await response.write(chunk)
        return response

    async def html_502(request: web.Request) -> web.StreamResponse:
        chunk = b"<html>" + b"x" * (1024 * 1024 - 6)
        response = web.StreamResponse(status=502, headers={"Content-Type": "text/html"})
        response.content_length = 100 * len(chunk)
        await response.prepare(request)
        with contextlib.suppress(ConnectionError, RuntimeError):
            for _ in range(100):
                await response.write(chunk)
        return response

    routes = {
        "/auth/token": token_handler(),
        "/workorders/bomb": gzip_bomb,
        "/workorders/huge": chunked_300mb,
        "/workorders/html": html_502,
    }
    async with serve(routes) as api, client_for(api.url, max_retries=2) as client:
        before = _rss()
        peak = before
        for name in ("bomb", "huge"):
            with pytest.raises(ResponseTooLargeError) as raised:
                await client.workorders.get(name)
            assert raised.value.limit == client.config.max_response_bytes
            assert "max_response_bytes" in str(raised.value)
            peak = max(peak, _rss())
        assert api.count("/workorders/bomb") == 1  # an answer too large is not retried
        with pytest.raises(InternalServerError) as bad_gateway:
            await client.workorders.get("html")
        assert len(bad_gateway.value.body_excerpt) < 600
        peak = max(peak, _rss())
        assert api.count("/workorders/html") == 3  # a 502 is retried for a GET, read in part
    assert peak - before < 128 * 1024**2, f"RSS grew by {(peak - before) / 2**20:.0f} MB"


async def test_max_response_bytes_is_configurable_and_checked() -> None:
    with pytest.raises(cwpro.ConfigurationError):
        cwpro.AsyncClient(token="t", base_url="http://127.0.0.1:1", max_response_bytes=0)
    big = {"_id": "1" * 24, "blob": "y" * 5000}
    async with serve({"/auth/token": token_handler(), "*": ok(big)}) as api:
        async with client_for(api.url, max_response_bytes=4096) as client:
            with pytest.raises(ResponseTooLargeError):
                await client.workorders.get("1" * 24)
        async with client_for(api.url) as client:
            assert (await client.workorders.get("1" * 24)).id == "1" * 24


# -- 3. a failing token endpoint --------------------------------------------------------------
async def test_a_failing_token_endpoint_is_not_hammered() -> None:
    async def broken(request: web.Request) -> web.StreamResponse:
        return web.Response(status=500, text="token service down")

    async with serve({"/auth/token": broken, "*": ok()}) as api:
        async with client_for(api.url, max_retries=3) as client:
            with pytest.raises(InternalServerError):
                await client.workorders.get("1" * 24)
            assert api.count("/auth/token") <= 4  # max_retries + 1, never nested
            assert api.count("/workorders/" + "1" * 24) == 0
        api.seen.clear()
        async with client_for(api.url, max_retries=3) as client:
            results = await asyncio.gather(
                *(client.workorders.get("1" * 24) for _ in range(20)), return_exceptions=True
            )
        assert all(isinstance(r, InternalServerError) for r in results)
        assert api.count("/auth/token") <= 20, api.count("/auth/token")


async def test_callers_share_one_hanging_refresh_and_fail_together() -> None:
    release = asyncio.Event()

    async def hanging(request: web.Request) -> web.StreamResponse:
        await release.wait()
        return web.Response(status=500)

    async with serve({"/auth/token": hanging, "*": ok()}) as api:
        loop = asyncio.get_running_loop()
        async with client_for(api.url, max_retries=0, timeout=1) as client:
            started = loop.time()
            results = await asyncio.gather(
                *(client.workorders.get("1" * 24) for _ in range(10)), return_exceptions=True
            )
            spent = loop.time() - started
            release.set()
        assert all(isinstance(r, APITimeoutError) for r in results), results
        assert api.count("/auth/token") == 1  # one refresh, shared by all ten
        assert spent < 6, f"ten callers took {spent:.1f} s (they must not queue one by one)"


async def test_token_errors_keep_what_the_server_said() -> None:
    async def refused(request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {"code": 401, "error": {"code": "AUTH_01", "message": "client disabled"}}, status=401
        )

    async with serve({"/auth/token": refused}) as api, client_for(api.url) as client:
        with pytest.raises(AuthenticationError) as raised:
            await client.workorders.get("1" * 24)
    assert "client disabled" in str(raised.value) and raised.value.code == "AUTH_01"
    assert raised.value.body_excerpt
    async with serve({}) as wrong, client_for(wrong.url) as client:
        with pytest.raises(AuthenticationError, match="base_url"):
            await client.workorders.get("1" * 24)


# -- 4. a rotated token is redacted too -------------------------------------------------------
async def test_a_token_rotated_mid_flight_never_appears(caplog: pytest.LogCaptureFixture) -> None:
    tokens = ["rotating-token-one", "rotating-token-two", "rotating-token-three"]
    valid = {"current": ""}
    slow_started = asyncio.Event()
    rotated = asyncio.Event()
    issue = token_handler(tokens)

    async def token(request: web.Request) -> web.StreamResponse:
        response = await issue(request)
        assert isinstance(response, web.Response) and response.text is not None
        valid["current"] = response.text.split('"access_token":')[1].split('"')[1]
        return response

    async def slow_echo(request: web.Request) -> web.StreamResponse:
        slow_started.set()
        await rotated.wait()
        return web.Response(status=500, text=f"<pre>{request.headers['Authorization']}</pre>")

    async def strict(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {valid['current']}":
            return web.json_response({"code": 401}, status=401)
        return await ok()(request)

    routes = {"/auth/token": token, "/workorders/slow": slow_echo, "*": strict}
    caplog.set_level(logging.DEBUG, logger="cwpro")
    async with serve(routes) as api, client_for(api.url, max_retries=1) as client:
        slow = asyncio.create_task(client.workorders.get("slow"))
        await slow_started.wait()
        valid["current"] = "revoked"  # the server rotates: the next call gets a 401
        await client.workorders.get("1" * 24)  # refreshes to token two and replays
        rotated.set()
        with pytest.raises(InternalServerError) as raised:
            await slow
    error = raised.value
    texts = [str(error), repr(error), error.body_excerpt, str(error.headers), str(error.body)]
    texts += [record.getMessage() for record in caplog.records]
    texts.append(repr(client))
    for text in texts:
        for token_value in tokens:
            assert token_value not in text
    assert "<redacted>" in error.body_excerpt


# -- proxies ----------------------------------------------------------------------------------
@contextlib.asynccontextmanager
async def forward_proxy(seen: list[str]) -> AsyncIterator[str]:
    """A tiny HTTP forward proxy stand-in: records request lines, answers like the API."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                line, *header_lines = head.decode("latin-1").split("\r\n")
                seen.append(line)
                length = 0
                for header in header_lines:
                    name, _, value = header.partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                await reader.readexactly(length)
                data = (
                    b'{"code":200,"data":{"access_token":"proxied-token","expires_in":3600}}'
                    if "/auth/token" in line
                    else b'{"code":200,"data":{"_id":"' + b"3" * 24 + b'"}}'
                )
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                    + str(len(data)).encode()
                    + b"\r\n\r\n"
                    + data
                )
                await writer.drain()

    async with raw_server(handle) as url:
        yield url


async def test_proxy_from_the_environment_and_from_the_argument(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = "http://api.invalid:8080"
    seen: list[str] = []
    async with forward_proxy(seen) as proxy:
        for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy)
        async with client_for(target) as client:
            assert (await client.workorders.get("3" * 24)).id == "3" * 24
        assert seen == [
            f"POST {target}/auth/token HTTP/1.1",
            f"GET {target}/workorders/{'3' * 24} HTTP/1.1",
        ]
        seen.clear()
        async with client_for(target, trust_env=False) as client:
            with pytest.raises(cwpro.APIConnectionError):
                await client.workorders.get("3" * 24, max_retries=0)
        assert seen == []
        monkeypatch.delenv("HTTP_PROXY")
        async with client_for(target, proxy=proxy) as client:
            await client.workorders.get("3" * 24)
        assert len(seen) == 2
