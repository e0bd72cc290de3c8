"""Sites: the places where work happens."""

from __future__ import annotations

import datetime as _dt

import attrs

from .._serde import wire
from ._base import Model


@attrs.frozen(kw_only=True, slots=False)
class Address(Model):
    """A postal address."""

    street: str | None = None
    city: str | None = None
    state: str | None = None
    zip_code: str | None = None
    country: str | None = None


@attrs.frozen(kw_only=True, slots=False)
class Site(Model):
    """A site (``GET /sites``)."""

    id: str = wire("_id")
    name: str | None = None
    address: Address | None = None
    latitude: float | None = None
    longitude: float | None = None
    created_date: _dt.datetime | None = None
    updated_date: _dt.datetime | None = None
