"""Response bodies -> the checked envelope, or the right exception.

Two envelope styles share one decoder:

* CWP: ``{"code": 200, "reason": "", "data": ..., "success": true}``; business errors come as
  HTTP 200 with ``"code": 400`` and an ``error`` object (``WO_0005``) and must raise.
* Portal links: ``{"success": true, "data": ...}`` / ``{"success": false, "error": "..."}``;
  ``data`` may be missing (a DELETE answers ``{"success": true}``).

Anything else (an HTML page, truncated JSON, ``NaN``, a JSON array where an object belongs)
becomes :class:`~cwpro.APIDecodeError` or :class:`~cwpro.APIStatusError` carrying the status
and a short, redacted body excerpt; no ``KeyError``/``JSONDecodeError`` escapes. A decode error
on a complete 2xx answer is final: the server did the work (see :mod:`cwpro._http.retry`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any, cast

import attrs

from .. import _serde, _wire
from .._errors import APIDecodeError, APIStatusError, RateLimitError, excerpt, status_error_class
from .retry import parse_retry_after

__all__ = [
    "Exchange",
    "check_envelope",
    "checked_payload",
    "decode_json",
    "envelope_problem",
    "loads",
    "status_error",
]


#: Strict JSON (``NaN``, ``Infinity`` and numbers beyond a double refused): the one decoder of
#: the SDK, :func:`cwpro._serde.loads` (orjson when installed), bound once (no wrapper call).
loads: Callable[[bytes], Any] = _serde.loads

_DECODE_ERRORS: tuple[type[Exception], ...] = (ValueError, RecursionError)


def checked_payload(body: bytes, *, expect_data: bool) -> Mapping[str, Any] | None:
    """The envelope of a 2xx body that passes every check of :func:`check_envelope`, else None.

    The success path of the transport: no :class:`Exchange` is built for an answer that is
    fine. None means "something is wrong": the caller then runs :func:`decode_json` and
    :func:`check_envelope` on an :class:`Exchange`, which raise the precise error.
    """
    try:
        payload = loads(body)
    except _DECODE_ERRORS:
        return None
    return payload if envelope_problem(payload, expect_data=expect_data) is None else None


@attrs.frozen(slots=True)
class Exchange:
    """A complete HTTP answer as read from the wire: what every check here needs to know."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    method: str
    url: str
    redact: Callable[[str], str]

    def decode_error(self, problem: str) -> APIDecodeError:
        """An :class:`APIDecodeError` for this answer (status, redacted excerpt, headers)."""
        return APIDecodeError(
            problem,
            status=self.status,
            body_excerpt=self.redact(excerpt(self.body)),
            method=self.method,
            url=self.url,
            headers=_kept_headers(self),
            content=self.body if self.redact(_text_of(self.body)) == _text_of(self.body) else None,
        )


def decode_json(exchange: Exchange) -> Any:
    """Parse the body as strict JSON, or raise :class:`APIDecodeError`."""
    try:
        return loads(exchange.body)
    except _DECODE_ERRORS as exc:
        problem = type(exc).__name__
    # Raised outside the ``except``: the decoder's exception keeps the whole body (``doc``),
    # unredacted (a token response!), and would stay reachable as ``__context__``.
    what = "an empty body" if not exchange.body else "a body that is not valid JSON"
    raise exchange.decode_error(f"the API answered {what} ({problem})")


def status_error(exchange: Exchange, status: int, payload: Any) -> APIStatusError:
    """The exception for an error answer, from whatever its body holds (JSON or not)."""
    code: str | None = None
    message = detail = reason = ""
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
    if not detail:
        detail = _header_details(exchange.headers.get(_wire.PORTAL_ERROR_DETAILS_HEADER))
    message = message or _phrase(status)
    redact = exchange.redact
    kept_body = payload if isinstance(payload, (Mapping, list)) else None
    if kept_body is not None:
        text = _text_of(exchange.body)
        if redact(text) != text:  # the body quotes a credential: keep only the redacted excerpt
            kept_body = None
    err = status_error_class(status)(
        redact(message),
        status=status,
        http_status=exchange.status,
        code=code,
        reason=redact(reason),
        detail=redact(detail),
        method=exchange.method,
        url=exchange.url,
        body_excerpt=redact(excerpt(exchange.body)),
        body=kept_body,
        headers=_kept_headers(exchange),
    )
    if isinstance(err, RateLimitError):
        err.retry_after = parse_retry_after(exchange.headers.get("Retry-After"))
    return err


def check_envelope(exchange: Exchange, payload: Any, *, expect_data: bool) -> Mapping[str, Any]:
    """Check a 2xx JSON payload of either envelope style; return it, or raise its error."""
    problem = envelope_problem(payload, expect_data=expect_data)
    if problem is None:
        return cast("Mapping[str, Any]", payload)
    if problem == "not an object":
        raise exchange.decode_error(
            f"expected a JSON object envelope, got a JSON {type(payload).__name__}"
        )
    if problem == "error code":  # CWP: HTTP 200 carrying {"code": 400, ...}
        raise status_error(exchange, payload["code"], payload)
    if problem == "success false":  # portal links: {"success": false, ...}
        raise status_error(exchange, 400, payload)
    raise exchange.decode_error("the response envelope has no 'data'")


def envelope_problem(payload: Any, *, expect_data: bool) -> str | None:
    """The first rule of the envelope a decoded 2xx payload breaks, or None if it is fine.

    The rules, in order: a JSON object; no ``code`` >= 400 (CWP's errors inside an HTTP 200);
    no ``"success": false`` (portal links); a ``data`` member when the call expects one.
    """
    if type(payload) is not dict and not isinstance(payload, Mapping):
        return "not an object"
    code = payload.get("code")
    if type(code) is int and code >= 400:
        return "error code"
    if payload.get("success") is False:
        return "success false"
    if expect_data and "data" not in payload:
        return "no data"
    return None


def _header_details(value: str | None) -> str:
    """The details a portal-link error carries in its header (a JSON array), joined."""
    if not value:
        return ""
    try:
        items = json.loads(value)
    except ValueError:
        return value[:2000]
    if isinstance(items, list):
        return "; ".join(_text(item) for item in items[:50])
    return _text(items)[:2000]


def _kept_headers(exchange: Exchange) -> dict[str, str]:
    return {k: exchange.redact(v) for k, v in exchange.headers.items() if k.lower() != "set-cookie"}


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown status"


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _text_of(body: bytes) -> str:
    return body.decode("utf-8", "replace")
