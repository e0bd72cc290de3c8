"""``benchmarks/_results.py``: a new run rewrites the table and keeps the hand-written part."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from benchmarks._harness import Figure
from benchmarks._results import KEPT_MARKER, write_results


def _write(path: Path, value: float) -> None:
    figure = Figure(key="k", label="a figure", value=value, unit="x", spread="-", command="cmd")
    write_results(
        path,
        [figure],
        machine={},
        durations={"bench": 1.0},
        total=1.0,
        when=dt.datetime(2026, 12, 6, tzinfo=dt.timezone.utc),
        errors=[],
        quick=False,
    )


def test_a_new_run_keeps_what_is_below_the_marker(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    _write(path, 1.5)
    assert KEPT_MARKER not in path.read_text()
    path.write_text(path.read_text() + f"\n{KEPT_MARKER}\n\n## A profile\n\nsome notes\n")
    _write(path, 2.5)
    text = path.read_text()
    assert "2.50" in text and "1.50" not in text
    assert text.count(KEPT_MARKER) == 1
    assert text.endswith(f"{KEPT_MARKER}\n\n## A profile\n\nsome notes\n")
