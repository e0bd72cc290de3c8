"""The export checkpoint file: where each partition stands and how many output bytes are good.

``FILE.checkpoint.json`` is replaced atomically (temporary file, fsync, ``os.replace``, fsync of
the directory) after each page has been appended to the output and the output fsynced. So at any
moment - Ctrl-C, a crash, ``kill -9``, a power cut - the checkpoint describes a prefix of the
output that is on disk, and the cursors continue right after that prefix: a resume truncates the
output to ``bytes_written`` and carries on with no gap and no duplicate.

Damage is caught before anything is fetched (exit 3, naming the file): the checkpoint holds a
SHA-256 ``checksum`` of its own content (garbage, edits, wrong types), and ``tail_digest``, the
SHA-256 of the last :data:`TAIL_BLOCK` bytes of the output it vouches for, so an output that was
cut, replaced or overwritten in place (even with other content of the same size) is refused
while a resume still reads at most 64 KiB of a big file. The export's own partition state is
built and validated by :mod:`cwpro.pagination.checkpoint`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import attrs

from ._common import ResumeRefused

FORMAT_VERSION: Final = 2
#: How many bytes at the end of the good output ``tail_digest`` covers.
TAIL_BLOCK: Final = 64 * 1024
_WHAT_TO_DO: Final = "run the export again with --restart to start over (this discards it)"


def checkpoint_path(output: Path) -> Path:
    """``FILE.checkpoint.json`` next to the output ``FILE``."""
    return output.with_name(output.name + ".checkpoint.json")


def fingerprint(options: Mapping[str, Any]) -> str:
    """A stable hash of everything that decides what the output holds (query, format...)."""
    canonical = json.dumps(options, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def digest(data: bytes) -> str:
    """The SHA-256 of ``data``, in hex."""
    return hashlib.sha256(data).hexdigest()


def read_tail(path: Path, good_bytes: int) -> bytes:
    """The last :data:`TAIL_BLOCK` bytes before offset ``good_bytes`` of the file at ``path``."""
    start = max(0, good_bytes - TAIL_BLOCK)
    with path.open("rb") as handle:
        handle.seek(start)
        return handle.read(good_bytes - start)


def _count(data: dict[str, Any], key: str) -> int:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key} must be an integer >= 0, got {value!r}")
    return value


@attrs.define
class Checkpoint:
    """The saved progress of one export (see the module docstring)."""

    fingerprint: str
    options: dict[str, Any]
    partitions: list[dict[str, Any]]
    state: list[dict[str, Any]]
    bytes_written: int
    items_written: int
    tail_digest: str
    expected_total: int | None = None

    def _content(self) -> dict[str, Any]:
        return {"version": FORMAT_VERSION, **attrs.asdict(self)}

    def to_json(self) -> dict[str, Any]:
        """The checkpoint as JSON data, with the checksum of its content."""
        content = self._content()
        return {**content, "checksum": digest(_canonical(content))}

    @classmethod
    def from_json(cls, data: Any) -> Checkpoint:
        """Read checkpoint JSON data (raises ``ValueError`` when it is not a sound checkpoint)."""
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
            raise ValueError("not a cwpro export checkpoint (or another version)")
        try:
            expected_total = data.get("expected_total")
            if expected_total is not None:
                expected_total = _count(data, "expected_total")
            checkpoint = cls(
                fingerprint=_string(data, "fingerprint"),
                options=_typed(data, "options", dict),
                partitions=_typed(data, "partitions", list),
                state=_typed(data, "state", list),
                bytes_written=_count(data, "bytes_written"),
                items_written=_count(data, "items_written"),
                tail_digest=_string(data, "tail_digest"),
                expected_total=expected_total,
            )
        except KeyError as exc:
            raise ValueError(f"malformed checkpoint: {exc} is missing") from None
        except (TypeError, ValueError) as exc:
            raise ValueError(f"malformed checkpoint: {exc}") from None
        if data.get("checksum") != digest(_canonical(checkpoint._content())):
            raise ValueError("its checksum does not match its content (it was changed or damaged)")
        if not all(isinstance(entry, dict) for entry in checkpoint.state) or len(
            checkpoint.state
        ) != len(checkpoint.partitions):
            raise ValueError("malformed checkpoint: inconsistent figures")
        return checkpoint


def _canonical(content: dict[str, Any]) -> bytes:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def _string(data: dict[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string, got {type(value).__name__}")
    return value


def _typed(data: dict[str, Any], key: str, kind: type[Any]) -> Any:
    value = data[key]
    if not isinstance(value, kind):
        raise ValueError(f"{key} must be a {kind.__name__}, got {type(value).__name__}")
    return value


def check_output(path: Path, checkpoint: Checkpoint, checkpoint_file: Path) -> None:
    """Refuse (:class:`ResumeRefused`) an output that is not what the checkpoint vouches for."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ResumeRefused(f"cannot resume: the output {path} is gone; {_WHAT_TO_DO}") from None
    if size < checkpoint.bytes_written:
        raise ResumeRefused(
            f"cannot resume: {path} holds {size} bytes but the checkpoint vouches for "
            f"{checkpoint.bytes_written}; was it changed or replaced? {_WHAT_TO_DO}"
        )
    if digest(read_tail(path, checkpoint.bytes_written)) != checkpoint.tail_digest:
        raise ResumeRefused(
            f"cannot resume: {path} is not the output {checkpoint_file} describes (its content "
            f"up to byte {checkpoint.bytes_written:,} changed); {_WHAT_TO_DO}"
        )


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
        json.dump(checkpoint.to_json(), handle, separators=(",", ":"), allow_nan=False)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    _fsync_directory(path.parent)


def load(path: Path) -> Checkpoint:
    """Read the checkpoint at ``path``; :class:`ResumeRefused` when missing or unreadable."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ResumeRefused(f"nothing to resume: no checkpoint {path}") from None
    try:
        return Checkpoint.from_json(json.loads(raw.decode("utf-8")))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        garbage = isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError))
        reason = "it is not JSON" if garbage else str(exc)
        raise ResumeRefused(f"cannot resume from {path}: {reason}; {_WHAT_TO_DO}") from None


def remove(path: Path) -> None:
    """Delete the checkpoint (and a leftover temporary file) once the export is complete."""
    for candidate in (path, path.with_name(path.name + ".tmp")):
        with contextlib.suppress(FileNotFoundError):
            candidate.unlink()
    _fsync_directory(path.parent)
