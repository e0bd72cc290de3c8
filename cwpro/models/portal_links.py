"""Workorder portal links and their nested objects."""

from __future__ import annotations

import datetime as _dt

import attrs

from .._serde import OpenEnum, wire
from ._base import Model


class LinkType(OpenEnum):
    """Who can open a portal link."""

    PUBLIC = "public"
    PRIVATE = "private"
    SECURE = "secure"


@attrs.frozen(kw_only=True, slots=False)
class Permissions(Model):
    """What a portal visitor may do."""

    can_view_details: bool | None = None
    can_add_comments: bool | None = None
    can_upload_files: bool | None = None
    can_view_history: bool | None = None
    can_approve_reject: bool | None = None


@attrs.frozen(kw_only=True, slots=False)
class AccessRestrictions(Model):
    """Limits on who and how often a link may be used."""

    allowed_ips: list[str] | None = None
    max_uses: int | None = None
    password_protected: bool | None = None
    require_email_verification: bool | None = None


@attrs.frozen(kw_only=True, slots=False)
class AccessLogEntry(Model):
    """One visit of a portal link."""

    timestamp: _dt.datetime | None = None
    ip_address: str | None = None
    user_agent: str | None = None
    action: str | None = None


@attrs.frozen(kw_only=True, slots=False)
class UsageStats(Model):
    """How a link has been used."""

    total_views: int | None = None
    unique_visitors: int | None = None
    last_accessed: _dt.datetime | None = None
    access_log: list[AccessLogEntry] | None = None


@attrs.frozen(kw_only=True, slots=False)
class NotificationSettings(Model):
    """Who is told when the link is used."""

    notify_on_access: bool | None = None
    notify_on_comment: bool | None = None
    notify_on_file_upload: bool | None = None
    notification_recipients: list[str] | None = None


@attrs.frozen(kw_only=True, slots=False)
class CustomBranding(Model):
    """How the portal page looks."""

    logo_url: str | None = None
    brand_color: str | None = None
    custom_domain: str | None = None
    footer_text: str | None = None


@attrs.frozen(kw_only=True, slots=False)
class LinkMetadata(Model):
    """Free-form information about a link (``created_by`` is set by the server)."""

    created_by: str | None = None
    purpose: str | None = None
    tags: list[str] | None = None


@attrs.frozen(kw_only=True, slots=False)
class PortalLink(Model):
    """A workorder portal link (``/workorder-portal-link``)."""

    id: str = wire("_id")
    workorder: str | None = None
    link_token: str | None = attrs.field(default=None, repr=False)
    full_url: str | None = attrs.field(default=None, repr=False)
    link_type: LinkType | None = None
    permissions: Permissions | None = None
    access_restrictions: AccessRestrictions | None = None
    expiry_date: _dt.datetime | None = None
    is_active: bool | None = None
    usage_stats: UsageStats | None = None
    notification_settings: NotificationSettings | None = None
    custom_branding: CustomBranding | None = None
    metadata: LinkMetadata | None = None
    company_namespace: list[str] | None = None
    created_at: _dt.datetime | None = wire("createdAt", default=None)
    modified_at: _dt.datetime | None = wire("modifiedAt", default=None)
    sv_client: int | None = wire("SVClient", default=None)
    version: int | None = wire("__v", default=None)


@attrs.frozen(kw_only=True, slots=False)
class Paging(Model):
    """Page-number paging of the portal-link list."""

    total: int
    page: int
    per_page: int
    pages: int
