"""How a resource is declared, and the machinery every resource method shares.

A resource is a class whose operations are :class:`Endpoint` declarations (method, path,
model, whether the call is safe to repeat, pagination style) plus one-line typed methods that
hand the declaration to the shared machinery here: :meth:`Resource._call` (one request -> one
model), :meth:`Resource._list` (cursor paginator), :meth:`Resource._export` (partitioned
export) and :meth:`Resource._page_list` (page-number lists). Every single-request
method accepts the per-call options (:class:`cwpro.CallOptions`). Adding an endpoint is a
declaration and a method; the blocking client (``cwpro_sync``) is generated from these classes,
and the route tests walk ``cwpro.resources.all_endpoints()`` to check the emulator serves every
declared route.
"""

from __future__ import annotations

import contextvars
import datetime as _dt
import string
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Concatenate, Generic, Literal, TypeVar, overload

import attrs
from typing_extensions import ParamSpec, Unpack

from .._config import NOT_GIVEN, NotGiven, Timeout
from .._errors import InvalidArgumentError, ModelError
from .._http.options import CallOptions, RequestOptions, merge_call_options
from .._http.response import APIResponse
from .._http.transport import encode_path
from .._query import PAGINATION_KEYS, ListQuery, build_query
from .._serde import converter
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
from ..pagination.planning import PartitionPlan, plan_partitions

if TYPE_CHECKING:
    from .._client import AsyncClient

__all__ = [
    "CursorListResource",
    "Endpoint",
    "ExportArgs",
    "ListArgs",
    "RawView",
    "Resource",
    "raw_method",
]

T = TypeVar("T")
M = TypeVar("M")
R = TypeVar("R")
P = ParamSpec("P")

Pagination = Literal["none", "cursor", "page"]


@attrs.frozen
class Endpoint(Generic[M]):
    """One API operation, declared once.

    ``model`` is the type of the response's ``data`` (of each item, for lists); ``str`` takes a
    message string as it is; ``type(None)`` expects no ``data`` and returns ``None``.
    ``safe_to_repeat`` (required): whether the request may be sent again when the server may
    already have acted on it (a 5xx, an exchange cut short). It is a property of the operation,
    not of its HTTP method: a status change is a PATCH with side effects, and a DELETE the
    server carried out answers 404 the second time. ``expect_data``: whether a 2xx must carry
    ``data`` (the published portal-link API answers a DELETE with ``{"success": true}``).
    """

    method: str
    path: str
    model: type[M]
    safe_to_repeat: bool = attrs.field(kw_only=True)
    pagination: Pagination = attrs.field(default="none", kw_only=True)
    expect_data: bool = attrs.field(default=True, kw_only=True)
    summary: str = attrs.field(default="", kw_only=True)

    def path_params(self) -> tuple[str, ...]:
        """The ``{placeholders}`` of the path, in order."""
        return tuple(name for _, name, _, _ in string.Formatter().parse(self.path) if name)


_captured: contextvars.ContextVar[list[APIResponse[Any]] | None] = contextvars.ContextVar(
    "cwpro_captured_responses", default=None
)


def _captured_too(response: APIResponse[Any]) -> APIResponse[Any]:
    """``response``, also kept for ``with_raw_response`` when a call runs inside it."""
    captured = _captured.get()
    if captured is not None:
        captured.append(response)
    return response


class RawView(Generic[R]):
    """Base of ``resource.with_raw_response``: the same calls, returning :class:`APIResponse`."""

    def __init__(self, resource: R) -> None:
        self._resource = resource

    def __repr__(self) -> str:
        return f"<with_raw_response of {self._resource!r}>"


class raw_method(Generic[P, R]):
    """Turns a resource method into its raw twin on a :class:`RawView` (typed from it)."""

    def __init__(self, method: Callable[Concatenate[Any, P], Awaitable[R]]) -> None:
        self._method = method
        self.__doc__ = (
            f"Like ``{method.__name__}()``, returning the :class:`cwpro.APIResponse` "
            "(status, headers, request id, attempts); ``.parse()`` gives the usual result."
        )

    @overload
    def __get__(self, view: None, owner: type[Any]) -> raw_method[P, R]: ...

    @overload
    def __get__(
        self, view: RawView[Any], owner: type[Any]
    ) -> Callable[P, Awaitable[APIResponse[R]]]: ...

    def __get__(self, view: RawView[Any] | None, owner: type[Any]) -> Any:
        if view is None:
            return self
        method, resource = self._method, view._resource

        async def call(*args: P.args, **kwargs: P.kwargs) -> APIResponse[R]:
            responses: list[APIResponse[Any]] = []
            token = _captured.set(responses)
            try:
                parsed = await method(resource, *args, **kwargs)
            finally:
                _captured.reset(token)
            response: APIResponse[R] = responses[-1]
            response._parsed = parsed
            return response

        call.__name__ = method.__name__
        call.__doc__ = self.__doc__
        return call


def _naming(where: str, build: Callable[[], T]) -> T:
    """``build()``; a :class:`cwpro.ModelError` it raises says ``where`` (the request) too."""
    try:
        return build()
    except ModelError as exc:
        exc.args = (f"{exc} ({where})",)
        raise


def _read_page(response: APIResponse[Any], read: Callable[[Any, str], T]) -> T:
    """``read(payload, where)`` of a list response; a malformed page's error names the request."""
    where = f"{response.method} {response.url}"
    return _naming(where, lambda: read(response.payload, where))


class Resource:
    """Base of every resource: holds the client and runs declared endpoints."""

    #: Every endpoint this resource declares (filled by ``__init_subclass__``).
    endpoints: ClassVar[dict[str, Endpoint[Any]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found = {k: v for k, v in vars(cls).items() if isinstance(v, Endpoint)}
        cls.endpoints = {**getattr(cls, "endpoints", {}), **found}

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._client!r}>"

    # -- shared machinery --------------------------------------------------------------------
    def _request(
        self,
        endpoint: Endpoint[Any],
        path: Mapping[str, str] | None,
        params: Sequence[tuple[str, str]] | None,
        json: Any,
        body_factory: Callable[[], Any] | None,
        default_timeout: Timeout | None,
        options: Mapping[str, Any] | None,
    ) -> RequestOptions:
        """The complete request of one call: the endpoint, the call's and the view's options."""
        client = self._client
        call: CallOptions = (
            merge_call_options(client._call_options, options) if options else client._call_options
        )
        timeout: Any = NOT_GIVEN
        max_retries: Any = NOT_GIVEN
        headers = None
        if call:  # a view's defaults or this call's options (none on the common path)
            timeout = call.get("timeout", NOT_GIVEN)
            max_retries = call.get("max_retries", NOT_GIVEN)
            headers = call.get("extra_headers")
            extra_query = call.get("extra_query")
            if extra_query:
                params = [*(params or ()), *extra_query]
        if default_timeout is not None and isinstance(timeout, NotGiven):
            timeout = default_timeout  # the operation's own default; an explicit timeout wins
        return RequestOptions(
            endpoint.method,
            encode_path(endpoint.path, path) if path else endpoint.path,
            params=params,
            json=json,
            body_factory=body_factory,
            headers=headers,
            timeout=timeout,
            max_retries=max_retries,
            safe_to_repeat=endpoint.safe_to_repeat,
            expect_data=endpoint.expect_data,
        )

    async def _send(
        self,
        endpoint: Endpoint[Any],
        *,
        path: Mapping[str, str] | None = None,
        params: Sequence[tuple[str, str]] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> APIResponse[Any]:
        """Send one declared request (list pages) and return the checked response."""
        request = self._request(endpoint, path, params, None, None, None, options)
        return _captured_too(await self._client._transport.send(request))

    @staticmethod
    def _parse(endpoint: Endpoint[M], response: APIResponse[Any]) -> M:
        model = endpoint.model
        data = response.payload.get("data")
        if model is type(None):
            return None
        if model is str:
            if not isinstance(data, str):
                raise ModelError(
                    f"expected a message string in 'data', got {type(data).__name__} "
                    f"({response.method} {response.url})"
                )
            return data  # type: ignore[return-value]  # M is str here
        try:
            result: M = converter.structure(data, model)
        except ModelError as exc:
            exc.args = (f"{exc} ({response.method} {response.url})",)
            raise
        return result

    async def _call(
        self,
        endpoint: Endpoint[M],
        *,
        path: Mapping[str, str] | None = None,
        params: Sequence[tuple[str, str]] | None = None,
        json: Any = None,
        body_factory: Callable[[], Any] | None = None,
        default_timeout: Timeout | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> M:
        """Send one declared request and return its ``data`` as the declared model.

        The transport is awaited here directly (not through :meth:`_send`): one coroutine less
        on every single-object call.
        """
        request = self._request(
            endpoint, path, params, json, body_factory, default_timeout, options
        )
        response = _captured_too(await self._client._transport.send(request))
        return self._parse(endpoint, response)

    async def _update(
        self, endpoint: Endpoint[M], id: str, body: dict[str, Any], options: Mapping[str, Any]
    ) -> M:
        """PATCH the fields in ``body`` of object ``id``; no field at all is refused unsent."""
        if not body:
            raise InvalidArgumentError("update() needs at least one field to change")
        return await self._call(endpoint, path={"id": id}, json=body, options=options)

    # -- lists (cursor walks, exports, page-number lists: cwpro.pagination does the walking) --
    def _items(self, endpoint: Endpoint[Any], as_dict: bool) -> StructureItems[Any]:
        """How a page's raw ``data`` becomes its items: the plain dicts, or models."""
        if not isinstance(as_dict, bool):
            raise InvalidArgumentError(f"as_dict must be True or False, got {as_dict!r}")
        model = endpoint.model
        if as_dict or model is None:
            return dict_items if as_dict else list
        hook = converter.get_structure_hook(model)

        def structure(data: list[Any]) -> list[Any]:
            return [hook(item, model) for item in data]

        return structure

    async def _fetch_cursor_page(
        self,
        endpoint: Endpoint[Any],
        path: Mapping[str, str] | None,
        params: list[tuple[str, str]],
        cursor: str | None,
        structure: StructureItems[Any],
    ) -> CursorPage[Any]:
        query = params if cursor is None else [*params, ("cursor", cursor)]
        response = await self._send(endpoint, path=path, params=query)
        return _read_page(
            response,
            lambda data, where: read_cursor_page(data, structure, cursor=cursor, where=where),
        )

    def _list(
        self,
        endpoint: Endpoint[Any],
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
        structure = self._items(endpoint, as_dict)
        if path:
            encode_path(endpoint.path, path)  # validate ids now, not on first iteration

        async def fetch(cursor: str | None) -> CursorPage[Any]:
            return await self._fetch_cursor_page(endpoint, path, params, cursor, structure)

        return AsyncCursorPaginator(
            fetch, cursor=cursor, prefetch=query.get("prefetch", 1), max_items=max_items
        )

    def _export(
        self,
        endpoint: Endpoint[Any],
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
        endpoint: Endpoint[Any],
        params: Sequence[tuple[str, str]],
        *,
        first_page: int,
        concurrency: int,
        as_dict: bool,
        max_items: int | None,
    ) -> AsyncPagePaginator[Any]:
        """A page-number paginator; at most the client's connection limit in flight."""
        structure = self._items(endpoint, as_dict)

        async def fetch(page: int) -> NumberedPage[Any]:
            response = await self._send(endpoint, params=[*params, ("page", str(page))])
            return _read_page(
                response,
                lambda data, where: read_numbered_page(data, list, page=page, where=where),
            )

        def finish(page: NumberedPage[Any]) -> NumberedPage[Any]:
            # Models are built as the page is handed over, not in the fetch task: the task
            # ends (freeing its slot for the next request) as soon as the page is decoded.
            where = f"{endpoint.method} {self._client._transport.url(endpoint.path)}"
            items = _naming(f"{where}, page {page.page}", lambda: structure(page.items))
            return attrs.evolve(page, items=items)

        in_flight = concurrency
        if isinstance(concurrency, int) and not isinstance(concurrency, bool):
            in_flight = min(concurrency, self._client.config.max_connections)
        return AsyncPagePaginator(
            fetch, first_page=first_page, concurrency=in_flight, max_items=max_items, finish=finish
        )


class ListArgs(ListQuery, total=False):
    """The keywords of a cursor ``list()`` besides ``as_dict``: declared once for its overloads."""

    max_items: int | None


class ExportArgs(ListQuery, total=False):
    """The keywords of ``export()`` besides ``as_dict``: declared once for its overloads."""

    concurrency: int
    ordered: bool
    resume: Sequence[Mapping[str, Any]] | None


class CursorListResource(Resource, Generic[M]):
    """A resource with a cursor list: gives it ``list()`` and ``export()``.

    Subclasses declare ``LIST = Endpoint("GET", path, Model, pagination="cursor")``.
    """

    LIST: ClassVar[Endpoint[Any]]

    if TYPE_CHECKING:  # the result's item type follows as_dict; the rest is ListArgs

        @overload
        def list(
            self, *, as_dict: Literal[False] = False, **args: Unpack[ListArgs]
        ) -> AsyncCursorPaginator[M]: ...

        @overload
        def list(
            self, *, as_dict: Literal[True], **args: Unpack[ListArgs]
        ) -> AsyncCursorPaginator[dict[str, Any]]: ...

        @overload
        def list(
            self, *, as_dict: bool = False, **args: Unpack[ListArgs]
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

    if TYPE_CHECKING:  # as for list(): the rest is ExportArgs

        @overload
        def export(
            self,
            partitions: Sequence[Mapping[str, Any]] | None = None,
            *,
            as_dict: Literal[False] = False,
            **args: Unpack[ExportArgs],
        ) -> AsyncExport[M]: ...

        @overload
        def export(
            self,
            partitions: Sequence[Mapping[str, Any]] | None = None,
            *,
            as_dict: Literal[True],
            **args: Unpack[ExportArgs],
        ) -> AsyncExport[dict[str, Any]]: ...

        @overload
        def export(
            self,
            partitions: Sequence[Mapping[str, Any]] | None = None,
            *,
            as_dict: bool = False,
            **args: Unpack[ExportArgs],
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

    async def plan_partitions(
        self,
        parts: int = 8,
        *,
        field: str = "created_date",
        since: _dt.datetime | None = None,
        until: _dt.datetime | None = None,
        samples: int = 4,
        **query: Unpack[ListQuery],
    ) -> PartitionPlan:
        """Partitions for :meth:`export` that each hold about the same number of items.

        Counts slices of the ``field`` range with small requests (about ``parts * samples``,
        sent concurrently) and cuts where each share of the items is reached, so no partition
        keeps the export waiting. ``since``/``until`` (aware datetimes) bound the range; without
        them the first and last partitions are open-ended, so items created meanwhile are
        exported too. ``query``: the list options the export will use (filters are counted).
        Use it as ``export(plan.partitions, **query)``; see :class:`cwpro.PartitionPlan`.
        """
        if "cursor" in query:
            raise InvalidArgumentError("plan_partitions() plans a whole list: no cursor=")
        self.list(**query)  # the options are validated before any request
        return await plan_partitions(
            self.list,
            query,
            parts=parts,
            field=field,
            since=since,
            until=until,
            samples=samples,
        )
