"""``client.sites``: the places where work happens."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import _wire
from ..models import Address, Site
from ._base import CursorListResource, Endpoint

__all__ = ["Sites"]


class Sites(CursorListResource[Site]):
    """Sites: list/export, get, create."""

    LIST = Endpoint("GET", _wire.SITES, Site, pagination="cursor")
    GET = Endpoint("GET", _wire.SITE, Site)
    CREATE = Endpoint("POST", _wire.SITES, Site)

    async def get(self, id: str) -> Site:
        """Fetch one site (:class:`cwpro.NotFoundError` if unknown)."""
        result: Site = await self._call(self.GET, path={"id": id})
        return result

    async def create(
        self,
        *,
        name: str,
        address: Address | Mapping[str, Any] | None = None,
        latitude: float | None = None,
        longitude: float | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Site:
        """Create a site and return it as stored (fields not given are not sent)."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError("name must be a non-empty string")
        body: dict[str, Any] = dict(extra or {})
        body["name"] = name
        if address is not None:
            body["address"] = address.to_dict() if isinstance(address, Address) else dict(address)
        for key, value in (("latitude", latitude), ("longitude", longitude)):
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ValueError(f"{key} must be a number, got {value!r}")
                body[key] = value
        result: Site = await self._call(self.CREATE, json=body)
        return result
