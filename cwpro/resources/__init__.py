"""The API's resources, one module each; every operation declared once as an ``Endpoint``."""

from ._base import CursorListResource, Endpoint, RawResponse, Resource, all_endpoints
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

__all__ = [
    "RESOURCES",
    "CursorListResource",
    "Documents",
    "Endpoint",
    "PortalLinks",
    "RawResponse",
    "Resource",
    "Sites",
    "Webhooks",
    "WorkOrders",
    "WorkTypes",
    "all_endpoints",
]
