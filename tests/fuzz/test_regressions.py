"""Inputs the reader fuzz tests found wrong, kept as plain examples once fixed."""

from __future__ import annotations

import io
from typing import Any
from unittest import mock

import pytest

from gateway.errors import DataError, Problem
from gateway.formats import edifact, edistream, x12
from gateway.formats import xml as xml_format
from gateway.formats.edi import Message
from gateway.formats.csv import BLOCK_CHARS, LINE_LIMIT, CsvOptions, CsvRowReader

from .harness import TESTS


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


# ---- EDI readers: inputs found by tests/fuzz/test_fuzz_edi.py ---------------------------
# All fixed (e9500c3, 187c04a); a test named test_bug_… would fail until the gateway bug
# it describes is fixed.

def _edi_events(module: Any, data: bytes) -> list[Any]:
    return list(module.events(io.BytesIO(data), "in.edi"))


def _interchange(*segments: str) -> bytes:
    body = "\n".join(segments)
    return (f"UNB+UNOC:3+S:14+R:14+261128:0915+77'\nUNH+1+ORDERS:D:96A:UN:EAN008'\n{body}\n"
            f"UNT+{len(segments) + 2}+1'\nUNZ+1+77'\n").encode("latin-1")


def _segment_lines(events: list[Any]) -> list[tuple[str, int]]:
    return [(s.tag, s.line) for e in events if isinstance(e, Message) for s in e.segments]


@pytest.mark.parametrize("standard", ["edifact", "x12"])
def test_a_newline_terminator_is_a_line_break(standard: str) -> None:
    """Found by test_orders_read_the_same_whatever_the_separators: with a newline as the
    segment terminator (ISA16 followed by LF; UNA ending in LF), the scanner did not
    count the terminator itself as a line break, so every segment, record and problem
    of the file was said to be on the line where the first segment after the header
    began (X12: line 1, EDIFACT: line 3): tests/data/x12/850.x12 with every '~\\n'
    replaced by '\\n'."""
    module = edifact if standard == "edifact" else x12
    sample = (TESTS / ("data/edifact/orders_d96a.edi" if standard == "edifact"
                       else "data/x12/850.x12")).read_bytes()
    if standard == "edifact":
        # the UNA on its own line, its terminator the line's end
        newline = b"UNA:+.? \n" + sample[9:].replace(b"'\r\n", b"\n").lstrip(b"\r\n")
    else:
        newline = sample.replace(b"~\n", b"\n")
    right = _segment_lines(_edi_events(module, sample))
    lines = [line for _tag, line in right]
    assert lines == sorted(set(lines)) and lines[0] > 1  # one segment a line, in order
    assert _segment_lines(_edi_events(module, newline)) == right


def test_a_segment_over_max_segment_is_skipped_wherever_it_starts() -> None:
    """Found by test_a_huge_segment_is_skipped_the_same_whatever_the_read_block: the
    scanner skipped a segment only once its unterminated bytes in the buffer exceeded
    MAX_SEGMENT, and the buffer then held up to two read blocks: a 1.5 MB segment at the
    start of a file (shipped BLOCK = MAX_SEGMENT = 1 MiB) was read whole, the same
    segment after 600 kB of other segments skipped."""
    huge = "FTX+AAI+++" + "X" * 1_500_000 + "'"
    pad = ["FTX+AAI+++" + "P" * 2000 + "'"] * 300
    [early, _end] = _edi_events(edifact, _interchange(huge))
    [late, _end] = _edi_events(edifact, _interchange(*pad, huge))
    late_codes = [p.code for p in late.problems]
    assert "39" in late_codes                      # skipped when it starts late
    assert [p.code for p in early.problems] == late_codes  # and when it starts early


def test_a_skipped_segment_ending_in_a_released_release_ends_there() -> None:
    """Found while reducing the failures of the read-block property: skipping a segment
    too long to hold took any terminator preceded by a release character as escaped,
    even '??'' (a released '?', then the terminator), so the skip ran on and the next
    segment (here BGM, line 4) vanished into it (MAX_SEGMENT = 100, BLOCK = 7)."""
    data = _interchange("FTX+AAI+++" + "X" * 300 + "??'", "BGM+220+A+9'")
    with mock.patch.object(edistream, "MAX_SEGMENT", 100), \
            mock.patch.object(edistream, "BLOCK", 7):
        [msg, _end] = _edi_events(edifact, data)
    assert ("BGM", 4) in [(s.tag, s.line) for s in msg.segments]


@pytest.mark.parametrize("block", [1, 2, 3, 6, 7])
def test_a_released_terminator_does_not_end_a_skipped_segment_at_a_block_end(block: int
                                                                               ) -> None:
    """Found the same way: when the skip of a too-long segment refilled its buffer, it
    forgot the buffer's last byte, so a released terminator ('?'') whose release ended a
    block was taken as the segment's end and the rest read as a segment of its own
    ("'more' is not a segment tag")."""
    data = _interchange("FTX+AAI+++" + "X" * 300 + "?'more'", "BGM+220+A+9'")
    with mock.patch.object(edistream, "MAX_SEGMENT", 100), \
            mock.patch.object(edistream, "BLOCK", block):
        [msg, _end] = _edi_events(edifact, data)
    # the skipped segment is still one of the sender's: its UNT count matches
    assert [p.code for p in msg.problems] == ["39"], msg.problems


def test_a_bom_does_not_hide_the_next_interchange_when_a_trailer_is_missing() -> None:
    """Found reviewing the scanner against edi_mutated's joins (two interchanges joined
    by a BOM, then a trailer dropped), confirmed by hand: an interchange header where a
    trailer was due starts the next interchange, but a UTF-8 byte-order mark before it
    (two exported files joined, the first cut before its IEA) hid it: the scanner
    stripped whitespace at a segment's start but not a BOM, so b'\\xef\\xbb\\xbfISA*…'
    was "'\\ufeffISA' is not a segment id" and the second interchange's two purchase
    orders were said to come from interchange 000000451 (its sender, its control
    number). EDIFACT likewise lost the UNA (its separators) of the second interchange."""
    sample = (TESTS / "data/x12/850.x12").read_bytes()
    cut = sample.replace(b"IEA*1*000000451~\n", b"")
    second = sample.replace(b"000000451", b"000000452")

    def controls(data: bytes) -> list[str]:
        return [e.interchange.control for e in _edi_events(x12, data)
                if isinstance(e, Message)]
    assert controls(cut + second) == ["000000451"] * 2 + ["000000452"] * 2
    assert controls(cut + b"\xef\xbb\xbf" + second) == controls(cut + second)


def test_a_problem_of_a_message_header_is_that_messages() -> None:
    """Found by test_a_message_reads_the_same_whatever_follows_it: the problem of the
    segment that opens a message (UNH, ST) was filed before that segment opened it, so it
    landed on the message still open (whose trailer was missing) or, after a complete
    message, on the interchange. Here a UNOY interchange whose second UNH holds a byte
    that is not UTF-8 (b'UNH+2+ORDERS:D:96A:UN:EAN\\xff08'): message 2 came out ok,
    'EAN\\ufffd08' as its association, the problem (line 5) the interchange's, and the
    gateway accepted the message. A header cut short at the end of the file likewise put
    'segment ST cut short' on the set before it ('…PID*F*08***Ground arabica coffee 250
    g~\\n\\x00ST', that set unterminated)."""
    data = (b"UNB+UNOY:4+S:14+R:14+261128:0915+77'\n"
            b"UNH+1+ORDERS:D:96A:UN:EAN008'\nBGM+220+PO-1+9'\nUNT+3+1'\n"
            b"UNH+2+ORDERS:D:96A:UN:EAN\xff08'\nBGM+220+PO-2+9'\nUNT+3+2'\nUNZ+2+77'\n")
    [first, second, end] = _edi_events(edifact, data)
    assert first.ok and end.ok
    assert [(p.line, p.message) for p in second.problems] == [
        (5, "byte 0xff is not utf-8 text (UNB says utf-8)")]


def test_a_line_break_in_a_unb_tag_does_not_lose_its_interchange() -> None:
    """Found by test_segments_are_on_the_line_they_start_on (a wrap inside a UNB's tag):
    the EDIFACT reader reads files wrapped at 80 columns, but it found an interchange by
    its first bytes, before line breaks were taken out. A file of two interchanges with
    no line ends of its own, wrapped at 80 columns, lost the second when its UNB
    straddled a line end (b"…UNZ+3+CI000451'UNA:+.? 'U\\r\\nNB+UNOC:3+…"): its two
    orders were refused as 'not an EDIFACT interchange: UNA or UNB expected'. A wrap
    inside its UNA lost the UNA (its separators), the defaults being used instead."""
    first = (TESTS / "data/edifact/orders_d96a.edi").read_bytes().replace(b"\r\n", b"")
    second = (TESTS / "data/edifact/orders_d01b.edi").read_bytes().replace(b"\r\n", b"")
    data = first + second[:10] + b"\r\n" + second[10:]
    events = _edi_events(edifact, data)
    assert [e.reference for e in events if isinstance(e, Message)] == ["1", "2", "3", "1", "2"]
    assert all(e.ok for e in events if hasattr(e, "ok"))


def test_a_nul_in_a_quoted_field_over_two_lines_does_not_lose_the_rows_after_it() -> None:
    """Found by test_a_csv_row_reads_the_same_whatever_rows_follow_it[erp_prices_csv] in
    the long campaign (a problem on line 4 with the file cut after its row, on line 5
    without). The line reader left out a line with a NUL byte before the CSV parser saw
    it; when that line closed a quoted field opened on the line before, the quote was
    never closed and swallowed every row after it: here C-1 and D-1, good rows on lines 5
    and 6, were not read and one 'malformed CSV: unexpected end of data' on line 6 stood
    for them (fixed in aa54eb7). The row with the NUL (lines 3-4) is refused alone."""
    from .harness import mapping, read_all

    t = "28/11/2026 09:15"
    data = ("ARTICLE;DEPOT;QTE_VIRTUELLE;DATE_MAJ\r\n"
            f"A-1;MAIN;1,000;{t}\r\n"
            f"\"B-1\r\nB-2\x00\";MAIN;2,000;{t}\r\n"
            f"C-1;MAIN;3,000;{t}\r\n"
            f"D-1;MAIN;4,000;{t}\r\n").encode("cp1252")
    out = read_all(mapping("erp_stock_csv"), data, "stock.csv")
    assert [(line, rec["sku"]) for line, rec in out.records] == [
        (2, "A-1"), (5, "C-1"), (6, "D-1")]
    assert [p.line for p in out.problems] in ([3], [4]), out.problems
