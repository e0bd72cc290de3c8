"""How a resource is declared, and the machinery every resource method shares.

A resource is a class whose operations are :class:`Endpoint` declarations (method, path,
model, pagination style) plus one-line typed methods that hand the declaration to the shared
machinery here: :meth:`Resource._call` (one request -> one model), :meth:`Resource._list`
(cursor paginator), :meth:`Resource._export` (partitioned export) and
:meth:`Resource._page_list` (page-number paginator). Adding an endpoint is a declaration and a
one-line method; the blocking client (``cwpro_sync``) is generated from these classes, and the
route tests walk :func:`all_endpoints` to check the emulator serves every declared route.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar, overload

import attrs
from typing_extensions import Unpack

from .._config import NotGiven, Timeout
from .._errors import InvalidArgumentError, ModelError
from .._query import PAGINATION_KEYS, ListQuery, build_query
from .._serde import converter
from .._transport import APIResponse, encode_path
from ..pagination import (
    AsyncCursorPaginator,
    AsyncExport,
    AsyncPagePaginator,
    CursorPage,
    NumberedPage,
)
from ..pagination.pages import (
    StructureItems,
    dict_items,
    read_cursor_page,
    read_numbered_page,
)
from ..pagination.partitions import merge_partition

if TYPE_CHECKING:
    from .._client import AsyncClient

__all__ = ["CursorListResource", "Endpoint", "RawResponse", "Resource", "all_endpoints"]

T = TypeVar("T")
M = TypeVar("M")

Pagination = Literal["none", "cursor", "page"]


@attrs.frozen
class Endpoint:
    """One API operation, declared once.

    ``model`` is the type of the response's ``data`` (or of each item, for lists); ``None``
    returns ``data`` as it is (e.g. a message string). ``idempotent`` overrides the method's
    default retry safety (GET/PUT/DELETE safe; POST/PATCH not).
    """

    method: str
    path: str
    model: type[Any] | None = None
    pagination: Pagination = "none"
    idempotent: bool | None = None
    summary: str = ""

    def path_params(self) -> tuple[str, ...]:
        """The ``{placeholders}`` of the path, in order."""
        import string

        return tuple(name for _, name, _, _ in string.Formatter().parse(self.path) if name)


@attrs.frozen
class RawResponse(Generic[T]):
    """What ``resource.with_raw_response.method(...)`` returns: the model plus the HTTP answer."""

    parsed: T
    response: APIResponse

    @property
    def status(self) -> int:
        """The HTTP status."""
        return self.response.status

    @property
    def headers(self) -> Mapping[str, str]:
        """The response headers."""
        return self.response.headers

    @property
    def payload(self) -> Mapping[str, Any]:
        """The whole decoded JSON envelope, exactly as received."""
        return self.response.payload


_captured: contextvars.ContextVar[list[APIResponse] | None] = contextvars.ContextVar(
    "cwpro_captured_responses", default=None
)


class _RawResponseProxy:
    """``resource.with_raw_response``: the same methods, returning :class:`RawResponse`."""

    def __init__(self, resource: Resource) -> None:
        self._resource = resource

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._resource, name)
        if name.startswith("_") or not callable(method):
            raise AttributeError(name)

        async def call(*args: Any, **kwargs: Any) -> RawResponse[Any]:
            responses: list[APIResponse] = []
            token = _captured.set(responses)
            try:
                parsed = await method(*args, **kwargs)
            finally:
                _captured.reset(token)
            if not responses:
                raise TypeError(f"{name}() is not a single-request method")
            return RawResponse(parsed, responses[-1])

        call.__name__ = name
        call.__doc__ = method.__doc__
        return call


class Resource:
    """Base of every resource: holds the client and runs declared endpoints."""

    #: Every endpoint this resource declares (filled by ``__init_subclass__``).
    endpoints: ClassVar[dict[str, Endpoint]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found = {k: v for k, v in vars(cls).items() if isinstance(v, Endpoint)}
        cls.endpoints = {**getattr(cls, "endpoints", {}), **found}

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._client!r}>"

    @property
    def with_raw_response(self) -> Any:
        """The same methods, each returning a :class:`RawResponse` (model + status/headers/JSON)."""
        return _RawResponseProxy(self)

    # -- shared machinery --------------------------------------------------------------------
    async def _send(
        self,
        endpoint: Endpoint,
        *,
        path: Mapping[str, str] | None = None,
        params: Sequence[tuple[str, str]] | None = None,
        json: Any = None,
        body_factory: Callable[[], Any] | None = None,
        default_timeout: Timeout | None = None,
    ) -> APIResponse:
        options = self._client._options
        timeout = options.timeout
        if default_timeout is not None and isinstance(timeout, NotGiven):
            timeout = default_timeout  # the operation's own default; with_options still wins
        response = await self._client._transport.request(
            endpoint.method,
            encode_path(endpoint.path, path or {}),
            params=params,
            json=json,
            body_factory=body_factory,
            timeout=timeout,
            max_retries=options.max_retries,
            idempotent=endpoint.idempotent,
        )
        captured = _captured.get()
        if captured is not None:
            captured.append(response)
        return response

    def _parse(self, endpoint: Endpoint, response: APIResponse) -> Any:
        data = response.data
        if endpoint.model is None:
            return data
        try:
            return converter.structure(data, endpoint.model)
        except ModelError as exc:
            exc.args = (f"{exc} ({response.method} {response.url})",)
            raise

    async def _call(
        self,
        endpoint: Endpoint,
        *,
        path: Mapping[str, str] | None = None,
        params: Sequence[tuple[str, str]] | None = None,
        json: Any = None,
        body_factory: Callable[[], Any] | None = None,
        default_timeout: Timeout | None = None,
    ) -> Any:
        """Send one declared request and return its ``data`` as the declared model."""
        response = await self._send(
            endpoint,
            path=path,
            params=params,
            json=json,
            body_factory=body_factory,
            default_timeout=default_timeout,
        )
        return self._parse(endpoint, response)

    # -- lists (cursor walks, exports, page-number lists: cwpro.pagination does the walking) --
    def _items(self, endpoint: Endpoint, as_dict: bool) -> StructureItems[Any]:
        """How a page's raw ``data`` becomes its items: the plain dicts, or models."""
        model = endpoint.model
        if as_dict or model is None:
            return dict_items if as_dict else list
        hook = converter.get_structure_hook(model)

        def structure(data: list[Any]) -> list[Any]:
            return [hook(item, model) for item in data]

        return structure

    async def _fetch_cursor_page(
        self,
        endpoint: Endpoint,
        path: Mapping[str, str] | None,
        params: list[tuple[str, str]],
        cursor: str | None,
        structure: StructureItems[Any],
    ) -> CursorPage[Any]:
        query = params if cursor is None else [*params, ("cursor", cursor)]
        response = await self._send(endpoint, path=path, params=query)
        where = f"{response.method} {response.url}"
        try:
            return read_cursor_page(response.payload, structure, cursor=cursor, where=where)
        except ModelError as exc:
            exc.args = (f"{exc} ({where})",)
            raise

    def _list(
        self,
        endpoint: Endpoint,
        query: Mapping[str, Any],
        *,
        path: Mapping[str, str] | None = None,
        extra_params: Sequence[tuple[str, str]] = (),
        as_dict: bool = False,
        max_items: int | None = None,
    ) -> AsyncCursorPaginator[Any]:
        """A cursor paginator over ``endpoint`` (query validated now, before any request)."""
        options = {k: v for k, v in query.items() if k not in PAGINATION_KEYS}
        params = build_query(options, extra_params)
        cursor = query.get("cursor")
        if cursor is not None and (not isinstance(cursor, str) or not cursor):
            raise InvalidArgumentError(f"cursor must be a non-empty string, got {cursor!r}")
        if not isinstance(as_dict, bool):
            raise InvalidArgumentError(f"as_dict must be True or False, got {as_dict!r}")
        if path:
            encode_path(endpoint.path, path)  # validate ids now, not on first iteration
        structure = self._items(endpoint, as_dict)

        async def fetch(cursor: str | None) -> CursorPage[Any]:
            return await self._fetch_cursor_page(endpoint, path, params, cursor, structure)

        return AsyncCursorPaginator(
            fetch, cursor=cursor, prefetch=query.get("prefetch", 1), max_items=max_items
        )

    def _export(
        self,
        endpoint: Endpoint,
        partitions: Sequence[Mapping[str, Any]] | None,
        query: Mapping[str, Any],
        *,
        concurrency: int,
        ordered: bool,
        resume: Sequence[Mapping[str, Any]] | None,
        extra_params: Sequence[tuple[str, str]] = (),
        as_dict: bool = False,
    ) -> AsyncExport[Any]:
        """A partitioned export: each partition's options are merged into ``query``."""
        if "cursor" in query:
            raise InvalidArgumentError("export() resumes with resume=<checkpoint>, not cursor=")
        parts: Sequence[Any] = [{}] if partitions is None else list(partitions)
        merged = [merge_partition(query, part) for part in parts]
        for combined in merged:
            build_query({k: v for k, v in combined.items() if k not in PAGINATION_KEYS})

        def make(part_query: Mapping[str, Any], cursor: str | None) -> AsyncCursorPaginator[Any]:
            q = dict(part_query)
            if cursor is not None:
                q["cursor"] = cursor
            return self._list(endpoint, q, extra_params=extra_params, as_dict=as_dict)

        return AsyncExport(make, merged, concurrency=concurrency, ordered=ordered, resume=resume)

    def _page_list(
        self,
        endpoint: Endpoint,
        params: Sequence[tuple[str, str]],
        *,
        first_page: int,
        concurrency: int,
        as_dict: bool,
        max_items: int | None,
    ) -> AsyncPagePaginator[Any]:
        """A page-number paginator; at most the client's connection limit in flight."""
        if not isinstance(as_dict, bool):
            raise InvalidArgumentError(f"as_dict must be True or False, got {as_dict!r}")
        structure = self._items(endpoint, as_dict)

        async def fetch(page: int) -> NumberedPage[Any]:
            response = await self._send(endpoint, params=[*params, ("page", str(page))])
            where = f"{response.method} {response.url}"
            try:
                return read_numbered_page(response.payload, structure, page=page, where=where)
            except ModelError as exc:
                exc.args = (f"{exc} ({where})",)
                raise

        in_flight = concurrency
        if isinstance(concurrency, int) and not isinstance(concurrency, bool):
            in_flight = min(concurrency, self._client.config.max_connections)
        return AsyncPagePaginator(
            fetch, first_page=first_page, concurrency=in_flight, max_items=max_items
        )


class CursorListResource(Resource, Generic[M]):
    """A resource with a cursor list: gives it ``list()`` and ``export()``.

    Subclasses declare ``LIST = Endpoint("GET", path, Model, pagination="cursor")``.
    """

    LIST: ClassVar[Endpoint]

    if TYPE_CHECKING:

        @overload
        def list(
            self,
            *,
            as_dict: Literal[False] = False,
            max_items: int | None = None,
            **query: Unpack[ListQuery],
        ) -> AsyncCursorPaginator[M]: ...

        @overload
        def list(
            self,
            *,
            as_dict: Literal[True],
            max_items: int | None = None,
            **query: Unpack[ListQuery],
        ) -> AsyncCursorPaginator[dict[str, Any]]: ...

        @overload
        def list(
            self,
            *,
            as_dict: bool = False,
            max_items: int | None = None,
            **query: Unpack[ListQuery],
        ) -> AsyncCursorPaginator[Any]: ...

    def list(
        self,
        *,
        as_dict: bool = False,
        max_items: int | None = None,
        **query: Unpack[ListQuery],
    ) -> AsyncCursorPaginator[Any]:
        """Stream every item of the list (``async for``), or its pages (``.pages()``).

        Options (all optional, validated before any request; see :class:`cwpro.ListQuery`):
        ``limit`` (items per *page*, not in all), ``sort_by``, ``filter_by``,
        ``filter_operator``, ``in_``, ``between``, ``cursor`` (resume from a saved cursor),
        ``prefetch`` (pages fetched ahead, default 1). ``max_items`` stops after that many
        items. ``as_dict=True`` yields the envelope's plain dicts (wire names, no models): the
        cheap form for bulk loaders. ``await resource.list(...)`` returns just the first page.
        """
        return self._list(self.LIST, query, as_dict=as_dict, max_items=max_items)

    if TYPE_CHECKING:

        @overload
        def export(
            self,
            partitions: Sequence[Mapping[str, Any]] | None = None,
            *,
            concurrency: int = 8,
            ordered: bool = False,
            resume: Sequence[Mapping[str, Any]] | None = None,
            as_dict: Literal[False] = False,
            **query: Unpack[ListQuery],
        ) -> AsyncExport[M]: ...

        @overload
        def export(
            self,
            partitions: Sequence[Mapping[str, Any]] | None = None,
            *,
            concurrency: int = 8,
            ordered: bool = False,
            resume: Sequence[Mapping[str, Any]] | None = None,
            as_dict: Literal[True],
            **query: Unpack[ListQuery],
        ) -> AsyncExport[dict[str, Any]]: ...

        @overload
        def export(
            self,
            partitions: Sequence[Mapping[str, Any]] | None = None,
            *,
            concurrency: int = 8,
            ordered: bool = False,
            resume: Sequence[Mapping[str, Any]] | None = None,
            as_dict: bool = False,
            **query: Unpack[ListQuery],
        ) -> AsyncExport[Any]: ...

    def export(
        self,
        partitions: Sequence[Mapping[str, Any]] | None = None,
        *,
        concurrency: int = 8,
        ordered: bool = False,
        resume: Sequence[Mapping[str, Any]] | None = None,
        as_dict: bool = False,
        **query: Unpack[ListQuery],
    ) -> AsyncExport[Any]:
        """Export the list fast: several partitions walked concurrently, merged into one stream.

        ``partitions``: list options per partition, merged into ``query`` (e.g. from
        :func:`cwpro.split_range`, or ``[{"in_": {"status": ["open"]}}, ...]``); they should not
        overlap. ``concurrency``: partitions walked at once. ``ordered``: yield partition by
        partition, in order (memory stays bounded either way). ``resume``: a saved
        ``export.checkpoint()`` to continue an interrupted export exactly. ``as_dict=True``:
        plain dict items instead of models.
        """
        return self._export(
            self.LIST,
            partitions,
            query,
            concurrency=concurrency,
            ordered=ordered,
            resume=resume,
            as_dict=as_dict,
        )


def all_endpoints() -> dict[str, Endpoint]:
    """Every endpoint declared by every resource, as ``{"Resource.NAME": endpoint}``."""
    from . import RESOURCES

    return {
        f"{cls.__name__}.{name}": ep
        for cls in RESOURCES.values()
        for name, ep in cls.endpoints.items()
    }
