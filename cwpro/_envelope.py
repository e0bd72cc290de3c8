"""Response bodies -> data, or the right exception.

Two envelope styles share one decoder:

* CWP: ``{"code": 200, "reason": "", "data": ..., "success": true}``; business errors come as
  HTTP 200 with ``"code": 400`` and an ``error`` object (``WO_0005``) and must raise.
* Portal links: ``{"success": true, "data": ...}`` / ``{"success": false, "error": "..."}``.

Anything else (an HTML 502 page, truncated JSON, a JSON array where an object belongs) becomes
:class:`~cwpro.APIDecodeError` or :class:`~cwpro.APIStatusError` carrying the status and a short
body excerpt. No ``KeyError``/``JSONDecodeError`` escapes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

from ._errors import (
    APIDecodeError,
    APIStatusError,
    RateLimitError,
    excerpt,
    status_error_class,
)
from ._retry import parse_retry_after

__all__ = ["build_status_error", "decode_json", "unwrap"]

try:  # optional speed-up: ``pip install cwpro[speed]``
    import orjson

    _loads: Callable[[bytes], Any] = orjson.loads
    _DecodeErrors: tuple[type[Exception], ...] = (orjson.JSONDecodeError, UnicodeDecodeError)
except ImportError:  # pragma: no cover - depends on the environment
    _loads = json.loads
    # ValueError covers JSONDecodeError, UnicodeDecodeError and integers over the digit
    # limit; RecursionError is what deeply nested arrays/objects raise.
    _DecodeErrors = (ValueError, RecursionError)


def decode_json(
    body: bytes, *, status: int, method: str, url: str, redact: Callable[[str], str]
) -> Any:
    """Parse a JSON body, or raise :class:`APIDecodeError` with a redacted excerpt."""
    try:
        return _loads(body)
    except _DecodeErrors as exc:
        problem = type(exc).__name__
    # Raised outside the ``except``: the decoder's exception keeps the whole body (``doc``),
    # unredacted (a token response!), and would stay reachable as ``__context__``.
    what = "an empty body" if not body else "a body that is not valid JSON"
    raise APIDecodeError(
        f"the API answered {what} ({problem})",
        status=status,
        body_excerpt=redact(excerpt(body)),
        method=method,
        url=url,
    )


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown status"


def build_status_error(
    status: int,
    payload: Any,
    *,
    http_status: int,
    method: str,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    redact: Callable[[str], str],
) -> APIStatusError:
    """The exception for an error answer, from whatever its body holds (JSON or not)."""
    code: str | None = None
    message = ""
    detail = ""
    reason = ""
    if isinstance(payload, Mapping):
        error = payload.get("error")
        if isinstance(error, Mapping):
            code = _text(error.get("code")) or None
            message = _text(error.get("message"))
            detail = _text(error.get("detail"))
        elif isinstance(error, str):
            message = error
        details = payload.get("details")
        if isinstance(details, list) and details and not detail:
            detail = "; ".join(_text(d) for d in details[:20])
        reason = _text(payload.get("reason"))
        message = message or reason or _text(payload.get("message"))
    message = message or _phrase(status)
    cls = status_error_class(status)
    kept_headers = {k: redact(v) for k, v in headers.items() if k.lower() != "set-cookie"}
    kept_body = payload if isinstance(payload, (Mapping, list)) else None
    if kept_body is not None:
        text = body.decode("utf-8", "replace")
        if redact(text) != text:  # the body quotes a credential: keep only the redacted excerpt
            kept_body = None
    err = cls(
        redact(message),
        status=status,
        http_status=http_status,
        code=code,
        reason=redact(reason),
        detail=redact(detail),
        method=method,
        url=url,
        body_excerpt=redact(excerpt(body)),
        body=kept_body,
        headers=kept_headers,
    )
    if isinstance(err, RateLimitError):
        err.retry_after = parse_retry_after(headers.get("Retry-After"))
    return err


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def unwrap(
    payload: Any,
    *,
    http_status: int,
    method: str,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    redact: Callable[[str], str],
) -> Mapping[str, Any]:
    """Check a 2xx JSON payload of either envelope style; return it, or raise its error."""

    def malformed(problem: str) -> APIDecodeError:
        return APIDecodeError(
            problem,
            status=http_status,
            body_excerpt=redact(excerpt(body)),
            method=method,
            url=url,
        )

    if not isinstance(payload, Mapping):
        raise malformed(f"expected a JSON object envelope, got a JSON {type(payload).__name__}")
    code = payload.get("code")
    if isinstance(code, int) and not isinstance(code, bool) and code >= 400:
        error_status: int | None = code  # CWP: HTTP 200 carrying {"code": 400, "error": {...}}
    elif payload.get("success") is False:
        error_status = 400  # portal links: {"success": false, "error": "..."}
    else:
        error_status = None
    if error_status is not None:
        raise build_status_error(
            error_status,
            payload,
            http_status=http_status,
            method=method,
            url=url,
            body=body,
            headers=headers,
            redact=redact,
        )
    if "data" not in payload:
        raise malformed("the response envelope has no 'data'")
    return payload
