"""The one place that talks HTTP: a pooled aiohttp session, the retry loop, bounded reads.

``Transport.send(options)`` sends one logical request (:class:`RequestOptions`) and returns a
checked :class:`APIResponse`, or raises a :class:`~cwpro.CwproError`. The loop is plain:

1. ``throttle.try_acquire()`` (awaiting ``throttle.acquire()`` only when no send slot is free),
   a bearer token (shared single-flight refresh), then one HTTP exchange: send, read the body
   within ``max_response_bytes`` (decompressed; error bodies only as far as an excerpt needs),
   follow same-origin redirects of GET/HEAD only;
2. a complete answer is mapped to the envelope or its error (:mod:`cwpro._http.envelope`);
   a 401 with a refreshable token is replayed once;
3. on an error, :meth:`RetryPolicy.delay` decides: give up (the error is raised) or wait and
   send again. Nothing else decides about retries.

aiohttp's own silent re-send of GET/PUT/DELETE after a dropped connection is switched off on
the SDK's session: every request on the wire is one the loop chose to send and counted (a
DELETE is not re-sent behind the SDK's back, and ``max_retries=0`` sends exactly one request).

The success path builds as little as it can: the ``Authorization`` header is rebuilt only when
the token changes, the default ``ClientTimeout`` is built once, a 2xx body is decoded and checked
in one step (:func:`~cwpro._http.envelope.checked_payload`: no :class:`Exchange` unless
something is wrong) and the request id header is looked up only when asked for.

One DEBUG line per attempt on the ``cwpro`` logger (method, path, status, time, attempt,
request id); headers are never logged, and every text that reaches an error or a log passes
through the client's :class:`~cwpro._http.redact.Redactor`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .. import _wire
from .._config import ClientConfig, NotGiven, Timeout
from .._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    ConfigurationError,
    ConnectFailed,
    CwproError,
    InvalidArgumentError,
    RateLimitError,
    RedirectError,
    ResponseTooLargeError,
    TLSVerificationFailed,
)
from .._lazy import lazy_module
from .._version import __version__
from .auth import AuthProvider, ClientCredentialsAuth, StaticTokenAuth
from .budget import RetryBudget
from .envelope import Exchange, check_envelope, checked_payload, decode_json, status_error
from .options import RequestOptions
from .redact import Redactor, redact_all
from .response import APIResponse
from .retry import RetryPolicy
from .throttle import Throttle

if TYPE_CHECKING:
    import aiohttp
    import yarl
else:  # imported on first use: ``import cwpro`` stays fast (see _lazy)
    aiohttp = lazy_module("aiohttp", globals())
    yarl = lazy_module("yarl", globals())

__all__ = ["ERROR_BODY_LIMIT", "Transport", "encode_path"]

logger = logging.getLogger("cwpro")
_PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"
#: How much of an error answer is read: enough for any JSON error object and an excerpt.
ERROR_BODY_LIMIT = 64 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
_CHUNK = 64 * 1024
#: Values made only of the characters ``quote(value, safe="")`` leaves alone (ids, mostly).
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]+")


def encode_path(template: str, values: Mapping[str, str]) -> str:
    """Fill ``{name}`` placeholders with percent-encoded single path segments.

    Empty values, ``.`` and ``..`` are rejected; ``/``, ``?``, ``#``, ``%`` and everything else
    outside the unreserved set is escaped, so an id can never change the path or add a query.
    """
    encoded: dict[str, str] = {}
    for name, value in values.items():
        if not isinstance(value, str):
            raise InvalidArgumentError(f"{name} must be a string, got {type(value).__name__}")
        if value in ("", ".", ".."):
            raise InvalidArgumentError(f"{name} must be a non-empty id, got {value!r}")
        plain = (value.isascii() and value.isalnum()) or _UNRESERVED.fullmatch(value)
        encoded[name] = value if plain else quote(value, safe="")
    return template.format_map(encoded)


class Transport:
    """Owns the HTTP session, the auth provider and the retry policy of one client."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self._base_url = config.base_url
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self.redact = Redactor(config.secrets())
        self.retry_policy = RetryPolicy(
            max_retries=config.max_retries,
            max_elapsed=config.max_retry_time,
            max_retry_after=config.max_retry_after,
            base_delay=config.retry_backoff_base,
            max_delay=config.retry_backoff_max,
        )
        #: The client's throttle and retry budget, shared by every call, prefetch and partition
        #: of the client (None: not used).
        self.throttle: Throttle | None = Throttle(
            max_rate=config.max_rate,
            adaptive=config.adaptive_rate,
            max_pause=config.max_retry_after,
        )
        self.budget: RetryBudget | None = RetryBudget()
        self.auth: AuthProvider
        if config.token:
            self.auth = StaticTokenAuth(config.token)
        elif config.client_id and config.client_secret:
            self.auth = ClientCredentialsAuth(
                config.client_id,
                config.client_secret,
                self._fetch_token,
                remember=self.redact.remember,
                failure_ttl=min(5.0, max(0.005, config.retry_backoff_base / 2)),
            )
        else:  # resolve_config guarantees one of the two
            raise ConfigurationError("no credentials")
        self._base_headers: dict[str, str] = {
            "Accept": "application/json",
            "User-Agent": f"{config.user_agent}/{__version__} python/{_PYTHON}",
            **config.default_headers,
        }
        if config.api_key:
            self._base_headers[_wire.API_KEY_HEADER] = config.api_key
        self._timeouts: dict[Timeout, aiohttp.ClientTimeout] = {}
        #: The client's default ``ClientTimeout`` (built on first use: aiohttp is imported late).
        self._default_timeout: aiohttp.ClientTimeout | None = None
        #: The ``Authorization`` header of the current token (rebuilt when the token changes).
        self._auth_token: str | None = None
        self._auth_headers: dict[str, str] = {}
        #: Requests put on the wire (token requests, retries and redirects included).
        self.requests_sent = 0
        #: Retries made so far by this transport (all calls), for summaries and tests.
        self.retry_count = 0
        #: Of those, the retries after a 429.
        self.throttled_retries = 0

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise CwproError("this client is closed; create a new one")
        session = self._session
        if session is not None and not session.closed:
            if self._session_loop is not asyncio.get_running_loop():
                raise CwproError(
                    "this client's connection pool belongs to another event loop; create one "
                    "client per event loop (or use cwpro_sync.Client from threads)"
                )
            return session
        config = self.config
        if config.session is not None:
            session = config.session
        else:
            connector = config.connector or aiohttp.TCPConnector(
                limit=config.max_connections,
                limit_per_host=config.max_connections_per_host,
                keepalive_timeout=config.keepalive_timeout,
                ssl=config.verify_ssl,
            )
            session = aiohttp.ClientSession(
                connector=connector,
                connector_owner=config.connector is None,
                timeout=self._client_timeout(config.timeout),
                headers=self._base_headers,
                raise_for_status=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                proxy=config.proxy or (_env_proxy(self._base_url) if config.trust_env else None),
            )
            _no_silent_resend(session)
        self._session = session
        self._session_loop = asyncio.get_running_loop()
        return session

    async def close(self) -> None:
        """Close the session and its connections (not a session the caller passed in)."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and not session.closed and self.config.session is None:
            await session.close()

    # -- helpers -----------------------------------------------------------------------------
    def _client_timeout(self, timeout: Timeout) -> aiohttp.ClientTimeout:
        cached = self._timeouts.get(timeout)
        if cached is None:
            cached = aiohttp.ClientTimeout(
                total=timeout.total, sock_connect=timeout.connect, sock_read=timeout.read
            )
            self._timeouts[timeout] = cached
        return cached

    def url(self, path: str) -> str:
        """The absolute URL of an (already encoded) API path."""
        return self._base_url + path

    # -- the loop ----------------------------------------------------------------------------
    async def send(self, options: RequestOptions) -> APIResponse[Any]:
        """Send one logical request, with retries, and return the checked response."""
        timeout = self._attempt_timeout(options.timeout)
        max_retries = (
            self.config.max_retries
            if isinstance(options.max_retries, NotGiven)
            else options.max_retries
        )
        policy, throttle, budget = self.retry_policy, self.throttle, self.budget
        started = time.monotonic()
        attempts = 0
        replayed_401 = False
        while True:
            attempts += 1
            token: str | None = None
            sent = False
            try:
                if throttle is not None and not throttle.try_acquire():
                    await throttle.acquire()
                if options.authenticated:
                    token = self.auth.cached() or await self.auth.get_token(timeout)
                sent = True
                response, attempts = await self._exchange(
                    options, token, timeout, attempts, started
                )
            except CwproError as error:
                if isinstance(error, RateLimitError):
                    if throttle is not None:
                        throttle.on_throttled(error.retry_after)
                elif throttle is not None and isinstance(error, APIStatusError):
                    throttle.on_success()
                if (
                    isinstance(error, AuthenticationError)
                    and sent
                    and token is not None
                    and not replayed_401
                    and self.auth.invalidate(token)
                ):
                    replayed_401 = True
                    logger.debug(
                        "401 from %s %s: refreshing the token and replaying once",
                        options.method,
                        options.path,
                    )
                    continue
                wait = policy.delay(
                    error,
                    attempts,
                    safe_to_repeat=options.safe_to_repeat,
                    sent=sent and not isinstance(error, ConnectFailed),
                    elapsed=time.monotonic() - started,
                    max_retries=max_retries,
                    budget=budget,
                )
                if wait is None:
                    raise
                self.retry_count += 1
                if isinstance(error, RateLimitError):
                    self.throttled_retries += 1
                if logger.isEnabledFor(logging.DEBUG):
                    logger.debug(
                        "retrying %s %s after %s (attempt %d failed); waiting %.2f s",
                        options.method,
                        options.path,
                        self.redact(str(error))[:300],
                        attempts,
                        wait,
                    )
                await asyncio.sleep(wait)
                continue
            if throttle is not None:
                throttle.on_success()
            if budget is not None:
                budget.on_success()
            return response

    def _attempt_timeout(self, timeout: float | Timeout | NotGiven | None) -> aiohttp.ClientTimeout:
        if isinstance(timeout, NotGiven):
            default = self._default_timeout
            if default is None:
                default = self._default_timeout = self._client_timeout(self.config.timeout)
            return default
        return self._client_timeout(Timeout.coerce(timeout))

    def _headers(self, options: RequestOptions, token: str | None) -> dict[str, str] | None:
        """The request's own headers: the bearer token's (cached), the call's extra headers."""
        if token is not None and token is not self._auth_token:
            self._auth_token = token
            self._auth_headers = {"Authorization": f"Bearer {token}"}
        own = self._auth_headers if token is not None else None
        if not options.headers and self.config.session is None:
            return own
        headers = {**options.headers} if options.headers else {}
        if own:
            headers.update(own)
        if self.config.session is not None:
            headers = {**self._base_headers, **headers}
        return headers

    # -- one exchange ------------------------------------------------------------------------
    async def _exchange(
        self,
        options: RequestOptions,
        token: str | None,
        timeout: aiohttp.ClientTimeout,
        attempts: int,
        started: float,
    ) -> tuple[APIResponse[Any], int]:
        """Send once (following allowed redirects) and map the complete answer."""
        session = self._get_session()
        headers = self._headers(options, token)
        shown = self._base_url + options.path
        url = _url(shown)
        method = options.method
        hops = 0
        while True:
            failure: CwproError | None = None
            data = options.body_factory() if options.body_factory is not None else None
            self.requests_sent += 1
            sent_at = time.monotonic()
            try:
                async with session.request(
                    method,
                    url,
                    params=options.params,
                    json=options.json,
                    data=data,
                    headers=headers,
                    timeout=timeout,
                    allow_redirects=False,
                ) as resp:
                    status = resp.status
                    if status in _REDIRECTS:
                        location = resp.headers.get("Location", "")
                        resp.close()
                    else:
                        limit = (
                            ERROR_BODY_LIMIT if status >= 400 else self.config.max_response_bytes
                        )
                        if _readable_whole(resp, limit):  # one coroutine less, the usual case
                            body = await resp.read()
                        else:
                            body = await _read_bounded(resp, limit, truncate=status >= 400)
                    resp_headers = resp.headers
            except ResponseTooLargeError as exc:
                exc.method, exc.url = method, shown
                raise
            except (asyncio.TimeoutError, aiohttp.ClientError, OSError) as exc:
                failure = self._connection_error(exc, method, shown)
            if failure is not None:
                # Raised outside the ``except``: aiohttp's exception holds the request's
                # headers (the bearer token) and must not stay reachable as ``__context__``.
                raise failure
            if status in _REDIRECTS:
                hops += 1
                url = self._redirect_target(options, url, location, status, hops, shown)
                shown = str(url)
                attempts += 1
                continue
            if logger.isEnabledFor(logging.DEBUG):
                _log_attempt(method, url, status, sent_at, attempts, resp_headers)
            if 200 <= status < 300:  # the success path: decoded and checked in one step
                payload = (
                    {}
                    if not body and not options.expect_data
                    else checked_payload(body, expect_data=options.expect_data)
                )
                if payload is not None:
                    elapsed = time.monotonic() - started
                    return _response(
                        status, resp_headers, payload, body, method, shown, elapsed, attempts
                    ), attempts
            # A token endpoint's 2xx holds a token: never quote it. Its errors are quoted
            # (redacted as every answer is), so a refusal says what the server said.
            redact = redact_all if not options.authenticated and status < 300 else self.redact
            exchange = Exchange(status, resp_headers, body, method, shown, redact)
            return self._answer(exchange, options, attempts, started), attempts

    def _answer(
        self, exchange: Exchange, options: RequestOptions, attempts: int, started: float
    ) -> APIResponse[Any]:
        """The response of an answer the success path did not take, or its error."""
        status, body = exchange.status, exchange.body
        if status >= 400 or status < 200:
            payload: Any = None
            if body:
                try:
                    payload = decode_json(exchange)
                except CwproError:
                    payload = None
            raise status_error(exchange, status, payload)
        if not body and not options.expect_data:
            checked: Mapping[str, Any] = {}
        else:
            checked = check_envelope(
                exchange, decode_json(exchange), expect_data=options.expect_data
            )
        elapsed = time.monotonic() - started
        return _response(
            status,
            exchange.headers,
            checked,
            body,
            exchange.method,
            exchange.url,
            elapsed,
            attempts,
        )

    def _redirect_target(
        self,
        options: RequestOptions,
        url: yarl.URL,
        location: str,
        status: int,
        hops: int,
        shown: str,
    ) -> yarl.URL:
        """Where a redirect may be followed to, or a :class:`RedirectError`."""
        try:
            target = url.join(yarl.URL(location)) if location else None
        except ValueError:
            target = None
        host = target.host if target is not None else None
        same_origin = target is not None and (target.scheme, target.host, target.port) == (
            url.scheme,
            url.host,
            url.port,
        )
        if (
            target is None
            or not same_origin
            or options.method not in ("GET", "HEAD")
            or options.json is not None
            or options.body_factory is not None
            or not options.authenticated
            or hops > _MAX_REDIRECTS
        ):
            why = (
                "to another origin"
                if target is not None and not same_origin
                else "that would re-send the request's body or credentials"
                if target is not None and hops <= _MAX_REDIRECTS
                else "without a usable Location"
                if target is None
                else f"more than {_MAX_REDIRECTS} times"
            )
            error = RedirectError(
                self.redact(f"refused a {status} redirect {why} (to host {host or '?'})"),
                status=status,
                method=options.method,
                url=shown,
            )
            error.location = self.redact(str(target) if target is not None else location)
            raise error
        return target

    def _connection_error(self, exc: BaseException, method: str, url: str) -> CwproError:
        """The SDK's error for a request that produced no complete HTTP response.

        Server-sent text can reach these messages (a bad status line, say): it is redacted.
        """
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return ConnectFailed("timed out while connecting", method=method, url=url)
        if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
            return APITimeoutError(f"timed out ({type(exc).__name__})", method=method, url=url)
        if isinstance(exc, aiohttp.InvalidURL):
            return ConfigurationError(self.redact(f"invalid URL: {exc}"))
        kind: type[APIConnectionError]
        if isinstance(exc, aiohttp.ClientConnectorCertificateError):
            kind, text = (
                TLSVerificationFailed,
                f"TLS certificate verification failed: {exc.certificate_error}",
            )
        elif isinstance(exc, aiohttp.ClientConnectorError):
            kind, text = ConnectFailed, f"could not connect: {exc.os_error or exc}"
        elif isinstance(exc, aiohttp.ClientPayloadError):
            kind, text = (
                APIConnectionError,
                f"the connection broke while reading the response: {exc}",
            )
        else:
            kind, text = APIConnectionError, f"connection failed: {type(exc).__name__}: {exc}"
        return kind(self.redact(text), method=method, url=url)

    # -- the token request -------------------------------------------------------------------
    async def _fetch_token(self, body: dict[str, str], timeout: Any) -> Any:
        """One exchange with the token endpoint (the caller's retry loop decides the rest)."""
        options = RequestOptions(
            "POST", _wire.TOKEN_PATH, json=body, safe_to_repeat=True, authenticated=False
        )
        client_timeout = timeout if timeout is not None else self._attempt_timeout(options.timeout)
        try:
            response, _ = await self._exchange(options, None, client_timeout, 1, time.monotonic())
        except APIStatusError as exc:
            raise _token_error(exc) from None
        return response.data


def _token_error(exc: APIStatusError) -> APIStatusError:
    """What the token endpoint said, as the error of the call that needed the token."""
    if exc.status in (400, 401, 403):
        what = "the API refused the client credentials"
    elif exc.status == 404:
        what = "the token endpoint was not found (is base_url the API's URL?)"
    else:
        return exc
    said = exc.message if exc.message and exc.message != "Unknown status" else ""
    error = AuthenticationError(
        f"{what}: {exc.status} {said}".rstrip(),
        status=exc.status,
        http_status=exc.http_status,
        code=exc.code,
        reason=exc.reason,
        detail=exc.detail,
        method=exc.method,
        url=exc.url,
        body_excerpt=exc.body_excerpt,
        headers=exc.headers,
    )
    return error


def _response(
    status: int,
    headers: Any,
    payload: Mapping[str, Any],
    body: bytes,
    method: str,
    url: str,
    elapsed: float,
    attempts: int,
) -> APIResponse[Any]:
    """A checked answer (``headers``: aiohttp's read-only ``CIMultiDictProxy``)."""
    return APIResponse(
        status=status,
        headers=headers,
        payload=payload,
        content=body,
        method=method,
        url=url,
        elapsed=elapsed,
        attempts=attempts,
    )


def _log_attempt(
    method: str, url: yarl.URL, status: int, sent_at: float, attempts: int, headers: Any
) -> None:
    """The DEBUG line of one attempt (only called when DEBUG is on: nothing formatted else)."""
    request_id = headers.get("x-request-id")
    logger.debug(
        "%s %s -> %d in %.1f ms (attempt %d%s)",
        method,
        url.path,
        status,
        (time.monotonic() - sent_at) * 1000,
        attempts,
        f", request id {request_id}" if request_id else "",
    )


@functools.lru_cache(maxsize=512)
def _url(text: str) -> yarl.URL:
    return yarl.URL(text, encoded=True)


def _readable_whole(resp: aiohttp.ClientResponse, limit: int) -> bool:
    """Whether the body is known to fit ``limit`` as sent (declared length, not compressed)."""
    length = resp.content_length
    return length is not None and length <= limit and "Content-Encoding" not in resp.headers


async def _read_bounded(resp: aiohttp.ClientResponse, limit: int, *, truncate: bool) -> bytes:
    """The body, decompressed, at most ``limit`` bytes: cut (``truncate``) or refused.

    For a body not known to fit (see :func:`_readable_whole`, which the caller checks first).
    """
    length = resp.content_length
    if length is not None and length > limit and not truncate:
        resp.close()
        raise _too_large(resp.status, limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await resp.content.read(_CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            resp.close()  # do not drain the rest, and do not reuse the connection
            if not truncate:
                raise _too_large(resp.status, limit)
            chunks.append(chunk[: len(chunk) - (size - limit)])
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(status: int, limit: int) -> ResponseTooLargeError:
    return ResponseTooLargeError(
        f"the answer is larger than max_response_bytes={limit:,} (after decompression); "
        "raise max_response_bytes if it is expected",
        status=status,
        limit=limit,
    )


def _env_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url`` (``HTTPS_PROXY``, ``NO_PROXY``...), read once.

    aiohttp's own ``trust_env`` re-reads the environment (and ``~/.netrc``) on every request,
    which costs more CPU than the rest of a call; the SDK reads it when the session starts.
    """
    import urllib.request

    target = yarl.URL(url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(target.scheme or "https")
    if not proxy or (target.host and urllib.request.proxy_bypass(target.host)):
        return None
    return proxy


def _no_silent_resend(session: aiohttp.ClientSession) -> None:
    """Switch off aiohttp's own re-send of GET/PUT/DELETE after a dropped connection.

    aiohttp (3.9+) re-sends an "idempotent" request once when the connection breaks, which
    would re-send a DELETE the server may have carried out and make ``max_retries=0`` send two
    requests. aiohttp has no public switch; its documented-in-source attribute is set when it
    exists (a test checks the behaviour, so a future aiohttp that renames it is noticed).
    """
    if hasattr(session, "_retry_connection"):
        session._retry_connection = False
