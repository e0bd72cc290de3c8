"""The export checkpoint file: where each partition stands and how many output bytes are good.

``FILE.checkpoint.json`` is replaced atomically (temporary file, fsync, ``os.replace``, fsync of
the directory) after each page has been appended to the output and the output fsynced. So at any
moment - Ctrl-C, a crash, ``kill -9``, a power cut - the checkpoint describes a prefix of the
output that is on disk, and the cursors continue right after that prefix: a resume truncates the
output to ``bytes_written`` and carries on with no gap and no duplicate.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import attrs

from ._common import ResumeRefused

FORMAT_VERSION: Final = 1


def checkpoint_path(output: Path) -> Path:
    """``FILE.checkpoint.json`` next to the output ``FILE``."""
    return output.with_name(output.name + ".checkpoint.json")


def fingerprint(options: Mapping[str, Any]) -> str:
    """A stable hash of everything that decides what the output holds (query, format...)."""
    canonical = json.dumps(options, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def settled_state(state: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Export checkpoint entries with finished partitions marked ``done``.

    ``AsyncExport.checkpoint()`` reports a partition whose last page was handed out as
    ``cursor=None, done=False`` until the export notices the partition ended; resuming that
    entry would walk the partition again from the start. A partition that has delivered pages
    and has no cursor left is finished.
    """
    settled = []
    for entry in state:
        copy = dict(entry)
        if copy.get("cursor") is None and int(copy.get("pages", 0)) > 0:
            copy["done"] = True
        settled.append(copy)
    return settled


@attrs.define
class Checkpoint:
    """The saved progress of one export (see the module docstring)."""

    fingerprint: str
    options: dict[str, Any]
    partitions: list[dict[str, Any]]
    state: list[dict[str, Any]]
    bytes_written: int
    items_written: int
    expected_total: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The checkpoint as JSON data."""
        return {"version": FORMAT_VERSION, **attrs.asdict(self)}

    @classmethod
    def from_json(cls, data: Any) -> Checkpoint:
        """Read checkpoint JSON data (raises ``ValueError`` when it is not a checkpoint)."""
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
            raise ValueError("not a cwpro export checkpoint (or another version)")
        try:
            checkpoint = cls(
                fingerprint=str(data["fingerprint"]),
                options=dict(data["options"]),
                partitions=list(data["partitions"]),
                state=[dict(entry) for entry in data["state"]],
                bytes_written=int(data["bytes_written"]),
                items_written=int(data["items_written"]),
                expected_total=data.get("expected_total"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed checkpoint: {exc}") from None
        if checkpoint.bytes_written < 0 or len(checkpoint.state) != len(checkpoint.partitions):
            raise ValueError("malformed checkpoint: inconsistent figures")
        return checkpoint


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable. Not possible on every platform (Windows): best effort.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def save(path: Path, checkpoint: Checkpoint) -> None:
    """Write ``checkpoint`` to ``path`` atomically and durably."""
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        json.dump(checkpoint.to_json(), handle, separators=(",", ":"))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    _fsync_directory(path.parent)


def load(path: Path) -> Checkpoint:
    """Read the checkpoint at ``path``; :class:`ResumeRefused` when missing or unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResumeRefused(f"nothing to resume: no checkpoint {path}") from None
    try:
        return Checkpoint.from_json(json.loads(text))
    except ValueError as exc:
        raise ResumeRefused(f"cannot resume from {path}: {exc}") from None


def remove(path: Path) -> None:
    """Delete the checkpoint (and a leftover temporary file) once the export is complete."""
    for candidate in (path, path.with_name(path.name + ".tmp")):
        with contextlib.suppress(FileNotFoundError):
            candidate.unlink()
    _fsync_directory(path.parent)
