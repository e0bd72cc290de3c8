"""Bearer tokens: a static token, or client credentials exchanged at ``POST /auth/token``.

:class:`ClientCredentialsAuth` keeps one token for the whole client:

* it refreshes a little before ``expires_in`` runs out (``refresh_margin``), so requests rarely
  meet an expired token;
* **one refresh in flight**: callers that need a token while a refresh runs wait for that
  refresh (an ``asyncio.Lock`` plus a re-check), so 100 concurrent requests after expiry cause
  exactly one token request;
* after a 401 the transport calls :meth:`invalidate` with the token it used; only if that token
  is still the current one is it dropped, so a burst of 401s causes one refresh, not one each.

The token exchange goes through the transport's plain (unauthenticated) request path, with the
same retries and error mapping as every other call.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from . import _wire
from ._errors import AuthenticationError, CwproError

__all__ = ["AuthProvider", "ClientCredentialsAuth", "StaticTokenAuth"]

logger = logging.getLogger("cwpro.auth")

#: Fetches the token response's ``data`` given the request body (provided by the transport).
TokenFetcher = Callable[[dict[str, str]], Awaitable[Any]]


class AuthProvider(Protocol):
    """Something that hands out bearer tokens."""

    async def get_token(self) -> str:
        """A token valid now (fetching or refreshing it if needed)."""
        ...

    def invalidate(self, token: str) -> bool:
        """Forget ``token`` after the server refused it; True if a refresh can help."""
        ...


class StaticTokenAuth:
    """A token the caller got elsewhere; it cannot be refreshed."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def get_token(self) -> str:
        """The static token."""
        return self._token

    def invalidate(self, token: str) -> bool:
        """A static token cannot be refreshed: the 401 is final."""
        return False

    def __repr__(self) -> str:
        return "StaticTokenAuth(token=<redacted>)"


class ClientCredentialsAuth:
    """Client-credentials token manager with single-flight refresh."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        fetch: TokenFetcher,
        *,
        refresh_margin: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._fetch = fetch
        self._refresh_margin = refresh_margin
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock: asyncio.Lock | None = None
        #: How many token requests this manager has made (for tests and metrics).
        self.refresh_count = 0

    def __repr__(self) -> str:
        return f"ClientCredentialsAuth(client_id={self._client_id!r}, client_secret=<redacted>)"

    def _valid(self) -> str | None:
        if self._token is not None and self._clock() < self._expires_at:
            return self._token
        return None

    async def get_token(self) -> str:
        """A valid token; at most one refresh runs at a time whatever the number of callers."""
        token = self._valid()
        if token is not None:
            return token
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            token = self._valid()
            if token is None:
                token = await self._refresh()
            return token

    def invalidate(self, token: str) -> bool:
        """Drop ``token`` if it is still current (after a 401); True: a refresh may help."""
        if self._token == token:
            self._token = None
            self._expires_at = 0.0
        return True

    async def _refresh(self) -> str:
        self.refresh_count += 1
        id_field, secret_field = _wire.TOKEN_REQUEST_FIELDS
        logger.debug("requesting a bearer token for client_id=%s", self._client_id)
        data = await self._fetch({id_field: self._client_id, secret_field: self._client_secret})
        token, lifetime = _parse_token_data(data)
        margin = min(self._refresh_margin, lifetime / 10)
        self._token = token
        self._expires_at = self._clock() + max(0.0, lifetime - margin)
        logger.debug(
            "got a bearer token valid for %.0f s (refresh %d)", lifetime, self.refresh_count
        )
        return token


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
        raise CwproError("the token response has an invalid expires_in") from None
    if not lifetime > 0:
        lifetime = _wire.DEFAULT_TOKEN_LIFETIME
    return token, lifetime
