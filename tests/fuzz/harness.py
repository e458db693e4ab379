"""What every fuzz test of a reader shares: the time guard, reading a file to the end,
the checks every outcome must pass, and the strategies that make hostile files."""

from __future__ import annotations

import csv
import faulthandler
import functools
import io
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import Phase, currently_in_test_context, event, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.config import resource_dir
from gateway.errors import DataError, Problem
from gateway.formats.csv import DEFAULT_MAX_LINE, LINE_LIMIT
from gateway.mapping.loader import Mapping, load_mapping_file
from gateway.mapping.reader import ProblemSink, read_records
from gateway.pipeline.acknowledge import build_ack
from gateway.store.ledger import Exchange

TESTS = Path(__file__).resolve().parents[1]
DATA = TESTS / "data"
CASES = TESTS / "mappings"
OWN_MAPPINGS = Path(__file__).resolve().parent / "mappings"

# seconds one example may run: a small file is read in milliseconds, so this only trips
# on a hang (or on a machine so loaded that nothing else would pass either)
EXAMPLE_TIMEOUT = float(os.environ.get("GATEWAY_FUZZ_TIMEOUT", "10"))


def budget(weight: float, shrink: bool = True) -> settings:
    """This test's share of the profile's examples: heavy tests run fewer. Without
    ``shrink`` a failure is reported as found (a known failure, kept small elsewhere,
    need not cost the time of its reduction on every run)."""
    phases = settings.default.phases if shrink else tuple(
        p for p in settings.default.phases if p is not Phase.shrink)
    return settings(max_examples=max(5, int(settings.default.max_examples * weight)),
                    phases=phases)


# ---- the time guard ----------------------------------------------------------------------

class Hang(Exception):
    """An example ran past ``EXAMPLE_TIMEOUT``: a reader that never ends on some input."""


@contextmanager
def time_guard(seconds: float = EXAMPLE_TIMEOUT) -> Iterator[None]:
    """Raise ``Hang`` in the example once ``seconds`` have passed. A hang inside C code
    (the XML parser) never returns to Python to see the alarm: a while later the process
    dumps every thread's stack and exits, which fails the run all the same."""
    def alarm(_signum: int, _frame: Any) -> None:
        raise Hang(f"the example was still running after {seconds} s")
    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    faulthandler.dump_traceback_later(seconds * 3 + 10, exit=True)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        faulthandler.cancel_dump_traceback_later()
        signal.signal(signal.SIGALRM, previous)


def guarded(test: Callable[..., None]) -> Callable[..., None]:
    """Run each example of a property under the time guard (put it below ``@given``)."""
    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        with time_guard():
            test(*args, **kwargs)
    return run


# ---- reading a file through a mapping, and what any outcome must be --------------------

@functools.cache
def mapping(name: str) -> Mapping:
    """A shipped mapping (``mappings/``) or one of the fuzz folder's own."""
    own = OWN_MAPPINGS / f"{name}.toml"
    return load_mapping_file(own if own.exists() else resource_dir("mappings") / f"{name}.toml")


def seeds(*patterns: str) -> list[bytes]:
    """The bytes of the sample files under ``tests/`` matching the glob patterns, in the
    order of the patterns (the first is the one a shrunk failure starts from)."""
    found = [p for pattern in patterns for p in sorted(TESTS.glob(pattern))]
    assert found, f"no sample file matches {patterns}"
    return [p.read_bytes() for p in found]


@dataclass
class Outcome:
    records: list[tuple[int, dict[str, Any]]]
    problems: list[Problem]      # the sink's, then the error's
    error: DataError | None


def line_bound(data: bytes) -> int:
    """No reader may place anything past this line: every line end is a CR or an LF, and
    any text encoding these readers take writes them as a byte of that value."""
    return data.count(b"\n") + data.count(b"\r") + 1


def read_all(m: Mapping, data: bytes, file_name: str = "fuzz.dat",
             max_line: int = DEFAULT_MAX_LINE) -> Outcome:
    """Read ``data`` to the end through the mapping as the transform does (under the
    channel's ``max_line``), and check the outcome (``check``). Any exception other than
    ``DataError`` escapes: a failure."""
    sink = ProblemSink(keep=1_000_000)
    records: list[tuple[int, dict[str, Any]]] = []
    error = None
    token = LINE_LIMIT.set(max_line)
    try:
        for item in read_records(m, io.BytesIO(data), file_name, sink):
            records.append(item)
    except DataError as exc:
        error = exc
    finally:
        LINE_LIMIT.reset(token)
    problems = list(sink.items) + ([error.problem] if error is not None else [])
    outcome = Outcome(records, problems, error)
    if currently_in_test_context():  # how deep examples go: --hypothesis-show-statistics
        event("refused" if error is not None else "records and problems"
              if records and problems else "records only" if records
              else "problems only" if problems else "nothing")
    check(m, data, file_name, outcome, sink)
    return outcome


def field_names(m: Mapping) -> set[str]:
    """Every key a record of this mapping may carry."""
    names = {f.name for f in m.fields} | {g.name for g in m.groups}
    if m.records is not None:
        names |= {f.name for t in m.records.types for f in t.fields}
    return names


def check(m: Mapping, data: bytes, file_name: str, outcome: Outcome, sink: ProblemSink
          ) -> None:
    """What the gateway promises of any input: records within the file and holding only
    the mapping's fields; every problem located on a line of the file; and an
    acknowledgement that carries them all and is valid against ``ack.xsd``."""
    last = line_bound(data)
    allowed = field_names(m)
    for line, rec in outcome.records:
        assert isinstance(line, int) and 1 <= line <= last, (line, last)
        assert isinstance(rec, dict)
        assert set(rec) <= allowed, set(rec) - allowed
    if m.format in ("csv", "fixed"):  # one record per line or group, in file order
        lines = [line for line, _rec in outcome.records]
        assert lines == sorted(set(lines)), lines
        # a rejected row is a line (or group) of its own, counted once in the ack
        assert len(lines) + sink.rows_rejected <= last, (len(lines), sink.rows_rejected)
    assert sink.count >= len(sink.items)
    for p in outcome.problems:
        assert isinstance(p, Problem)
        assert p.file == file_name, p
        assert isinstance(p.line, int) and 1 <= p.line <= last, (p, last)
        assert p.column is None or (isinstance(p.column, int) and p.column >= 1), p
        assert isinstance(p.message, str) and p.message, p
        assert p.value is None or isinstance(p.value, str), p
        assert p.field is None or isinstance(p.field, str), p
        assert p.render().startswith(f"{file_name}:{p.line}")
    if outcome.problems:
        _ack_is_valid(outcome, file_name, len(data))


@functools.cache
def _ack_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(resource_dir("schemas") / "ack.xsd")))


def _ack_is_valid(outcome: Outcome, file_name: str, size: int) -> None:
    """The sender learns of each problem through its ack: whatever bytes a problem quotes
    back, the ack must still be valid XML of the ack schema."""
    x = Exchange(id=1, direction="in", channel="fuzz", endpoint="fuzz",  # type: ignore[arg-type]
                 file_name=file_name, size=size, sha256="0" * 64, state="REJECTED",  # type: ignore[arg-type]
                 kind=None, document=None, created_at="2026-11-28T09:15:00+00:00",
                 updated_at="2026-11-28T09:15:00+00:00", settled_at=None, source_id=None,
                 parent_id=None, result=None, records_total=None, records_accepted=None,
                 records_rejected=None, note=None, attempts=0, last_error=None)
    accepted = len(outcome.records)
    ack = build_ack(x, "rejected" if outcome.error else "partial",  # type: ignore[arg-type]
                    total=accepted + len(outcome.problems), accepted=accepted,
                    rejected=len(outcome.problems), problems=outcome.problems,
                    problem_count=len(outcome.problems))
    doc = etree.fromstring(ack)
    schema = _ack_schema()
    assert schema.validate(doc), schema.error_log


# ---- strategies ------------------------------------------------------------------------

# byte strings that steer a mutated file into the paths readers take on their delimiters,
# encodings, markup and trailers
TOKENS = (
    b"\r\n", b"\n", b"\r", b";", b",", b"\t", b'"', b'""', b" ", b"\x00", b"\x1a", b"\xff",
    b"\xfe", b"\x80", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\xc3\xa9", b"\xe9",
    b"\xc3", b"\xe2\x80\xae", b"\xf0\x9f\x92\xa9", b"\xed\xa0\x80",
    b"<", b">", b"/>", b"</", b"&", b"&amp;", b"&#0;", b"&#x1F4A9;", b"&lt", b"&nbsp;",
    b"<![CDATA[x]]>", b"]]>", b"<!-- c -->", b"<?pi x?>", b'xml:lang="fr"', b"<x>",
    b"<!DOCTYPE r [<!ENTITY e 'x'>]>", b'<?xml version="1.0" encoding="ISO-8859-1"?>',
    b'<?xml version="1.0" encoding="UTF-16"?>', b"xmlns:a='urn:a'",
    b"'", b"+", b":", b"?", b"*", b"~", b"^", b"UNA:+.? '", b"UNH+", b"UNT+", b"UNZ+",
    b"UNB+", b"UNG+", b"LIN+", b"ISA*", b"GS*", b"ST*", b"SE*", b"GE*", b"IEA*", b"PO1*",
    b"=cmd|' /C calc'!A0", b"@SUM(A1)", b"-", b"0", b"9" * 40, b"1e9999", b"NaN",
    b"H", b"L", b"T", b"T000000", b"T999999", b"00000000", b"99999999")


def _splice(data: bytearray, pos: int, cut: int, insert: bytes) -> None:
    data[pos:pos + cut] = insert


@st.composite
def mutated(draw: st.DrawFn, samples: list[bytes], max_steps: int = 6) -> bytes:
    """A sample file with a few mutations: bytes flipped, set, inserted (a token or
    random), deleted, duplicated or moved; lines duplicated, dropped or swapped; the file
    cut short. Shrinks toward the first sample with a single simple mutation."""
    data = bytearray(draw(st.sampled_from(samples)))
    # mostly one or two: every mutation more makes a refusal of the whole file likelier
    for _ in range(draw(st.sampled_from((1, 1, 1, 2, 2, 3, max_steps)))):
        op = draw(st.sampled_from(("token", "flip", "set", "insert", "delete", "dup",
                                   "line", "truncate")))
        pos = draw(st.integers(0, len(data)))
        if op == "token":
            _splice(data, pos, 0, draw(st.sampled_from(TOKENS)))
        elif op == "flip" and data:
            i = min(pos, len(data) - 1)
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[min(pos, len(data) - 1)] = draw(st.integers(0, 255))
        elif op == "insert":
            _splice(data, pos, 0, draw(st.binary(min_size=1, max_size=16)))
        elif op == "delete":
            _splice(data, pos, draw(st.integers(1, 64)), b"")
        elif op == "dup":
            n = draw(st.integers(1, 256))
            piece = bytes(data[pos:pos + n])
            _splice(data, draw(st.integers(0, len(data))), 0,
                    piece * draw(st.integers(1, 3)))
        elif op == "line":
            lines = bytes(data).splitlines(keepends=True)
            if lines:
                i = min(draw(st.integers(0, len(lines) - 1)), len(lines) - 1)
                j = min(draw(st.integers(0, len(lines) - 1)), len(lines) - 1)
                how = draw(st.sampled_from(("dup", "drop", "swap")))
                if how == "dup":
                    lines.insert(j, lines[i])
                elif how == "drop":
                    del lines[i]
                else:
                    lines[i], lines[j] = lines[j], lines[i]
                data = bytearray(b"".join(lines))
        elif op == "truncate":
            del data[pos:]
    return bytes(data)


# cells a partner's export or an attacker may hold, beside the real values of the samples
HOSTILE_CELLS = (
    "", " ", "  12  ", "0", "-0", "-1", "+5", "1e3", "1E+999999", "NaN", "Infinity", "sNaN",
    "1_000", "١٢٣", "²", "12,5", "12.5", "1.234,56", "1 234,5", "12,", ",5", "9" * 5000,
    "0x1F", "000004990", "00000499-", "-000000001", "=1+2", "=cmd|' /C calc'!A0", "@SUM(A1)",
    "+33 6 12 34 56 78", "31/02/2026", "29/02/2025 09:15", "28/11/2026 24:00",
    "28/11/2026 09:15", "00000000", "20261128091500", "99991231235959", "0000-00-00",
    "2026-13-01", "2026-11-28", "2026-11-28T09:15:00", "2026-11-28T09:15:00+25:00",
    "2026-11-28T09:15:00Z", "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+14:00",
    '"', '""', ";", ",", "\r\n", "\n", "\r", "\x00", "\x1b[31m", "\u202e", "\ufeff",
    "\ud800", "Ã©", "é", "ÿ", "€", "true", "oui", "FALSE", "paid", "pending", "EUR", "eur",
    "x" * 300, "<b>", "&amp;", "]]>", "'75011")

hostile_cell = st.one_of(st.sampled_from(HOSTILE_CELLS), st.text(max_size=12),
                         st.from_regex(r"[-+]?[0-9]{0,6}([.,][0-9]{0,4})?", fullmatch=True))


def decoded_rows(sample: bytes, m: Mapping) -> tuple[list[str], list[list[str]]]:
    """A CSV sample as (header, rows) in the mapping's encoding and delimiter."""
    text = sample.decode(m.csv.encoding if not sample.startswith(b"\xef\xbb\xbf")
                         else "utf-8-sig", "replace")
    rows = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=m.csv.delimiter,
                                  quotechar=m.csv.quotechar) if r]
    return (rows[0], rows[1:]) if m.csv.header else ([], rows)


@dataclass
class CsvParts:
    """A CSV file as its header line and rows, each row's text complete (quotes closed,
    line end included), and the encoding it is written in."""

    head: str
    rows: list[str]
    encoding: str

    def encode(self, rows: int | None = None) -> bytes:
        """The file, or the file of its header and first ``rows`` rows."""
        return (self.head + "".join(self.rows[:rows])).encode(self.encoding, "replace")


@st.composite
def csv_parts(draw: st.DrawFn, m: Mapping, samples: list[bytes]) -> CsvParts:
    """A CSV file in the sample's layout, each cell a value of its column in the sample or
    a hostile one; sometimes a header or a row with a column too many or too few, another
    line end, another encoding than the mapping's."""
    header, rows = decoded_rows(draw(st.sampled_from(samples)), m)
    width = len(header) or max(len(r) for r in rows)
    columns = [[r[i] for r in rows if i < len(r)] or [""] for i in range(width)]
    out = io.StringIO(newline="")
    ending = draw(st.sampled_from(("\r\n", "\n", "\r")))
    writer = csv.writer(out, delimiter=m.csv.delimiter, quotechar=m.csv.quotechar,
                        lineterminator=ending,
                        quoting=draw(st.sampled_from((csv.QUOTE_MINIMAL, csv.QUOTE_ALL))))

    def text_of(row: list[str]) -> str:
        out.seek(0)
        out.truncate()
        writer.writerow(row)
        return out.getvalue()
    head_text = ""
    if header:
        head = list(header)
        change = draw(st.sampled_from(("none",) * 6 + ("drop", "extra", "swap", "blank")))
        if change == "drop":
            del head[draw(st.integers(0, len(head) - 1))]
        elif change == "extra":
            head.insert(draw(st.integers(0, len(head))), draw(hostile_cell))
        elif change == "swap" and len(head) > 1:
            i = draw(st.integers(0, len(head) - 2))
            head[i], head[i + 1] = head[i + 1], head[i]
        elif change == "blank":
            head[draw(st.integers(0, len(head) - 1))] = ""
        head_text = text_of(head)
    texts = []
    for _ in range(draw(st.integers(0, 6))):
        base = draw(st.sampled_from(rows)) if rows and draw(st.booleans()) else None
        row = []
        for i in range(width):
            if draw(st.integers(0, 3)) == 0:
                row.append(draw(hostile_cell))
            elif base is not None and i < len(base):
                row.append(base[i])
            else:
                row.append(draw(st.sampled_from(columns[i])))
        width_change = draw(st.sampled_from((0,) * 8 + (-1, 1)))
        if width_change < 0:
            row.pop()
        elif width_change > 0:
            row.append(draw(hostile_cell))
        texts.append(text_of(row))
    encoding = draw(st.sampled_from((m.csv.encoding,) * 6 + ("utf-8", "utf-8-sig",
                                                              "latin-1", "utf-16")))
    return CsvParts(head_text, texts, encoding)


@st.composite
def csv_files(draw: st.DrawFn, m: Mapping, samples: list[bytes]) -> bytes:
    """``csv_parts`` as one file, sometimes cut short."""
    data = draw(csv_parts(m, samples)).encode()
    if draw(st.integers(0, 9)) == 0:
        data = data[:draw(st.integers(0, len(data)))]
    return data


def xml_samples(root: str) -> list[bytes]:
    """Every canonical document with this root element among the mapping cases (inputs,
    expected outputs, contexts): valid files to mutate."""
    found = []
    for p in sorted(CASES.glob("*/**/*.xml")):
        data = p.read_bytes()
        if f"<{root}>".encode() in data[:300] or f"<{root} ".encode() in data[:300]:
            found.append(data)
    assert found, f"no canonical {root} document among the mapping cases"
    return found


def _xml_text(text: str) -> str:
    """``text`` with what XML 1.0 cannot hold replaced (lxml refuses to set it)."""
    return "".join(c if c in "\t\n\r" or (" " <= c <= "\ud7ff") or ("\ue000" <= c <= "\ufffd")
                   or c >= "\U00010000" else "?" for c in text)


@dataclass
class XmlParts:
    """A document as its root element and how it is written."""

    root: Any
    encoding: str
    declaration: bool
    pretty: bool

    def encode(self, records: int | None = None) -> bytes:
        """The document, or the document of its first ``records`` top-level elements."""
        root = etree.fromstring(etree.tostring(self.root))  # both written from one copy
        for extra in root[records:] if records is not None else ():
            root.remove(extra)
        return etree.tostring(root, encoding=self.encoding, xml_declaration=self.declaration,
                              pretty_print=self.pretty)


@st.composite
def xml_parts(draw: st.DrawFn, m: Mapping, samples: list[bytes]) -> XmlParts:
    """A canonical document rebuilt from a sample's records: some texts and attributes
    made hostile, elements dropped, repeated, unknown ones added, a record nested in
    another; written in one of several encodings, with or without a declaration."""
    assert m.xml is not None
    tag = m.xml.record.rsplit("/", 1)[-1]
    sample = etree.fromstring(draw(st.sampled_from(samples)))
    records = list(sample.iter(tag)) or [etree.Element(tag)]
    root = etree.Element(sample.tag)
    for _ in range(draw(st.integers(0, 4))):
        rec = etree.fromstring(etree.tostring(draw(st.sampled_from(records))))
        for _ in range(draw(st.integers(0, 5))):
            elements = list(rec.iter())
            el = draw(st.sampled_from(elements))
            op = draw(st.sampled_from(("text", "text", "drop", "repeat", "unknown", "attr",
                                       "nest", "empty")))
            if op == "text":
                el.text = _xml_text(draw(hostile_cell))
            elif op == "drop" and el is not rec:
                el.getparent().remove(el)
            elif op == "repeat" and el is not rec:
                el.addnext(etree.fromstring(etree.tostring(el)))
            elif op == "unknown":
                etree.SubElement(el, draw(st.sampled_from(("x", tag, "line", "name", "sku"))))
            elif op == "attr":
                name = draw(st.sampled_from(("lang", "{http://www.w3.org/XML/1998/namespace}lang",
                                             "q", "id")))
                el.set(name, _xml_text(draw(hostile_cell)))
            elif op == "nest":
                el.append(etree.fromstring(etree.tostring(rec)))
            elif op == "empty":
                el.text = None
                for child in list(el):
                    el.remove(child)
        root.append(rec)
    return XmlParts(root, draw(st.sampled_from(("UTF-8", "UTF-8", "ISO-8859-1", "UTF-16",
                                                "ASCII"))),
                    draw(st.booleans()), draw(st.booleans()))


@st.composite
def xml_files(draw: st.DrawFn, m: Mapping, samples: list[bytes]) -> bytes:
    return draw(xml_parts(m, samples)).encode()


@st.composite
def multirecord_files(draw: st.DrawFn, m: Mapping, samples: list[bytes]) -> bytes:
    """A multi-record file made of the sample's lines, in any order and number, a field
    of some made hostile; usually with honest trailers (each trailer counts the detail
    lines since the previous header or trailer), so that the details are read rather than
    the whole file refused on a count."""
    spec = m.records
    assert spec is not None
    fixed = m.format == "fixed"
    encoding = (m.fixed.encoding if fixed and m.fixed else m.csv.encoding)
    sep = m.csv.delimiter
    lines = [ln for ln in draw(st.sampled_from(samples)).decode(encoding, "replace")
             .splitlines() if ln]
    kinds = {t.code: t for t in spec.types}

    def type_of(line: str) -> str:
        if fixed:
            assert spec.type.start is not None and spec.type.length is not None
            return line[spec.type.start - 1:spec.type.start - 1 + spec.type.length].strip()
        cells = line.split(sep)
        i = spec.type.index or 0
        return cells[i].strip() if i < len(cells) else ""

    def put(line: str, f: Any, value: str, fit: str) -> str:
        """``value`` in field ``f`` of the line: fitted to the field's width (padded with
        spaces or, for a count, zeros) or, ``raw``, as it is (shifting what follows)."""
        if fixed:
            a = f.start - 1
            text = (value[:f.length].rjust(f.length, "0") if fit == "zeros" else
                    value[:f.length].ljust(f.length) if fit == "pad" else value)
            return line.ljust(a)[:a] + text + line[a + f.length:]
        cells = line.split(sep)
        cells += [""] * (f.index + 1 - len(cells))
        cells[f.index] = value
        return sep.join(cells)

    out = []
    for _ in range(draw(st.integers(0, 10))):
        line = draw(st.sampled_from(lines))
        kind = kinds.get(type_of(line))
        if kind is not None and kind.fields and draw(st.booleans()):
            f = draw(st.sampled_from(kind.fields))
            line = put(line, f, draw(hostile_cell),
                       draw(st.sampled_from(("pad", "pad", "pad", "raw"))))
        out.append(line)
    if draw(st.integers(0, 3)) > 0:  # honest trailers
        details = 0
        for i, line in enumerate(out):
            kind = kinds.get(type_of(line))
            if kind is None:
                continue
            if kind.role == "detail":
                details += 1
            elif kind.role == "header":
                details = 0
            elif kind.role == "trailer" and kind.count is not None:
                out[i] = put(line, kind.count, str(details), "zeros")
                details = 0
    ending = draw(st.sampled_from(("\r\n", "\n")))
    text = "".join(ln + ending for ln in out)
    if draw(st.integers(0, 9)) == 0:
        text = text[:draw(st.integers(0, len(text)))]
    return text.encode(encoding, "replace")
