"""``cwpro export`` in-process against an emulator thread: content, formats, filters, exit codes."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from cwpro.cli import main
from cwpro.emulator import EmulatorThread

from ._helpers import api_ids, api_total, csv_rows, jsonl_ids, summary_line


def _export(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["export", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_jsonl_export_holds_every_work_order_once(
    cli_env: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "workorders.jsonl"
    status, stdout, stderr = _export(capsys, "workorders", "--out", str(out), "--limit", "100")
    assert status == 0, stderr
    ids = jsonl_ids(out)
    assert len(ids) == len(set(ids)) == 1200
    assert set(ids) == set(api_ids(cli_env.base_url))
    summary = summary_line(stdout)
    assert summary["event"] == "export.done"
    assert summary["items"] == summary["items_this_run"] == 1200
    assert summary["bytes"] == out.stat().st_size
    assert summary["partitions"] == 4 and summary["resumed"] is False
    assert summary["retries"] == 0 and summary["items_per_second"] > 0
    assert "exported 1,200 workorders" in stderr
    assert not Path(f"{out}.checkpoint.json").exists()


def test_lines_are_the_api_objects(
    cli_env: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sites.jsonl"
    assert _export(capsys, "sites", "--out", str(out), "--partitions", "1")[0] == 0
    first = json.loads(out.read_text().splitlines()[0])
    assert first == cli_env.emulator.state.sites.get(first["_id"])


@pytest.mark.parametrize("resource", ["sites", "work-types", "webhooks"])
def test_every_resource_exports_completely(
    cli_env: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str], resource: str
) -> None:
    out = tmp_path / f"{resource}.jsonl"
    status, stdout, stderr = _export(capsys, resource, "--out", str(out), "--partitions", "3")
    assert status == 0, stderr
    ids = jsonl_ids(out)
    assert len(ids) == len(set(ids)) == summary_line(stdout)["items"]
    attribute = resource.replace("-", "_")
    assert set(ids) == set(api_ids(cli_env.base_url, attribute))
    assert len(ids) == api_total(cli_env.base_url, attribute) > 0


def test_csv_export_with_filters_and_dates(
    cli_env: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    today = dt.datetime.now(dt.timezone.utc).date()
    since, until = today - dt.timedelta(days=500), today - dt.timedelta(days=30)
    out = tmp_path / "open.csv"
    status, _, stderr = _export(
        capsys, "workorders", "--out", str(out), "--format", "csv",
        "--in", "status=open,scheduled", "--filter", "priority=high",
        "--since", since.isoformat(), "--until", until.isoformat(), "--partitions", "5",
    )  # fmt: skip
    assert status == 0, stderr
    rows = csv_rows(out)
    expected = api_ids(
        cli_env.base_url,
        in_={"status": ["open", "scheduled"]},
        filter_by={"priority": "high"},
        between={
            "created_date": (
                dt.datetime(since.year, since.month, since.day, tzinfo=dt.timezone.utc),
                dt.datetime(until.year, until.month, until.day, 23, 59, 59, 999000,
                            tzinfo=dt.timezone.utc),
            )
        },
    )  # fmt: skip
    assert 0 < len(rows) < 1200
    assert sorted(row["_id"] for row in rows) == sorted(expected)
    assert {row["status"] for row in rows} <= {"open", "scheduled"}
    assert {row["priority"] for row in rows} == {"high"}
    assert all(since.isoformat() <= row["created_date"][:10] <= until.isoformat() for row in rows)
    assert all(json.loads(row["extra"])["company_namespace"] for row in rows)


def test_typed_filter_values(
    cli_env: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = cli_env.emulator.state.sites.item_at(0)
    out = tmp_path / "one.jsonl"
    status, _, stderr = _export(
        capsys, "sites", "--out", str(out), "--filter", f"latitude:={site['latitude']}"
    )
    assert status == 0, stderr
    assert site["_id"] in jsonl_ids(out)
    assert all(
        json.loads(line)["latitude"] == site["latitude"]
        for line in out.read_text().split("\n")[:-1]
    )


def test_existing_checkpoint_needs_resume_or_restart(
    cli_env: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "w.jsonl"
    checkpoint = Path(f"{out}.checkpoint.json")
    checkpoint.write_text("{}")
    status, _, stderr = _export(capsys, "workorders", "--out", str(out))
    assert status == 3
    assert "--resume" in stderr and "--restart" in stderr
    status, _, stderr = _export(capsys, "workorders", "--out", str(out), "--resume")
    assert status == 3 and "cannot resume" in stderr
    status, _, stderr = _export(capsys, "workorders", "--out", str(out), "--restart")
    assert status == 0, stderr
    assert len(jsonl_ids(out)) == 1200 and not checkpoint.exists()
    status, _, stderr = _export(capsys, "workorders", "--out", str(out), "--resume")
    assert status == 3 and "nothing to resume" in stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["workorders"], "--out"),
        (["invoices", "--out", "x"], "invalid choice"),
        (["workorders", "--out", "x", "--limit", "5000"], "limit must be"),
        (["workorders", "--out", "x", "--partitions", "0"], "must be >= 1"),
        (["workorders", "--out", "x", "--since", "yesterday"], "not an ISO 8601"),
        (["workorders", "--out", "x", "--filter", "novalue"], "FIELD=VALUE"),
        (["workorders", "--out", "x", "--filter", "n:=nope"], "not JSON"),
        (["workorders", "--out", "x", "--in", "status="], "FIELD=v1,v2"),
        (["workorders", "--out", "x", "--resume", "--restart"], "exclude each other"),
        (["workorders", "--out", "x", "--since", "2025-02-01", "--until", "2025-01-01"], "after"),
    ],
)
def test_usage_errors_exit_2(
    cli_env: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    status, _, stderr = _export(capsys, *args)
    assert status == 2
    assert message in stderr
    assert not (tmp_path / "x").exists()


def test_missing_credentials_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("CWPRO_CLIENT_ID", "CWPRO_CLIENT_SECRET", "CWPRO_TOKEN", "CWPRO_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    status, _, stderr = _export(capsys, "workorders", "--out", str(tmp_path / "x"))
    assert status == 2
    assert "no credentials" in stderr


def test_api_errors_exit_1(
    cli_env: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.jsonl"
    status, _, stderr = _export(capsys, "workorders", "--out", str(out), "--client-secret", "wrong")
    assert status == 1
    assert "AuthenticationError" in stderr
    assert "wrong" not in stderr  # secrets never shown
    cli_env.call(cli_env.emulator.add_fault, "status", status=403, route="GET /workorders")
    status, _, stderr = _export(capsys, "workorders", "--out", str(out))
    assert status == 1
    assert "PermissionDeniedError" in stderr


def test_retries_are_counted(
    cli_env: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stats = cli_env.emulator.stats
    lists_before = stats["GET /workorders"]
    status, _, stderr = _export(capsys, "workorders", "--out", str(tmp_path / "clean.jsonl"))
    assert status == 0, stderr
    clean_run = stats["GET /workorders"] - lists_before  # the same export without a fault
    faults_before, lists_before = stats.faults_injected, stats["GET /workorders"]
    cli_env.call(cli_env.emulator.add_fault, "status", status=503, times=2, route="GET /workorders")
    cli_env.call(cli_env.emulator.add_fault, "status", status=429, times=3, route="GET /workorders")
    out = tmp_path / "x.jsonl"
    status, stdout, stderr = _export(capsys, "workorders", "--out", str(out))
    assert status == 0, stderr
    summary = summary_line(stdout)
    split = [summary[key] for key in ("retries", "throttled_retries", "failed_retries")]
    assert split == [5, 3, 2]
    assert "5 retries (3 after a 429, 2 after a failure)" in stderr
    # at the server: the 5 faulted answers, and exactly 5 requests more than the clean run
    assert stats.faults_injected - faults_before == 5
    assert stats["GET /workorders"] - lists_before == clean_run + 5
    assert len(set(jsonl_ids(out))) == api_total(cli_env.base_url) == 1200


def test_an_unwritable_output_exits_1_without_a_traceback(
    cli_env: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, stderr = _export(capsys, "workorders", "--out", str(tmp_path / "no" / "x.jsonl"))
    assert status == 1
    assert "No such file or directory" in stderr and "Traceback" not in stderr


def test_an_existing_output_is_not_overwritten_without_force(
    cli_env: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "w.jsonl"
    out.write_bytes(b"precious\n")
    status, _, stderr = _export(capsys, "workorders", "--out", str(out))
    assert status == 2
    assert str(out) in stderr and "--force" in stderr
    assert out.read_bytes() == b"precious\n"
    status, _, stderr = _export(capsys, "workorders", "--out", str(out), "--force")
    assert status == 0, stderr
    assert len(set(jsonl_ids(out))) == 1200


def _interrupted_export(
    cli_env: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[Path, Path]:
    """An export stopped by a 403 midway: its output and checkpoint are left behind."""
    out = tmp_path / "w.jsonl"
    checkpoint = Path(f"{out}.checkpoint.json")
    cli_env.call(
        cli_env.emulator.add_fault, "status", status=503, route="GET /workorders", probability=0.2
    )
    for _ in range(40):
        restart = ["--restart"] if checkpoint.exists() else []
        status, _, stderr = _export(
            capsys, "workorders", "--out", str(out), "--limit", "50", "--partitions", "2",
            "--max-retries", "0", *restart,
        )  # fmt: skip
        if (
            status == 1
            and checkpoint.exists()
            and json.loads(checkpoint.read_text())["items_written"] > 0
        ):
            break
    else:
        raise AssertionError("no export was interrupted midway")
    assert "--resume" in stderr
    cli_env.call(cli_env.emulator.faults.clear)
    return out, checkpoint


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("garbage", "not JSON"),
        ("negative", ">= 0"),
        ("wrong type", "must be a"),
        ("same size", "changed"),
    ],
)
def test_damaged_export_state_exits_3_naming_the_file(
    cli_env: EmulatorThread,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    damage: str,
    message: str,
) -> None:
    out, checkpoint = _interrupted_export(cli_env, tmp_path, capsys)
    if damage == "garbage":
        checkpoint.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00 not a checkpoint")
    elif damage == "negative":
        data = json.loads(checkpoint.read_text())
        data["items_written"] = -5
        checkpoint.write_text(json.dumps(data))
    elif damage == "wrong type":
        data = json.loads(checkpoint.read_text())
        data["state"] = "everything"
        checkpoint.write_text(json.dumps(data))
    else:
        original = out.read_bytes()
        out.write_bytes(original.replace(b'"_id":"', b'"_id":"X', 1)[: len(original)])
    status, _, stderr = _export(
        capsys, "workorders", "--out", str(out), "--limit", "50", "--partitions", "2", "--resume"
    )
    assert status == 3, stderr
    assert message in stderr
    assert str(out) in stderr or str(checkpoint) in stderr
    assert "--restart" in stderr and "Traceback" not in stderr
