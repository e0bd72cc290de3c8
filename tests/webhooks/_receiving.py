"""A running receiver plus a client session, for the receiver tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from cwpro.webhooks import WebhookEvent, WebhookReceiver

LOOPBACK = ["127.0.0.1"]


class Recorder:
    """A handler that records the events it was given (optionally failing or waiting)."""

    def __init__(self, *, fail_times: int = 0, gate: asyncio.Event | None = None) -> None:
        self.events: list[WebhookEvent] = []
        self.calls = 0
        self.fail_times = fail_times
        self.gate = gate

    async def __call__(self, event: WebhookEvent) -> None:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.calls <= self.fail_times:
            raise RuntimeError(f"handler failure {self.calls}")
        self.events.append(event)

    @property
    def ids(self) -> list[str]:
        return [event.id for event in self.events]


@contextlib.asynccontextmanager
async def serving(
    handler: Any = None, **options: Any
) -> AsyncIterator[tuple[WebhookReceiver, str, aiohttp.ClientSession]]:
    """Serve a receiver on 127.0.0.1 (allowlisted unless told otherwise) with a session."""
    options.setdefault("allowed_ips", LOOPBACK)
    receiver = WebhookReceiver(handler if handler is not None else Recorder(), **options)
    async with receiver.serve() as url, aiohttp.ClientSession() as session:
        yield receiver, url, session
