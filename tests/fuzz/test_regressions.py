"""Inputs the reader fuzz tests found wrong, kept as plain examples once fixed."""

from __future__ import annotations

import io

import pytest

from gateway.errors import DataError, Problem
from gateway.formats import xml as xml_format
from gateway.formats.csv import BLOCK_CHARS, LINE_LIMIT, CsvOptions, CsvRowReader


def crlf_across_a_block_end() -> str:
    """A CRLF file over a megabyte whose first block (``BLOCK_CHARS`` characters) ends
    between the CR and the LF of a line end."""
    line = "SKU;MAIN;1\r\n"
    body = line * (BLOCK_CHARS // len(line))
    pad = 1
    while True:
        text = "P" * pad + ";MAIN;1\r\n" + body + "LAST;MAIN;2\r\n"
        if text[BLOCK_CHARS - 1] == "\r":
            assert text[BLOCK_CHARS] == "\n"
            return text
        pad += 1


def test_a_crlf_cut_by_a_block_end_is_one_line_end() -> None:
    """Found by test_csv_rows_do_not_depend_on_where_blocks_end: the LF starting the next
    block was read as a blank line of its own, so every row after the first megabyte was
    reported one line too far (b'a;b\\r\\n' * 6 + b'\\r\\na;b\\r\\n' with one-character
    blocks: the last row on line 9, not 8)."""
    text = crlf_across_a_block_end()
    rows = list(CsvRowReader(io.BytesIO(text.encode()), CsvOptions(header=False),
                             "stock.csv").rows())
    assert len(rows) == text.count("\n")
    assert rows[-1] == (text.count("\n"), ["LAST", "MAIN", "2"], True)


def test_a_file_is_refused_for_its_first_fault_not_its_longest_line() -> None:
    """Found by the same property: in one block, a line over max_line was checked before
    the encoding, so a cp1252 file written in UTF-8 (line 1) with a long line 2 was
    refused for line 2; with the block ending between them, for line 1."""
    data = "é;è\r\n".encode() + b"x" * 50 + b"\r\n"
    token = LINE_LIMIT.set(40)
    try:
        with pytest.raises(DataError) as refused:
            list(CsvRowReader(io.BytesIO(data), CsvOptions(encoding="cp1252"),
                              "stock.csv").rows())
    finally:
        LINE_LIMIT.reset(token)
    assert refused.value.problem.line == 1
    assert "UTF-8" in refused.value.problem.message


def xml_refusal(data: bytes) -> Problem:
    with pytest.raises(DataError) as refused:
        list(xml_format.records(io.BytesIO(data), "stock/item", "stock.xml"))
    return refused.value.problem


def test_an_empty_xml_file_is_refused_on_line_1() -> None:
    """Found by test_mutated_samples_give_records_or_located_problems (a sample cut to
    nothing): b'' was refused with no line at all."""
    assert xml_refusal(b"").line == 1


def test_an_xml_refusal_never_quotes_the_file_read_before() -> None:
    """Found by the same test, which failed only when run after another example: after a
    malformed file, an empty one was refused with the malformed file's error and line (the
    thread's error log, not this parser's), telling one sender of another's file."""
    xml_refusal(b"<stock>\n<item><quantity>1</uantity></item></stock>")
    problem = xml_refusal(b"")
    assert "uantity" not in problem.message
    assert (problem.line, problem.column) == (1, None)
