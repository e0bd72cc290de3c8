"""``cwpro export`` against a loopback server whose cursors break (real HTTP, crafted pages)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from cwpro.cli import main

from ._helpers import jsonl_ids


def _envelope(ids: range, has_next: bool, next_cursor: Any) -> dict[str, Any]:
    return {
        "code": 200,
        "reason": "",
        "success": True,
        "data": [{"_id": f"{n:024x}", "name": f"site {n}"} for n in ids],
        "pagination": {
            "hasNext": has_next,
            "nextCursor": next_cursor,
            "pageResults": len(ids),
            "totalResults": 1000,
        },
    }


@pytest.fixture
def broken_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str | None]]:
    """An API whose second page says ``hasNext`` without a cursor; yields the requests seen."""
    requests: list[str | None] = []

    async def token(request: web.Request) -> web.Response:
        data = {"access_token": "t", "token_type": "Bearer", "expires_in": 3600}
        return web.json_response({"code": 200, "success": True, "reason": "", "data": data})

    async def sites(request: web.Request) -> web.Response:
        cursor = request.query.get("cursor")
        requests.append(cursor)
        if cursor is None:
            return web.json_response(_envelope(range(2), True, "p2"))
        return web.json_response(_envelope(range(2, 4), True, None))

    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_post("/auth/token", token)
    app.router.add_get("/sites", sites)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    for name in ("CWPRO_TOKEN", "CWPRO_API_KEY", "CWPRO_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CWPRO_BASE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("CWPRO_CLIENT_ID", "id")
    monkeypatch.setenv("CWPRO_CLIENT_SECRET", "secret")
    try:
        yield requests
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_has_next_without_a_cursor_fails_the_export_instead_of_a_short_success(
    broken_api: list[str | None], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sites.jsonl"
    status = main(["export", "sites", "--out", str(out), "--partitions", "1", "--no-progress"])
    captured = capsys.readouterr()
    assert status == 1, captured.err
    assert "PaginationError" in captured.err and "nextCursor" in captured.err
    assert "2 items are safely in" in captured.err and "--resume" in captured.err
    assert captured.out == ""  # no "export.done" summary
    assert jsonl_ids(out) == [f"{n:024x}" for n in range(2)]
    saved = json.loads(Path(f"{out}.checkpoint.json").read_text())
    assert saved["items_written"] == 2
    assert saved["state"][0] == {"index": 0, "cursor": "p2", "done": False, "items": 2, "pages": 1}
