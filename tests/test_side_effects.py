"""Side effects are never repeated: for every endpoint x every way an answer can go wrong, the
number of requests the emulator received is asserted (``shared/API.md``, "Rules for every call").

* a complete 2xx the SDK cannot decode (cut JSON, an HTML page): sent once, ``APIDecodeError``;
* a reset before the response, or a body shorter than its ``Content-Length``: re-sent once for
  calls declared safe to repeat (then they succeed), sent once otherwise;
* 429: re-sent (the request was not processed), one object created;
* 500: re-sent for calls safe to repeat, sent once otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import cwpro
from cwpro import APIConnectionError, APIDecodeError, InternalServerError
from cwpro.resources import all_endpoints
from tests.conftest import make_client

Operation = Callable[[cwpro.AsyncClient, dict[str, str]], Awaitable[Any]]


async def _first_page(paginator: Any) -> Any:
    return await paginator


OPERATIONS: dict[str, Operation] = {
    "WorkOrders.LIST": lambda c, ids: _first_page(c.workorders.list(limit=5)),
    "WorkOrders.GET": lambda c, ids: c.workorders.get(ids["workorder"]),
    "WorkOrders.CREATE": lambda c, ids: c.workorders.create(name="matrix"),
    "WorkOrders.UPDATE": lambda c, ids: c.workorders.update(ids["workorder"], name="renamed"),
    "WorkOrders.UPDATE_STATUS": lambda c, ids: c.workorders.update_status(ids["workorder"], "open"),
    "WorkTypes.LIST": lambda c, ids: _first_page(c.work_types.list(limit=5)),
    "WorkTypes.GET": lambda c, ids: c.work_types.get(ids["work_type"]),
    "Sites.LIST": lambda c, ids: _first_page(c.sites.list(limit=5)),
    "Sites.GET": lambda c, ids: c.sites.get(ids["site"]),
    "Sites.CREATE": lambda c, ids: c.sites.create(name="matrix site"),
    "Documents.UPLOAD": lambda c, ids: c.documents.upload(
        ids["workorder"], b"matrix", filename="m.txt"
    ),
    "Documents.LIST": lambda c, ids: _first_page(c.documents.list(ids["workorder"])),
    "Webhooks.LIST": lambda c, ids: _first_page(c.webhooks.list(limit=5)),
    "Webhooks.GET": lambda c, ids: c.webhooks.get(ids["webhook"]),
    "PortalLinks.LIST": lambda c, ids: _first_page(c.portal_links.list(page=1)),
    "PortalLinks.CREATE": lambda c, ids: c.portal_links.create(ids["workorder"]),
    "PortalLinks.GET": lambda c, ids: c.portal_links.get(ids["link"]),
    "PortalLinks.UPDATE": lambda c, ids: c.portal_links.update(ids["link"], is_active=True),
    "PortalLinks.DELETE": lambda c, ids: c.portal_links.delete(ids["link"]),
    "PortalLinks.REGENERATE": lambda c, ids: c.portal_links.regenerate(ids["link"]),
    "PortalLinks.ACTIVATE": lambda c, ids: c.portal_links.activate(ids["link"]),
    "PortalLinks.DEACTIVATE": lambda c, ids: c.portal_links.deactivate(ids["link"]),
}

#: fault -> (arguments for emulator.faults.add, whether the call may be re-sent after it)
FAULTS: dict[str, tuple[dict[str, Any], str]] = {
    "undecodable-2xx": ({"kind": "truncate_body"}, "final"),
    "html-2xx": ({"kind": "html_body"}, "final"),
    "reset-before-response": ({"kind": "reset_before_headers"}, "if-safe"),
    "body-cut-short": ({"kind": "reset_mid_body"}, "if-safe"),
    "429": ({"kind": "status", "status": 429, "retry_after": 0}, "always"),
    "500": ({"kind": "status", "status": 500}, "if-safe"),
}


def test_the_matrix_covers_every_declared_endpoint() -> None:
    assert set(OPERATIONS) == set(all_endpoints())


def _route(endpoint: cwpro.resources.Endpoint[Any]) -> str:
    return f"{endpoint.method} {re.sub(r'{[^}]+}', '*', endpoint.path)}"


def _received(emulator: Any) -> int:
    return sum(emulator.stats.requests.values())


async def _ids(client: cwpro.AsyncClient) -> dict[str, str]:
    workorder = (await client.workorders.list(limit=1)).items[0].id
    link = await client.portal_links.create(workorder)
    return {
        "workorder": workorder,
        "work_type": (await client.work_types.list(limit=1)).items[0].id,
        "site": (await client.sites.list(limit=1)).items[0].id,
        "webhook": (await client.webhooks.list(limit=1)).items[0].id,
        "link": link.id,
    }


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("name", sorted(OPERATIONS))
async def test_requests_received_per_endpoint_and_fault(
    emulator: Any, name: str, fault: str
) -> None:
    endpoint = all_endpoints()[name]
    spec, rule = FAULTS[fault]
    async with make_client(emulator, max_retries=3) as client:
        ids = await _ids(client)
        before_objects = emulator.stats.count("POST")
        emulator.faults.add(route=_route(endpoint), times=1, **spec)
        before = _received(emulator)
        outcome: BaseException | None = None
        try:
            await OPERATIONS[name](client, ids)
        except cwpro.CwproError as exc:
            outcome = exc
        received = _received(emulator) - before
        resent = rule == "always" or (rule == "if-safe" and endpoint.safe_to_repeat)
        if rule == "final":
            assert received == 1, f"{name}: a complete answer was re-sent"
            assert isinstance(outcome, APIDecodeError), outcome
        elif resent:
            assert received == 2, f"{name} under {fault}: {received} requests"
            assert outcome is None, outcome
        else:
            assert received == 1, f"{name} under {fault}: re-sent a call with side effects"
            expected = InternalServerError if fault == "500" else APIConnectionError
            assert isinstance(outcome, expected), outcome
        if endpoint.method == "POST" and fault == "429":
            assert emulator.stats.count("POST") - before_objects == 2  # one 429 + one create


async def test_delete_without_data_is_sent_once_and_returns_none(emulator: Any) -> None:
    async with make_client(emulator) as client:
        link = await client.portal_links.create((await client.workorders.list(limit=1)).items[0].id)
        before = emulator.stats.count("DELETE")
        assert await client.portal_links.delete(link.id) is None
        assert emulator.stats.count("DELETE") - before == 1
        with pytest.raises(cwpro.NotFoundError):
            await client.portal_links.get(link.id)


async def test_max_retries_zero_sends_exactly_one_request_after_a_reset(emulator: Any) -> None:
    async with make_client(emulator, max_retries=0) as client:
        wo = (await client.workorders.list(limit=1)).items[0].id
        await client.workorders.get(wo)  # the connection is now pooled
        emulator.faults.add("reset_before_headers", route="GET /workorders/*", times=1)
        before = _received(emulator)
        with pytest.raises(APIConnectionError):
            await client.workorders.get(wo)
        assert _received(emulator) - before == 1  # aiohttp's own silent re-send is off


async def test_reset_after_the_server_deleted_is_not_turned_into_a_404(emulator: Any) -> None:
    async with make_client(emulator) as client:
        link = await client.portal_links.create((await client.workorders.list(limit=1)).items[0].id)
        emulator.faults.add(
            "reset_before_headers", route="DELETE /workorder-portal-link/*", times=1, processed=True
        )
        before = emulator.stats.count("DELETE")
        with pytest.raises(APIConnectionError):
            await client.portal_links.delete(link.id)
        assert emulator.stats.count("DELETE") - before == 1


async def test_per_call_max_retries_overrides_the_client(emulator: Any) -> None:
    async with make_client(emulator, max_retries=3) as client:
        wo = (await client.workorders.list(limit=1)).items[0].id
        emulator.faults.add("status", status=503, route="GET /workorders/*", times=5)
        before = _received(emulator)
        with pytest.raises(InternalServerError):
            await client.workorders.get(wo, max_retries=1)
        assert _received(emulator) - before == 2
        response = await client.workorders.with_raw_response.get(wo, max_retries=5)
        assert response.attempts == 4 and response.parse().id == wo
