"""Documents uploaded to a work order's resources."""

from __future__ import annotations

import datetime as _dt

import attrs

from .._serde import wire
from ._base import Model


@attrs.frozen(kw_only=True, slots=False)
class Document(Model):
    """A file stored under a work order resource such as ``work_order_extra_photos``."""

    id: str = wire("_id")
    work_order_id: str | None = None
    resource_name: str | None = None
    file_name: str | None = None
    content_type: str | None = None
    size: int | None = None
    sha256: str | None = None
    url: str | None = None
    created_date: _dt.datetime | None = None
