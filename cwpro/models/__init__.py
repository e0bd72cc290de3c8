"""Typed models of the CWP API. Every model keeps unknown fields and round-trips exactly."""

from ._base import Model
from .documents import Document
from .portal_links import (
    AccessLogEntry,
    AccessRestrictions,
    CustomBranding,
    LinkMetadata,
    LinkType,
    NotificationSettings,
    Paging,
    Permissions,
    PortalLink,
    UsageStats,
)
from .sites import Address, Site
from .webhooks import EventType, WebhookNotification
from .workorders import Priority, WorkOrder, WorkOrderStatus, WorkType

__all__ = [
    "AccessLogEntry",
    "AccessRestrictions",
    "Address",
    "CustomBranding",
    "Document",
    "EventType",
    "LinkMetadata",
    "LinkType",
    "Model",
    "NotificationSettings",
    "Paging",
    "Permissions",
    "PortalLink",
    "Priority",
    "Site",
    "UsageStats",
    "WebhookNotification",
    "WorkOrder",
    "WorkOrderStatus",
    "WorkType",
]
