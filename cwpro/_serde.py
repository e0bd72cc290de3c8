"""The one cattrs converter, and the rules that make models safe to round-trip.

Rules every model follows (see :class:`cwpro.models.Model`):

* Wire names differ from Python names (``_id`` -> ``id``, ``createdAt`` -> ``created_at``): a
  field declares its wire name with ``metadata={"wire": "_id"}`` (use :func:`wire`).
* Unknown fields are kept in ``model.extra`` and written back by :func:`unstructure`, so a model
  round-trips a payload it did not fully know: ``unstructure(structure(p, M)) == p``.
* A model built from a payload remembers which known fields the payload did not have
  (``model._absent``) and leaves them out again, keeping explicit ``null``s; a model built in
  code leaves out its ``None`` fields. So request bodies built from models only carry the
  fields the caller set, and fetched models round-trip exactly.
* Datetimes are parsed into aware :class:`datetime` (naive -> UTC) and written back in the API's
  canonical form ``2024-01-01T00:00:00.000Z``.
* Enums (:class:`OpenEnum`) accept values the SDK does not know yet.

Structuring failures raise :class:`ModelError` (a :class:`~cwpro.CwproError` and ``ValueError``)
naming the model and the field; no ``KeyError``/``TypeError`` escapes.
"""

from __future__ import annotations

import datetime as _dt
import enum
import sys
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from ._errors import ModelError

__all__ = [
    "ModelError",
    "OpenEnum",
    "converter",
    "format_datetime",
    "parse_datetime",
    "structure",
    "unstructure",
    "wire",
]

T = TypeVar("T")


class OpenEnum(str, enum.Enum):
    """A string enum that also accepts values it does not list (the API adds values).

    ``LinkType("mystery")`` returns a pseudo-member whose ``value`` is ``"mystery"``; it compares
    equal to the string and round-trips unchanged. ``member.known`` tells the two apart.
    """

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = value.upper()
        member._value_ = value
        cls._value2member_map_[value] = member
        return member

    @property
    def known(self) -> bool:
        """True for the values this SDK version declares."""
        return self._name_ in type(self).__members__

    def __str__(self) -> str:
        return str(self.value)


def wire(name: str, **kwargs: Any) -> Any:
    """An ``attrs.field`` whose JSON name is ``name`` (e.g. ``id: str = wire("_id")``)."""
    metadata = dict(kwargs.pop("metadata", {}) or {})
    metadata["wire"] = name
    return attrs.field(metadata=metadata, **kwargs)


#: ``datetime.fromisoformat`` accepts a trailing ``Z`` (UTC) from Python 3.11 on.
_FROMISOFORMAT_TAKES_Z = sys.version_info >= (3, 11)


def parse_datetime(value: Any) -> _dt.datetime:
    """Parse ISO 8601 (``Z``, offsets, fractions) or an epoch number into an aware datetime."""
    if _FROMISOFORMAT_TAKES_Z and type(value) is str and value.endswith("Z"):
        # Fast path for the API's own form (``2024-01-01T00:00:00.000Z``): Python >= 3.11 reads
        # the ``Z`` itself. Whatever it rejects goes through the general path below.
        try:
            result = _dt.datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if result.tzinfo is not None:
                return result
    if isinstance(value, _dt.datetime):
        result = value
    elif isinstance(value, bool):
        raise ValueError(f"not a date-time: {value!r}")
    elif isinstance(value, (int, float)):
        seconds = value / 1000 if abs(value) > 1e11 else value  # milliseconds since the epoch
        try:
            return _dt.datetime.fromtimestamp(seconds, tz=_dt.timezone.utc)
        except (OverflowError, OSError) as exc:  # beyond the platform's time_t
            raise ValueError(f"epoch time out of range: {value!r}") from exc
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            result = _dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"not an ISO 8601 date-time: {value[:64]!r}") from None
    else:
        raise ValueError(f"not a date-time: {type(value).__name__}")
    if result.tzinfo is None:
        result = result.replace(tzinfo=_dt.timezone.utc)
    elif result.year in (1, 9999):  # an offset may push it out of what UTC can hold
        _utc(result)
    return result


def _utc(value: _dt.datetime) -> _dt.datetime:
    try:
        return value.astimezone(_dt.timezone.utc)
    except OverflowError:
        raise ValueError(f"date-time out of range in UTC: {value.isoformat()}") from None


def format_datetime(value: _dt.datetime | _dt.date) -> str:
    """The API's canonical form: ``2024-01-01T00:00:00.000Z`` (UTC, milliseconds)."""
    if not isinstance(value, _dt.datetime):
        return value.isoformat()
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.timezone.utc)
    value = _utc(value)
    if value.microsecond % 1000:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _structure_datetime(value: Any, _: Any) -> _dt.datetime:
    return parse_datetime(value)


def _structure_str(value: Any, _: Any) -> str:
    # Ids and text: accept numbers (ids are strings on the wire, but be lenient), reject others.
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"expected a string, got {type(value).__name__}")


def _structure_bool(value: Any, _: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"expected a boolean, got {type(value).__name__}")


def _structure_int(value: Any, _: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError(f"expected an integer, got {type(value).__name__}")


def _structure_float(value: Any, _: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise ValueError(f"expected a number, got {type(value).__name__}")


def _structure_any(value: Any, _: Any) -> Any:
    return value


def _structure_enum(value: Any, cls: type[enum.Enum]) -> Any:
    if type(value) is str:
        # What ``cls(value)`` looks up first, without the metaclass call around it.
        member = cls._value2member_map_.get(value)
        if member is not None:
            return member
    try:
        return cls(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a valid {cls.__name__}") from None


def _is_list(t: Any) -> bool:
    return typing.get_origin(t) is list


# The list and Optional hooks below look the inner type's hook up once (on first use, so that
# recursive models still work) instead of dispatching on it for every value, as cattrs' own
# Optional hook and a per-item ``conv.structure`` do. Same hooks, same results, less work.
Hook = Callable[[Any, Any], Any]


def _list_structure_factory(t: Any, conv: cattrs.Converter) -> Hook:
    (item_type,) = typing.get_args(t) or (Any,)
    item_hook: Hook | None = None

    def structure_list(value: Any, _: Any) -> list[Any]:
        nonlocal item_hook
        if not isinstance(value, list):
            raise ValueError(f"expected a JSON array, got {type(value).__name__}")
        if item_hook is None:
            item_hook = conv.get_structure_hook(item_type)
        hook = item_hook
        return [hook(item, item_type) for item in value]

    return structure_list


_NoneType = type(None)
_UNION_ORIGINS = (typing.Union, getattr(types, "UnionType", typing.Union))


def _is_optional(t: Any) -> bool:
    args = typing.get_args(t)
    return typing.get_origin(t) in _UNION_ORIGINS and len(args) == 2 and _NoneType in args


def _optional_structure_factory(t: Any, conv: cattrs.Converter) -> Hook:
    (inner,) = [arg for arg in typing.get_args(t) if arg is not _NoneType]
    inner_hook: Hook | None = None

    def structure_optional(value: Any, _: Any) -> Any:
        nonlocal inner_hook
        if value is None:
            return None
        if inner_hook is None:
            inner_hook = conv.get_structure_hook(inner)
        return inner_hook(value, inner)

    structure_optional.optional_of = inner  # type: ignore[attr-defined]  # see _value_code
    return structure_optional


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=False, prefer_attrib_converters=False)
    conv.register_unstructure_hook(_dt.datetime, format_datetime)
    # Strict primitives: cattrs' defaults would turn {} into "{}" and 1.5 into 1.
    conv.register_structure_hook(_dt.datetime, _structure_datetime)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(float, _structure_float)
    conv.register_structure_hook(enum.Enum, _structure_enum)
    # str-based enums: singledispatch follows the MRO, so OpenEnum must win over str.
    conv.register_structure_hook(OpenEnum, _structure_enum)
    conv.register_structure_hook_func(lambda t: t is Any, _structure_any)
    conv.register_structure_hook_factory(_is_list, _list_structure_factory)
    conv.register_structure_hook_factory(_is_optional, _optional_structure_factory)
    conv.register_unstructure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, enum.Enum), lambda v: v.value
    )
    conv.register_structure_hook_factory(_is_model, _model_structure_factory)
    conv.register_unstructure_hook_factory(_is_model, _model_unstructure_factory)
    return conv


def _is_model(cls: Any) -> bool:
    return isinstance(cls, type) and attrs.has(cls) and hasattr(cls, "__cwpro_model__")


def _public_fields(cls: type) -> list[attrs.Attribute[Any]]:
    return [a for a in attrs.fields(cls) if a.name not in ("extra", "_absent") and a.init]


def _model_structure_factory(cls: type, conv: cattrs.Converter) -> Any:
    fields = _public_fields(cls)
    known = frozenset(a.metadata.get("wire", a.name) for a in fields)
    name = cls.__name__
    build: Callable[[Any], Any] | None = None
    if not _is_plain(cls):
        base = _cattrs_structure_fn(cls, conv, fields)

        def build_with_cattrs(payload: Any) -> Any:
            instance = base(payload, cls)
            extra = {k: v for k, v in payload.items() if k not in known}
            object.__setattr__(instance, "extra", extra)
            object.__setattr__(instance, "_absent", known.difference(payload))
            return instance

        build = build_with_cattrs

    def structure_model(payload: Any, _: Any) -> Any:
        nonlocal build
        if not isinstance(payload, Mapping):
            raise ModelError(f"{name}: expected a JSON object, got {type(payload).__name__}")
        if build is None:  # generated on first use: field hooks of recursive models exist by then
            build = _generate_builder(cls, conv, fields, known)
        try:
            return build(payload)
        except ModelError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError, cattrs.BaseValidationError) as exc:
            raise ModelError(f"{name}: {_describe(exc)}") from None

    return structure_model


def _cattrs_structure_fn(
    cls: type, conv: cattrs.Converter, fields: list[attrs.Attribute[Any]]
) -> Callable[[Any, Any], Any]:
    overrides = {a.name: override(rename=a.metadata.get("wire", a.name)) for a in fields}
    overrides["extra"] = override(omit=True)
    overrides["_absent"] = override(omit=True)
    base: Callable[[Any, Any], Any] = make_dict_structure_fn(
        cls,
        conv,
        _cattrs_detailed_validation=False,
        **overrides,  # type: ignore[arg-type]
    )
    return base


_FACTORY: Any = type(attrs.Factory(list))


def _is_plain(cls: type) -> bool:
    """True when building ``cls`` needs nothing but its fields' values and defaults.

    No validators, converters, ``__attrs_pre_init__``/``__attrs_post_init__``, self-taking
    factories, cached hash or generic parameters, and no ``init=False`` fields but ``extra`` and
    ``_absent``: then setting every attribute directly is exactly what ``__init__`` would do.
    """
    if getattr(cls, "__parameters__", ()) or "__attrs_cached_hash" in str(
        getattr(cls, "__slots__", ())
    ):
        return False
    if hasattr(cls, "__attrs_post_init__") or hasattr(cls, "__attrs_pre_init__"):
        return False
    for a in attrs.fields(cls):
        if a.validator is not None or a.converter is not None:
            return False
        if not a.init and a.name not in ("extra", "_absent"):
            return False
        if isinstance(a.default, _FACTORY) and a.default.takes_self:
            return False
    return True


def _value_code(
    var: str, suffix: str, t: Any, conv: cattrs.Converter, scope: dict[str, Any]
) -> list[str]:
    """Lines (indented once) that turn the raw value in ``var`` into a ``t``, in place.

    Calls the converter's hook for ``t``; two hooks are inlined where that is exact: the
    Optional hook (``None`` passes, anything else goes to the inner type's hook) and the
    ``str`` hook (a ``str`` is returned as it is).
    """
    hook = conv.get_structure_hook(t)
    inner = getattr(hook, "optional_of", None)
    if inner is not None:
        body = _value_code(var, suffix, inner, conv, scope)
        return [f"    if {var} is not None:", *(f"    {line}" for line in body)]
    scope[f"h{suffix}"] = hook
    scope[f"t{suffix}"] = t
    call = f"{var} = h{suffix}({var}, t{suffix})"
    if hook is _structure_str:
        return [f"    if type({var}) is not str:", f"        {call}"]
    return [f"    {call}"]


def _generate_builder(
    cls: type,
    conv: cattrs.Converter,
    fields: list[attrs.Attribute[Any]],
    known: frozenset[str],
) -> Callable[[Any], Any]:
    """Compile ``build(payload)`` for a plain model (see :func:`_is_plain`).

    It does what the cattrs-generated function plus the model's ``__init__`` did, in the same
    order (fields with defaults in declaration order, then required ones, so the first bad
    field reported is the same), with the same hooks, but without the intermediate keyword
    dict and the ``__init__`` call: the attributes are set directly on a new instance.
    """
    attrs.resolve_types(cls)
    types = {a.name: a.type for a in attrs.fields(cls)}
    scope: dict[str, Any] = {
        "_new": object.__new__,
        "_set": object.__setattr__,
        "_cls": cls,
        "_known": known,
    }
    lines = ["def build(o):"]
    required = []
    for i, a in enumerate(fields):
        wire_name = a.metadata.get("wire", a.name)
        key = repr(wire_name)
        convert = _value_code(f"v{i}", f"{i}", types[a.name], conv, scope)
        if a.default is attrs.NOTHING:
            required.append([f"    v{i} = o[{key}]", *convert])
            continue
        if isinstance(a.default, _FACTORY):
            scope[f"f{i}"] = a.default.factory
            default = f"f{i}()"
        else:
            scope[f"d{i}"] = a.default
            default = f"d{i}"
        lines += [f"    if {key} in o:", f"        v{i} = o[{key}]"]
        lines += [f"    {line}" for line in convert]
        lines += ["    else:", f"        v{i} = {default}"]
    for block in required:
        lines += block
    lines += [
        "    instance = _new(_cls)",
        "    _set(instance, 'extra', {k: v for k, v in o.items() if k not in _known})",
        "    _set(instance, '_absent', _known.difference(o))",
        *(f"    _set(instance, {a.name!r}, v{i})" for i, a in enumerate(fields)),
        "    return instance",
    ]
    source = "\n".join(lines)
    exec(compile(source, f"<cwpro structure {cls.__qualname__}>", "exec"), scope)  # noqa: S102
    builder: Callable[[Any], Any] = scope["build"]
    return builder


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"missing required field {exc.args[0]!r}"
    if isinstance(exc, cattrs.BaseValidationError):
        return "; ".join(_describe(e) for e in exc.exceptions) or str(exc)
    return str(exc)[:200]


def _model_unstructure_factory(cls: type, conv: cattrs.Converter) -> Any:
    fields = _public_fields(cls)
    plan = [(a.name, a.metadata.get("wire", a.name)) for a in fields]

    def unstructure_model(instance: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        absent = instance._absent
        structured = absent is not None
        for py_name, wire_name in plan:
            if structured and wire_name in absent:
                continue
            value = getattr(instance, py_name)
            if value is None and not structured:
                continue
            out[wire_name] = None if value is None else conv.unstructure(value)
        if instance.extra:
            for key, value in instance.extra.items():
                out.setdefault(key, value)
        return out

    return unstructure_model


#: The single converter every model goes through.
converter: cattrs.Converter = _make_converter()


def structure(data: Any, cls: type[T]) -> T:
    """Build a model of type ``cls`` from JSON data; raises :class:`ModelError` when it cannot."""
    try:
        return converter.structure(data, cls)
    except ModelError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, cattrs.BaseValidationError) as exc:
        raise ModelError(f"{getattr(cls, '__name__', cls)}: {_describe(exc)}") from None


def unstructure(obj: Any) -> Any:
    """Turn a model (or list/dict of models) back into JSON-ready data."""
    return converter.unstructure(obj)
