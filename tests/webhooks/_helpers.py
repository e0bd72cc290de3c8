"""Builders shared by the webhook tests."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

BASE_TIME = datetime(2024, 1, 1, tzinfo=timezone.utc)


def object_id(number: int) -> str:
    """A 24-hex-digit id, unique per number."""
    return f"{number:024x}"


def wire_time(moment: datetime) -> str:
    """The API's datetime format: milliseconds and Z."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def notification(
    number: int,
    *,
    event: str = "WORKORDER.CREATE",
    created: datetime | None = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A delivered notification body (as a dict)."""
    created = created if created is not None else BASE_TIME + timedelta(seconds=number)
    if data is None:
        data = {
            "_id": object_id(number + 1_000_000),
            "name": f"work order {number}",
            "status": "open",
            "created_date": wire_time(created),
        }
    return {
        "id": object_id(number),
        "event": event,
        "created_date": wire_time(created),
        "data": data,
    }


def body(number: int, **kwargs: Any) -> bytes:
    """A delivered notification body (as JSON bytes)."""
    return json.dumps(notification(number, **kwargs)).encode()
