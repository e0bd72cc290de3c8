"""``client.sites``: the places where work happens."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from typing_extensions import Unpack

from .. import _wire
from .._errors import InvalidArgumentError
from .._http.options import CallOptions
from .._validate import non_empty_string
from ..models import Address, Site
from ._base import CursorListResource, Endpoint, RawView, raw_method

__all__ = ["Sites", "SitesWithRawResponse"]


class Sites(CursorListResource[Site]):
    """Sites: list/export, get, create."""

    LIST = Endpoint("GET", _wire.SITES, Site, safe_to_repeat=True, pagination="cursor")
    GET = Endpoint("GET", _wire.SITE, Site, safe_to_repeat=True)
    CREATE = Endpoint("POST", _wire.SITES, Site, safe_to_repeat=False)

    @property
    def with_raw_response(self) -> SitesWithRawResponse:
        """The same calls, each returning the :class:`cwpro.APIResponse`."""
        return SitesWithRawResponse(self)

    async def get(self, id: str, **options: Unpack[CallOptions]) -> Site:
        """Fetch one site (:class:`cwpro.NotFoundError` if unknown)."""
        return await self._call(self.GET, path={"id": id}, options=options)

    async def create(
        self,
        *,
        name: str,
        address: Address | Mapping[str, Any] | None = None,
        latitude: float | None = None,
        longitude: float | None = None,
        extra: dict[str, Any] | None = None,
        **options: Unpack[CallOptions],
    ) -> Site:
        """Create a site and return it as stored (fields not given are not sent)."""
        non_empty_string("name", name.strip() if isinstance(name, str) else name)
        body: dict[str, Any] = dict(extra or {})
        body["name"] = name
        if address is not None:
            body["address"] = address.to_dict() if isinstance(address, Address) else dict(address)
        for key, value in (("latitude", latitude), ("longitude", longitude)):
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise InvalidArgumentError(f"{key} must be a number, got {value!r}")
                body[key] = value
        return await self._call(self.CREATE, json=body, options=options)


class SitesWithRawResponse(RawView[Sites]):
    """``client.sites.with_raw_response``: each call returns its ``APIResponse``."""

    get = raw_method(Sites.get)
    create = raw_method(Sites.create)
