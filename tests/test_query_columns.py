"""``in_`` and ``between`` read their column mappings alike (``cwpro._query._by_column``)."""

from __future__ import annotations

import re

import pytest

from cwpro import InvalidArgumentError
from cwpro._query import build_query


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"in_": ["status"]}, "in_ must be a mapping of column -> values"),
        ({"between": (1, 2)}, "between must be a mapping of column -> (start, end)"),
        ({"in_": {"": [1]}}, "in_: column names must be non-empty strings"),
        ({"between": {"a[b": (1, 2)}}, "between: column names must be non-empty strings"),
        ({"between": {5: (1, 2)}}, "between: column names must be non-empty strings"),
    ],
)
def test_a_column_mapping_is_checked_before_its_values(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=re.escape(message)):
        build_query(options)


def test_columns_are_checked_in_order_with_their_values() -> None:
    # The first column's bad value is reported before the second column's bad name.
    with pytest.raises(InvalidArgumentError, match=re.escape("in_['a'] is empty")):
        build_query({"in_": {"a": [], "b!": [1]}})
    with pytest.raises(InvalidArgumentError, match="between: column names"):
        build_query({"between": {"a": (1, 2), "b!": (1, 2)}})


def test_empty_mappings_add_no_parameter() -> None:
    assert build_query({"in_": {}, "between": {}}) == []
    assert build_query({"in_": {"a": [1, 2]}, "between": {"n": (1, 2)}}) == [
        ("in", "a![1, 2]"),
        ("between", "n![1, 2]"),
    ]
