"""``APIResponse``: one checked HTTP answer, and how it was obtained."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .._errors import REQUEST_ID_HEADERS

if TYPE_CHECKING:
    from multidict import CIMultiDictProxy

__all__ = ["APIResponse"]

T = TypeVar("T")


class APIResponse(Generic[T]):
    """A complete, checked answer: status, headers, the decoded envelope, and its history.

    What ``resource.with_raw_response.method(...)`` and ``client.request(...)`` return.
    ``parse()`` gives the value the plain method returns (a model, a list, ``None``).

    Attributes:
        status: the HTTP status.
        headers: the response headers (case-insensitive).
        payload: the whole decoded JSON envelope (``{}`` for an empty 2xx body).
        content: the raw response body.
        method, url: the request (the URL without its query).
        elapsed: seconds from the first attempt's start to this answer.
        attempts: how many requests the call sent (retries, 401 replays and redirects
            included).
        request_id: the server's request id header, when it sent one.
    """

    __slots__ = (
        "_parsed",
        "_parser",
        "_request_id",
        "attempts",
        "content",
        "elapsed",
        "headers",
        "method",
        "payload",
        "status",
        "url",
    )

    def __init__(
        self,
        *,
        status: int,
        headers: CIMultiDictProxy[str],
        payload: Mapping[str, Any],
        content: bytes,
        method: str,
        url: str,
        elapsed: float,
        attempts: int,
        parser: Callable[[APIResponse[Any]], T] | None = None,
    ) -> None:
        self.status = status
        self.headers = headers
        self.payload = payload
        self.content = content
        self.method = method
        self.url = url
        self.elapsed = elapsed
        self.attempts = attempts
        self._request_id: Any = _UNSET
        self._parser = parser
        self._parsed: Any = _UNSET

    @property
    def request_id(self) -> str | None:
        """The server's request id header, when it sent one (looked up on first access)."""
        if self._request_id is _UNSET:
            self._request_id = _request_id(self.headers)
        result: str | None = self._request_id
        return result

    @property
    def data(self) -> Any:
        """The envelope's ``data`` (``None`` when the answer has none)."""
        return self.payload.get("data")

    def parse(self) -> T:
        """The value the plain method returns for this answer (built once, then cached)."""
        if self._parsed is _UNSET:
            self._parsed = self.data if self._parser is None else self._parser(self)
        result: T = self._parsed
        return result

    @property
    def parsed(self) -> T:
        """Same as :meth:`parse` (kept for code written against earlier versions)."""
        return self.parse()

    def with_parser(self, parser: Callable[[APIResponse[Any]], Any]) -> APIResponse[Any]:
        """This answer, parsed by ``parser`` (used by the resources)."""
        self._parser = parser
        self._parsed = _UNSET
        return self

    def __repr__(self) -> str:
        rid = f" request_id={self.request_id}" if self.request_id else ""
        return f"<APIResponse {self.status} {self.method} {self.url} attempts={self.attempts}{rid}>"


def _request_id(headers: CIMultiDictProxy[str]) -> str | None:
    for name in REQUEST_ID_HEADERS:  # the proxy is case-insensitive already
        value = headers.get(name)
        if value:
            return value
    return None


class _Unset:
    __slots__ = ()


_UNSET: Any = _Unset()
