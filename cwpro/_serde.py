"""JSON in and out: the decoder, the datetime parser and the one converter every model goes through.

Rules every model follows (see :class:`cwpro.models.Model`):

* Wire names differ from Python names (``_id`` -> ``id``, ``createdAt`` -> ``created_at``): a
  field declares its wire name, and any other name it is accepted under, with :func:`wire`.
* Unknown fields are kept (``model.extra``) and written back by ``to_dict()``, so a model
  round-trips a payload it did not fully know: ``unstructure(structure(p, M)) == p``.
* A model built from a payload leaves out again the known fields the payload did not have and
  keeps explicit ``null``s; a model built in code leaves out its ``None`` fields.
* Datetimes are parsed by :func:`parse_datetime` into aware UTC datetimes and written back in
  the API's canonical form ``2024-01-01T00:00:00.000Z``.
* Enums (:class:`OpenEnum`) accept values the SDK does not know yet.
* What ``to_dict()`` returns is JSON: enum values, ISO 8601 strings, finite numbers only
  (``json.dumps(model.to_dict(), allow_nan=False)`` always works).

How a model is built: on first use the converter generates one function per model class
(:func:`_generate_builder`) that reads each wire field, checks or converts it with the
converter's hook for the field's type (common cases inlined) and fills the new instance's
``__dict__`` in one step. The payload itself is kept by reference (``_wire``): unknown fields
and absent fields are worked out from it only when asked for. Structuring failures raise
:class:`~cwpro.ModelError` naming the model and the field; no ``KeyError``/``TypeError`` escapes.
"""

from __future__ import annotations

import datetime as _dt
import enum
import json
import re
import sys
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, TypeVar

import attrs
import cattrs

from ._errors import ModelError

__all__ = [
    "ModelError",
    "OpenEnum",
    "converter",
    "format_datetime",
    "json_type",
    "loads",
    "parse_datetime",
    "structure",
    "unknown_fields",
    "unstructure",
    "wire",
]

T = TypeVar("T")


#: How many values an :class:`OpenEnum` remembers (members included); beyond, unknown values
#: still work but give a new pseudo-member each time (equal, not identical).
_OPEN_ENUM_CACHE = 256


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
        if len(cls._value2member_map_) < _OPEN_ENUM_CACHE:  # bounded: values come from outside
            cls._value2member_map_[value] = member
        return member

    @property
    def known(self) -> bool:
        """True for the values this SDK version declares."""
        return self._name_ in type(self).__members__

    def __str__(self) -> str:
        return str(self.value)


def wire(name: str, *aliases: str, **kwargs: Any) -> Any:
    """An ``attrs.field`` whose JSON name is ``name`` (e.g. ``id: str = wire("_id")``).

    ``aliases`` are other names the field is read from when ``name`` is absent (first present
    wins); ``to_dict()`` writes the field back under the name it was read from.
    """
    metadata = dict(kwargs.pop("metadata", {}) or {})
    metadata["wire"] = name
    if aliases:
        metadata["wire_aliases"] = aliases
    return attrs.field(metadata=metadata, **kwargs)


# -- JSON ----------------------------------------------------------------------------------------
def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if value - value:  # inf - inf is NaN, which is truthy; finite - finite is 0.0
        raise ValueError(f"{text[:32]} is out of the range of a JSON number")
    return value


_JSON_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def _json_loads(body: bytes) -> Any:
    # What json.loads(body, parse_constant=..., parse_float=...) does, with the decoder built
    # once instead of per call (the same encoding detection: UTF-8/16/32, a UTF-8 BOM skipped).
    if isinstance(body, str):
        if body.startswith("\ufeff"):
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", body, 0)
        return _JSON_DECODER.decode(body)
    return _JSON_DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))


try:  # optional speed-up: ``pip install cwpro[speed]``; orjson itself rejects NaN/Infinity/1e400
    import orjson

    _decode: Callable[[bytes], Any] = orjson.loads
except ImportError:  # pragma: no cover - depends on the environment
    _decode = _json_loads


def loads(body: bytes) -> Any:
    """Decode a JSON body (orjson when installed, else ``json``); raises ``ValueError`` if invalid.

    Strict JSON only: ``NaN``, ``Infinity``, ``-Infinity`` and numbers beyond a double (``1e400``)
    are refused, so whatever decodes can be written back as JSON. With orjson, integers beyond
    64 bits decode as floats (orjson's rule; ``json`` keeps them exact). Every failure (bad
    syntax, bad UTF-8, nesting too deep, an integer over Python's digit limit) is a
    ``ValueError`` whose message quotes nothing from the body and which chains no decoder
    exception (those keep the whole body, which may hold a credential).
    """
    try:
        return _decode(body)
    except RecursionError:
        problem = "nesting too deep"
    except ValueError as exc:  # JSONDecodeError (json and orjson), UnicodeDecodeError, digits
        problem = _problem(exc)
    raise ValueError(f"not valid JSON: {problem}")


def _problem(exc: ValueError) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 at byte {exc.start}"
    if isinstance(exc, json.JSONDecodeError):  # orjson's error derives from it too
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"[:200]
    return str(exc)[:200]


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type with its article, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


# -- datetimes -----------------------------------------------------------------------------------
_UTC = _dt.timezone.utc
#: ``datetime.fromisoformat`` reads a trailing ``Z`` (and more of ISO 8601) from Python 3.11 on.
_FAST_ISO = sys.version_info >= (3, 11)
_fromisoformat = _dt.datetime.fromisoformat
_ISO_DATETIME = re.compile(
    r"""
    (?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})
    (?:[Tt\x20]
        (?P<hour>\d{2}):(?P<minute>\d{2})
        (?::(?P<second>\d{2})(?:[.,](?P<fraction>\d{1,9}))?)?
        (?P<tz>[Zz]|(?P<sign>[+-])(?P<oh>\d{2})(?::?(?P<om>\d{2}))?)?
    )?
    """,
    re.VERBOSE | re.ASCII,
)


def parse_datetime(value: Any) -> _dt.datetime:
    """Parse a date-time from JSON into an aware UTC datetime; ``ValueError`` when it is not one.

    Accepts ISO 8601 strings (``T``/``t``/space between date and time, optional seconds, 1 to 9
    fraction digits cut to microseconds, ``Z``/``z``, ``+HH:MM``/``+HHMM``/``+HH`` offsets, a
    date alone meaning midnight; no offset means UTC), numbers of seconds or, above 1e11,
    milliseconds since the epoch, and ``datetime`` objects. The one date-time parser of cwpro:
    models and webhook events both use it.
    """
    if type(value) is str:
        if _FAST_ISO and value[-1:] == "Z":
            # The API's own form (``2024-01-01T00:00:00.000Z``): read by C code, always UTC.
            try:
                result = _fromisoformat(value)
            except ValueError:
                pass
            else:
                if result.tzinfo is _UTC:
                    return result
        return _parse_iso(value)
    if isinstance(value, _dt.datetime):
        return _utc(value if value.tzinfo is not None else value.replace(tzinfo=_UTC))
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"expected a date-time, got {json_type(value)}")
    if isinstance(value, str):  # a str subclass
        return _parse_iso(str(value))
    seconds = value / 1000 if abs(value) > 1e11 else value  # milliseconds since the epoch
    try:
        return _dt.datetime.fromtimestamp(seconds, tz=_UTC)
    except (OverflowError, OSError, ValueError):  # beyond the platform's time_t, or NaN
        raise ValueError(f"epoch time out of range: {value!r}") from None


def _parse_iso(value: str) -> _dt.datetime:
    match = _ISO_DATETIME.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"not an ISO 8601 date-time: {value[:40]!r}")
    part = match.group
    tz: _dt.tzinfo = _UTC
    try:
        if part("sign"):
            hours, minutes = int(part("oh")), int(part("om") or 0)
            if hours > 23 or minutes > 59:
                raise ValueError("offset out of range")
            sign = -1 if part("sign") == "-" else 1
            tz = _dt.timezone(sign * _dt.timedelta(hours=hours, minutes=minutes))
        result = _dt.datetime(
            int(part("year")),
            int(part("month")),
            int(part("day")),
            int(part("hour") or 0),
            int(part("minute") or 0),
            int(part("second") or 0),
            int((part("fraction") or "").ljust(6, "0")[:6]),
            tzinfo=tz,
        )
    except ValueError:
        raise ValueError(f"not a valid date-time: {value[:40]!r}") from None
    return result if tz is _UTC else _utc(result)


def _utc(value: _dt.datetime) -> _dt.datetime:
    try:
        return value.astimezone(_UTC)
    except OverflowError:
        raise ValueError(f"date-time out of range in UTC: {value.isoformat()}") from None


def format_datetime(value: _dt.datetime | _dt.date) -> str:
    """The API's canonical form: ``2024-01-01T00:00:00.000Z`` (UTC, milliseconds)."""
    if not isinstance(value, _dt.datetime):
        return value.isoformat()
    if value.tzinfo is None:
        value = value.replace(tzinfo=_UTC)
    value = _utc(value)
    micro = value.microsecond
    fraction = f"{micro:06d}" if micro % 1000 else f"{micro // 1000:03d}"
    # Not strftime: its %Y writes years before 1000 without leading zeros on glibc.
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}T"
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{fraction}Z"
    )


# -- field hooks (strict: cattrs' defaults would turn {} into "{}" and 1.5 into 1) -------------
Hook = Callable[[Any, Any], Any]


def _structure_datetime(value: Any, _: Any) -> _dt.datetime:
    return parse_datetime(value)


def _structure_str(value: Any, _: Any) -> str:
    # Ids and text: accept numbers (ids are strings on the wire, but be lenient), reject others.
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and not value - value:
        return str(value)
    raise ValueError(f"expected a string, got {json_type(value)}")


def _structure_bool(value: Any, _: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"expected a boolean, got {json_type(value)}")


def _structure_int(value: Any, _: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError(f"expected an integer, got {json_type(value)}")


def _structure_float(value: Any, _: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        result = float(value)
        if not result - result:
            return result
        raise ValueError(f"{value!r} is not a JSON number")
    raise ValueError(f"expected a number, got {json_type(value)}")


def _structure_any(value: Any, _: Any) -> Any:
    return value


def _structure_enum(value: Any, cls: type[enum.Enum]) -> Any:
    if type(value) is str:
        # What ``cls(value)`` looks up first, without the metaclass call around it.
        member = cls._value2member_map_.get(value)
        if member is not None:
            return member
    elif issubclass(cls, str):
        raise ValueError(f"expected a string, got {json_type(value)}")
    try:
        return cls(value)
    except (ValueError, TypeError):
        raise ValueError(f"{str(value)[:40]!r} is not a valid {cls.__name__}") from None


def _is_list(t: Any) -> bool:
    return typing.get_origin(t) is list


def _list_structure_factory(t: Any, conv: cattrs.Converter) -> Hook:
    (item_type,) = typing.get_args(t) or (Any,)
    item_hook = _LazyHook(conv, item_type)

    def structure_list(value: Any, _: Any) -> list[Any]:
        if not isinstance(value, list):
            raise ValueError(f"expected an array, got {json_type(value)}")
        hook = item_hook.hook
        return [hook(item, item_type) for item in value]

    return structure_list


def _is_mapping(t: Any) -> bool:
    return typing.get_origin(t) in (dict, Mapping)


def _mapping_structure_factory(t: Any, conv: cattrs.Converter) -> Hook:
    key_type, value_type = typing.get_args(t) or (str, Any)
    if key_type is not str:
        raise TypeError(f"model mappings have string keys (JSON objects), not {key_type!r}")
    value_hook = _LazyHook(conv, value_type)

    def structure_mapping(value: Any, _: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise ValueError(f"expected an object, got {json_type(value)}")
        hook = value_hook.hook
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"object keys must be strings, not {type(key).__name__}")
            out[key] = hook(item, value_type)
        return out

    return structure_mapping


_NoneType = type(None)
_UNION_ORIGINS = (typing.Union, getattr(types, "UnionType", typing.Union))


def _optional_of(t: Any) -> Any:
    """``X`` for ``X | None`` (``None`` for any other type)."""
    args = typing.get_args(t)
    if typing.get_origin(t) in _UNION_ORIGINS and len(args) == 2 and _NoneType in args:
        return args[0] if args[1] is _NoneType else args[1]
    return None


def _optional_structure_factory(t: Any, conv: cattrs.Converter) -> Hook:
    inner = _optional_of(t)
    inner_hook = _LazyHook(conv, inner)

    def structure_optional(value: Any, _: Any) -> Any:
        return None if value is None else inner_hook.hook(value, inner)

    return structure_optional


class _LazyHook:
    """A converter hook looked up on first use: recursive models work, and dispatch happens once."""

    __slots__ = ("_conv", "_hook", "_type")

    def __init__(self, conv: cattrs.Converter, t: Any) -> None:
        self._conv, self._type = conv, t
        self._hook: Hook | None = None

    @property
    def hook(self) -> Hook:
        hook = self._hook
        if hook is None:
            hook = self._hook = self._conv.get_structure_hook(self._type)
        return hook

    def __call__(self, value: Any, t: Any) -> Any:
        return self.hook(value, t)


# -- models --------------------------------------------------------------------------------------
def _is_model(cls: Any) -> bool:
    return isinstance(cls, type) and attrs.has(cls) and hasattr(cls, "__cwpro_model__")


class _Field(NamedTuple):
    name: str
    wire: tuple[str, ...]
    type: Any
    default: Any
    converter: Callable[[Any], Any] | None


class _Plan(NamedTuple):
    fields: tuple[_Field, ...]
    known: frozenset[str]


def _plan(cls: type) -> _Plan:
    """The fields of a model class with their wire names (worked out once per class)."""
    plan: _Plan | None = cls.__dict__.get("__cwpro_plan__")
    if plan is None:
        plan = _make_plan(cls)
        type.__setattr__(cls, "__cwpro_plan__", plan)
    return plan


def _make_plan(cls: type) -> _Plan:
    """The fields of a model class with their wire names; ``TypeError`` for a class the
    builder cannot build exactly as ``__init__`` would."""
    if "__slots__" in cls.__dict__:
        raise TypeError(f"{cls.__qualname__}: models are dict classes (attrs slots=False)")
    if hasattr(cls, "__attrs_post_init__") or hasattr(cls, "__attrs_pre_init__"):
        raise TypeError(f"{cls.__qualname__}: models have no __attrs_pre/post_init__")
    if getattr(cls, "__parameters__", ()):
        raise TypeError(f"{cls.__qualname__}: generic models are not supported")
    attrs.resolve_types(cls)
    fields = []
    for a in attrs.fields(cls):
        takes_self = getattr(a.default, "takes_self", False)
        if not a.init or a.validator is not None or takes_self:
            raise TypeError(
                f"{cls.__qualname__}.{a.name}: model fields are init fields without "
                "validators or self-taking defaults"
            )
        if a.converter is not None and not isinstance(a.converter, types.FunctionType):
            raise TypeError(f"{cls.__qualname__}.{a.name}: converters must be plain functions")
        names = (a.metadata.get("wire", a.name), *a.metadata.get("wire_aliases", ()))
        fields.append(_Field(a.name, names, a.type, a.default, a.converter))
    known = frozenset(name for f in fields for name in f.wire)
    return _Plan(tuple(fields), known)


_MISSING = object()
_FACTORY: Any = type(attrs.Factory(list))


def _value_code(var: str, t: Any, conv: cattrs.Converter, scope: dict[str, Any]) -> list[str]:
    """Lines (at function level) that turn the raw value in ``var`` into a ``t``, in place.

    Every case calls the converter's hook for ``t`` whenever the inlined check does not pass,
    so the result is what the hook returns; the inlined checks only skip the call when the hook
    would return its input unchanged (a ``str`` for ``str``, an ``int`` for ``int``, ...).
    """
    inner = _optional_of(t)
    if inner is not None:
        body = _value_code(var, inner, conv, scope)
        return [f"if {var} is not None:", *(f"    {line}" for line in body)] if body else []
    key = f"_{len(scope)}"
    scope[f"t{key}"] = t
    # A model that contains itself: its builder does not exist yet.
    hook: Any = _LazyHook(conv, t) if t in _GENERATING else conv.get_structure_hook(t)
    scope[f"h{key}"] = hook
    call = f"{var} = h{key}({var}, t{key})"
    if hook is _structure_datetime:
        # parse_datetime's own fast path, inlined: the API's form is read by C code alone.
        scope.update(_parse_datetime=parse_datetime, _fromiso=_fromisoformat, _UTC=_UTC)
        return [
            f"if type({var}) is str and {var}[-1:] == 'Z':",
            "    try:",
            f"        w = _fromiso({var})",
            "    except ValueError:",
            "        w = None",
            f"    {var} = w if w is not None and w.tzinfo is _UTC else _parse_datetime({var})",
            "else:",
            f"    {var} = _parse_datetime({var})",
        ]
    for exact, plain in ((_structure_str, str), (_structure_int, int), (_structure_bool, bool)):
        if hook is exact:
            scope[f"c{key}"] = plain
            return [f"if type({var}) is not c{key}:", f"    {call}"]
    if hook is _structure_float:
        return [f"if type({var}) is not float or {var} - {var}:", f"    {call}"]
    if hook is _structure_enum:
        scope[f"m{key}"] = t._value2member_map_  # filled in place as pseudo-members appear
        return [
            f"w = m{key}.get({var}) if type({var}) is str else None",
            f"{var} = h{key}({var}, t{key}) if w is None else w",
        ]
    if hook is _structure_any:
        return []
    if (
        _is_list(t)
        and typing.get_args(t)
        and conv.get_structure_hook(t.__args__[0]) is _structure_str
    ):
        # A list of strings is kept as it came (the payload is the model's now), checked only.
        return [
            f"if type({var}) is not list:",
            f"    {call}",
            "else:",
            f"    for x in {var}:",
            "        if type(x) is not str:",
            f"            {call}",
            "            break",
        ]
    return [call]


#: Model classes whose builder is being generated (see :func:`_value_code`).
_GENERATING: set[type] = set()


def _generate_builder(cls: type, conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
    """Compile ``build(payload, _)`` for a model class: the one way models are built.

    For each field in declaration order: read the first of its wire names present (a missing
    required field is an error), convert the value (see :func:`_value_code`), apply the field's
    converter; then create the instance and set its whole ``__dict__`` at once, payload
    included. The result equals ``cls(**values)`` (models have no validators or post-init).
    """
    plan = _plan(cls)
    name = cls.__qualname__
    scope: dict[str, Any] = {
        "_new": object.__new__,
        "_set": object.__setattr__,
        "_cls": cls,
        "_Mapping": Mapping,
        "_MISSING": _MISSING,
        "_fail": _fail,
        "_not_object": _not_object,
        "_missing": _missing,
    }
    lines = [
        "def build(o, _=None):",
        "    if type(o) is not dict and not isinstance(o, _Mapping):",
        "        _not_object(_cls, o)",
        "    get = o.get",
    ]
    for i, f in enumerate(plan.fields):
        v = f"v{i}"
        # ``X | None = None``: absent and null give the same value, so one ``get`` reads both.
        default_none = f.default is None and _optional_of(f.type) is not None
        first, *others = f.wire
        if default_none:
            lines.append(f"    {v} = get({first!r})")
            for other in others:
                lines += [f"    if {v} is None:", f"        {v} = get({other!r})"]
        else:
            lines.append(f"    {v} = get({first!r}, _MISSING)")
            for other in others:
                lines += [f"    if {v} is _MISSING:", f"        {v} = get({other!r}, _MISSING)"]
        _GENERATING.add(cls)
        try:
            convert = _value_code(v, f.type, conv, scope)
        finally:
            _GENERATING.discard(cls)
        if f.converter is not None:
            scope[f"conv{i}"] = f.converter
            convert.append(f"{v} = conv{i}({v})")
        body = ["    try:", *(f"        {line}" for line in convert or ["pass"])]
        body += ["    except Exception as exc:", f"        _fail(_cls, {f.name!r}, exc)"]
        if default_none:
            lines += body
            continue
        if f.default is attrs.NOTHING:
            lines += [f"    if {v} is _MISSING:", f"        _missing(_cls, {f.wire!r})"]
        else:
            if isinstance(f.default, _FACTORY):
                scope[f"f{i}"] = f.default.factory
                default = f"f{i}()"
            else:
                scope[f"d{i}"] = f.default
                default = f"d{i}"
            if f.converter is not None:
                default = f"conv{i}({default})"
            lines += [f"    if {v} is _MISSING:", f"        {v} = {default}", "    else:"]
            body = [f"    {line}" for line in body]
        lines += body
    values = ", ".join(f"{f.name!r}: v{i}" for i, f in enumerate(plan.fields))
    lines += [
        "    instance = _new(_cls)",
        f"    _set(instance, '__dict__', {{{values}, '_wire': o}})",
        "    return instance",
    ]
    source = "\n".join(lines)
    exec(compile(source, f"<cwpro structure {name}>", "exec"), scope)  # noqa: S102
    builder: Callable[[Any, Any], Any] = scope["build"]
    return builder


def _fail(cls: type, field: str, exc: Exception) -> typing.NoReturn:
    if isinstance(exc, ModelError):
        raise ModelError(f"{cls.__name__}.{field}: {exc}") from None
    if isinstance(exc, (ValueError, TypeError, KeyError, AttributeError)):
        raise ModelError(f"{cls.__name__}.{field}: {str(exc)[:200]}") from None
    raise exc


def _not_object(cls: type, payload: Any) -> typing.NoReturn:
    raise ModelError(f"{cls.__name__}: expected a JSON object, got {json_type(payload)}")


def _missing(cls: type, names: tuple[str, ...]) -> typing.NoReturn:
    alternatives = "".join(f" (or {n!r})" for n in names[1:])
    raise ModelError(f"{cls.__name__}: missing required field {names[0]!r}{alternatives}")


def _model_structure_factory(cls: type, conv: cattrs.Converter) -> Hook:
    return _generate_builder(cls, conv)


def unknown_fields(model: Any) -> dict[str, Any]:
    """The fields of the payload ``model`` was built from that its class does not declare."""
    source = model.__dict__.get("_wire")
    if source is None:
        return {}
    known = _plan(type(model)).known
    return {k: v for k, v in source.items() if k not in known}


def absent_fields(model: Any) -> frozenset[str] | None:
    """Names of the fields whose wire names the source payload lacked (``None``: built in code)."""
    state = model.__dict__
    absent: frozenset[str] | None = state.get("_absent")
    if absent is None and "_wire" in state:
        source = state["_wire"]
        fields = _plan(type(model)).fields
        absent = frozenset(f.name for f in fields if not any(n in source for n in f.wire))
    return absent


def _unstructure_model(model: Any) -> dict[str, Any]:
    state = model.__dict__
    source = state.get("_wire")
    absent = absent_fields(model)
    out: dict[str, Any] = {}
    for f in _plan(type(model)).fields:
        if absent is not None and f.name in absent:
            continue
        value = state[f.name]
        if value is None and absent is None:
            continue
        key = f.wire[0]
        if source is not None and len(f.wire) > 1:
            key = next((n for n in f.wire if n in source), key)
        out[key] = None if value is None else _jsonable(value)
    for key, value in model.extra.items():
        if key not in out:
            out[key] = _jsonable(value)
    return out


def _jsonable(value: Any) -> Any:
    """``value`` as JSON data: new containers, enum values, ISO date-times, models as dicts."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        if value - value:
            raise ModelError(f"{value!r} cannot be written as JSON")
        return value
    if kind is dict or isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ModelError(f"JSON object keys are strings, not {type(key).__name__}")
            out[str(key)] = _jsonable(item)
        return out
    if kind is list or isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if isinstance(value, (_dt.datetime, _dt.date)):
        return format_datetime(value)
    if _is_model(kind):
        return _unstructure_model(value)
    if isinstance(value, (str, int, float)):  # subclasses (an enum's mixin type is handled above)
        return _jsonable((str if isinstance(value, str) else float)(value))
    raise ModelError(f"a {kind.__name__} cannot be written as JSON")


def _model_unstructure_factory(cls: type, conv: cattrs.Converter) -> Callable[[Any], Any]:
    return _unstructure_model


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=False, prefer_attrib_converters=False)
    conv.register_unstructure_hook(_dt.datetime, format_datetime)
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
    conv.register_structure_hook_factory(_is_mapping, _mapping_structure_factory)
    conv.register_structure_hook_factory(
        lambda t: _optional_of(t) is not None, _optional_structure_factory
    )
    conv.register_unstructure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, enum.Enum), lambda v: _jsonable(v)
    )
    conv.register_structure_hook_factory(_is_model, _model_structure_factory)
    conv.register_unstructure_hook_factory(_is_model, _model_unstructure_factory)
    return conv


#: The single converter every model goes through (``converter.get_structure_hook(M)`` is the
#: fastest way to build many models of one class: ``hook(item, M)``).
converter: cattrs.Converter = _make_converter()


def structure(data: Any, cls: type[T]) -> T:
    """Build a model of type ``cls`` from JSON data; raises :class:`ModelError` when it cannot.

    The model keeps ``data`` (for its unknown fields): do not change ``data`` afterwards.
    """
    try:
        return converter.structure(data, cls)
    except ModelError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, cattrs.BaseValidationError) as exc:
        raise ModelError(f"{getattr(cls, '__name__', cls)}: {str(exc)[:200]}") from None


def unstructure(obj: Any) -> Any:
    """Turn a model (or a list/dict of models) into JSON data; :class:`ModelError` if it holds
    something JSON cannot carry (NaN, infinity, an arbitrary object in ``extra``)."""
    return _jsonable(obj)
