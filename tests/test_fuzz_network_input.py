"""Property tests of everything that parses what comes over the network (issue #10).

The rule checked everywhere: whatever the bytes, statuses and headers, the only exceptions that
come out are the SDK's own (:class:`cwpro.CwproError` and its ``ValueError`` subclasses); the
client-side query builder, which checks the caller's own options, may also raise its documented
``ValueError``. Covered: the envelope decoder (with orjson and with the standard library's
``json``, which CI uses), ``Retry-After`` parsing, the query/cursor encoding, every model of
:mod:`cwpro.models`, webhook payloads, and two servers on loopback answering a real client with
random statuses, headers and bodies (an aiohttp server, and a raw socket that sends malformed
HTTP).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import threading
from collections.abc import Callable, Iterator, Mapping
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl

import attrs
import pytest
from aiohttp import web
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from yarl import URL

import cwpro
import cwpro._http.envelope as envelope
import cwpro.models
from cwpro import APIDecodeError, APIStatusError, CwproError, ModelError
from cwpro._errors import RateLimitError, status_error_class
from cwpro._http.retry import parse_retry_after
from cwpro._query import QUERY_KEYS, build_query
from cwpro.models import Model
from cwpro.webhooks import SiteCreated, WebhookPayloadError, WorkOrderCreated, parse_event

SECRET = "fuzz-secret-never-shown"

# -- strategies ---------------------------------------------------------------------------------
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=25,
)
huge_text = st.integers(10_000, 200_000).map(lambda n: "x" * n)
odd_scalars = st.one_of(
    json_scalars,
    huge_text,
    st.sampled_from(
        [
            "2024-01-01T00:00:00.000Z",
            "0001-01-01T00:00:00+05:00",
            "9999-12-31T23:59:59-05:00",
            "not a date",
            1e300,
            -1e300,
            10**20,
            "draft",
            "private",
            "WORKORDER.CREATE",
            "633cf3e1bb4e2453a0497b65",
        ]
    ),
)
statuses = st.one_of(
    st.sampled_from([200, 201, 204, 400, 401, 403, 404, 409, 418, 422, 429, 500, 502, 503, 504]),
    st.integers(100, 999),
)
envelopes = st.fixed_dictionaries(
    {},
    optional={
        "code": st.one_of(statuses, json_values),
        "reason": st.one_of(st.text(max_size=40), json_values),
        "success": st.one_of(st.booleans(), json_values),
        "data": json_values,
        "error": st.one_of(
            st.text(max_size=40),
            st.fixed_dictionaries(
                {}, optional={"code": json_values, "message": json_values, "detail": json_values}
            ),
            json_values,
        ),
        "details": st.lists(json_values, max_size=3),
        "message": json_values,
        "pagination": st.one_of(
            json_values,
            st.fixed_dictionaries(
                {},
                optional={
                    "hasNext": json_values,
                    "nextCursor": json_values,
                    "prevCursor": json_values,
                    "pageResults": json_values,
                    "totalResults": json_values,
                },
            ),
        ),
    },
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    envelopes.map(lambda v: json.dumps(v).encode()),
    st.sampled_from(
        [
            b"",
            b"<html><body><h1>502 Bad Gateway</h1></body></html>",
            b'{"code": 200, "data": [1, 2',
            b"1" * 5000,
            b"[" * 100_000,
            b'{"a": ' * 50_000,
            b"\xef\xbb\xbf{}",
            b"NaN",
            b'"\\ud800"',
            SECRET.encode(),
        ]
    ),
)
header_values = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40),
    st.sampled_from(["", "0", "-1", "1e400", "nan", "inf", "Wed, 21 Oct 2015 07:28:00 GMT"]),
)


def _redact(text: str) -> str:
    return text.replace(SECRET, "<redacted>")


def _exchange(body: bytes, status: int, headers: Mapping[str, str] | None = None) -> Any:
    return envelope.Exchange(status, headers or {}, body, "GET", "u", _redact)


@pytest.mark.parametrize("text", [b"NaN", b"[1, -Infinity]", b'{"a": Infinity}', b"1e999"])
def test_non_json_numbers_are_decode_errors(text: bytes) -> None:
    with pytest.raises(APIDecodeError):
        envelope.decode_json(_exchange(text, 200))


# The stdlib-json path of the one decoder (``cwpro._serde.loads``) is covered by
# tests/test_serde.py with orjson hidden.
ENVELOPE_MODULES = [envelope]


# -- envelope decoder ---------------------------------------------------------------------------
def _raised(call: Callable[[], Any], *allowed: type[BaseException]) -> BaseException | None:
    """Run ``call``; the exception it raised (one of ``allowed``), or None."""
    try:
        call()
    except allowed as exc:
        return exc
    return None


@pytest.mark.parametrize("module", ENVELOPE_MODULES, ids=["default"])
@settings(max_examples=80, deadline=None)
@given(body=bodies, status=statuses)
def test_decode_json_raises_only_decode_errors(
    module: ModuleType, body: bytes, status: int
) -> None:
    error = _raised(
        lambda: module.decode_json(_exchange(body, status)),
        APIDecodeError,
    )
    if isinstance(error, APIDecodeError):
        assert error.status == status
        assert SECRET not in str(error) + repr(error)
        assert len(error.body_excerpt) < 600


@pytest.mark.parametrize("module", ENVELOPE_MODULES, ids=["default"])
@pytest.mark.parametrize("body", [b"1" * 5000, b"[" * 100_000, b'{"a":' * 100_000])
def test_numbers_over_the_digit_limit_and_deep_nesting_are_decode_errors(
    module: ModuleType, body: bytes
) -> None:
    with pytest.raises(APIDecodeError):
        module.decode_json(_exchange(body, 200))


@settings(max_examples=120, deadline=None)
@given(payload=st.one_of(envelopes, json_values), status=statuses, body=st.binary(max_size=60))
def test_unwrap_returns_an_envelope_with_data_or_raises_sdk_errors(
    payload: Any, status: int, body: bytes
) -> None:
    checked: list[Mapping[str, Any]] = []
    error = _raised(
        lambda: checked.append(
            envelope.check_envelope(
                _exchange(body, status, {"Retry-After": "1"}), payload, expect_data=True
            )
        ),
        APIStatusError,
        APIDecodeError,
    )
    code = payload.get("code") if isinstance(payload, Mapping) else None
    envelope_error = isinstance(code, int) and not isinstance(code, bool) and code >= 400
    if isinstance(error, APIStatusError):
        assert isinstance(payload, Mapping)
        assert error.status == (code if envelope_error else 400)
        assert error.http_status == status
        assert SECRET not in str(error) + repr(error) + error.body_excerpt
    elif isinstance(error, APIDecodeError):
        assert not isinstance(payload, Mapping) or "data" not in payload
        assert SECRET not in str(error) + repr(error)
    else:
        assert isinstance(checked[0], Mapping) and "data" in checked[0]
        assert not envelope_error
        assert checked[0].get("success") is not False


@settings(max_examples=100, deadline=None)
@given(
    status=st.integers(-10, 10**6),
    payload=st.one_of(envelopes, json_values),
    body=st.binary(max_size=60) | st.just(SECRET.encode()),
    retry_after=header_values,
    extra_headers=st.dictionaries(
        st.sampled_from(["Set-Cookie", "X-Request-Id", "Content-Type"]), header_values
    ),
)
def test_build_status_error_never_fails(
    status: int, payload: Any, body: bytes, retry_after: str, extra_headers: dict[str, str]
) -> None:
    headers = {**extra_headers, "Retry-After": retry_after}
    err = envelope.status_error(_exchange(body, status, headers), status, payload)
    assert type(err) is status_error_class(status)
    assert err.status == status
    assert "set-cookie" not in {k.lower() for k in err.headers}
    assert SECRET not in str(err) + repr(err) + err.body_excerpt + err.message + err.detail
    if isinstance(err, RateLimitError) and err.retry_after is not None:
        assert math.isfinite(err.retry_after) and err.retry_after >= 0


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=60), header_values))
def test_retry_after_is_none_or_finite_and_non_negative(value: str | None) -> None:
    seconds = parse_retry_after(value)
    assert seconds is None or (math.isfinite(seconds) and seconds >= 0)


# -- query and cursor encoding ------------------------------------------------------------------
query_values = st.one_of(
    json_scalars,
    st.dates(),
    st.datetimes(timezones=st.none() | st.timezones()),
    st.lists(json_scalars | st.dates(), max_size=4),
    st.tuples(json_scalars | st.dates(), json_scalars | st.dates()),
    st.dictionaries(st.text(max_size=8), json_values | st.dates() | st.datetimes(), max_size=3),
)
query_options = st.dictionaries(
    st.one_of(st.sampled_from(sorted(QUERY_KEYS - {"cursor", "prefetch"})), st.text(max_size=8)),
    query_values,
    max_size=5,
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(options=query_options, cursor=st.text(max_size=40))
def test_build_query_is_valueerror_or_pairs_that_survive_the_url(
    options: dict[str, Any], cursor: str
) -> None:
    try:
        params = build_query(options)
    except ValueError:
        return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in params)
    sent = [*params, ("cursor", cursor)]
    # what aiohttp does with ``params=``: the pairs come back exactly, the path is untouched
    url = URL("http://127.0.0.1/workorders").update_query(sent)
    assert url.path == "/workorders"
    assert parse_qsl(url.raw_query_string, keep_blank_values=True) == sent


def test_datetimes_the_api_cannot_express_are_value_errors() -> None:
    early = dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5)))
    late = dt.datetime(9999, 12, 31, 23, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    for options in (
        {"between": {"created_date": (early, early)}},
        {"in_": {"created_date": [late]}},
        {"filter_by": {"created_date": late}},
    ):
        with pytest.raises(ValueError):
            build_query(options)


# -- models -------------------------------------------------------------------------------------
MODELS = sorted(
    (
        cls
        for cls in vars(cwpro.models).values()
        if isinstance(cls, type) and issubclass(cls, Model) and cls is not Model
    ),
    key=lambda cls: cls.__name__,
)


def _payloads(cls: type[Any]) -> st.SearchStrategy[Any]:
    names = [a.metadata.get("wire", a.name) for a in attrs.fields(cls) if a.init]
    field_values = (
        odd_scalars
        | json_values
        | st.lists(
            st.dictionaries(
                st.sampled_from(["_id", "name", "created_date", "description"]),
                odd_scalars,
                max_size=3,
            ),
            max_size=2,
        )
    )
    known = st.fixed_dictionaries({}, optional=dict.fromkeys(names, field_values))
    unknown = st.dictionaries(st.text(max_size=10), json_values, max_size=3)
    objects = st.tuples(known, unknown).map(lambda pair: {**pair[1], **pair[0]})
    return st.one_of(objects, objects, json_values)


def test_every_model_is_covered() -> None:
    assert {cls.__name__ for cls in MODELS} >= {
        "WorkOrder",
        "WorkType",
        "Site",
        "Document",
        "WebhookNotification",
        "PortalLink",
        "Paging",
    }


@pytest.mark.parametrize("cls", MODELS, ids=lambda cls: cls.__name__)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_models_structure_or_raise_model_error(cls: type[Any], data: st.DataObject) -> None:
    payload = data.draw(_payloads(cls))
    built: list[Any] = []
    error = _raised(lambda: built.append(cls.from_dict(payload)), ModelError)
    if error is not None:
        assert len(str(error)) < 2000  # a huge field is not quoted whole
        return
    (model,) = built
    assert isinstance(payload, dict)
    assert model.extra == {k: v for k, v in payload.items() if k in model.extra}
    # what came from the network can be written back (round-trip of the JSON it carries)
    rebuilt = model.to_dict()
    assert set(rebuilt) == set(payload)
    again = cls.from_dict(rebuilt)
    assert again.to_dict() == rebuilt


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
def test_dates_beyond_what_utc_can_hold_are_model_errors(value: str) -> None:
    with pytest.raises(ModelError):
        cwpro.WorkOrder.from_dict({"_id": "a", "created_date": value})


# -- webhook payloads: typed access to model-shaped data ------------------------------------------
@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(["WORKORDER.CREATE", "SITE.CREATE"]),
    data=st.one_of(_payloads(cwpro.WorkOrder), _payloads(cwpro.Site)),
    created=st.one_of(odd_scalars, st.just("2024-05-01T10:00:00Z")),
)
def test_webhook_events_parse_or_raise_payload_errors(name: str, data: Any, created: Any) -> None:
    body = json.dumps({"id": "e1", "event": name, "created_date": created, "data": data}).encode()
    try:
        event = parse_event(body, {"Content-Type": "application/json"})
        if isinstance(event, WorkOrderCreated):
            assert isinstance(event.work_order, cwpro.WorkOrder)
        elif isinstance(event, SiteCreated):
            assert isinstance(event.site, cwpro.Site)
    except WebhookPayloadError:
        pass


# -- over the wire ----------------------------------------------------------------------------
@attrs.define
class Script:
    """How the scripted server answers every request."""

    status: int = 200
    headers: dict[str, str] = attrs.field(factory=dict)
    body: bytes = b""
    raw: bytes | None = None  # the raw server: exactly these bytes, then close
    hang: bool = False  # the raw server: send, then keep the connection open


class ScriptedServers:
    """An aiohttp server and a raw TCP server on loopback, in one background thread."""

    def __init__(self) -> None:
        self.script = Script()
        self.requests: list[tuple[str, str, list[tuple[str, str]]]] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._raw_tasks: set[asyncio.Task[None]] = set()
        self.http_url = self.raw_url = ""

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.path, list(request.query.items())))
        await request.read()
        script = self.script
        return web.Response(status=script.status, headers=script.headers, body=script.body)

    async def _raw(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._raw_tasks.add(task)
        task.add_done_callback(self._raw_tasks.discard)
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(self.script.raw or b"")
            await writer.drain()
            if self.script.hang:
                await asyncio.sleep(1.0)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass  # stopped while hanging: end quietly (asyncio logs a cancelled stream task)
        finally:
            writer.close()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._answer)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.http_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        raw = self._loop.run_until_complete(asyncio.start_server(self._raw, "127.0.0.1", 0))
        self.raw_url = f"http://127.0.0.1:{raw.sockets[0].getsockname()[1]}"
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            raw.close()
            for task in self._raw_tasks:
                task.cancel()
            pending = asyncio.gather(*self._raw_tasks, return_exceptions=True)
            self._loop.run_until_complete(pending)
            self._loop.run_until_complete(raw.wait_closed())
            self._loop.run_until_complete(runner.cleanup())
            self._loop.close()

    def start(self) -> ScriptedServers:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture(scope="module")
def servers() -> Iterator[ScriptedServers]:
    running = ScriptedServers().start()
    yield running
    running.stop()


def _client(base_url: str, *, credentials: bool) -> cwpro.AsyncClient:
    auth: dict[str, Any] = (
        {"client_id": "fuzz-id", "client_secret": SECRET} if credentials else {"token": SECRET}
    )
    client = cwpro.AsyncClient(
        **auth,
        base_url=base_url,
        max_retries=1,
        retry_backoff_base=0.001,
        retry_backoff_max=0.002,
        timeout=cwpro.Timeout(total=2.0, connect=1.0, read=0.1),
    )
    transport = client._transport
    transport.retry_policy = attrs.evolve(transport.retry_policy, max_retry_after=0.01)
    return client


OPERATIONS = ["get", "first_page", "three_pages", "create", "update_status", "portal_page"]


async def _exercise(client: cwpro.AsyncClient, operation: str) -> None:
    if operation == "get":
        await client.workorders.get("633cf3e1bb4e2453a0497b65", expand=True)
    elif operation == "first_page":
        await client.workorders.list(limit=5)
    elif operation == "three_pages":
        pages = client.sites.list(limit=5, prefetch=2).pages()
        try:
            for _ in range(3):
                await pages.__anext__()
        except StopAsyncIteration:
            pass
        finally:
            await pages.aclose()
    elif operation == "create":
        await client.workorders.create(name="fuzz")
    elif operation == "update_status":
        await client.workorders.update_status("633cf3e1bb4e2453a0497b65", "open")
    else:
        await client.portal_links.list(per_page=5)


def _only_sdk_errors(base_url: str, operation: str, credentials: bool) -> None:
    async def run() -> None:
        async with _client(base_url, credentials=credentials) as client:
            try:
                await _exercise(client, operation)
            except CwproError as exc:
                shown = str(exc) + repr(exc) + str(getattr(exc, "body_excerpt", ""))
                assert SECRET not in shown

    asyncio.run(run())


header_names = st.sampled_from(
    ["Retry-After", "Content-Type", "X-Custom", "Location", "Content-Encoding", "Set-Cookie"]
)
token_bodies = st.fixed_dictionaries(
    {
        "code": st.just(200),
        "data": st.fixed_dictionaries(
            {},
            optional={
                "access_token": st.one_of(
                    st.text(max_size=20),
                    json_values,
                    st.sampled_from(["a\nb", "a\r\nX-Injected: 1", "\x00", "to ken", "é"]),
                ),
                "token": st.one_of(st.text(max_size=20), json_values),
                "expires_in": st.one_of(json_values, st.sampled_from(["1e400", "-5", "nan"])),
            },
        ),
    }
).map(lambda v: json.dumps(v).encode())


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    status=st.integers(200, 599),
    headers=st.dictionaries(header_names, header_values, max_size=3),
    body=st.one_of(bodies, token_bodies),
    operation=st.sampled_from(OPERATIONS),
    credentials=st.booleans(),
)
@example(
    status=200,
    headers={},
    body=b'{"code": 200, "data": {"access_token": "a\\r\\nX-Injected: 1"}}',
    operation="get",
    credentials=True,
)
def test_random_http_answers_raise_only_sdk_errors(
    servers: ScriptedServers,
    status: int,
    headers: dict[str, str],
    body: bytes,
    operation: str,
    credentials: bool,
) -> None:
    assume(status not in (204, 205, 304) or not body)
    servers.script = Script(status=status, headers=headers, body=body)
    _only_sdk_errors(servers.http_url, operation, credentials)


raw_status_lines = st.one_of(
    st.sampled_from(
        [
            b"HTTP/1.1 200 OK\r\n",
            b"HTTP/1.1 503 Service Unavailable\r\n",
            b"HTTP/1.1 429 Too Many\r\n",
            b"HTTP/1.0 999 What\r\n",
            b"HTTP/9.9 200 OK\r\n",
            b"HTTP/1.1 abc\r\n",
            b"SSH-2.0-OpenSSH\r\n",
            b"\r\n",
            b"",
        ]
    ),
    st.binary(max_size=40),
)
raw_headers = st.lists(
    st.one_of(
        st.sampled_from(
            [
                b"Content-Length: 5000\r\n",
                b"Content-Length: -1\r\n",
                b"Content-Length: 3\r\nContent-Length: 4\r\n",
                b"Transfer-Encoding: chunked\r\n",
                b"Content-Encoding: gzip\r\n",
                b"Content-Encoding: br\r\n",
                b"Content-Type: application/json\r\n",
                b"Retry-After: 99999999999999999999\r\n",
                b"X-Long: " + b"a" * 20_000 + b"\r\n",
                b"Bad Header Without Colon\r\n",
                b" folded: continuation\r\n",
                b"Connection: close\r\n",
            ]
        ),
        st.binary(max_size=40).map(lambda b: b + b"\r\n"),
    ),
    max_size=4,
)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    status_line=raw_status_lines,
    headers=raw_headers,
    body=bodies,
    hang=st.sampled_from([False, False, False, True]),
    operation=st.sampled_from(OPERATIONS),
)
def test_malformed_http_raises_only_sdk_errors(
    servers: ScriptedServers,
    status_line: bytes,
    headers: list[bytes],
    body: bytes,
    hang: bool,
    operation: str,
) -> None:
    raw = status_line + b"".join(headers) + b"\r\n" + body[:2000]
    servers.script = Script(raw=raw, hang=hang)
    _only_sdk_errors(servers.raw_url, operation, credentials=False)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(options=query_options, cursor=st.text(min_size=1, max_size=40))
def test_query_and_cursor_reach_the_server_exactly(
    servers: ScriptedServers, options: dict[str, Any], cursor: str
) -> None:
    try:
        params = build_query(options)
    except ValueError:
        return
    page = {"code": 200, "data": [], "pagination": {"hasNext": False}}
    servers.script = Script(status=200, body=json.dumps(page).encode())
    servers.requests.clear()

    async def run() -> None:
        async with _client(servers.http_url, credentials=False) as client:
            paginator = client.workorders._list(
                client.workorders.LIST, {**options, "cursor": cursor}
            )
            await paginator.to_list()

    asyncio.run(run())
    ((method, path, query),) = servers.requests
    assert (method, path) == ("GET", "/workorders")
    assert query == [*params, ("cursor", cursor)]
