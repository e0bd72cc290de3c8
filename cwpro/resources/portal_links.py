"""``client.portal_links``: the Workorder Portal Link API (page-number pagination)."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypedDict, TypeVar, overload

from typing_extensions import Unpack

from .. import _wire
from .._config import NOT_GIVEN, NotGiven
from .._errors import InvalidArgumentError
from .._http.options import CallOptions
from .._serde import format_datetime
from ..models import (
    AccessRestrictions,
    CustomBranding,
    LinkMetadata,
    LinkType,
    Model,
    NotificationSettings,
    Permissions,
    PortalLink,
)
from ..pagination import AsyncPagePaginator
from ._base import Endpoint, RawView, Resource, raw_method

__all__ = ["PortalLinkListArgs", "PortalLinks", "PortalLinksWithRawResponse"]

M = TypeVar("M", bound=Model)
Nested: TypeAlias = M | Mapping[str, Any]


class PortalLinkListArgs(TypedDict, total=False):
    """The keywords of ``PortalLinks.list()`` besides ``as_dict`` (for its overloads)."""

    page: int | None
    per_page: int | None
    sort: str | None
    company_namespace: Sequence[str] | None
    workorder: str | None
    is_active: bool | None
    link_type: LinkType | str | None
    ids: Sequence[str] | None
    concurrency: int
    max_items: int | None


def _nested(name: str, value: Any, cls: type[Model]) -> dict[str, Any] | None:
    """Validate a nested object by building its model, then send what the caller gave."""
    if value is None:
        return None
    if isinstance(value, cls):
        return value.to_dict()
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(
            f"{name} must be a {cls.__name__} or a mapping, got {type(value).__name__}"
        )
    try:
        return cls.from_dict(dict(value)).to_dict()
    except ValueError as exc:
        raise InvalidArgumentError(f"{name}: {exc}") from None


def _link_type(value: LinkType | str) -> str:
    if isinstance(value, LinkType) and value.known:
        return value.value
    if value not in LinkType._value2member_map_ or not LinkType(value).known:
        allowed = ", ".join(m.value for m in LinkType)
        raise InvalidArgumentError(f"link_type must be one of {allowed}, got {value!r}")
    return LinkType(value).value


def _string_list(name: str, value: Sequence[str]) -> list[str]:
    if isinstance(value, str) or not all(isinstance(v, str) and v for v in value):
        raise InvalidArgumentError(f"{name} must be a list of non-empty strings, got {value!r}")
    return list(value)


def _link_fields(
    *,
    link_type: LinkType | str | NotGiven | None,
    permissions: Any,
    access_restrictions: Any,
    expiry_date: _dt.datetime | NotGiven | None,
    notification_settings: Any,
    custom_branding: Any,
    metadata: Any,
    is_active: bool | NotGiven | None,
    company_namespace: Sequence[str] | NotGiven | None,
) -> dict[str, Any]:
    """The body fields that were given (``NOT_GIVEN`` left out; ``None`` only where nullable)."""
    body: dict[str, Any] = {}
    if not isinstance(link_type, NotGiven) and link_type is not None:
        body["link_type"] = _link_type(link_type)
    for name, value, cls in (
        ("permissions", permissions, Permissions),
        ("access_restrictions", access_restrictions, AccessRestrictions),
        ("notification_settings", notification_settings, NotificationSettings),
        ("custom_branding", custom_branding, CustomBranding),
        ("metadata", metadata, LinkMetadata),
    ):
        if not isinstance(value, NotGiven) and value is not None:
            body[name] = _nested(name, value, cls)
    if not isinstance(expiry_date, NotGiven):
        if expiry_date is not None and not isinstance(expiry_date, _dt.datetime):
            raise InvalidArgumentError(
                f"expiry_date must be a datetime or None, got {expiry_date!r}"
            )
        body["expiry_date"] = None if expiry_date is None else format_datetime(expiry_date)
    if not isinstance(is_active, NotGiven) and is_active is not None:
        if not isinstance(is_active, bool):
            raise InvalidArgumentError(f"is_active must be a bool, got {is_active!r}")
        body["is_active"] = is_active
    if not isinstance(company_namespace, NotGiven) and company_namespace is not None:
        body["company_namespace"] = _string_list("company_namespace", company_namespace)
    return body


def _check_id(name: str, value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgumentError(f"{name} must be a non-empty id string, got {value!r}")


class PortalLinks(Resource):
    """Workorder portal links: concurrent page-number list, CRUD, token, activation."""

    LIST = Endpoint("GET", _wire.PORTAL_LINKS, PortalLink, safe_to_repeat=True, pagination="page")
    CREATE = Endpoint("POST", _wire.PORTAL_LINKS, PortalLink, safe_to_repeat=False)
    GET = Endpoint("GET", _wire.PORTAL_LINK, PortalLink, safe_to_repeat=True)
    UPDATE = Endpoint("PATCH", _wire.PORTAL_LINK, PortalLink, safe_to_repeat=False)
    #: ``{"success": true}`` and no ``data`` (the published OpenAPI file); a second DELETE of
    #: a link the server deleted answers 404, so it is never re-sent once it may have run.
    DELETE = Endpoint(
        "DELETE", _wire.PORTAL_LINK, type(None), safe_to_repeat=False, expect_data=False
    )
    REGENERATE = Endpoint("POST", _wire.PORTAL_LINK_REGENERATE, PortalLink, safe_to_repeat=False)
    #: Setting a state the link may already have: repeating it changes nothing.
    ACTIVATE = Endpoint("POST", _wire.PORTAL_LINK_ACTIVATE, PortalLink, safe_to_repeat=True)
    DEACTIVATE = Endpoint("POST", _wire.PORTAL_LINK_DEACTIVATE, PortalLink, safe_to_repeat=True)

    @property
    def with_raw_response(self) -> PortalLinksWithRawResponse:
        """The same calls, each returning the :class:`cwpro.APIResponse`."""
        return PortalLinksWithRawResponse(self)

    if TYPE_CHECKING:  # the result's item type follows as_dict; the rest is PortalLinkListArgs

        @overload
        def list(
            self, *, as_dict: Literal[False] = False, **args: Unpack[PortalLinkListArgs]
        ) -> AsyncPagePaginator[PortalLink]: ...

        @overload
        def list(
            self, *, as_dict: Literal[True], **args: Unpack[PortalLinkListArgs]
        ) -> AsyncPagePaginator[dict[str, Any]]: ...

        @overload
        def list(
            self, *, as_dict: bool = False, **args: Unpack[PortalLinkListArgs]
        ) -> AsyncPagePaginator[Any]: ...

    def list(
        self,
        *,
        page: int | None = None,
        per_page: int | None = None,
        sort: str | None = None,
        company_namespace: Sequence[str] | None = None,
        workorder: str | None = None,
        is_active: bool | None = None,
        link_type: LinkType | str | None = None,
        ids: Sequence[str] | None = None,
        concurrency: int = 16,
        max_items: int | None = None,
        as_dict: bool = False,
    ) -> AsyncPagePaginator[Any]:
        """Stream portal links from ``page`` (default 1) to the last page.

        Page 1 is fetched first; the remaining pages are then fetched ``concurrency`` at a time
        (default 16, at most the client's ``max_connections``) and yielded in page order.
        ``max_items`` stops after that many links; ``as_dict=True`` yields the envelope's plain
        dicts instead of :class:`cwpro.PortalLink` models.
        ``await client.portal_links.list(page=3)`` returns just that page (a
        :class:`cwpro.NumberedPage` with its ``paging`` figures). Filters: ``company_namespace``
        and ``ids`` (lists), ``workorder``, ``is_active``, ``link_type``; ``sort`` is a field
        name (``-field`` descending).
        """
        if page is not None and (isinstance(page, bool) or not isinstance(page, int) or page < 1):
            raise InvalidArgumentError(f"page must be an integer >= 1, got {page!r}")
        if per_page is not None and (
            isinstance(per_page, bool)
            or not isinstance(per_page, int)
            or not 1 <= per_page <= _wire.PORTAL_PAGE_SIZE_MAX
        ):
            raise InvalidArgumentError(
                f"per_page must be an integer in 1..{_wire.PORTAL_PAGE_SIZE_MAX}, got {per_page!r}"
            )
        params: list[tuple[str, str]] = []
        if per_page is not None:
            params.append(("per_page", str(per_page)))
        if sort is not None:
            if not isinstance(sort, str) or not sort.strip():
                raise InvalidArgumentError(f"sort must be a field name, got {sort!r}")
            params.append(("sort", sort))
        for value in _string_list("company_namespace", company_namespace or []):
            params.append(("company_namespace", value))
        if workorder is not None:
            _check_id("workorder", workorder)
            params.append(("workorder", workorder))
        if is_active is not None:
            if not isinstance(is_active, bool):
                raise InvalidArgumentError(f"is_active must be a bool, got {is_active!r}")
            params.append(("is_active", "true" if is_active else "false"))
        if link_type is not None:
            params.append(("link_type", _link_type(link_type)))
        for value in _string_list("ids", ids or []):
            params.append(("_id", value))
        return self._page_list(
            self.LIST,
            params,
            first_page=page or 1,
            concurrency=concurrency,
            as_dict=as_dict,
            max_items=max_items,
        )

    async def create(
        self,
        workorder: str,
        *,
        link_type: LinkType | str = LinkType.PRIVATE,
        permissions: Permissions | Mapping[str, Any] | None = None,
        access_restrictions: AccessRestrictions | Mapping[str, Any] | None = None,
        expiry_date: _dt.datetime | None = None,
        notification_settings: NotificationSettings | Mapping[str, Any] | None = None,
        custom_branding: CustomBranding | Mapping[str, Any] | None = None,
        metadata: LinkMetadata | Mapping[str, Any] | None = None,
        is_active: bool = True,
        company_namespace: Sequence[str] | None = None,
        **options: Unpack[CallOptions],
    ) -> PortalLink:
        """Create a portal link for a work order (201); returns it with its ``link_token``.

        Nested settings take a model or a mapping; the server fills what is left out.
        """
        _check_id("workorder", workorder)
        body = {"workorder": workorder}
        body.update(
            _link_fields(
                link_type=link_type,
                permissions=permissions,
                access_restrictions=access_restrictions,
                expiry_date=NOT_GIVEN if expiry_date is None else expiry_date,
                notification_settings=notification_settings,
                custom_branding=custom_branding,
                metadata=metadata,
                is_active=is_active,
                company_namespace=company_namespace,
            )
        )
        return await self._call(self.CREATE, json=body, options=options)

    async def get(self, id: str, **options: Unpack[CallOptions]) -> PortalLink:
        """Fetch one portal link (:class:`cwpro.NotFoundError` if unknown)."""
        return await self._call(self.GET, path={"id": id}, options=options)

    async def update(
        self,
        id: str,
        *,
        link_type: LinkType | str | NotGiven = NOT_GIVEN,
        permissions: Permissions | Mapping[str, Any] | NotGiven = NOT_GIVEN,
        access_restrictions: AccessRestrictions | Mapping[str, Any] | NotGiven = NOT_GIVEN,
        expiry_date: _dt.datetime | NotGiven | None = NOT_GIVEN,
        notification_settings: NotificationSettings | Mapping[str, Any] | NotGiven = NOT_GIVEN,
        custom_branding: CustomBranding | Mapping[str, Any] | NotGiven = NOT_GIVEN,
        metadata: LinkMetadata | Mapping[str, Any] | NotGiven = NOT_GIVEN,
        is_active: bool | NotGiven = NOT_GIVEN,
        company_namespace: Sequence[str] | NotGiven = NOT_GIVEN,
        **options: Unpack[CallOptions],
    ) -> PortalLink:
        """Change only the given fields (PATCH); ``expiry_date=None`` removes the expiry."""
        body = _link_fields(
            link_type=link_type,
            permissions=permissions,
            access_restrictions=access_restrictions,
            expiry_date=expiry_date,
            notification_settings=notification_settings,
            custom_branding=custom_branding,
            metadata=metadata,
            is_active=is_active,
            company_namespace=company_namespace,
        )
        return await self._update(self.UPDATE, id, body, options)

    async def delete(self, id: str, **options: Unpack[CallOptions]) -> None:
        """Delete a portal link; its token stops working. Returns ``None``.

        Never re-sent once the server may have carried it out: a 5xx or a broken connection
        raises (check with ``get()``, which answers 404 once the link is gone).
        """
        await self._call(self.DELETE, path={"id": id}, options=options)

    async def regenerate(self, id: str, **options: Unpack[CallOptions]) -> PortalLink:
        """Issue a new ``link_token``/``full_url``; the old token stops working."""
        return await self._call(self.REGENERATE, path={"id": id}, options=options)

    async def activate(self, id: str, **options: Unpack[CallOptions]) -> PortalLink:
        """Make a portal link usable again."""
        return await self._call(self.ACTIVATE, path={"id": id}, options=options)

    async def deactivate(self, id: str, **options: Unpack[CallOptions]) -> PortalLink:
        """Stop a portal link from working (it can be activated again)."""
        return await self._call(self.DEACTIVATE, path={"id": id}, options=options)


class PortalLinksWithRawResponse(RawView[PortalLinks]):
    """``client.portal_links.with_raw_response``: each call returns its ``APIResponse``."""

    create = raw_method(PortalLinks.create)
    get = raw_method(PortalLinks.get)
    update = raw_method(PortalLinks.update)
    delete = raw_method(PortalLinks.delete)
    regenerate = raw_method(PortalLinks.regenerate)
    activate = raw_method(PortalLinks.activate)
    deactivate = raw_method(PortalLinks.deactivate)
