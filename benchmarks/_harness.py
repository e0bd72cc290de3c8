"""What every benchmark shares: the emulator in its own process, interleaved rounds, statistics,
figures with targets, and the command line of a benchmark script.

Rules the benchmarks follow (see ``/work/shared/PERFORMANCE.md``):

* the emulator runs in a **separate process** on loopback, seeded with :data:`SEED`; when the
  machine has two or more usable cores, the emulator and the client are pinned to different ones;
* two things compared are measured **in the same run, alternating** (the order flips every round
  so neither always runs first on a warm cache), over several rounds; a figure is the **median**
  of the per-round values, and its spread is the min-max over the rounds;
* client CPU is ``time.process_time()`` (this process, all threads), wall is ``perf_counter``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

import cwpro
from cwpro.emulator import EmulatorProcess

__all__ = [
    "SEED",
    "Figure",
    "Sample",
    "ServerCPU",
    "Stats",
    "Target",
    "alternate",
    "alternate_sync",
    "busy",
    "emulator",
    "fmt",
    "interleave_calls",
    "machine_info",
    "measure",
    "measure_sync",
    "print_figures",
    "ratio_stats",
    "raw_token",
    "run_script",
    "sdk_and_raw",
]

#: The seed of every emulator the benchmarks start (fixed, so every run sees the same data).
SEED = 20240601
REPO_ROOT = Path(__file__).resolve().parents[1]

T = TypeVar("T")


# -- statistics ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stats:
    """Median and range (min-max) of one figure over the rounds."""

    median: float
    low: float
    high: float
    rounds: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Stats:
        """The statistics of ``values`` (at least one)."""
        if not values:
            raise ValueError("no values")
        return cls(statistics.median(values), min(values), max(values), len(values))

    def spread(self, digits: int = 2, unit: str = "") -> str:
        """``"low-high over N rounds"``."""
        return f"{fmt(self.low, digits)}-{fmt(self.high, digits)}{unit} over {self.rounds} rounds"


try:  # the raw-aiohttp reference decodes like the SDK does: orjson when installed
    import orjson as orjson  # re-exported for the benchmark scripts (None without it)
    from orjson import loads as loads
except ImportError:  # pragma: no cover - cwpro[speed] not installed
    orjson = None  # type: ignore[assignment]
    from json import loads as loads  # type: ignore[assignment]


def fmt(value: float, digits: int = 2) -> str:
    """A number with ``digits`` decimals (thousands separated)."""
    return f"{value:,.{digits}f}"


def ratio_stats(numerators: Sequence[float], denominators: Sequence[float]) -> Stats:
    """Statistics of the per-round ratios ``numerators[i] / denominators[i]``."""
    return Stats.of([n / d for n, d in zip(numerators, denominators, strict=True)])


# -- figures ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """A target a figure must meet: ``value <= limit`` (``at_most``) or ``>=`` (``at_least``)."""

    op: str
    limit: float
    unit: str = "x"

    @classmethod
    def at_most(cls, limit: float, unit: str = "x") -> Target:
        """Met when the figure is at most ``limit``."""
        return cls("<=", limit, unit)

    @classmethod
    def at_least(cls, limit: float, unit: str = "x") -> Target:
        """Met when the figure is at least ``limit``."""
        return cls(">=", limit, unit)

    @classmethod
    def below(cls, limit: float, unit: str = "x") -> Target:
        """Met when the figure is strictly below ``limit``."""
        return cls("<", limit, unit)

    def met(self, value: float) -> bool:
        """True when ``value`` meets the target."""
        if self.op == "<=":
            return value <= self.limit
        if self.op == ">=":
            return value >= self.limit
        return value < self.limit

    @property
    def text(self) -> str:
        """E.g. ``"<= 1.10x"``."""
        digits = 0 if float(self.limit).is_integer() and self.unit != "x" else 2
        space = "" if self.unit == "x" else " "
        return f"{self.op} {fmt(self.limit, digits)}{space}{self.unit}"


@dataclass
class Figure:
    """One row of the results table: a measured value, its spread and, maybe, its target."""

    key: str
    label: str
    value: float
    unit: str
    spread: str
    command: str
    target: str = ""
    passed: bool | None = None
    digits: int = 2
    notes: list[str] = field(default_factory=list)

    @classmethod
    def graded(
        cls,
        key: str,
        label: str,
        stats: Stats,
        target: Target,
        command: str,
        *,
        digits: int = 2,
        notes: Sequence[str] = (),
    ) -> Figure:
        """A figure checked against ``target`` (its unit is the target's)."""
        figure = cls.info(key, label, stats, target.unit, command, digits=digits, notes=notes)
        figure.target, figure.passed = target.text, target.met(stats.median)
        return figure

    @classmethod
    def info(
        cls,
        key: str,
        label: str,
        stats: Stats,
        unit: str,
        command: str,
        *,
        digits: int = 2,
        notes: Sequence[str] = (),
    ) -> Figure:
        """A figure reported for context, with no target."""
        return cls(
            key=key,
            label=label,
            value=stats.median,
            unit=unit,
            spread=stats.spread(digits, "" if unit == "x" else f" {unit}"),
            command=command,
            digits=digits,
            notes=list(notes),
        )

    @property
    def shown_value(self) -> str:
        """The value with its unit, e.g. ``1.07x`` or ``212.40 us``."""
        space = "" if self.unit == "x" else " "
        return f"{fmt(self.value, self.digits)}{space}{self.unit}"

    @property
    def verdict(self) -> str:
        """``met``, ``MISSED`` or ``-`` (no target)."""
        if self.passed is None:
            return "-"
        return "met" if self.passed else "MISSED"


def print_figures(title: str, figures: Sequence[Figure]) -> None:
    """Print figures as an aligned console table, notes below each."""
    print(f"\n== {title}")
    for figure in figures:
        target = f"target {figure.target}: {figure.verdict}" if figure.target else ""
        print(f"  {figure.label}")
        print(f"      {figure.shown_value:>14}   ({figure.spread})   {target}")
        for note in figure.notes:
            print(f"      - {note}")
    sys.stdout.flush()


# -- machine -----------------------------------------------------------------------------------
def machine_info() -> dict[str, Any]:
    """Cores, CPU model, Python and library versions: the context every figure needs."""
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    versions: dict[str, str] = {}
    for name in ("aiohttp", "cattrs", "attrs", "orjson", "yarl", "multidict"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions[name] = version(name)
    return {
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "cpu": model,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(terse=True),
        "versions": versions,
    }


# -- the emulator in another process -----------------------------------------------------------
@contextlib.contextmanager
def _pinned(server_pid: int) -> Iterator[str]:
    """Pin the server to the last usable core and this process to the others (if >= 2 cores)."""
    if not hasattr(os, "sched_setaffinity"):
        yield "not pinned (no sched_setaffinity)"
        return
    own = sorted(os.sched_getaffinity(0))
    if len(own) < 2:
        yield "not pinned (one usable core)"
        return
    server, client = {own[-1]}, set(own[:-1])
    os.sched_setaffinity(server_pid, server)
    os.sched_setaffinity(0, client)
    try:
        yield f"emulator on core {own[-1]}, client on core(s) {','.join(map(str, sorted(client)))}"
    finally:
        os.sched_setaffinity(0, set(own))


@contextlib.contextmanager
def emulator(**options: Any) -> Iterator[EmulatorProcess]:
    """``python -m cwpro.emulator`` in a child process (seeded with :data:`SEED`), pinned."""
    options.setdefault("seed", SEED)
    options.setdefault("host", "127.0.0.1")
    with EmulatorProcess(startup_timeout=120.0, **options) as process, _pinned(process.pid):
        yield process


class ServerCPU:
    """CPU seconds the emulator process has used (user + system), read through psutil; and,
    by variant, the seconds it used during each block :meth:`measured` ran."""

    def __init__(self, pid: int) -> None:
        import psutil  # type: ignore[import-untyped]  # a test dependency (cwpro[test])

        self._process = psutil.Process(pid)
        self.during: dict[str, list[float]] = {}

    def now(self) -> float:
        """The emulator's CPU seconds so far."""
        times = self._process.cpu_times()
        return float(times.user + times.system)

    def measured(
        self, name: str, block: Callable[[], Awaitable[Any]]
    ) -> Callable[[], Awaitable[Sample]]:
        """A variant for :func:`alternate`: :func:`measure` of ``block`` (one unit), the
        emulator's CPU seconds meanwhile appended to ``during[name]``."""

        async def timed() -> Sample:
            before = self.now()
            sample = await measure(block, 1)
            self.during.setdefault(name, []).append(self.now() - before)
            return sample

        return timed


async def raw_token(session: aiohttp.ClientSession, emu: EmulatorProcess) -> dict[str, str]:
    """The bearer header a raw aiohttp user gets from ``POST /auth/token``."""
    body = {"client_id": emu.client_id, "client_secret": emu.client_secret}
    async with session.post(f"{emu.base_url}/auth/token", json=body) as resp:
        resp.raise_for_status()
        token: str = (await resp.json())["data"]["access_token"]
    return {"Authorization": f"Bearer {token}"}


@contextlib.asynccontextmanager
async def sdk_and_raw(
    emu: EmulatorProcess,
) -> AsyncIterator[tuple[cwpro.AsyncClient, aiohttp.ClientSession, dict[str, str]]]:
    """A ``cwpro.AsyncClient`` of ``emu`` (default settings), and the raw-aiohttp reference: a
    session and its bearer header (:func:`raw_token`)."""
    async with (
        cwpro.AsyncClient(emu.client_id, emu.client_secret, base_url=emu.base_url) as client,
        aiohttp.ClientSession() as session,
    ):
        yield client, session, await raw_token(session, emu)


# -- measuring -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sample:
    """Wall and client-CPU seconds of one measured block, per unit of work."""

    wall: float
    cpu: float


def busy(seconds: float) -> None:
    """Burn CPU for ``seconds`` without yielding to the event loop (a CPU-bound consumer)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def measure(block: Callable[[], Awaitable[Any]], units: int) -> Sample:
    """Run ``block`` once (after a full GC) and return its wall/CPU seconds per unit."""
    gc.collect()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await block()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return Sample(wall / units, cpu / units)


def measure_sync(block: Callable[[], Any], units: int) -> Sample:
    """:func:`measure` for a blocking ``block``."""
    gc.collect()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    block()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return Sample(wall / units, cpu / units)


def _round_order(names: Sequence[str], round_no: int) -> list[str]:
    # Rotate the order each round (A B C, B C A, C A B, ...): every variant runs first equally.
    shift = round_no % len(names)
    return [*names[shift:], *names[:shift]]


async def alternate(
    variants: Mapping[str, Callable[[], Awaitable[Sample]]], rounds: int
) -> dict[str, list[Sample]]:
    """Run every variant once per round, in a rotating order; the samples by variant."""
    names = list(variants)
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    for round_no in range(rounds):
        for name in _round_order(names, round_no):
            samples[name].append(await variants[name]())
    return samples


def alternate_sync(
    variants: Mapping[str, Callable[[], Sample]], rounds: int
) -> dict[str, list[Sample]]:
    """:func:`alternate` for blocking variants."""
    names = list(variants)
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    for round_no in range(rounds):
        for name in _round_order(names, round_no):
            samples[name].append(variants[name]())
    return samples


def timer_overhead() -> float:
    """CPU seconds one ``process_time()``/``perf_counter()`` bracket adds (median of 2,000)."""
    pt, pc = time.process_time, time.perf_counter
    costs = []
    for _ in range(2_000):
        c0 = pt()
        pc()
        pc()
        costs.append(pt() - c0)
    return statistics.median(costs)


async def interleave_calls(
    variants: Mapping[str, Callable[[], Awaitable[Any]]], rounds: int, calls: int
) -> dict[str, list[Sample]]:
    """The finest interleaving: every variant makes one call in turn, ``calls`` times a round.

    The order is shuffled at every step (seeded), so all variants meet the same machine load,
    caches and server state, and none keeps a favourable position (measured: a fixed order
    gives identical variants a few percent apart). Each call is timed on its own; a round's
    sample is the mean per call (GC pauses included; the timer's own cost, see
    :func:`timer_overhead`, removed).
    """
    names = list(variants)
    order = list(names)
    shuffle = random.Random(SEED).shuffle
    pt, pc = time.process_time, time.perf_counter
    overhead = timer_overhead()
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    for _ in range(rounds):
        gc.collect()
        wall = dict.fromkeys(names, 0.0)
        cpu = dict.fromkeys(names, 0.0)
        for _ in range(calls):
            shuffle(order)
            for name in order:
                call = variants[name]
                c0 = pt()
                w0 = pc()
                await call()
                w1 = pc()
                c1 = pt()
                wall[name] += w1 - w0
                cpu[name] += c1 - c0 - overhead
        for name in names:
            samples[name].append(Sample(wall[name] / calls, cpu[name] / calls))
    return samples


def walls(samples: Sequence[Sample]) -> list[float]:
    """The wall seconds of each sample."""
    return [s.wall for s in samples]


def cpus(samples: Sequence[Sample]) -> list[float]:
    """The CPU seconds of each sample."""
    return [s.cpu for s in samples]


def run_async(coro: Awaitable[T]) -> T:
    """``asyncio.run`` for a coroutine (typed for the scripts)."""

    async def wrapper() -> T:
        return await coro

    return asyncio.run(wrapper())


# -- the command line of a benchmark script ------------------------------------------------------
def run_script(
    title: str, run: Callable[[bool], list[Figure]], argv: Sequence[str] | None = None
) -> list[Figure]:
    """Parse ``--quick``/``--json PATH``, run the benchmark, print its figures, save them."""
    parser = argparse.ArgumentParser(description=title)
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    figures = run(args.quick)
    print_figures(f"{title} ({time.perf_counter() - started:.1f} s)", figures)
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(f) for f in figures], indent=2))
    return figures


def script_command(module: str) -> str:
    """How to run one benchmark alone."""
    return f"python -m benchmarks.{module}"
