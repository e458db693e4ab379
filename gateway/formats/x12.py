"""X12 syntax: interchanges read as a stream of events, and written.

The ISA segment names the interchange's delimiters by where they stand: the byte after
``ISA`` is the element separator, ISA16 the component separator and the byte after it the
segment terminator (a tilde, a newline or any unusual byte); from version 00402 ISA11 is
the repetition separator. X12 has no escape: a separator inside a value cannot be
written. A UTF-8 byte-order mark, line breaks after terminators and several interchanges
in one file are read; GS/GE and ST/SE counts and control numbers are checked, each
problem kept with its line, segment, element and the code a 997 (AK304, AK403, AK502,
AK905) or a TA1 (interchange) needs to say it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

from .edi import X12, EdiProblem, Element, Event, Group, Interchange, Message, Segment, \
    Separators, Tolerance, TOLERANCE, Value
from .edistream import (MAX_MESSAGE_SEGMENTS, Reader, Scanner, Spec, WriterBase, run,
                         split)

CODES = {("message", "count"): "4", ("message", "reference"): "3",
         ("message", "missing"): "2", ("message", "size"): "5",
         ("group", "count"): "5", ("group", "reference"): "4", ("group", "missing"): "3",
         ("group", "position"): "1",
         ("interchange", "count"): "021", ("interchange", "reference"): "001",
         ("interchange", "missing"): "023", ("interchange", "junk"): "024",
         ("interchange", "header"): "020",
         ("segment", "position"): "2", ("segment", "tag"): "1", ("segment", "size"): "8",
         ("segment", "missing"): "8", ("segment", "characters"): "8"}
_TAG = re.compile(r"[A-Z][A-Z0-9]{1,2}\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
ISA_LENGTH = 106


def _group(seg: Segment) -> Group:
    return Group(id=seg.value(1), control=seg.value(6), version=seg.value(8),
                 sender=seg.value(2), recipient=seg.value(3), header=seg)


def _message(seg: Segment, ic: Interchange, group: Group | None, index: int) -> Message:
    version = seg.value(3) or (group.version if group is not None else "") or ic.syntax
    return Message(interchange=ic, group=group, type=seg.value(1), version=version,
                   reference=seg.value(2), segments=(seg,), index=index)


SPEC = Spec(standard=X12, interchange=("ISA", "IEA"), group=("GS", "GE"),
            message=("ST", "SE"), starts=("ISA",), codes=CODES, groups_required=True, counts_groups_only=True,
            new_group=_group, new_message=_message, interchange_segments=("TA1",))


def events(src: BinaryIO, file_name: str, *, tolerance: Tolerance | None = None,
           max_message_segments: int = MAX_MESSAGE_SEGMENTS) -> Iterator[Event]:
    """The transaction sets, group ends and interchange ends of an X12 file, in file
    order (see ``edi.py``); ``DataError`` only when the file holds no interchange."""
    return run(SPEC, src, file_name, _interchanges, tolerance or TOLERANCE.get(),
               max_message_segments)


def _code(what: str) -> str:
    return CODES[("interchange", what)]


def _interchanges(sc: Scanner, junk: list[EdiProblem]
                  ) -> Iterator[tuple[Interchange, Reader]]:
    term = ord("~")
    while sc.skip_space():
        head = sc.peek(ISA_LENGTH + 64)
        seps = _delimiters(head) if head.startswith(b"ISA") else None
        if seps is None:
            _skip_junk(sc, term, junk, head)
            continue
        got = sc.segment(ord(seps.segment), None)
        if got is None:
            return
        raw, line, _terminated = got
        assert raw is not None
        tag, elements = split(raw.decode("latin-1"), Separators(
            seps.component, seps.element, seps.segment, None, None))
        header = Segment(tag, elements, line)
        problems: list[EdiProblem] = []
        if len(raw) + 1 != ISA_LENGTH:
            problems.append(EdiProblem(
                f"ISA is {len(raw) + 1} bytes long, not {ISA_LENGTH}: its elements are "
                "not padded to their fixed widths", "interchange", _code("header"),
                line=line, segment="ISA"))
        version = header.value(12)
        ic = Interchange(standard=X12, sender=header.value(6).strip(),
                         sender_qualifier=header.value(5).strip(),
                         recipient=header.value(8).strip(),
                         recipient_qualifier=header.value(7).strip(),
                         control=header.value(13).strip(), syntax=version,
                         syntax_version=version, date=header.value(9), time=header.value(10),
                         test=header.value(15) == "T", separators=seps, header=header,
                         encoding="utf-8")
        junk.extend(problems)
        yield ic, _reader(sc, seps)
        term = ord(seps.segment)


def _delimiters(head: bytes) -> Separators | None:
    """The ISA's delimiters: by position in a well-formed ISA, else by counting its
    sixteen elements (senders that do not pad them)."""
    if len(head) < 4:
        return None
    sep = head[3]
    if chr(sep).isalnum() or sep in b" \r\n":
        return None
    at = 3
    for _ in range(15):
        at = head.find(bytes([sep]), at + 1)
        if at < 0:
            return None
    if len(head) < at + 3:
        return None
    component, terminator = head[at + 1], head[at + 2]
    isa11 = head.split(bytes([sep]), 12)[11:12]
    version = head.split(bytes([sep]), 13)[12:13]
    rep = None
    if isa11 and len(isa11[0]) == 1 and not chr(isa11[0][0]).isalnum() \
            and version and version[0] >= b"00402":
        rep = chr(isa11[0][0])
    return Separators(component=chr(component), element=chr(sep), segment=chr(terminator),
                      release=None, repetition=rep)


def _skip_junk(sc: Scanner, term: int, junk: list[EdiProblem], head: bytes) -> None:
    """Bytes outside any interchange: one problem for the run, up to the next ISA."""
    line = sc.line
    while True:
        if sc.segment(term, None) is None or not sc.skip_space():
            break
        if sc.peek(3) == b"ISA":
            break
    junk.append(EdiProblem("not an X12 interchange: ISA expected", "interchange",
                           _code("junk"), line=line, value=head[:20].decode("latin-1")))


def _reader(sc: Scanner, seps: Separators) -> Reader:
    def make(raw: bytes | None, line: int, terminated: bool
             ) -> tuple[Segment | None, EdiProblem | None]:
        if raw is None:
            return None, EdiProblem(f"segment longer than {sc.max_segment:,} bytes: skipped",
                                    "segment", CODES[("segment", "size")], line=line)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        seg, problem = make_text(text, line)
        if seg is not None and not terminated and seg.tag != "ISA":
            problem = EdiProblem(f"segment {seg.tag} cut short: the file ends", "segment",
                                 CODES[("segment", "missing")], line=line, segment=seg.tag)
        return seg, problem

    def make_text(text: str, line: int) -> tuple[Segment | None, EdiProblem | None]:
        if text[:3] == "ISA" or text.lstrip("\ufeff")[:3] == "ISA" \
                or (text.startswith("ï»¿") and text[3:6] == "ISA"):  # two files joined
            return Segment("ISA", (), line), None
        tag, elements = split(text, seps)
        if not _TAG.match(tag):
            return None, EdiProblem(f"{tag[:20]!r} is not a segment id", "segment",
                                    CODES[("segment", "tag")], line=line, value=text[:40])
        return Segment(tag, elements, line), None
    return Reader(sc, seps, "utf-8", make, make_text, SPEC)


# ---- writing ----------------------------------------------------------------------------

class X12Writer(WriterBase):
    """One interchange written: the fixed-width ISA, GS … GE and ST … SE with their
    counts, IEA; a value holding a delimiter or a control character is refused with
    ``ValueError`` naming the segment and the character (X12 cannot escape)."""

    spec = SPEC

    def __init__(self, sink: BinaryIO, *, sender: str, recipient: str, control: str,
                 sender_qualifier: str = "ZZ", recipient_qualifier: str = "ZZ",
                 version: str = "00401", date: str, time: str, test: bool = False,
                 separators: Separators | None = None, ack_requested: bool = False,
                 newline: bool = True) -> None:
        super().__init__(sink, newline)
        seps = separators or Separators(
            component=">", element="*", segment="~", release=None,
            repetition="^" if version >= "00402" else None)
        bad = [c for c in (seps.component, seps.element, seps.segment, seps.repetition)
               if c is not None and not c.isascii()]
        if bad:
            raise ValueError(f"X12 delimiters are ASCII characters; {bad[0]!r} cannot be "
                             "written in the ISA")
        self.seps = seps
        self._special = re.compile("[" + re.escape("".join(
            c for c in (seps.component, seps.element, seps.segment, seps.repetition) if c))
            + "]|[\x00-\x1f\x7f]")
        self._end = seps.segment + ("\n" if newline else "")
        self._date, self._time = date, time
        self._sender, self._recipient = sender, recipient
        self._control = control.rjust(9, "0")
        for name, value, width in (("sender", sender, 15), ("recipient", recipient, 15),
                                   ("control number", control, 9)):
            if len(value) > width:
                raise ValueError(f"ISA {name} {value!r} is longer than {width} characters")
        isa = seps.element.join((
            "ISA", "00", " " * 10, "00", " " * 10, sender_qualifier.ljust(2),
            sender.ljust(15), recipient_qualifier.ljust(2), recipient.ljust(15), date, time,
            seps.repetition or "U", version, control.rjust(9, "0"), "1" if ack_requested
            else "0", "T" if test else "P", seps.component)) + self._end
        if len(isa) - len(self._end) + 1 != ISA_LENGTH:
            raise ValueError(f"ISA date {date!r}, time {time!r} or version {version!r} "
                             "are not yymmdd, hhmm and 5 digits")
        sink.write(isa.encode("ascii"))

    def _segment_bytes(self, tag: str, elements: tuple[Element, ...]) -> bytes:
        s = self.seps
        out = [tag]
        special = self._special
        for reps in elements:
            for comps in reps:
                for c in comps:
                    if c and special.search(c) is not None:
                        ch = special.search(c).group()  # type: ignore[union-attr]
                        raise ValueError(f"{tag}: {c!r} holds {ch!r}, a delimiter or control "
                                         "character X12 cannot carry")
            out.append(s.element)
            out.append((s.repetition or "").join(s.component.join(comps) for comps in reps))
        out.append(self._end)
        return "".join(out).encode("utf-8")

    def interchange_segment(self, tag: str, *elements: Value) -> None:
        """A segment of the interchange itself, between the ISA and the first GS (a TA1
        acknowledging an interchange received)."""
        if self._groups or self._message is not None:
            raise ValueError(f"{tag} stands before the interchange's first group")
        self._put(tag, *elements)

    def begin_group(self, id: str, control: str, version: str, sender: str | None = None,
                    recipient: str | None = None, **_kw: str) -> None:
        self._begin_group(control, (id, sender or self._sender, recipient or self._recipient,
                                    "20" + self._date, self._time, control, "X", version))

    def begin_message(self, type: str, reference: str, version: str = "", **_kw: str) -> None:
        self._begin_message(reference, (type, reference, version))
