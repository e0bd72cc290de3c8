"""Interrupted exports resume with no gap and no duplicate: Ctrl-C, an API error, ``kill -9``.

The export runs as a real subprocess (``python -m cwpro export``) against an emulator; the test
interrupts it once the checkpoint shows progress, resumes it, and compares the ids in the output
with the ids the API lists.
"""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cwpro.cli import main
from cwpro.emulator import EmulatorProcess, EmulatorThread

from ._helpers import (
    CLIENT_ID,
    CLIENT_SECRET,
    api_ids,
    api_total,
    api_workorder_ids_by_status,
    checkpoint_items,
    cli_env,
    jsonl_ids,
    run_cli,
    start_cli,
    summary_line,
    wait_until,
)

SLOW_EXPORT = ("--limit", "25", "--partitions", "3", "--no-progress")


@pytest.fixture
def slow_emu() -> Iterator[EmulatorThread]:
    """3,000 work orders served with 40 ms of latency per request (about 2 s per export)."""
    with EmulatorThread(
        seed=21, workorders=3000, latency_ms=40, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
    ) as emulator:
        yield emulator


def _interrupt_when(
    process: subprocess.Popen[str], checkpoint: Path, items: int, signum: int
) -> None:
    wait_until(
        lambda: checkpoint_items(checkpoint) >= items or process.poll() is not None,
        what=f"{items} items checkpointed",
    )
    assert process.poll() is None, "the export finished before it could be interrupted"
    process.send_signal(signum)


def _assert_exactly_once(out: Path, base_url: str) -> None:
    ids = jsonl_ids(out)
    assert len(ids) == len(set(ids)), "duplicate lines"
    assert set(ids) == set(api_ids(base_url)), "missing or foreign items"


def test_ctrl_c_exits_130_and_the_export_resumes_exactly(
    slow_emu: EmulatorThread, tmp_path: Path
) -> None:
    env = cli_env(slow_emu.base_url)
    out = tmp_path / "w.jsonl"
    checkpoint = Path(f"{out}.checkpoint.json")
    process = start_cli("export", "workorders", "--out", str(out), *SLOW_EXPORT, env=env)
    _interrupt_when(process, checkpoint, 300, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and stdout == ""
    saved = json.loads(checkpoint.read_text())
    assert 300 <= saved["items_written"] < 3000
    assert f"{saved['items_written']:,} items are saved in {out}" in stderr
    command = shlex.split(
        stderr.split("continue with the same credentials and:\n")[1].split("\n")[0]
    )
    assert command[:2] == ["cwpro", "export"] and command[-1] == "--resume"
    assert out.stat().st_size == saved["bytes_written"]  # a clean stop leaves no partial page
    assert len(jsonl_ids(out)) == saved["items_written"]

    slow_emu.latency_ms = 0
    resumed = run_cli(*command[1:], env=env)  # exactly the command the interruption printed
    assert resumed.returncode == 0, resumed.stderr
    summary = summary_line(resumed.stdout)
    assert summary["resumed"] is True and summary["items"] == 3000
    assert summary["items_this_run"] == 3000 - saved["items_written"]
    assert not checkpoint.exists()
    _assert_exactly_once(out, slow_emu.base_url)


def test_an_api_error_midway_leaves_a_checkpoint_that_only_the_same_options_resume(
    slow_emu: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = cli_env(slow_emu.base_url)
    out = tmp_path / "w.jsonl"
    checkpoint = Path(f"{out}.checkpoint.json")
    process = start_cli("export", "workorders", "--out", str(out), *SLOW_EXPORT, env=env)
    wait_until(lambda: checkpoint_items(checkpoint) >= 200, what="200 items checkpointed")
    slow_emu.call(slow_emu.emulator.add_fault, "status", status=403, route="GET /workorders")
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 1
    assert "PermissionDeniedError" in stderr and "--resume" in stderr
    saved = checkpoint.read_bytes()

    # the rest in-process (same environment), which is quicker than more subprocesses
    for name, value in env.items():
        if name.startswith("CWPRO_"):
            monkeypatch.setenv(name, value)
    slow_emu.latency_ms = 0
    slow_emu.call(slow_emu.emulator.faults.clear)
    base = ["export", "workorders", "--out", str(out), "--no-progress"]
    same = ["--limit", "25", "--partitions", "3"]
    for other_options, difference in [
        ([*same, "--format", "csv"], "format"),
        (["--limit", "25", "--partitions", "4"], "partitions"),
        (["--limit", "50", "--partitions", "3"], "limit"),
        ([*same, "--in", "status=open"], "in"),
        ([*same, "--since", "2020-01-01"], "since"),
    ]:
        status = main([*base, *other_options, "--resume"])
        refusal = capsys.readouterr().err
        assert status == 3, refusal
        assert "resume refused" in refusal and f"{difference}: checkpoint" in refusal
        assert checkpoint.read_bytes() == saved
    assert main([*base, *same]) == 3
    assert "--resume" in capsys.readouterr().err

    # the same URL spelled with a trailing slash is the same export
    status = main([*base, *same, "--resume", "--base-url", slow_emu.base_url + "/"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert summary_line(captured.out)["items"] == 3000
    _assert_exactly_once(out, slow_emu.base_url)


@pytest.mark.slow
def test_kill_9_twice_during_a_50k_export_then_resume(tmp_path: Path) -> None:
    with EmulatorProcess(
        seed=8, workorders=50_000, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
    ) as emulator:
        env = cli_env(emulator.base_url)
        out = tmp_path / "big.jsonl"
        checkpoint = Path(f"{out}.checkpoint.json")
        command = ("export", "workorders", "--out", str(out), "--no-progress")
        first = start_cli(*command, env=env)
        _interrupt_when(first, checkpoint, 6_000, signal.SIGKILL)
        first.communicate(timeout=30)
        assert first.returncode == -signal.SIGKILL
        items_at_kill = checkpoint_items(checkpoint)
        assert out.stat().st_size >= json.loads(checkpoint.read_text())["bytes_written"]

        second = start_cli(*command, "--resume", env=env)
        _interrupt_when(second, checkpoint, items_at_kill + 15_000, signal.SIGKILL)
        second.communicate(timeout=30)
        assert second.returncode == -signal.SIGKILL

        third = run_cli(*command, "--resume", env=env, timeout=120)
        assert third.returncode == 0, third.stderr
        summary = summary_line(third.stdout)
        assert summary["items"] == 50_000 and summary["resumed"] is True
        assert not checkpoint.exists()

        ids = jsonl_ids(out)
        assert len(ids) == len(set(ids)) == 50_000 == api_total(emulator.base_url)
        assert set(ids) == set(api_workorder_ids_by_status(emulator.base_url))
