"""The blocking twin keeps the model types: its overload stacks are the async ones, rewritten."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests._support import mypy_strict

USER_SCRIPT = """
from typing import Any
from typing_extensions import assert_type
import cwpro_sync
from cwpro_sync import (
    CursorPage, CursorPaginator, Export, NumberedPage, PagePaginator, PortalLink, Site,
    WebhookNotification, WorkOrder,
)

def lists(client: cwpro_sync.Client, flag: bool) -> None:
    assert_type(client.workorders.list(), CursorPaginator[WorkOrder])
    assert_type(client.workorders.list(limit=5, max_items=9), CursorPaginator[WorkOrder])
    assert_type(client.workorders.list(as_dict=True), CursorPaginator[dict[str, Any]])
    assert_type(client.workorders.list(as_dict=flag), CursorPaginator[Any])
    assert_type(client.workorders.list().first_page(), CursorPage[WorkOrder])
    assert_type(client.workorders.list().to_list(), list[WorkOrder])
    assert_type(client.workorders.export(), Export[WorkOrder])
    assert_type(client.workorders.export(as_dict=True), Export[dict[str, Any]])
    assert_type(client.sites.export(None, concurrency=2), Export[Site])
    for work_order in client.workorders.list(sort_by="created_date:asc"):
        assert_type(work_order, WorkOrder)
    for row in client.sites.export(as_dict=True, ordered=True):
        assert_type(row, dict[str, Any])
    assert_type(client.webhooks.list(event="x", since=None), CursorPaginator[WebhookNotification])
    assert_type(client.webhooks.list(as_dict=True), CursorPaginator[dict[str, Any]])
    assert_type(client.webhooks.export(), Export[WebhookNotification])
    assert_type(client.webhooks.export(as_dict=True, event=None), Export[dict[str, Any]])
    assert_type(client.portal_links.list(page=2, concurrency=4), PagePaginator[PortalLink])
    assert_type(client.portal_links.list(as_dict=True), PagePaginator[dict[str, Any]])
    assert_type(client.portal_links.list().first_page(), NumberedPage[PortalLink])
    client.workorders.list(max_items="9")  # type: ignore[call-overload]
    client.portal_links.list(pages=2)  # type: ignore[call-overload]
    client.webhooks.export(since=None)  # type: ignore[call-overload]
"""


def test_lists_and_exports_are_typed_by_model_or_as_dict(tmp_path: Path) -> None:
    (tmp_path / "blocking_user.py").write_text(textwrap.dedent(USER_SCRIPT))
    done = mypy_strict(tmp_path, "blocking_user.py")
    assert done.returncode == 0, done.stdout + done.stderr
