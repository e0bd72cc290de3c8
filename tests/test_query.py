"""The cursor lists' query language: encoding and validation (no request is ever sent)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cwpro._query import build_query


def test_every_operator_is_encoded() -> None:
    params = build_query(
        {
            "limit": 10,
            "sort_by": "name:desc",
            "filter_by": {"name": "IoT Devices", "priority": "high"},
            "filter_operator": "or",
            "in_": {"status": ["draft", "open"]},
            "between": {"created_date": (dt.date(2024, 1, 1), dt.date(2024, 2, 1))},
        }
    )
    assert params == [
        ("limit", "10"),
        ("sortBy", "name:desc"),
        ("filterBy", '{"name":"IoT Devices","priority":"high"}'),
        ("filterOperator", "or"),
        ("in", "status![draft, open]"),
        ("between", "created_date![2024-01-01, 2024-02-01]"),
    ]


def test_datetimes_are_utc_with_milliseconds() -> None:
    start = dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    end = dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc)
    (param,) = build_query({"between": {"created_date": (start, end)}})
    assert param == ("between", "created_date![2024-01-01T10:00:00.000Z, 2024-01-02T00:00:00.000Z]")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("name", "name:asc"),
        ("-name", "name:desc"),
        (("name", "DESC"), "name:desc"),
        ({"name": "asc"}, "name:asc"),
    ],
)
def test_sort_forms(spec: object, expected: str) -> None:
    assert build_query({"sort_by": spec}) == [("sortBy", expected)]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": True}, "limit"),
        ({"sort_by": "a:desc,b:asc"}, "one column"),
        ({"sort_by": {"a": "asc", "b": "desc"}}, "exactly one column"),
        ({"sort_by": "a:sideways"}, "direction"),
        ({"filter_operator": "xor"}, "filter_operator"),
        ({"filter_by": {}}, "filter_by"),
        ({"filter_by": {"a": object()}}, "filter_by"),
        ({"in_": {"status": []}}, "empty"),
        ({"in_": {"status": "draft"}}, "list of values"),
        ({"in_": {"status": ["a,b"]}}, "cannot contain"),
        ({"between": {"n": (1,)}}, "pair"),
        ({"between": {"n": (5, 1)}}, "after"),
        ({"between": {"n": (1, "x")}}, "same kind"),
        (
            {
                "between": {
                    "d": (dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc))
                }
            },
            "compared",
        ),
        ({"in_": {"bad!col": [1]}}, "column"),
        ({"colour": "red"}, "unknown list option"),
    ],
)
def test_bad_options_raise_clear_value_errors(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_query(options)


@given(
    st.dictionaries(
        st.text(min_size=1).filter(lambda s: "!" not in s and "[" not in s),
        st.one_of(st.integers(), st.text(), st.booleans(), st.none()),
        min_size=1,
    )
)
def test_filter_by_round_trips_through_json(filter_by: dict[str, object]) -> None:
    (param,) = build_query({"filter_by": filter_by})
    assert param[0] == "filterBy"
    assert json.loads(param[1]) == filter_by


@given(st.lists(st.integers(), min_size=1), st.text(alphabet="abcdefghij_", min_size=1))
def test_in_lists_every_value(values: list[int], column: str) -> None:
    (param,) = build_query({"in_": {column: values}})
    assert param == ("in", f"{column}![{', '.join(map(str, values))}]")
