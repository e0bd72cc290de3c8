"""The base of every model: unknown fields kept, wire names, exact round-trips (see ``_serde``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

import attrs

from .._serde import absent_fields, structure, unknown_fields, unstructure

M = TypeVar("M", bound="Model")


@attrs.frozen(kw_only=True, slots=False)
class Model:
    """Base class of cwpro's models: frozen attrs classes built by the single cattrs converter.

    :attr:`extra` holds the fields this SDK version does not know; :meth:`to_dict` writes them
    back, so ``Model.from_dict(payload).to_dict() == payload``. Change a model with
    :meth:`replace`. Subclasses are declared ``@attrs.frozen(kw_only=True, slots=False)``.
    """

    __cwpro_model__: ClassVar[bool] = True

    @property
    def extra(self) -> dict[str, Any]:
        """The fields of the source payload this SDK version does not know (``{}`` if none)."""
        state = self.__dict__
        extra: dict[str, Any] | None = state.get("_extra")
        if extra is None:
            extra = state["_extra"] = unknown_fields(self)
        return extra

    @classmethod
    def from_dict(cls: type[M], data: Any) -> M:
        """Build the model from JSON data (raises :class:`cwpro.ModelError` on bad data).

        A mapping is copied first (shallowly), so changing ``data`` later does not change
        the model's unknown fields.
        """
        return structure(dict(data) if isinstance(data, Mapping) else data, cls)

    def replace(self: M, **changes: Any) -> M:
        """A copy with ``changes`` applied that keeps ``extra`` (``attrs.evolve`` would drop it)."""
        copy = attrs.evolve(self, **changes)
        state = copy.__dict__
        state["_extra"] = dict(self.extra)
        absent = absent_fields(self)
        if absent is not None:
            state["_absent"] = absent.difference(changes)
        return copy

    def to_dict(self) -> dict[str, Any]:
        """The model as JSON data: wire names, enum values, ISO 8601 date-times (UTC), unknown
        fields included. ``json.dumps(model.to_dict(), allow_nan=False)`` always works:
        a value JSON cannot carry (NaN, an arbitrary object put in ``extra``) raises
        :class:`cwpro.ModelError` here instead."""
        result: dict[str, Any] = unstructure(self)
        return result

    def to_json(self, *, indent: int | None = None) -> str:
        """:meth:`to_dict` as a JSON text (compact unless ``indent`` is given)."""
        separators = (",", ":") if indent is None else None
        return json.dumps(
            self.to_dict(),
            allow_nan=False,
            ensure_ascii=False,
            indent=indent,
            separators=separators,
        )
