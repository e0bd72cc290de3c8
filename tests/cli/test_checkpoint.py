"""The checkpoint file and the durable output file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cwpro.cli import _checkpoint
from cwpro.cli._common import ResumeRefused
from cwpro.cli._output import DurableOutput


def _checkpoint_record(**changes: object) -> _checkpoint.Checkpoint:
    record = _checkpoint.Checkpoint(
        fingerprint=_checkpoint.fingerprint({"resource": "workorders", "format": "jsonl"}),
        options={"resource": "workorders", "format": "jsonl"},
        partitions=[{}, {}],
        state=[
            {"index": 0, "cursor": "next_abc", "done": False, "items": 10, "pages": 1},
            {"index": 1, "cursor": None, "done": False, "items": 0, "pages": 0},
        ],
        bytes_written=1234,
        items_written=10,
        expected_total=99,
    )
    for name, value in changes.items():
        setattr(record, name, value)
    return record


def test_checkpoint_path_is_next_to_the_output(tmp_path: Path) -> None:
    assert _checkpoint.checkpoint_path(tmp_path / "out.csv") == tmp_path / "out.csv.checkpoint.json"


def test_save_then_load_round_trips_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "x.checkpoint.json"
    record = _checkpoint_record()
    _checkpoint.save(path, record)
    _checkpoint.save(path, record)  # replacing an existing checkpoint
    assert _checkpoint.load(path) == record
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.checkpoint.json"]
    _checkpoint.remove(path)
    assert list(tmp_path.iterdir()) == []


def test_fingerprint_changes_with_any_option() -> None:
    base = {"resource": "workorders", "format": "jsonl", "filter": {}}
    assert _checkpoint.fingerprint(base) == _checkpoint.fingerprint(dict(reversed(base.items())))
    assert _checkpoint.fingerprint(base) != _checkpoint.fingerprint({**base, "format": "csv"})
    assert _checkpoint.fingerprint(base) != _checkpoint.fingerprint({**base, "filter": {"a": 1}})


def test_settled_state_marks_partitions_whose_last_page_was_delivered() -> None:
    state: list[dict[str, Any]] = [
        {"index": 0, "cursor": None, "done": False, "items": 5, "pages": 1},  # last page out
        {"index": 1, "cursor": None, "done": False, "items": 0, "pages": 0},  # not started
        {"index": 2, "cursor": "next_x", "done": False, "items": 5, "pages": 1},
        {"index": 3, "cursor": None, "done": True, "items": 7, "pages": 2},
    ]
    assert [entry["done"] for entry in _checkpoint.settled_state(state)] == [
        True,
        False,
        False,
        True,
    ]
    assert state[0]["done"] is False  # the input is not modified


def test_missing_or_malformed_checkpoints_refuse_the_resume(tmp_path: Path) -> None:
    path = tmp_path / "x.checkpoint.json"
    with pytest.raises(ResumeRefused, match="nothing to resume"):
        _checkpoint.load(path)
    path.write_text("{not json")
    with pytest.raises(ResumeRefused, match="cannot resume"):
        _checkpoint.load(path)
    path.write_text(json.dumps({**_checkpoint_record().to_json(), "version": 99}))
    with pytest.raises(ResumeRefused, match="another version"):
        _checkpoint.load(path)
    broken = _checkpoint_record().to_json()
    broken["state"] = broken["state"][:1]  # one partition's state is missing
    path.write_text(json.dumps(broken))
    with pytest.raises(ResumeRefused, match="inconsistent"):
        _checkpoint.load(path)


def test_durable_output_reopen_cuts_off_what_followed_the_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with DurableOutput.create(path, b"header\n") as output:
        output.append(b"line 1\n")
        good = output.size
        output.append(b"half a li")
    assert good == 14
    with DurableOutput.reopen(path, good) as output:
        assert output.size == good
        output.append(b"line 2\n")
    assert path.read_bytes() == b"header\nline 1\nline 2\n"


def test_durable_output_refuses_a_file_shorter_than_the_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(b"short")
    with pytest.raises(ResumeRefused, match="holds 5 bytes"):
        DurableOutput.reopen(path, 100)
    with pytest.raises(ResumeRefused, match="is gone"):
        DurableOutput.reopen(tmp_path / "missing.jsonl", 0)
