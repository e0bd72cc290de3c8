"""``AsyncClient``: configuration, one transport (session, auth, retries) and the resources."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

import attrs

from ._config import NOT_GIVEN, ClientConfig, NotGiven, Timeout, resolve_config
from ._transport import APIResponse, Transport, encode_path
from .resources import Documents, PortalLinks, Sites, Webhooks, WorkOrders, WorkTypes

__all__ = ["AsyncClient"]


@attrs.frozen
class RequestOptions:
    """Per-call overrides carried by :meth:`AsyncClient.with_options` views."""

    timeout: float | Timeout | NotGiven | None = NOT_GIVEN
    max_retries: int | NotGiven | None = NOT_GIVEN


class AsyncClient:
    """Asynchronous client of the CLOUDWORK|PRO API.

    ::

        async with cwpro.AsyncClient(client_id, client_secret) as client:
            async for wo in client.workorders.list(limit=100):
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
        max_retries: retries after a retryable failure (429 always; 5xx and connection errors
            for idempotent calls), with exponential backoff, full jitter and ``Retry-After``.
        max_retry_time: seconds one call may spend in all, retries included.
        max_retry_after: the longest ``Retry-After`` honoured (seconds); longer hints are capped.
        retry_backoff_base, retry_backoff_max: the first backoff ceiling and its cap (seconds);
            each wait is uniform in ``[0, min(max, base * 2**n)]``.
        max_connections, max_connections_per_host: connection pool limits.
        keepalive_timeout: seconds an idle pooled connection is kept.
        verify_ssl: TLS certificate checks; turning them off also needs
            ``insecure_skip_verify=True``, so it cannot happen by accident.
        default_headers: extra headers sent with every request.

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
        *,
        token: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        environment: str | None = None,
        timeout: float | Timeout | NotGiven | None = NOT_GIVEN,
        max_retries: int = 3,
        max_retry_time: float = 120.0,
        max_retry_after: float = 60.0,
        retry_backoff_base: float = 0.5,
        retry_backoff_max: float = 8.0,
        max_connections: int = 64,
        max_connections_per_host: int = 0,
        keepalive_timeout: float = 4.0,
        verify_ssl: bool = True,
        insecure_skip_verify: bool = False,
        default_headers: Mapping[str, str] | None = None,
    ) -> None:
        config = resolve_config(
            client_id=client_id,
            client_secret=client_secret,
            token=token,
            api_key=api_key,
            base_url=base_url,
            environment=environment,
            timeout=timeout,
            max_retries=max_retries,
            max_retry_time=max_retry_time,
            max_retry_after=max_retry_after,
            retry_backoff_base=retry_backoff_base,
            retry_backoff_max=retry_backoff_max,
            max_connections=max_connections,
            max_connections_per_host=max_connections_per_host,
            keepalive_timeout=keepalive_timeout,
            verify_ssl=verify_ssl,
            insecure_skip_verify=insecure_skip_verify,
            default_headers=default_headers,
        )
        self._setup(Transport(config), RequestOptions(), owns_transport=True)

    def _setup(
        self, transport: Transport, options: RequestOptions, *, owns_transport: bool
    ) -> None:
        self._transport = transport
        self._options = options
        self._owns_transport = owns_transport
        self.workorders = WorkOrders(self)
        self.work_types = WorkTypes(self)
        self.sites = Sites(self)
        self.documents = Documents(self)
        self.webhooks = Webhooks(self)
        self.portal_links = PortalLinks(self)

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

    def with_options(
        self,
        *,
        timeout: float | Timeout | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven | None = NOT_GIVEN,
    ) -> AsyncClient:
        """A view of this client with other per-call defaults, sharing its connection pool.

        ``client.with_options(timeout=5, max_retries=0).workorders.get(id)``. Closing the view
        does not close the client.
        """
        if not isinstance(timeout, NotGiven):
            Timeout.coerce(timeout)  # validate now
        if isinstance(max_retries, int) and max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        view = object.__new__(AsyncClient)
        view._setup(
            self._transport,
            RequestOptions(
                timeout=self._options.timeout if isinstance(timeout, NotGiven) else timeout,
                max_retries=self._options.max_retries
                if isinstance(max_retries, NotGiven)
                else max_retries,
            ),
            owns_transport=False,
        )
        return view

    async def request(
        self,
        method: str,
        path: str,
        *,
        path_params: Mapping[str, str] | None = None,
        params: list[tuple[str, str]] | None = None,
        json: Any = None,
    ) -> APIResponse:
        """Send any request (an endpoint the SDK does not cover yet) with auth and retries.

        ``path`` is a template such as ``"/workorders/{id}"`` filled from ``path_params``
        (percent-encoded). Returns the checked :class:`APIResponse` (status, headers, payload).
        """
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/', got {path!r}")
        return await self._transport.request(
            method,
            encode_path(path, path_params or {}),
            params=params,
            json=json,
            timeout=self._options.timeout,
            max_retries=self._options.max_retries,
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

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        config = self._transport.config
        auth = "token" if config.token else f"client_id={config.client_id!r}"
        return f"<cwpro.AsyncClient {config.base_url} {auth}>"
