"""A plain aiohttp client for a running Emulator (no SDK involved): login, calls, raw replies."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from typing_extensions import Self

from cwpro.emulator import Emulator


@dataclasses.dataclass
class Reply:
    """A complete answer: status, headers, raw body (and the body as JSON, when it is JSON)."""

    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self) -> Any:
        return json.loads(self.raw)


class Live:
    """Calls an emulator with a bearer token over one aiohttp session."""

    def __init__(self, emu: Emulator, session: aiohttp.ClientSession) -> None:
        self.emu = emu
        self.session = session
        self.token = ""

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, emu: Emulator, *, fresh_connections: bool = False) -> AsyncIterator[Self]:
        """A logged-in client over its own session; ``fresh_connections``: a new connection
        per request (no pooled-connection effects: aiohttp never silently retries a dropped one).
        """
        connector = aiohttp.TCPConnector(force_close=True) if fresh_connections else None
        async with aiohttp.ClientSession(connector=connector) as session:
            client = cls(emu, session)
            await client.login()
            yield client

    async def login(self) -> None:
        credentials = {"client_id": self.emu.client_id, "client_secret": self.emu.client_secret}
        async with self.session.post(self.emu.url_for("/auth/token"), json=credentials) as r:
            assert r.status == 200, await r.text()
            self.token = (await r.json())["data"]["access_token"]

    async def call(self, method: str, path: str, *, auth: bool = True, **kwargs: Any) -> Reply:
        headers = dict(kwargs.pop("headers", {}))
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        async with self.session.request(
            method, self.emu.url_for(path), headers=headers, **kwargs
        ) as response:
            return Reply(response.status, dict(response.headers), await response.read())

    def first_link(self) -> dict[str, Any]:
        from cwpro.emulator.portal_links import LinkQuery

        return self.emu.portal_links.list_links(LinkQuery(per_page=1)).items[0]
