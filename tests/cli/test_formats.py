"""Export formats: JSON lines are ``to_dict()``; CSV round-trips tricky values."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

import cwpro
from cwpro.cli import _formats
from cwpro.cli._formats import Csv, JsonLines, known_fields, make_format

TRICKY_NAME = 'Fix "main" valve, then\nreport; 50% done\r\nline 3'
TRICKY_ITEMS: list[dict[str, Any]] = [
    {
        "_id": "633cf3e1bb4e2453a0497b65",
        "name": TRICKY_NAME,
        "description": 'Ünïcødé — ✓, tab\there, quote " and a trailing comma,',
        "status": "open",
        "priority": "high",
        "site_id": None,
        "work_type_ids": ["a,b", 'c"d'],
        "created_date": "2024-01-02T03:04:05.678Z",
        "notes": 'extra field with , and "quotes"\nand a newline',
        "custom_fields": {"po": "PO-1", "nested": {"list": [1, 2.5, None, True]}},
        "count": 3,
        "flag": False,
    },
    {"_id": "633cf3e1bb4e2453a0497b66", "name": "", "status": "some_new_status"},
    {"_id": "633cf3e1bb4e2453a0497b67", "name": "=SUM(A1:A2)", "description": "   "},
]


def _models() -> list[cwpro.WorkOrder]:
    return [cwpro.WorkOrder.from_dict(item) for item in TRICKY_ITEMS]


def _read_back(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def _decode_cell(cell: str, original: Any) -> Any:
    """Invert ``csv_cell`` knowing the original's type (strings are written as they are)."""
    if isinstance(original, str):
        return cell
    return None if cell == "" else json.loads(cell)


def test_csv_header_is_known_fields_in_declaration_order_then_extra() -> None:
    fmt = Csv(cwpro.WorkOrder)
    header = next(csv.reader(io.StringIO(fmt.header().decode())))
    assert header == [
        "_id",
        "name",
        "description",
        "status",
        "priority",
        "site_id",
        "work_type_ids",
        "work_types",
        "scheduled_date",
        "created_date",
        "updated_date",
        "extra",
    ]
    assert known_fields(cwpro.PortalLink)[-4:] == ["createdAt", "modifiedAt", "SVClient", "__v"]


def test_csv_round_trip_of_commas_newlines_quotes_and_unicode() -> None:
    models = _models()
    fmt = Csv(cwpro.WorkOrder)
    rows = _read_back(fmt.header() + fmt.encode(m.to_dict() for m in models))
    assert len(rows) == len(models)
    for row, model in zip(rows, models, strict=True):
        original = model.to_dict()
        assert list(row) == list(fmt.columns)
        rebuilt: dict[str, Any] = {}
        for column in fmt.fields:
            if column in original:
                rebuilt[column] = _decode_cell(row[column], original[column])
            else:
                assert row[column] == "", column
        if row["extra"]:
            rebuilt.update(json.loads(row["extra"]))
        assert rebuilt == original
    assert rows[0]["name"] == TRICKY_NAME
    assert rows[0]["work_type_ids"] == '["a,b","c\\"d"]'
    assert rows[0]["site_id"] == ""
    assert json.loads(rows[0]["extra"])["custom_fields"]["nested"] == {"list": [1, 2.5, None, True]}
    assert rows[1]["extra"] == "" and rows[1]["status"] == "some_new_status"


def test_csv_rows_are_rfc4180_records() -> None:
    data = Csv(cwpro.WorkOrder).encode(TRICKY_ITEMS[:1])
    assert data.endswith(b"\r\n")
    assert b'"Fix ""main"" valve, then\nreport; 50% done\r\nline 3"' in data


def test_csv_extra_column_never_collides_with_a_known_field() -> None:
    import attrs

    @attrs.frozen(kw_only=True)
    class HasExtra(cwpro.Model):
        id: str = attrs.field(metadata={"wire": "_id"})
        extra_info: str | None = attrs.field(default=None, metadata={"wire": "extra"})

    fmt = Csv(HasExtra)
    assert fmt.columns == ["_id", "extra", "_extra"]


def test_jsonl_lines_are_exactly_the_api_objects() -> None:
    lines = JsonLines().encode(TRICKY_ITEMS).decode("utf-8").split("\n")
    assert lines[-1] == ""
    assert [json.loads(line) for line in lines[:-1]] == TRICKY_ITEMS
    assert [m.to_dict() for m in _models()] == TRICKY_ITEMS
    assert JsonLines().header() == b""


def test_json_lines_agree_with_and_without_orjson() -> None:
    values = [m.to_dict() for m in _models()]
    fast = b"".join(_formats.json_line(v) for v in values)
    stdlib = b"".join(_formats._stdlib_json_line(v) for v in values)
    assert [json.loads(x) for x in fast.splitlines()] == [
        json.loads(x) for x in stdlib.splitlines()
    ]
    assert json.loads(_formats.json_line({"big": 2**70}))["big"] == 2**70  # beyond orjson's ints


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        make_format("xml", cwpro.WorkOrder)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_numbers_json_cannot_represent_are_refused(bad: float) -> None:
    item = {"_id": "633cf3e1bb4e2453a0497b65", "name": "x", "latitude": bad}
    with pytest.raises(cwpro.ModelError, match="633cf3e1bb4e2453a0497b65"):
        _formats._stdlib_json_line(item)
    with pytest.raises(cwpro.ModelError):
        Csv(cwpro.Site).encode([item])
    if _formats.json_line is _formats._stdlib_json_line:
        with pytest.raises(cwpro.ModelError):
            JsonLines().encode([item])
