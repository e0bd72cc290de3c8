"""The strict ``json`` decoder (the default install's path) behaves as ``json.loads`` with the
same hooks, for any body: same value, or an error of the same type."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cwpro import _serde

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=20,
)
BODIES = st.one_of(
    st.binary(max_size=40),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    JSON_VALUES.map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-16")),
    JSON_VALUES.map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-32-le")),
    JSON_VALUES.map(lambda v: b"\xef\xbb\xbf" + json.dumps(v).encode()),
    st.sampled_from([b"NaN", b"[Infinity]", b"-Infinity", b"1e400", b'"\\ud800"', b""]),
)


def _outcome(decode: Any, body: bytes | str) -> tuple[str, Any]:
    try:
        return ("value", decode(body))
    except Exception as exc:  # the type is what is compared
        return ("error", type(exc))


def _reference(body: bytes | str) -> Any:
    return json.loads(
        body, parse_constant=_serde._reject_constant, parse_float=_serde._finite_float
    )


@settings(max_examples=500)
@given(BODIES)
def test_strict_decoder_matches_json_loads_with_the_same_hooks(body: bytes) -> None:
    assert _outcome(_serde._json_loads, body) == _outcome(_reference, body)


@given(JSON_VALUES.map(json.dumps))
def test_text_bodies_too(text: str) -> None:
    assert _outcome(_serde._json_loads, text) == _outcome(_reference, text)
    bom = "\ufeff" + text
    assert _outcome(_serde._json_loads, bom) == _outcome(_reference, bom)
