"""The base of every model: unknown fields kept, wire names, exact round-trips (see ``_serde``)."""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

import attrs

from .._serde import structure, unstructure

M = TypeVar("M", bound="Model")


@attrs.frozen(kw_only=True)
class Model:
    """Base class of cwpro's models: frozen attrs classes built by the single cattrs converter.

    ``extra`` holds the fields this SDK version does not know; :meth:`to_dict` writes them back,
    so ``Model.from_dict(payload).to_dict() == payload``. Change a model with ``attrs.evolve``.
    """

    __cwpro_model__: ClassVar[bool] = True

    extra: dict[str, Any] = attrs.field(factory=dict, init=False, repr=False, eq=False)
    # Known wire fields the source payload lacked (None: the model was built in code).
    _absent: frozenset[str] | None = attrs.field(default=None, init=False, repr=False, eq=False)

    @classmethod
    def from_dict(cls: type[M], data: Any) -> M:
        """Build the model from JSON data (raises :class:`cwpro.ModelError` on bad data)."""
        return structure(data, cls)

    def replace(self: M, **changes: Any) -> M:
        """A copy with ``changes`` applied that keeps ``extra`` (``attrs.evolve`` would drop it)."""
        copy = attrs.evolve(self, **changes)
        object.__setattr__(copy, "extra", dict(self.extra))
        if self._absent is not None:
            renamed = {a.name: a.metadata.get("wire", a.name) for a in attrs.fields(type(self))}
            object.__setattr__(copy, "_absent", self._absent - {renamed[k] for k in changes})
        return copy

    def to_dict(self) -> dict[str, Any]:
        """The model as JSON-ready data, wire names and unknown fields included."""
        result: dict[str, Any] = unstructure(self)
        return result
