"""Foundation acceptance: auth, retries, envelope errors, decoding, secrets, lifecycle.

Everything runs over real loopback HTTP against the emulator.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

import cwpro
from cwpro import (
    APIConnectionError,
    APIDecodeError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    UnprocessableEntityError,
)

from .conftest import make_client


async def first_id(client: cwpro.AsyncClient) -> str:
    page = await client.workorders.list(limit=1)
    return page.items[0].id


async def test_one_token_request_for_100_concurrent_calls_after_expiry(
    client: cwpro.AsyncClient, emulator: Any
) -> None:
    wo_id = await first_id(client)
    assert emulator.stats.token_requests == 1
    emulator.expire_tokens()
    # the client does not know yet: every request meets a 401, yet only one refresh happens
    results = await asyncio.gather(*(client.workorders.get(wo_id) for _ in range(100)))
    assert {r.id for r in results} == {wo_id}
    assert emulator.stats.token_requests == 2


async def test_proactive_refresh_single_flight(emulator: Any) -> None:
    async with make_client(emulator) as client:
        wo_id = await first_id(client)
        client._transport.auth._expires_at = 0.0  # type: ignore[attr-defined]  # token "about to expire"
        await asyncio.gather(*(client.workorders.get(wo_id) for _ in range(100)))
    assert emulator.stats.token_requests == 2


async def test_second_401_raises_authentication_error(
    client: cwpro.AsyncClient, emulator: Any
) -> None:
    wo_id = await first_id(client)
    emulator.faults.add("status", status=401, route="GET /workorders/*", times=2)
    with pytest.raises(AuthenticationError) as info:
        await client.workorders.get(wo_id)
    assert info.value.status == 401
    assert emulator.stats.token_requests == 2  # one refresh, then the second 401 is final


async def test_401_replay_once_succeeds(client: cwpro.AsyncClient, emulator: Any) -> None:
    wo_id = await first_id(client)
    emulator.faults.add("status", status=401, route="GET /workorders/*", times=1)
    assert (await client.workorders.get(wo_id)).id == wo_id


async def test_static_token_is_not_refreshed(emulator: Any) -> None:
    async with cwpro.AsyncClient(token="not-a-real-token", base_url=emulator.base_url) as client:
        with pytest.raises(AuthenticationError):
            await client.workorders.list(limit=1)
    assert emulator.stats.token_requests == 0


async def test_bad_credentials(emulator: Any) -> None:
    async with make_client(emulator, client_secret="wrong-secret-value") as client:
        with pytest.raises(AuthenticationError) as info:
            await client.workorders.list(limit=1)
    assert "wrong-secret-value" not in str(info.value) + repr(info.value)


async def test_429_retry_after_is_honoured(client: cwpro.AsyncClient, emulator: Any) -> None:
    wo_id = await first_id(client)
    emulator.faults.add("status", status=429, retry_after=1, route="GET /workorders/*", times=1)
    started = time.monotonic()
    assert (await client.workorders.get(wo_id)).id == wo_id
    waited = time.monotonic() - started
    assert 0.9 <= waited < 3.0


async def test_429_http_date_retry_after(client: cwpro.AsyncClient, emulator: Any) -> None:
    from cwpro._http.retry import parse_retry_after

    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(
        10.0
    )
    assert parse_retry_after("garbage") is None
    assert parse_retry_after("-5") == 0.0


async def test_429_is_retried_even_for_post(client: cwpro.AsyncClient, emulator: Any) -> None:
    emulator.faults.add("status", status=429, route="POST /workorders", times=2)
    created = await client.workorders.create(name="after rate limit")
    assert created.name == "after rate limit"
    assert emulator.stats["POST /workorders"] == 3


async def test_persistent_503_is_retried_then_raises(emulator: Any) -> None:
    async with make_client(emulator, max_retries=3) as client:
        wo_id = await first_id(client)
        before = emulator.stats["GET /workorders/{id}"]
        emulator.faults.add("status", status=503, route="GET /workorders/*")
        with pytest.raises(InternalServerError) as info:
            await client.workorders.get(wo_id)
        assert info.value.status == 503
        assert emulator.stats["GET /workorders/{id}"] - before == 4  # 1 + 3 retries
        assert client.retries == 3


async def test_post_is_not_retried_on_503(client: cwpro.AsyncClient, emulator: Any) -> None:
    emulator.faults.add("status", status=503, route="POST /workorders", times=1)
    with pytest.raises(InternalServerError):
        await client.workorders.create(name="not twice")
    assert emulator.stats["POST /workorders"] == 1


async def test_per_call_options(client: cwpro.AsyncClient, emulator: Any) -> None:
    wo_id = await first_id(client)
    emulator.faults.add("status", status=500, route="GET /workorders/*", times=1)
    with pytest.raises(InternalServerError):
        await client.with_options(max_retries=0).workorders.get(wo_id)
    emulator.faults.add("slow_headers", delay=2.0, route="GET /workorders/*", times=1)
    with pytest.raises(APITimeoutError):
        await client.with_options(timeout=0.3, max_retries=0).workorders.get(wo_id)
    assert not client.closed  # a view's close does not close the client


async def test_business_error_envelope_raises_bad_request(client: cwpro.AsyncClient) -> None:
    with pytest.raises(BadRequestError) as info:
        await client.workorders.create(name="x", work_type_ids=["0" * 24])
    err = info.value
    assert err.code == "WO_0005"
    assert err.status == 400
    assert err.http_status == 200
    assert err.message == "The work types provided were not found in CWP platform"
    assert "do not exists" in err.detail


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (422, UnprocessableEntityError),
        (500, InternalServerError),
    ],
)
async def test_status_mapping(
    client: cwpro.AsyncClient, emulator: Any, status: int, cls: type
) -> None:
    emulator.faults.add("status", status=status, route="GET /worktypes", times=4)
    with pytest.raises(cls) as info:
        await client.with_options(max_retries=0).work_types.list(limit=1)
    assert info.value.status == status


async def test_html_502_raises_sdk_error_with_excerpt(
    client: cwpro.AsyncClient, emulator: Any
) -> None:
    emulator.faults.add("status", status=502, body="html", route="GET /worktypes")
    with pytest.raises(InternalServerError) as info:
        await client.with_options(max_retries=1).work_types.list(limit=1)
    assert info.value.status == 502
    assert "<" in info.value.body_excerpt  # the HTML page, quoted
    assert len(info.value.body_excerpt) < 700


async def test_truncated_json_raises_decode_error(client: cwpro.AsyncClient, emulator: Any) -> None:
    emulator.faults.add("truncate_body", route="GET /worktypes", times=1)
    with pytest.raises(APIDecodeError) as info:
        await client.with_options(max_retries=0).work_types.list(limit=5)
    assert info.value.status == 200
    assert info.value.body_excerpt


async def test_complete_but_undecodable_answer_is_final_for_get_and_post(
    client: cwpro.AsyncClient, emulator: Any
) -> None:
    # A complete 2xx (its Content-Length matches) whose JSON is cut: the server did the work,
    # so it is never re-sent, whatever the method.
    emulator.faults.add("truncate_body", route="GET /worktypes", times=1)
    with pytest.raises(APIDecodeError) as raised:
        await client.work_types.list(limit=5)
    assert emulator.stats["GET /worktypes"] == 1
    assert raised.value.status == 200 and raised.value.content
    emulator.faults.add("truncate_body", route="POST /workorders", times=1)
    with pytest.raises(APIDecodeError):
        await client.workorders.create(name="maybe created")
    assert emulator.stats["POST /workorders"] == 1


def test_credentials_that_cannot_go_into_a_header_are_refused_early() -> None:
    for bad in ["tok en", "tok\r\nX-Injected: 1", "tök"]:
        with pytest.raises(ConfigurationError, match="token"):
            cwpro.AsyncClient(token=bad, base_url="http://127.0.0.1:1")
    with pytest.raises(ConfigurationError, match="api_key"):
        cwpro.AsyncClient(token="t", api_key="k\n", base_url="http://127.0.0.1:1")


async def test_reset_connection_is_retried_for_get(
    client: cwpro.AsyncClient, emulator: Any
) -> None:
    emulator.faults.add("reset_before_headers", route="GET /worktypes", times=1)
    emulator.faults.add("reset_mid_body", route="GET /worktypes", times=1)
    page = await client.work_types.list(limit=3)
    assert len(page.items) == 3


async def test_reset_without_retries_raises_connection_error(
    client: cwpro.AsyncClient, emulator: Any
) -> None:
    emulator.faults.add("reset_mid_body", route="GET /worktypes", times=1)
    with pytest.raises(APIConnectionError):
        await client.with_options(max_retries=0).work_types.list(limit=3)


async def test_connection_refused_is_a_connection_error() -> None:
    async with cwpro.AsyncClient(
        token="t", base_url="http://127.0.0.1:9", max_retries=1, retry_backoff_base=0.01
    ) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.work_types.list()
    assert "127.0.0.1:9" in str(info.value)


async def test_close_is_idempotent_and_closed_client_refuses(emulator: Any) -> None:
    client = make_client(emulator)
    await client.work_types.list(limit=1)
    await client.close()
    await client.close()
    assert client.closed
    with pytest.raises(cwpro.CwproError, match="closed"):
        await client.work_types.list(limit=1)


def test_configuration_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CWPRO_CLIENT_ID", "env-id")
    monkeypatch.setenv("CWPRO_CLIENT_SECRET", "env-secret-123")
    monkeypatch.setenv("CWPRO_ENVIRONMENT", "production")
    client = cwpro.AsyncClient()
    assert client.base_url == "https://cwp-api.cloudworkpro.com"
    assert client.config.client_id == "env-id"
    monkeypatch.setenv("CWPRO_BASE_URL", "http://127.0.0.1:1/")
    assert cwpro.AsyncClient().base_url == "http://127.0.0.1:1"


def test_configuration_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "CWPRO_CLIENT_ID",
        "CWPRO_CLIENT_SECRET",
        "CWPRO_TOKEN",
        "CWPRO_BASE_URL",
        "CWPRO_ENVIRONMENT",
    ):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError, match="no credentials"):
        cwpro.AsyncClient()
    with pytest.raises(ConfigurationError, match="environment"):
        cwpro.AsyncClient(token="t", environment="staging-ish")
    with pytest.raises(ConfigurationError, match="insecure_skip_verify"):
        cwpro.AsyncClient(token="t", verify_ssl=False)
    assert (
        cwpro.AsyncClient(token="t", verify_ssl=False, insecure_skip_verify=True).config.verify_ssl
        is False
    )
    with pytest.raises(ConfigurationError, match="timeout"):
        cwpro.AsyncClient(token="t", timeout=-1)
    with pytest.raises(ConfigurationError, match="max_retries"):
        cwpro.AsyncClient(token="t", max_retries=-1)


async def test_no_secret_in_repr_logs_or_errors(
    emulator: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = [emulator.client_secret, "the-api-key-987"]
    texts: list[str] = []
    async with make_client(emulator, api_key="the-api-key-987") as client:
        texts += [repr(client), str(client), repr(client.config), repr(client._transport.auth)]
        wo_id = await first_id(client)
        token = client._transport.auth._token  # type: ignore[attr-defined]
        secrets.append(token)
        emulator.expire_tokens()
        await client.workorders.get(wo_id)
        emulator.faults.add("status", status=503, route="GET /workorders/*", times=1)
        await client.workorders.get(wo_id)
        errors: list[BaseException] = []
        for kind, kwargs in [
            ("status", {"status": 500, "body": "html"}),
            ("truncate_body", {}),
            ("status", {"status": 404}),
        ]:
            emulator.faults.add(kind, route="GET /workorders/*", times=5, **kwargs)
            try:
                await client.with_options(max_retries=0).workorders.get(wo_id)
            except cwpro.CwproError as exc:
                errors.append(exc)
            emulator.faults.clear()
        try:
            await client.workorders.create(name="x", work_type_ids=["0" * 24])
        except BadRequestError as exc:
            errors.append(exc)
        texts += [repr(e) for e in errors] + [str(e) for e in errors]
        texts += [str(getattr(e, "body_excerpt", "")) for e in errors]
    texts += [r.getMessage() for r in caplog.records] + [caplog.text]
    assert any("retrying" in t for t in texts)  # the DEBUG log did record the retries
    blob = "\n".join(texts)
    for secret in secrets:
        assert secret and secret not in blob


async def test_ids_cannot_inject_path_segments_or_queries(
    client: cwpro.AsyncClient, emulator: Any
) -> None:
    for bad in ["../sites", "a/b", "x?limit=1", "y#frag", "%2e%2e"]:
        with pytest.raises(NotFoundError) as info:
            await client.workorders.get(bad)
        assert "/workorders/" in info.value.url
        assert "?" not in info.value.url.split("/workorders/", 1)[1] or "%3F" in info.value.url
    for bad in ["", ".", ".."]:
        with pytest.raises(ValueError):
            await client.workorders.get(bad)
    assert emulator.stats["GET /sites"] == 0


async def test_raw_response_access(client: cwpro.AsyncClient) -> None:
    wo_id = await first_id(client)
    raw = await client.workorders.with_raw_response.get(wo_id)
    assert raw.status == 200
    assert raw.parsed.id == wo_id
    assert raw.payload["data"]["_id"] == wo_id
    assert raw.parsed.to_dict() == raw.payload["data"]
    low = await client.request("GET", "/workorders/{id}", path_params={"id": wo_id})
    assert low.data["_id"] == wo_id
