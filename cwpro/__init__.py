"""cwpro: the Python SDK for the CLOUDWORK|PRO (CWP) API.

Asyncio-first (:class:`AsyncClient`), with a generated blocking twin (``cwpro_sync.Client``),
typed models that keep unknown fields, streaming pagination with prefetch and partitioned
export, typed errors, webhook receiving (``cwpro.webhooks``) and an embedded API emulator
(``cwpro.emulator``).

``import cwpro`` loads only the errors, the version and the logging switch: every other public
name (the client, the models, the paginators, the settings) is imported on first access (PEP
562 ``__getattr__``), so ``cwpro --help``, a webhook receiver or a script that only catches
errors does not pay for aiohttp, asyncio, attrs and cattrs. ``from cwpro import AsyncClient``
imports what the client needs, once.
"""

from typing import TYPE_CHECKING

from ._errors import (
    APIConnectionError,
    APIDecodeError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConnectFailed,
    CwproError,
    InternalServerError,
    InvalidArgumentError,
    ModelError,
    NotFoundError,
    PaginationError,
    PermissionDeniedError,
    RateLimitError,
    RedirectError,
    ResponseTooLargeError,
    TLSVerificationFailed,
    UnprocessableEntityError,
    WebhookError,
    WebhookInboxError,
    WebhookPayloadError,
)
from ._lazy import lazy_names
from ._logging import configure_from_env as _configure_logging_from_env
from ._version import __version__

if TYPE_CHECKING:
    from ._client import AsyncClient, ClientStats
    from ._config import NOT_GIVEN, ClientSettings, NotGiven, Timeout
    from ._http.options import CallOptions
    from ._http.response import APIResponse
    from ._query import ListQuery
    from .models import (
        AccessLogEntry,
        AccessRestrictions,
        Address,
        CustomBranding,
        Document,
        EventType,
        LinkMetadata,
        LinkType,
        Model,
        NotificationSettings,
        Paging,
        Permissions,
        PortalLink,
        Priority,
        Site,
        UsageStats,
        WebhookNotification,
        WorkOrder,
        WorkOrderStatus,
        WorkType,
    )
    from .pagination import (
        AsyncCursorPaginator,
        AsyncExport,
        AsyncPagePaginator,
        CursorPage,
        NumberedPage,
        PartitionPlan,
        PartitionState,
        split_range,
    )

#: Public name -> the module (relative to this package) it is imported from on first access.
_LAZY: dict[str, str] = {
    "AsyncClient": "._client",
    "ClientStats": "._client",
    "NOT_GIVEN": "._config",
    "ClientSettings": "._config",
    "NotGiven": "._config",
    "Timeout": "._config",
    "CallOptions": "._http.options",
    "APIResponse": "._http.response",
    "ListQuery": "._query",
    "AccessLogEntry": ".models",
    "AccessRestrictions": ".models",
    "Address": ".models",
    "CustomBranding": ".models",
    "Document": ".models",
    "EventType": ".models",
    "LinkMetadata": ".models",
    "LinkType": ".models",
    "Model": ".models",
    "NotificationSettings": ".models",
    "Paging": ".models",
    "Permissions": ".models",
    "PortalLink": ".models",
    "Priority": ".models",
    "Site": ".models",
    "UsageStats": ".models",
    "WebhookNotification": ".models",
    "WorkOrder": ".models",
    "WorkOrderStatus": ".models",
    "WorkType": ".models",
    "AsyncCursorPaginator": ".pagination",
    "AsyncExport": ".pagination",
    "AsyncPagePaginator": ".pagination",
    "CursorPage": ".pagination",
    "NumberedPage": ".pagination",
    "PartitionPlan": ".pagination",
    "PartitionState": ".pagination",
    "split_range": ".pagination",
}

__all__ = [
    "NOT_GIVEN",
    "APIConnectionError",
    "APIDecodeError",
    "APIResponse",
    "APIStatusError",
    "APITimeoutError",
    "AccessLogEntry",
    "AccessRestrictions",
    "Address",
    "AsyncClient",
    "AsyncCursorPaginator",
    "AsyncExport",
    "AsyncPagePaginator",
    "AuthenticationError",
    "BadRequestError",
    "CallOptions",
    "ClientSettings",
    "ClientStats",
    "ConfigurationError",
    "ConnectFailed",
    "CursorPage",
    "CustomBranding",
    "CwproError",
    "Document",
    "EventType",
    "InternalServerError",
    "InvalidArgumentError",
    "LinkMetadata",
    "LinkType",
    "ListQuery",
    "Model",
    "ModelError",
    "NotFoundError",
    "NotGiven",
    "NotificationSettings",
    "NumberedPage",
    "PaginationError",
    "Paging",
    "PartitionPlan",
    "PartitionState",
    "PermissionDeniedError",
    "Permissions",
    "PortalLink",
    "Priority",
    "RateLimitError",
    "RedirectError",
    "ResponseTooLargeError",
    "Site",
    "TLSVerificationFailed",
    "Timeout",
    "UnprocessableEntityError",
    "UsageStats",
    "WebhookError",
    "WebhookInboxError",
    "WebhookNotification",
    "WebhookPayloadError",
    "WorkOrder",
    "WorkOrderStatus",
    "WorkType",
    "__version__",
    "split_range",
]


__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())


_configure_logging_from_env()  # CWPRO_LOG=debug|info: a stderr handler on the 'cwpro' logger
