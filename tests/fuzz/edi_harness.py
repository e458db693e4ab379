"""What the EDI fuzz tests share: reading a file with a syntax reader to the end and the
checks every outcome must pass, and the strategies that make hostile interchanges out of
the samples (separators swapped, segments duplicated or dropped, cuts at every kind of
place, release characters at boundaries, huge segments, byte-order marks where none
belongs)."""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from unittest import mock

from hypothesis import currently_in_test_context, event
from hypothesis import strategies as st

from gateway.errors import DataError, Problem
from gateway.formats import edifact, edistream, x12
from gateway.formats.edi import (EdiProblem, GroupEnd, InterchangeEnd, Message, Separators,
                                 Tolerance)

from .harness import TESTS, line_bound, mutated

SYNTAX: dict[str, ModuleType] = {"edifact": edifact, "x12": x12}
# envelope tags per standard: (message header, message trailer)
MESSAGE_TAGS = {"edifact": ("UNH", "UNT"), "x12": ("ST", "SE")}


@functools.cache
def edi_seeds(standard: str) -> list[bytes]:
    """Every EDIFACT (or X12) file among the tests' data and mapping cases, the order
    samples first, each once; for EDIFACT also a UTF-8 (UNOY) interchange and one with
    unusual UNA separators, which no sample is."""
    patterns = (("data/edifact/*.edi", "mappings/edifact_*/*.edi") if standard == "edifact"
                else ("data/x12/*.x12", "mappings/x12_*/*.x12"))
    found: list[bytes] = []
    for pattern in patterns:
        for p in sorted(TESTS.glob(pattern)):
            data = p.read_bytes()
            if data not in found:
                found.append(data)
    assert found, f"no {standard} sample under tests/"
    if standard == "edifact":
        texts = ["Épicerie L'Arbre à Café", "Товар: 2+2", "日本 50% ?", "Mug « Café »"]
        found.append(edifact_write(texts, "UNOY"))
        found.append(edifact_write(texts[:1] + texts[3:], "UNOC", Separators(
            component="|", element="#", segment="~", release="!", repetition="^")))
    return found


# ---- reading a file to the end, and what any outcome must be ----------------------------

@dataclass
class EdiOutcome:
    events: list[Any]
    error: DataError | None

    def key(self) -> Any:
        """What two readings of one file must agree on."""
        return (self.events, None if self.error is None else self.error.problem)


@contextmanager
def scanner_sizes(block: int | None = None, max_segment: int | None = None) -> Iterator[None]:
    """The scanner's read block and longest segment set for a while (None: as shipped)."""
    with mock.patch.object(edistream, "BLOCK", block or edistream.BLOCK), \
            mock.patch.object(edistream, "MAX_SEGMENT", max_segment or edistream.MAX_SEGMENT):
        yield


def read_events(standard: str, data: bytes, file_name: str = "fuzz.edi",
                tolerance: Tolerance | None = None, max_message_segments: int | None = None
                ) -> EdiOutcome:
    """Every event of ``data`` read by the syntax reader, checked (``check_events``). Any
    exception but ``DataError`` escapes: a failure."""
    out: list[Any] = []
    error = None
    kw: dict[str, Any] = {"tolerance": tolerance or Tolerance()}
    if max_message_segments is not None:
        kw["max_message_segments"] = max_message_segments
    try:
        for ev in SYNTAX[standard].events(io.BytesIO(data), file_name, **kw):
            out.append(ev)
    except DataError as exc:
        error = exc
    outcome = EdiOutcome(out, error)
    if currently_in_test_context():
        event("no interchange" if error is not None else
              "every message clean" if all(getattr(e, "ok", True) for e in out)
              else "some problems")
    check_events(standard, data, file_name, outcome)
    return outcome


def problems_of(events: list[Any]) -> Iterator[tuple[Any, EdiProblem]]:
    for ev in events:
        for p in ev.problems:
            yield ev, p


def check_events(standard: str, data: bytes, file_name: str, outcome: EdiOutcome) -> None:
    """What a syntax reader promises of any bytes: ``DataError`` only for a file without an
    interchange, on a line of the file; else messages, group ends and interchange ends in
    file order, the last an interchange end, every message starting with its header
    segment, positions counted from 1, and every problem with a line of the file, a
    standard's error code and a message that renders."""
    last = line_bound(data)
    head, _trailer = MESSAGE_TAGS[standard]
    if outcome.error is not None:
        p = outcome.error.problem
        assert outcome.events == [], "DataError after events: a file that held an interchange"
        assert p.file == file_name and isinstance(p.line, int) and 1 <= p.line <= last, p
        assert p.message.startswith(f"no {standard.upper()} interchange"), p.message
        return
    assert outcome.events, "no event and no DataError"
    assert isinstance(outcome.events[-1], InterchangeEnd), outcome.events[-1]
    previous = 1
    for ev in outcome.events:
        assert isinstance(ev, (Message, GroupEnd, InterchangeEnd)), ev
        if isinstance(ev, Message):
            assert ev.segments and ev.segments[0].tag == head, ev.segments[:1]
            lines = [s.line for s in ev.segments]
            assert lines == sorted(lines), lines           # segments in file order
            assert 1 <= lines[0] and lines[-1] <= last, (lines, last)
            assert lines[0] >= previous, (lines[0], previous)  # messages in file order
            previous = lines[0]
            # the sender's numbering: a segment the reader could not keep leaves a gap,
            # and its problem says its place
            positions = [s.position for s in ev.segments]
            gaps = set(range(1, positions[-1] + 1)) - set(positions)
            assert positions[0] == 1 and positions == sorted(set(positions)), positions
            assert gaps <= {p.position for p in ev.problems} or any(
                p.code == edifact.CODES[("*", "size")] if standard == "edifact"
                else p.code == x12.CODES[("message", "size")] for p in ev.problems), (
                positions, ev.problems)
            assert ev.index >= 1
    for ev, p in problems_of(outcome.events):
        assert isinstance(p, EdiProblem), p
        assert isinstance(p.message, str) and p.message, p
        assert isinstance(p.code, str) and p.code, p          # the ack has to say it
        assert p.level in ("interchange", "group", "message", "segment", "element"), p
        if p.line is None:
            # only the interchange trailer missing at the end of the file has no segment
            # of its own: the mapping reader puts it on the interchange's header line
            assert isinstance(ev, InterchangeEnd) and p.level == "interchange" and \
                not ev.complete, p
        else:
            assert isinstance(p.line, int) and 1 <= p.line <= last, (p, last)
        rendered = p.problem(file_name)
        assert isinstance(rendered, Problem) and rendered.render().startswith(file_name)


# ---- what an interchange is made of ----------------------------------------------------

@dataclass(frozen=True)
class Layout:
    """Where a sample's separators are, to mutate it where readers decide things."""

    element: int
    component: int
    segment: int
    release: int | None


def layout(standard: str, data: bytes) -> Layout:
    if standard == "edifact":
        if data.startswith(b"UNA") and len(data) >= 9:
            rel = data[6]
            return Layout(data[4], data[3], data[8], None if rel == 0x20 else rel)
        return Layout(ord("+"), ord(":"), ord("'"), ord("?"))
    if data.startswith(b"ISA") and len(data) >= 106:
        return Layout(data[3], data[104], data[105], None)
    return Layout(ord("*"), ord(">"), ord("~"), None)


def segments_of(data: bytes, lay: Layout) -> list[bytes]:
    """The file cut after each terminator (a released one excepted), the line break after
    a terminator kept with its segment: joined, the file as it was."""
    out, start, i = [], 0, 0
    n = len(data)
    while i < n:
        b = data[i]
        if lay.release is not None and b == lay.release:
            i += 2
            continue
        if b == lay.segment:
            j = i + 1
            while j < n and data[j] in b"\r\n" and data[j] != lay.segment:
                j += 1
            out.append(data[start:j])
            start = i = j
            continue
        i += 1
    if start < n:
        out.append(data[start:])
    return out


# what separators may be swapped for: punctuation, the information separators UNOB uses,
# line ends, a Latin-1 byte, NUL
ODD_SEPARATORS = b"!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~" + b"\x1c\x1d\x1f\x19\n\r\x85\xff\x00\x7f"


def reseparated(standard: str, data: bytes, new: bytes) -> bytes:
    """The sample written again with other separators, its UNA (or ISA) saying so:
    EDIFACT ``new`` is component, element, release, terminator; X12 element, component,
    terminator. EDIFACT texts keep their characters (released where the new separators
    need it); X12 cannot escape, so a text holding a new delimiter changes. A line end
    as the terminator replaces the line breaks after terminators."""
    lay = layout(standard, data)
    newline_term = new[-1] in b"\r\n"
    if standard == "x12":
        out = data.translate(bytes.maketrans(
            bytes([lay.element, lay.component, lay.segment]), new))
        if newline_term:
            out = re.sub(re.escape(new[-1:]) + rb"\r?\n", new[-1:], out)
        return out
    comp, elem, rel, term = new
    roles = {lay.component: comp, lay.element: elem, lay.segment: term}
    specials = set(new)
    old_rel = lay.release
    body = data[9:] if data.startswith(b"UNA") else data
    out = bytearray(b"UNA" + bytes([comp, elem, ord("."), rel, ord(" "), term]))
    i, n = 0, len(body)
    after_term = True
    while i < n:
        b = body[i]
        if after_term and b in b" \t\r\n":  # line breaks between segments
            if not newline_term:
                out.append(b)
            i += 1
            continue
        after_term = False
        if old_rel is not None and b == old_rel and i + 1 < n and body[i + 1] in (
                old_rel, lay.component, lay.element, lay.segment):
            ch, i = body[i + 1], i + 2     # a released character: the character itself
        elif b in roles:
            out.append(roles[b])
            after_term = b == lay.segment
            i += 1
            continue
        else:
            ch, i = b, i + 1
        if ch in specials:
            out.append(rel)
        out.append(ch)
    return bytes(out)


@st.composite
def swapped(draw: st.DrawFn, standard: str, data: bytes, pool: bytes = ODD_SEPARATORS
            ) -> bytes:
    """The sample with its separators swapped for others (its UNA, or its ISA, saying
    so)."""
    size = 4 if standard == "edifact" else 3
    new = draw(st.lists(st.sampled_from(list(pool)), min_size=size, max_size=size,
                        unique=True), label="separators")
    return reseparated(standard, data, bytes(new))


ENVELOPE = {"edifact": (b"UNA", b"UNB", b"UNZ", b"UNG", b"UNE"),
            "x12": (b"ISA", b"GS", b"GE", b"IEA")}


@st.composite
def wrapped(draw: st.DrawFn, standard: str, data: bytes
            ) -> tuple[bytes, list[tuple[str, int]]]:
    """The sample with other line breaks: none, LF or CRLF after each terminator, and
    some segments wrapped (a line break inside, as files wrapped at 80 columns have, in a
    UNB too; never right after a release character, nor in the fixed-width ISA, nor in a
    UNA opening the file, whose 9 bytes no 80-column line holds apart).
    With the tag and line each segment of a message starts on."""
    lay = layout(standard, data)
    out = bytearray()
    expected: list[tuple[str, int]] = []
    for piece in segments_of(data, lay):
        body = piece.rstrip(b"\r\n")
        tag = body.split(bytes([lay.element]))[0][:3]
        if tag not in (b"ISA", b"UNA") and len(body) > 2 and draw(st.integers(0, 3)) == 0:
            cuts = draw(st.lists(st.integers(1, len(body) - 2), max_size=3, unique=True))
            for at in sorted(cuts, reverse=True):
                if lay.release is None or body[at - 1] != lay.release:
                    body = body[:at] + draw(st.sampled_from((b"\n", b"\r\n"))) + body[at:]
        if tag not in ENVELOPE[standard]:
            expected.append((tag.decode("latin-1"), out.count(b"\n") + 1))
        out += body + draw(st.sampled_from((b"", b"\n", b"\r\n")), label="line end")
    return bytes(out), expected


def cut_points(standard: str, data: bytes) -> dict[str, list[int]]:
    """Where to cut a file, per kind of place a reader decides something at."""
    lay = layout(standard, data)
    at = {
        "header": list(range(min(len(data), 112))),
        "after terminator": [i + 1 for i, b in enumerate(data) if b == lay.segment],
        "before terminator": [i for i, b in enumerate(data) if b == lay.segment],
        "after element separator": [i + 1 for i, b in enumerate(data) if b == lay.element],
        "after component separator": [i + 1 for i, b in enumerate(data)
                                      if b == lay.component],
        "after release": [i + 1 for i, b in enumerate(data)
                          if lay.release is not None and b == lay.release],
        "inside a character": [i for i, b in enumerate(data) if 0x80 <= b < 0xC0],
        "inside a tag": [i + k for i, b in enumerate(data) if b == lay.segment
                         for k in (2, 3)],
        "anywhere": list(range(len(data) + 1)),
    }
    return {k: [i for i in v if 0 <= i <= len(data)] for k, v in at.items()
            if any(0 <= i <= len(data) for i in v)}


SEGMENTS = {
    "edifact": [b"UNH+9+ORDERS:D:96A:UN:EAN008'", b"UNT+2+9'", b"UNG+ORDERS+S+R+261128:0915+1+UN+D:96A'",
                b"UNE+1+1'", b"UNZ+1+X'", b"UNB+UNOC:3+S:14+R:14+261128:0915+Z'",
                b"UNA:+.? '", b"UNA|#,! ~", b"LIN+1++A:EN'", b"QTY+21:1'", b"BGM+220+PO+9'",
                b"UNS+S'", b"DTM+137:20261128:102'", b"MOA+86:1.00'", b"??'", b"?'",
                b"'", b"''", b"+'", b"ABCD+1'", b"lin+1'", b"UNB'", b"UNH'", b"UNT'"],
    "x12": [b"ST*850*9~", b"SE*2*9~", b"GS*PO*A*B*20261128*0915*1*X*004010~", b"GE*1*1~",
            b"IEA*1*000000001~", b"PO1*1*1*EA*1.00**VP*X~", b"BEG*00*SA*PO**20261128~",
            b"AMT*TT*1.00~", b"N1*BY*X~", b"~", b"~~", b"*~", b"ABCD*1~", b"po1*1~",
            b"ISA*00~", b"ST~", b"SE~", b"GS~", b"GE~"],
}


@st.composite
def edi_mutated(draw: st.DrawFn, standard: str, samples: list[bytes]) -> bytes:
    """A sample (or two, one after the other) changed in what EDI readers decide on:
    separators swapped; segments duplicated, dropped, swapped, or added from a list of
    envelope and ordinary ones; release characters run up to a boundary; a huge segment;
    a byte-order mark or junk between segments; cut at a kind of place; plus the byte
    mutations every reader gets."""
    data = draw(st.sampled_from(samples))
    if draw(st.integers(0, 5)) == 0:  # several interchanges, maybe junk between them
        sep = draw(st.sampled_from((b"", b"\n", b"\r\n", b"JUNK\n", b"\xef\xbb\xbf",
                                    b"\x00\x00", b"UNA", b"ISA*")))
        data = data + sep + draw(st.sampled_from(samples))
    if draw(st.integers(0, 4)) == 0:
        data = draw(swapped(standard, data))
    lay = layout(standard, data)
    for _ in range(draw(st.sampled_from((1, 1, 2, 3)))):
        segs = segments_of(data, lay)
        op = draw(st.sampled_from(("dup", "drop", "swap", "add", "release", "huge", "bom",
                                   "junk", "cut", "bytes")), label="op")
        i = draw(st.integers(0, max(len(segs) - 1, 0)))
        j = draw(st.integers(0, max(len(segs) - 1, 0)))
        if op == "dup" and segs:
            segs.insert(j, segs[i])
        elif op == "drop" and segs:
            del segs[i]
        elif op == "swap" and segs:
            segs[i], segs[j] = segs[j], segs[i]
        elif op == "add":
            seg = draw(st.sampled_from(SEGMENTS[standard]))
            segs.insert(j, seg.replace(SEGMENTS[standard][0][-1:], bytes([lay.segment]))
                        + draw(st.sampled_from((b"", b"\n"))))
        elif op == "release":  # a run of release characters where a reader decides
            rel = bytes([lay.release]) if lay.release is not None else b"?"
            run = rel * draw(st.integers(1, 5))
            piece = segs[i] if segs else b""
            where = draw(st.sampled_from(("before terminator", "end", "start",
                                          "before separator")))
            if where == "before terminator" and bytes([lay.segment]) in piece:
                k = piece.rindex(bytes([lay.segment]))
                piece = piece[:k] + run + piece[k:]
            elif where == "before separator" and bytes([lay.element]) in piece:
                k = piece.index(bytes([lay.element]))
                piece = piece[:k] + run + piece[k:]
            elif where == "start":
                piece = run + piece
            else:
                piece = piece + run
            if segs:
                segs[i] = piece
            else:
                segs = [piece]
        elif op == "huge":  # longer than the scanner holds (the test makes that small)
            tag = b"FTX+AAI+++" if standard == "edifact" else b"PID*F****"
            fill = draw(st.sampled_from((b"X", b"\xc3\xa9", b"\n", b"?", b"ab?'")))
            seg = tag + fill * draw(st.integers(100, 3000)) + bytes([lay.segment])
            if draw(st.booleans()):
                seg = seg[:-1]  # not even terminated
            segs.insert(j, seg)
        elif op == "bom":
            bom = b"\xef\xbb\xbf"
            piece = segs[i] if segs else b""
            k = draw(st.integers(0, len(piece)))
            piece = piece[:k] + bom + piece[k:]
            segs = segs[:i] + [piece] + segs[i + 1:] if segs else [piece]
        elif op == "junk":
            segs.insert(j, draw(st.one_of(st.binary(min_size=1, max_size=24),
                                          st.sampled_from((b"\n\n", b"   ", b"\x00",
                                                           b"%PDF-1.4\n", b"<x/>")))))
        data = b"".join(segs)
        if op == "cut":
            points = cut_points(standard, data)
            kind = draw(st.sampled_from(sorted(points)), label="cut at")
            data = data[:draw(st.sampled_from(points[kind]))]
        elif op == "bytes":
            data = draw(mutated([data], max_steps=2))
    return data


# ---- the writers ------------------------------------------------------------------------

def edifact_write(texts: list[str], syntax: str, separators: Separators | None = None,
                  newline: bool = True) -> bytes:
    """One ORDRSP message whose FTX segments carry each text as a component."""
    sink = io.BytesIO()
    w = edifact.EdifactWriter(sink, sender="S", recipient="R", control="12", date="261128",
                              time="0915", syntax=syntax, separators=separators,
                              newline=newline)
    w.begin_message("ORDRSP", "1", "D96A")
    for t in texts:
        w.segment("FTX", "AAI", "", "", (t, "x"))
    w.end_message()
    w.close()
    return sink.getvalue()


def x12_write(texts: list[str], separators: Separators | None = None, version: str = "00401",
              newline: bool = True) -> bytes:
    """One 855 whose PID segments carry each text as PID05, and as a component of PID04."""
    sink = io.BytesIO()
    w = x12.X12Writer(sink, sender="A", recipient="B", control="7", date="261128",
                      time="0915", separators=separators, version=version, newline=newline)
    w.begin_group("PR", "3", "004010")
    w.begin_message("855", "0001")
    for t in texts:
        w.segment("PID", "F", "", "", ("08", t), t)
    w.end_message()
    w.end_group()
    w.close()
    return sink.getvalue()


def texts_read(events: list[Any], element: int, component: int = 1) -> list[str]:
    [msg] = [e for e in events if isinstance(e, Message)]
    assert msg.ok, msg.problems
    assert all(e.ok for e in events if isinstance(e, InterchangeEnd))
    return [s.value(element, component) for s in msg.segments[1:-1]]

