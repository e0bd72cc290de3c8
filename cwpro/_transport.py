"""The one place that talks HTTP: a pooled aiohttp session, auth, retries, decoding, logging.

``Transport.request()`` sends one logical request and returns an :class:`APIResponse` whose
``payload`` is the decoded, checked envelope, or raises a :class:`~cwpro.CwproError`:

1. build the URL once (ids percent-encoded as single path segments, never able to add path
   segments or a query);
2. attempt: get a bearer token, send, read the whole body, map the status;
   a 401 invalidates the token and replays the request once (a second 401 raises);
3. retry the attempt with ``backoff`` (bounded tries and time, full jitter, ``Retry-After``)
   when :class:`~cwpro._retry.RetryPolicy` says the failure is retryable;
4. log each retry and token refresh at DEBUG on the ``cwpro`` logger, never with credentials:
   headers are never logged and every text that reaches an error or a log is redacted.

The session is created lazily on first use (inside the running loop) and closed by
:meth:`Transport.close`, which is idempotent.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import attrs

from . import _wire
from ._auth import AuthProvider, ClientCredentialsAuth, StaticTokenAuth
from ._config import NOT_GIVEN, ClientConfig, NotGiven, Timeout
from ._envelope import build_status_error, decode_json, unwrap
from ._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    ConfigurationError,
    ConnectFailed,
    CwproError,
    TLSVerificationFailed,
)
from ._lazy import lazy_module
from ._retry import RetryPolicy
from ._version import __version__

if TYPE_CHECKING:
    import aiohttp
    import backoff
    import yarl
    from multidict import CIMultiDictProxy
    from yarl import URL
else:  # imported on first use: ``import cwpro`` stays fast (see _lazy)
    aiohttp = lazy_module("aiohttp", globals())
    backoff = lazy_module("backoff", globals())
    yarl = lazy_module("yarl", globals())

__all__ = ["APIResponse", "Transport", "encode_path"]

logger = logging.getLogger("cwpro")
_PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"

QueryParams = Sequence[tuple[str, str]]
_REDACTED = "<redacted>"
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
            raise TypeError(f"{name} must be a string, got {type(value).__name__}")
        if value in ("", ".", ".."):
            raise ValueError(f"{name} must be a non-empty id, got {value!r}")
        encoded[name] = value if _UNRESERVED.fullmatch(value) else quote(value, safe="")
    return template.format(**encoded)


@attrs.frozen
class APIResponse:
    """A checked answer: HTTP status and headers, the decoded envelope, and how it went."""

    status: int
    headers: CIMultiDictProxy[str]
    payload: Mapping[str, Any]
    method: str
    url: str
    elapsed: float
    attempts: int

    @property
    def data(self) -> Any:
        """The envelope's ``data``."""
        return self.payload.get("data")


class Transport:
    """Owns the HTTP session, the auth provider and the retry policy of one client."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self._base_url = str(yarl.URL(config.base_url))
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self.retry_policy = RetryPolicy(
            max_retries=config.max_retries,
            max_elapsed=config.max_retry_time,
            max_retry_after=config.max_retry_after,
            base_delay=config.retry_backoff_base,
            max_delay=config.retry_backoff_max,
        )
        self.auth: AuthProvider
        if config.token:
            self.auth = StaticTokenAuth(config.token)
        elif config.client_id and config.client_secret:
            self.auth = ClientCredentialsAuth(
                config.client_id, config.client_secret, self._fetch_token
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
        self._default_timeout = self._client_timeout(config.timeout)
        #: Retries made so far by this transport (all calls), for summaries and tests.
        self.retry_count = 0

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
        connector = aiohttp.TCPConnector(
            limit=self.config.max_connections,
            limit_per_host=self.config.max_connections_per_host,
            keepalive_timeout=self.config.keepalive_timeout,
            ssl=self.config.verify_ssl,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._default_timeout,
            headers=self._base_headers,
            raise_for_status=False,
        )
        self._session_loop = asyncio.get_running_loop()
        return self._session

    async def close(self) -> None:
        """Close the session and its connections. Safe to call more than once."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    # -- helpers -----------------------------------------------------------------------------
    @staticmethod
    def _client_timeout(timeout: Timeout) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(
            total=timeout.total, sock_connect=timeout.connect, sock_read=timeout.read
        )

    def redact(self, text: str) -> str:
        """Replace every credential this transport knows with ``<redacted>``."""
        secrets = list(self.config.secrets())
        current = getattr(self.auth, "_token", None)
        if isinstance(current, str) and current:
            secrets.append(current)
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, _REDACTED)
        return text

    def url(self, path: str) -> str:
        """The absolute URL of an (already encoded) API path."""
        return self._base_url + path

    # -- requests ----------------------------------------------------------------------------
    async def request(
        self,
        method: str,
        path: str,
        *,
        params: QueryParams | None = None,
        json: Any = None,
        body_factory: Callable[[], Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | Timeout | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven | None = NOT_GIVEN,
        idempotent: bool | None = None,
        authenticated: bool = True,
    ) -> APIResponse:
        """Send one logical request (with retries) and return the checked response.

        ``path`` must already be encoded (see :func:`encode_path`). ``body_factory`` builds a
        fresh request body for each attempt (uploads), so a retried upload re-reads its file.
        ``timeout``/``max_retries``: ``NOT_GIVEN`` or ``None`` for ``max_retries`` use the
        client's defaults; ``timeout=None`` disables timeouts for this call.
        """
        method = method.upper()
        url = yarl.URL(self._base_url + path, encoded=True)
        if isinstance(timeout, NotGiven):
            client_timeout = self._default_timeout
        elif timeout is None:
            client_timeout = self._client_timeout(Timeout.coerce(None))
        else:
            client_timeout = self._client_timeout(Timeout.coerce(timeout))
        retries = (
            self.config.max_retries
            if max_retries is None or isinstance(max_retries, NotGiven)
            else max_retries
        )
        if retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {retries}")
        started = time.monotonic()
        # The first attempt runs outside ``backoff``: the common case (success) pays for no
        # retry machinery at all. Only after a failure is the retrier built; it replays that
        # failure as its first try and gets the time budget that is left, so tries, give-up
        # rules, waits and the overall time limit are exactly those of one retrier around
        # every attempt.
        try:
            return await self._attempt(
                method,
                url,
                params,
                json,
                body_factory,
                headers,
                client_timeout,
                authenticated,
                started,
                1,
            )
        except CwproError as exc:
            if retries == 0:
                raise
            first_failure = exc
        attempts = 1

        async def attempt() -> APIResponse:
            nonlocal attempts
            attempts += 1
            return await self._attempt(
                method,
                url,
                params,
                json,
                body_factory,
                headers,
                client_timeout,
                authenticated,
                started,
                attempts,
            )

        spent = time.monotonic() - started
        return await self._retry_after(first_failure, spent, attempt, method, idempotent, retries)

    async def _retry_after(
        self,
        first_failure: CwproError,
        spent: float,
        attempt: Callable[[], Awaitable[APIResponse]],
        method: str,
        idempotent: bool | None,
        retries: int,
    ) -> APIResponse:
        """Retry a failed request with backoff; ``first_failure`` counts as its first try."""
        policy = self.retry_policy
        replayed = False

        def giveup(exc: Exception) -> bool:
            return not policy.is_retryable(exc, method, idempotent)

        @backoff.on_exception(
            policy.wait_gen,
            CwproError,
            max_tries=retries + 1,
            max_time=policy.max_elapsed - spent,
            giveup=giveup,
            jitter=None,
            on_backoff=self._log_backoff,
            logger=None,
        )
        async def run() -> APIResponse:
            nonlocal replayed
            if not replayed:
                replayed = True
                raise first_failure
            return await attempt()

        result: APIResponse = await run()
        return result

    def _log_backoff(self, details: Any) -> None:
        self.retry_count += 1
        exc = details.get("exception")
        logger.debug(
            "retrying after %s (try %d failed); waiting %.2f s",
            self.redact(str(exc))[:300] if exc is not None else "failure",
            details.get("tries", 0),
            details.get("wait", 0.0),
        )

    async def _attempt(
        self,
        method: str,
        url: URL,
        params: QueryParams | None,
        json_body: Any,
        body_factory: Callable[[], Any] | None,
        extra_headers: Mapping[str, str] | None,
        client_timeout: aiohttp.ClientTimeout,
        authenticated: bool,
        started: float,
        attempt_no: int,
    ) -> APIResponse:
        replayed = False
        while True:
            token: str | None = None
            headers: dict[str, str] = dict(extra_headers) if extra_headers else {}
            if authenticated:
                token = await self.auth.get_token()
                headers["Authorization"] = f"Bearer {token}"
            try:
                return await self._send_once(
                    method,
                    url,
                    params,
                    json_body,
                    body_factory,
                    headers,
                    client_timeout,
                    authenticated,
                    started,
                    attempt_no,
                )
            except APIConnectionError as exc:
                # Made from aiohttp's exception, whose repr holds the request's headers (the
                # bearer token): drop it from the chain (``from None`` only hides it).
                exc.__context__ = None
                raise
            except AuthenticationError:
                if (
                    not authenticated
                    or replayed
                    or token is None
                    or not self.auth.invalidate(token)
                ):
                    raise
                replayed = True
                logger.debug(
                    "401 from %s %s: refreshing the token and replaying once", method, url.path
                )

    async def _send_once(
        self,
        method: str,
        url: URL,
        params: QueryParams | None,
        json_body: Any,
        body_factory: Callable[[], Any] | None,
        headers: dict[str, str],
        client_timeout: aiohttp.ClientTimeout,
        authenticated: bool,
        started: float,
        attempt_no: int,
    ) -> APIResponse:
        session = self._get_session()
        shown_url = str(url.with_query(None)) if params else str(url)
        data = body_factory() if body_factory is not None else None
        try:
            async with session.request(
                method,
                url,
                params=params,
                json=json_body,
                data=data,
                headers=headers,
                timeout=client_timeout,
            ) as resp:
                body = await resp.read()
                status = resp.status
                resp_headers = resp.headers
        except (asyncio.TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise self._connection_error(exc, method, shown_url) from None

        redact = self.redact if authenticated else _redact_all
        if status >= 400:
            payload: Any = None
            if body:
                try:
                    payload = decode_json(
                        body, status=status, method=method, url=shown_url, redact=redact
                    )
                except CwproError:
                    payload = None
            raise build_status_error(
                status,
                payload,
                http_status=status,
                method=method,
                url=shown_url,
                body=body,
                headers=resp_headers,
                redact=redact,
            )
        payload = decode_json(body, status=status, method=method, url=shown_url, redact=redact)
        checked = unwrap(
            payload,
            http_status=status,
            method=method,
            url=shown_url,
            body=body,
            headers=resp_headers,
            redact=redact,
        )
        return APIResponse(
            status=status,
            headers=resp_headers,
            payload=checked,
            method=method,
            url=shown_url,
            elapsed=time.monotonic() - started,
            attempts=attempt_no,
        )

    def _connection_error(self, exc: BaseException, method: str, url: str) -> CwproError:
        """The SDK's error for a request that produced no complete HTTP response.

        Server-sent text can reach these messages (a bad status line, say): it is redacted.
        """
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

    async def _fetch_token(self, body: dict[str, str]) -> Any:
        try:
            response = await self.request(
                "POST", _wire.TOKEN_PATH, json=body, authenticated=False, idempotent=True
            )
        except APIStatusError as exc:
            if exc.status in (400, 401, 403):
                raise AuthenticationError(
                    "the API refused the client credentials",
                    status=exc.status,
                    http_status=exc.http_status,
                    code=exc.code,
                    method=exc.method,
                    url=exc.url,
                ) from None
            raise
        return response.data


def _redact_all(text: str) -> str:
    """Token-endpoint answers may hold a token: never quote them."""
    return _REDACTED if text else text
