"""What every handler and middleware of one emulator app shares."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from cwpro.emulator.auth import TokenStore
from cwpro.emulator.clock import EmulatorClock
from cwpro.emulator.datasets import EmulatorState
from cwpro.emulator.faults import FaultRegistry
from cwpro.emulator.list_query import Condition, parse_list_query
from cwpro.emulator.listing import ListSource, SelectionCache, page_body, select
from cwpro.emulator.stats import EmulatorStats
from cwpro.emulator.webhook_delivery import WebhookDispatcher
from cwpro.emulator.wire import json_response


@dataclass
class RuntimeSettings:
    """Knobs that may change while the emulator runs."""

    latency_ms: float = 0.0
    max_page_size: int = 1000


class EmulatorContext:
    """The state, clock, tokens, faults, counters and webhook dispatcher of one emulator."""

    def __init__(
        self,
        *,
        state: EmulatorState,
        clock: EmulatorClock,
        tokens: TokenStore,
        faults: FaultRegistry,
        stats: EmulatorStats,
        webhooks: WebhookDispatcher,
        settings: RuntimeSettings,
        base_url: Callable[[], str],
    ) -> None:
        self.state = state
        self.clock = clock
        self.tokens = tokens
        self.faults = faults
        self.stats = stats
        self.webhooks = webhooks
        self.settings = settings
        self.base_url = base_url
        self.selections = SelectionCache()
        self.upload_dir: Path | None = None
        #: The tasks answering requests now (``in_flight_middleware``), cancelled on close.
        self.in_flight: set[asyncio.Task[Any]] = set()

    def publish(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        """Record a webhook notification for ``event`` and start delivering it."""
        record = self.state.notifications.record(event, data, self.clock.now())
        self.webhooks.dispatch(record)
        return record

    def list_response(
        self,
        request: web.Request,
        source: ListSource,
        *,
        scope: str,
        extra: Sequence[tuple[str, Condition]] = (),
    ) -> web.Response:
        """Answer a cursor-list request over ``source`` (raises ``BusinessError`` PAG_*)."""
        query = parse_list_query(
            request.query,
            source.columns,
            scope=scope,
            max_limit=self.settings.max_page_size,
            extra=extra,
        )
        view = select(source, query, self.selections)
        return json_response(page_body(view, query))


CONTEXT = web.AppKey("cwpro_emulator_context", EmulatorContext)


def context_of(request: web.Request) -> EmulatorContext:
    """The emulator context of the app serving ``request``."""
    return request.app[CONTEXT]
