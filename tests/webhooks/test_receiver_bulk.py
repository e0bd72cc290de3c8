"""The receiver under junk and under load: nothing bad reaches the handler, nothing twice."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cwpro._errors import WebhookPayloadError
from cwpro.webhooks import WebhookReceiver, parse_event
from tests._support import any_json

from ._helpers import BASE_TIME, body, notification, object_id
from ._receiving import Recorder, serving

JSON = {"Content-Type": "application/json"}


@pytest.fixture
async def inline_server() -> AsyncIterator[tuple[WebhookReceiver, str, aiohttp.ClientSession]]:
    async with serving(Recorder(), mode="inline", dedupe=None) as running:
        yield running


def _is_valid(data: bytes) -> bool:
    try:
        parse_event(data)
    except WebhookPayloadError:
        return False
    return True


json_values = any_json(text=10, key=8, entries=3, leaves=10)
near_miss = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=5) | st.integers(),
        "event": st.sampled_from(["WORKORDER.CREATE", "SITE.CREATE", ""]) | st.integers(),
        "created_date": st.sampled_from(["2024-01-01T00:00:00Z", "2024-99-01", ""]),
        "data": json_values,
    },
)
junk = (
    st.binary(max_size=300)
    | json_values.map(lambda value: json.dumps(value).encode())
    | near_miss.map(lambda value: json.dumps(value).encode())
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=junk)
async def test_junk_bodies_never_reach_the_handler_nor_break_the_server(
    inline_server: tuple[WebhookReceiver, str, aiohttp.ClientSession], data: bytes
) -> None:
    receiver, url, session = inline_server
    recorder = receiver._handler
    assert isinstance(recorder, Recorder)
    calls_before = recorder.calls
    async with session.post(url, data=data, headers=JSON) as response:
        status = response.status
        await response.read()
    valid = _is_valid(data)
    assert status == (200 if valid else 400)
    assert recorder.calls == calls_before + (1 if valid else 0)
    # the server still works
    async with session.post(url, data=body(1), headers=JSON) as response:
        assert response.status == 200


@pytest.mark.parametrize(
    ("ordering_window", "deliveries"),
    [(60.0, 10_000), (None, 2_500)],  # the ordered run also proves exactly-once at 10,000
)
async def test_deliveries_with_20_percent_duplicates_are_handled_exactly_once(
    ordering_window: float | None, deliveries: int
) -> None:
    unique = deliveries * 4 // 5
    duplicates = deliveries - unique
    rng = random.Random(42)
    numbers = list(range(unique)) + [rng.randrange(unique) for _ in range(duplicates)]
    rng.shuffle(numbers)
    # created_date order differs from id order, to check ordering uses created_date
    created = {n: BASE_TIME + timedelta(milliseconds=(n * 7919) % unique) for n in range(unique)}
    bodies = {n: json.dumps(notification(n, created=created[n], data={})).encode() for n in created}
    recorder = Recorder()
    options: dict[str, Any] = {"ordering_window": ordering_window}
    async with serving(recorder, **options) as (receiver, url, _):
        connector = aiohttp.TCPConnector(limit=64)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def deliver(number: int) -> int:
                async with session.post(url, data=bodies[number], headers=JSON) as response:
                    await response.read()
                    return response.status

            statuses = await asyncio.gather(*(deliver(n) for n in numbers))
        assert set(statuses) == {200}
        await asyncio.wait_for(receiver.join(flush=True), 10)
    assert sorted(recorder.ids) == sorted(object_id(n) for n in range(unique))
    assert receiver.stats.accepted == unique
    assert receiver.stats.duplicates == duplicates
    assert receiver.stats.handled == unique
    if ordering_window is not None:
        dates = [event.created_date for event in recorder.events]
        assert dates == sorted(dates)
        assert receiver.stats.late == 0
