"""OpenTelemetry sees every SDK request (and no secret); raw responses and the as_dict overloads
are typed; the debug log has one line per attempt; every exception the SDK raises is importable
from ``cwpro``."""

from __future__ import annotations

import inspect
import logging
import textwrap
from pathlib import Path
from typing import Any

import pytest

import cwpro
import cwpro._errors
from cwpro.resources._base import CursorListResource, ExportArgs, ListArgs
from cwpro.resources.portal_links import PortalLinkListArgs, PortalLinks
from cwpro.resources.webhooks import WebhookExportArgs, WebhookListArgs, Webhooks
from tests._support import mypy_strict
from tests.conftest import make_client


async def test_every_request_is_a_span_without_secrets(emulator: Any) -> None:
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = AioHttpClientInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        async with make_client(emulator) as client:
            page = await client.workorders.list(limit=3)
            await client.workorders.get(page.items[0].id)
            emulator.faults.add("status", status=503, route="GET /worktypes", times=1)
            await client.work_types.list(limit=2)
            sent = client.stats.requests_sent
            token = client._transport.auth.cached()
    finally:
        instrumentor.uninstrument()
    spans = exporter.get_finished_spans()
    assert len(spans) == sent == 5  # token, list, get, 503, retry
    assert token
    for span in spans:
        text = repr(dict(span.attributes or {})) + span.name
        for secret in (emulator.client_secret, token):
            assert secret not in text
    assert any(
        (span.attributes or {}).get(
            "http.response.status_code", (span.attributes or {}).get("http.status_code")
        )
        == 503
        for span in spans
    )


async def test_one_debug_line_per_attempt(emulator: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="cwpro")
    async with make_client(emulator) as client:
        emulator.faults.add("status", status=500, route="GET /sites", times=1)
        await client.sites.list(limit=2)
        secret, token = emulator.client_secret, client._transport.auth.cached()
    attempts = [r.getMessage() for r in caplog.records if " -> " in r.getMessage()]
    assert [m.split(" -> ")[1].split()[0] for m in attempts if "/sites" in m] == ["500", "200"]
    assert all("attempt" in m and " ms " in m for m in attempts)
    for record in caplog.records:
        assert secret not in record.getMessage() and str(token) not in record.getMessage()


def test_every_exception_is_importable_from_cwpro_and_documented() -> None:
    classes = [
        obj
        for obj in vars(cwpro._errors).values()
        if inspect.isclass(obj) and issubclass(obj, BaseException)
    ]
    tree = cwpro._errors.__doc__ or ""
    for cls in classes:
        assert getattr(cwpro, cls.__name__, None) is cls, f"cwpro.{cls.__name__} missing"
        assert cls.__doc__, cls.__name__
        if cls.__name__ not in ("WebhookError",):
            assert cls.__name__ in tree, f"{cls.__name__} not in the error tree"


def test_invalid_arguments_are_cwpro_errors_and_value_errors() -> None:
    client = cwpro.AsyncClient(token="t", base_url="http://127.0.0.1:1")
    with pytest.raises(cwpro.InvalidArgumentError) as raised:
        client.workorders.list(limit=0)
    assert isinstance(raised.value, cwpro.CwproError) and isinstance(raised.value, ValueError)
    with pytest.raises(cwpro.InvalidArgumentError):
        client.with_options(max_retries=-1)
    with pytest.raises(cwpro.InvalidArgumentError, match="Authorization"):
        client.with_options(extra_headers={"Authorization": "Bearer x"})


def test_raw_responses_and_per_call_options_type_check(tmp_path: Path) -> None:
    sample = tmp_path / "typed_user.py"
    sample.write_text(
        textwrap.dedent(
            """
            from typing import Any
            from typing_extensions import assert_type
            import cwpro
            import cwpro_sync
            from cwpro import AsyncCursorPaginator as Paginator, AsyncExport as Export

            async def main(client: cwpro.AsyncClient) -> None:
                raw = await client.workorders.with_raw_response.get("x", timeout=5)
                assert_type(raw, cwpro.APIResponse[cwpro.WorkOrder])
                assert_type(raw.parse(), cwpro.WorkOrder)
                assert_type(raw.request_id, str | None)
                deleted = await client.portal_links.with_raw_response.delete("x")
                assert_type(deleted.parse(), None)
                wo = await client.workorders.get("x", max_retries=0, extra_headers={"a": "b"})
                assert_type(wo, cwpro.WorkOrder)
                message = await client.workorders.update_status("x", "open")
                assert_type(message, str)

            def lists(client: cwpro.AsyncClient, flag: bool) -> None:  # the as_dict overloads
                assert_type(client.workorders.list(limit=5, max_items=9), Paginator[cwpro.WorkOrder])
                assert_type(client.workorders.list(as_dict=True), Paginator[dict[str, Any]])
                assert_type(client.workorders.list(as_dict=flag), Paginator[Any])
                assert_type(client.sites.export(None, concurrency=2), Export[cwpro.Site])
                hooks = client.webhooks.list(event="x", since=None, max_items=3)
                assert_type(hooks, Paginator[cwpro.WebhookNotification])
                assert_type(client.webhooks.export(as_dict=True, event=None), Export[dict[str, Any]])
                links = client.portal_links.list(page=2, concurrency=4)
                assert_type(links, cwpro.AsyncPagePaginator[cwpro.PortalLink])
                client.workorders.list(max_items="9")  # type: ignore[call-overload]
                client.portal_links.list(pages=2)  # type: ignore[call-overload]
                client.webhooks.export(since=None)  # type: ignore[call-overload]
            """
        )
    )
    done = mypy_strict(tmp_path, sample.name)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("method", "args"),
    [
        (CursorListResource.list, ListArgs),
        (CursorListResource.export, ExportArgs),
        (Webhooks.list, WebhookListArgs),
        (Webhooks.export, WebhookExportArgs),
        (PortalLinks.list, PortalLinkListArgs),
    ],
)
def test_the_overloads_keywords_are_the_implementations(method: Any, args: Any) -> None:
    """The TypedDict an as_dict overload stack unpacks names every keyword of the method
    (``**query`` standing for :class:`cwpro.ListQuery`'s), and no other."""
    params = inspect.signature(method).parameters.values()
    keywords = {p.name for p in params if p.kind is p.KEYWORD_ONLY} - {"as_dict"}
    if any(p.kind is p.VAR_KEYWORD for p in params):
        keywords |= cwpro.ListQuery.__optional_keys__
    assert args.__required_keys__ | args.__optional_keys__ == keywords


async def test_raw_response_carries_request_id_and_attempts(emulator: Any) -> None:
    async with make_client(emulator) as client:
        wo = (await client.workorders.list(limit=1)).items[0]
        emulator.faults.add("status", status=502, route="GET /workorders/*", times=1)
        raw = await client.workorders.with_raw_response.get(wo.id)
    assert raw.status == 200 and raw.attempts == 2
    assert raw.parse() == wo and raw.elapsed > 0
    assert raw.headers["Content-Type"].startswith("application/json")
