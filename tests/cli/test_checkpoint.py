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
        tail_digest=_checkpoint.digest(b"x" * 1234),
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
    with pytest.raises(ResumeRefused, match="checksum"):
        _checkpoint.load(path)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: b"\x00\xff\xfe garbage \x81", "it is not JSON"),
        (lambda data: b"[1, 2, 3]", "not a cwpro export checkpoint"),
        (lambda data: data.replace(b'"items_written":10', b'"items_written":-5'), ">= 0"),
        (lambda data: data.replace(b'"items_written":10', b'"items_written":"10"'), "integer"),
        (lambda data: data.replace(b'"bytes_written":1234', b'"bytes_written":true'), "integer"),
        (lambda data: data.replace(b'"fingerprint":"', b'"fingerprint":1,"x":"'), "string"),
        (lambda data: data.replace(b'"items_written":10', b'"items_written":11'), "checksum"),
        (lambda data: data.replace(b'"tail_digest":', b'"nothing":'), "missing"),
        (lambda data: data[: len(data) // 2], "not JSON"),
    ],
)
def test_damaged_checkpoints_are_refused_with_what_to_do(
    tmp_path: Path, damage: Any, message: str
) -> None:
    path = tmp_path / "x.checkpoint.json"
    _checkpoint.save(path, _checkpoint_record())
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ResumeRefused) as info:
        _checkpoint.load(path)
    text = str(info.value)
    assert message in text and str(path) in text and "--restart" in text


def test_an_output_changed_in_place_is_refused(tmp_path: Path) -> None:
    out, checkpoint_file = tmp_path / "out.jsonl", tmp_path / "out.jsonl.checkpoint.json"
    content = b"".join(b'{"_id":"%024d"}\n' % n for n in range(5000))  # > one tail block
    out.write_bytes(content + b"half a li")
    record = _checkpoint_record(
        bytes_written=len(content),
        tail_digest=_checkpoint.digest(content[-_checkpoint.TAIL_BLOCK :]),
    )
    _checkpoint.check_output(out, record, checkpoint_file)  # sound: no error
    out.write_bytes(content.replace(b"4999", b"9999") + b"half a li")  # same size
    with pytest.raises(ResumeRefused, match="changed") as info:
        _checkpoint.check_output(out, record, checkpoint_file)
    assert str(out) in str(info.value) and "--restart" in str(info.value)
    out.write_bytes(content[:100])
    with pytest.raises(ResumeRefused, match="holds 100 bytes"):
        _checkpoint.check_output(out, record, checkpoint_file)
    out.unlink()
    with pytest.raises(ResumeRefused, match="is gone"):
        _checkpoint.check_output(out, record, checkpoint_file)


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
