"""Client settings: environments, environment variables, timeouts, retries, connection limits."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Final, TypeAlias, TypeVar

import attrs

from . import _wire
from ._errors import ConfigurationError

__all__ = ["NOT_GIVEN", "ClientConfig", "NotGiven", "NotGivenOr", "Timeout", "resolve_config"]

T = TypeVar("T")


class NotGiven:
    """Sentinel type for "argument not given": distinct from ``None``, which can be meaningful.

    ``timeout=None`` means "no timeout, I really mean it"; leaving ``timeout`` out
    (``NOT_GIVEN``) means "use the client's default". So no call runs without a timeout unless
    the caller asked for that explicitly.
    """

    _instance: NotGiven | None = None

    def __new__(cls) -> NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __reduce__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Final = NotGiven()
NotGivenOr: TypeAlias = T | NotGiven


@attrs.frozen
class Timeout:
    """Timeouts in seconds. ``total`` bounds a whole attempt; ``None`` disables that part.

    Retries are bounded separately (``max_retries`` and the retry policy's ``max_elapsed``).
    """

    total: float | None = 60.0
    connect: float | None = 10.0
    read: float | None = 30.0

    @classmethod
    def coerce(cls, value: float | Timeout | None) -> Timeout:
        """Accept a number (the total), a Timeout, or None (no timeout at all)."""
        if isinstance(value, Timeout):
            return value
        if value is None:
            return cls(total=None, connect=None, read=None)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ConfigurationError(f"timeout must be a positive number of seconds, got {value!r}")
        seconds = float(value)
        return cls(total=seconds, connect=min(10.0, seconds), read=seconds)


def _check_seconds(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ConfigurationError(f"{name} must be a number of seconds >= 0, got {value!r}")
    return float(value)


def _check_positive_int(name: str, value: int, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigurationError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


@attrs.frozen
class ClientConfig:
    """Everything a client needs, resolved once. Secrets are left out of ``repr``."""

    base_url: str
    client_id: str | None = None
    client_secret: str | None = attrs.field(default=None, repr=False)
    token: str | None = attrs.field(default=None, repr=False)
    api_key: str | None = attrs.field(default=None, repr=False)
    timeout: Timeout = Timeout()
    max_retries: int = 3
    #: Seconds a call may spend retrying in all (its attempts included).
    max_retry_time: float = 120.0
    #: First backoff ceiling and its cap, in seconds (full jitter below the ceiling).
    retry_backoff_base: float = 0.5
    retry_backoff_max: float = 8.0
    #: Largest ``Retry-After`` we are willing to wait, in seconds.
    max_retry_after: float = 60.0
    max_connections: int = 64
    max_connections_per_host: int = 0
    #: Seconds an idle pooled connection is kept. Below the ~5 s after which some servers close
    #: idle connections, so a pooled connection is rarely found dead.
    keepalive_timeout: float = 4.0
    verify_ssl: bool = True
    user_agent: str = "cwpro-python"
    default_headers: Mapping[str, str] = attrs.field(factory=dict)

    def secrets(self) -> tuple[str, ...]:
        """The secret values this config holds (for redaction)."""
        return tuple(s for s in (self.client_secret, self.token, self.api_key) if s)


def _header_safe(value: str) -> bool:
    """True when ``value`` can go into an HTTP header as-is (printable ASCII, no spaces)."""
    return value.isascii() and value.isprintable() and not any(c.isspace() for c in value)


def _env(name: str, environ: Mapping[str, str]) -> str | None:
    value = environ.get(name)
    return value if value else None


def resolve_config(
    *,
    client_id: str | None,
    client_secret: str | None,
    token: str | None,
    api_key: str | None,
    base_url: str | None,
    environment: str | None,
    timeout: float | Timeout | NotGiven | None,
    max_retries: int,
    max_retry_time: float,
    max_retry_after: float,
    retry_backoff_base: float,
    retry_backoff_max: float,
    max_connections: int,
    max_connections_per_host: int,
    keepalive_timeout: float,
    verify_ssl: bool,
    insecure_skip_verify: bool,
    default_headers: Mapping[str, str] | None,
    environ: Mapping[str, str] | None = None,
    **extra: Any,
) -> ClientConfig:
    """Fill what was not given in code from ``CWPRO_*`` environment variables, then validate."""
    env = os.environ if environ is None else environ
    client_id = client_id or _env(_wire.ENV_CLIENT_ID, env)
    client_secret = client_secret or _env(_wire.ENV_CLIENT_SECRET, env)
    token = token or _env(_wire.ENV_TOKEN, env)
    api_key = api_key or _env(_wire.ENV_API_KEY, env)
    base_url = base_url or _env(_wire.ENV_BASE_URL, env)
    if base_url is None:
        name = environment or _env(_wire.ENV_ENVIRONMENT, env) or _wire.DEFAULT_ENVIRONMENT
        if name not in _wire.ENVIRONMENTS:
            known = ", ".join(sorted(_wire.ENVIRONMENTS))
            raise ConfigurationError(f"unknown environment {name!r} (known: {known})")
        base_url = _wire.ENVIRONMENTS[name]
    base_url = base_url.rstrip("/")
    if not base_url.startswith(("http://", "https://")):
        raise ConfigurationError(f"base_url must start with http:// or https://, got {base_url!r}")
    if token is None and not (client_id and client_secret):
        raise ConfigurationError(
            "no credentials: pass client_id and client_secret (or token=...), or set "
            f"{_wire.ENV_CLIENT_ID} and {_wire.ENV_CLIENT_SECRET} (or {_wire.ENV_TOKEN})"
        )
    for name, value in (("token", token), ("api_key", api_key), ("client_id", client_id)):
        if value is not None and not _header_safe(value):
            raise ConfigurationError(
                f"{name} contains whitespace or control characters; check how it was copied"
            )
    if not verify_ssl and not insecure_skip_verify:
        raise ConfigurationError(
            "verify_ssl=False turns off TLS certificate checks; if you really mean it, also "
            "pass insecure_skip_verify=True"
        )
    return ClientConfig(
        base_url=base_url,
        client_id=client_id,
        client_secret=client_secret,
        token=token,
        api_key=api_key,
        timeout=Timeout() if isinstance(timeout, NotGiven) else Timeout.coerce(timeout),
        max_retries=_check_positive_int("max_retries", max_retries),
        max_retry_time=_check_seconds("max_retry_time", max_retry_time),
        max_retry_after=_check_seconds("max_retry_after", max_retry_after),
        retry_backoff_base=_check_seconds("retry_backoff_base", retry_backoff_base),
        retry_backoff_max=_check_seconds("retry_backoff_max", retry_backoff_max),
        max_connections=_check_positive_int("max_connections", max_connections, 1),
        max_connections_per_host=_check_positive_int(
            "max_connections_per_host", max_connections_per_host
        ),
        keepalive_timeout=float(keepalive_timeout),
        verify_ssl=verify_ssl,
        default_headers=dict(default_headers or {}),
        **extra,
    )
