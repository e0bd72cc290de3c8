"""JSON wire helpers of the emulator: encoding, datetimes, ids and the CWP / portal envelopes.

Everything here follows ``notes/wire.md``; the emulator shares nothing but this JSON format with
the SDK, so none of it is imported from the client side.
"""

from __future__ import annotations

import datetime as dt
import functools
import http
import json
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is an optional speed-up
    orjson = None  # type: ignore[assignment]

JSON_CONTENT_TYPE = "application/json"
UTC = dt.timezone.utc
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
PORTAL_PATH_PREFIXES = ("/workorder-portal-link", "/portal/")
PORTAL_DETAILS_HEADER = "X-Error-Details"
"""Where the portal-link API puts the details of a 400/422 (inferred name): a JSON array."""
PORTAL_DETAILS_LIMIT = 4000


def dumps(value: Any) -> bytes:
    """Serialize ``value`` to compact UTF-8 JSON (orjson when installed, else the stdlib)."""
    if orjson is not None:
        try:
            return orjson.dumps(value)
        except TypeError:  # e.g. integers wider than 64 bits sent by a client
            pass
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def loads(raw: bytes | str) -> Any:
    """Parse JSON text; raises ``ValueError`` on malformed input."""
    if orjson is not None:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ValueError(str(exc)) from exc
    return json.loads(raw)


def format_datetime(value: dt.datetime) -> str:
    """Render an aware (or naive = UTC) datetime as ``2024-01-01T00:00:00.000Z``."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


@functools.lru_cache(maxsize=8192)
def _day_prefix(day: int) -> str:
    return (_EPOCH + dt.timedelta(days=day)).strftime("%Y-%m-%dT")


def format_epoch_ms(epoch_ms: int) -> str:
    """Render integer unix milliseconds in the wire datetime format (fast: no datetime object
    per call, the date part is cached per day)."""
    day, rest = divmod(epoch_ms, 86_400_000)
    seconds, millis = divmod(rest, 1000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return f"{_day_prefix(day)}{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"


def parse_datetime(text: str) -> dt.datetime:
    """Parse ``YYYY-MM-DD`` or an ISO 8601 datetime (naive = UTC) into an aware UTC datetime.

    Raises ``ValueError`` when ``text`` is neither.
    """
    cleaned = text.strip()
    if cleaned.endswith(("Z", "z")):
        cleaned = cleaned[:-1] + "+00:00"
    parsed = dt.datetime.fromisoformat(cleaned)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def to_epoch_ms(value: dt.datetime) -> int:
    """Unix milliseconds (floored) of an aware datetime."""
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def make_object_id(epoch_seconds: int, tag: int, counter: int) -> str:
    """A 24-hex-digit id: 8 hex of creation seconds, 6 hex collection tag, 10 hex counter.

    Ids made with a non-decreasing ``epoch_seconds`` and an increasing ``counter`` sort in
    creation order, like MongoDB ObjectIds.
    """
    return f"{epoch_seconds & 0xFFFFFFFF:08x}{tag & 0xFFFFFF:06x}{counter & 0xFFFFFFFFFF:010x}"


def is_object_id(text: str) -> bool:
    """True when ``text`` is 24 lowercase hex digits."""
    return len(text) == 24 and all(c in "0123456789abcdef" for c in text)


# Phrases pinned to their long-standing spelling (newer Pythons renamed some of them).
_PINNED_PHRASES = {
    413: "Request Entity Too Large",
    416: "Requested Range Not Satisfiable",
    422: "Unprocessable Entity",
}


def status_phrase(status: int) -> str:
    """The standard reason phrase of an HTTP status (``"Unknown"`` for odd codes)."""
    if status in _PINNED_PHRASES:
        return _PINNED_PHRASES[status]
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def error_code_for_status(status: int) -> str:
    """``NOT_FOUND``-style error code derived from a status phrase."""
    phrase = status_phrase(status)
    return "".join(c if c.isalnum() else "_" for c in phrase.upper())


def json_response(
    body: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A ``web.Response`` carrying ``body`` as JSON."""
    return web.Response(
        body=dumps(body),
        status=status,
        content_type=JSON_CONTENT_TYPE,
        headers=dict(headers) if headers else None,
    )


def ok_body(data: Any) -> dict[str, Any]:
    """The CWP success envelope around ``data``."""
    return {"code": 200, "reason": "", "data": data, "success": True}


def ok(data: Any) -> web.Response:
    """HTTP 200 with the CWP success envelope."""
    return json_response(ok_body(data))


def business_error_body(code: str, message: str, detail: str) -> dict[str, Any]:
    """The CWP business-error envelope (delivered with HTTP 200 and ``"code": 400``)."""
    return {
        "error": {"code": code, "message": message, "detail": detail},
        "code": 400,
        "reason": message,
        "data": {},
        "success": True,
    }


def http_error_body(
    status: int, message: str, detail: str = "", code: str | None = None
) -> dict[str, Any]:
    """The CWP body of an HTTP error status (401, 403, 404, 422, 429, 5xx)."""
    return {
        "code": status,
        "reason": status_phrase(status),
        "error": {
            "code": code or error_code_for_status(status),
            "message": message,
            "detail": detail,
        },
        "data": {},
        "success": False,
    }


def portal_error_body(message: str) -> dict[str, Any]:
    """The portal-link API error body (details never go in it: see ``portal_error_response``)."""
    return {"success": False, "error": message}


def portal_details_header(details: Sequence[str]) -> str:
    """``details`` as the value of :data:`PORTAL_DETAILS_HEADER`: a JSON array of strings,
    ASCII only (so header-safe), at most :data:`PORTAL_DETAILS_LIMIT` characters; entries that
    do not fit are replaced by one ``"... N more"`` entry."""
    kept: list[str] = []
    for index, detail in enumerate(details):
        candidate = json.dumps([*kept, detail])
        if len(candidate) > PORTAL_DETAILS_LIMIT:
            kept.append(f"... {len(details) - index} more")
            break
        kept.append(detail)
    return json.dumps(kept)


def portal_error_response(
    status: int, message: str, details: Sequence[str] = (), headers: Mapping[str, str] | None = None
) -> web.Response:
    """A portal-link API error: body ``{"success": false, "error": message}``, the details (if
    any) only in the :data:`PORTAL_DETAILS_HEADER` header, as the published OpenAPI file says."""
    all_headers = dict(headers) if headers else {}
    if details:
        all_headers[PORTAL_DETAILS_HEADER] = portal_details_header(details)
    return json_response(portal_error_body(message), status=status, headers=all_headers)


def uses_portal_shape(path: str) -> bool:
    """True for paths whose errors use the portal-link shape instead of the CWP envelope."""
    return path.startswith(PORTAL_PATH_PREFIXES)


def error_response(
    path: str, status: int, message: str, detail: str = "", headers: Mapping[str, str] | None = None
) -> web.Response:
    """An HTTP error response in the shape the API uses at ``path``."""
    if uses_portal_shape(path):
        return portal_error_response(status, message, [detail] if detail else (), headers)
    return json_response(http_error_body(status, message, detail), status=status, headers=headers)


class BusinessError(Exception):
    """Raised by handlers for a CWP business error: answered as HTTP 200 with ``code`` 400."""

    def __init__(self, code: str, message: str, detail: str = "") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.detail = detail

    def response(self) -> web.Response:
        """The HTTP 200 response carrying this error's envelope."""
        return json_response(business_error_body(self.code, self.message, self.detail))


class HttpError(Exception):
    """Raised by handlers for an HTTP error status; shaped per path by the error middleware."""

    def __init__(self, status: int, message: str, detail: str = "") -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.detail = detail


def not_found(thing: str, object_id: str) -> HttpError:
    """The 404 for an unknown id: ``not_found("work order", id)`` is "Work order not found"."""
    return HttpError(404, f"{thing.capitalize()} not found", f"No {thing} with ID {object_id}")


def found(store: Any, object_id: str, thing: str) -> Any:
    """``store.get(object_id)``, or the 404 for an unknown ``thing``."""
    item = store.get(object_id)
    if item is None:
        raise not_found(thing, object_id)
    return item


def is_json_content_type(request: web.BaseRequest) -> bool:
    """True when the request declares ``application/json`` (parameters allowed)."""
    return request.content_type.lower() == JSON_CONTENT_TYPE


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body.

    Raises :class:`HttpError` 422 for a missing/wrong Content-Type and :class:`BusinessError`
    ``REQ_0001`` (an emulator-chosen code) when the body is not a JSON object.
    """
    if not is_json_content_type(request):
        raise HttpError(
            422,
            "The request Content-Type must be application/json",
            f"Received Content-Type: {request.headers.get('Content-Type', '')!r}",
        )
    raw = await request.read()
    try:
        body = loads(raw)
    except ValueError as exc:
        raise BusinessError("REQ_0001", "The request body is not valid JSON", str(exc)) from exc
    if not isinstance(body, dict):
        raise BusinessError(
            "REQ_0001",
            "The request body must be a JSON object",
            f"Received a JSON {type(body).__name__}",
        )
    return body
