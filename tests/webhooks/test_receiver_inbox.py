"""WebhookReceiver(inbox=...): durable acknowledgement, retries, dead events, 503 on failure."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from cwpro.webhooks import (
    SQLiteInbox,
    WebhookEvent,
    WebhookReceiver,
    backfill,
    event_from_mapping,
)

from ._helpers import BASE_TIME, body, notification
from ._receiving import Recorder, serving

FAST = {"retry_backoff": 0.01, "max_retry_backoff": 0.02, "poll_interval": 0.05}


async def post(session: aiohttp.ClientSession, url: str, data: bytes) -> int:
    async with session.post(url, data=data) as response:
        await response.read()
        return response.status


async def test_event_is_in_the_file_before_the_200(tmp_path: Path) -> None:
    gate = asyncio.Event()
    recorder = Recorder(gate=gate)
    path = tmp_path / "events.db"
    async with serving(recorder, inbox=path, **FAST) as (receiver, url, session):
        assert await post(session, url, body(1)) == 200
        # another connection sees the committed row while the handler is still blocked
        with sqlite3.connect(path) as other:
            rows = other.execute("SELECT event_id FROM cwpro_webhook_inbox").fetchall()
        assert rows == [(notification(1)["id"],)]
        gate.set()
        await receiver.join()
    assert recorder.ids == [notification(1)["id"]]
    assert receiver.stats.accepted == 1


async def test_duplicates_answered_200_and_recognised_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    first = Recorder()
    async with serving(first, inbox=path, **FAST) as (receiver, url, session):
        assert [await post(session, url, body(n)) for n in (1, 2, 1)] == [200, 200, 200]
        await receiver.join()
        assert receiver.stats.duplicates == 1
    second = Recorder()
    async with serving(second, inbox=path, **FAST) as (receiver, url, session):
        assert [await post(session, url, body(n)) for n in (2, 1, 3)] == [200, 200, 200]
        await receiver.join()
        assert receiver.stats.duplicates == 2
    assert sorted(first.ids) == [notification(1)["id"], notification(2)["id"]]
    assert second.ids == [notification(3)["id"]]


async def test_fails_twice_then_succeeds_handled_once_after_two_retries(tmp_path: Path) -> None:
    recorder = Recorder(fail_times=2)
    async with serving(recorder, inbox=tmp_path / "e.db", **FAST) as (receiver, url, session):
        assert await post(session, url, body(7)) == 200
        await receiver.join()
        assert receiver.inbox is not None
        entry = await receiver.inbox.get(notification(7)["id"])
    assert recorder.calls == 3
    assert recorder.ids == [notification(7)["id"]]
    assert receiver.stats.failed == 2 and receiver.stats.handled == 1
    assert entry is not None and entry.state == "done" and entry.attempts == 3


async def test_always_failing_event_goes_dead_and_replay_runs_it_again(tmp_path: Path) -> None:
    calls: list[str] = []
    succeed = False

    async def handler(event: WebhookEvent) -> None:
        calls.append(event.id)
        if not succeed:
            raise ValueError("cannot handle this")

    path = tmp_path / "e.db"
    async with serving(handler, inbox=path, max_attempts=3, **FAST) as (receiver, url, session):
        assert await post(session, url, body(5)) == 200
        await receiver.join()
        inbox = receiver.inbox
        assert inbox is not None
        dead = await inbox.dead()
        assert [entry.id for entry in dead] == [notification(5)["id"]]
        assert dead[0].attempts == 3
        assert dead[0].last_error == "ValueError: cannot handle this"
        assert len(calls) == 3
        assert await post(session, url, body(5)) == 200  # a redelivery does not revive it
        await receiver.join()
        assert len(calls) == 3
        succeed = True
        assert await inbox.replay(notification(5)["id"]) is True
        assert await inbox.replay("f" * 24) is False
        await receiver.join()
        assert await inbox.dead() == []
    assert len(calls) == 4


async def test_pending_events_of_a_crashed_process_run_first(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    async with SQLiteInbox(path) as inbox:
        await inbox.store([event_from_mapping(notification(n)) for n in (3, 1, 2)])
        claimed = await inbox.claim(1, received_before=4e9)  # "running" when it died
        assert [entry.id for entry in claimed] == [notification(1)["id"]]
    recorder = Recorder()
    receiver = WebhookReceiver(recorder, inbox=path, workers=1, **FAST)
    async with receiver:
        await receiver.join()
    assert recorder.ids == [notification(n)["id"] for n in (1, 2, 3)]


async def test_ordering_window_hands_events_in_created_date_order(tmp_path: Path) -> None:
    recorder = Recorder()
    options = {**FAST, "ordering_window": 0.3, "workers": 1}
    async with serving(recorder, inbox=tmp_path / "e.db", **options) as (receiver, url, session):
        statuses = await asyncio.gather(*(post(session, url, body(n)) for n in (4, 2, 3, 1)))
        assert statuses == [200] * 4
        await receiver.join()
    assert recorder.ids == [notification(n)["id"] for n in (1, 2, 3, 4)]


async def test_delivered_and_backfilled_event_handled_once(tmp_path: Path) -> None:
    recorder = Recorder()
    async with serving(recorder, inbox=tmp_path / "e.db", **FAST) as (receiver, url, session):
        assert await post(session, url, body(1)) == 200

        async def fetched() -> AsyncIterator[WebhookEvent]:
            for number in (1, 2, 3):
                record = notification(number)
                record["_id"] = record.pop("id")  # the API's shape
                yield event_from_mapping(record)

        not_called = Recorder()
        assert receiver.dedupe is not None
        result = await backfill(fetched(), not_called, seen=receiver.dedupe)
        await receiver.join()
    assert (result.stored, result.skipped, result.total) == (2, 1, 3)
    assert not_called.calls == 0
    assert sorted(recorder.ids) == [notification(n)["id"] for n in (1, 2, 3)]


async def test_corrupt_inbox_file_answers_503_and_logs_the_cause_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "events.db"
    path.write_bytes(b"this is not a database, just garbage bytes " * 100)
    recorder = Recorder()
    with caplog.at_level(logging.DEBUG, logger="cwpro.webhooks"):
        async with serving(recorder, inbox=path, **FAST) as (receiver, url, session):
            statuses = [await post(session, url, body(n)) for n in range(3)]
    assert statuses == [503, 503, 503]
    assert recorder.calls == 0
    assert receiver.stats.rejected["inbox_unavailable"] == 3
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "not a database" in errors[0].getMessage()


async def test_locked_inbox_answers_503_then_recovers(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    recorder = Recorder()
    inbox = SQLiteInbox(path, busy_timeout=0.05)
    async with serving(recorder, inbox=inbox, **FAST) as (receiver, url, session):
        assert await post(session, url, body(1)) == 200
        await receiver.join()
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            assert await post(session, url, body(2)) == 503
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert await post(session, url, body(2)) == 200
        await receiver.join()
    assert recorder.ids == [notification(1)["id"], notification(2)["id"]]


async def test_full_inbox_answers_503_and_keeps_what_it_acknowledged(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    inbox = SQLiteInbox(path, max_size_bytes=64 * 1024)
    big = {"blob": "x" * 3_000}
    acked: list[str] = []
    statuses: list[int] = []

    async def slow(event: WebhookEvent) -> None:
        await asyncio.Event().wait()  # never finishes: everything stays pending

    async with serving(slow, inbox=inbox, shutdown_timeout=0.01, **FAST) as (_, url, session):
        for number in range(60):
            status = await post(session, url, body(number, data=big))
            statuses.append(status)
            if status == 200:
                acked.append(notification(number)["id"])
    assert 200 in statuses and 503 in statuses
    assert set(statuses) == {200, 503}
    async with SQLiteInbox(path) as reopened:
        kept = {entry.id for entry in await reopened.pending()}
    assert set(acked) <= kept


async def test_inbox_options_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode='queue'"):
        WebhookReceiver(Recorder(), inbox=tmp_path / "e.db", mode="inline")
    with pytest.raises(ValueError, match="de-duplication"):
        WebhookReceiver(Recorder(), inbox=tmp_path / "e.db", dedupe=None)
    with pytest.raises(TypeError, match="inbox"):
        WebhookReceiver(Recorder(), inbox=42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_attempts"):
        WebhookReceiver(Recorder(), inbox=tmp_path / "e.db", max_attempts=0)
    with pytest.raises(ValueError, match="in-memory"):
        SQLiteInbox(":memory:")


async def test_purge_deletes_old_done_events_only(tmp_path: Path) -> None:
    async with SQLiteInbox(tmp_path / "e.db") as inbox:
        events = [event_from_mapping(notification(n)) for n in range(3)]
        assert await inbox.store(events) == [True, True, True]
        assert await inbox.store(events[:1]) == [False]
        (first,) = await inbox.claim(1, received_before=4e9)
        await inbox.complete(first.id)
        (second,) = await inbox.claim(1, received_before=4e9)
        await inbox.fail(second.id, "E: x", retry_at=None)
        assert await inbox.purge(older_than=timedelta(hours=1)) == 0
        assert await inbox.purge(older_than=timedelta(0)) == 1
        assert await inbox.purge(older_than=timedelta(0), dead=True) == 1
        assert [entry.id for entry in await inbox.pending()] == [events[2].id]
        assert await inbox.get(first.id) is None
        assert (await inbox.pending())[0].event.created_date == BASE_TIME + timedelta(seconds=2)
