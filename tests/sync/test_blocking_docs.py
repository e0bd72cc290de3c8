"""The blocking twin's documentation is true for a blocking caller: no ``await``, no
``async for``, no coroutines, in any docstring or ``help()`` text of ``cwpro_sync``."""

from __future__ import annotations

import importlib.util
import inspect
import pkgutil
import pydoc
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import cwpro_sync

from .conftest import make_sync_client

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "generate_sync.py"
#: What an async docstring says and a blocking one must not.
ASYNC_WORDS = re.compile(
    r"\bawait(s|ing|ed)?\b|\basync (for|with|def)\b|\bcoroutines?\b|\bawaitables?\b", re.I
)
#: In help() text, type annotations may name ``Awaitable`` (a backfill handler is async).
ASYNC_PROSE = re.compile(
    r"\bawait(s|ing|ed)?\b|\basync (for|with|def)\b|\bcoroutines?\b|\bawaitables?\b"
)


def sync_modules() -> list[ModuleType]:
    """The generated modules (the hand-written bridge runs awaitables: it may say so)."""
    found = [cwpro_sync]
    for info in pkgutil.walk_packages(cwpro_sync.__path__, "cwpro_sync."):
        if info.name != "cwpro_sync._bridge":
            found.append(importlib.import_module(info.name))
    return found


def public(module: ModuleType, name: str, value: Any) -> bool:
    """Defined by this generated module, or re-exported by cwpro_sync."""
    if module is cwpro_sync:
        return name in cwpro_sync.__all__
    return getattr(value, "__module__", None) == module.__name__


def documented() -> dict[str, Any]:
    """Every module, public name and member of cwpro_sync, by dotted name."""
    objects: dict[str, Any] = {}
    for module in sync_modules():
        objects[module.__name__] = module
        for name, value in vars(module).items():
            if not (inspect.isclass(value) or inspect.isfunction(value)) or not public(
                module, name, value
            ):
                continue
            objects[f"{module.__name__}.{name}"] = value
            if inspect.isclass(value):
                for member, attribute in vars(value).items():
                    if not member.startswith("_") or member in (
                        "__iter__",
                        "__init__",
                        "__enter__",
                    ):
                        objects[f"{module.__name__}.{name}.{member}"] = attribute
    return objects


def doc_of(value: Any) -> str:
    if isinstance(value, property):
        value = value.fget
    return inspect.getdoc(value) or ""


def test_every_docstring_speaks_to_a_blocking_caller() -> None:
    objects = documented()
    assert len(objects) > 100  # the walk really covers the package
    offenders = {name: ASYNC_WORDS.findall(doc_of(value)) for name, value in objects.items()}
    assert {name: found for name, found in offenders.items() if found} == {}


@pytest.mark.parametrize("name", ["Client", "CursorPaginator", "Export", "PagePaginator"])
def test_help_text_speaks_to_a_blocking_caller(name: str) -> None:
    text = pydoc.render_doc(getattr(cwpro_sync, name), renderer=pydoc.plaintext)
    assert [line for line in text.splitlines() if ASYNC_PROSE.search(line)] == []


def test_resource_help_and_raw_response_methods(emu: Any) -> None:
    for module in sync_modules():
        text = pydoc.render_doc(module, renderer=pydoc.plaintext)
        assert [line for line in text.splitlines() if ASYNC_PROSE.search(line)] == [], module
    with make_sync_client(emu) as client:
        raw = client.workorders.with_raw_response
        for method in (raw.get, raw.update_status):
            assert "APIResponse" in (method.__doc__ or "")
            assert not ASYNC_WORDS.search(method.__doc__ or "")


def test_the_rewrite_rules_remove_what_async_prose_says() -> None:
    spec = importlib.util.spec_from_file_location("generate_sync_rules", SCRIPT)
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    async_prose = (
        "``await client.close()`` (or leaving ``async with``) closes it. Stream items (``async for``)\n"
        "with ``async for wo in client.workorders.list()``; ``await paginator`` or\n"
        "``await resource.list(limit=3)`` gives the first page of the async iterator. Returns a\n"
        "coroutine; see :class:`cwpro.AsyncCursorPaginator` and AsyncClient."
    )
    rewritten = generator.docs(async_prose)
    assert not ASYNC_WORDS.search(rewritten), rewritten
    for expected in (
        "``client.close()``",
        "leaving ``with``",
        "(``for ... in``)",
        "``for wo in client.workorders.list()``",
        "``paginator.first_page()``",
        "``resource.list(limit=3).first_page()``",
        ":class:`cwpro_sync.CursorPaginator`",
    ):
        assert expected in rewritten, (expected, rewritten)
