"""Page-number lists build their models as a page is handed over, not inside the fetch task.

So the next requests are already on the wire while a page's models are built, and a malformed
item still raises :class:`cwpro.ModelError` naming the request and the page, with nothing left
running. Unit level with a fake fetch, then over loopback against a crafted server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

import cwpro
from cwpro.pagination import AsyncPagePaginator, NumberedPage

from ._support import crafted_api

PAGES = 6


async def test_finish_runs_at_hand_over_after_later_pages_were_requested() -> None:
    requested: list[int] = []
    finished: list[tuple[int, int]] = []  # (page finished, pages requested by then)

    async def fetch(page: int) -> NumberedPage[int]:
        requested.append(page)
        await asyncio.sleep(0.001)
        return NumberedPage([page * 10, page * 10 + 1], page, 2, 2 * PAGES, PAGES)

    def finish(page: NumberedPage[int]) -> NumberedPage[int]:
        finished.append((page.page, len(requested)))
        return NumberedPage([-x for x in page.items], page.page, 2, page.total, page.pages)

    paginator = AsyncPagePaginator(fetch, concurrency=3, finish=finish)
    items = [x async for x in paginator]
    assert items == [-x for p in range(1, PAGES + 1) for x in (p * 10, p * 10 + 1)]
    assert [page for page, _ in finished] == list(range(1, PAGES + 1))
    page_two_requested_by = dict(finished)[2]
    assert page_two_requested_by >= 4  # pages 3 and 4 were in flight before page 2's models
    first = await AsyncPagePaginator(fetch, concurrency=3, finish=finish)
    assert first.items == [-10, -11]  # await gives the first page, finished too


def _link(n: int, *, broken: bool = False) -> dict[str, Any]:
    return {
        "_id": f"{n:024x}",
        "workorder": f"{n + 1000:024x}",
        "link_type": "public",
        "permissions": "not an object" if broken else {"can_view_details": True},
    }


def _client_tasks() -> list[asyncio.Task[Any]]:
    """Tasks running SDK code (the crafted server's own handler tasks share the loop)."""
    tasks = []
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        if code is not None and "/cwpro/" in code.co_filename:
            tasks.append(task)
    return tasks


class Portal:
    """``GET /workorder-portal-link`` with 2 links per page; page 2 holds a malformed one."""

    def __init__(self) -> None:
        self.pages_requested: list[int] = []

    async def links(self, request: web.Request) -> web.Response:
        page = int(request.query.get("page", "1"))
        self.pages_requested.append(page)
        data = [_link(2 * page), _link(2 * page + 1, broken=page == 2)]
        paging = {"total": 2 * PAGES, "page": page, "per_page": 2, "pages": PAGES}
        return web.json_response({"success": True, "data": data, "paging": paging})


@pytest.fixture
async def portal() -> AsyncIterator[tuple[Portal, cwpro.AsyncClient]]:
    server = Portal()
    async with crafted_api({"/workorder-portal-link": server.links}) as client:
        yield server, client


async def test_a_malformed_link_raises_naming_request_and_page(
    portal: tuple[Portal, cwpro.AsyncClient],
) -> None:
    server, client = portal
    seen: list[str] = []
    with pytest.raises(cwpro.ModelError) as info:
        async for link in client.portal_links.list(per_page=2):
            assert isinstance(link, cwpro.PortalLink)
            seen.append(link.id)
    assert seen == [f"{2:024x}", f"{3:024x}"]  # page 1 was handed over whole
    message = str(info.value)
    assert "PortalLink.permissions" in message
    assert "GET http://127.0.0.1:" in message and "/workorder-portal-link" in message
    assert "page 2" in message
    assert server.pages_requested.count(1) == 1
    await asyncio.sleep(0)
    assert not _client_tasks()  # the fetches in flight were cancelled and awaited


async def test_dict_mode_hands_the_malformed_link_over_as_it_came(
    portal: tuple[Portal, cwpro.AsyncClient],
) -> None:
    server, client = portal
    links = [link async for link in client.portal_links.list(per_page=2, as_dict=True)]
    assert len(links) == 2 * PAGES
    assert links[3]["permissions"] == "not an object"
    assert sorted(server.pages_requested) == list(range(1, PAGES + 1))
