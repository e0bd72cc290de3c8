"""Shared pieces of the portal-link tests: a settable clock, a store, an app over loopback."""

from __future__ import annotations

import dataclasses
import datetime
import json
import random
import re
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from cwpro.emulator.portal_links import PortalLinkStore

UTC = datetime.timezone.utc
START = datetime.datetime(2024, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)
WORKORDERS = [f"65a1b2c3d4e5f60718293a{index:02x}" for index in range(8)]
UNKNOWN_WORKORDER = "0123456789abcdef01234567"
WIRE_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
OBJECT_ID = re.compile(r"[0-9a-f]{24}")
JSON = {"Content-Type": "application/json"}
DETAILS_HEADER = "X-Error-Details"


class FakeClock:
    """A settable "now" for the store."""

    def __init__(self, now: datetime.datetime) -> None:
        self.now = now

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += datetime.timedelta(**delta)


@dataclasses.dataclass
class Env:
    store: PortalLinkStore
    client: TestClient[web.Request, web.Application]
    clock: FakeClock
    base_url: str


def make_store(
    clock: FakeClock, base_url: str = "http://emulator.test", seed: int = 7
) -> PortalLinkStore:
    return PortalLinkStore(
        rng=random.Random(seed),
        clock=clock,
        base_url=lambda: base_url,
        workorder_exists=WORKORDERS.__contains__,
    )


async def create(env: Env, **body: Any) -> dict[str, Any]:
    body.setdefault("workorder", WORKORDERS[0])
    async with env.client.post("/workorder-portal-link", json=body) as response:
        assert response.status == 201, await response.text()
        payload = await response.json()
    assert payload["success"] is True
    return payload["data"]  # type: ignore[no-any-return]


async def call(env: Env, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    status, payload, _ = await call_with_headers(env, method, path, **kwargs)
    return status, payload


async def call_with_headers(
    env: Env, method: str, path: str, **kwargs: Any
) -> tuple[int, Any, dict[str, str]]:
    async with env.client.request(method, path, **kwargs) as response:
        return response.status, await response.json(), dict(response.headers)


def details_of(headers: dict[str, str]) -> list[str]:
    """The per-problem details of an error answer (they travel only in a header)."""
    details = json.loads(headers[DETAILS_HEADER])
    assert isinstance(details, list)
    return details


def wire(moment: datetime.datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"
