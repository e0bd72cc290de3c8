"""``cwpro.cli._progress``: a rich bar on a terminal only, and rich imported only for one."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from cwpro.cli import _progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_on_a_terminal_counts_items(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    progress = _progress.item_progress("export workorders", enabled=True)
    assert type(progress).__name__ == "RichProgress"
    with progress:
        progress.update(5, None)
        progress.update(40, 10)  # a total smaller than done is raised to it
    shown = terminal.getvalue()
    assert "export workorders" in shown and "40/40" in shown


def test_no_bar_when_disabled_or_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert isinstance(_progress.item_progress("x", enabled=False), _progress.NoProgress)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    quiet = _progress.item_progress("x", enabled=True)
    assert isinstance(quiet, _progress.NoProgress)
    with quiet:
        quiet.update(1, 2)


def test_load_and_export_import_rich_only_for_a_bar() -> None:
    code = (
        "import sys, cwpro.cli.load, cwpro.cli.export\n"
        "from cwpro.cli._progress import item_progress\n"
        "item_progress('x', enabled=True)\n"  # stderr is a pipe here: no bar
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'rich'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"
