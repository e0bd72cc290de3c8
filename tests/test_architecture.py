"""The import map of ``docs/ARCHITECTURE.md``, enforced on every module of ``cwpro``.

Only imports that run when a module is imported count: those under ``if TYPE_CHECKING:`` and
those inside functions (lazy imports) are not arrows of the layer map.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "cwpro"

#: layer of each top-level part of cwpro (the first segment after ``cwpro.``)
LAYER = {
    "_errors": 0,
    "_wire": 0,
    "_validate": 0,
    "_version": 0,
    "_lazy": 0,
    "_config": 1,
    "_serde": 1,
    "models": 1,
    "_query": 1,
    "_logging": 1,
    "_http": 2,
    "pagination": 3,
    "resources": 4,
    "_client": 5,
    "webhooks": 5,
    "__init__": 6,
    "__main__": 7,
    "cli": 7,
    "dlt": 7,
    "emulator": None,  # a separate world
}
NEVER_FROM_CORE = ("cwpro.emulator", "cwpro.cli", "cwpro.dlt", "cwpro_sync")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(path: Path) -> set[str]:
    """Absolute names of the modules ``path`` imports at import time."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If):
                if not _is_type_checking(node):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, (ast.Try,)):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)
                visit(node.orelse)
                visit(node.finalbody)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    name = ".".join([*base, node.module] if node.module else base)
                else:
                    name = node.module or ""
                found.add(name)
                for alias in node.names:  # ``from . import _wire`` imports a module
                    found.add(f"{name}.{alias.name}")

    visit(ast.parse(path.read_text()).body)
    return {name for name in found if name.startswith(("cwpro", "cwpro_sync"))}


def _part(name: str) -> str:
    pieces = name.split(".")
    return pieces[1] if len(pieces) > 1 and pieces[0] == "cwpro" else "__init__"


MODULES = sorted(PACKAGE.rglob("*.py"))


def _existing(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_follow_the_layer_map(path: Path) -> None:
    module = _module_name(path)
    part = _part(module)
    assert part in LAYER, f"{module}: add its part to LAYER and docs/ARCHITECTURE.md"
    imports = {
        name
        for name in _runtime_imports(path)
        if _existing(name) and not module.startswith(name + ".") and name != "cwpro"
    }
    if LAYER[part] is None:  # the emulator
        wrong = {n for n in imports if not n.startswith("cwpro.emulator")}
        assert not wrong, f"the emulator imports the client side: {module} -> {sorted(wrong)}"
        return
    if LAYER[part] < LAYER["cli"]:
        wrong = {n for n in imports if n.startswith(NEVER_FROM_CORE)}
        assert not wrong, f"core module {module} imports {sorted(wrong)}"
    for name in imports:
        target = _part(name)
        if target == part or name.startswith("cwpro_sync"):
            continue
        level = LAYER.get(target)
        assert level is not None, f"{module} imports the emulator ({name})"
        assert level <= LAYER[part] or LAYER[part] >= LAYER["cli"], (
            f"{module} (layer {LAYER[part]}) imports {name} (layer {level}): arrows point down"
        )


def test_no_import_cycle_at_import_time() -> None:
    graph = {
        _module_name(path): {
            n
            for n in _runtime_imports(path)
            if _existing(n) and not _module_name(path).startswith(n + ".") and n != "cwpro"
        }
        for path in MODULES
    }
    visiting: list[str] = []
    done: set[str] = set()

    def walk(node: str) -> None:
        if node in done:
            return
        if node in visiting:
            cycle = [*visiting[visiting.index(node) :], node]
            # a package importing its own submodules is not a cycle of behaviour
            if not all(c.startswith(cycle[0]) or cycle[0].startswith(c) for c in cycle):
                pytest.fail("import cycle: " + " -> ".join(cycle))
            return
        visiting.append(node)
        for target in graph.get(node, ()):
            walk(target)
        visiting.pop()
        done.add(node)

    for name in graph:
        walk(name)


def test_every_file_the_architecture_page_names_exists() -> None:
    page = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    table = page[page.index("## Where each behaviour lives") : page.index("## Layers")]
    named = re.findall(r"`(cwpro/[\w/.<>]+)`", table)
    assert len(named) >= 20
    for name in named:
        if "<" in name:  # cwpro/resources/<resource>.py: one file per resource
            assert list((ROOT / name.split("<")[0]).glob("*.py")), name
        else:
            assert (ROOT / name).exists(), f"docs/ARCHITECTURE.md names {name}, which is gone"
