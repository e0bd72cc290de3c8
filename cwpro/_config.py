"""Client settings, declared once: :class:`ClientConfig` (defaults and checks) and the keywords
:class:`ClientSettings` that ``AsyncClient(...)``/``cwpro_sync.Client(...)`` accept.

:func:`resolve_config` fills what was not given in code from ``CWPRO_*`` environment
variables, picks the base URL, and builds the frozen config (whose validators check every
value). ``tests/test_config.py`` checks that the keywords and the config's fields agree.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, TypedDict

import attrs

from . import _wire
from ._errors import ConfigurationError
from ._validate import integer, seconds

if TYPE_CHECKING:
    import aiohttp

__all__ = ["NOT_GIVEN", "ClientConfig", "ClientSettings", "NotGiven", "Timeout", "resolve_config"]


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


@attrs.frozen
class Timeout:
    """Timeouts in seconds. ``total`` bounds a whole attempt; ``None`` disables that part.

    ``read`` (the longest pause between two reads) is off by default: ``total`` already bounds
    every attempt, and a per-read timer costs about 5% of a call's CPU. Retries are bounded
    separately (``max_retries`` and ``max_retry_time``).
    """

    total: float | None = 60.0
    connect: float | None = 10.0
    read: float | None = None

    @classmethod
    def coerce(cls, value: float | Timeout | None) -> Timeout:
        """Accept a number (the total), a Timeout, or None (no timeout at all)."""
        if isinstance(value, Timeout):
            return value
        if value is None:
            return cls(total=None, connect=None, read=None)
        total = seconds("timeout", value, positive=True, error=ConfigurationError)
        return cls(total=total, connect=min(10.0, total), read=None)


def _seconds(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    seconds(attribute.name, value, error=ConfigurationError)


def _count(minimum: int) -> Any:
    def check(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        integer(attribute.name, value, minimum=minimum, error=ConfigurationError)

    return check


def _optional_rate(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        seconds(attribute.name, value, positive=True, error=ConfigurationError)


def _flag(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{attribute.name} must be True or False, got {value!r}")


@attrs.frozen
class ClientConfig:
    """Everything a client needs, resolved once. Secrets are left out of ``repr``."""

    base_url: str
    client_id: str | None = None
    client_secret: str | None = attrs.field(default=None, repr=False)
    token: str | None = attrs.field(default=None, repr=False)
    api_key: str | None = attrs.field(default=None, repr=False)
    timeout: Timeout = Timeout()
    max_retries: int = attrs.field(default=3, validator=_count(0))
    #: Seconds a call may spend retrying in all (its attempts included).
    max_retry_time: float = attrs.field(default=120.0, validator=_seconds)
    #: Largest ``Retry-After`` we are willing to wait, in seconds.
    max_retry_after: float = attrs.field(default=60.0, validator=_seconds)
    #: First backoff ceiling and its cap, in seconds (full jitter below the ceiling).
    retry_backoff_base: float = attrs.field(default=0.5, validator=_seconds)
    retry_backoff_max: float = attrs.field(default=8.0, validator=_seconds)
    max_connections: int = attrs.field(default=64, validator=_count(1))
    max_connections_per_host: int = attrs.field(default=0, validator=_count(0))
    #: Seconds an idle pooled connection is kept. Below the ~5 s after which some servers close
    #: idle connections, so a pooled connection is rarely found dead.
    keepalive_timeout: float = attrs.field(default=4.0, validator=_seconds)
    verify_ssl: bool = attrs.field(default=True, validator=_flag)
    #: The largest answer read, in bytes, after decompression (32 MiB).
    max_response_bytes: int = attrs.field(default=32 * 1024 * 1024, validator=_count(1024))
    #: Use the proxy the environment names (``HTTP(S)_PROXY``, ``NO_PROXY``), read once per
    #: session.
    trust_env: bool = attrs.field(default=True, validator=_flag)
    proxy: str | None = None
    #: A static cap on requests per second (None: no cap).
    max_rate: float | None = attrs.field(default=None, validator=_optional_rate)
    #: Slow down after a 429 and probe back up (the client-side throttle).
    adaptive_rate: bool = attrs.field(default=True, validator=_flag)
    user_agent: str = "cwpro-python"
    default_headers: Mapping[str, str] = attrs.field(factory=dict)
    #: A session or connector of the caller's (never closed by the client).
    session: aiohttp.ClientSession | None = attrs.field(default=None, repr=False)
    connector: aiohttp.BaseConnector | None = attrs.field(default=None, repr=False)

    def secrets(self) -> tuple[str, ...]:
        """The secret values this config holds (for redaction)."""
        return tuple(s for s in (self.client_secret, self.token, self.api_key) if s)


class ClientSettings(TypedDict, total=False):
    """The keyword settings of ``AsyncClient(...)`` (all optional; see its docstring)."""

    token: str | None
    api_key: str | None
    base_url: str | None
    environment: str | None
    timeout: float | Timeout | None
    max_retries: int
    max_retry_time: float
    max_retry_after: float
    retry_backoff_base: float
    retry_backoff_max: float
    max_connections: int
    max_connections_per_host: int
    keepalive_timeout: float
    verify_ssl: bool
    insecure_skip_verify: bool
    max_response_bytes: int
    trust_env: bool
    proxy: str | None
    max_rate: float | None
    adaptive_rate: bool
    user_agent: str
    default_headers: Mapping[str, str] | None
    session: aiohttp.ClientSession | None
    connector: aiohttp.BaseConnector | None


#: Settings that are not fields of :class:`ClientConfig` (they choose or check others).
_RESOLVED_ONLY = frozenset({"environment", "insecure_skip_verify"})


def _header_safe(value: str) -> bool:
    """True when ``value`` can go into an HTTP header as-is (printable ASCII, no spaces)."""
    return value.isascii() and value.isprintable() and not any(c.isspace() for c in value)


def _env(name: str, environ: Mapping[str, str]) -> str | None:
    value = environ.get(name)
    return value if value else None


def resolve_config(
    client_id: str | None,
    client_secret: str | None,
    settings: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
) -> ClientConfig:
    """Fill what was not given in code from ``CWPRO_*`` environment variables, then validate."""
    unknown = set(settings) - set(ClientSettings.__annotations__)
    if unknown:
        raise ConfigurationError(f"unknown client setting(s): {', '.join(sorted(unknown))}")
    env = os.environ if environ is None else environ
    given = {k: v for k, v in settings.items() if v is not None or k in ("proxy", "max_rate")}
    client_id = client_id or _env(_wire.ENV_CLIENT_ID, env)
    client_secret = client_secret or _env(_wire.ENV_CLIENT_SECRET, env)
    token = given.pop("token", None) or _env(_wire.ENV_TOKEN, env)
    api_key = given.pop("api_key", None) or _env(_wire.ENV_API_KEY, env)
    base_url = given.pop("base_url", None) or _env(_wire.ENV_BASE_URL, env)
    environment = given.pop("environment", None)
    if base_url is None:
        name = environment or _env(_wire.ENV_ENVIRONMENT, env) or _wire.DEFAULT_ENVIRONMENT
        if name not in _wire.ENVIRONMENTS:
            known = ", ".join(sorted(_wire.ENVIRONMENTS))
            raise ConfigurationError(f"unknown environment {name!r} (known: {known})")
        base_url = _wire.ENVIRONMENTS[name]
    if not isinstance(base_url, str):
        raise ConfigurationError(f"base_url must be a string, got {type(base_url).__name__}")
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
    insecure = given.pop("insecure_skip_verify", False)
    if given.get("verify_ssl") is False and insecure is not True:
        raise ConfigurationError(
            "verify_ssl=False turns off TLS certificate checks; if you really mean it, also "
            "pass insecure_skip_verify=True"
        )
    if "timeout" in settings:
        given["timeout"] = Timeout.coerce(settings["timeout"])
    if given.get("default_headers") is not None:
        given["default_headers"] = dict(given["default_headers"])
    if given.get("session") is not None and given.get("connector") is not None:
        raise ConfigurationError("pass session= or connector=, not both")
    return ClientConfig(
        base_url=base_url,
        client_id=client_id,
        client_secret=client_secret,
        token=token,
        api_key=api_key,
        **given,
    )
