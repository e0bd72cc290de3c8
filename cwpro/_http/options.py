"""Request options: what one call asks for, resolved once before the first attempt.

* :class:`CallOptions` is the public, per-call part every resource method accepts as keywords
  (``timeout=``, ``max_retries=``, ``extra_headers=``, ``extra_query=``), the same that
  ``client.with_options(...)`` sets for a view of the client.
* :class:`RequestOptions` is the immutable, complete description of one logical request the
  transport sends (and re-sends, when the retry policy says so): nothing about a request is
  threaded through the call chain as loose arguments. It is a ``NamedTuple``: one is built per
  call, and a tuple costs a fraction of a frozen attrs class to build.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, TypedDict

from .._config import NOT_GIVEN, NotGiven, Timeout
from .._errors import InvalidArgumentError
from .._validate import integer

__all__ = ["CallOptions", "QueryParams", "RequestOptions", "merge_call_options"]

QueryParams = Sequence[tuple[str, str]]


class CallOptions(TypedDict, total=False):
    """Per-call overrides, accepted by every API method and by ``with_options()``.

    ``timeout``: seconds (or a :class:`cwpro.Timeout`) for each attempt; ``None`` disables
    timeouts. ``max_retries``: retries for this call (``0``: exactly one request).
    ``extra_headers``: headers added to (or replacing) the SDK's for this call (an
    ``Authorization`` header is refused: credentials come from the client).
    ``extra_query``: query parameters appended to the call's own.
    """

    timeout: float | Timeout | None
    max_retries: int
    extra_headers: Mapping[str, str]
    extra_query: Mapping[str, str] | Sequence[tuple[str, str]]


_OPTION_NAMES = frozenset(CallOptions.__annotations__)


def merge_call_options(base: CallOptions, override: Mapping[str, Any]) -> CallOptions:
    """``override`` (a call's keywords) on top of ``base`` (a view's defaults), validated."""
    unknown = set(override) - _OPTION_NAMES
    if unknown:
        raise InvalidArgumentError(
            f"unknown option(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(_OPTION_NAMES))}"
        )
    merged: dict[str, Any] = dict(base)
    for name, value in override.items():
        if isinstance(value, NotGiven):
            continue
        if name == "timeout" and value is not None:
            Timeout.coerce(value)
        elif name == "max_retries":
            integer("max_retries", value, minimum=0)
        elif name == "extra_headers":
            value = _headers(value)
            value = {**merged.get("extra_headers", {}), **value}
        elif name == "extra_query":
            value = [*_query_pairs(merged.get("extra_query", ())), *_query_pairs(value)]
        merged[name] = value
    return merged  # type: ignore[return-value]  # keys checked against CallOptions above


def _headers(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(f"extra_headers must be a mapping, got {type(value).__name__}")
    headers: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise InvalidArgumentError("extra_headers keys and values must be strings")
        if key.lower() == "authorization":
            raise InvalidArgumentError(
                "extra_headers may not set Authorization: the client's credentials are used"
            )
        if not (item.isprintable() and key.isascii() and key.isprintable()):
            raise InvalidArgumentError(f"extra_headers[{key!r}] holds control characters")
        headers[key] = item
    return headers


def _query_pairs(value: Any) -> list[tuple[str, str]]:
    pairs = list(value.items()) if isinstance(value, Mapping) else list(value)
    for pair in pairs:
        if (
            not isinstance(pair, tuple)
            or len(pair) != 2
            or not all(isinstance(part, str) for part in pair)
        ):
            raise InvalidArgumentError(
                "extra_query must be a mapping of strings or a list of (name, value) strings"
            )
    return pairs


class RequestOptions(NamedTuple):
    """One logical request, complete: the transport needs nothing else to send or re-send it.

    ``path`` is already encoded. ``body_factory`` builds a fresh body for each attempt
    (uploads). ``safe_to_repeat`` comes from the endpoint's declaration: whether the request
    may be sent again when the server may already have acted on it (5xx, an exchange cut
    short). ``expect_data``: whether a 2xx envelope must carry ``data``.
    """

    method: str
    path: str
    params: QueryParams | None = None
    json: Any = None
    body_factory: Callable[[], Any] | None = None
    headers: Mapping[str, str] | None = None
    timeout: float | Timeout | NotGiven | None = NOT_GIVEN
    max_retries: int | NotGiven = NOT_GIVEN
    safe_to_repeat: bool = False
    authenticated: bool = True
    expect_data: bool = True
