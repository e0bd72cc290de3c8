"""Import heavy dependencies on first use, not when ``import cwpro`` runs.

aiohttp alone costs 100-250 ms to import (it builds SSL contexts at import time); a script that
only parses a webhook or builds a model should not pay that. ``aiohttp = lazy_module("aiohttp",
globals())`` puts a stand-in in the module's namespace; the first attribute access imports the
real module and puts it in the stand-in's place, so later lookups cost nothing extra.
Type checkers see the real import (``if TYPE_CHECKING: import aiohttp``).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class _LazyModule:
    __slots__ = ("_alias", "_name", "_namespace")

    def __init__(self, name: str, namespace: dict[str, Any], alias: str) -> None:
        self._name = name
        self._namespace = namespace
        self._alias = alias

    def __getattr__(self, attribute: str) -> Any:
        module = importlib.import_module(self._name)
        self._namespace[self._alias] = module
        return getattr(module, attribute)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def lazy_module(name: str, namespace: dict[str, Any], alias: str | None = None) -> ModuleType:
    """A stand-in for ``import name`` that imports on first attribute access."""
    stand_in: ModuleType = _LazyModule(  # type: ignore[assignment]  # used exactly like one
        name, namespace, alias or name.rpartition(".")[2]
    )
    return stand_in


def lazy_names(package: str, table: dict[str, str], namespace: dict[str, Any]) -> tuple[Any, Any]:
    """A package's PEP 562 ``__getattr__`` and ``__dir__`` for names imported on first access.

    ``table`` maps each public name to the (relative) module that defines it; the first access
    imports it and stores it in ``namespace``, so later lookups are plain attribute reads.
    """

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *table})

    return __getattr__, __dir__
