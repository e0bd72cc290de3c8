"""The blocking client mirrors the async one exactly, and the committed output is current."""

from __future__ import annotations

import ast
import functools
import importlib.util
import inspect
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import cwpro
import cwpro_sync
from cwpro.resources import RESOURCES as ASYNC_RESOURCES
from cwpro_sync.resources import RESOURCES as SYNC_RESOURCES

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "generate_sync.py"

#: Async names and their blocking twins (what may legitimately differ in annotations).
TWIN_NAMES = {
    "AsyncClient": "Client",
    "AsyncCursorPaginator": "CursorPaginator",
    "AsyncExport": "Export",
    "AsyncPagePaginator": "PagePaginator",
    "AsyncIterator": "Iterator",
}
#: Async members and the names of their twins.
RENAMED = {
    "__aiter__": "__iter__",
    "__await__": "first_page",
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
}


def blocking_doc(text: str | None) -> str:
    """The async docstring as the generator rewrites it for blocking callers."""
    module, _ = _generator()  # the generator adds the mirrored class names to its CODE table
    return str(module.docs(text)) if text else ""


@functools.cache
def _generator() -> tuple[Any, Any]:
    spec = importlib.util.spec_from_file_location("generate_sync_docs", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, module.Generator()


def same_words(a: str | None, b: str | None) -> bool:
    """Equal but for line breaks (the generator breaks lines a rewrite made too long)."""
    return (a or "").split() == (b or "").split()


def normalized(annotation: Any, *, twins: bool = False) -> str:
    """An annotation as comparable text (async types renamed to their twins if asked)."""
    if annotation is inspect.Parameter.empty:
        return ""
    tree = ast.parse(str(annotation), mode="eval")
    if twins:
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id in TWIN_NAMES:
                node.id = TWIN_NAMES[node.id]
            elif isinstance(node, ast.Name) and node.id.endswith("WithRawResponse"):
                node.id = "RawResponseProxy"  # the generator's CODE table
    return ast.unparse(tree)


def public_members(cls: type) -> dict[str, Any]:
    """Public methods and properties of ``cls`` (inherited ones included)."""
    found = {}
    for name in dir(cls):
        if name.startswith("_") and name not in RENAMED:
            continue
        value = inspect.getattr_static(cls, name)
        if isinstance(value, (property, staticmethod, classmethod)) or inspect.isfunction(value):
            found[name] = value
    return found


def assert_same_signature(async_fn: Any, sync_fn: Any, where: str) -> None:
    a, s = inspect.signature(async_fn), inspect.signature(sync_fn)
    assert list(a.parameters) == list(s.parameters), where
    for name, ap in a.parameters.items():
        sp = s.parameters[name]
        assert ap.kind == sp.kind, f"{where}({name}) kind"
        assert ap.default == sp.default, f"{where}({name}) default"
        assert normalized(ap.annotation) == normalized(sp.annotation), f"{where}({name}) annotation"
    assert normalized(a.return_annotation, twins=True) == normalized(s.return_annotation), (
        f"{where} returns"
    )


def assert_twin_members(async_cls: type, sync_cls: type, skip: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    members = public_members(async_cls)
    assert members, async_cls
    for name, member in members.items():
        if name in skip:
            continue
        twin_name = RENAMED.get(name, name)
        where = f"{sync_cls.__name__}.{twin_name}"
        sync_member = inspect.getattr_static(sync_cls, twin_name, None)
        assert sync_member is not None, f"{where} is missing"
        assert same_words(inspect.getdoc(sync_member), blocking_doc(inspect.getdoc(member))), (
            f"{where} docstring"
        )
        if isinstance(member, property):
            assert isinstance(sync_member, property), where
            assert_same_signature(member.fget, sync_member.fget, where)
        elif name == "__await__":  # -> first_page(): the awaited result type
            returns = ast.parse(str(inspect.signature(member).return_annotation), mode="eval").body
            assert isinstance(returns, ast.Subscript) and isinstance(returns.slice, ast.Tuple)
            expected = ast.unparse(returns.slice.elts[2])
            assert normalized(inspect.signature(sync_member).return_annotation) == expected, where
        elif name == "__aiter__":
            returns = inspect.signature(sync_member).return_annotation
            assert normalized(returns) == normalized(
                inspect.signature(member).return_annotation, twins=True
            )
        else:
            assert_same_signature(member, sync_member, where)
            assert not inspect.iscoroutinefunction(sync_member), f"{where} must block"


def test_the_resource_table_is_mirrored() -> None:
    assert list(SYNC_RESOURCES) == list(ASYNC_RESOURCES)
    for attr, async_cls in ASYNC_RESOURCES.items():
        sync_cls = SYNC_RESOURCES[attr]
        assert sync_cls.__name__ == async_cls.__name__
        assert same_words(inspect.getdoc(sync_cls), blocking_doc(inspect.getdoc(async_cls)))
        assert inspect.get_annotations(cwpro_sync.Client)[attr] == async_cls.__name__


@pytest.mark.parametrize("attr", list(ASYNC_RESOURCES))
def test_every_resource_method_has_a_blocking_twin(attr: str) -> None:
    assert_twin_members(ASYNC_RESOURCES[attr], SYNC_RESOURCES[attr])


def test_the_client_is_mirrored() -> None:
    assert_same_signature(cwpro.AsyncClient.__init__, cwpro_sync.Client.__init__, "Client.__init__")
    assert_twin_members(cwpro.AsyncClient, cwpro_sync.Client)
    for name in ("with_options", "request", "close"):
        assert callable(getattr(cwpro_sync.Client, name))


@pytest.mark.parametrize(
    ("async_cls", "sync_cls"),
    [
        (cwpro.AsyncCursorPaginator, cwpro_sync.CursorPaginator),
        (cwpro.AsyncExport, cwpro_sync.Export),
        (cwpro.AsyncPagePaginator, cwpro_sync.PagePaginator),
    ],
)
def test_paginators_are_mirrored(async_cls: type, sync_cls: type) -> None:
    assert_twin_members(async_cls, sync_cls)
    assert callable(getattr(sync_cls, "__iter__"))
    init = inspect.getsource(async_cls.__init__)
    for attribute in ("resume_cursor", "exhausted", "pages_fetched", "partitions"):
        if f"self.{attribute}" in init:
            assert isinstance(inspect.getattr_static(sync_cls, attribute), property), attribute


def test_package_exports_cwpro_names_with_twins() -> None:
    for name in cwpro.__all__:
        twin = TWIN_NAMES.get(name, name)
        assert twin in cwpro_sync.__all__, twin
        if twin == name:
            assert getattr(cwpro_sync, name) is getattr(cwpro, name)


def run_generator(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def test_committed_output_is_current() -> None:
    result = run_generator("--check")
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout


def load_generator(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_sync_under_test", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_check_reports_stale_and_obsolete_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    generator = load_generator(monkeypatch)
    out = tmp_path / "cwpro_sync"
    shutil.copytree(ROOT / "cwpro_sync", out, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(generator, "OUT", out)
    assert generator.main(["--check"]) == 0

    edited = out / "resources" / "sites.py"
    edited.write_text(edited.read_text().replace("def get(", "def fetch("))
    assert generator.main(["--check"]) == 1
    assert "stale: cwpro_sync/resources/sites.py" in capsys.readouterr().err
    assert generator.main([]) == 0  # regenerates
    assert generator.main(["--check"]) == 0

    (out / "resources" / "gone.py").write_text(generator.HEADER + '"""old"""\n')
    assert generator.main(["--check"]) == 1
    assert "obsolete: cwpro_sync/resources/gone.py" in capsys.readouterr().err
    assert generator.main([]) == 0
    assert not (out / "resources" / "gone.py").exists()


def test_generator_refuses_what_it_cannot_mirror(monkeypatch: pytest.MonkeyPatch) -> None:
    generator = load_generator(monkeypatch)
    gen = generator.Generator()
    tree = ast.parse(
        "class AsyncThing:\n"
        "    async def undocumented(self) -> int:\n"
        "        return 1\n"
        "    def __len__(self) -> int:\n"
        '        """Size."""\n'
        "        return 1\n"
        "    @staticmethod\n"
        "    def made(self) -> int:\n"
        '        """Decorated."""\n'
        "        return 1\n"
    )
    undocumented, dunder, decorated = tree.body[0].body  # type: ignore[attr-defined]
    for node, message in (
        (undocumented, "docstring"),
        (dunder, "no blocking mapping"),
        (decorated, r"decorators: \[.staticmethod.\]"),
    ):
        with pytest.raises(generator.GenerationError, match=message):
            gen.member(node, cwpro.AsyncCursorPaginator)
    with pytest.raises(generator.GenerationError, match="Unheard"):  # no import binds it
        generator.format_code("pagination/cursor.py", "__all__ = []\nx = Unheard\n")


@pytest.mark.skipif(
    shutil.which("ruff") is None and not (Path(sys.executable).parent / "ruff").exists(),
    reason="ruff is not installed",
)
def test_generated_code_is_ruff_clean() -> None:
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    for command in (["check"], ["format", "--check"]):
        result = subprocess.run(
            [ruff, *command, "cwpro_sync"], capture_output=True, text=True, cwd=ROOT, timeout=120
        )
        assert result.returncode == 0, result.stdout + result.stderr
