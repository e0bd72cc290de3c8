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
    ConnectFailed,
    CwproError,
    InternalServerError,
    InvalidArgumentError,
    ModelError,
    NotFoundError,
    PaginationError,
    PermissionDeniedError,
    RateLimitError,
    TLSVerificationFailed,
    UnprocessableEntityError,
    WebhookError,
    WebhookPayloadError,
)
from ._logging import configure_from_env as _configure_logging_from_env
from ._query import ListQuery
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
    "PartitionState",
    "PermissionDeniedError",
    "Permissions",
    "PortalLink",
    "Priority",
    "RateLimitError",
    "RawResponse",
    "Site",
    "TLSVerificationFailed",
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

_configure_logging_from_env()  # CWPRO_LOG=debug|info: a stderr handler on the 'cwpro' logger
