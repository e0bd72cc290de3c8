"""Every CWP route of the emulator over loopback, with its validation errors."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from cwpro.emulator import Emulator

WIRE_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
START = dt.datetime(2025, 3, 10, 12, 0, tzinfo=dt.timezone.utc)


class Api:
    """A bare aiohttp client for one emulator, holding a bearer token."""

    def __init__(self, emu: Emulator, session: aiohttp.ClientSession) -> None:
        self.emu = emu
        self.session = session
        self.token = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def login(self) -> dict[str, Any]:
        status, body = await self.call(
            "POST",
            "/auth/token",
            json={"client_id": self.emu.client_id, "client_secret": self.emu.client_secret},
            auth=False,
        )
        assert status == 200
        self.token = body["data"]["access_token"]
        return body

    async def call(
        self, method: str, path: str, *, auth: bool = True, **kwargs: Any
    ) -> tuple[int, Any]:
        headers = {**(self.headers if auth else {}), **kwargs.pop("headers", {})}
        async with self.session.request(
            method, self.emu.url_for(path), headers=headers, **kwargs
        ) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.text()


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with (
        Emulator(
            seed=11, workorders=120, sites=10, work_types=6, portal_links=8, start_time=START
        ) as emu,
        aiohttp.ClientSession() as session,
    ):
        client = Api(emu, session)
        await client.login()
        yield client


def assert_http_error(status: int, body: Any, expected: int, code: str) -> None:
    assert status == expected
    assert body["success"] is False
    assert body["code"] == expected
    assert body["error"]["code"] == code
    assert body["data"] == {}


def assert_business_error(status: int, body: Any, code: str) -> None:
    assert status == 200
    assert body["code"] == 400
    assert body["success"] is True
    assert body["error"]["code"] == code
    assert body["reason"] == body["error"]["message"]


# -- auth ------------------------------------------------------------------------------------
async def test_token_issue_and_use(api: Api) -> None:
    body = await api.login()
    assert body["data"]["token_type"] == "Bearer"
    assert body["data"]["expires_in"] == 3600
    assert api.emu.stats.token_requests == 2
    status, page = await api.call("GET", "/worktypes")
    assert status == 200
    assert page["code"] == 200


async def test_bad_credentials_and_missing_tokens_are_401(api: Api) -> None:
    status, body = await api.call(
        "POST",
        "/auth/token",
        auth=False,
        json={"client_id": api.emu.client_id, "client_secret": "x"},
    )
    assert_http_error(status, body, 401, "UNAUTHORIZED")
    status, body = await api.call("GET", "/workorders", auth=False)
    assert_http_error(status, body, 401, "UNAUTHORIZED")
    status, body = await api.call(
        "GET", "/workorders", auth=False, headers={"Authorization": "Bearer not-a-token"}
    )
    assert_http_error(status, body, 401, "UNAUTHORIZED")


async def test_token_request_needs_json(api: Api) -> None:
    status, body = await api.call(
        "POST",
        "/auth/token",
        auth=False,
        data="client_id=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_http_error(status, body, 422, "UNPROCESSABLE_ENTITY")
    status, body = await api.call(
        "POST",
        "/auth/token",
        auth=False,
        data="{oops",
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert_business_error(status, body, "REQ_0001")


async def test_tokens_expire_with_the_clock_and_on_demand(api: Api) -> None:
    api.emu.token_lifetime = 60
    body = await api.login()
    assert body["data"]["expires_in"] == 60
    assert (await api.call("GET", "/sites"))[0] == 200
    api.emu.clock.advance(61)
    assert (await api.call("GET", "/sites"))[0] == 401
    await api.login()
    api.emu.expire_tokens()
    assert (await api.call("GET", "/sites"))[0] == 401


# -- work orders -------------------------------------------------------------------------------
async def test_get_workorder_and_summary_full(api: Api) -> None:
    object_id = next(api.emu.state.workorder_ids())
    status, body = await api.call("GET", f"/workorders/{object_id}")
    assert status == 200
    item = body["data"]
    assert item == api.emu.state.workorder(object_id)
    for key in (
        "_id",
        "name",
        "description",
        "status",
        "priority",
        "site_id",
        "work_type_ids",
        "scheduled_date",
        "created_date",
        "updated_date",
        "address",
        "contacts",
        "custom_fields",
        "notes",
        "external_reference",
    ):
        assert key in item
    assert OBJECT_ID.match(item["_id"])
    assert WIRE_DATETIME.match(item["created_date"])
    assert 900 < len(str(item)) < 2500
    assert int(item["_id"][:8], 16) == int(
        dt.datetime.fromisoformat(item["created_date"].replace("Z", "+00:00")).timestamp()
    )
    _, full = await api.call("GET", f"/workorders/{object_id}", params={"summary": "full"})
    work_types = full["data"]["work_types"]
    assert [t["_id"] for t in work_types] == item["work_type_ids"]
    assert set(work_types[0]) == {"_id", "name", "description"}


async def test_unknown_workorder_is_404(api: Api) -> None:
    for object_id in ("0" * 24, "not-an-id"):
        status, body = await api.call("GET", f"/workorders/{object_id}")
        assert_http_error(status, body, 404, "NOT_FOUND")
    status, body = await api.call("PATCH", f"/workorders/{'0' * 24}", json={"name": "x"})
    assert_http_error(status, body, 404, "NOT_FOUND")
    status, body = await api.call(
        "PATCH", f"/workorders/{'0' * 24}/status", json={"status": "open"}
    )
    assert_http_error(status, body, 404, "NOT_FOUND")


async def test_create_workorder_defaults_extras_and_notification(api: Api) -> None:
    status, body = await api.call(
        "POST", "/workorders", json={"name": "Install APs", "ticket": {"no": 7}}
    )
    assert status == 200
    item = body["data"]
    assert item["status"] == "draft"
    assert item["priority"] == "normal"
    assert item["work_type_ids"] == []
    assert item["site_id"] is None
    assert item["scheduled_date"] is None
    assert item["ticket"] == {"no": 7}
    assert item["created_date"] == item["updated_date"]
    assert item["_id"] > max(api.emu.state.first_workorder_ids(120))
    assert api.emu.state.workorder(item["_id"]) == item
    record = api.emu.state.notifications.item_at(len(api.emu.state.notifications) - 1)
    assert record["event"] == "WORKORDER.CREATE"
    assert record["data"] == item
    status, fetched = await api.call("GET", f"/webhooks/{record['_id']}")
    assert status == 200
    assert fetched["data"] == record


async def test_create_workorder_with_every_field(api: Api) -> None:
    site = api.emu.state.site_ids()[2]
    types = api.emu.state.work_type_ids()[:2]
    status, body = await api.call(
        "POST",
        "/workorders",
        json={
            "name": "Full",
            "description": "d",
            "status": "scheduled",
            "priority": "urgent",
            "site_id": site,
            "work_type_ids": types,
            "scheduled_date": "2025-04-01T09:30:00+02:00",
            "_id": "ffffffffffffffffffffffff",
        },
    )
    assert status == 200
    item = body["data"]
    assert item["scheduled_date"] == "2025-04-01T07:30:00.000Z"
    assert item["_id"] != "ffffffffffffffffffffffff"
    assert (item["site_id"], item["work_type_ids"], item["priority"]) == (site, types, "urgent")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "WO_0001"),
        ({"name": "  "}, "WO_0001"),
        ({"name": 5}, "WO_0001"),
        ({"name": "x", "scheduled_date": "soon"}, "WO_0002"),
        ({"name": "x", "work_type_ids": "abc"}, "WO_0002"),
        ({"name": "x", "status": "finished"}, "WO_0003"),
        ({"name": "x", "priority": "meh"}, "WO_0004"),
        ({"name": "x", "work_type_ids": ["0" * 24]}, "WO_0005"),
        ({"name": "x", "site_id": "0" * 24}, "WO_0006"),
    ],
)
async def test_create_workorder_validation(api: Api, body: dict[str, Any], code: str) -> None:
    before = api.emu.state.workorder_count()
    status, answer = await api.call("POST", "/workorders", json=body)
    assert_business_error(status, answer, code)
    assert api.emu.state.workorder_count() == before


async def test_wo_0005_has_the_documented_wording(api: Api) -> None:
    _, body = await api.call("POST", "/workorders", json={"name": "x", "work_type_ids": ["0" * 24]})
    assert body["error"]["message"] == "The work types provided were not found in CWP platform"
    assert body["error"]["detail"] == (
        "This error happens when you send work type IDs that do not exists in CWP platform"
    )


async def test_json_routes_reject_other_content_types(api: Api) -> None:
    object_id = next(api.emu.state.workorder_ids())
    for method, path in (
        ("POST", "/workorders"),
        ("PATCH", f"/workorders/{object_id}"),
        ("PATCH", f"/workorders/{object_id}/status"),
        ("POST", "/sites"),
    ):
        status, body = await api.call(
            method, path, data=b'{"name": "x"}', headers={"Content-Type": "text/plain"}
        )
        assert_http_error(status, body, 422, "UNPROCESSABLE_ENTITY")


async def test_patch_workorder_updates_and_bumps_updated_date(api: Api) -> None:
    object_id = api.emu.state.first_workorder_ids(5)[4]
    before = api.emu.state.workorder(object_id)
    api.emu.clock.advance(5)
    status, body = await api.call(
        "PATCH", f"/workorders/{object_id}", json={"priority": "urgent", "notes": "patched"}
    )
    assert status == 200
    item = body["data"]
    assert item["priority"] == "urgent"
    assert item["notes"] == "patched"
    assert item["name"] == before["name"]
    assert item["created_date"] == before["created_date"]
    assert item["updated_date"] > before["updated_date"]
    _, fetched = await api.call("GET", f"/workorders/{object_id}")
    assert fetched["data"] == item
    status, answer = await api.call("PATCH", f"/workorders/{object_id}", json={"status": "x"})
    assert_business_error(status, answer, "WO_0003")


async def test_patch_status(api: Api) -> None:
    object_id = api.emu.state.first_workorder_ids(1)[0]
    status, body = await api.call(
        "PATCH", f"/workorders/{object_id}/status", json={"status": "on_hold"}
    )
    assert status == 200
    assert body["data"] == (
        f"Status updated successfully to: 'on_hold' for work order with ID: {object_id}"
    )
    assert api.emu.state.workorder(object_id)["status"] == "on_hold"
    for bad in ({"status": "nope"}, {}):
        status, answer = await api.call("PATCH", f"/workorders/{object_id}/status", json=bad)
        assert_business_error(status, answer, "WO_0003")


# -- work types, sites ------------------------------------------------------------------------
async def test_work_types_and_sites(api: Api) -> None:
    type_id = api.emu.state.work_type_ids()[1]
    status, body = await api.call("GET", f"/worktypes/{type_id}")
    assert status == 200
    assert set(body["data"]) == {"_id", "name", "description", "created_date"}
    site_id = api.emu.state.site_ids()[1]
    status, body = await api.call("GET", f"/sites/{site_id}")
    assert status == 200
    assert set(body["data"]["address"]) == {"street", "city", "state", "zip_code", "country"}
    assert isinstance(body["data"]["latitude"], float)
    for path in (f"/worktypes/{'0' * 24}", f"/sites/{'0' * 24}"):
        status, answer = await api.call("GET", path)
        assert_http_error(status, answer, 404, "NOT_FOUND")


async def test_create_site(api: Api) -> None:
    status, body = await api.call(
        "POST",
        "/sites",
        json={
            "name": "HQ",
            "address": {"city": "Austin"},
            "latitude": 30.1,
            "longitude": -97.7,
            "store_code": "X1",
        },
    )
    assert status == 200
    site = body["data"]
    assert site["address"]["city"] == "Austin"
    assert site["address"]["zip_code"] is None
    assert site["store_code"] == "X1"
    assert site["_id"] in api.emu.state.sites
    assert site["_id"] > max(api.emu.state.site_ids()[:-1])
    events = await api.call("GET", "/webhooks", params={"event": "SITE.CREATE", "limit": "1000"})
    assert events[1]["data"][-1]["data"] == site
    for bad, code in (
        ({}, "SITE_0001"),
        ({"name": "x", "latitude": "north"}, "SITE_0002"),
        ({"name": "x", "address": "street"}, "SITE_0002"),
    ):
        status, answer = await api.call("POST", "/sites", json=bad)
        assert_business_error(status, answer, code)


# -- webhook notifications ---------------------------------------------------------------------
async def test_notifications_older_than_90_days_are_404(api: Api) -> None:
    notifications = api.emu.state.notifications
    cutoff = notifications.cutoff(api.emu.clock.now())
    old = [r for r in notifications if r["created_date"] < cutoff]
    fresh = [r for r in notifications if r["created_date"] >= cutoff]
    assert old
    assert fresh
    status, body = await api.call("GET", f"/webhooks/{old[-1]['_id']}")
    assert_http_error(status, body, 404, "NOT_FOUND")
    status, body = await api.call("GET", f"/webhooks/{fresh[0]['_id']}")
    assert status == 200
    assert set(body["data"]) == {"_id", "event", "created_date", "data"}
    api.emu.clock.advance(91 * 86400)
    await api.login()
    status, body = await api.call("GET", f"/webhooks/{fresh[-1]['_id']}")
    assert status == 404
    status, body = await api.call("GET", "/webhooks")
    assert body["pagination"]["totalResults"] == 0


# -- documents ---------------------------------------------------------------------------------
def _form(content: bytes, *, field: str = "file", name: str = "photo.jpg") -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("note", "hello")
    form.add_field(field, content, filename=name, content_type="image/jpeg")
    return form


async def test_document_upload_list_and_download(api: Api) -> None:
    object_id = next(api.emu.state.workorder_ids())
    content = bytes(range(256)) * 1000
    path = f"/workorders/{object_id}/resources/work_order_extra_photos"
    status, body = await api.call("POST", path, data=_form(content))
    assert status == 200
    meta = body["data"]
    assert meta["sha256"] == hashlib.sha256(content).hexdigest()
    assert meta["size"] == len(content)
    assert (meta["file_name"], meta["content_type"]) == ("photo.jpg", "image/jpeg")
    assert (meta["work_order_id"], meta["resource_name"]) == (object_id, "work_order_extra_photos")
    assert api.emu.state.documents[0].sha256 == meta["sha256"]
    async with api.session.get(meta["url"]) as response:
        assert await response.read() == content
    status, listing = await api.call("GET", path)
    assert listing["pagination"]["totalResults"] == 1
    await api.call("POST", path, data=_form(b"second", name="b.jpg"))
    status, listing = await api.call("GET", path, params={"limit": "1"})
    assert status == 200
    assert listing["pagination"]["totalResults"] == 2
    assert listing["data"][0]["_id"] == meta["_id"]
    status, other = await api.call("GET", f"/workorders/{object_id}/resources/other_name")
    assert other["pagination"]["totalResults"] == 0


async def test_streamed_large_upload(api: Api) -> None:
    object_id = next(api.emu.state.workorder_ids())
    chunk = b"x" * (1 << 20)
    digest = hashlib.sha256()

    async def produce() -> Any:
        for _ in range(24):
            digest.update(chunk)
            yield chunk

    form = aiohttp.FormData()
    form.add_field("file", produce(), filename="big.bin", content_type="application/octet-stream")
    status, body = await api.call("POST", f"/workorders/{object_id}/resources/big", data=form)
    assert status == 200
    assert body["data"]["size"] == 24 << 20
    assert body["data"]["sha256"] == digest.hexdigest()


async def test_document_errors(api: Api) -> None:
    object_id = next(api.emu.state.workorder_ids())
    status, body = await api.call(
        "POST", f"/workorders/{object_id}/resources/Bad-Name", data=_form(b"x")
    )
    assert_http_error(status, body, 404, "NOT_FOUND")
    status, body = await api.call(
        "POST", f"/workorders/{'0' * 24}/resources/photos", data=_form(b"x")
    )
    assert_http_error(status, body, 404, "NOT_FOUND")
    status, body = await api.call(
        "POST", f"/workorders/{object_id}/resources/photos", json={"file": "x"}
    )
    assert_http_error(status, body, 422, "UNPROCESSABLE_ENTITY")
    status, body = await api.call(
        "POST", f"/workorders/{object_id}/resources/photos", data=_form(b"x", field="attachment")
    )
    assert_business_error(status, body, "DOC_0001")
    assert len(api.emu.state.documents) == 0


async def test_upload_dir_is_removed_on_close() -> None:
    async with Emulator(workorders=3, portal_links=0) as emu, aiohttp.ClientSession() as s:
        async with s.post(
            emu.url_for("/auth/token"),
            json={"client_id": emu.client_id, "client_secret": emu.client_secret},
        ) as r:
            token = (await r.json())["data"]["access_token"]
        object_id = next(emu.state.workorder_ids())
        async with s.post(
            emu.url_for(f"/workorders/{object_id}/resources/docs"),
            data=_form(b"abc"),
            headers={"Authorization": f"Bearer {token}"},
        ):
            pass
        stored = emu.state.documents[0].path
        assert await asyncio.to_thread(os.path.exists, stored)
    assert not await asyncio.to_thread(os.path.exists, stored)
    assert not await asyncio.to_thread(os.path.exists, stored.parent)


# -- portal links, routing, stats, admin ---------------------------------------------------------
async def test_portal_links_are_served_behind_auth_with_their_error_shape(api: Api) -> None:
    status, body = await api.call("GET", "/workorder-portal-link", auth=False)
    assert status == 401
    assert body["success"] is False
    assert isinstance(body["error"], str)
    status, body = await api.call("GET", "/workorder-portal-link", params={"per_page": "3"})
    assert status == 200
    assert body["paging"]["total"] == 8
    link = body["data"][0]
    assert link["full_url"].startswith(api.emu.base_url + "/portal/wpl_")
    status, body = await api.call(
        "POST", "/workorder-portal-link", json={"workorder": next(api.emu.state.workorder_ids())}
    )
    assert status == 201
    token_url = body["data"]["full_url"]
    async with api.session.get(token_url) as response:
        assert response.status == 200
        assert (await response.json())["data"]["workorder"] == body["data"]["workorder"]
    status, body = await api.call("POST", "/workorder-portal-link", json={"workorder": "0" * 24})
    assert status == 404
    assert body["success"] is False


async def test_unknown_routes_and_methods_get_json_errors(api: Api) -> None:
    status, body = await api.call("GET", "/nope")
    assert_http_error(status, body, 404, "NOT_FOUND")
    status, body = await api.call("DELETE", "/workorders")
    assert_http_error(status, body, 405, "METHOD_NOT_ALLOWED")
    status, body = await api.call("GET", "/workorder-portal-link/a/b/c")
    assert status == 404
    assert body == {"success": False, "error": "Not Found"}


async def test_stats_count_route_templates(api: Api) -> None:
    object_id = next(api.emu.state.workorder_ids())
    for _ in range(3):
        await api.call("GET", f"/workorders/{object_id}")
    await api.call("GET", "/workorders")
    assert api.emu.stats["GET /workorders/{id}"] == 3
    assert api.emu.stats["GET /workorders"] == 1
    assert api.emu.stats["POST /auth/token"] == 1


async def test_latency_is_added_to_api_routes(api: Api) -> None:
    api.emu.latency_ms = 120
    started = time.perf_counter()
    await api.call("GET", "/worktypes")
    assert time.perf_counter() - started >= 0.12
    started = time.perf_counter()
    await api.call("GET", "/_emulator/health", auth=False)
    assert time.perf_counter() - started < 0.1


async def test_admin_api(api: Api) -> None:
    status, body = await api.call("POST", "/_emulator/latency", auth=False, json={"ms": 7})
    assert (status, body, api.emu.latency_ms) == (200, {"latency_ms": 7.0}, 7.0)
    status, body = await api.call("POST", "/_emulator/latency", auth=False, json={"ms": -1})
    assert status == 400
    status, body = await api.call("POST", "/_emulator/clock", auth=False, json={"advance": 10})
    assert body["now"] > "2025-03-10T12:00:10"
    status, body = await api.call(
        "POST", "/_emulator/faults", auth=False, json={"kind": "status", "status": 503, "times": 2}
    )
    assert status == 201
    assert body["kind"] == "status"
    assert len(api.emu.faults) == 1
    status, body = await api.call(
        "POST", "/_emulator/faults", auth=False, json={"kind": "nonsense"}
    )
    assert status == 400
    status, body = await api.call("GET", "/_emulator/faults", auth=False)
    assert [f["status"] for f in body["faults"]] == [503]
    status, body = await api.call("DELETE", "/_emulator/faults", auth=False)
    assert len(api.emu.faults) == 0
    await api.call("POST", "/_emulator/expire-tokens", auth=False)
    assert (await api.call("GET", "/sites"))[0] == 401
    status, body = await api.call("GET", "/_emulator/stats", auth=False)
    assert body["requests"]["GET /sites"] == 1
    assert body["token_requests"] == 1


async def test_same_seed_same_data_other_seed_other_data() -> None:
    async with (
        Emulator(seed=5, workorders=50, start_time=START) as first,
        Emulator(seed=5, workorders=50, start_time=START) as second,
        Emulator(seed=6, workorders=50, start_time=START) as third,
    ):
        ids = list(first.state.workorder_ids())
        assert ids == list(second.state.workorder_ids())
        assert [first.state.workorder(i) for i in ids] == [second.state.workorder(i) for i in ids]
        assert first.state.notification_ids() == second.state.notification_ids()
        other = list(third.state.workorder_ids())
        assert ids != other
        assert first.client_secret != second.client_secret


async def test_seeded_references_exist_and_predate_their_work_orders() -> None:
    async with Emulator(seed=8, workorders=400, sites=12, work_types=5, portal_links=0) as emu:
        state = emu.state
        for object_id in state.workorder_ids():
            item = state.workorder(object_id)
            assert item is not None
            site = state.sites.get(item["site_id"])
            assert site is not None
            assert site["created_date"] <= item["created_date"]
            assert 1 <= len(item["work_type_ids"]) == len(set(item["work_type_ids"])) <= 3
            for type_id in item["work_type_ids"]:
                work_type = state.work_types.get(type_id)
                assert work_type is not None
                assert work_type["created_date"] < item["created_date"]


async def test_emulator_can_be_restarted() -> None:
    emu = Emulator(workorders=3, portal_links=0)
    await emu.start()
    first_url = emu.base_url
    await emu.close()
    await emu.start()
    try:
        assert emu.base_url == first_url
        async with (
            aiohttp.ClientSession() as session,
            session.get(emu.url_for("/_emulator/health")) as response,
        ):
            assert await response.json() == {"ok": True}
    finally:
        await emu.close()
    assert not emu.running
