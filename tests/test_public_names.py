"""``cwpro/__init__.py`` names its lazy public names three times (``TYPE_CHECKING`` imports for
type checkers, ``_LAZY`` for run time, ``__all__``): the three must agree."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import cwpro

INIT = Path(cwpro.__file__)


def _type_checking_imports() -> dict[str, str]:
    tree = ast.parse(INIT.read_text())
    names: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom)
                for alias in imp.names:
                    names[alias.asname or alias.name] = "." * imp.level + (imp.module or "")
    return names


def test_lazy_names_match_the_type_checking_imports() -> None:
    assert _type_checking_imports() == cwpro._LAZY  # type: ignore[attr-defined]


def test_every_public_name_resolves_and_lazy_ones_are_public() -> None:
    lazy = set(cwpro._LAZY)  # type: ignore[attr-defined]
    assert lazy <= set(cwpro.__all__)
    for name in cwpro.__all__:
        assert getattr(cwpro, name) is not None, name


def test_import_loads_no_client_machinery() -> None:
    code = "import sys, cwpro; print(sorted(m for m in ('aiohttp', 'attrs', 'cattrs') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
