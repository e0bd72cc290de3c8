"""The API's resources, one module each; every operation declared once as an ``Endpoint``."""

from typing import Any

from ._base import CursorListResource, Endpoint, RawView, Resource
from .documents import Documents
from .portal_links import PortalLinks
from .sites import Sites
from .webhooks import Webhooks
from .work_types import WorkTypes
from .workorders import WorkOrders

#: Client attribute -> resource class. The async client, the generated blocking client and the
#: route tests all read this table.
RESOURCES: dict[str, type[Resource]] = {
    "workorders": WorkOrders,
    "work_types": WorkTypes,
    "sites": Sites,
    "documents": Documents,
    "webhooks": Webhooks,
    "portal_links": PortalLinks,
}


def all_endpoints() -> dict[str, Endpoint[Any]]:
    """Every endpoint declared by every resource, as ``{"Resource.NAME": endpoint}``."""
    return {
        f"{cls.__name__}.{name}": ep
        for cls in RESOURCES.values()
        for name, ep in cls.endpoints.items()
    }


__all__ = [
    "RESOURCES",
    "CursorListResource",
    "Documents",
    "Endpoint",
    "PortalLinks",
    "RawView",
    "Resource",
    "Sites",
    "Webhooks",
    "WorkOrders",
    "WorkTypes",
    "all_endpoints",
]
