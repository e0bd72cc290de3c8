"""The resource declarations and the emulator agree, route for route.

The list of endpoints comes from the declarations (``cwpro.resources.all_endpoints()``); nothing
here is written per endpoint, so a new declaration is checked as soon as it exists.
"""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest

import cwpro
from cwpro import _wire
from cwpro.emulator import Emulator
from cwpro.resources import RESOURCES, all_endpoints

ENDPOINTS = all_endpoints()
NOT_PART_OF_THE_API = ("/_emulator", "/portal/", _wire.TOKEN_PATH)


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def emulator_routes() -> set[tuple[str, str]]:
    app = Emulator().build_app()
    routes = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("formatter") or info.get("path") or ""
        if route.method in ("HEAD", "*") or path.startswith(NOT_PART_OF_THE_API):
            continue
        routes.add((route.method, _shape(path)))
    return routes


def test_every_declared_endpoint_is_served_by_the_emulator() -> None:
    served = emulator_routes()
    missing = {
        name: (ep.method, ep.path)
        for name, ep in ENDPOINTS.items()
        if (ep.method, _shape(ep.path)) not in served
    }
    assert not missing


def test_every_emulated_api_route_is_declared_by_a_resource() -> None:
    declared = {(ep.method, _shape(ep.path)) for ep in ENDPOINTS.values()}
    assert emulator_routes() - declared == set()


def test_every_resource_is_on_the_client_and_documents_its_methods() -> None:
    client = cwpro.AsyncClient(token="t", base_url="http://127.0.0.1:1")
    for attribute, cls in RESOURCES.items():
        resource = getattr(client, attribute)
        assert isinstance(resource, cls)
        public = [
            name
            for name in dir(cls)
            if not name.startswith("_")
            and callable(getattr(cls, name))
            and name not in ("with_raw_response",)
        ]
        assert public
        for name in public:
            assert (getattr(cls, name).__doc__ or "").strip(), (
                f"{cls.__name__}.{name} has no docstring"
            )


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
async def test_each_declared_route_answers_with_an_envelope(
    name: str, emulator: Any, client: cwpro.AsyncClient
) -> None:
    """A request shaped by the declaration reaches a handler (not aiohttp's 404/405 page)."""
    endpoint = ENDPOINTS[name]
    ids = {"id": "f" * 24, "resource_name": "work_order_extra_photos"}
    path = endpoint.path.format(**{p: ids[p] for p in endpoint.path_params()})
    token = await client._transport.auth.get_token()
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            endpoint.method,
            emulator.url_for(path),
            headers={"Authorization": f"Bearer {token}"},
            json={} if endpoint.method in ("POST", "PATCH") else None,
        ) as resp,
    ):
        assert resp.status != 405
        assert resp.content_type == "application/json", await resp.text()
        body = await resp.json()
    assert isinstance(body, dict)
    assert "success" in body
