"""Import time: ``python -X importtime -c "import cwpro"`` (and ``cwpro_sync``), cumulative.

``import cwpro`` is lazy (the client, models and paginators load on first access), so what a
user of the client pays is measured too: ``from cwpro import AsyncClient`` (its wall time in a
fresh interpreter, the interpreter's own start-up subtracted) and ``cwpro --help`` (wall time
of the installed command, start-up included: what a user waits for).

Each round starts a fresh interpreter per module (alternating ``cwpro`` / ``cwpro_sync``) and
reads the cumulative microseconds of the module's own line in ``-X importtime``'s report. One
unmeasured run of each first writes the bytecode caches (``PYTHONDONTWRITEBYTECODE`` is lifted
for it), as after ``pip install``; the measured runs then load bytecode like a user's would.
The biggest third-party packages in ``cwpro``'s import tree are listed too (a package is
charged to whoever imports it first, e.g. ``asyncio`` to ``aiohttp``).

Run alone: ``python -m benchmarks.bench_import [--quick]``.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time

from ._harness import Figure, Stats, Target, run_script, script_command

COMMAND = script_command("bench_import")
MODULES = ("cwpro", "cwpro_sync")
THIRD_PARTY = ("aiohttp", "asyncio", "attrs", "cattrs", "anyio", "backoff", "yarl", "ssl")


def import_report(module: str, env: dict[str, str]) -> dict[str, int]:
    """``-X importtime`` for ``import module`` in a fresh interpreter: cumulative us by name.

    Only the first (outermost) line of each name is kept.
    """
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    cumulative: dict[str, int] = {}
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative_us, name = line.split("|", 2)
        try:
            cumulative.setdefault(name.strip(), int(cumulative_us))
        except ValueError:  # the header line
            continue
    return cumulative


def wall_seconds(command: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one run of ``command`` (output discarded)."""
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, env=env, check=True)
    return time.perf_counter() - started


def cli_command() -> list[str]:
    """The installed ``cwpro`` script next to this interpreter (else ``python -m cwpro``)."""
    script = os.path.join(os.path.dirname(sys.executable), "cwpro")
    if os.path.exists(script) or shutil.which("cwpro") == script:
        return [script]
    return [sys.executable, "-m", "cwpro"]


def run(quick: bool = False) -> list[Figure]:
    """Measure and return the figures."""
    rounds = 3 if quick else 15
    env = dict(os.environ)
    writing = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for module in MODULES:  # write the bytecode caches once
        import_report(module, writing)
    times: dict[str, list[float]] = {module: [] for module in MODULES}
    parts: dict[str, list[float]] = {name: [] for name in THIRD_PARTY}
    client_ms: list[float] = []
    help_ms: list[float] = []
    bare = [sys.executable, "-c", "pass"]
    client = [sys.executable, "-c", "from cwpro import AsyncClient"]
    cli_help = [*cli_command(), "--help"]
    for round_no in range(rounds):
        order = MODULES if round_no % 2 == 0 else MODULES[::-1]
        for module in order:
            report = import_report(module, env)
            times[module].append(report[module] / 1e3)
            if module == "cwpro":
                for name in THIRD_PARTY:
                    parts[name].append(report.get(name, 0) / 1e3)
        start_up = wall_seconds(bare, env)
        client_ms.append((wall_seconds(client, env) - start_up) * 1e3)
        help_ms.append(wall_seconds(cli_help, env) * 1e3)
    biggest = sorted(
        ((statistics.median(v), k) for k, v in parts.items() if statistics.median(v) > 0),
        reverse=True,
    )
    breakdown = ", ".join(f"{name} {ms:.0f} ms" for ms, name in biggest[:6])
    return [
        Figure.graded(
            "import_cwpro_ms",
            'import time: python -X importtime -c "import cwpro" (cumulative)',
            Stats.of(times["cwpro"]),
            Target.at_most(100, "ms"),
            COMMAND,
            digits=0,
            notes=[
                "inside it (cumulative, charged to the first importer): "
                + (breakdown or "none of " + ", ".join(THIRD_PARTY))
            ],
        ),
        Figure.info(
            "import_async_client_ms",
            "import time: from cwpro import AsyncClient (wall, interpreter start-up subtracted)",
            Stats.of(client_ms),
            "ms",
            COMMAND,
            digits=0,
            notes=["what a client user pays: aiohttp itself stays lazy until the first request"],
        ),
        Figure.graded(
            "cli_help_wall_ms",
            "cwpro --help: wall time of the installed command (start-up included)",
            Stats.of(help_ms),
            Target.at_most(200, "ms"),
            COMMAND,
            digits=0,
        ),
        Figure.info(
            "import_cwpro_sync_ms",
            'import time: python -X importtime -c "import cwpro_sync" (cumulative, cwpro included)',
            Stats.of(times["cwpro_sync"]),
            "ms",
            COMMAND,
            digits=0,
        ),
    ]


def main() -> None:
    """Command line entry point."""
    run_script("import time", run)


if __name__ == "__main__":
    main()
