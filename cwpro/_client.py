"""``AsyncClient``: configuration, one transport (session, auth, retries) and the resources."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
from typing_extensions import Unpack

from ._config import NOT_GIVEN, ClientConfig, ClientSettings, resolve_config
from ._errors import InvalidArgumentError
from ._http.options import CallOptions, RequestOptions, merge_call_options
from ._http.response import APIResponse
from ._http.transport import Transport, encode_path
from .resources import (
    RESOURCES,
    Documents,
    PortalLinks,
    Sites,
    Webhooks,
    WorkOrders,
    WorkTypes,
)

__all__ = ["AsyncClient", "ClientStats"]


@attrs.frozen
class ClientStats:
    """What one client has done so far (all calls, prefetches and partitions together).

    ``requests_sent``: requests put on the wire (token requests, retries, redirects and 401
    replays included). ``retries``: re-sends decided by the retry policy, of which
    ``throttled_retries`` followed a 429 and ``failed_retries`` a failure (5xx, a broken
    exchange). ``token_requests``: token refreshes sent. ``throttled``: 429 answers seen.
    ``current_rate``: the throttle's pace in requests per second (None while unthrottled).
    ``paused_seconds``: time ``Retry-After`` held back every send. ``retries_refused``: retries
    the retry budget refused (calls that failed fast during a storm of failures).
    """

    requests_sent: int
    retries: int
    throttled_retries: int
    failed_retries: int
    token_requests: int
    throttled: int
    current_rate: float | None
    paused_seconds: float
    retries_refused: int


class AsyncClient:
    """Asynchronous client of the CLOUDWORK|PRO API.

    ::

        async with cwpro.AsyncClient(client_id, client_secret) as client:
            async for wo in client.workorders.list(max_items=100):
                ...

    Credentials and the endpoint come from the arguments, else from ``CWPRO_CLIENT_ID``,
    ``CWPRO_CLIENT_SECRET``, ``CWPRO_TOKEN``, ``CWPRO_API_KEY``, ``CWPRO_BASE_URL`` and
    ``CWPRO_ENVIRONMENT`` (``sandbox`` by default, or ``production``).

    Args:
        client_id, client_secret: client credentials, exchanged for a bearer token (refreshed
            before it expires, and once after a 401).
        token: a ready bearer token instead of client credentials.
        api_key: sent as the ``x-api-key`` header when given.
        base_url: the API's URL (overrides ``environment``), e.g. the emulator's.
        environment: ``"sandbox"`` or ``"production"``.
        timeout: seconds per attempt (or a :class:`cwpro.Timeout`); ``None`` disables timeouts.
        max_retries: re-sends after a failure that allows one (429 always; 5xx and cut-short
            exchanges only for calls declared safe to repeat); ``0``: one request per call.
        max_retry_time: seconds one call may spend in all, retries included.
        max_retry_after: the longest ``Retry-After`` honoured (seconds); longer hints are capped.
        retry_backoff_base, retry_backoff_max: the first backoff ceiling and its cap (seconds);
            each wait is uniform in ``[0, min(max, base * 2**n)]``.
        max_connections, max_connections_per_host: connection pool limits.
        keepalive_timeout: seconds an idle pooled connection is kept.
        verify_ssl: TLS certificate checks; turning them off also needs
            ``insecure_skip_verify=True``, so it cannot happen by accident.
        max_response_bytes: the largest answer read (after decompression), 32 MiB by default;
            a larger one raises :class:`cwpro.ResponseTooLargeError`.
        trust_env: use the proxy the environment names (``HTTPS_PROXY``, ``NO_PROXY``...),
            read when the session starts (default True). ``proxy``: a proxy URL for every
            request (wins over the environment).
        max_rate: a cap on requests per second for the whole client (None: no cap).
        adaptive_rate: slow the whole client down after a 429 and probe back up (default).
        user_agent: the product name at the start of the ``User-Agent`` header.
        default_headers: extra headers sent with every request.
        session, connector: an ``aiohttp.ClientSession`` or connector of yours to send
            through (never closed by the client; with your own session, aiohttp's own re-send
            of GET/PUT/DELETE after a dropped connection stays as you configured it).

    One pooled ``aiohttp`` session per client, created on first use. ``await client.close()``
    (or leaving ``async with``) closes it; closing twice is fine. Use one client per event loop.
    """

    workorders: WorkOrders
    work_types: WorkTypes
    sites: Sites
    documents: Documents
    webhooks: Webhooks
    portal_links: PortalLinks

    def __init__(
        self,
        client_id: str | None = None,
        client_secret: str | None = None,
        **settings: Unpack[ClientSettings],
    ) -> None:
        config = resolve_config(client_id, client_secret, settings)
        self._setup(Transport(config), {}, owns_transport=True)

    def _setup(
        self, transport: Transport, call_options: CallOptions, *, owns_transport: bool
    ) -> None:
        self._transport = transport
        self._call_options = call_options
        self._owns_transport = owns_transport
        for name, resource in RESOURCES.items():
            setattr(self, name, resource(self))

    @property
    def config(self) -> ClientConfig:
        """The resolved settings (secrets hidden from its repr)."""
        return self._transport.config

    @property
    def base_url(self) -> str:
        """The API's base URL."""
        return self._transport.config.base_url

    @property
    def retries(self) -> int:
        """How many retries this client has made so far (all calls)."""
        return self._transport.retry_count

    @property
    def stats(self) -> ClientStats:
        """Counters of what this client has sent so far (a snapshot)."""
        transport = self._transport
        throttle = transport.throttle.stats if transport.throttle is not None else None
        budget = transport.budget.stats if transport.budget is not None else None
        return ClientStats(
            requests_sent=transport.requests_sent,
            retries=transport.retry_count,
            throttled_retries=transport.throttled_retries,
            failed_retries=transport.retry_count - transport.throttled_retries,
            token_requests=getattr(transport.auth, "refresh_count", 0),
            throttled=throttle.throttled if throttle else 0,
            current_rate=throttle.current_rate if throttle else None,
            paused_seconds=throttle.paused_seconds if throttle else 0.0,
            retries_refused=budget.retries_refused if budget else 0,
        )

    def with_options(self, **options: Unpack[CallOptions]) -> AsyncClient:
        """A view of this client with other per-call defaults, sharing its connection pool.

        ``client.with_options(timeout=5, max_retries=0).workorders.get(id)``; the options are
        those every method accepts (:class:`cwpro.CallOptions`). Closing the view does not
        close the client.
        """
        view = object.__new__(AsyncClient)
        view._setup(
            self._transport,
            merge_call_options(self._call_options, options),
            owns_transport=False,
        )
        return view

    async def request(
        self,
        method: str,
        path: str,
        *,
        path_params: Mapping[str, str] | None = None,
        params: Sequence[tuple[str, str]] | None = None,
        json: Any = None,
        safe_to_repeat: bool | None = None,
        expect_data: bool = True,
        **options: Unpack[CallOptions],
    ) -> APIResponse[Any]:
        """Send any request (an endpoint the SDK does not cover yet) with auth and retries.

        ``path`` is a template such as ``"/workorders/{id}"`` filled from ``path_params``
        (percent-encoded). ``safe_to_repeat`` says whether the call may be re-sent after a 5xx
        or a cut-short exchange (default: only for GET and HEAD). Returns the checked
        :class:`APIResponse`; ``.parse()`` gives its ``data``.
        """
        if not isinstance(path, str) or not path.startswith("/"):
            raise InvalidArgumentError(f"path must start with '/', got {path!r}")
        method = method.upper()
        call = merge_call_options(self._call_options, options)
        query = [*(params or ()), *call.get("extra_query", ())]
        if safe_to_repeat is None:
            safe_to_repeat = method in ("GET", "HEAD")
        return await self._transport.send(
            RequestOptions(
                method,
                encode_path(path, path_params or {}),
                params=query or None,
                json=json,
                headers=call.get("extra_headers"),
                timeout=call.get("timeout", NOT_GIVEN),
                max_retries=call.get("max_retries", NOT_GIVEN),
                safe_to_repeat=safe_to_repeat,
                expect_data=expect_data,
            )
        )

    async def close(self) -> None:
        """Close the connection pool (idempotent). Views made by :meth:`with_options` do not."""
        if self._owns_transport:
            await self._transport.close()

    @property
    def closed(self) -> bool:
        """True once the client was closed."""
        return self._transport.closed

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        config = self._transport.config
        auth = "token" if config.token else f"client_id={config.client_id!r}"
        return f"<cwpro.AsyncClient {config.base_url} {auth}>"
