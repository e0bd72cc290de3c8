"""Client credentials and bearer tokens of the emulator (``POST /auth/token``)."""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import threading

from aiohttp import web

from cwpro.emulator.clock import EmulatorClock


class TokenStore:
    """Issues opaque bearer tokens and checks them against the emulator clock."""

    def __init__(
        self, *, client_id: str, client_secret: str, clock: EmulatorClock, lifetime: float
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.lifetime = lifetime
        self._clock = clock
        self._tokens: dict[str, dt.datetime] = {}
        self._lock = threading.Lock()
        self.issued = 0

    def credentials_match(self, client_id: object, client_secret: object) -> bool:
        """Constant-time check of a client id/secret pair."""
        if not isinstance(client_id, str) or not isinstance(client_secret, str):
            return False
        id_ok = hmac.compare_digest(client_id.encode(), self.client_id.encode())
        secret_ok = hmac.compare_digest(client_secret.encode(), self.client_secret.encode())
        return id_ok and secret_ok

    def issue(self) -> tuple[str, int]:
        """A new token and its lifetime in whole seconds."""
        token = "cwpe_" + secrets.token_urlsafe(32)
        now = self._clock.now()
        with self._lock:
            self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now}
            self._tokens[token] = now + dt.timedelta(seconds=self.lifetime)
            self.issued += 1
        return token, int(self.lifetime)

    def is_valid(self, token: str) -> bool:
        """True when ``token`` was issued and has not expired."""
        with self._lock:
            expiry = self._tokens.get(token)
        return expiry is not None and expiry > self._clock.now()

    def expire_all(self) -> None:
        """Invalidate every issued token."""
        with self._lock:
            self._tokens.clear()


def bearer_token(request: web.BaseRequest) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
