"""Every CWP operation against the emulator, including its error cases (issue: resources)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from typing import Any

import pytest

import cwpro
from cwpro import (
    BadRequestError,
    Document,
    NotFoundError,
    Site,
    WebhookNotification,
    WorkOrder,
    WorkOrderStatus,
    WorkType,
)


async def test_workorders_list_get_expand(client: cwpro.AsyncClient) -> None:
    page = await client.workorders.list(limit=5)
    assert len(page.items) == 5
    assert all(isinstance(w, WorkOrder) for w in page.items)
    assert page.total_results == 250
    wo = page.items[0]
    assert wo.created_date is not None and wo.created_date.tzinfo is not None
    assert wo.extra  # the emulator sends fields the SDK does not model: kept
    plain = await client.workorders.get(wo.id)
    assert plain.work_types is None
    full = await client.workorders.get(wo.id, expand=True)
    assert full.work_types is not None
    assert [t.id for t in full.work_types] == full.work_type_ids
    assert all(isinstance(t, WorkType) and t.name for t in full.work_types)


async def test_workorders_create_update_status(client: cwpro.AsyncClient, emulator: Any) -> None:
    work_types = (await client.work_types.list(limit=2)).items
    site = (await client.sites.list(limit=1)).items[0]
    when = dt.datetime(2030, 5, 1, 9, 30, tzinfo=dt.timezone.utc)
    created = await client.workorders.create(
        name="Replace AP in lobby",
        description="ceiling mount",
        priority="high",
        site_id=site.id,
        work_type_ids=[t.id for t in work_types],
        scheduled_date=when,
        extra={"external_reference": "TICKET-42"},
    )
    assert created.name == "Replace AP in lobby"
    assert created.status == WorkOrderStatus.DRAFT
    assert created.scheduled_date == when
    assert created.extra["external_reference"] == "TICKET-42"
    updated = await client.workorders.update(
        created.id, name="Replace AP (lobby)", priority="urgent"
    )
    assert updated.name == "Replace AP (lobby)"
    assert updated.description == "ceiling mount"
    message = await client.workorders.update_status(created.id, "open")
    assert message == f"Status updated successfully to: 'open' for work order with ID: {created.id}"
    assert (await client.workorders.get(created.id)).status == WorkOrderStatus.OPEN


async def test_workorder_validation_errors(client: cwpro.AsyncClient) -> None:
    wo_id = (await client.workorders.list(limit=1)).items[0].id
    with pytest.raises(BadRequestError) as info:
        await client.workorders.update(wo_id, work_type_ids=["f" * 24])
    assert info.value.code == "WO_0005"
    with pytest.raises(BadRequestError) as info:
        await client.workorders.update_status(wo_id, "teleported")
    assert info.value.code == "WO_0003"
    with pytest.raises(NotFoundError):
        await client.workorders.update_status("f" * 24, "open")
    with pytest.raises(NotFoundError):
        await client.workorders.update("f" * 24, name="x")
    with pytest.raises(ValueError, match="name"):
        await client.workorders.create(name="  ")
    with pytest.raises(ValueError, match="at least one field"):
        await client.workorders.update(wo_id)


async def test_wrong_content_type_is_422(client: cwpro.AsyncClient, emulator: Any) -> None:
    import aiohttp

    token = await client._transport.auth.get_token()
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            emulator.url_for("/workorders"),
            data=b'{"name": "x"}',
            headers={"Authorization": f"Bearer {token}", "Content-Type": "text/plain"},
        ) as resp,
    ):
        assert resp.status == 422


async def test_work_types_and_sites(client: cwpro.AsyncClient) -> None:
    types = [t async for t in client.work_types.list(limit=5)]
    assert len(types) == 12
    assert (await client.work_types.get(types[3].id)).name == types[3].name
    with pytest.raises(NotFoundError):
        await client.work_types.get("0" * 24)
    sites = [s async for s in client.sites.list()]
    assert len(sites) == 30
    assert isinstance(sites[0], Site)
    assert sites[0].address is not None
    got = await client.sites.get(sites[0].id)
    assert got == sites[0]
    created = await client.sites.create(
        name="Depot 9", address={"city": "Lyon", "country": "FR"}, latitude=45.75, longitude=4.85
    )
    assert created.address is not None and created.address.city == "Lyon"
    assert (await client.sites.get(created.id)).name == "Depot 9"
    with pytest.raises(BadRequestError) as info:
        await client.sites._call(client.sites.CREATE, json={"latitude": 1})
    assert info.value.code == "SITE_0001"
    with pytest.raises(NotFoundError):
        await client.sites.get("0" * 24)


async def test_documents_upload_from_path_bytes_and_file(
    client: cwpro.AsyncClient, emulator: Any, tmp_path: Any
) -> None:
    wo_id = (await client.workorders.list(limit=1)).items[0].id
    photo = tmp_path / "front door.jpg"
    photo.write_bytes(b"\xff\xd8\xff" + bytes(range(256)) * 40)
    from_path = await client.documents.upload(wo_id, photo)
    assert isinstance(from_path, Document)
    assert from_path.file_name == "front door.jpg"
    assert from_path.content_type == "image/jpeg"
    assert from_path.size == photo.stat().st_size
    assert from_path.sha256 == hashlib.sha256(photo.read_bytes()).hexdigest()
    from_bytes = await client.documents.upload(
        wo_id, b"%PDF-1.7 ...", filename="report.pdf", resource_name="work_order_documents"
    )
    assert from_bytes.content_type == "application/pdf"
    with open(photo, "rb") as handle:
        from_file = await client.documents.upload(wo_id, handle, content_type="image/x-custom")
    assert from_file.content_type == "image/x-custom"
    listed = [d async for d in client.documents.list(wo_id)]
    assert {d.id for d in listed} == {from_path.id, from_file.id}
    other = [d async for d in client.documents.list(wo_id, "work_order_documents")]
    assert [d.id for d in other] == [from_bytes.id]
    with pytest.raises(NotFoundError):
        await client.documents.upload("0" * 24, b"x", filename="x.txt")
    with pytest.raises(ValueError, match="resource_name"):
        await client.documents.upload(wo_id, b"x", resource_name="../etc")
    with pytest.raises(TypeError, match="binary"):
        await client.documents.upload(wo_id, io.StringIO("text"))  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        await client.documents.upload(wo_id, tmp_path / "missing.bin")


async def test_upload_retried_after_429_re_reads_the_file(
    client: cwpro.AsyncClient, emulator: Any, tmp_path: Any
) -> None:
    wo_id = (await client.workorders.list(limit=1)).items[0].id
    data = b"0123456789" * 5000
    emulator.faults.add("status", status=429, route="POST /workorders/*/resources/*", times=1)
    with io.BytesIO(data) as handle:
        doc = await client.documents.upload(wo_id, handle, filename="blob.bin")
    assert doc.size == len(data)
    assert doc.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.slow
async def test_200mb_upload_streams_with_flat_memory(tmp_path: Any) -> None:
    """The client's RSS grows < 50 MB while uploading 200 MB; the server gets the exact bytes."""
    import psutil

    from cwpro.emulator import EmulatorProcess

    path = tmp_path / "big.bin"
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        block = hashlib.sha256(b"seed").digest() * 32768  # 1 MiB, not all zeros
        for i in range(200):
            chunk = bytes([i]) + block[1:]
            out.write(chunk)
            digest.update(chunk)
    process = psutil.Process()
    with EmulatorProcess(workorders=5) as emu:
        async with cwpro.AsyncClient(
            emu.client_id, emu.client_secret, base_url=emu.base_url, timeout=300
        ) as client:
            wo_id = (await client.workorders.list(limit=1)).items[0].id
            before = process.memory_info().rss
            peak = before
            import asyncio

            upload = asyncio.ensure_future(client.documents.upload(wo_id, path))
            while not upload.done():
                peak = max(peak, process.memory_info().rss)
                await asyncio.sleep(0.02)
            doc = await upload
    assert doc.size == 200 * 1024 * 1024
    assert doc.sha256 == digest.hexdigest()
    assert peak - before < 50 * 1024 * 1024, f"RSS grew by {(peak - before) / 1e6:.1f} MB"


async def test_webhook_notifications(client: cwpro.AsyncClient, emulator: Any) -> None:
    before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5)
    wo = await client.workorders.create(name="notify me")
    site = await client.sites.create(name="notify site")
    recent = [n async for n in client.webhooks.list(since=before)]
    events = {(n.event, n.data.get("_id")) for n in recent}
    assert ("WORKORDER.CREATE", wo.id) in events
    assert ("SITE.CREATE", site.id) in events
    only_sites = [n async for n in client.webhooks.list(event="SITE.CREATE", since=before)]
    assert [n.data["_id"] for n in only_sites] == [site.id]
    everything = [n async for n in client.webhooks.list(limit=20)]
    assert all(isinstance(n, WebhookNotification) for n in everything)
    assert all(n.created_date >= emulator.clock.now() - dt.timedelta(days=90) for n in everything)
    got = await client.webhooks.get(recent[0].id)
    assert got == recent[0]
    with pytest.raises(NotFoundError):
        await client.webhooks.get("0" * 24)
    with pytest.raises(ValueError, match="timezone-aware"):
        client.webhooks.list(since=dt.datetime(2024, 1, 1))


async def test_old_notifications_are_404(client: cwpro.AsyncClient, emulator: Any) -> None:
    store = emulator.state.notifications
    cutoff = store.cutoff(emulator.clock.now())
    old = [
        store.item_at(i)["_id"]
        for i in range(store.size())
        if store.item_at(i)["created_date"] < cutoff
    ]
    assert old, "the emulator seeds notifications older than 3 months"
    listed = {n.id async for n in client.webhooks.list()}
    assert not listed & set(old)
    with pytest.raises(NotFoundError):
        await client.webhooks.get(old[0])


async def test_upload_time_limit_grows_with_the_file(
    client: cwpro.AsyncClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from cwpro import Timeout

    wo_id = (await client.workorders.list(limit=1)).items[0].id
    seen: list[Any] = []
    original = client._transport.send

    async def spy(options: Any) -> Any:
        seen.append(options.timeout)
        return await original(options)

    monkeypatch.setattr(client._transport, "send", spy)
    await client.documents.upload(wo_id, b"x" * (256 * 1024 * 10), filename="ten.bin")
    assert seen[-1] == Timeout(total=70.0, connect=10.0, read=120.0)
    path = tmp_path / "one.bin"
    path.write_bytes(b"y" * 256 * 1024)
    with open(path, "rb") as handle:
        await client.documents.upload(wo_id, handle)
    assert seen[-1].total == 61.0
    await client.with_options(timeout=5).documents.upload(wo_id, b"z", filename="z.bin")
    assert seen[-1] == 5
    await client.documents.upload(wo_id, b"z", filename="z.bin", timeout=7)
    assert seen[-1] == 7
    await client.workorders.get(wo_id)
    assert isinstance(seen[-1], cwpro.NotGiven)  # other calls keep the client's default


async def test_webhook_notifications_export(client: cwpro.AsyncClient) -> None:
    from cwpro import split_range

    everything = [n async for n in client.webhooks.list()]
    dates = [n.created_date for n in everything]
    parts = split_range("created_date", min(dates), max(dates), 4)
    exported = [n async for n in client.webhooks.export(parts, concurrency=2, limit=7)]
    assert sorted(n.id for n in exported) == sorted(n.id for n in everything)
    sites_only = [n async for n in client.webhooks.export(parts, event="SITE.CREATE")]
    assert {n.id for n in sites_only} == {n.id for n in everything if n.event == "SITE.CREATE"}
