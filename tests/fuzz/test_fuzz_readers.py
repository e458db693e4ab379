"""Fuzzing of every reader: whatever bytes a partner drops, a reader gives records or
located problems (a ``DataError`` for a file it cannot read at all), never another
exception and never a hang.

Each reader is driven through the shipped mappings, as the gateway reads a file, with
three kinds of input: sample files mutated byte by byte and line by line, files rebuilt
from the samples' rows with hostile values, and raw bytes. ``harness.check`` says what
every outcome must be. The format modules are also fuzzed directly where that reaches
states the mappings rarely do (block boundaries of the line reader, nested records).
"""

from __future__ import annotations

import io
import re
import time
from typing import Any
from unittest import mock

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from lxml import etree

from gateway.errors import DataError, Problem
from gateway.formats import csv as csv_format
from gateway.formats import xml as xml_format
from gateway.formats.csv import LINE_LIMIT, CsvOptions, CsvRowReader
from gateway.formats.fixed_width import FixedLineReader, FixedOptions

from .harness import (Hang, budget, csv_files, csv_parts, guarded, line_bound, mapping,
                      multirecord_files, mutated, read_all, seeds, time_guard, xml_files,
                      xml_parts, xml_samples)

# reader mapping → its sample files (globs under tests/)
CSV_READERS = {
    "erp_stock_csv": ("mappings/erp_stock_csv/input.csv", "data/hostile/stock_*.csv"),
    "erp_catalogue_csv": ("mappings/erp_catalogue_csv/input.csv",
                          "data/hostile/catalogue_*.csv"),
    "erp_categories_csv": ("mappings/erp_categories_csv/input.csv",),
    "erp_customers_csv": ("mappings/erp_customers_csv/input.csv",),
    "erp_order_status_csv": ("mappings/erp_order_status_csv/input.csv",),
    "erp_prices_csv": ("mappings/erp_prices_csv/input.csv", "data/hostile/prices_*.csv"),
    "shopify_orders_csv": ("mappings/shopify_orders_csv/input.csv",
                           "data/hostile/orders_*.csv"),
    "headerless_stock_csv": ("fuzz/samples/headerless_stock.csv",),
}
FIXED_READERS = {"fixed_prices": ("fuzz/samples/fixed_prices.txt",)}
MULTIRECORD_READERS = {
    "erp_prices_fixed": ("mappings/erp_prices_fixed/input.txt", "data/hostile/prices_fixed_*.txt"),
    "multirecord_prices_csv": ("fuzz/samples/multirecord_prices.csv",),
}
# canonical XML readers → the root element of their documents
XML_READERS = {
    "canonical_stock_in": "stock",
    "canonical_prices_in": "prices",
    "canonical_catalogue_in": "catalogue",
    "canonical_categories_in": "categories",
    "canonical_customers_in": "customers",
    "canonical_order_status_in": "order_status",
    "canonical_orders_in": "orders",  # grouped: an order and its line and discount items
}
XML_HOSTILE = ("data/hostile/stock_*.xml",)

ALL_READERS = [*CSV_READERS, *FIXED_READERS, *MULTIRECORD_READERS, *XML_READERS]


def samples_of(name: str) -> list[bytes]:
    if name in XML_READERS:
        extra = seeds(*XML_HOSTILE) if name == "canonical_stock_in" else []
        return xml_samples(XML_READERS[name]) + extra
    globs = {**CSV_READERS, **FIXED_READERS, **MULTIRECORD_READERS}[name]
    return seeds(*globs)


def the_samples_are_read(name: str) -> None:
    """A mutation test is only worth its examples if its first sample reads cleanly."""
    out = read_all(mapping(name), samples_of(name)[0])
    assert out.records and out.error is None, (name, out.problems[:3])


# ---- every reader, through its mapping -------------------------------------------------

# the channel's max_line: mostly the default, sometimes short enough for a sample's lines
max_lines = st.sampled_from((csv_format.DEFAULT_MAX_LINE,) * 3 + (60, 200))

@pytest.mark.parametrize("name", ALL_READERS)
def test_the_first_sample_of_each_reader_is_read_cleanly(name: str) -> None:
    the_samples_are_read(name)


@pytest.mark.parametrize("name", ALL_READERS)
@budget(0.5)
@given(data=st.data())
@guarded
def test_mutated_samples_give_records_or_located_problems(name: str, data: Any) -> None:
    read_all(mapping(name), data.draw(mutated(samples_of(name)), label="file"),
             max_line=data.draw(max_lines, label="max_line"))


@pytest.mark.parametrize("name", ALL_READERS)
@budget(0.25)
@given(raw=st.one_of(
    st.binary(max_size=512),
    st.tuples(st.sampled_from((b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff",
                               b"<?xml version='1.0'?>", b"<?xml version='1.0' "
                               b"encoding='UTF-16'?>", b"H", b"L", b"UNA:+.? '", b"ISA*")),
              st.binary(max_size=256)).map(b"".join)))
@guarded
def test_raw_bytes_give_records_or_located_problems(name: str, raw: bytes) -> None:
    read_all(mapping(name), raw)


@pytest.mark.parametrize("name", [n for n in CSV_READERS])
@budget(0.5)
@given(data=st.data())
@guarded
def test_csv_rows_with_hostile_cells_give_records_or_located_problems(name: str, data: Any
                                                                      ) -> None:
    m = mapping(name)
    read_all(m, data.draw(csv_files(m, seeds(CSV_READERS[name][0])), label="file"))


@pytest.mark.parametrize("name", list(MULTIRECORD_READERS))
@budget(0.75)
@given(data=st.data())
@guarded
def test_multirecord_files_with_hostile_fields_give_records_or_located_problems(
        name: str, data: Any) -> None:
    m = mapping(name)
    read_all(m, data.draw(multirecord_files(m, samples_of(name)), label="file"))


@pytest.mark.parametrize("name", list(XML_READERS))
@budget(0.5)
@given(data=st.data())
@guarded
def test_xml_records_with_hostile_content_give_records_or_located_problems(
        name: str, data: Any) -> None:
    m = mapping(name)
    read_all(m, data.draw(xml_files(m, xml_samples(XML_READERS[name])), label="file"))


# ---- a record depends on its own row or element only -----------------------------------

FLAT_CSV = [n for n in CSV_READERS if mapping(n).group_by is None and not mapping(n).groups]


def lines_of(data: bytes, encoding: str) -> int:
    return len(io.StringIO(data.decode(encoding, "replace"), newline="").readlines())


@pytest.mark.parametrize("name", FLAT_CSV)
@budget(0.5)
@given(data=st.data())
@guarded
def test_a_csv_row_reads_the_same_whatever_rows_follow_it(name: str, data: Any) -> None:
    """The rows after a row change nothing in its record or its problems: no state of the
    reader (memoised values, the header's compiled loop, line counting) leaks from one
    row into the next. Compared when neither file is refused whole."""
    m = mapping(name)
    parts = data.draw(csv_parts(m, seeds(CSV_READERS[name][0])), label="file")
    keep = data.draw(st.integers(0, len(parts.rows)), label="rows kept")
    whole, head = read_all(m, parts.encode()), read_all(m, parts.encode(keep))
    if whole.error is not None or head.error is not None:
        event("not compared: a file refused whole")
        return
    event("compared")
    n = lines_of(parts.encode(keep), parts.encoding)
    assert head.records == [(line, rec) for line, rec in whole.records if line <= n]
    order = (lambda p: (p.line, p.message, p.field or "", p.value or ""))
    assert sorted(head.problems, key=order) == sorted(
        (p for p in whole.problems if p.line is not None and p.line <= n), key=order)


@pytest.mark.parametrize("name", list(XML_READERS))
@budget(0.5)
@given(data=st.data())
@guarded
def test_an_xml_record_reads_the_same_whatever_records_follow_it(name: str, data: Any
                                                                  ) -> None:
    """The elements after a record change nothing in it or its problems, however records
    nest; clearing read records must not reach into the ones still to come."""
    m = mapping(name)
    parts = data.draw(xml_parts(m, xml_samples(XML_READERS[name])), label="document")
    keep = data.draw(st.integers(0, len(parts.root)), label="elements kept")
    whole, head = read_all(m, parts.encode()), read_all(m, parts.encode(keep))
    if whole.error is not None or head.error is not None:
        event("not compared: a file refused whole")
        return
    event("compared")
    assert head.records == whole.records[:len(head.records)]
    assert head.problems == whole.problems[:len(head.problems)]


# ---- the line reader under CSV, fixed width and multi-record files ---------------------

LEGACY = ("utf-8", "cp1252", "latin-1", "iso8859-15", "cp850", "ascii")
line_text = st.lists(st.one_of(
    st.sampled_from(("a;b", "x", "", " ", '"q;1"', '"open', "é;è", "Ã©", "\x00", "\ufeff",
                     "ï»¿", "z" * 70)),
    st.text(max_size=20)), max_size=12)
line_end = st.sampled_from(("\r\n", "\n", "\r"))


@st.composite
def line_files(draw: st.DrawFn) -> tuple[bytes, str]:
    """Lines of text with mixed line ends in one of the legacy encodings, sometimes with
    raw bytes spliced in: (bytes, encoding)."""
    encoding = draw(st.sampled_from(LEGACY))
    text = "".join(t + draw(line_end) for t in draw(line_text))
    if draw(st.booleans()):
        text = text.rstrip("\r\n")
    data = text.encode(draw(st.sampled_from((encoding, "utf-8"))), "replace")
    if draw(st.integers(0, 3)) == 0:
        pos = draw(st.integers(0, len(data)))
        data = data[:pos] + draw(st.binary(min_size=1, max_size=6)) + data[pos:]
    return data, encoding


def csv_rows(data: bytes, options: CsvOptions) -> tuple[list[Any], list[Problem],
                                                        Problem | None]:
    problems: list[Problem] = []
    rows = []
    error = None
    reader = CsvRowReader(io.BytesIO(data), options, "f.csv", problems)
    try:
        rows = [tuple(r) for r in reader.rows()]
    except DataError as exc:
        error = exc.problem
    # a line's decoding problem is found when its block is read, its CSV problem when the
    # row is parsed: the sink is in no particular order (the ack sorts it)
    problems.sort(key=lambda p: (p.line or 0, p.message))
    return rows, problems, error


@budget(1)
@given(file=line_files(), delimiter=st.sampled_from((";", ",", "\t", "|")),
       header=st.booleans(), block=st.integers(1, 64),
       max_line=st.sampled_from((csv_format.DEFAULT_MAX_LINE, 40, 80)))
@guarded
def test_csv_rows_do_not_depend_on_where_blocks_end(file: tuple[bytes, str], delimiter: str,
                                                     header: bool, block: int,
                                                     max_line: int) -> None:
    """The line reader decodes and checks a file a block (a megabyte) at a time: rows,
    their lines and problems must be the same wherever a block ends (here anywhere from
    1 to 64 characters)."""
    data, encoding = file
    options = CsvOptions(delimiter=delimiter, encoding=encoding, header=header)
    token = LINE_LIMIT.set(max_line)
    try:
        whole = csv_rows(data, options)
        with mock.patch.object(csv_format, "BLOCK_CHARS", block):
            small = csv_rows(data, options)
    finally:
        LINE_LIMIT.reset(token)
    last = line_bound(data)
    rows, problems, error = whole
    if error is None and small[2] is None:
        assert small == whole
    else:  # refused: the same refusal (rows already handed over may differ)
        assert small[2] == error
    assert [r[0] for r in rows] == sorted({r[0] for r in rows})  # lines in file order
    for p in [*problems, *([error] if error else [])]:
        assert p.line is not None and 1 <= p.line <= last, (p, last)


def split_lines(text: str) -> list[tuple[str, bool]]:
    """``text`` cut at CRLF, LF and CR: (line, ended) pairs."""
    pieces = re.split(r"(\r\n|\r|\n)", text)
    out = [(pieces[i], True) for i in range(0, len(pieces) - 1, 2)]
    if pieces[-1]:
        out.append((pieces[-1], False))
    return out


@budget(1)
@given(lines=st.lists(st.from_regex(r"[ -~]{0,12}", fullmatch=True).filter(
    lambda t: '"' not in t), max_size=10),
    ends=st.lists(line_end, min_size=10, max_size=10), last_end=st.booleans(),
    block=st.integers(1, 64))
@guarded
def test_ascii_csv_rows_are_its_lines_split_at_the_delimiter(lines: list[str], ends: list[str],
                                                              last_end: bool, block: int
                                                              ) -> None:
    """Without quotes, each non-blank line of an ASCII file is a row on its own line
    number, whatever its line end (CRLF, LF, CR) and wherever a block ends."""
    text = "".join(t + e for t, e in zip(lines, ends, strict=False))
    if lines and not last_end:
        text = text[:-len(ends[len(lines) - 1])]
    expected = [(i, t.split(";"), ended)
                for i, (t, ended) in enumerate(split_lines(text), 1) if t]
    with mock.patch.object(csv_format, "BLOCK_CHARS", block):
        rows, problems, error = csv_rows(text.encode("ascii"), CsvOptions(header=False))
    assert error is None and not problems
    assert rows == expected


# NUL (a problem of its own), line ends, and the latin-1 characters whose bytes continue a UTF-8 sequence (without
# them no line can pass for UTF-8, which would refuse the file)
NOT_IN_LINE = "\x00\r\n" + "".join(map(chr, range(0x80, 0xC0)))


@budget(1)
@given(lines=st.lists(st.text(st.characters(codec="latin-1", exclude_characters=NOT_IN_LINE),
                              max_size=15), max_size=10),
       ends=st.lists(line_end, min_size=10, max_size=10), last_end=st.booleans(),
       skip=st.integers(0, 3), block=st.integers(1, 64))
@guarded
def test_fixed_width_lines_keep_their_text_and_line_numbers(lines: list[str], ends: list[str],
                                                            last_end: bool, skip: int,
                                                            block: int) -> None:
    """A fixed width line is handed over as it is, on its own line number, without its
    line end; the skipped header lines count."""
    text = "".join(t + e for t, e in zip(lines, ends, strict=False))
    if lines and not last_end:
        text = text[:-len(ends[len(lines) - 1])]
    expected = [(i, t, ended) for i, (t, ended) in enumerate(split_lines(text), 1)
                if t and i > skip]
    problems: list[Problem] = []
    with mock.patch.object(csv_format, "BLOCK_CHARS", block):
        reader = FixedLineReader(io.BytesIO(text.encode("latin-1")),
                                 FixedOptions(encoding="latin-1", skip_lines=skip), "f.txt",
                                 problems)
        got = list(reader.rows())
    assert got == expected and not problems


# ---- the XML record stream -------------------------------------------------------------

@st.composite
def trees(draw: st.DrawFn) -> bytes:
    """A document of elements named ``r`` (the record), ``a`` and ``b``, nested at
    random, each with a unique ``id``, over several lines."""
    counter = iter(range(1_000_000))

    def grow(parent: Any, depth: int) -> None:
        for _ in range(draw(st.integers(0, 3 if depth < 4 else 0))):
            child = etree.SubElement(parent, draw(st.sampled_from(("r", "r", "a", "b"))),
                                     id=str(next(counter)))
            child.text = draw(st.sampled_from(("", "t", "\n")))
            child.tail = draw(st.sampled_from(("", "\n", " ")))
            grow(child, depth + 1)
    root = etree.Element(draw(st.sampled_from(("doc", "r"))), id=str(next(counter)))
    grow(root, 0)
    return etree.tostring(root, pretty_print=draw(st.booleans()))


@budget(1)
@given(doc=trees())
@guarded
def test_xml_records_are_the_outermost_record_elements_in_document_order(doc: bytes) -> None:
    """Each ``r`` element not directly inside another ``r`` is a record, handed over when
    it ends with the line it starts on, however records and other elements nest; clearing
    the records already read never hides a later one."""
    expected = []
    for _event, el in etree.iterparse(io.BytesIO(doc), events=("end",)):
        up = el.getparent()
        if el.tag == "r" and (up is None or up.tag != "r"):
            expected.append((el.get("id"), el.sourceline))
    got = [(el.get("id"), line) for line, el, _ in xml_format.records(io.BytesIO(doc), "r",
                                                                        "f.xml")]
    assert got == expected


# ---- the guard itself --------------------------------------------------------------------

def test_an_example_that_never_ends_is_reported_as_a_hang() -> None:
    started = time.monotonic()
    with pytest.raises(Hang), time_guard(0.2):
        while True:
            time.sleep(0.01)
    assert time.monotonic() - started < 2
