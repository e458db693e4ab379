"""Multi-record files: header fields carried onto their details, trailers checked, every
line that cannot be placed reported on its own line."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import DataError, Problem
from gateway.mapping.loader import Mapping, load_mapping_file
from gateway.mapping.reader import ProblemSink, read_records

CSV = """\
[mapping]
direction = "read"
document = "prices"
format = "csv"

[csv]
delimiter = ";"

[records]
type = { index = 0 }

[records.H]
role = "header"

[records.H.fields.price_list]
index = 1
transforms = ["strip", "required"]

[records.H.fields.currency]
index = 2

[records.L]
role = "detail"

[records.L.fields.sku]
index = 1
transforms = ["required"]

[records.L.fields.net]
index = 2
transforms = [{ decimal = { decimal_separator = "," } }]

[records.C]
role = "ignore"

[records.T]
role = "trailer"
count = { index = 1 }
"""

FIXED = """\
[mapping]
direction = "read"
document = "prices"
format = "fixed"

[records]
type = { start = 1, length = 1 }

[records.H]
role = "header"

[records.H.fields.price_list]
start = 2
length = 6
transforms = ["strip"]

[records.L]
role = "detail"

[records.L.fields.sku]
start = 2
length = 5
transforms = ["strip"]

[records.L.fields.net]
start = 7
length = 6
transforms = ["strip", "decimal"]

[records.T]
role = "trailer"
count = { start = 2, length = 4 }
"""


def load(tmp_path: Path, text: str = CSV) -> Mapping:
    path = tmp_path / "orders.toml"
    path.write_text(text, encoding="utf-8")
    return load_mapping_file(path)


def read(mapping: Mapping, *lines: str) -> tuple[list[tuple[int, dict[str, Any]]],
                                                 ProblemSink]:
    problems = ProblemSink()
    data = "".join(f"{ln}\r\n" for ln in lines).encode()
    return list(read_records(mapping, io.BytesIO(data), "orders.txt", problems)), problems


def price(sku: str, net: str, plist: str = "RETAIL", cur: str = "EUR") -> dict[str, Any]:
    return {"sku": sku, "net": Decimal(net), "price_list": plist, "currency": cur}


def where(problems: ProblemSink) -> list[tuple[int | None, str | None, str | None, str]]:
    return [(p.line, p.field, p.value, p.message) for p in problems.items]


def test_header_fields_are_carried_onto_each_detail_and_trailers_are_checked(
        tmp_path: Path) -> None:
    records, problems = read(load(tmp_path), "H;RETAIL;EUR", "L;A-1;12,50", "C;a comment",
                             "L;B-2;3", "T;2", "H;PROMO;CHF", "L;A-1;9", "T;1")
    assert records == [(2, price("A-1", "12.50")), (4, price("B-2", "3")),
                       (7, price("A-1", "9", "PROMO", "CHF"))]
    assert not problems


def test_a_trailer_count_that_disagrees_rejects_the_file(tmp_path: Path) -> None:
    problems = ProblemSink()
    seen = []
    data = b"H;RETAIL;EUR\r\nL;A-1;1\r\nL;B-2;2\r\nT;3\r\n"
    with pytest.raises(DataError) as info:
        for item in read_records(load(tmp_path), io.BytesIO(data), "orders.txt", problems):
            seen.append(item[0])
    assert seen == [2, 3]
    assert info.value.problem == Problem(
        "the trailer counts 3 detail records, 2 were found since the header on line 1: "
        "the file is incomplete", line=4, field="T column 2", value="3", file="orders.txt")


def test_rejected_details_still_count_for_the_trailer(tmp_path: Path) -> None:
    records, problems = read(load(tmp_path), "H;RETAIL;EUR", "L;A-1;x", "L;B-2;2", "T;2")
    assert records == [(3, price("B-2", "2"))]
    assert where(problems) == [(2, "L column 3", "x", "not a number")]


def test_a_trailer_count_that_is_not_a_number_rejects_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        read(load(tmp_path), "H;RETAIL;EUR", "L;A-1;1", "T;two")
    assert (info.value.problem.line, info.value.problem.value) == (3, "two")
    assert info.value.problem.message == ("the trailer's record count is not a whole number: "
                                          "the file cannot be checked")


def test_a_file_that_ends_without_its_trailer_is_incomplete(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        read(load(tmp_path), "H;RETAIL;EUR", "L;A-1;1", "T;1", "H;PROMO;EUR", "L;A-1;1")
    assert info.value.problem == Problem(
        "the file ends without the T trailer record of the records from line 4: the file "
        "is incomplete", line=4, file="orders.txt")


def test_an_undeclared_record_type_is_reported_and_the_others_go_on(tmp_path: Path) -> None:
    records, problems = read(load(tmp_path), "H;RETAIL;EUR", "X;what", "L;A-1;1", "T;1")
    assert records == [(3, price("A-1", "1"))]
    assert where(problems) == [
        (2, "column 1", "X", "record type 'X' is not declared in the mapping "
                             "(declared: H, L, C, T)")]


def test_a_detail_before_any_header_is_reported(tmp_path: Path) -> None:
    records, problems = read(load(tmp_path), "L;A-1;1", "H;RETAIL;EUR", "L;B-2;2", "T;1")
    assert records == [(3, price("B-2", "2"))]
    assert where(problems) == [(1, None, "L", "L detail record with no H header record "
                                              "before it")]


def test_a_bad_header_value_rejects_each_detail_under_it(tmp_path: Path) -> None:
    records, problems = read(load(tmp_path), "H; ;EUR", "L;A-1;1", "L;B-2;2", "T;2",
                             "H;PROMO;EUR", "L;C-3;3", "T;1")
    assert records == [(6, price("C-3", "3", "PROMO"))]
    message = "value is required (in the header record on line 1)"
    assert where(problems) == [(2, "H column 2", " ", message), (3, "H column 2", " ", message)]
    assert problems.rows_rejected == 2


def test_a_bad_header_without_details_is_reported_on_its_own_line(tmp_path: Path) -> None:
    records, problems = read(load(tmp_path), "H;;EUR", "T;0", "H;PROMO;EUR", "L;A-1;1", "T;1")
    assert records == [(4, price("A-1", "1", "PROMO"))]
    assert where(problems) == [(1, "H column 2", "", "value is required")]


def test_a_detail_with_too_few_fields_is_reported(tmp_path: Path) -> None:
    records, problems = read(load(tmp_path), "H;RETAIL;EUR", "L;A-1", "T;1")
    assert records == []
    assert where(problems) == [(2, None, None, "expected 3 fields, found 2")]


def test_fixed_width_records(tmp_path: Path) -> None:
    records, problems = read(load(tmp_path, FIXED), "HRETAIL", "LA-1   12.50", "LB-2     3",
                             "LC-3", "T0003")
    assert records == [(2, {"sku": "A-1", "net": Decimal("12.50"), "price_list": "RETAIL"})]
    assert where(problems) == [
        (3, "L columns 7-12", None, "line is 10 characters long, field net needs columns 7-12"),
        (4, "L columns 2-6", None, "line is 4 characters long, field sku needs columns 2-6"),
        (4, "L columns 7-12", None, "line is 4 characters long, field net needs columns 7-12")]


def test_fixed_width_types_are_read_at_their_position(tmp_path: Path) -> None:
    records, problems = read(load(tmp_path, FIXED), "HRETAIL", "Z", "T0000")
    assert records == []
    assert where(problems) == [
        (2, "column 1", "Z", "record type 'Z' is not declared in the mapping "
                             "(declared: H, L, T)")]
