"""The Inbox protocol, against SQLite and a real PostgreSQL server; several receivers on one."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cwpro.webhooks import (
    Inbox,
    PostgresInbox,
    SQLiteInbox,
    WebhookEvent,
    WebhookInboxError,
    WebhookReceiver,
    event_from_mapping,
)
from cwpro.webhooks._inbox import decode_event, encode_event
from tests.postgres import postgres_database, postgres_server  # noqa: F401

from ._helpers import body, notification

FAST = {"retry_backoff": 0.01, "max_retry_backoff": 0.02, "poll_interval": 0.05}


@pytest.fixture(params=["sqlite", "postgres"])
async def inbox(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Inbox]:
    store: Inbox
    if request.param == "sqlite":
        store = SQLiteInbox(tmp_path / "events.db")
    else:
        store = PostgresInbox(request.getfixturevalue("postgres_database"))
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def events(*numbers: int) -> list[WebhookEvent]:
    return [event_from_mapping(notification(n)) for n in numbers]


async def test_store_is_idempotent_by_id(inbox: Inbox) -> None:
    assert await inbox.store(events(1, 2)) == [True, True]
    assert await inbox.store(events(2, 3)) == [False, True]
    assert [e.id for e in await inbox.pending()] == [e.id for e in events(1, 2, 3)]
    stored = await inbox.get(events(2)[0].id)
    assert stored is not None and stored.event == events(2)[0] and stored.state == "pending"


async def test_claims_in_created_date_order_and_records_outcomes(inbox: Inbox) -> None:
    await inbox.store(events(3, 1, 2))
    first = await inbox.claim(2, received_before=4e9)
    assert [e.id for e in first] == [e.id for e in events(1, 2)]
    assert all(e.state == "running" and e.attempts == 1 for e in first)
    assert await inbox.claim(5, received_before=0) == []  # nothing received that early
    await inbox.complete(first[0].id)
    await inbox.fail(first[1].id, "RuntimeError: once", retry_at=4e9)
    (third,) = await inbox.claim(5, received_before=4e9)  # the retry is not due yet
    assert third.id == events(3)[0].id
    await inbox.fail(third.id, "RuntimeError: always", retry_at=None)
    (dead,) = await inbox.dead()
    assert (dead.id, dead.last_error, dead.attempts) == (third.id, "RuntimeError: always", 1)
    assert [e.id for e in await inbox.pending()] == [first[1].id]
    assert await inbox.next_due() == pytest.approx(4e9)
    assert await inbox.replay(third.id) is True
    assert await inbox.replay(third.id) is False  # already pending
    (again,) = await inbox.claim(5, received_before=4e9)
    assert again.id == third.id and again.attempts == 1


async def test_release_recover_purge_and_seen_ids(inbox: Inbox) -> None:
    await inbox.store(events(1, 2))
    claimed = await inbox.claim(2, received_before=4e9)
    await inbox.release([claimed[0].id])
    back = await inbox.get(claimed[0].id)
    assert back is not None and back.state == "pending" and back.attempts == 0
    await inbox.complete(claimed[1].id)
    assert await inbox.purge(timedelta(0)) == 1
    assert await inbox.mark_seen("f" * 24) is True
    assert await inbox.mark_seen("f" * 24) is False
    assert await inbox.contains("f" * 24) and await inbox.get("f" * 24) is None
    await inbox.forget("f" * 24)
    assert not await inbox.contains("f" * 24)
    with pytest.raises(ValueError, match="limit"):
        await inbox.pending(0)
    with pytest.raises(ValueError, match="older_than"):
        await inbox.purge(timedelta(seconds=-1))


async def test_sqlite_recover_puts_running_events_back(tmp_path: Path) -> None:
    async with SQLiteInbox(tmp_path / "e.db") as inbox:
        await inbox.store(events(1))
        await inbox.claim(1, received_before=4e9)
    async with SQLiteInbox(tmp_path / "e.db") as inbox:
        assert await inbox.recover() == 1
        assert [e.state for e in await inbox.pending()] == ["pending"]


async def test_postgres_lease_expiry_hands_a_dead_process_events_to_another(
    postgres_database: str,  # noqa: F811
) -> None:
    async with (
        PostgresInbox(postgres_database, lease_seconds=0.05) as crashed,
        PostgresInbox(postgres_database) as survivor,
    ):
        await crashed.store(events(1))
        assert len(await crashed.claim(1, received_before=4e9)) == 1
        assert await survivor.claim(1, received_before=4e9) == []  # leased
        await asyncio.sleep(0.1)
        (taken,) = await survivor.claim(1, received_before=4e9)
        assert taken.attempts == 2


async def test_postgres_unreachable_is_an_inbox_error() -> None:
    inbox = PostgresInbox("postgresql://nobody@127.0.0.1:1/none", connect_timeout=1)
    with pytest.raises(WebhookInboxError, match="cwpro_webhook_inbox"):
        await inbox.open()
    await inbox.close()


async def test_two_receivers_share_one_postgres_inbox(
    postgres_database: str,  # noqa: F811
) -> None:
    handled: collections.Counter[str] = collections.Counter()

    async def handle(event: WebhookEvent) -> None:
        handled[event.id] += 1
        await asyncio.sleep(0)

    receivers = [
        WebhookReceiver(
            handle, inbox=PostgresInbox(postgres_database), workers=2, allowed_ips=None, **FAST
        )
        for _ in range(2)
    ]
    numbers = list(range(200))
    async with (
        receivers[0].serve() as first,
        receivers[1].serve() as second,
        aiohttp.ClientSession() as session,
    ):

        async def deliver(number: int, url: str) -> int:
            async with session.post(url, data=body(number)) as response:
                return response.status

        # every event to both receivers (as CWP's two addresses might), concurrently
        statuses = await asyncio.gather(
            *(deliver(n, url) for n in numbers for url in (first, second))
        )
        assert statuses == [200] * (2 * len(numbers))
        await asyncio.gather(*(receiver.join() for receiver in receivers))
    assert sorted(handled) == sorted(notification(n)["id"] for n in numbers)
    assert set(handled.values()) == {1}
    assert sum(r.stats.accepted for r in receivers) == len(numbers)
    assert sum(r.stats.duplicates for r in receivers) == len(numbers)


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(data=st.dictionaries(st.text(max_size=10), _json, max_size=6), number=st.integers(0, 10**6))
def test_stored_text_gives_back_the_same_event(data: dict[str, object], number: int) -> None:
    event = event_from_mapping(notification(number, data=data))
    again = decode_event(encode_event(event))
    assert again == event and type(again) is type(event)


def test_unreadable_stored_text_is_an_inbox_error() -> None:
    with pytest.raises(WebhookInboxError, match="cannot be read"):
        decode_event('{"id": 1}')
