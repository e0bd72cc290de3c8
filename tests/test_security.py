"""Security guarantees (SECURITY.md), each checked over loopback.

* No credential (client secret, API key, bearer token, webhook Basic-auth password) in any
  ``repr``/``str``, in any log record at any level (root logger at DEBUG, aiohttp's included),
  or in any exception: message, attributes, ``__cause__``/``__context__`` chain and the
  formatted traceback, for a full scripted session with errors, retries and token refreshes,
  async and blocking, including a server that echoes the credentials back in its error pages.
* TLS certificates are verified by default; turning that off needs ``insecure_skip_verify``.
* Webhook Basic auth compares user and password with ``hmac.compare_digest``, always both.
* The webhook sender allowlist cannot be bypassed with forwarding headers unless the peer is a
  configured trusted proxy.
* No id can add path segments or a query, for every resource method that takes an id
  (generated from ``cwpro.resources.RESOURCES``; coverage checked against ``all_endpoints()``).
"""

from __future__ import annotations

import ast
import asyncio
import base64
import contextlib
import hmac
import inspect
import logging
import ssl
import textwrap
import traceback
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

import cwpro
import cwpro_sync
from cwpro import CwproError
from cwpro.emulator import Emulator, EmulatorThread
from cwpro.resources import RESOURCES, all_endpoints
from cwpro.webhooks import WebhookReceiver, verify_basic_auth
from cwpro.webhooks import _security as webhook_security
from tests._support import raw_server

from .conftest import make_client

API_KEY = "apikey-SECRET-4242"
STATIC_TOKEN = "static-token-SECRET-777"
WRONG_SECRET = "wrong-client-secret-SECRET-31"
WEBHOOK_PASSWORD = "webhook-password-SECRET-55"
GUESSED_PASSWORD = "guessed-password-SECRET-56"
CWP_IP = "44.193.241.109"


# -- capturing every text the SDK produces --------------------------------------------------------
class _Everything(logging.Handler):
    """Keeps every record, formatted with its traceback, plus its raw arguments."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.records: list[logging.LogRecord] = []
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.texts.append(self.format(record))
        self.texts.append(repr(record.args))


@pytest.fixture
def all_logs() -> Iterator[_Everything]:
    """Every log record of every logger, at every level, for the test's duration."""
    handler = _Everything()
    root = logging.getLogger()
    names = ["cwpro", "cwpro.auth", "cwpro.webhooks", "cwpro.sync", "cwpro.emulator", "aiohttp"]
    names += [n for n in logging.root.manager.loggerDict if n.startswith(("aiohttp", "cwpro"))]
    saved = {name: logging.getLogger(name).level for name in names}
    saved_root = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_root)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def exception_texts(exc: BaseException) -> list[str]:
    """Everything one can read from an exception: the formatted traceback, and the message,
    repr, args and attributes of it and of every exception in its cause/context chain."""
    texts = ["".join(traceback.format_exception(exc))]
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        texts += [str(current), repr(current), repr(current.args)]
        texts.append(repr(getattr(current, "__dict__", {})))
        stack += [e for e in (current.__cause__, current.__context__) if e is not None]
    return texts


class Session:
    """What a scripted session left behind: texts to search, secrets to search for."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.errors: list[BaseException] = []
        self.secrets: list[str] = [API_KEY, STATIC_TOKEN, WRONG_SECRET]

    def keep(self, *objects: Any) -> None:
        for obj in objects:
            self.texts += [repr(obj), str(obj)]

    async def expect_error(self, call: Any) -> None:
        try:
            await call
        except CwproError as exc:
            self.errors.append(exc)
        else:
            raise AssertionError("the scripted call was expected to fail")

    def expect_error_sync(self, call: Any) -> None:
        try:
            call()
        except CwproError as exc:
            self.errors.append(exc)
        else:
            raise AssertionError("the scripted call was expected to fail")

    def assert_clean(self, logs: _Everything) -> None:
        blob = "\n".join(
            self.texts + logs.texts + [t for e in self.errors for t in exception_texts(e)]
        )
        leaked = [s for s in self.secrets if s and s in blob]
        assert not leaked, f"secrets found: {leaked}"


def record_tokens(emulator: Any, session: Session) -> None:
    """Add every bearer token the emulator issues to the secrets searched for."""
    store = emulator.tokens
    issue = store.issue

    def recording_issue() -> tuple[str, int]:
        token, lifetime = issue()
        session.secrets.append(token)
        return token, lifetime

    store.issue = recording_issue


@contextlib.asynccontextmanager
async def echo_server() -> AsyncIterator[str]:
    """A server that puts the request's credentials into its answers (a hostile or buggy
    proxy): the SDK must redact them from errors."""

    async def token(request: web.Request) -> web.Response:
        posted = await request.text()
        if "truncated" in posted:  # a token response cut short: the decoder must not keep it
            return web.Response(
                text='{"code": 200, "data": {"access_token": "truncated-token-SECRET-3", "exp'
            )
        if "wrong" in posted:
            error = {"message": "bad credentials", "detail": posted, "echo": await request.json()}
            return web.json_response({"code": 400, "error": error, "data": {}}, status=400)
        return web.json_response({"code": 200, "data": {"access_token": "echo-token-SECRET-9"}})

    async def echo(request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        key = request.headers.get("x-api-key", "")
        status = 429 if "rate" in request.path else 502
        if "json" in request.path:
            echoed = {"authorization": auth, "key": key, "nested": [{"auth": auth}]}
            return web.json_response(
                {"code": status, "error": echoed, "data": echoed}, status=status
            )
        return web.Response(
            status=status,
            text=f"<html>upstream saw Authorization: {auth} and x-api-key: {key}</html>",
            headers={"Retry-After": "0"},
        )

    app = web.Application()
    app.router.add_post("/auth/token", token)
    app.router.add_route("*", "/{tail:.*}", echo)
    async with TestServer(app, host="127.0.0.1") as server:
        yield str(server.make_url("")).rstrip("/")


@contextlib.asynccontextmanager
async def garbage_server() -> AsyncIterator[str]:
    """Answers every request with a malformed status line."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 abc\r\n\r\n")
        await writer.drain()

    async with raw_server(serve) as url:
        yield url


# -- secrets: async ---------------------------------------------------------------------------
async def test_no_secret_anywhere_in_an_async_session_with_errors_and_retries(
    all_logs: _Everything,
) -> None:
    session = Session()
    async with Emulator(seed=21, workorders=60, sites=5, work_types=5, portal_links=5) as emu:
        record_tokens(emu, session)
        session.secrets.append(emu.client_secret)
        async with make_client(emu, api_key=API_KEY, max_retries=2) as client:
            session.keep(client, client.config, client._transport.auth, client.workorders)
            page = await client.workorders.list(limit=5)
            wo_id = page.items[0].id
            emu.expire_tokens()  # 401 -> refresh -> replay
            session.keep(await client.workorders.get(wo_id))
            for kind, options in [
                ("status", {"status": 503}),
                ("status", {"status": 429, "retry_after": 0}),
                ("reset_before_headers", {}),
                ("reset_mid_body", {}),
                ("expire_token", {}),
            ]:
                emu.add_fault(kind, route="GET /workorders/*", times=1, **options)
                session.keep(await client.workorders.get(wo_id))
            raw = await client.workorders.with_raw_response.get(wo_id)
            session.keep(raw, raw.payload, raw.parse(), dict(raw.headers))
            once = client.with_options(max_retries=0, timeout=0.3)
            for kind, options in [
                ("status", {"status": 500, "body": "html"}),
                ("status", {"status": 401}),
                ("truncate_body", {}),
                ("slow_headers", {"delay": 0.6}),
                ("status", {"status": 404}),
            ]:
                emu.add_fault(kind, route="GET /workorders/*", times=2, **options)
                await session.expect_error(once.workorders.get(wo_id))
                emu.faults.clear()
            await session.expect_error(client.workorders.create(name="x", work_type_ids=["0" * 24]))
            # the token endpoint fails while refreshing
            emu.expire_tokens()
            emu.add_fault("status", status=503, route="POST /auth/token", times=5)
            await session.expect_error(once.workorders.get(wo_id))
            emu.faults.clear()
            await asyncio.sleep(0.1)  # past the failed refresh's negative cache (50 ms here)
            # an export interrupted by a fault, then resumed from its checkpoint
            export = client.workorders.export([{}], limit=7)
            emu.add_fault("status", status=502, route="GET /workorders", times=5)
            with pytest.raises(CwproError) as info:
                async for _ in client.with_options(max_retries=1).workorders.export(limit=7):
                    pass
            session.errors.append(info.value)
            emu.faults.clear()
            session.keep(export, [wo async for wo in export][:3], export.checkpoint())
        async with make_client(emu, client_secret=WRONG_SECRET) as wrong:
            await session.expect_error(wrong.workorders.list(limit=1))
            session.keep(wrong, wrong.config)
        async with cwpro.AsyncClient(token=STATIC_TOKEN, base_url=emu.base_url) as static:
            await session.expect_error(static.workorders.list(limit=1))
            session.keep(static, static.config, static._transport.auth)
    async with echo_server() as url:
        async with cwpro.AsyncClient(
            "echo",
            "echo-secret-SECRET-8",
            api_key=API_KEY,
            base_url=url,
            max_retries=1,
            retry_backoff_base=0.001,
            retry_backoff_max=0.002,
        ) as echoing:
            session.secrets += ["echo-secret-SECRET-8", "echo-token-SECRET-9"]
            await session.expect_error(echoing.workorders.get("a"))
            await session.expect_error(echoing.request("GET", "/rate"))
            await session.expect_error(echoing.request("GET", "/json"))
            await session.expect_error(echoing.request("GET", "/json/rate"))
        async with cwpro.AsyncClient("echo", "wrong-echo-SECRET-6", base_url=url) as refused:
            session.secrets.append("wrong-echo-SECRET-6")
            await session.expect_error(refused.workorders.get("a"))
        async with cwpro.AsyncClient("truncated", "truncated-SECRET-2", base_url=url) as cut:
            session.secrets += ["truncated-SECRET-2", "truncated-token-SECRET-3"]
            await session.expect_error(cut.workorders.get("a"))
    # aiohttp's parser error (the transport's error's context) holds the request headers
    async with (
        garbage_server() as url,
        cwpro.AsyncClient(token=STATIC_TOKEN, base_url=url, max_retries=0) as client,
    ):
        await session.expect_error(client.workorders.get("a"))
    assert len([s for s in session.secrets if s.startswith("cwpe_")]) >= 4  # tokens were issued
    assert any("retrying" in t for t in all_logs.texts)  # the capture did see DEBUG records
    assert any(r.name.startswith("cwpro") and r.levelno == logging.DEBUG for r in all_logs.records)
    assert len(session.errors) >= 10
    echoed = [e for e in session.errors if "upstream saw" in str(getattr(e, "body_excerpt", ""))]
    assert echoed and all("<redacted>" in e.body_excerpt for e in echoed)  # type: ignore[attr-defined]
    session.assert_clean(all_logs)


# -- secrets: blocking ------------------------------------------------------------------------
def test_no_secret_anywhere_in_a_blocking_session(all_logs: _Everything) -> None:
    session = Session()
    with EmulatorThread(seed=22, workorders=40, sites=3, work_types=3, portal_links=3) as emu:
        record_tokens(emu, session)
        session.secrets.append(emu.client_secret)
        with cwpro_sync.Client(
            emu.client_id,
            emu.client_secret,
            api_key=API_KEY,
            base_url=emu.base_url,
            retry_backoff_base=0.001,
            retry_backoff_max=0.005,
        ) as client:
            session.keep(client, client.config, client.workorders)
            ids = [wo.id for wo in client.workorders.list(limit=10)]
            emu.expire_tokens()
            emu.add_fault("status", status=503, route="GET /workorders/*", times=1)
            session.keep(client.workorders.get(ids[0]))
            once = client.with_options(max_retries=0)
            for kind, options in [
                ("status", {"status": 502, "body": "html"}),
                ("reset_mid_body", {}),
                ("status", {"status": 403}),
            ]:
                emu.add_fault(kind, route="GET /workorders/*", times=1, **options)
                session.expect_error_sync(lambda: once.workorders.get(ids[0]))
            emu.add_fault("status", status=500, route="GET /workorders", times=3)
            paginator = once.workorders.list(limit=4)
            session.expect_error_sync(lambda: list(paginator))
            session.keep(paginator, paginator.resume_cursor)
        with cwpro_sync.Client(token=STATIC_TOKEN, base_url=emu.base_url) as static:
            session.expect_error_sync(lambda: static.workorders.get(ids[0]))
        with cwpro_sync.Client(emu.client_id, WRONG_SECRET, base_url=emu.base_url) as wrong:
            session.expect_error_sync(lambda: wrong.workorders.get(ids[0]))
            session.keep(wrong)
    assert len([s for s in session.secrets if s.startswith("cwpe_")]) >= 2
    assert len(session.errors) >= 6
    session.assert_clean(all_logs)


# -- webhook password ---------------------------------------------------------------------------
async def test_webhook_password_never_reaches_logs_or_reprs(all_logs: _Everything) -> None:
    handled: list[str] = []

    async def handler(event: Any) -> None:
        handled.append(event.id)

    receiver = WebhookReceiver(
        handler, basic_auth=("cwp", WEBHOOK_PASSWORD), allowed_ips=["127.0.0.1"]
    )
    texts = [repr(receiver), str(receiver)]
    statuses: list[int] = []
    async with (
        Emulator(seed=23, workorders=2, webhook_time_scale=1e-5) as emu,
        receiver.serve() as url,
        aiohttp.ClientSession() as http,
    ):
        target = emu.webhooks.add_target(url, basic_auth=("cwp", WEBHOOK_PASSWORD))
        texts += [repr(target), str(target), repr(emu.webhooks.targets)]
        for password in (GUESSED_PASSWORD, WEBHOOK_PASSWORD):
            token = base64.b64encode(f"cwp:{password}".encode()).decode()
            async with http.post(
                url,
                json={
                    "id": password[:9],
                    "event": "X",
                    "created_date": "2024-01-01T00:00:00Z",
                    "data": {},
                },
                headers={"Authorization": f"Basic {token}"},
            ) as response:
                statuses.append(response.status)
                texts.append(await response.text())
        async with make_client(emu) as client:
            await client.workorders.create(name="delivered with Basic auth")
        await emu.webhooks.drain(timeout=10)
        await receiver.join()
    assert statuses == [401, 200]
    assert len(handled) == 2
    assert any("refused (401" in t for t in all_logs.texts)  # the refusal was logged...
    blob = "\n".join(texts + all_logs.texts)
    assert WEBHOOK_PASSWORD not in blob and GUESSED_PASSWORD not in blob  # ...without them
    for secret in (WEBHOOK_PASSWORD, GUESSED_PASSWORD):
        assert base64.b64encode(f"cwp:{secret}".encode()).decode() not in blob


# -- TLS ----------------------------------------------------------------------------------------
# A throwaway self-signed certificate for 127.0.0.1 (valid until 2126), made for this test only.
TEST_CERT = """-----BEGIN CERTIFICATE-----
MIIBkDCCATagAwIBAgIUMmVgmOl5tJabdGF02vba5BMhg8MwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTI2MTEyMzE5MTU0OVoYDzIxMjYxMDMw
MTkxNTQ5WjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAATHPIS1PsFSqzJDBhwUE+JKEE3PiD7Dva+45HazMwEC1DZL0nzMNo8Z
VZBh9zdAn19R6kC2FT4SfxShUvk1u9B0o2QwYjAdBgNVHQ4EFgQUpGS0y6A0QyrT
DUqrr7YVPgWi8VkwHwYDVR0jBBgwFoAUpGS0y6A0QyrTDUqrr7YVPgWi8VkwDwYD
VR0TAQH/BAUwAwEB/zAPBgNVHREECDAGhwR/AAABMAoGCCqGSM49BAMCA0gAMEUC
ICkmrdWH2aJ+Q8/bDbhpbtsa66KIIKFGwhfOZybQitxLAiEAsIZkfoa9mU8sdzwR
r1BpdhnvcBlScng83egEUbWDQiU=
-----END CERTIFICATE-----
"""
TEST_KEY = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgYWe/32lMirX0jB6G
1qJFO9kZ1v4H2rnUMQ9XbE7F49KhRANCAATHPIS1PsFSqzJDBhwUE+JKEE3PiD7D
va+45HazMwEC1DZL0nzMNo8ZVZBh9zdAn19R6kC2FT4SfxShUvk1u9B0
-----END PRIVATE KEY-----
"""


@contextlib.asynccontextmanager
async def https_server(tmp_path: Path, seen: list[str]) -> AsyncIterator[str]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text(TEST_CERT)
    key.write_text(TEST_KEY)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def answer(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        return web.json_response({"code": 200, "data": [], "pagination": {"hasNext": False}})

    app = web.Application()
    app.router.add_get("/worktypes", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    try:
        yield f"https://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def test_tls_certificates_are_verified_by_default(tmp_path: Path) -> None:
    seen: list[str] = []
    async with https_server(tmp_path, seen) as url:
        async with cwpro.AsyncClient(token=STATIC_TOKEN, base_url=url, max_retries=0) as client:
            assert client.config.verify_ssl is True
            with pytest.raises(cwpro.APIConnectionError, match="certificate verification failed"):
                await client.work_types.list(limit=1)
        assert seen == []  # the token never went to the unverified server
        async with cwpro.AsyncClient(
            token=STATIC_TOKEN, base_url=url, verify_ssl=False, insecure_skip_verify=True
        ) as insecure:
            assert (await insecure.work_types.list(limit=1)).items == []
    assert seen == [f"Bearer {STATIC_TOKEN}"]


def test_turning_tls_verification_off_needs_an_explicit_second_flag() -> None:
    for make in (cwpro.AsyncClient, cwpro_sync.Client):
        with pytest.raises(cwpro.ConfigurationError, match="insecure_skip_verify=True"):
            make(token="t", base_url="https://127.0.0.1:1", verify_ssl=False)
    assert cwpro.AsyncClient(token="t").config.verify_ssl is True  # no session opened yet
    with cwpro_sync.Client(token="t") as client:
        assert client.config.verify_ssl is True


# -- webhook Basic auth: constant time, always both parts ---------------------------------------------
def test_basic_auth_uses_compare_digest_for_both_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)

    def basic(user: str, password: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    headers = [
        basic("cwp", "pw"),  # right
        basic("cwp", "wrong"),  # wrong password
        basic("other", "pw"),  # wrong user: the password is compared anyway
        basic("x" * 500, "y" * 5000),  # lengths differ wildly
        None,
        "",
        "Bearer abc",
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
    ]
    results = []
    for header in headers:
        calls.clear()
        results.append(verify_basic_auth(header, "cwp", "pw"))
        assert len(calls) == 2, header  # user and password, every time, no early return
        assert all(len(a) == len(b) == 32 for a, b in calls)  # fixed-length digests
    assert results == [True] + [False] * (len(headers) - 1)
    source = inspect.getsource(webhook_security.verify_basic_auth)
    assert source.count("hmac.compare_digest(") == 2
    credentials = {"username", "password", "given_user", "given_password", "decoded"}
    for node in ast.walk(ast.parse(textwrap.dedent(source))):
        if isinstance(node, ast.Compare):  # no plain comparison ever touches a credential
            names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            assert not names & credentials, ast.unparse(node)
    receiver_source = inspect.getsource(WebhookReceiver._handle_request)
    assert "verify_basic_auth(" in receiver_source


# -- webhook allowlist vs forwarding headers ---------------------------------------------------------
SPOOFS = [
    {"X-Forwarded-For": CWP_IP},
    {"X-Forwarded-For": f"  {CWP_IP}  "},
    {"X-Forwarded-For": f"{CWP_IP}, {CWP_IP}"},
    {"X-Forwarded-For": f"::ffff:{CWP_IP}"},
    {"X-Forwarded-For": f"127.0.0.1, {CWP_IP}"},
    {"X-Forwarded-For": f"[{CWP_IP}]"},
    {"Forwarded": f"for={CWP_IP}"},
    {"X-Real-IP": CWP_IP},
    {"True-Client-IP": CWP_IP},
    {"CF-Connecting-IP": CWP_IP},
    {"X-Client-IP": CWP_IP},
]
EVENT = {"id": "e-1", "event": "SITE.CREATE", "created_date": "2024-01-01T00:00:00Z", "data": {}}


async def _post(url: str, headers: dict[str, str], repeat_xff: list[str] | None = None) -> int:
    async with aiohttp.ClientSession() as http:
        all_headers: Any = dict(headers)
        if repeat_xff:
            from multidict import CIMultiDict

            all_headers = CIMultiDict(headers)
            for value in repeat_xff:
                all_headers.add("X-Forwarded-For", value)
        async with http.post(url, json=EVENT, headers=all_headers) as response:
            return response.status


@pytest.mark.parametrize(
    "receiver_options",
    [{}, {"trusted_proxies": ["10.0.0.1"]}, {"trusted_proxies": ["192.168.0.0/16"]}],
    ids=["no-proxy", "other-proxy", "other-network"],
)
async def test_forwarding_headers_cannot_bypass_the_allowlist(
    receiver_options: dict[str, Any],
) -> None:
    handled: list[Any] = []

    async def handler(event: Any) -> None:
        handled.append(event)

    receiver = WebhookReceiver(handler, dedupe=None, **receiver_options)  # CWP's two addresses
    async with receiver.serve() as url:
        statuses = [await _post(url, spoof) for spoof in SPOOFS]
        statuses.append(await _post(url, {}, repeat_xff=[CWP_IP, CWP_IP]))
    assert set(statuses) == {403}
    assert handled == []
    assert receiver.stats.rejected["forbidden"] == len(SPOOFS) + 1


async def test_forwarded_for_is_used_only_through_a_trusted_proxy() -> None:
    async def handler(event: Any) -> None:
        return None

    receiver = WebhookReceiver(handler, dedupe=None, trusted_proxies=["127.0.0.1"])
    async with receiver.serve() as url:
        assert await _post(url, {"X-Forwarded-For": CWP_IP}) == 200  # appended by our proxy
        # an attacker writes the CWP address first; our proxy appends the attacker's
        assert await _post(url, {"X-Forwarded-For": f"{CWP_IP}, 6.6.6.6"}) == 403
        assert await _post(url, {}, repeat_xff=[CWP_IP, "6.6.6.6"]) == 403
        assert await _post(url, {"Forwarded": f"for={CWP_IP}"}) == 403  # not read at all
        assert await _post(url, {}) == 403  # the proxy itself is not CWP


# -- ids cannot inject path segments or queries: every method taking an id ------------------------
BAD_IDS = [
    "../sites",
    "..%2F..%2Fsites",
    "a/b",
    "/",
    "%2F",
    "%2f",
    "x?limit=1000&summary=full",
    "?",
    "#frag",
    "a#b",
    "%3F",
    "%23",
    "%",
    "%25",
    "%2e%2e",
    ".%2e",
    "...",
    "a b",
    "a+b",
    "a;b=c",
    "a\\..\\b",
    "ü/ñ",
    "\u2215etc",  # division slash
    "\uff0fetc",  # fullwidth solidus
    "\u2024\u2024",  # one-dot leaders
    "633cf3e1bb4e2453a0497b65/status",
    "a\r\nX-Injected: 1",
    "\x00",
]
REJECTED_IDS = ["", ".", ".."]
#: Required arguments (besides the id) of methods that take an id.
REQUIRED_ARGUMENTS: dict[str, dict[str, Any]] = {
    "Documents.upload": {"file": b"file-content"},
    "WorkOrders.update": {"name": "renamed"},
    "WorkOrders.update_status": {"status": "open"},
    "PortalLinks.update": {"is_active": False},
}


def methods_taking_an_id() -> list[tuple[str, str, str]]:
    """(client attribute, method name, id parameter) for every public resource method whose
    parameters include an id, from ``cwpro.resources.RESOURCES``."""
    found = []
    for attribute, cls in RESOURCES.items():
        for name, function in inspect.getmembers(cls, inspect.isfunction):
            if name.startswith("_"):
                continue
            for parameter in inspect.signature(function).parameters.values():
                positional = parameter.kind is not inspect.Parameter.KEYWORD_ONLY
                if positional and (parameter.name == "id" or parameter.name.endswith("_id")):
                    found.append((attribute, name, parameter.name))
    return found


def test_the_generated_methods_cover_every_endpoint_with_an_id() -> None:
    methods = methods_taking_an_id()
    assert len(methods) >= 12
    with_ids = {key for key, ep in all_endpoints().items() if "id" in ep.path_params()}
    assert len(with_ids) >= 12  # the coverage itself is checked over the wire below


@contextlib.asynccontextmanager
async def recording_server(seen: list[tuple[str, str, str]]) -> AsyncIterator[str]:
    """A raw HTTP server recording each request line exactly as it came off the wire (an
    aiohttp server would refuse some of them before any handler sees them), answering 404."""
    answer = b'{"error": {"code": "X", "message": "no"}, "code": 404, "data": {}}'

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        method, target, _ = head.split("\r\n", 1)[0].split(" ")
        path, _, query = target.partition("?")
        seen.append((method, path, query))
        lowered = head.lower()
        if "content-length:" in lowered:
            length = int(lowered.split("content-length:", 1)[1].split("\r\n", 1)[0])
            await reader.readexactly(length)
        elif "transfer-encoding: chunked" in lowered:
            await reader.readuntil(b"\r\n0\r\n\r\n")
        writer.write(
            b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(answer), answer)
        )
        await writer.drain()

    async with raw_server(serve) as url:
        yield url


async def _call(
    client: cwpro.AsyncClient, attribute: str, name: str, id_param: str, value: str
) -> None:
    resource = getattr(client, attribute)
    extra = REQUIRED_ARGUMENTS.get(f"{type(resource).__name__}.{name}", {})
    result = getattr(resource, name)(**{id_param: value}, **extra)
    if inspect.isawaitable(result):
        await result
    else:
        raise AssertionError(
            f"{attribute}.{name} returned {result!r}: await or a paginator expected"
        )


def endpoints_sent(seen: list[tuple[str, str, str]], bad: str, label: str) -> list[str]:
    """The declared endpoints the one recorded request matches, after checking that the id
    stayed one path segment and added no query."""
    ((method, raw_path, query),) = seen
    assert query == "", f"{label}({bad!r}) sent a query {query!r}"
    matches = [
        key
        for key, ep in all_endpoints().items()
        if ep.method == method
        and ep.path_params()
        and raw_path
        == ep.path.format(
            **{
                p: quote(bad if p == "id" else "work_order_extra_photos", safe="")
                for p in ep.path_params()
            }
        )
    ]
    assert matches, f"{label}({bad!r}) sent {method} {raw_path}"
    assert unquote(raw_path.split("/")[2]) == bad  # the server reads back the very id
    return matches


ENDPOINTS_WITH_IDS = {k for k, ep in all_endpoints().items() if "id" in ep.path_params()}


async def test_ids_cannot_inject_path_segments_or_queries_in_any_method() -> None:
    seen: list[tuple[str, str, str]] = []
    covered: set[str] = set()
    async with (
        recording_server(seen) as url,
        cwpro.AsyncClient(token=STATIC_TOKEN, base_url=url, max_retries=0) as client,
    ):
        for attribute, name, id_param in methods_taking_an_id():
            for bad in REJECTED_IDS:
                before = len(seen)
                with pytest.raises(ValueError):
                    await _call(client, attribute, name, id_param, bad)
                assert len(seen) == before, f"{attribute}.{name}({bad!r}) was sent"
            for bad in BAD_IDS:
                seen.clear()
                with pytest.raises(CwproError):
                    await _call(client, attribute, name, id_param, bad)
                covered.update(endpoints_sent(seen, bad, f"{attribute}.{name}"))
    assert covered == ENDPOINTS_WITH_IDS


def _call_blocking(
    client: cwpro_sync.Client, attribute: str, name: str, id_param: str, value: str
) -> None:
    resource = getattr(client, attribute)
    extra = REQUIRED_ARGUMENTS.get(f"{type(resource).__name__}.{name}", {})
    result = getattr(resource, name)(**{id_param: value}, **extra)
    if isinstance(result, cwpro_sync.CursorPaginator):
        result.first_page()


async def test_the_blocking_client_sends_ids_the_same_way() -> None:
    seen: list[tuple[str, str, str]] = []
    covered: set[str] = set()
    async with recording_server(seen) as url:

        def run_all() -> None:  # in a worker thread: the blocking client runs its own loop
            with cwpro_sync.Client(token=STATIC_TOKEN, base_url=url, max_retries=0) as client:
                for attribute, name, id_param in methods_taking_an_id():
                    with pytest.raises(ValueError):
                        _call_blocking(client, attribute, name, id_param, "..")
                    for bad in BAD_IDS[::3]:
                        seen.clear()
                        with pytest.raises(CwproError):
                            _call_blocking(client, attribute, name, id_param, bad)
                        covered.update(endpoints_sent(seen, bad, f"sync {attribute}.{name}"))

        await asyncio.to_thread(run_all)
    assert covered == ENDPOINTS_WITH_IDS
