"""``mypy --strict`` on user code, as a user runs it: outside the repository, on the installed
packages (the editable install is a plain path entry; ``PYTHONPATH``/``MYPYPATH`` are dropped)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def mypy_strict(directory: Path, *files: str) -> subprocess.CompletedProcess[str]:
    """``mypy --strict files`` run in ``directory`` with a fresh cache there."""
    pytest.importorskip("mypy")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MYPYPATH")}
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(directory / ".mypy"),
         "--no-color-output", *files],
        cwd=directory, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
