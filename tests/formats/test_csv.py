"""CSV rows keep their line numbers; encoding trouble is reported on the line it happens."""

from __future__ import annotations

import io

import pytest

from gateway.errors import DataError, Problem
from gateway.formats.csv import CsvOptions, CsvRowReader, CsvRowWriter, Row

from tests.conftest import stock_csv

CP1252 = CsvOptions(delimiter=";", encoding="cp1252")
UTF8 = CsvOptions(delimiter=";", encoding="utf-8")


def read(data: bytes, options: CsvOptions = CP1252
         ) -> tuple[list[Row], list[Problem], CsvRowReader]:
    problems: list[Problem] = []
    reader = CsvRowReader(io.BytesIO(data), options, "stock.csv", problems)
    rows = list(reader.rows())
    return rows, problems, reader


def test_rows_carry_their_line_numbers_and_the_header_is_kept() -> None:
    rows, problems, reader = read(stock_csv("A-1;MAIN;12,000;28/11/2026 09:15",
                                            "B-2;EAST;3,5;28/11/2026 09:15"))
    assert reader.header == ["ARTICLE", "DEPOT", "QTE_VIRTUELLE", "DATE_MAJ"]
    assert rows == [Row(2, ["A-1", "MAIN", "12,000", "28/11/2026 09:15"]),
                    Row(3, ["B-2", "EAST", "3,5", "28/11/2026 09:15"])]
    assert problems == []


def test_line_numbers_after_a_quoted_field_spanning_two_lines_and_blank_lines() -> None:
    data = (b'ARTICLE;LIBELLE\r\n'
            b'A-1;"two\r\nlines"\r\n'
            b'B-2;one\r\n'
            b'\r\n'
            b'\r\n'
            b'C-3;"x;y"\r\n')
    rows, problems, _ = read(data)
    assert rows == [Row(2, ["A-1", "two\r\nlines"]),
                    Row(4, ["B-2", "one"]),
                    Row(7, ["C-3", "x;y"])]
    assert problems == []


def test_without_header_the_first_row_is_data() -> None:
    rows, _, reader = read(b"A-1;1\nB-2;2\n", CsvOptions(encoding="cp1252", header=False))
    assert reader.header is None
    assert rows == [Row(1, ["A-1", "1"]), Row(2, ["B-2", "2"])]


def test_cp1252_file_decodes_accents() -> None:
    rows, problems, reader = read("ARTICLE;LIBELLE\r\nA-1;Crème brûlée €\r\n".encode("cp1252"))
    assert rows == [Row(2, ["A-1", "Crème brûlée €"])]
    assert problems == []
    assert reader.encoding == "cp1252"


def test_utf8_bom_switches_a_cp1252_file_to_utf8() -> None:
    data = b"\xef\xbb\xbf" + "ARTICLE;LIBELLE\r\nA-1;Crème brûlée\r\n".encode("utf-8")
    rows, problems, reader = read(data)
    assert reader.header == ["ARTICLE", "LIBELLE"]  # no BOM glued to the first name
    assert rows == [Row(2, ["A-1", "Crème brûlée"])]
    assert problems == []
    assert reader.encoding == "utf-8"


@pytest.mark.parametrize(("bom", "name"), [(b"\xff\xfe", "utf-16-le"),
                                           (b"\xfe\xff", "utf-16-be")])
def test_utf16_bom_is_refused(bom: bytes, name: str) -> None:
    data = bom + "ARTICLE;DEPOT\r\nA-1;MAIN\r\n".encode(name)
    with pytest.raises(DataError) as info:
        read(data)
    assert info.value.problem == Problem(
        f"file starts with a {name} byte order mark; only UTF-8 or cp1252 is accepted",
        line=1, file="stock.csv")


def test_cp1252_declared_file_that_is_really_utf8_is_refused() -> None:
    data = "ARTICLE;LIBELLE\r\nA-1;plain\r\nB-2;Crème brûlée\r\n".encode("utf-8")
    with pytest.raises(DataError) as info:
        read(data)
    p = info.value.problem
    assert p.line == 3
    assert p.file == "stock.csv"
    assert p.message == "file is UTF-8 encoded but the mapping declares cp1252"
    assert p.value == "B-2;CrÃ¨me brÃ»lÃ©e"
    assert str(info.value).startswith("stock.csv:3: file is UTF-8 encoded")


def test_invalid_utf8_byte_is_reported_on_its_line_and_other_lines_come_through() -> None:
    data = b"ARTICLE;DEPOT\r\nA-1;MAIN\r\nB-2;b\xffd\r\nC-3;EAST\r\n"
    rows, problems, _ = read(data, UTF8)
    assert rows == [Row(2, ["A-1", "MAIN"]), Row(4, ["C-3", "EAST"])]
    assert problems == [Problem("byte 0xff at column 6 is not valid utf-8", line=3,
                                file="stock.csv", column=6)]
    assert problems[0].render() == "stock.csv:3:6: byte 0xff at column 6 is not valid utf-8"


def test_nul_byte_line_is_reported() -> None:
    data = b"ARTICLE;DEPOT\r\nA-1;MAIN\r\nB\x00-2;MAIN\r\nC-3;EAST\r\n"
    rows, problems, _ = read(data, UTF8)
    assert rows == [Row(2, ["A-1", "MAIN"]), Row(4, ["C-3", "EAST"])]
    assert problems == [Problem("NUL byte in line: binary data or UTF-16 text", line=3,
                                file="stock.csv")]


def test_bom_in_the_middle_is_reported() -> None:
    data = (b"\xef\xbb\xbfARTICLE;DEPOT\r\nA-1;MAIN\r\n"
            b"\xef\xbb\xbfARTICLE;DEPOT\r\nB-2;EAST\r\n")
    rows, problems, _ = read(data, UTF8)
    assert rows == [Row(2, ["A-1", "MAIN"]), Row(4, ["B-2", "EAST"])]
    assert problems == [Problem("byte order mark in the middle of the file (two files joined?)",
                                line=3, file="stock.csv")]


def test_unterminated_last_line_is_flagged() -> None:
    rows, problems, reader = read(b"ARTICLE;DEPOT\r\nA-1;MAIN\r\nB-2;EA")
    assert rows == [Row(2, ["A-1", "MAIN"], terminated=True),
                    Row(3, ["B-2", "EA"], terminated=False)]
    assert reader.unterminated_line == 3
    assert problems == []


def test_terminated_last_line_is_not_flagged() -> None:
    rows, _, reader = read(b"ARTICLE;DEPOT\nA-1;MAIN\n")
    assert rows == [Row(2, ["A-1", "MAIN"], terminated=True)]
    assert reader.unterminated_line is None


def test_writer_round_trip_with_semicolon_and_quoting() -> None:
    sink = io.BytesIO()
    opts = CsvOptions(delimiter=";", encoding="cp1252", line_terminator="\r\n")
    w = CsvRowWriter(sink, opts)
    w.write(["Reference #", "Libellé"])
    w.write_many([["A;1", 'say "hi"'], ["B-2", "two\nlines"], ["C-3", "12,5 €"]])
    w.close()
    data = sink.getvalue()
    assert data == ('Reference #;Libellé\r\n"A;1";"say ""hi"""\r\nB-2;"two\nlines"\r\n'
                    "C-3;12,5 €\r\n").encode("cp1252")
    rows, problems, reader = read(data, opts)
    assert reader.header == ["Reference #", "Libellé"]
    assert rows == [Row(2, ["A;1", 'say "hi"']), Row(3, ["B-2", "two\nlines"]),
                    Row(5, ["C-3", "12,5 €"])]
    assert problems == []


def test_writer_leaves_the_sink_open_and_uses_the_line_terminator() -> None:
    sink = io.BytesIO()
    w = CsvRowWriter(sink, CsvOptions(delimiter=";", encoding="utf-8", line_terminator="\n"))
    w.write(["A-1", "15"])
    w.close()
    assert not sink.closed
    assert sink.getvalue() == b"A-1;15\n"


def test_writer_refuses_characters_the_encoding_cannot_hold() -> None:
    w = CsvRowWriter(io.BytesIO(), CsvOptions(encoding="cp1252"))
    with pytest.raises(UnicodeEncodeError):
        w.write(["A-1", "日本"])
        w.close()


def test_cp1252_declared_file_that_is_really_utf8_with_euro_sign_is_refused() -> None:
    data = "ARTICLE;PRIX\r\nA-1;12 €\r\nB-2;Crème\r\n".encode("utf-8")
    with pytest.raises(DataError) as info:
        read(data)
    assert info.value.problem.line == 2
