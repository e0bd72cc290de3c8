"""The fault matrix: seeded runs of full exports under injected faults, with an exactness check.

Each run (:class:`RunPlan`, derived from one integer seed by :func:`plan_for_seed`) starts an
emulator with a seeded dataset, adds one to three fault rules from :data:`FAULT_FAMILIES` on the
list route, and exports every work order with one of

* ``cursor-async`` / ``cursor-sync``: the cursor paginator (``client.workorders.list``) of
  ``cwpro.AsyncClient`` / ``cwpro_sync.Client`` (the latter against an ``EmulatorThread``);
* ``export-async`` / ``export-sync``: the partitioned export (``client.workorders.export``),
  partitioned by created-date ranges or by status, ordered or not;
* ``webhooks``: work orders created through the client while the emulator delivers their
  ``WORKORDER.CREATE`` notifications, duplicated and reordered, to a ``WebhookReceiver`` whose
  handler fails now and then.

The invariant checked after every run: the items delivered are exactly the emulator's dataset,
every id once (in ``_id`` order for the cursor paginator). A walk may stop only with a
:class:`cwpro.CwproError` carrying where to resume (``resume_cursor`` equal to the paginator's,
or the export's ``checkpoint()``); the run then resumes from there, and the sum of all the
walks must still be exact: no gap, no duplicate. Any other exception, a resume cursor that
disagrees with the paginator, or an event handled twice counts as a failure. Fault rules are
bounded (``times``), so every run finishes.

Usage (the ``nox -s soak`` session runs ``--runs 1000``)::

    python -m tests.fault_matrix --runs 1000 [--seed 0] [--mode cursor-async ...] [--verbose]

Run ``i`` uses seed ``SEED + i``; ``--seed S --runs 1`` replays one run. The summary gives the
counts (runs, faults injected, retries, items, lost, duplicated, undocumented exceptions,
resource leaks); the exit status is 1 when any of the last four is not zero.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import cwpro
import cwpro_sync
from cwpro import CwproError, split_range
from cwpro._serde import parse_datetime
from cwpro.emulator import Emulator, EmulatorThread
from cwpro.webhooks import WebhookEvent, WebhookReceiver

MODES = ("cursor-async", "export-async", "cursor-sync", "export-sync", "webhooks")
#: Relative frequency of each mode in random runs.
MODE_WEIGHTS = (3, 3, 2, 2, 1)
LIST_ROUTE = "GET /workorders"
CREATE_ROUTE = "POST /workorders"
TOKEN_ROUTE = "POST /auth/token"
#: Client read timeout, and how long the slow faults stall (well past the timeout).
READ_TIMEOUT = 0.15
SLOW_DELAY = 0.3
#: A walk interrupted more often than this is reported as stuck (faults are bounded far below).
MAX_INTERRUPTIONS = 200
WEBHOOK_USER = "cwp-sender"
WEBHOOK_PASSWORD = "fault-matrix-webhook-password"


# ---------------------------------------------------------------------------------------------
# fault families
# ---------------------------------------------------------------------------------------------
def _status(status: int | Callable[[random.Random], int], **extra: Any) -> Any:
    def options(rng: random.Random) -> list[dict[str, Any]]:
        code = status(rng) if callable(status) else status
        return [{"kind": "status", "status": code, **extra}]

    return options


def _kind(kind: str, **extra: Any) -> Any:
    def options(rng: random.Random) -> list[dict[str, Any]]:
        return [{"kind": kind, **extra}]

    return options


def _retry_after(rng: random.Random) -> list[dict[str, Any]]:
    return [{"kind": "status", "status": 429, "retry_after": rng.choice([0, 0.01, 0.02])}]


def _token_endpoint_failures(rng: random.Random) -> list[dict[str, Any]]:
    # the token endpoint is only hit when a token is needed: expire the tokens too
    return [
        {"kind": "expire_token"},
        {"kind": "status", "status": rng.choice([500, 503]), "route": TOKEN_ROUTE},
    ]


def _server_error(rng: random.Random) -> int:
    return rng.choice([500, 502, 503, 504])


#: Fault family -> a function giving the ``FaultRegistry.add`` options of its rule(s).
FAULT_FAMILIES: dict[str, Callable[[random.Random], list[dict[str, Any]]]] = {
    "429-retry-after": _retry_after,
    "429-no-retry-after": _status(429),
    "5xx-json": _status(_server_error, body="json"),
    "5xx-html": _status(_server_error, body="html"),
    "reset-before-headers": _kind("reset_before_headers"),
    "reset-mid-body": _kind("reset_mid_body"),
    "truncate-body": _kind("truncate_body"),
    "slow-headers": _kind("slow_headers", delay=SLOW_DELAY),
    "slow-body": _kind("slow_body", delay=SLOW_DELAY),
    "invalid-cursor-200": _kind("invalid_cursor"),
    "bad-request-400": _status(400),
    "expire-token": _kind("expire_token"),
    "token-endpoint-5xx": _token_endpoint_failures,
}
#: Families that make sense on ``POST /workorders`` (retried or replayed for a POST).
WEBHOOK_FAULT_FAMILIES = ("429-retry-after", "429-no-retry-after", "expire-token")


@dataclass(frozen=True)
class FaultRule:
    """One fault family as added to the emulator: its rules and how often they fire."""

    family: str
    rules: tuple[tuple[tuple[str, Any], ...], ...]

    def options(self) -> list[dict[str, Any]]:
        """``FaultRegistry.add`` keyword arguments (``kind`` included) of each rule."""
        return [dict(rule) for rule in self.rules]


def make_rule(
    family: str,
    *,
    route: str = LIST_ROUTE,
    times: int = 1,
    probability: float | None = None,
    rng: random.Random | None = None,
) -> FaultRule:
    """A bounded rule of ``family`` on ``route``: fires ``times`` times (each with
    ``probability``, when given)."""
    built = []
    for options in FAULT_FAMILIES[family](rng or random.Random(0)):
        options.setdefault("route", route)
        options["times"] = times
        if probability is not None:
            options["probability"] = probability
        built.append(tuple(sorted(options.items())))
    return FaultRule(family, tuple(built))


def _random_rule(rng: random.Random, family: str, route: str) -> FaultRule:
    if rng.random() < 0.5:
        return make_rule(family, route=route, times=rng.randint(1, 4), rng=rng)
    probability = round(rng.uniform(0.1, 0.6), 2)
    return make_rule(family, route=route, times=rng.randint(1, 6), probability=probability, rng=rng)


# ---------------------------------------------------------------------------------------------
# plans
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunPlan:
    """Everything one run does, derived from its seed (or written by hand in tests)."""

    seed: int
    mode: str
    faults: tuple[FaultRule, ...] = ()
    size: int = 120
    limit: int = 25
    prefetch: int = 1
    by_item: bool = False
    max_retries: int = 2
    # exports
    partitioning: str = "dates"  # "dates", "status" or "single"
    parts: int = 3
    concurrency: int = 2
    ordered: bool = False
    # webhooks
    events: int = 20
    duplicate_probability: float = 0.3
    reorder_window: float = 0.02
    receiver_mode: str = "inline"
    handler_failure: float = 0.2
    ordering_window: float | None = None

    @property
    def families(self) -> tuple[str, ...]:
        """The fault families of this run."""
        return tuple(rule.family for rule in self.faults)


def plan_for_seed(seed: int, modes: Sequence[str] = MODES) -> RunPlan:
    """The run of ``seed``: mode, dataset, paging knobs and 1-3 bounded fault families."""
    rng = random.Random(seed)
    weights = [MODE_WEIGHTS[MODES.index(mode)] for mode in modes]
    mode = rng.choices(list(modes), weights)[0]
    if mode == "webhooks":
        families = rng.sample(WEBHOOK_FAULT_FAMILIES, rng.randint(0, 2))
        return RunPlan(
            seed=seed,
            mode=mode,
            faults=tuple(_random_rule(rng, f, CREATE_ROUTE) for f in families),
            max_retries=rng.randint(3, 5),
            events=rng.randint(1, 30),
            duplicate_probability=rng.choice([0.0, 0.3, 0.7, 1.0]),
            reorder_window=rng.choice([0.0, 0.01, 0.03]),
            receiver_mode=rng.choice(["inline", "queue"]),
            handler_failure=rng.choice([0.0, 0.2, 0.5]),
            ordering_window=rng.choice([None, None, 0.01]),
        )
    families = rng.sample(sorted(FAULT_FAMILIES), rng.randint(1, 3))
    size = rng.choices([0, 1, rng.randint(2, 200)], [1, 1, 18])[0]
    return RunPlan(
        seed=seed,
        mode=mode,
        faults=tuple(_random_rule(rng, f, LIST_ROUTE) for f in families),
        size=size,
        limit=rng.randint(1, 8) if size < 30 else rng.randint(5, 60),
        prefetch=rng.randint(0, 3),
        by_item=rng.random() < 0.5,
        max_retries=rng.randint(0, 3),
        partitioning=rng.choice(["dates", "dates", "status", "single"]),
        parts=rng.randint(1, 6),
        concurrency=rng.randint(1, 4),
        ordered=rng.random() < 0.5,
    )


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------
@dataclass
class RunResult:
    """What one run did and whether the invariant held."""

    plan: RunPlan
    expected: int = 0
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    #: Faults that fired, by family.
    faults: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    token_requests: int = 0
    #: Walks that stopped with a documented error and were resumed, by exception type.
    interruptions: Counter[str] = field(default_factory=Counter)
    #: Exceptions outside the contract, contract violations, ordering mismatches.
    undocumented: list[str] = field(default_factory=list)
    #: Webhook deliveries answered "duplicate" by the receiver.
    duplicate_deliveries: int = 0
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        """True when nothing was lost or duplicated and every exception was documented."""
        return not (self.lost or self.duplicated or self.undocumented)

    def check(self, expected: Sequence[str], delivered: Sequence[str], *, ordered: bool) -> None:
        """Compare delivered ids with the dataset: fills lost/duplicated (and order problems)."""
        self.expected = len(expected)
        self.delivered = len(delivered)
        wanted = set(expected)
        counts = Counter(delivered)
        self.lost = len(wanted - counts.keys())
        self.duplicated = sum(n - 1 for n in counts.values()) + len(counts.keys() - wanted)
        if ordered and not self.lost and not self.duplicated and list(delivered) != list(expected):
            self.undocumented.append("the cursor walk delivered every item, but out of order")

    def describe(self) -> str:
        """One line for a report."""
        status = "ok" if self.ok else "FAILED"
        faults = ",".join(f"{k}x{v}" for k, v in sorted(self.faults.items())) or "-"
        stops = ",".join(f"{k}x{v}" for k, v in sorted(self.interruptions.items())) or "-"
        return (
            f"seed={self.plan.seed} {self.plan.mode} {status} items={self.delivered}/"
            f"{self.expected} lost={self.lost} dup={self.duplicated} faults={faults} "
            f"resumed_after={stops} retries={self.retries} {self.elapsed:.2f}s"
        )


def _fault_handles(emulator: Any, plan: RunPlan) -> list[tuple[str, Any]]:
    handles = []
    for rule in plan.faults:
        for options in rule.options():
            kind = options.pop("kind")
            handles.append((rule.family, emulator.faults.add(kind, **options)))
    return handles


def _count_hits(result: RunResult, handles: Iterable[tuple[str, Any]]) -> None:
    for family, handle in handles:
        if handle.hits:
            result.faults[family] += handle.hits


def _client_options(emulator: Any, plan: RunPlan) -> dict[str, Any]:
    return {
        "client_id": emulator.client_id,
        "client_secret": emulator.client_secret,
        "base_url": emulator.base_url,
        "max_retries": plan.max_retries,
        "retry_backoff_base": 0.002,
        "retry_backoff_max": 0.01,
        "timeout": cwpro.Timeout(total=10.0, connect=2.0, read=READ_TIMEOUT),
    }


def _emulator_options(plan: RunPlan) -> dict[str, Any]:
    return {
        "seed": plan.seed,
        "workorders": plan.size,
        "sites": 4,
        "work_types": 4,
        "portal_links": 0,
        "notifications": 0,
        "keepalive_timeout": 5.0,
    }


def _partitions(emulator: Any, plan: RunPlan) -> list[dict[str, Any]]:
    store = emulator.state.workorders
    if plan.partitioning == "single" or store.size() == 0:
        return [{}]
    if plan.partitioning == "status":
        return [{"in_": {"status": [s]}} for s in sorted(set(store.column("status")))]
    dates = [parse_datetime(d) for d in store.column("created_date")]
    return split_range("created_date", min(dates), max(dates), plan.parts)


def _interrupted(result: RunResult, exc: BaseException, expected_cursor: Any) -> None:
    """Record a stopped walk; flag it when the error is not the documented, resumable kind."""
    if not isinstance(exc, CwproError):
        result.undocumented.append("".join(traceback.format_exception(exc)).strip()[-2000:])
        return
    result.interruptions[type(exc).__name__] += 1
    if isinstance(expected_cursor, set):
        if exc.resume_cursor not in expected_cursor:
            result.undocumented.append(
                f"{type(exc).__name__}.resume_cursor={exc.resume_cursor!r} is not the cursor of "
                f"an unfinished partition ({sorted(map(str, expected_cursor))})"
            )
    elif exc.resume_cursor != expected_cursor:
        result.undocumented.append(
            f"{type(exc).__name__}.resume_cursor={exc.resume_cursor!r} differs from the "
            f"paginator's resume_cursor={expected_cursor!r}"
        )
    if sum(result.interruptions.values()) > MAX_INTERRUPTIONS:
        raise RuntimeError("the walk was interrupted too often (stuck)")


def _unfinished_cursors(checkpoint: list[dict[str, Any]]) -> set[Any]:
    return {part["cursor"] for part in checkpoint if not part["done"]}


def _cursor_query(plan: RunPlan, cursor: str | None) -> dict[str, Any]:
    """``workorders.list()`` arguments of a cursor walk (resumed at ``cursor`` when given)."""
    query: dict[str, Any] = {"limit": plan.limit, "prefetch": plan.prefetch}
    if cursor is not None:
        query["cursor"] = cursor
    return query


def _export_options(plan: RunPlan, checkpoint: list[dict[str, Any]] | None) -> dict[str, Any]:
    """``workorders.export()`` keywords of an export walk (resumed from ``checkpoint``)."""
    return {
        "concurrency": plan.concurrency,
        "ordered": plan.ordered,
        "resume": checkpoint,
        "limit": plan.limit,
        "prefetch": plan.prefetch,
    }


# ---------------------------------------------------------------------------------------------
# async walks
# ---------------------------------------------------------------------------------------------
async def _cursor_async(client: cwpro.AsyncClient, plan: RunPlan, result: RunResult) -> list[str]:
    got: list[str] = []
    cursor: str | None = None
    while True:
        paginator = client.workorders.list(**_cursor_query(plan, cursor))
        try:
            if plan.by_item:
                async for work_order in paginator:
                    got.append(work_order.id)
            else:
                async for page in paginator.pages():
                    got.extend(work_order.id for work_order in page.items)
            return got
        except Exception as exc:
            _interrupted(result, exc, paginator.resume_cursor)
            if not isinstance(exc, CwproError):
                return got
            cursor = exc.resume_cursor


async def _export_async(
    client: cwpro.AsyncClient, plan: RunPlan, result: RunResult, partitions: list[dict[str, Any]]
) -> list[str]:
    got: list[str] = []
    checkpoint: list[dict[str, Any]] | None = None
    while True:
        export = client.workorders.export(partitions, **_export_options(plan, checkpoint))
        try:
            if plan.by_item:
                async for work_order in export:
                    got.append(work_order.id)
            else:
                async for _, page in export.pages():
                    got.extend(work_order.id for work_order in page.items)
            if not export.done:
                result.undocumented.append("the export ended without every partition done")
            return got
        except Exception as exc:
            checkpoint = export.checkpoint()
            _interrupted(result, exc, _unfinished_cursors(checkpoint))
            if not isinstance(exc, CwproError):
                return got


async def _run_async_export(plan: RunPlan, result: RunResult) -> None:
    async with Emulator(**_emulator_options(plan)) as emulator:
        expected = list(emulator.state.workorder_ids())
        partitions = _partitions(emulator, plan)
        handles = _fault_handles(emulator, plan)
        async with cwpro.AsyncClient(**_client_options(emulator, plan)) as client:
            try:
                if plan.mode == "cursor-async":
                    got = await _cursor_async(client, plan, result)
                else:
                    got = await _export_async(client, plan, result, partitions)
            finally:
                result.retries = client.retries
        _count_hits(result, handles)
        result.token_requests = emulator.stats.token_requests
    result.check(expected, got, ordered=plan.mode == "cursor-async")


# ---------------------------------------------------------------------------------------------
# blocking walks (cwpro_sync against an EmulatorThread)
# ---------------------------------------------------------------------------------------------
def _cursor_sync(client: cwpro_sync.Client, plan: RunPlan, result: RunResult) -> list[str]:
    got: list[str] = []
    cursor: str | None = None
    while True:
        paginator = client.workorders.list(**_cursor_query(plan, cursor))
        try:
            if plan.by_item:
                for work_order in paginator:
                    got.append(work_order.id)
            else:
                for page in paginator.pages():
                    got.extend(work_order.id for work_order in page.items)
            return got
        except Exception as exc:
            _interrupted(result, exc, paginator.resume_cursor)
            if not isinstance(exc, CwproError):
                return got
            cursor = exc.resume_cursor


def _export_sync(
    client: cwpro_sync.Client, plan: RunPlan, result: RunResult, partitions: list[dict[str, Any]]
) -> list[str]:
    got: list[str] = []
    checkpoint: list[dict[str, Any]] | None = None
    while True:
        export = client.workorders.export(partitions, **_export_options(plan, checkpoint))
        try:
            if plan.by_item:
                for work_order in export:
                    got.append(work_order.id)
            else:
                for _, page in export.pages():
                    got.extend(work_order.id for work_order in page.items)
            if not export.done:
                result.undocumented.append("the export ended without every partition done")
            return got
        except Exception as exc:
            checkpoint = export.checkpoint()
            _interrupted(result, exc, _unfinished_cursors(checkpoint))
            if not isinstance(exc, CwproError):
                return got


def _run_sync_export(plan: RunPlan, result: RunResult) -> None:
    with EmulatorThread(**_emulator_options(plan)) as emulator:
        expected = list(emulator.state.workorder_ids())
        partitions = _partitions(emulator, plan)
        handles = _fault_handles(emulator, plan)
        with cwpro_sync.Client(**_client_options(emulator, plan)) as client:
            try:
                if plan.mode == "cursor-sync":
                    got = _cursor_sync(client, plan, result)
                else:
                    got = _export_sync(client, plan, result, partitions)
            finally:
                result.retries = client.retries
        _count_hits(result, handles)
        result.token_requests = emulator.stats.token_requests
    result.check(expected, got, ordered=plan.mode == "cursor-sync")


# ---------------------------------------------------------------------------------------------
# webhooks: duplicated, reordered deliveries into a receiver with a flaky handler
# ---------------------------------------------------------------------------------------------
async def _run_webhooks(plan: RunPlan, result: RunResult) -> None:
    rng = random.Random(plan.seed ^ 0x5EED)
    handled: list[WebhookEvent] = []
    failed_once: set[str] = set()

    async def handler(event: WebhookEvent) -> None:
        if event.id not in failed_once and rng.random() < plan.handler_failure:
            failed_once.add(event.id)
            raise RuntimeError(f"flaky handler refuses {event.id} once")
        handled.append(event)

    receiver = WebhookReceiver(
        handler,
        basic_auth=(WEBHOOK_USER, WEBHOOK_PASSWORD),
        allowed_ips=["127.0.0.1"],
        mode=plan.receiver_mode,  # type: ignore[arg-type]
        ordering_window=plan.ordering_window,
    )
    options = _emulator_options(plan) | {
        "workorders": 3,
        "webhook_time_scale": 1e-5,  # CWP's 10-minute redelivery step becomes 6 ms
        "webhook_duplicate_probability": plan.duplicate_probability,
        "webhook_reorder_window": plan.reorder_window,
    }
    async with Emulator(**options) as emulator, receiver.serve() as url:
        emulator.webhooks.add_target(url, basic_auth=(WEBHOOK_USER, WEBHOOK_PASSWORD))
        handles = _fault_handles(emulator, plan)
        client_options = _client_options(emulator, plan)
        client_options["timeout"] = cwpro.Timeout(total=10.0, connect=2.0, read=5.0)
        async with cwpro.AsyncClient(**client_options) as client:
            try:
                created = await asyncio.gather(
                    *(client.workorders.create(name=f"wo {n}") for n in range(plan.events)),
                    return_exceptions=True,
                )
            finally:
                result.retries = client.retries
        for outcome in created:
            if isinstance(outcome, BaseException):
                _interrupted(result, outcome, None)
        await emulator.webhooks.drain(timeout=30)
        await receiver.join(flush=True)
        for _ in range(10):  # queue mode keeps failed events for retry_failed()
            if not receiver.failed:
                break
            await receiver.retry_failed()
        _count_hits(result, handles)
        result.token_requests = emulator.stats.token_requests
        # every notification the emulator recorded, including those of creates whose answer
        # the client did not get (a timed-out POST may still have created its work order)
        expected = [
            record["_id"]
            for record in emulator.state.notifications
            if record["event"] == "WORKORDER.CREATE"
        ]
        created_ids = {wo.id for wo in created if isinstance(wo, cwpro.WorkOrder)}
        recorded_ids = {record["data"]["_id"] for record in emulator.state.notifications}
        if not created_ids <= recorded_ids:
            result.undocumented.append("a created work order has no WORKORDER.CREATE event")
        result.duplicate_deliveries = receiver.stats.duplicates
        given_up = len(emulator.webhooks.gave_up)
    if given_up:
        result.undocumented.append(f"{given_up} webhook deliveries were given up by the sender")
    result.check(expected, [event.id for event in handled], ordered=False)


# ---------------------------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------------------------
def run_plan(plan: RunPlan) -> RunResult:
    """Run one plan (blocking; call it where no event loop runs) and return its result."""
    result = RunResult(plan)
    started = time.perf_counter()
    try:
        if plan.mode in ("cursor-async", "export-async"):
            asyncio.run(_run_async_export(plan, result))
        elif plan.mode in ("cursor-sync", "export-sync"):
            _run_sync_export(plan, result)
        elif plan.mode == "webhooks":
            asyncio.run(_run_webhooks(plan, result))
        else:
            raise ValueError(f"unknown mode {plan.mode!r}")
    except Exception as exc:  # the harness itself must not hide a failure
        result.undocumented.append("".join(traceback.format_exception(exc)).strip()[-2000:])
    result.elapsed = time.perf_counter() - started
    return result


@dataclass
class Summary:
    """Totals over many runs."""

    runs: int = 0
    by_mode: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    token_requests: int = 0
    interruptions: Counter[str] = field(default_factory=Counter)
    items: int = 0
    lost: int = 0
    duplicated: int = 0
    duplicate_deliveries: int = 0
    undocumented: int = 0
    leaks: list[str] = field(default_factory=list)
    failures: list[RunResult] = field(default_factory=list)
    elapsed: float = 0.0

    def add(self, result: RunResult) -> None:
        """Fold one run in."""
        self.runs += 1
        self.by_mode[result.plan.mode] += 1
        self.faults.update(result.faults)
        self.retries += result.retries
        self.token_requests += result.token_requests
        self.interruptions.update(result.interruptions)
        self.items += result.delivered
        self.lost += result.lost
        self.duplicated += result.duplicated
        self.duplicate_deliveries += result.duplicate_deliveries
        self.undocumented += len(result.undocumented)
        if not result.ok:
            self.failures.append(result)

    @property
    def ok(self) -> bool:
        """True when no run lost or duplicated anything, raised outside the contract, or leaked."""
        return not (self.lost or self.duplicated or self.undocumented or self.leaks)

    def report(self) -> str:
        """The printable summary."""

        def counts(counter: Counter[str]) -> str:
            return ", ".join(f"{k} {v}" for k, v in sorted(counter.items())) or "none"

        lines = [
            f"runs: {self.runs} in {self.elapsed:.1f} s ({counts(self.by_mode)})",
            f"faults injected: {sum(self.faults.values())} ({counts(self.faults)})",
            f"retries: {self.retries}",
            f"token requests: {self.token_requests}",
            f"walks resumed after a documented error: {sum(self.interruptions.values())} "
            f"({counts(self.interruptions)})",
            f"items: {self.items}",
            f"webhook deliveries answered as duplicates: {self.duplicate_deliveries}",
            f"lost: {self.lost}",
            f"duplicated: {self.duplicated}",
            f"undocumented exceptions: {self.undocumented}",
            f"resource leaks: {len(self.leaks)}",
        ]
        for failure in self.failures[:10]:
            lines.append("FAILED " + failure.describe())
            lines.extend("    " + line for p in failure.undocumented[:2] for line in p.splitlines())
        lines.extend(f"LEAK {leak}" for leak in self.leaks[:10])
        lines.append("result: " + ("PASS" if self.ok else "FAIL"))
        return "\n".join(lines)


class _LeakWatch(logging.Handler):
    """Collects the event loop's resource-leak reports and unraisable exceptions."""

    MARKERS = (
        "Unclosed client session",
        "Unclosed connector",
        "Task was destroyed but it is pending",
        "exception was never retrieved",
    )

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.leaks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if any(marker in message for marker in self.MARKERS):
            self.leaks.append(message[:300])

    def unraisable(self, info: Any) -> None:
        self.leaks.append(f"unraisable {info.exc_type.__name__}: {info.exc_value}"[:300])

    def warning(self, message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
        self.leaks.append(f"{category.__name__}: {message}"[:300])


def run_many(
    seeds: Iterable[int],
    modes: Sequence[str] = MODES,
    *,
    on_result: Callable[[RunResult], None] | None = None,
) -> Summary:
    """Run the plan of every seed; leaks reported by the event loop count as failures."""
    summary = Summary()
    watch = _LeakWatch()
    asyncio_logger = logging.getLogger("asyncio")
    asyncio_logger.addHandler(watch)
    previous_hook, previous_showwarning = sys.unraisablehook, warnings.showwarning
    sys.unraisablehook = watch.unraisable
    warnings.showwarning = watch.warning
    started = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", ResourceWarning)
            warnings.showwarning = watch.warning
            for seed in seeds:
                result = run_plan(plan_for_seed(seed, modes))
                summary.add(result)
                if on_result is not None:
                    on_result(result)
    finally:
        asyncio_logger.removeHandler(watch)
        sys.unraisablehook, warnings.showwarning = previous_hook, previous_showwarning
    summary.elapsed = time.perf_counter() - started
    summary.leaks = watch.leaks
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m tests.fault_matrix", description=__doc__)
    parser.add_argument("--runs", type=int, default=200, help="number of seeded runs")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first run")
    parser.add_argument("--mode", action="append", choices=MODES, help="only these modes")
    parser.add_argument("--verbose", action="store_true", help="print every run")
    args = parser.parse_args(argv)
    modes = tuple(args.mode) if args.mode else MODES
    print(
        f"fault matrix: {args.runs} runs, seeds {args.seed}..{args.seed + args.runs - 1}, "
        f"modes {', '.join(modes)}",
        flush=True,
    )

    def show(result: RunResult) -> None:
        if args.verbose or not result.ok:
            print(result.describe(), flush=True)

    # Expected noise: the flaky webhook handler's failures and the emulator's fault logs.
    sdk_logger = logging.getLogger("cwpro")
    level = sdk_logger.level
    sdk_logger.setLevel(logging.CRITICAL)
    try:
        summary = run_many(range(args.seed, args.seed + args.runs), modes, on_result=show)
    finally:
        sdk_logger.setLevel(level)
    print(summary.report())
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
