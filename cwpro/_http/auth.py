"""Bearer tokens: a static token, or client credentials exchanged at ``POST /auth/token``.

:class:`ClientCredentialsAuth` keeps one token for the whole client:

* it refreshes a little before ``expires_in`` runs out (``refresh_margin``);
* **one refresh in flight, one outcome for all**: every caller that needs a token while a
  refresh runs awaits that same refresh (each within its own call's timeout), and when it fails
  they all fail with its error, together;
* **a short negative cache**: after a failed refresh, callers fail at once with that error for
  ``failure_ttl`` seconds, so a broken token endpoint gets at most one request per backoff step
  instead of one per caller and retry;
* the token request is a single exchange (no retries of its own): the retry loop of the call
  that needed the token decides, with that call's limits, so retries are never nested;
* after a 401 the transport calls :meth:`invalidate` with the token it used; only if that token
  is still current is it dropped, so a burst of 401s causes one refresh.

Every token it is handed is given to the client's redactor before anybody uses it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from .. import _wire
from .._errors import AuthenticationError, CwproError

__all__ = ["AuthProvider", "ClientCredentialsAuth", "StaticTokenAuth"]

logger = logging.getLogger("cwpro.auth")

#: Sends the token request (body, timeout of the calling request) and returns its ``data``.
TokenFetcher = Callable[[dict[str, str], Any], Awaitable[Any]]


class AuthProvider(Protocol):
    """Something that hands out bearer tokens."""

    def cached(self) -> str | None:
        """A token valid now, if one is at hand without waiting."""
        ...

    async def get_token(self, timeout: Any = None) -> str:
        """A token valid now (fetching it if needed, within ``timeout``)."""
        ...

    def invalidate(self, token: str) -> bool:
        """Forget ``token`` after the server refused it; True if a refresh can help."""
        ...


class StaticTokenAuth:
    """A token the caller got elsewhere; it cannot be refreshed."""

    def __init__(self, token: str) -> None:
        self._token = token

    def cached(self) -> str | None:
        """The static token."""
        return self._token

    async def get_token(self, timeout: Any = None) -> str:
        """The static token."""
        return self._token

    def invalidate(self, token: str) -> bool:
        """A static token cannot be refreshed: the 401 is final."""
        return False

    def __repr__(self) -> str:
        return "StaticTokenAuth(token=<redacted>)"


class ClientCredentialsAuth:
    """Client-credentials token manager: single-flight refresh with a shared outcome."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        fetch: TokenFetcher,
        *,
        remember: Callable[[str], None] = lambda token: None,
        refresh_margin: float = 60.0,
        failure_ttl: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._fetch = fetch
        self._remember = remember
        self._refresh_margin = refresh_margin
        self._failure_ttl = failure_ttl
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._refreshing: asyncio.Future[str] | None = None
        self._failure: BaseException | None = None
        self._failure_until = 0.0
        #: How many token requests this manager has made (for tests and metrics).
        self.refresh_count = 0

    def __repr__(self) -> str:
        return f"ClientCredentialsAuth(client_id={self._client_id!r}, client_secret=<redacted>)"

    def cached(self) -> str | None:
        """The current token if it is still valid."""
        if self._token is not None and self._clock() < self._expires_at:
            return self._token
        return None

    async def get_token(self, timeout: Any = None) -> str:
        """A valid token; at most one refresh runs at a time, whatever the number of callers."""
        token = self.cached()
        if token is not None:
            return token
        if self._failure is not None and self._clock() < self._failure_until:
            raise _fresh(self._failure)
        refreshing = self._refreshing
        if refreshing is None or refreshing.done():
            refreshing = asyncio.get_running_loop().create_task(self._refresh(timeout))
            refreshing.add_done_callback(_retrieve_outcome)
            self._refreshing = refreshing
        # shield: one caller giving up (its timeout, a cancel) does not cancel the refresh the
        # others wait for; each waits within its own call's limits (the fetch has a timeout).
        return await asyncio.shield(refreshing)

    def invalidate(self, token: str) -> bool:
        """Drop ``token`` if it is still current (after a 401); True: a refresh may help."""
        if self._token == token:
            self._token = None
            self._expires_at = 0.0
        return True

    async def _refresh(self, timeout: Any) -> str:
        self.refresh_count += 1
        id_field, secret_field = _wire.TOKEN_REQUEST_FIELDS
        logger.debug("requesting a bearer token for client_id=%s", self._client_id)
        try:
            data = await self._fetch(
                {id_field: self._client_id, secret_field: self._client_secret}, timeout
            )
            token, lifetime = _parse_token_data(data)
        except BaseException as exc:
            if isinstance(exc, CwproError):
                self._failure = exc
                self._failure_until = self._clock() + self._failure_ttl
            raise
        self._remember(token)
        self._failure = None
        margin = min(self._refresh_margin, lifetime / 10)
        self._token = token
        self._expires_at = self._clock() + max(0.0, lifetime - margin)
        logger.debug(
            "got a bearer token valid for %.0f s (refresh %d)", lifetime, self.refresh_count
        )
        return token


def _fresh(error: BaseException) -> BaseException:
    """A copy of a cached failure, so each caller raises its own exception object."""
    clone = BaseException.__new__(type(error))
    clone.__dict__.update(error.__dict__)
    clone.args = error.args
    return clone


def _retrieve_outcome(task: asyncio.Future[str]) -> None:
    # Every waiter may have given up (timeouts, cancels): the outcome is still "retrieved", so
    # asyncio does not log a never-retrieved exception for a failure the callers already saw.
    if not task.cancelled():
        task.exception()


def _parse_token_data(data: Any) -> tuple[str, float]:
    if not isinstance(data, dict):
        raise AuthenticationError(
            "the token response has no token object", status=200, http_status=200
        )
    token = next(
        (data[f] for f in _wire.TOKEN_RESPONSE_FIELDS if isinstance(data.get(f), str) and data[f]),
        None,
    )
    if token is None:
        raise AuthenticationError("the token response has no access_token", status=200)
    if not (token.isascii() and token.isprintable()) or " " in token:
        # It goes into the Authorization header: control characters there are refused by
        # aiohttp (a bare ValueError) and could split the header.
        raise AuthenticationError(
            "the token response's access_token is not a printable ASCII token", status=200
        )
    raw_lifetime = data.get("expires_in", _wire.DEFAULT_TOKEN_LIFETIME)
    try:
        lifetime = float(raw_lifetime)
    except (TypeError, ValueError):
        raise AuthenticationError(
            "the token response has an invalid expires_in", status=200
        ) from None
    if not lifetime > 0 or lifetime != lifetime or lifetime == float("inf"):
        lifetime = _wire.DEFAULT_TOKEN_LIFETIME
    return token, lifetime
