"""The blocking twin follows the same rule as the async client: a complete answer is final and
only what never arrived is re-sent (``shared/API.md``, "Rules for every call").

Each case counts the requests the emulator received.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import cwpro
import cwpro_sync
from cwpro.emulator import EmulatorThread

from .conftest import make_sync_client


@pytest.fixture
def fresh() -> Iterator[EmulatorThread]:
    """An emulator of its own (each test adds faults and counts every request)."""
    with EmulatorThread(seed=5, workorders=20, sites=3, work_types=3, portal_links=3) as emu:
        yield emu


@pytest.fixture
def sync_client(fresh: EmulatorThread) -> Iterator[cwpro_sync.Client]:
    with make_sync_client(fresh, max_retries=3) as client:
        yield client


def _received(emu: EmulatorThread) -> int:
    return sum(emu.stats.requests.values())


def _count(emu: EmulatorThread, action: Callable[[], Any]) -> tuple[int, Any]:
    before = _received(emu)
    try:
        outcome = action()
    except cwpro.CwproError as exc:
        outcome = exc
    return _received(emu) - before, outcome


def test_delete_without_data_is_sent_once_and_returns_none(
    fresh: EmulatorThread, sync_client: cwpro_sync.Client
) -> None:
    wo = sync_client.workorders.list(limit=1).first_page().items[0].id
    link = sync_client.portal_links.create(wo)
    sent, outcome = _count(fresh, lambda: sync_client.portal_links.delete(link.id))
    assert (sent, outcome) == (1, None)


@pytest.mark.parametrize("kind", ["html_body", "truncate_body"])
def test_an_undecodable_complete_answer_is_final(
    fresh: EmulatorThread, sync_client: cwpro_sync.Client, kind: str
) -> None:
    wo = sync_client.workorders.list(limit=1).first_page().items[0].id
    calls: dict[str, Callable[[], Any]] = {
        "PATCH /workorders/*/status": lambda: sync_client.workorders.update_status(wo, "open"),
        "PATCH /workorders/*": lambda: sync_client.workorders.update(wo, name="renamed"),
        "GET /workorders/*": lambda: sync_client.workorders.get(wo),
    }
    for route, call in calls.items():
        fresh.faults.add(kind, route=route, times=1)
        sent, outcome = _count(fresh, call)
        assert sent == 1, f"{route}: a complete answer was re-sent"
        assert isinstance(outcome, cwpro.APIDecodeError), (route, outcome)
        fresh.faults.clear()


@pytest.mark.parametrize("kind", ["reset_before_headers", "reset_mid_body"])
def test_an_exchange_that_never_completed_is_re_sent_only_when_safe(
    fresh: EmulatorThread, sync_client: cwpro_sync.Client, kind: str
) -> None:
    wo = sync_client.workorders.list(limit=1).first_page().items[0].id
    created_before = fresh.stats.count("POST /workorders")
    fresh.faults.add(kind, route="POST /workorders", times=1)
    sent, outcome = _count(fresh, lambda: sync_client.workorders.create(name="once"))
    assert sent == 1 and isinstance(outcome, cwpro.APIConnectionError), outcome
    assert fresh.stats.count("POST /workorders") - created_before == 1

    fresh.faults.add(kind, route="GET /workorders/*", times=1)
    sent, outcome = _count(fresh, lambda: sync_client.workorders.get(wo))
    assert sent == 2 and isinstance(outcome, cwpro.WorkOrder), outcome


def test_429_on_a_create_is_re_sent_and_500_is_not(
    fresh: EmulatorThread, sync_client: cwpro_sync.Client
) -> None:
    total_before = len(sync_client.workorders.list(limit=100).to_list())
    fresh.faults.add("status", status=429, retry_after=0, route="POST /workorders", times=1)
    sent, outcome = _count(fresh, lambda: sync_client.workorders.create(name="after 429"))
    assert sent == 2 and isinstance(outcome, cwpro.WorkOrder), outcome

    fresh.faults.add("status", status=500, route="POST /workorders", times=1)
    sent, outcome = _count(fresh, lambda: sync_client.workorders.create(name="after 500"))
    assert sent == 1 and isinstance(outcome, cwpro.InternalServerError), outcome
    assert len(sync_client.workorders.list(limit=100).to_list()) == total_before + 1


def test_max_retries_zero_sends_one_request_after_a_reset_on_a_pooled_connection(
    fresh: EmulatorThread,
) -> None:
    with make_sync_client(fresh, max_retries=0) as client:
        wo = client.workorders.list(limit=1).first_page().items[0].id
        client.workorders.get(wo)  # the connection is now pooled
        fresh.faults.add("reset_before_headers", route="GET /workorders/*", times=1)
        sent, outcome = _count(fresh, lambda: client.workorders.get(wo))
        assert sent == 1 and isinstance(outcome, cwpro.APIConnectionError), outcome
