"""The blocking client against the emulator: one test per resource group, errors, raw responses."""

from __future__ import annotations

import datetime as dt
import hashlib
import traceback
from pathlib import Path

import pytest

import cwpro
import cwpro_sync
from cwpro import (
    BadRequestError,
    CursorPage,
    Document,
    LinkType,
    NotFoundError,
    NumberedPage,
    PortalLink,
    Site,
    WebhookNotification,
    WorkOrder,
    WorkOrderStatus,
    WorkType,
)
from cwpro.emulator import EmulatorThread

from .conftest import make_sync_client


def test_workorders_get_list_create_update_status(client: cwpro_sync.Client) -> None:
    page = client.workorders.list(limit=5).first_page()
    assert isinstance(page, CursorPage)
    assert len(page.items) == 5 and page.has_next
    wo = client.workorders.get(page.items[0].id)
    assert isinstance(wo, WorkOrder) and wo == page.items[0]
    expanded = client.workorders.get(wo.id, expand=True)
    assert expanded.work_types is not None

    work_type = client.work_types.list(limit=1).first_page().items[0]
    when = dt.datetime(2031, 1, 2, 3, 4, tzinfo=dt.timezone.utc)
    created = client.workorders.create(
        name="Swap switch in rack 4",
        priority="high",
        work_type_ids=[work_type.id],
        scheduled_date=when,
    )
    assert created.name == "Swap switch in rack 4"
    assert created.scheduled_date == when
    updated = client.workorders.update(created.id, description="bring a ladder")
    assert updated.description == "bring a ladder"
    message = client.workorders.update_status(created.id, WorkOrderStatus.OPEN)
    assert isinstance(message, str) and message
    assert client.workorders.get(created.id).status == WorkOrderStatus.OPEN
    with pytest.raises(BadRequestError) as info:
        client.workorders.create(name="bad", work_type_ids=["0" * 24])
    assert info.value.code == "WO_0005"


def test_work_types_and_sites(client: cwpro_sync.Client) -> None:
    types = list(client.work_types.list(limit=3))
    assert len(types) == 8 and all(isinstance(t, WorkType) for t in types)
    assert client.work_types.get(types[2].id) == types[2]
    sites = list(client.sites.list())
    assert len(sites) >= 15 and isinstance(sites[0], Site)
    assert client.sites.get(sites[0].id) == sites[0]
    created = client.sites.create(name="Depot 12", address={"city": "Porto", "country": "PT"})
    assert created.address is not None and created.address.city == "Porto"
    assert client.sites.get(created.id).name == "Depot 12"


def test_documents_upload_and_list(client: cwpro_sync.Client, tmp_path: Path) -> None:
    wo_id = client.workorders.list(limit=1).first_page().items[0].id
    photo = tmp_path / "meter.jpg"
    photo.write_bytes(b"\xff\xd8\xff" + bytes(range(256)) * 8)
    from_path = client.documents.upload(wo_id, photo)
    assert isinstance(from_path, Document)
    assert from_path.file_name == "meter.jpg"
    assert from_path.sha256 == hashlib.sha256(photo.read_bytes()).hexdigest()
    report = client.documents.upload(
        wo_id, b"%PDF-1.7", filename="r.pdf", resource_name="work_order_documents"
    )
    assert report.content_type == "application/pdf"
    assert [d.id for d in client.documents.list(wo_id)] == [from_path.id]
    assert [d.id for d in client.documents.list(wo_id, "work_order_documents")] == [report.id]
    with pytest.raises(ValueError, match="resource_name"):
        client.documents.upload(wo_id, b"x", resource_name="../etc")


def test_webhook_notifications_list_and_get(client: cwpro_sync.Client) -> None:
    before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5)
    site = client.sites.create(name="notify me")
    recent = list(client.webhooks.list(event="SITE.CREATE", since=before))
    assert site.id in [n.data["_id"] for n in recent]
    assert {n.event for n in recent} == {"SITE.CREATE"}
    assert all(isinstance(n, WebhookNotification) for n in client.webhooks.list(limit=10))
    assert client.webhooks.get(recent[0].id) == recent[0]
    with pytest.raises(NotFoundError):
        client.webhooks.get("0" * 24)


def test_portal_links_crud_and_list(client: cwpro_sync.Client) -> None:
    wo_id = client.workorders.list(limit=1).first_page().items[0].id
    link = client.portal_links.create(wo_id, link_type=LinkType.PUBLIC)
    assert isinstance(link, PortalLink) and link.link_token
    assert client.portal_links.get(link.id).workorder == wo_id
    assert client.portal_links.update(link.id, is_active=False).is_active is False
    assert client.portal_links.activate(link.id).is_active is True
    regenerated = client.portal_links.regenerate(link.id)
    assert regenerated.link_token != link.link_token

    first = client.portal_links.list(per_page=10).first_page()
    assert isinstance(first, NumberedPage) and first.page == 1 and first.pages >= 5
    every = list(client.portal_links.list(per_page=10))
    assert len(every) == first.total
    assert len({p.id for p in every}) == len(every)
    assert link.id in {p.id for p in every}
    pages = [page.page for page in client.portal_links.list(per_page=10, concurrency=3).pages()]
    assert pages == list(range(1, first.pages + 1))
    assert client.portal_links.list(per_page=10).to_list() == every

    assert client.portal_links.delete(link.id) is None
    with pytest.raises(NotFoundError):
        client.portal_links.get(link.id)


def test_errors_keep_their_type_and_traceback(client: cwpro_sync.Client) -> None:
    with pytest.raises(NotFoundError) as info:
        client.workorders.get("0" * 24)
    assert info.value.status == 404
    frames = "".join(traceback.format_tb(info.value.__traceback__))
    assert "transport.py" in frames  # raised where the async transport raised it
    assert "test_resources_sync.py" in frames
    with pytest.raises(ValueError, match="needs at least one field"):
        client.workorders.update("0" * 24)


def test_raw_responses_and_request(client: cwpro_sync.Client) -> None:
    wo = client.workorders.list(limit=1).first_page().items[0]
    raw = client.workorders.with_raw_response.get(wo.id)
    assert raw.status == 200 and raw.parsed == wo
    assert raw.payload["data"]["_id"] == wo.id
    response = client.request("GET", "/workorders/{id}", path_params={"id": wo.id})
    assert response.status == 200 and response.data["_id"] == wo.id


def test_export_checkpoint_and_resume(client: cwpro_sync.Client) -> None:
    total = client.workorders.list(limit=1).first_page().total_results
    export = client.workorders.export(limit=25)
    ids = [wo.id for wo in export]
    assert len(ids) == total and len(set(ids)) == total
    assert export.done

    partial = client.workorders.export(limit=25)
    pages = partial.pages()
    state, page = next(pages)
    assert state.index == 0
    pages.close()  # stop after one page, as an interrupted job would
    first_ids = [wo.id for wo in page.items]
    checkpoint = partial.checkpoint()
    assert checkpoint[0]["items"] == 25 and checkpoint[0]["cursor"] and not checkpoint[0]["done"]
    resumed = [wo.id for wo in client.workorders.export(limit=25, resume=checkpoint)]
    assert first_ids + resumed == ids


def test_planned_partitions_export_every_item_once(client: cwpro_sync.Client) -> None:
    total = client.workorders.list(limit=1).first_page().total_results
    plan = client.workorders.plan_partitions(4, limit=50)
    assert isinstance(plan, cwpro.PartitionPlan)
    assert plan.total == total and len(plan.partitions) == 4
    assert plan.estimated is not None and sum(plan.estimated) == total
    ids = [wo.id for wo in client.workorders.export(plan.partitions, limit=50)]
    assert len(ids) == len(set(ids)) == total


def test_with_options_view_shares_the_client(emu: EmulatorThread) -> None:
    client = make_sync_client(emu)
    view = client.with_options(timeout=5, max_retries=0)
    assert isinstance(view, cwpro_sync.Client)
    assert view.workorders.list(limit=2).first_page().items
    view.close()  # a view does not close its client
    assert not client.closed
    assert client.sites.list(limit=1).first_page().items
    client.close()
    assert client.closed and view.closed
    with pytest.raises(cwpro_sync.CwproError, match="closed"):
        view.sites.list(limit=1).first_page()


def test_with_block_close_is_idempotent(emu: EmulatorThread) -> None:
    with make_sync_client(emu) as client:
        assert "cwpro_sync.Client" in repr(client) and "Client" in repr(client.sites)
        assert client.work_types.list(limit=1).first_page().items
    assert client.closed
    client.close()
    client.close()
    with pytest.raises(cwpro_sync.CwproError, match="closed"):
        client.work_types.get("x")
    never_used = make_sync_client(emu)
    never_used.close()
    never_used.close()
    assert never_used.closed
