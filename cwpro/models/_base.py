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
    _nulls: frozenset[str] = attrs.field(
        factory=frozenset, init=False, repr=False, eq=False, alias="_nulls"
    )

    @classmethod
    def from_dict(cls: type[M], data: Any) -> M:
        """Build the model from JSON data (raises :class:`cwpro.ModelError` on bad data)."""
        return structure(data, cls)

    def to_dict(self) -> dict[str, Any]:
        """The model as JSON-ready data, wire names and unknown fields included."""
        result: dict[str, Any] = unstructure(self)
        return result
