"""cwpro: the Python SDK for the CLOUDWORK|PRO (CWP) API.

Asyncio-first (:class:`AsyncClient`), with a generated blocking twin (``cwpro_sync.Client``),
typed models that keep unknown fields, streaming pagination with prefetch and partitioned
export, typed errors, webhook receiving (``cwpro.webhooks``) and an embedded API emulator
(``cwpro.emulator``).
"""

from ._client import AsyncClient
from ._config import NOT_GIVEN, NotGiven, Timeout
from ._errors import (
    APIConnectionError,
    APIDecodeError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    CwproError,
    InternalServerError,
    NotFoundError,
    PaginationError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
    WebhookError,
    WebhookPayloadError,
)
from ._query import ListQuery
from ._serde import ModelError
from ._transport import APIResponse
from ._version import __version__
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
    PartitionState,
    split_range,
)
from .resources import RawResponse

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
    "ConfigurationError",
    "CursorPage",
    "CustomBranding",
    "CwproError",
    "Document",
    "EventType",
    "InternalServerError",
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
    "PartitionState",
    "PermissionDeniedError",
    "Permissions",
    "PortalLink",
    "Priority",
    "RateLimitError",
    "RawResponse",
    "Site",
    "Timeout",
    "UnprocessableEntityError",
    "UsageStats",
    "WebhookError",
    "WebhookNotification",
    "WebhookPayloadError",
    "WorkOrder",
    "WorkOrderStatus",
    "WorkType",
    "__version__",
    "split_range",
]
