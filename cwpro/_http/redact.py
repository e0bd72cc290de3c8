"""Redaction: every secret a client has held is replaced by ``<redacted>`` wherever text leaves.

One :class:`Redactor` per client knows the client secret, the API key, a static token and
every bearer token the client has been handed (the last :data:`TOKENS_REMEMBERED`, so a
request still in flight with a rotated token is redacted too). Error messages, body excerpts,
kept headers and log lines pass through it before anybody can see them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

__all__ = ["REDACTED", "TOKENS_REMEMBERED", "Redactor", "redact_all"]

REDACTED = "<redacted>"
#: How many past bearer tokens are remembered for redaction (bounded memory).
TOKENS_REMEMBERED = 16


class Redactor:
    """Replaces known secrets in text; learns each new bearer token as the client gets it."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._fixed = tuple(s for s in secrets if s)
        self._tokens: deque[str] = deque(maxlen=TOKENS_REMEMBERED)

    def remember(self, token: str) -> None:
        """Add a bearer token to redact from now on (the oldest is forgotten past the bound)."""
        if token and token not in self._tokens:
            self._tokens.append(token)

    def __call__(self, text: str) -> str:
        """``text`` with every known secret replaced by ``<redacted>``."""
        if not text:
            return text
        for secret in (*self._fixed, *self._tokens):
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def __repr__(self) -> str:
        return f"<Redactor: {len(self._fixed)} secrets, {len(self._tokens)} tokens>"


def redact_all(text: str) -> str:
    """For answers that may hold a credential (the token endpoint's): never quote them."""
    return REDACTED if text else text
