"""Cursor walks against a tiny loopback server that answers crafted pages (real HTTP).

The emulator's cursors are always well-formed, so these tests serve their own pages through
``aiohttp.web`` and count the requests the server received.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

import cwpro

from ._support import crafted_api

Page = Callable[[str | None], dict[str, Any]]


def _oid(n: int) -> str:
    return f"{n:024x}"


def _page(ids: range, has_next: bool, next_cursor: Any) -> dict[str, Any]:
    return {
        "code": 200,
        "reason": "",
        "success": True,
        "data": [{"_id": _oid(n), "name": f"site {n}"} for n in ids],
        "pagination": {
            "hasNext": has_next,
            "hasPrev": False,
            "nextCursor": next_cursor,
            "prevCursor": None,
            "pageResults": len(ids),
            "totalResults": 1000,
        },
    }


class Crafted:
    """A loopback API whose ``GET /sites`` pages come from ``self.pages(cursor)``."""

    def __init__(self) -> None:
        self.requests: list[str | None] = []
        self.pages: Page = lambda cursor: _page(range(0), False, None)

    async def sites(self, request: web.Request) -> web.Response:
        cursor = request.query.get("cursor")
        self.requests.append(cursor)
        return web.json_response(self.pages(cursor))


@pytest.fixture
async def crafted() -> AsyncIterator[tuple[Crafted, cwpro.AsyncClient]]:
    server = Crafted()
    async with crafted_api({"/sites": server.sites}) as client:
        yield server, client


@pytest.mark.parametrize("as_dict", [False, True])
@pytest.mark.parametrize("prefetch", [0, 1, 3])
async def test_a_to_b_to_a_raises_after_a_few_requests_with_each_item_once(
    crafted: tuple[Crafted, cwpro.AsyncClient], prefetch: int, as_dict: bool
) -> None:
    server, client = crafted
    follows = {None: "A", "A": "B", "B": "A"}
    starts = {None: 0, "A": 10, "B": 20}
    server.pages = lambda cursor: _page(
        range(starts[cursor], starts[cursor] + 10), True, follows[cursor]
    )
    got: list[str] = []
    with pytest.raises(cwpro.PaginationError) as info:
        async for item in client.sites.list(prefetch=prefetch, as_dict=as_dict):
            got.append(item["_id"] if isinstance(item, dict) else item.id)
    assert got == [_oid(n) for n in range(30)]
    assert info.value.resume_cursor == "A"
    assert "'A'" in str(info.value)
    assert server.requests == [None, "A", "B"]


@pytest.mark.parametrize("next_cursor", [None, "", 42, ["x"]])
async def test_has_next_without_a_string_cursor_raises(
    crafted: tuple[Crafted, cwpro.AsyncClient], next_cursor: Any
) -> None:
    server, client = crafted
    server.pages = lambda cursor: (
        _page(range(2), True, "p2") if cursor is None else _page(range(2, 4), True, next_cursor)
    )
    got: list[str] = []
    with pytest.raises(cwpro.PaginationError, match="nextCursor") as info:
        async for site in client.sites.list():
            got.append(site.id)
    assert got == [_oid(0), _oid(1)]
    assert info.value.resume_cursor == "p2"
    assert server.requests == [None, "p2"]


async def test_a_server_repeating_its_page_is_refused(
    crafted: tuple[Crafted, cwpro.AsyncClient],
) -> None:
    server, client = crafted
    server.pages = lambda cursor: _page(range(5), True, f"c{len(server.requests)}")
    got = []
    with pytest.raises(cwpro.PaginationError, match="same 5 items"):
        async for site in client.sites.list():
            got.append(site.id)
    assert len(got) == 5
    assert len(server.requests) <= 3


async def test_overlapping_pages_yield_each_id_once_and_max_items_stops(
    crafted: tuple[Crafted, cwpro.AsyncClient],
) -> None:
    server, client = crafted

    def pages(cursor: str | None) -> dict[str, Any]:
        start = 0 if cursor is None else int(cursor)
        more = start + 10 < 50
        return _page(range(max(0, start - 3), start + 10), more, str(start + 10))

    server.pages = pages
    ids = [site["_id"] async for site in client.sites.list(as_dict=True)]
    assert ids == [_oid(n) for n in range(50)]
    server.requests.clear()
    first = [site.id async for site in client.sites.list(max_items=15)]
    assert first == [_oid(n) for n in range(15)]
    assert len(server.requests) <= 3
