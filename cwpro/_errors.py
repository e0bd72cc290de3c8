"""The exception hierarchy: every failure the SDK reports is a :class:`CwproError`.

```
CwproError
├── ConfigurationError            bad or missing settings (also a ValueError)
├── InvalidArgumentError          a bad argument to an SDK call (also a ValueError)
├── APIConnectionError            the request never produced an HTTP response
│   ├── ConnectFailed             ... the connection could not be opened (nothing was sent)
│   ├── TLSVerificationFailed     ... the server's certificate did not verify (never retried)
│   └── APITimeoutError           ... because a timeout ran out
├── APIDecodeError                a complete response whose body is not the JSON we expect
├── ResponseTooLargeError         an answer larger than ``max_response_bytes``
├── ModelError                    a payload that does not fit its model (also a ValueError)
├── PaginationError               a walk that cannot continue (cursor cycle, missing cursor)
├── APIStatusError                the API answered with an error
│   ├── BadRequestError           HTTP 400, or HTTP 200 whose envelope says ``"code": 400``
│   ├── AuthenticationError       401
│   ├── PermissionDeniedError     403
│   ├── NotFoundError             404
│   ├── UnprocessableEntityError  422
│   ├── RedirectError             3xx the SDK will not follow (``location`` says where)
│   ├── RateLimitError            429 (``retry_after`` in seconds when the server said)
│   └── InternalServerError       5xx
└── WebhookError
    ├── WebhookPayloadError       a webhook body that is not a valid notification
    └── WebhookInboxError         the webhook inbox could not store or read events
```

Every error may carry ``resume_cursor``: set by the paginators when an export stops on an error,
it is the cursor to pass back (``list(cursor=...)``) to continue with no gap and no repeat.

Messages and ``repr`` never contain credentials: body excerpts are redacted by the transport
before an error is built, and request headers are never stored on an error.

Every error pickles with its attributes (and notes), so it can cross a process boundary (a
``multiprocessing`` worker, a task queue) as the same class.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "APIConnectionError",
    "APIDecodeError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConnectFailed",
    "CwproError",
    "InternalServerError",
    "InvalidArgumentError",
    "ModelError",
    "NotFoundError",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimitError",
    "RedirectError",
    "ResponseTooLargeError",
    "TLSVerificationFailed",
    "UnprocessableEntityError",
    "WebhookError",
    "WebhookInboxError",
    "WebhookPayloadError",
]

#: How many characters of a response body an error keeps.
BODY_EXCERPT_CHARS = 500


def excerpt(body: bytes | str | None, limit: int = BODY_EXCERPT_CHARS) -> str:
    """A short, printable excerpt of a response body (decoded leniently, cut at ``limit``)."""
    if body is None:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    if len(text) > limit:
        return text[:limit] + f"... [{len(text) - limit} more characters]"
    return text


class CwproError(Exception):
    """Base class of every exception raised by cwpro."""

    #: Where a paginated export can resume after this error (``None`` if not from a paginator).
    resume_cursor: str | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception's own reduce calls ``cls(*args)``, which fails for the classes whose
        # constructors take required keywords (``status=``...): rebuild without __init__.
        return _rebuild, (type(self), self.args, self.__dict__)


def _rebuild(cls: type[CwproError], args: tuple[Any, ...], state: dict[str, Any]) -> CwproError:
    """An unpickled :class:`CwproError`: its class, ``args`` and attributes as they were."""
    error = cls.__new__(cls, *args)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class ConfigurationError(CwproError, ValueError):
    """Settings are missing or inconsistent (no credentials, unknown environment, ...)."""


class InvalidArgumentError(CwproError, ValueError):
    """An argument given to an SDK call is invalid; nothing was sent."""


class ModelError(CwproError, ValueError):
    """A payload could not be turned into a model (wrong type, bad date, not an object...)."""


class APIConnectionError(CwproError):
    """The request did not produce an HTTP response (DNS, refused, reset, TLS, ...)."""

    def __init__(self, message: str, *, method: str = "", url: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.url = url

    def __str__(self) -> str:
        where = f" ({self.method} {self.url})" if self.method else ""
        return f"{self.message}{where}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, method={self.method!r}, url={self.url!r})"


class APITimeoutError(APIConnectionError):
    """A connect, read or total timeout ran out before the response was complete."""


class ConnectFailed(APIConnectionError):
    """The connection could not be opened: the request was never sent (safe to retry)."""


class TLSVerificationFailed(APIConnectionError):
    """The server's certificate did not verify: retrying cannot help, so it is never retried."""


class APIDecodeError(CwproError):
    """A complete answer whose body is not the JSON the API promises (HTML page, NaN, no data).

    Never retried: a complete answer means the server did the work. ``headers`` are the
    response's (redacted); ``content`` the raw body when it quotes no credential.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        body_excerpt: str = "",
        method: str = "",
        url: str = "",
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body_excerpt = body_excerpt
        self.method = method
        self.url = url
        self.headers = headers or {}
        self.content = content

    @property
    def request_id(self) -> str | None:
        """The server's request id header, when it sent one."""
        return request_id_of(self.headers)

    def __str__(self) -> str:
        return (
            f"{self.message} (HTTP {self.status}, {self.method} {self.url}): {self.body_excerpt!r}"
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, status={self.status}, "
            f"method={self.method!r}, url={self.url!r})"
        )


class APIStatusError(CwproError):
    """The API answered with an error status (HTTP status or the envelope's ``code``).

    Attributes:
        status: the error status: the HTTP status, or the envelope's ``code`` (400) when the
            HTTP status was 200.
        http_status: the HTTP status line's code (200 for the HTTP-200-with-code-400 envelope).
        code: the API's error code (``"WO_0005"``), when it gave one.
        reason: the envelope's ``reason``.
        message: a human-readable message (the API's, or a default for the status).
        detail: the API's ``error.detail``.
        method, url: the request that failed (the URL never holds credentials).
        body_excerpt: the start of the response body, redacted.
        body: the decoded JSON body, when it was JSON.
        headers: the response headers (never the request's).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        http_status: int | None = None,
        code: str | None = None,
        reason: str = "",
        detail: str = "",
        method: str = "",
        url: str = "",
        body_excerpt: str = "",
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.http_status = status if http_status is None else http_status
        self.code = code
        self.reason = reason
        self.detail = detail
        self.method = method
        self.url = url
        self.body_excerpt = body_excerpt
        self.body = body
        self.headers = headers or {}

    def __str__(self) -> str:
        code = f" [{self.code}]" if self.code else ""
        detail = f" - {self.detail}" if self.detail else ""
        return f"{self.status}{code}: {self.message}{detail} ({self.method} {self.url})"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status}, code={self.code!r}, "
            f"message={self.message!r}, method={self.method!r}, url={self.url!r})"
        )

    @property
    def request_id(self) -> str | None:
        """The server's request id header, when it sent one."""
        return request_id_of(self.headers)


class RedirectError(APIStatusError):
    """The API answered with a redirect the SDK refuses to follow (another origin, or a body
    that would be re-sent). ``location`` names where it pointed."""

    location: str = ""


class ResponseTooLargeError(CwproError):
    """An answer grew past ``max_response_bytes`` (decompressed); reading was stopped."""

    def __init__(self, message: str, *, status: int, limit: int, method: str = "", url: str = ""):
        super().__init__(message)
        self.message = message
        self.status = status
        self.limit = limit
        self.method = method
        self.url = url

    def __str__(self) -> str:
        return f"{self.message} (HTTP {self.status}, {self.method} {self.url})"


class BadRequestError(APIStatusError):
    """HTTP 400, or the CWP envelope with ``"code": 400`` inside an HTTP 200 (e.g. ``WO_0005``)."""


class AuthenticationError(APIStatusError):
    """401: no token, an expired token, or bad client credentials (raised after one refresh)."""


class PermissionDeniedError(APIStatusError):
    """403: the token lacks permission for this call (never retried)."""


class NotFoundError(APIStatusError):
    """404: the object does not exist (also webhook notifications older than 3 months)."""


class UnprocessableEntityError(APIStatusError):
    """422: the request's Content-Type or body was not accepted."""


class RateLimitError(APIStatusError):
    """429: too many requests. ``retry_after`` holds the server's hint in seconds, if any."""

    retry_after: float | None = None


class InternalServerError(APIStatusError):
    """5xx: the server failed (retried for idempotent calls before this is raised)."""


class PaginationError(CwproError):
    """The API's pagination cannot be followed (e.g. a next cursor that does not advance)."""


class WebhookError(CwproError):
    """Base class of errors raised while receiving webhooks."""


class WebhookPayloadError(WebhookError, ValueError):
    """A webhook request body is not a valid CWP notification (bad JSON, missing fields...)."""


class WebhookInboxError(WebhookError):
    """The webhook inbox could not store or read events (disk full, locked or corrupt file...).

    The receiver answers 503 to the delivery, so CWP delivers the event again later.
    """


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


#: Response headers that may carry the server's request id, tried in order.
REQUEST_ID_HEADERS = ("x-request-id", "x-correlation-id", "request-id", "x-amzn-requestid")


def request_id_of(headers: Mapping[str, str]) -> str | None:
    """The server's request id from ``headers`` (any letter case), if it sent one."""
    lowered = {k.lower(): v for k, v in headers.items()}
    for name in REQUEST_ID_HEADERS:
        if lowered.get(name):
            return lowered[name]
    return None


def status_error_class(status: int) -> type[APIStatusError]:
    """The exception class for an error status (5xx -> InternalServerError)."""
    if status >= 500:
        return InternalServerError
    return _STATUS_CLASSES.get(status, APIStatusError)
