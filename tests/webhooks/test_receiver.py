"""WebhookReceiver over real loopback HTTP: every status, queue/inline modes, proxies, shutdown."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from cwpro.webhooks import InMemorySeenStore, WebhookEvent, WebhookReceiver

from ._helpers import body, object_id
from ._receiving import Recorder, serving

JSON = {"Content-Type": "application/json"}
CWP_IP = "44.193.241.109"


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {**JSON, "Authorization": f"Basic {token}"}


async def post(
    session: aiohttp.ClientSession, url: str, data: bytes, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], dict[str, object]]:
    async with session.post(url, data=data, headers=headers or JSON) as response:
        return response.status, dict(response.headers), await response.json()


async def test_good_event_is_accepted_and_handled() -> None:
    recorder = Recorder()
    async with serving(recorder) as (receiver, url, session):
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith("/webhooks")
        status, _, payload = await post(session, url, body(1))
        assert (status, payload["message"]) == (200, "accepted")
        await receiver.join()
    assert recorder.ids == [object_id(1)]
    assert receiver.stats.received == 1
    assert receiver.stats.accepted == 1
    assert receiver.stats.handled == 1


async def test_duplicate_is_answered_200_and_not_handled_again() -> None:
    recorder = Recorder()
    async with serving(recorder) as (receiver, url, session):
        assert (await post(session, url, body(1)))[0] == 200
        status, _, payload = await post(session, url, body(1))
        assert (status, payload["message"]) == (200, "duplicate")
        await receiver.join()
    assert recorder.ids == [object_id(1)]
    assert receiver.stats.duplicates == 1


async def test_without_dedupe_duplicates_are_handled() -> None:
    recorder = Recorder()
    async with serving(recorder, dedupe=None) as (receiver, url, session):
        await post(session, url, body(1))
        await post(session, url, body(1))
        await receiver.join()
    assert recorder.ids == [object_id(1)] * 2
    assert receiver.dedupe is None


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
async def test_non_post_is_405(method: str) -> None:
    recorder = Recorder()
    async with (
        serving(recorder) as (receiver, url, session),
        session.request(method, url, data=body(1), headers=JSON) as response,
    ):
        assert response.status == 405
        assert response.headers["Allow"] == "POST"
    assert recorder.calls == 0
    assert receiver.stats.rejected["method_not_allowed"] == 1


async def test_basic_auth() -> None:
    recorder = Recorder()
    async with serving(recorder, basic_auth=("cwp", "s3cret")) as (receiver, url, session):
        for headers in (JSON, basic("cwp", "wrong"), basic("intruder", "s3cret")):
            status, response_headers, _ = await post(session, url, body(1), headers)
            assert status == 401
            assert response_headers["WWW-Authenticate"].startswith('Basic realm="cwpro-webhooks"')
        assert (await post(session, url, body(1), basic("cwp", "s3cret")))[0] == 200
        await receiver.join()
    assert recorder.ids == [object_id(1)]
    assert receiver.stats.rejected["unauthorized"] == 3


async def test_secrets_never_reach_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="cwpro")
    async with serving(Recorder(fail_times=1), basic_auth=("cwp", "s3cret")) as (r, url, session):
        await post(session, url, body(1), basic("cwp", "wrong-guess"))
        await post(session, url, body(1), basic("cwp", "s3cret"))
        await r.join()
    assert "s3cret" not in caplog.text
    assert "wrong-guess" not in caplog.text
    assert base64.b64encode(b"cwp:s3cret").decode() not in caplog.text


async def test_default_allowlist_refuses_loopback_with_403() -> None:
    recorder = Recorder()
    receiver = WebhookReceiver(recorder)  # default allowed_ips: CWP's two addresses
    async with receiver.serve() as url, aiohttp.ClientSession() as session:
        status, _, _ = await post(session, url, body(1))
    assert status == 403
    assert recorder.calls == 0
    assert receiver.stats.rejected["forbidden"] == 1


async def test_sender_check_comes_before_auth_and_method() -> None:
    async with (
        serving(Recorder(), allowed_ips=["10.9.9.9"], basic_auth=("cwp", "s3cret")) as (
            _,
            url,
            session,
        ),
        session.get(url) as response,
    ):
        assert response.status == 403


async def test_spoofed_forwarded_for_without_trust_is_403() -> None:
    recorder = Recorder()
    async with serving(recorder, allowed_ips=[CWP_IP]) as (_receiver, url, session):
        status, _, _ = await post(session, url, body(1), {**JSON, "X-Forwarded-For": CWP_IP})
    assert status == 403
    assert recorder.calls == 0


async def test_forwarded_for_from_trusted_proxy_is_used() -> None:
    recorder = Recorder()
    options = {"allowed_ips": [CWP_IP], "trusted_proxies": ["127.0.0.1"]}
    async with serving(recorder, **options) as (receiver, url, session):
        forwarded = {**JSON, "X-Forwarded-For": CWP_IP}
        assert (await post(session, url, body(1), forwarded))[0] == 200
        # the client forged CWP's address; the proxy appended the real one
        forged = {**JSON, "X-Forwarded-For": f"{CWP_IP}, 6.6.6.6"}
        assert (await post(session, url, body(2), forged))[0] == 403
        # no header: the peer (the proxy itself) is not an allowed sender
        assert (await post(session, url, body(3)))[0] == 403
        await receiver.join()
    assert recorder.ids == [object_id(1)]


async def test_trust_forwarded_for_from_any_peer_is_explicit_and_warned(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = Recorder()
    options = {"allowed_ips": [CWP_IP], "trust_forwarded_for": True}
    async with serving(recorder, **options) as (receiver, url, session):
        assert (await post(session, url, body(1), {**JSON, "X-Forwarded-For": CWP_IP}))[0] == 200
        await receiver.join()
    assert recorder.ids == [object_id(1)]
    assert "trusted from any peer" in caplog.text


async def test_body_over_the_limit_by_content_length_is_413() -> None:
    recorder = Recorder()
    limit = 400
    exactly_at_limit = b" " * (limit - len(body(2))) + body(2)
    assert len(exactly_at_limit) == limit
    async with serving(recorder, max_body_bytes=limit) as (receiver, url, session):
        assert (await post(session, url, exactly_at_limit + b" "))[0] == 413
        assert (await post(session, url, exactly_at_limit))[0] == 200
        await receiver.join()
    assert recorder.ids == [object_id(2)]
    assert receiver.stats.rejected["too_large"] == 1


async def test_chunked_body_over_the_limit_is_413_while_reading() -> None:
    recorder = Recorder()

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 50

    async with (
        serving(recorder, max_body_bytes=120) as (receiver, url, session),
        session.post(url, data=chunks(), headers=JSON) as response,
    ):
        assert response.status == 413
        assert "Content-Length" not in response.request_info.headers
    assert recorder.calls == 0
    assert receiver.stats.rejected["too_large"] == 1


@pytest.mark.parametrize(
    "data",
    [b"", b"not json", b"[]", b'{"id": "x"}', b"\xff\xfe", json.dumps({"id": 1}).encode()],
)
async def test_malformed_payload_is_400(data: bytes) -> None:
    recorder = Recorder()
    async with serving(recorder) as (receiver, url, session):
        status, _, payload = await post(session, url, data)
    assert status == 400
    assert payload["message"]
    assert recorder.calls == 0
    assert receiver.stats.rejected["malformed"] == 1


async def test_full_queue_answers_503_and_does_not_mark_seen() -> None:
    gate = asyncio.Event()
    recorder = Recorder(gate=gate)
    async with serving(recorder, queue_size=1) as (receiver, url, session):
        assert (await post(session, url, body(1)))[0] == 200
        await asyncio.sleep(0.01)  # the worker takes event 1 and waits on the gate
        assert (await post(session, url, body(2)))[0] == 200  # fills the queue
        status, headers, _ = await post(session, url, body(3))
        assert status == 503
        assert headers["Retry-After"]
        assert not await receiver.dedupe.contains(object_id(3))  # type: ignore[union-attr]
        gate.set()
        await receiver.join()
        assert (await post(session, url, body(3)))[0] == 200  # CWP's redelivery
        await receiver.join()
    assert recorder.ids == [object_id(1), object_id(2), object_id(3)]
    assert receiver.stats.rejected["overloaded"] == 1


async def test_failing_handler_in_queue_mode_is_kept_for_retry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = Recorder(fail_times=2)
    async with serving(recorder) as (receiver, url, session):
        assert (await post(session, url, body(1)))[0] == 200
        await receiver.join()
        assert [entry.event.id for entry in receiver.failed] == [object_id(1)]
        assert isinstance(receiver.failed[0].error, RuntimeError)
        assert "webhook handler failed for event" in caplog.text
        assert caplog.records[-1].name == "cwpro.webhooks"
        # a duplicate delivery does not run it again: retry_failed does
        assert (await post(session, url, body(1)))[0] == 200
        await receiver.join()
        assert await receiver.retry_failed() == 0
        assert receiver.failed[0].attempts == 2
        assert await receiver.retry_failed() == 1
        assert not receiver.failed
    assert recorder.ids == [object_id(1)]
    assert (receiver.stats.failed, receiver.stats.handled) == (2, 1)


async def test_failed_events_are_bounded() -> None:
    async def always_fail(event: WebhookEvent) -> None:
        raise ValueError(event.id)

    async with serving(always_fail, max_failed=2) as (receiver, url, session):
        for number in range(4):
            await post(session, url, body(number))
        await receiver.join()
    assert [entry.event.id for entry in receiver.failed] == [object_id(2), object_id(3)]


async def test_inline_mode_handles_before_answering() -> None:
    recorder = Recorder()
    async with serving(recorder, mode="inline") as (_receiver, url, session):
        status, _, payload = await post(session, url, body(1))
        assert (status, payload["message"]) == (200, "handled")
        assert recorder.ids == [object_id(1)]


async def test_inline_failure_is_500_and_the_redelivery_is_handled() -> None:
    recorder = Recorder(fail_times=1)
    async with serving(recorder, mode="inline") as (receiver, url, session):
        assert (await post(session, url, body(1)))[0] == 500
        assert not await receiver.dedupe.contains(object_id(1))  # type: ignore[union-attr]
        assert (await post(session, url, body(1)))[0] == 200
        assert (await post(session, url, body(1)))[0] == 200  # now a duplicate
    assert recorder.ids == [object_id(1)]
    assert receiver.stats.duplicates == 1
    assert not receiver.failed


async def test_inline_mode_with_ordering_answers_after_the_ordered_handling() -> None:
    recorder = Recorder()
    async with serving(recorder, mode="inline", ordering_window=0.2) as (_receiver, url, s):
        results = await asyncio.gather(
            post(s, url, body(3)), post(s, url, body(1)), post(s, url, body(2))
        )
    assert [status for status, _, _ in results] == [200, 200, 200]
    assert recorder.ids == [object_id(1), object_id(2), object_id(3)]


async def test_ordering_window_with_locally_shuffled_arrivals() -> None:
    recorder = Recorder()
    numbers = list(range(300))
    shuffled: list[int] = []
    for start in range(0, 300, 30):
        block = numbers[start : start + 30]
        random.Random(start).shuffle(block)
        shuffled.extend(block)
    async with serving(recorder, ordering_window=0.3) as (receiver, url, session):
        for start in range(0, 300, 30):
            await asyncio.gather(
                *(post(session, url, body(n)) for n in shuffled[start : start + 30])
            )
        await asyncio.wait_for(receiver.join(), 5)
    assert recorder.ids == [object_id(n) for n in numbers]
    assert receiver.stats.late == 0


async def test_late_event_with_ordering_is_still_handled() -> None:
    recorder = Recorder()
    async with serving(recorder, ordering_window=0.01) as (receiver, url, session):
        await post(session, url, body(5))
        await receiver.join()
        await post(session, url, body(4))
        await receiver.join()
    assert recorder.ids == [object_id(5), object_id(4)]
    assert receiver.stats.late == 1


async def test_leaving_serve_drains_the_queue_and_leaks_no_task() -> None:
    tasks_before = asyncio.all_tasks()
    recorder = Recorder()
    async with serving(recorder, ordering_window=60) as (receiver, url, session):
        for number in range(20):
            await post(session, url, body(number))
        assert recorder.calls == 0
    assert len(recorder.ids) == 20
    assert asyncio.all_tasks() == tasks_before
    assert not receiver.running


async def test_shutdown_timeout_forgets_unhandled_events() -> None:
    gate = asyncio.Event()  # never set: the handler hangs
    store = InMemorySeenStore()
    recorder = Recorder(gate=gate)
    async with serving(recorder, dedupe=store, shutdown_timeout=0.05) as (_receiver, url, session):
        await post(session, url, body(1))
        await post(session, url, body(2))
        await asyncio.sleep(0.01)
    assert len(store) == 0  # both forgotten: a backfill or redelivery will handle them
    assert recorder.events == []


async def test_add_routes_mounts_on_a_user_app() -> None:
    recorder = Recorder()
    receiver = WebhookReceiver(recorder, allowed_ips=["127.0.0.1"], path="/hooks/cwp")
    app = web.Application()

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_get("/health", health)
    receiver.add_routes(app)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        assert receiver.running
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/health") as response:
                assert await response.text() == "ok"
            status, _, _ = await post(session, f"http://127.0.0.1:{port}/hooks/cwp", body(1))
            assert status == 200
            await receiver.join()
    finally:
        await runner.cleanup()
    assert recorder.ids == [object_id(1)]
    assert not receiver.running


async def test_serve_can_run_twice() -> None:
    recorder = Recorder()
    receiver = WebhookReceiver(recorder, allowed_ips=["127.0.0.1"])
    for number in range(2):
        async with receiver.serve() as url, aiohttp.ClientSession() as session:
            assert (await post(session, url, body(number)))[0] == 200
    assert recorder.ids == [object_id(0), object_id(1)]


async def test_multiple_workers_handle_concurrently() -> None:
    running = 0
    peak = 0

    async def slow(_: WebhookEvent) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.02)
        running -= 1

    async with serving(slow, workers=4) as (receiver, url, session):
        await asyncio.gather(*(post(session, url, body(n)) for n in range(8)))
        await receiver.join()
    assert peak > 1
    assert receiver.stats.handled == 8


def test_stats_as_dict() -> None:
    receiver = WebhookReceiver(Recorder())
    stats = receiver.stats.as_dict()
    assert stats["received"] == 0
    assert stats["rejected"]["forbidden"] == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mode": "batch"}, "mode"),
        ({"queue_size": 0}, "queue_size"),
        ({"max_body_bytes": -1}, "max_body_bytes"),
        ({"allowed_ips": []}, "allowed_ips is empty"),
        ({"allowed_ips": ["nope"]}, "not an IP address"),
        ({"trusted_proxies": ["nope"]}, "not an IP address"),
        ({"ordering_window": -1.0}, "ordering_window"),
        ({"path": "hooks"}, "path"),
        ({"basic_auth": ("only-user",)}, "basic_auth"),
    ],
)
def test_bad_configuration(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WebhookReceiver(Recorder(), **options)  # type: ignore[arg-type]


async def _raw_exchange(url: str, request: bytes, *, close_after_send: bool = False) -> bytes:
    """Send raw bytes to the receiver and return whatever it answers."""
    host_port = url.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        await writer.drain()
        if close_after_send:
            writer.write_eof()
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
        await writer.wait_closed()


async def test_broken_chunked_body_is_400_and_the_server_keeps_working(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = Recorder()
    async with serving(recorder) as (receiver, url, session):
        path = url.split("/", 3)[3]
        answer = await _raw_exchange(
            url,
            f"POST /{path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n5\r\n{}{}{}{}\r\nzz\r\n".encode(),
        )
        assert answer.split(b" ", 2)[1] == b"400"  # from aiohttp's parser or from us
        # the client hangs up half-way through a declared body
        await _raw_exchange(
            url,
            f"POST /{path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            'Content-Length: 1000\r\n\r\n{"id":'.encode(),
            close_after_send=True,
        )
        assert (await post(session, url, body(1)))[0] == 200
        await receiver.join()
    assert recorder.ids == [object_id(1)]
    # aiohttp may log its own parser error; our handler never raised
    assert "cwpro/webhooks" not in caplog.text
    assert recorder.calls == 1
    assert receiver.stats.rejected["malformed"] == 1  # the hung-up request
