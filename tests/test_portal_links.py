"""Workorder portal links through the SDK, over loopback (issue: portal links)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

import cwpro
from cwpro import (
    BadRequestError,
    LinkType,
    NotFoundError,
    Permissions,
    PortalLink,
    UnprocessableEntityError,
)

# The request schemas of the Workorder Portal Link API reference (shared/API.md and the seed):
# field -> allowed JSON types; nested objects list their own fields.
BOOL, STR, INT, NULL = bool, str, int, type(None)
NESTED: dict[str, dict[str, tuple[type, ...]]] = {
    "permissions": {
        k: (BOOL,)
        for k in (
            "can_view_details",
            "can_add_comments",
            "can_upload_files",
            "can_view_history",
            "can_approve_reject",
        )
    },
    "access_restrictions": {
        "allowed_ips": (list,),
        "max_uses": (INT,),
        "password_protected": (BOOL,),
        "require_email_verification": (BOOL,),
    },
    "notification_settings": {
        "notify_on_access": (BOOL,),
        "notify_on_comment": (BOOL,),
        "notify_on_file_upload": (BOOL,),
        "notification_recipients": (list,),
    },
    "custom_branding": {
        k: (STR,) for k in ("logo_url", "brand_color", "custom_domain", "footer_text")
    },
    "metadata": {"purpose": (STR,), "tags": (list,)},
}
TOP: dict[str, tuple[type, ...]] = {
    "workorder": (STR,),
    "link_type": (STR,),
    "expiry_date": (STR, NULL),
    "is_active": (BOOL,),
    "company_namespace": (list,),
    **{name: (dict,) for name in NESTED},
}


def check_request_schema(body: dict[str, Any], *, create: bool) -> None:
    """Validate a request body against the documented create/update schema."""
    assert isinstance(body, dict)
    if create:
        assert isinstance(body.get("workorder"), str) and body["workorder"]
    else:
        assert "workorder" not in body
    for key, value in body.items():
        assert key in TOP, f"undocumented field {key!r}"
        assert isinstance(value, TOP[key]) and not (
            TOP[key] == (INT,) and isinstance(value, bool)
        ), (key, value)
        if key == "link_type":
            assert value in ("public", "private", "secure")
        if key == "expiry_date" and value is not None:
            dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if key in NESTED:
            for inner, inner_value in value.items():
                assert inner in NESTED[key], f"undocumented field {key}.{inner}"
                types = NESTED[key][inner]
                assert isinstance(inner_value, types) and not (
                    types == (INT,) and isinstance(inner_value, bool)
                ), (key, inner, inner_value)
                if isinstance(inner_value, list):
                    assert all(isinstance(v, str) for v in inner_value)
        if key == "company_namespace":
            assert all(isinstance(v, str) for v in value)


@pytest.fixture
def sent_bodies(
    client: cwpro.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[str, str, Any]]:
    """Records (method, path, json body) of every request the SDK sends."""
    recorded: list[tuple[str, str, Any]] = []
    original = client._transport.send

    async def spy(options: Any) -> Any:
        recorded.append((options.method, options.path, options.json))
        return await original(options)

    monkeypatch.setattr(client._transport, "send", spy)
    return recorded


async def a_workorder(client: cwpro.AsyncClient) -> str:
    return (await client.workorders.list(limit=1)).items[0].id


async def test_create_applies_defaults_and_returns_a_token(
    client: cwpro.AsyncClient, sent_bodies: list[Any]
) -> None:
    wo = await a_workorder(client)
    link = await client.portal_links.create(wo)
    assert isinstance(link, PortalLink)
    assert link.workorder == wo
    assert link.link_type is LinkType.PRIVATE
    assert link.is_active is True
    assert link.link_token and link.link_token.startswith("wpl_")
    assert link.full_url and link.full_url.endswith(link.link_token)
    assert link.permissions == Permissions(
        can_view_details=True,
        can_add_comments=True,
        can_upload_files=False,
        can_view_history=True,
        can_approve_reject=False,
    )
    assert link.version == 0
    assert link.link_token not in repr(link)  # the token is a credential: kept out of repr
    check_request_schema(sent_bodies[-1][2], create=True)


async def test_create_with_every_option(client: cwpro.AsyncClient, sent_bodies: list[Any]) -> None:
    wo = await a_workorder(client)
    expiry = dt.datetime(2031, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    link = await client.portal_links.create(
        wo,
        link_type="secure",
        permissions=Permissions(can_upload_files=True),
        access_restrictions={
            "allowed_ips": ["10.0.0.0/8"],
            "max_uses": 5,
            "password_protected": True,
        },
        expiry_date=expiry,
        notification_settings={
            "notify_on_access": True,
            "notification_recipients": ["ops@example.com"],
        },
        custom_branding={"brand_color": "#FF5733", "footer_text": "Thanks"},
        metadata={"purpose": "customer sign-off", "tags": ["vip"]},
        is_active=False,
        company_namespace=["acme"],
    )
    assert link.link_type is LinkType.SECURE
    assert link.permissions is not None and link.permissions.can_upload_files is True
    assert link.permissions.can_view_details is True  # default kept for what was not given
    assert link.access_restrictions is not None and link.access_restrictions.max_uses == 5
    assert link.expiry_date == expiry
    assert link.is_active is False
    assert link.metadata is not None and link.metadata.tags == ["vip"]
    assert link.company_namespace == ["acme"]
    check_request_schema(sent_bodies[-1][2], create=True)


async def test_get_update_regenerate_activate_delete(
    client: cwpro.AsyncClient, sent_bodies: list[Any]
) -> None:
    wo = await a_workorder(client)
    link = await client.portal_links.create(wo)
    assert await client.portal_links.get(link.id) == link
    updated = await client.portal_links.update(
        link.id, link_type=LinkType.PUBLIC, permissions={"can_approve_reject": True}
    )
    method, _, body = sent_bodies[-1]
    assert method == "PATCH"
    assert body == {
        "link_type": "public",
        "permissions": {"can_approve_reject": True},
    }  # only the given fields
    check_request_schema(body, create=False)
    assert updated.link_type is LinkType.PUBLIC
    assert updated.permissions is not None and updated.permissions.can_approve_reject is True
    assert updated.permissions.can_view_details is True
    assert updated.version == 1
    assert (
        updated.modified_at is not None
        and link.modified_at is not None
        and updated.modified_at >= link.modified_at
    )
    expiring = await client.portal_links.update(
        link.id, expiry_date=dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    )
    assert expiring.expiry_date is not None
    cleared = await client.portal_links.update(link.id, expiry_date=None)
    assert sent_bodies[-1][2] == {"expiry_date": None}
    assert cleared.expiry_date is None
    regenerated = await client.portal_links.regenerate(link.id)
    assert regenerated.link_token != link.link_token
    off = await client.portal_links.deactivate(link.id)
    assert off.is_active is False
    on = await client.portal_links.activate(link.id)
    assert on.is_active is True
    assert await client.portal_links.delete(link.id) is None
    with pytest.raises(NotFoundError) as info:
        await client.portal_links.get(link.id)
    assert "not found" in info.value.message.lower()


async def test_old_token_stops_resolving_after_regenerate(
    client: cwpro.AsyncClient, emulator: Any
) -> None:
    import aiohttp

    link = await client.portal_links.create(await a_workorder(client))
    async with aiohttp.ClientSession() as session:
        async with session.get(link.full_url) as resp:
            assert resp.status == 200
        fresh = await client.portal_links.regenerate(link.id)
        async with session.get(link.full_url) as resp:
            assert resp.status == 404
        async with session.get(fresh.full_url) as resp:
            assert resp.status == 200


async def test_list_iterates_every_page_with_filters(
    client: cwpro.AsyncClient, emulator: Any
) -> None:
    everything = [link async for link in client.portal_links.list(per_page=7)]
    assert len(everything) == 60
    assert len({link.id for link in everything}) == 60
    first = await client.portal_links.list(per_page=7)
    assert (first.page, first.per_page, first.total, first.pages) == (1, 7, 60, 9)
    third = await client.portal_links.list(page=3, per_page=7)
    assert third.page == 3
    assert [link.id for link in third.items] == [link.id for link in everything[14:21]]
    from_third = [link async for link in client.portal_links.list(page=3, per_page=7)]
    assert [link.id for link in from_third] == [link.id for link in everything[14:]]
    active_public = [
        link async for link in client.portal_links.list(is_active=True, link_type="public")
    ]
    assert active_public
    assert all(link.is_active and link.link_type is LinkType.PUBLIC for link in active_public)
    assert {link.id for link in active_public} == {
        link.id for link in everything if link.is_active and link.link_type is LinkType.PUBLIC
    }
    some = [everything[0].id, everything[5].id]
    by_ids = [link async for link in client.portal_links.list(ids=some)]
    assert {link.id for link in by_ids} == set(some)
    namespace = next(ns for link in everything for ns in (link.company_namespace or []))
    by_ns = [link async for link in client.portal_links.list(company_namespace=[namespace])]
    assert by_ns
    assert all(namespace in (link.company_namespace or []) for link in by_ns)
    wo = everything[0].workorder
    assert wo is not None
    assert all(
        link.workorder == wo for link in [x async for x in client.portal_links.list(workorder=wo)]
    )
    newest_first = [link async for link in client.portal_links.list(sort="-createdAt")]
    created = [link.created_at for link in newest_first]
    assert created == sorted(created, reverse=True)  # type: ignore[type-var]


async def test_array_and_boolean_query_encoding(
    client: cwpro.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Any] = []
    original = client._transport.send

    async def spy(options: Any) -> Any:
        seen.append(list(options.params) if options.params else options.params)
        return await original(options)

    monkeypatch.setattr(client._transport, "send", spy)
    await client.portal_links.list(
        company_namespace=["a", "b"], ids=["1" * 24, "2" * 24], is_active=False, per_page=10
    )
    assert seen[0] == [
        ("per_page", "10"),
        ("company_namespace", "a"),
        ("company_namespace", "b"),
        ("is_active", "false"),
        ("_id", "1" * 24),
        ("_id", "2" * 24),
        ("page", "1"),
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"per_page": 0}, "per_page"),
        ({"per_page": 101}, "per_page"),
        ({"page": 0}, "page"),
        ({"page": True}, "page"),
        ({"link_type": "hidden"}, "link_type"),
        ({"is_active": "yes"}, "is_active"),
        ({"ids": "abc"}, "ids"),
    ],
)
def test_list_validation_before_any_request(
    client: cwpro.AsyncClient, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        client.portal_links.list(**kwargs)


async def test_create_validation_before_any_request(
    client: cwpro.AsyncClient, sent_bodies: list[Any]
) -> None:
    for bad in [{"workorder": ""}, {"workorder": "  "}]:
        with pytest.raises(ValueError, match="workorder"):
            await client.portal_links.create(**bad)
    with pytest.raises(ValueError, match="link_type"):
        await client.portal_links.create("a" * 24, link_type="hidden")
    with pytest.raises(ValueError, match="permissions"):
        await client.portal_links.create("a" * 24, permissions={"can_view_details": "yes"})
    with pytest.raises(ValueError, match="permissions"):
        await client.portal_links.create("a" * 24, permissions=["not", "a", "mapping"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one field"):
        await client.portal_links.update("a" * 24)
    assert sent_bodies == []


async def test_api_error_shapes(client: cwpro.AsyncClient, emulator: Any) -> None:
    with pytest.raises(NotFoundError):
        await client.portal_links.get("f" * 24)
    with pytest.raises(BadRequestError) as bad:
        await client.portal_links.get("not-an-id")
    assert bad.value.status == 400
    assert "Invalid ID" in bad.value.message
    with pytest.raises(NotFoundError):
        await client.portal_links.create("f" * 24)  # no such work order
    with pytest.raises(UnprocessableEntityError) as invalid:
        await client.portal_links.create(
            await a_workorder(client), access_restrictions={"max_uses": -1}
        )
    assert invalid.value.status == 422
    assert "max_uses" in invalid.value.detail
    emulator.faults.add("status", status=500, route="GET /workorder-portal-link/*", times=10)
    with pytest.raises(cwpro.InternalServerError):
        await client.with_options(max_retries=1).portal_links.get("f" * 24)
    emulator.faults.add("status", status=403, route="POST /workorder-portal-link", times=1)
    with pytest.raises(cwpro.PermissionDeniedError):
        await client.portal_links.create(await a_workorder(client))


async def test_unknown_link_type_from_server_is_kept(client: cwpro.AsyncClient) -> None:
    link = PortalLink.from_dict({"_id": "1" * 24, "link_type": "ephemeral", "new_field": {"x": 1}})
    assert link.link_type == "ephemeral"
    assert link.link_type is not None and not link.link_type.known
    assert link.to_dict()["new_field"] == {"x": 1}
