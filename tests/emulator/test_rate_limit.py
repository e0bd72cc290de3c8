"""The emulator's server-side rate limit, over real loopback HTTP with plain aiohttp."""

from __future__ import annotations

import asyncio

import pytest

from cwpro.emulator import EmulatorThread
from cwpro.emulator.__main__ import argument_error, build_parser, emulator_options
from cwpro.emulator.process import command_line
from cwpro.emulator.ratelimit import RateLimit, RateLimiter, parse_rate_limit
from tests.emulator.live import Live

#: Slow enough that no token comes back during a test: exactly ``burst`` requests pass.
SLOW = "1/min,burst=3"


async def test_burst_passes_then_429_in_the_api_envelope(live: Live) -> None:
    live.emu.set_rate_limit(SLOW)
    statuses = [(await live.call("GET", "/workorders?limit=1")).status for _ in range(3)]
    assert statuses == [200, 200, 200]
    reply = await live.call("GET", "/workorders?limit=1")
    assert reply.status == 429
    body = reply.body
    assert body["success"] is False and body["code"] == 429
    # whole seconds until the next token: at one per minute, just under 60
    assert 55 <= int(reply.headers["Retry-After"]) <= 60
    assert live.emu.rate_limiter.limited == 1
    assert live.emu.rate_limiter.allowed == 3
    assert live.emu.stats.total == 4  # the server saw every request, 429s included


async def test_retry_after_zero_at_a_high_rate(live: Live) -> None:
    live.emu.set_rate_limit("1000/s,burst=2")
    replies = await asyncio.gather(*(live.call("GET", "/sites") for _ in range(40)))
    limited = [r for r in replies if r.status == 429]
    assert limited, "40 concurrent requests must overflow a bucket of 2"
    assert {r.headers["Retry-After"] for r in limited} == {"0"}


async def test_fixed_retry_after(live: Live) -> None:
    live.emu.set_rate_limit(SLOW, retry_after=2)
    for _ in range(3):
        await live.call("GET", "/sites")
    reply = await live.call("GET", "/sites")
    assert reply.status == 429
    assert reply.headers["Retry-After"] == "2"


async def test_token_requests_and_unauthenticated_calls_are_not_limited(live: Live) -> None:
    live.emu.set_rate_limit("1/min,burst=1")
    for _ in range(3):
        await live.login()  # POST /auth/token is never limited
    assert (await live.call("GET", "/sites", auth=False)).status == 401
    assert (await live.call("GET", "/sites")).status == 200
    assert (await live.call("GET", "/sites")).status == 429
    assert live.emu.rate_limiter.allowed == 1


async def test_control_api_sets_reads_and_removes_the_limit(live: Live) -> None:
    reply = await live.call(
        "POST", "/_emulator/rate-limit", auth=False, json={"limit": SLOW, "retry_after": 1}
    )
    assert reply.status == 200
    assert reply.body["limit"] == {"rate": pytest.approx(1 / 60), "burst": 3, "retry_after": 1.0}
    for _ in range(4):
        await live.call("GET", "/sites")
    snapshot = (await live.call("GET", "/_emulator/rate-limit", auth=False)).body
    assert snapshot["allowed"] == 3 and snapshot["limited"] == 1
    assert list(snapshot["limited_by_client"].values()) == [1]
    reply = await live.call("DELETE", "/_emulator/rate-limit", auth=False)
    assert reply.body["limit"] is None
    assert (await live.call("GET", "/sites")).status == 200


@pytest.mark.parametrize(
    "body",
    [
        {"limit": "fast"},
        {"limit": 5},
        {"limit": None, "retry_after": 1},
        {"limit": "1/s", "retry_after": "soon"},
        [1, 2],
    ],
)
async def test_control_api_refuses_bad_bodies(live: Live, body: object) -> None:
    reply = await live.call("POST", "/_emulator/rate-limit", auth=False, json=body)
    assert reply.status == 400
    assert "error" in reply.body


async def test_limit_set_at_construction() -> None:
    from cwpro.emulator import Emulator

    async with Emulator(seed=1, workorders=5, rate_limit=SLOW, rate_limit_retry_after=3) as emu:
        assert emu.rate_limiter.limit == RateLimit(rate=1 / 60, burst=3, retry_after=3.0)


def test_emulator_thread_sets_the_limit() -> None:
    with EmulatorThread(seed=1, workorders=5) as emu:
        limit = emu.set_rate_limit("10/s,burst=5")
        assert limit == RateLimit(rate=10.0, burst=5)
        assert emu.rate_limiter.limit == limit


# -- the bucket on a fake clock -----------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_bucket_refills_at_the_rate_and_keys_are_separate() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimit(rate=10.0, burst=2), clock=clock)
    assert limiter.take("a") is None and limiter.take("a") is None
    wait = limiter.take("a")
    assert wait == pytest.approx(0.1)
    assert limiter.take("b") is None  # another client has its own bucket
    clock.now += 0.1
    assert limiter.take("a") is None
    clock.now += 10
    assert [limiter.take("a") for _ in range(3)][:2] == [None, None]  # capped at burst
    assert limiter.limited_by_key["a"] == 2


def test_retry_after_header_is_whole_seconds() -> None:
    limiter = RateLimiter(RateLimit(rate=0.5, burst=1))
    assert limiter.retry_after_header(1.9) == "1"
    assert limiter.retry_after_header(0.01) == "0"
    fixed = RateLimiter(RateLimit(rate=0.5, burst=1, retry_after=1.5))
    assert fixed.retry_after_header(0.01) == "1.5"


# -- the spec and the command line ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "rate", "burst"),
    [
        ("100/s", 100.0, 100),
        ("100/s,burst=20", 100.0, 20),
        (" 100 / sec , burst = 20 ", 100.0, 20),
        ("600/min,burst=5", 10.0, 5),
        ("2.5", 2.5, 3),
        ("1/minute", 1 / 60, 1),
    ],
)
def test_parse_rate_limit(spec: str, rate: float, burst: int) -> None:
    limit = parse_rate_limit(spec)
    assert limit.rate == pytest.approx(rate)
    assert limit.burst == burst


@pytest.mark.parametrize(
    "spec", ["", "fast", "0/s", "100/h", "100/s,burst=0", "100/s,size=3", "-1/s", "1/s,"]
)
def test_parse_rate_limit_refuses_bad_specs(spec: str) -> None:
    with pytest.raises(ValueError, match=r"rate limit|burst|unit"):
        parse_rate_limit(spec)


def test_command_line_options() -> None:
    parser = build_parser()
    args = parser.parse_args(["--rate-limit", "100/s,burst=20", "--retry-after", "1"])
    assert argument_error(args) is None
    options = emulator_options(args)
    assert options["rate_limit"] == "100/s,burst=20"
    assert options["rate_limit_retry_after"] == 1.0
    assert argument_error(parser.parse_args(["--retry-after", "1"])) is not None
    with pytest.raises(SystemExit):
        parser.parse_args(["--rate-limit", "lots"])
    with pytest.raises(SystemExit):
        parser.parse_args(["--rate-limit", "1/s", "--retry-after", "-1"])
    assert command_line({"rate_limit": "5/s", "rate_limit_retry_after": 2}) == [
        "--rate-limit",
        "5/s",
        "--retry-after",
        "2",
    ]


def test_cli_refuses_retry_after_without_a_limit(capsys: pytest.CaptureFixture[str]) -> None:
    from cwpro.cli import main

    assert main(["emulator", "--retry-after", "1"]) == 2
    assert "--retry-after needs --rate-limit" in capsys.readouterr().err


def test_emulator_process_takes_the_command_line_flags() -> None:
    from cwpro.emulator import EmulatorProcess

    with EmulatorProcess(
        seed=1, workorders=5, rate_limit="1/min,burst=1", rate_limit_retry_after=2
    ) as emu:
        assert emu.rate_limit()["limit"] == {
            "rate": pytest.approx(1 / 60),
            "burst": 1,
            "retry_after": 2.0,
        }
        emu.set_rate_limit(None)
        assert emu.rate_limit()["limit"] is None
