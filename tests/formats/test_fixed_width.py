"""Fixed width files: fields at documented positions, each short or undecodable line
reported on its own line while the others go on."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.errors import DataError
from gateway.formats.fixed_width import FixedLineReader, FixedOptions
from gateway.mapping.loader import Mapping, load_mapping_file
from gateway.mapping.reader import ProblemSink, read_records

PRICES = """\
[mapping]
direction = "read"
document = "prices"
format = "fixed"

[fixed]
encoding = "cp1252"
skip_lines = 1

[fields.sku]
start = 1
length = 10
transforms = ["strip", "required"]

[fields.currency]
start = 11
length = 3

[fields.net]
start = 14
length = 9
transforms = ["strip", "decimal"]

[fields.price_list]
start = 23
length = 6
"""
HEADER = b"SKU       CURNET      LIST  \r\n"


def line(sku: str, cur: str, net: str, plist: str = "WEB") -> bytes:
    return f"{sku:<10}{cur:3}{net:>9}{plist:<6}".encode("cp1252")


def load(tmp_path: Path, text: str = PRICES) -> Mapping:
    path = tmp_path / "prices_fixed.toml"
    path.write_text(text, encoding="utf-8")
    return load_mapping_file(path)


def read(mapping: Mapping, data: bytes) -> tuple[list[tuple[int, dict[str, object]]],
                                                 ProblemSink]:
    problems = ProblemSink()
    return list(read_records(mapping, io.BytesIO(data), "prices.txt", problems)), problems


def test_fields_are_taken_at_their_positions_as_they_are(tmp_path: Path) -> None:
    records, problems = read(load(tmp_path), HEADER + line("A-1", "EUR", "12.50") + b"\r\n"
                             + line("B-2", "CHF", "7", "SHOP") + b"\r\n")
    assert records == [
        (2, {"sku": "A-1", "currency": "EUR", "net": Decimal("12.50"), "price_list": "WEB   "}),
        (3, {"sku": "B-2", "currency": "CHF", "net": Decimal("7"), "price_list": "SHOP  "})]
    assert not problems


def test_a_short_line_is_reported_and_the_others_go_on(tmp_path: Path) -> None:
    records, problems = read(load(tmp_path), HEADER + b"A-1       EUR  12.5\r\n"
                             + line("B-2", "EUR", "3.00") + b"\r\n")
    assert [ln for ln, _ in records] == [3]
    assert [(p.line, p.field, p.message) for p in problems.items] == [
        (2, "columns 14-22", "line is 19 characters long, field net needs columns 14-22"),
        (2, "columns 23-28", "line is 19 characters long, field price_list needs "
                             "columns 23-28")]
    assert problems.rows_rejected == 1


def test_crlf_lf_blank_lines_and_a_last_line_without_newline(tmp_path: Path) -> None:
    data = (HEADER + line("A-1", "EUR", "1") + b"\n\r\n\n" + line("B-2", "EUR", "2")
            + b"\r\n" + line("C-3", "EUR", "3"))
    records, problems = read(load(tmp_path), data)
    assert [(ln, r["sku"], r["price_list"]) for ln, r in records] == [
        (2, "A-1", "WEB   "), (5, "B-2", "WEB   "), (6, "C-3", "WEB   ")]
    assert not problems


def test_a_last_line_cut_short_says_the_file_may_be_truncated(tmp_path: Path) -> None:
    records, problems = read(load(tmp_path), HEADER + line("A-1", "EUR", "1") + b"\r\n"
                             + b"B-2       EUR     2")
    assert [ln for ln, _ in records] == [2]
    assert [p.message for p in problems.items] == [
        "line is 19 characters long, field net needs columns 14-22; the last line is cut "
        "short (file truncated?)",
        "line is 19 characters long, field price_list needs columns 23-28; the last line "
        "is cut short (file truncated?)"]


def test_a_bad_value_names_its_columns(tmp_path: Path) -> None:
    records, problems = read(load(tmp_path), HEADER + line("A-1", "EUR", "12,50") + b"\n")
    assert records == []
    assert [(p.line, p.field, p.value, p.message) for p in problems.items] == [
        (2, "columns 14-22", "    12,50", "not a number")]


def test_an_undecodable_line_is_reported_on_its_line(tmp_path: Path) -> None:
    mapping = load(tmp_path, PRICES.replace('"cp1252"', '"utf-8"'))
    data = (HEADER + line("A-1", "EUR", "1") + b"\n" + b"B\xff" + line("-2", "EUR", "2")[2:]
            + b"\n" + line("C-3", "EUR", "3") + b"\n")
    records, problems = read(mapping, data)
    assert [r["sku"] for _, r in records] == ["A-1", "C-3"]
    assert [(p.line, p.column, p.message) for p in problems.items] == [
        (3, 2, "byte 0xff at column 2 is not valid utf-8")]


def test_a_utf8_byte_order_mark_switches_to_utf8(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf" + HEADER + "É-1       EUR        1WEB   \n".encode()
    records, problems = read(load(tmp_path), data)
    assert [r["sku"] for _, r in records] == ["É-1"]
    assert not problems


def test_a_utf16_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="utf-16-le byte order mark"):
        read(load(tmp_path), b"\xff\xfe" + "A-1".encode("utf-16-le"))


def test_a_localized_field_takes_one_language_per_position(tmp_path: Path) -> None:
    mapping = load(tmp_path, """\
[mapping]
direction = "read"
document = "catalogue"
format = "fixed"

[fields.sku]
start = 1
length = 4

[fields."name.fr"]
start = 5
length = 8
transforms = ["strip"]

[fields."name.de"]
start = 13
length = 8
transforms = ["strip"]
""")
    records, problems = read(mapping, b"P001Chaise  Stuhl   \nP002Table           \n"
                                      b"P003                \n")
    assert records == [(1, {"sku": "P001", "name": {"fr": "Chaise", "de": "Stuhl"}}),
                       (2, {"sku": "P002", "name": {"fr": "Table"}}),
                       (3, {"sku": "P003", "name": None})]
    assert not problems


def test_line_reader_skips_header_lines_and_keeps_line_numbers() -> None:
    reader = FixedLineReader(io.BytesIO(b"HEAD\r\nSECOND\r\n\r\nabc\r\ndef"),
                             FixedOptions(skip_lines=2), "f.txt", [])
    assert list(reader.rows()) == [(4, "abc", True), (5, "def", False)]
