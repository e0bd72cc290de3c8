"""The portal-link routes over loopback HTTP (no auth or faults): create, get, update, delete,
token and activation actions, the public portal page, the list with its paging and filters."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

from cwpro.emulator.portal_links import LINK_TYPES
from tests.emulator.portal_helpers import (
    DETAILS_HEADER,
    JSON,
    OBJECT_ID,
    UNKNOWN_WORKORDER,
    WORKORDERS,
    Env,
    call,
    call_with_headers,
    create,
    details_of,
)

EXPIRY_PROBLEM = "expiry_date: must be an ISO 8601 date-time with a timezone, or null"

# --------------------------------------------------------------------------- create


async def test_create_applies_defaults(env: Env) -> None:
    link = await create(env)
    assert OBJECT_ID.fullmatch(link["_id"])
    assert link["workorder"] == WORKORDERS[0]
    assert re.fullmatch(r"wpl_[0-9a-f]{32}", link["link_token"])
    assert link["full_url"] == f"{env.base_url}/portal/{link['link_token']}"
    assert link["link_type"] == "private"
    assert link["permissions"] == {
        "can_view_details": True,
        "can_add_comments": True,
        "can_upload_files": False,
        "can_view_history": True,
        "can_approve_reject": False,
    }
    assert link["access_restrictions"] == {
        "allowed_ips": [],
        "max_uses": 0,
        "password_protected": False,
        "require_email_verification": False,
    }
    assert link["expiry_date"] is None
    assert link["is_active"] is True
    assert link["usage_stats"] == {
        "total_views": 0,
        "unique_visitors": 0,
        "last_accessed": None,
        "access_log": [],
    }
    assert link["notification_settings"] == {
        "notify_on_access": False,
        "notify_on_comment": True,
        "notify_on_file_upload": True,
        "notification_recipients": [],
    }
    assert link["custom_branding"] == {
        "logo_url": None,
        "brand_color": None,
        "custom_domain": None,
        "footer_text": None,
    }
    assert link["metadata"] == {"created_by": "api", "purpose": None, "tags": []}
    assert link["company_namespace"] == []
    assert link["createdAt"] == link["modifiedAt"] == "2024-06-01T12:00:00.123Z"
    assert link["SVClient"] == 0
    assert link["__v"] == 0
    assert list(link)[:4] == ["_id", "workorder", "link_token", "full_url"]
    assert env.store.get(link["_id"]) == link
    assert env.store.by_token(link["link_token"]) == link
    assert len(env.store) == 1


async def test_create_merges_nested_objects_into_defaults_and_ignores_unknown_fields(
    env: Env,
) -> None:
    link = await create(
        env,
        workorder=WORKORDERS[1].upper(),
        link_type="secure",
        permissions={"can_upload_files": True, "can_fly": True},
        access_restrictions={"allowed_ips": ["10.0.0.0/8", "192.0.2.7"], "max_uses": 3},
        expiry_date="2024-07-01T10:30:00+02:00",
        notification_settings={"notification_recipients": ["a@b.example"]},
        custom_branding={"brand_color": "#FF5733"},
        metadata={"purpose": "approval", "tags": ["x"], "created_by": "mallory"},
        is_active=False,
        company_namespace=["acme"],
        surprise="ignored",
        _id="ffffffffffffffffffffffff",
        __v=9,
        usage_stats={"total_views": 99},
    )
    assert link["workorder"] == WORKORDERS[1]
    assert link["link_type"] == "secure"
    assert link["permissions"]["can_upload_files"] is True
    assert link["permissions"]["can_view_details"] is True
    assert "can_fly" not in link["permissions"]
    assert link["access_restrictions"] == {
        "allowed_ips": ["10.0.0.0/8", "192.0.2.7"],
        "max_uses": 3,
        "password_protected": False,
        "require_email_verification": False,
    }
    assert link["expiry_date"] == "2024-07-01T08:30:00.000Z"
    assert link["notification_settings"]["notify_on_comment"] is True
    assert link["notification_settings"]["notification_recipients"] == ["a@b.example"]
    assert link["custom_branding"]["brand_color"] == "#FF5733"
    assert link["metadata"] == {"created_by": "api", "purpose": "approval", "tags": ["x"]}
    assert link["is_active"] is False
    assert link["company_namespace"] == ["acme"]
    assert "surprise" not in link
    assert link["_id"] != "ffffffffffffffffffffffff"
    assert link["__v"] == 0
    assert link["usage_stats"]["total_views"] == 0


async def test_create_accepts_expiry_dates_with_a_timezone_only(env: Env) -> None:
    zulu = await create(env, expiry_date="2030-01-02T03:04:05.678901Z")
    offset = await create(env, expiry_date="2030-01-02T05:04:05-00:00")
    assert zulu["expiry_date"] == "2030-01-02T03:04:05.678Z"
    assert offset["expiry_date"] == "2030-01-02T05:04:05.000Z"
    status, payload, headers = await call_with_headers(
        env,
        "POST",
        "/workorder-portal-link",
        json={"workorder": WORKORDERS[0], "expiry_date": "2030-01-02T03:04:05.678901"},
    )
    assert (status, payload) == (422, {"success": False, "error": "Validation failed"})
    assert details_of(headers) == [EXPIRY_PROBLEM]
    assert len(env.store) == 2


async def test_create_with_unknown_workorder_is_404(env: Env) -> None:
    status, body = await call(
        env, "POST", "/workorder-portal-link", json={"workorder": UNKNOWN_WORKORDER}
    )
    assert (status, body) == (404, {"success": False, "error": "Workorder not found"})
    assert len(env.store) == 0


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({}, "workorder: is required"),
        ({"workorder": ""}, "workorder: is required"),
        ({"workorder": None}, "workorder: is required"),
        ({"workorder": "123"}, "workorder: must be a 24-hex-digit id"),
        ({"workorder": 12}, "workorder: must be a 24-hex-digit id"),
        ({"link_type": "secret"}, "link_type: must be one of public, private, secure"),
        ({"link_type": None}, "link_type: must be one of public, private, secure"),
        (
            {"permissions": {"can_view_details": "yes"}},
            "permissions.can_view_details: must be a boolean",
        ),
        ({"permissions": []}, "permissions: must be an object"),
        ({"permissions": None}, "permissions: must be an object"),
        (
            {"access_restrictions": {"max_uses": -1}},
            "access_restrictions.max_uses: must be a non-negative integer",
        ),
        (
            {"access_restrictions": {"max_uses": 1.5}},
            "access_restrictions.max_uses: must be a non-negative integer",
        ),
        (
            {"access_restrictions": {"max_uses": True}},
            "access_restrictions.max_uses: must be a non-negative integer",
        ),
        (
            {"access_restrictions": {"allowed_ips": "10.0.0.1"}},
            "access_restrictions.allowed_ips: must be an array of strings",
        ),
        (
            {"access_restrictions": {"allowed_ips": ["nowhere"]}},
            "access_restrictions.allowed_ips: 'nowhere' is not an IP address or CIDR network",
        ),
        (
            {"access_restrictions": {"password_protected": 1}},
            "access_restrictions.password_protected: must be a boolean",
        ),
        ({"expiry_date": "2024-07-01"}, EXPIRY_PROBLEM),
        ({"expiry_date": "tomorrow"}, EXPIRY_PROBLEM),
        ({"expiry_date": 1719830000}, EXPIRY_PROBLEM),
        ({"expiry_date": "2024-07-01T10:30:00"}, EXPIRY_PROBLEM),
        ({"is_active": "true"}, "is_active: must be a boolean"),
        ({"company_namespace": "acme"}, "company_namespace: must be an array of strings"),
        ({"company_namespace": ["acme", 3]}, "company_namespace: must be an array of strings"),
        (
            {"notification_settings": {"notification_recipients": [None]}},
            "notification_settings.notification_recipients: must be an array of strings",
        ),
        (
            {"custom_branding": {"logo_url": 5}},
            "custom_branding.logo_url: must be a string or null",
        ),
        ({"metadata": {"tags": "a,b"}}, "metadata.tags: must be an array of strings"),
    ],
)
async def test_create_validation_failures_are_422(
    env: Env, body: dict[str, Any], problem: str
) -> None:
    if "workorder" not in body and not problem.startswith("workorder"):
        body = {"workorder": WORKORDERS[0], **body}
    status, payload, headers = await call_with_headers(
        env, "POST", "/workorder-portal-link", json=body
    )
    assert status == 422
    assert payload == {"success": False, "error": "Validation failed"}
    assert details_of(headers) == [problem]
    assert len(env.store) == 0


async def test_create_reports_every_problem_at_once(env: Env) -> None:
    status, payload, headers = await call_with_headers(
        env,
        "POST",
        "/workorder-portal-link",
        json={"link_type": "x", "is_active": 0, "permissions": {"can_add_comments": None}},
    )
    assert (status, payload) == (422, {"success": False, "error": "Validation failed"})
    assert details_of(headers) == [
        "workorder: is required",
        "link_type: must be one of public, private, secure",
        "is_active: must be a boolean",
        "permissions.can_add_comments: must be a boolean",
    ]


@pytest.mark.parametrize(
    ("data", "headers", "status", "error"),
    [
        (b'{"workorder": ', JSON, 400, "Malformed JSON in request body"),
        (b"\xff\xfe", JSON, 400, "Malformed JSON in request body"),
        (b'{"workorder": NaN}', JSON, 400, "Malformed JSON in request body"),
        (b"[1, 2]", JSON, 400, "Request body must be a JSON object"),
        (b'"text"', JSON, 400, "Request body must be a JSON object"),
        (
            b'{"workorder": "65a1b2c3d4e5f60718293a00"}',
            {"Content-Type": "text/plain"},
            422,
            "Content-Type must be application/json",
        ),
        (
            b'{"workorder": "65a1b2c3d4e5f60718293a00"}',
            {},
            422,
            "Content-Type must be application/json",
        ),
    ],
)
async def test_create_rejects_bad_bodies(
    env: Env, data: bytes, headers: dict[str, str], status: int, error: str
) -> None:
    got_status, payload = await call(
        env, "POST", "/workorder-portal-link", data=data, headers=headers
    )
    assert (got_status, payload) == (status, {"success": False, "error": error})


async def test_create_accepts_json_content_type_with_charset_and_empty_body_means_empty_object(
    env: Env,
) -> None:
    body = b'{"workorder": "65a1b2c3d4e5f60718293a00"}'
    status, payload = await call(
        env,
        "POST",
        "/workorder-portal-link",
        data=body,
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert status == 201
    assert payload["data"]["workorder"] == WORKORDERS[0]
    status, _, headers = await call_with_headers(
        env, "POST", "/workorder-portal-link", data=b"", headers=JSON
    )
    assert (status, details_of(headers)) == (422, ["workorder: is required"])


# --------------------------------------------------------------------------- get / delete


async def test_get_by_id(env: Env) -> None:
    link = await create(env)
    status, payload = await call(env, "GET", f"/workorder-portal-link/{link['_id']}")
    assert (status, payload) == (200, {"success": True, "data": link})
    status, payload = await call(env, "GET", f"/workorder-portal-link/{link['_id'].upper()}")
    assert (status, payload["data"]["_id"]) == (200, link["_id"])


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("POST", "/regenerate"),
        ("POST", "/activate"),
        ("POST", "/deactivate"),
    ],
)
async def test_item_routes_check_id_format_and_existence(
    env: Env, method: str, suffix: str
) -> None:
    kwargs: dict[str, Any] = {"json": {}} if method == "PATCH" else {}
    status, payload = await call(env, method, f"/workorder-portal-link/not-an-id{suffix}", **kwargs)
    assert (status, payload) == (400, {"success": False, "error": "Invalid ID format"})
    status, payload = await call(
        env, method, f"/workorder-portal-link/{'a' * 25}{suffix}", **kwargs
    )
    assert (status, payload) == (400, {"success": False, "error": "Invalid ID format"})
    status, payload = await call(
        env, method, f"/workorder-portal-link/{'a' * 24}{suffix}", **kwargs
    )
    assert (status, payload) == (
        404,
        {"success": False, "error": "Workorder portal link not found"},
    )


async def test_delete_answers_success_without_data_and_forgets_the_link(env: Env) -> None:
    link = await create(env)
    other = await create(env)
    status, payload = await call(env, "DELETE", f"/workorder-portal-link/{link['_id']}")
    assert (status, payload) == (200, {"success": True})
    assert len(env.store) == 1
    assert env.store.get(link["_id"]) is None
    assert env.store.by_token(link["link_token"]) is None
    status, _ = await call(env, "GET", f"/workorder-portal-link/{link['_id']}")
    assert status == 404
    status, _ = await call(env, "GET", f"/portal/{link['link_token']}")
    assert status == 404
    status, _ = await call(env, "DELETE", f"/workorder-portal-link/{link['_id']}")
    assert status == 404
    assert env.store.get(other["_id"]) == other


# --------------------------------------------------------------------------- update


async def test_patch_changes_only_given_fields_and_bumps_version(env: Env) -> None:
    link = await create(
        env,
        permissions={"can_upload_files": True},
        access_restrictions={"allowed_ips": ["10.0.0.1"], "max_uses": 5},
        expiry_date="2030-01-01T00:00:00Z",
        company_namespace=["a", "b"],
    )
    env.clock.advance(seconds=90)
    status, payload = await call(
        env,
        "PATCH",
        f"/workorder-portal-link/{link['_id']}",
        json={
            "link_type": "public",
            "permissions": {"can_approve_reject": True},
            "access_restrictions": {"allowed_ips": ["10.0.0.2"]},
            "company_namespace": ["c"],
            "metadata": {"tags": ["t"]},
            "unknown": 1,
        },
    )
    assert status == 200
    updated = payload["data"]
    assert updated["link_type"] == "public"
    # nested objects are merged key by key, arrays replaced whole
    assert updated["permissions"] == {
        **link["permissions"],
        "can_approve_reject": True,
        "can_upload_files": True,
    }
    assert updated["access_restrictions"] == {
        **link["access_restrictions"],
        "allowed_ips": ["10.0.0.2"],
    }
    assert updated["company_namespace"] == ["c"]
    assert updated["metadata"] == {"created_by": "api", "purpose": None, "tags": ["t"]}
    assert "unknown" not in updated
    assert updated["__v"] == 1
    assert updated["modifiedAt"] == "2024-06-01T12:01:30.123Z"
    unchanged = (
        "_id",
        "workorder",
        "link_token",
        "full_url",
        "expiry_date",
        "is_active",
        "usage_stats",
        "notification_settings",
        "custom_branding",
        "createdAt",
        "SVClient",
    )
    assert {key: updated[key] for key in unchanged} == {key: link[key] for key in unchanged}
    assert env.store.get(link["_id"]) == updated


async def test_patch_every_call_bumps_version_and_null_expiry_clears(env: Env) -> None:
    link = await create(env, expiry_date="2030-01-01T00:00:00Z")
    path = f"/workorder-portal-link/{link['_id']}"
    _, payload = await call(env, "PATCH", path, json={})
    assert payload["data"]["__v"] == 1
    assert payload["data"]["expiry_date"] == "2030-01-01T00:00:00.000Z"
    _, payload = await call(env, "PATCH", path, json={"expiry_date": None, "is_active": False})
    assert payload["data"]["__v"] == 2
    assert payload["data"]["expiry_date"] is None
    assert payload["data"]["is_active"] is False
    status, payload = await call(env, "PATCH", path, data=b"", headers=JSON)
    assert (status, payload["data"]["__v"]) == (200, 3)


async def test_patch_workorder_may_only_repeat_the_current_one(env: Env) -> None:
    link = await create(env)
    path = f"/workorder-portal-link/{link['_id']}"
    status, payload, headers = await call_with_headers(
        env, "PATCH", path, json={"workorder": WORKORDERS[1]}
    )
    assert (status, payload) == (422, {"success": False, "error": "Validation failed"})
    assert details_of(headers) == ["workorder: cannot be changed"]
    status, _, headers = await call_with_headers(env, "PATCH", path, json={"workorder": "nope"})
    assert (status, details_of(headers)) == (422, ["workorder: must be a 24-hex-digit id"])
    status, _, headers = await call_with_headers(env, "PATCH", path, json={"workorder": None})
    assert (status, details_of(headers)) == (422, ["workorder: is required"])
    status, payload = await call(env, "PATCH", path, json={"workorder": WORKORDERS[0].upper()})
    assert (status, payload["data"]["workorder"]) == (200, WORKORDERS[0])
    assert env.store.get(link["_id"])["workorder"] == WORKORDERS[0]  # type: ignore[index]


async def test_patch_validation_and_body_errors(env: Env) -> None:
    link = await create(env)
    path = f"/workorder-portal-link/{link['_id']}"
    status, _, headers = await call_with_headers(
        env, "PATCH", path, json={"link_type": "nope", "access_restrictions": {"max_uses": -3}}
    )
    assert (status, details_of(headers)) == (
        422,
        [
            "link_type: must be one of public, private, secure",
            "access_restrictions.max_uses: must be a non-negative integer",
        ],
    )
    status, payload = await call(env, "PATCH", path, data=b"{", headers=JSON)
    assert (status, payload) == (400, {"success": False, "error": "Malformed JSON in request body"})
    status, payload = await call(env, "PATCH", path, data=b'{"is_active": true}')
    assert (status, payload) == (
        422,
        {"success": False, "error": "Content-Type must be application/json"},
    )
    # nothing of the refused requests was applied
    assert env.store.get(link["_id"]) == link


# --------------------------------------------------------------------------- token, activation


async def test_regenerate_replaces_the_token(env: Env) -> None:
    link = await create(env, link_type="public")
    env.clock.advance(minutes=5)
    status, payload = await call(env, "POST", f"/workorder-portal-link/{link['_id']}/regenerate")
    assert status == 200
    fresh = payload["data"]
    assert fresh["link_token"] != link["link_token"]
    assert re.fullmatch(r"wpl_[0-9a-f]{32}", fresh["link_token"])
    assert fresh["full_url"] == f"{env.base_url}/portal/{fresh['link_token']}"
    assert (fresh["__v"], fresh["modifiedAt"]) == (1, "2024-06-01T12:05:00.123Z")
    assert env.store.by_token(link["link_token"]) is None
    assert env.store.by_token(fresh["link_token"]) == fresh
    status, _ = await call(env, "GET", f"/portal/{link['link_token']}")
    assert status == 404
    status, payload = await call(env, "GET", f"/portal/{fresh['link_token']}")
    assert (status, payload["data"]) == (
        200,
        {"_id": link["_id"], "workorder": WORKORDERS[0], "link_type": "public"},
    )


async def test_activate_and_deactivate_flip_is_active(env: Env) -> None:
    link = await create(env)
    base = f"/workorder-portal-link/{link['_id']}"
    env.clock.advance(seconds=1)
    status, payload = await call(env, "POST", f"{base}/deactivate")
    assert (status, payload["data"]["is_active"], payload["data"]["__v"]) == (200, False, 1)
    assert payload["data"]["modifiedAt"] == "2024-06-01T12:00:01.123Z"
    status, _ = await call(env, "GET", f"/portal/{link['link_token']}")
    assert status == 404
    _, payload = await call(env, "POST", f"{base}/deactivate")
    assert (payload["data"]["is_active"], payload["data"]["__v"]) == (False, 2)
    _, payload = await call(env, "POST", f"{base}/activate")
    assert (payload["data"]["is_active"], payload["data"]["__v"]) == (True, 3)
    status, _ = await call(env, "GET", f"/portal/{link['link_token']}")
    assert status == 200


# --------------------------------------------------------------------------- portal


async def test_portal_view_counts_usage(env: Env) -> None:
    link = await create(env, link_type="secure")
    env.clock.advance(seconds=10)
    status, payload = await call(
        env, "GET", f"/portal/{link['link_token']}", headers={"User-Agent": "pytest-agent/1.0"}
    )
    assert (status, payload) == (
        200,
        {
            "success": True,
            "data": {"_id": link["_id"], "workorder": WORKORDERS[0], "link_type": "secure"},
        },
    )
    env.clock.advance(seconds=10)
    await call(env, "GET", f"/portal/{link['link_token']}", headers={"User-Agent": "other"})
    stats = env.store.get(link["_id"])["usage_stats"]  # type: ignore[index]
    assert stats == {
        "total_views": 2,
        "unique_visitors": 1,
        "last_accessed": "2024-06-01T12:00:20.123Z",
        "access_log": [
            {
                "timestamp": "2024-06-01T12:00:10.123Z",
                "ip_address": "127.0.0.1",
                "user_agent": "pytest-agent/1.0",
                "action": "view",
            },
            {
                "timestamp": "2024-06-01T12:00:20.123Z",
                "ip_address": "127.0.0.1",
                "user_agent": "other",
                "action": "view",
            },
        ],
    }
    current = env.store.get(link["_id"])
    assert current is not None
    assert (current["__v"], current["modifiedAt"]) == (0, link["modifiedAt"])


async def test_portal_refuses_unusable_links(env: Env) -> None:
    expiring = await create(env, expiry_date="2024-06-01T12:30:00Z")
    limited = await create(env, access_restrictions={"max_uses": 2})
    elsewhere = await create(env, access_restrictions={"allowed_ips": ["203.0.113.0/24"]})
    local = await create(env, access_restrictions={"allowed_ips": ["10.1.1.1", "127.0.0.0/8"]})
    for _ in range(2):
        status, _ = await call(env, "GET", f"/portal/{limited['link_token']}")
        assert status == 200
    refused = [
        f"/portal/{limited['link_token']}",
        f"/portal/{elsewhere['link_token']}",
        "/portal/wpl_00000000000000000000000000000000",
        "/portal/anything",
    ]
    for path in refused:
        status, payload = await call(env, "GET", path)
        assert (status, payload) == (404, {"success": False, "error": "Portal link not found"})
    status, _ = await call(env, "GET", f"/portal/{local['link_token']}")
    assert status == 200
    status, _ = await call(env, "GET", f"/portal/{expiring['link_token']}")
    assert status == 200
    env.clock.advance(minutes=30)
    status, _ = await call(env, "GET", f"/portal/{expiring['link_token']}")
    assert status == 404
    assert env.store.get(limited["_id"])["usage_stats"]["total_views"] == 2  # type: ignore[index]
    assert env.store.get(elsewhere["_id"])["usage_stats"]["total_views"] == 0  # type: ignore[index]


async def test_portal_route_has_no_head(env: Env) -> None:
    link = await create(env)
    async with env.client.head(f"/portal/{link['link_token']}") as response:
        assert response.status == 405
    assert env.store.get(link["_id"])["usage_stats"]["total_views"] == 0  # type: ignore[index]


# --------------------------------------------------------------------------- list


async def list_page(env: Env, params: Any = None) -> dict[str, Any]:
    status, payload = await call(env, "GET", "/workorder-portal-link", params=params)
    assert status == 200, payload
    assert payload["success"] is True
    return payload  # type: ignore[no-any-return]


async def test_list_paging_math_for_a_thousand_links(env: Env) -> None:
    env.store.seed(1000, WORKORDERS)
    payload = await list_page(env)
    assert payload["paging"] == {"total": 1000, "page": 1, "per_page": 25, "pages": 40}
    assert len(payload["data"]) == 25
    payload = await list_page(env, {"page": "40"})
    assert payload["paging"] == {"total": 1000, "page": 40, "per_page": 25, "pages": 40}
    assert len(payload["data"]) == 25
    payload = await list_page(env, {"page": "41"})
    assert (payload["data"], payload["paging"]["pages"]) == ([], 40)
    payload = await list_page(env, {"per_page": "100", "page": "10"})
    assert (len(payload["data"]), payload["paging"]["pages"]) == (100, 10)
    payload = await list_page(env, {"per_page": "7"})
    assert payload["paging"] == {"total": 1000, "page": 1, "per_page": 7, "pages": 143}
    payload = await list_page(env, {"per_page": "7", "page": "143"})
    assert len(payload["data"]) == 1000 - 142 * 7


async def test_list_of_nothing(env: Env) -> None:
    payload = await list_page(env)
    assert payload == {
        "success": True,
        "data": [],
        "paging": {"total": 0, "page": 1, "per_page": 25, "pages": 0},
    }


async def test_list_default_sort_is_created_at_then_id(env: Env) -> None:
    first = await create(env)
    second = await create(env)  # same createdAt: _id breaks the tie
    env.clock.advance(seconds=-3600)
    earlier = await create(env)
    payload = await list_page(env)
    assert [link["_id"] for link in payload["data"]] == [
        earlier["_id"],
        first["_id"],
        second["_id"],
    ]
    assert payload["data"][1] == first


async def test_list_sort_orders(env: Env) -> None:
    env.store.seed(60, WORKORDERS)
    everything = (await list_page(env, {"per_page": "100"}))["data"]

    async def ids(sort: str) -> list[str]:
        return [
            link["_id"]
            for link in (await list_page(env, {"per_page": "100", "sort": sort}))["data"]
        ]

    assert await ids("-createdAt") == [link["_id"] for link in reversed(everything)]
    by_views = sorted(
        everything, key=lambda link: (link["usage_stats"]["total_views"], link["_id"])
    )
    assert await ids("usage_stats.total_views") == [link["_id"] for link in by_views]
    by_type_then_newest = sorted(
        sorted(everything, key=lambda link: link["createdAt"] + link["_id"], reverse=True),
        key=lambda link: link["link_type"],
    )
    assert await ids("link_type,-createdAt") == [link["_id"] for link in by_type_then_newest]
    # null expiry dates sort first ascending and last descending
    ascending = (await list_page(env, {"per_page": "100", "sort": "expiry_date"}))["data"]
    descending = (await list_page(env, {"per_page": "100", "sort": "-expiry_date"}))["data"]
    assert ascending[0]["expiry_date"] is None
    assert descending[-1]["expiry_date"] is None
    assert [link["_id"] for link in descending] == [link["_id"] for link in reversed(ascending)]
    assert await ids("") == [link["_id"] for link in everything]


async def test_list_filters(env: Env) -> None:
    env.store.seed(90, WORKORDERS[:4])
    everything = (await list_page(env, {"per_page": "100"}))["data"]

    async def filtered(params: list[tuple[str, str]]) -> list[str]:
        return [
            link["_id"] for link in (await list_page(env, [("per_page", "100"), *params]))["data"]
        ]

    def expected(predicate: Any) -> list[str]:
        return [link["_id"] for link in everything if predicate(link)]

    assert await filtered([("workorder", WORKORDERS[1])]) == expected(
        lambda link: link["workorder"] == WORKORDERS[1]
    )
    assert await filtered([("workorder", WORKORDERS[1].upper())]) == expected(
        lambda link: link["workorder"] == WORKORDERS[1]
    )
    for value, flag in (("true", True), ("false", False)):
        assert await filtered([("is_active", value)]) == expected(
            lambda link, flag=flag: link["is_active"] is flag
        )
    for link_type in LINK_TYPES:
        assert await filtered([("link_type", link_type)]) == expected(
            lambda link, link_type=link_type: link["link_type"] == link_type
        )
    assert await filtered([("company_namespace", "acme")]) == expected(
        lambda link: "acme" in link["company_namespace"]
    )
    either = expected(lambda link: {"acme", "stark"} & set(link["company_namespace"]))
    assert await filtered([("company_namespace", "acme"), ("company_namespace", "stark")]) == either
    assert await filtered([("company_namespace", "nobody")]) == []
    chosen = [everything[3]["_id"], everything[40]["_id"], everything[77]["_id"]]
    assert await filtered([("_id", chosen[0]), ("_id", chosen[1])]) == chosen[:2]
    assert await filtered([("_id", chosen[2]), ("_id", chosen[0].upper())]) == [
        chosen[0],
        chosen[2],
    ]
    combined = await filtered(
        [
            ("link_type", "secure"),
            ("is_active", "true"),
            ("company_namespace", "globex"),
            ("workorder", WORKORDERS[2]),
        ]
    )
    assert combined == expected(
        lambda link: (
            link["link_type"] == "secure"
            and link["is_active"]
            and "globex" in link["company_namespace"]
            and link["workorder"] == WORKORDERS[2]
        )
    )
    paged = await list_page(env, {"link_type": "public", "per_page": "5"})
    public_total = len(expected(lambda link: link["link_type"] == "public"))
    assert paged["paging"] == {
        "total": public_total,
        "page": 1,
        "per_page": 5,
        "pages": math.ceil(public_total / 5),
    }


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"page": "0"}, "Invalid page: must be an integer >= 1"),
        ({"page": "-1"}, "Invalid page: must be an integer >= 1"),
        ({"page": "two"}, "Invalid page: must be an integer >= 1"),
        ({"page": "1.5"}, "Invalid page: must be an integer >= 1"),
        ({"page": ""}, "Invalid page: must be an integer >= 1"),
        ({"page": "1_0"}, "Invalid page: must be an integer >= 1"),
        ({"page": "9" * 40}, "Invalid page: must be an integer >= 1"),
        ({"per_page": "0"}, "Invalid per_page: must be an integer between 1 and 100"),
        ({"per_page": "101"}, "Invalid per_page: must be an integer between 1 and 100"),
        ({"per_page": "many"}, "Invalid per_page: must be an integer between 1 and 100"),
        ({"is_active": "yes"}, "Invalid is_active: must be true or false (lowercase)"),
        ({"is_active": ""}, "Invalid is_active: must be true or false (lowercase)"),
        ({"is_active": "True"}, "Invalid is_active: must be true or false (lowercase)"),
        ({"is_active": "FALSE"}, "Invalid is_active: must be true or false (lowercase)"),
        ({"is_active": "1"}, "Invalid is_active: must be true or false (lowercase)"),
        (
            [("is_active", "true"), ("is_active", "false")],
            "Invalid is_active: give it at most once",
        ),
        ({"link_type": "secret"}, "Invalid link_type: must be one of public, private, secure"),
        ({"workorder": "123"}, "Invalid ID format"),
        ({"_id": "xyz"}, "Invalid ID format"),
        ({"_id": "a" * 23}, "Invalid ID format"),
        ([("_id", "a" * 24), ("_id", "b" * 25)], "Invalid ID format"),
        ({"_id[]": "a" * 24}, "Invalid query parameter _id[]: repeat _id=... instead"),
        (
            {"company_namespace[]": "acme"},
            "Invalid query parameter company_namespace[]: repeat company_namespace=... instead",
        ),
        ({"unrelated": "x"}, "Unknown query parameter: unrelated"),
        ({"perPage": "10"}, "Unknown query parameter: perPage"),
        ({"sort": "color"}, "Invalid sort field: color"),
        ({"sort": "-permissions"}, "Invalid sort field: permissions"),
        ({"sort": "company_namespace"}, "Invalid sort field: company_namespace"),
        ({"sort": "createdAt,"}, "Invalid sort field: ''"),
        ([("page", "1"), ("page", "2")], "Invalid page: give it at most once"),
    ],
)
async def test_list_rejects_bad_query_values(env: Env, params: Any, error: str) -> None:
    status, payload, headers = await call_with_headers(
        env, "GET", "/workorder-portal-link", params=params
    )
    assert (status, payload) == (400, {"success": False, "error": error})
    assert DETAILS_HEADER not in headers
