"""What the EDIFACT and X12 syntax modules share: a byte scanner that cuts a stream into
segments, the envelope assembler that turns segments into the events of ``edi.py`` and
checks every count and reference, and the envelope-writing base with its counters.

The two syntaxes differ in how an interchange announces its separators (UNA, the fixed
ISA) and how texts are escaped; the nesting interchange › group › message, the trailers'
counts and control references and what to do when a trailer is missing are the same,
so they are written once, here, with each standard's tags and error codes in a ``Spec``.

Memory stays bounded whatever the file's size: the scanner holds one read block and the
segment being cut (a segment past ``MAX_SEGMENT`` bytes is skipped, reported), and a
message keeps at most ``MAX_MESSAGE_SEGMENTS`` segments.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from ..errors import DataError, Problem
from .edi import (EdiProblem, Element, Event, Group, GroupEnd, Interchange, InterchangeEnd,
                  Message, Segment, Separators, Tolerance, Value, segment_values)

BLOCK = 1 << 20
MAX_SEGMENT = 1 << 20             # bytes: the longest segment read
MAX_MESSAGE_SEGMENTS = 1_000_000  # segments kept per message
WHITESPACE = b" \t\r\n\x00"
BOM = b"\xef\xbb\xbf"


class Scanner:
    """A binary stream cut into segments at a terminator byte, lines counted, a release
    (escape) character honoured; reads one block at a time."""

    def __init__(self, src: BinaryIO, block: int | None = None,
                 max_segment: int | None = None) -> None:
        self.src = src
        self.block = block or BLOCK
        self.max_segment = max_segment or MAX_SEGMENT
        self.buf = b""
        self.pos = 0
        self.line = 1          # the line at ``pos``
        self.eof = False
        self.offset = 0        # bytes consumed before ``buf``
        self.mark = (0, 1)     # where the last segment read began, and its line

    def _fill(self) -> bool:
        if self.eof:
            return False
        data = self.src.read(self.block)
        if not data:
            self.eof = True
            return False
        self.offset += self.pos
        self.buf = self.buf[self.pos:] + data
        self.pos = 0
        return True

    def peek(self, n: int) -> bytes:
        """The next ``n`` bytes (fewer at the end of the file), not consumed."""
        while len(self.buf) - self.pos < n and self._fill():
            pass
        return self.buf[self.pos:self.pos + n]

    def advance(self, n: int) -> None:
        self.line += self.buf.count(b"\n", self.pos, self.pos + n)
        self.pos += n

    def skip_space(self) -> bool:
        """Skip whitespace and byte-order marks between interchanges; False at the end."""
        while True:
            if self.pos >= len(self.buf) and not self._fill():
                return False
            b = self.buf
            i = self.pos
            n = len(b)
            while i < n and b[i] in WHITESPACE:
                i += 1
            self.line += b.count(b"\n", self.pos, i)
            self.pos = i
            if i < n:
                if b.startswith(BOM, i) or (n - i < 3 and BOM.startswith(b[i:])
                                            and self._fill()):
                    if self.buf.startswith(BOM, self.pos):
                        self.pos += 3
                    continue
                return True

    def segment(self, term: int, release: int | None
                ) -> tuple[bytes | None, int, bool] | None:
        """The next segment's bytes (whitespace before it and line breaks inside it
        left out), the line it starts on and whether its terminator was there; bytes
        None for a segment past ``max_segment`` (skipped to its terminator). None at
        the end of the file."""
        start = self.pos
        search = start
        while True:
            b = self.buf
            i = b.find(term, search) if term >= 0 else -1
            if i >= 0 and release is not None and i > start and b[i - 1] == release:
                j = i - 1
                while j >= start and b[j] == release:
                    j -= 1
                if (i - 1 - j) % 2:        # an odd run of releases: an escaped terminator
                    search = i + 1
                    continue
            if i < 0:
                if len(b) - start > self.max_segment:
                    return self._skip_long(term, release)
                keep = len(b) - start
                if self._fill():
                    start, search = self.pos, self.pos + max(keep - 1, 0)
                    continue
                raw = b[start:]
                self.mark = (start, self.line)
                self.pos = len(b)
                if not raw.strip(WHITESPACE):
                    self.line += raw.count(b"\n")
                    return None
                return self._cut(raw, False)
            raw = b[start:i]
            self.mark = (start, self.line)
            self.pos = i + 1
            return self._cut(raw, True)

    def rewind(self) -> None:
        """Read the last segment again (an interchange header found where a trailer was
        due: the next interchange begins there)."""
        self.pos, self.line = self.mark

    def _cut(self, raw: bytes, terminated: bool) -> tuple[bytes, int, bool]:
        line = self.line
        if b"\n" in raw or b"\r" in raw:
            lines = raw.count(b"\n")
            body = raw.lstrip(WHITESPACE)
            line += raw.count(b"\n", 0, len(raw) - len(body))
            self.line += lines
            raw = body.replace(b"\r", b"").replace(b"\n", b"")  # lines wrapped at 80
        elif raw[:1] in (b" ", b"\t", b"\x00"):
            raw = raw.lstrip(WHITESPACE)
        return raw, line, terminated

    def _skip_long(self, term: int, release: int | None) -> tuple[None, int, bool]:
        """A segment too long to hold: skipped to its terminator, its line kept."""
        b = self.buf
        head = b[self.pos:self.pos + 256]
        lead = len(head) - len(head.lstrip(WHITESPACE))
        line = self.line + b.count(b"\n", self.pos, self.pos + lead)
        while True:
            b = self.buf
            i = b.find(term, self.pos)
            while i > 0 and release is not None and b[i - 1] == release:
                i = b.find(term, i + 1)
            if i >= 0:
                self.line += b.count(b"\n", self.pos, i)
                self.pos = i + 1
                return None, line, True
            self.line += b.count(b"\n", self.pos)
            self.pos = len(b)
            if not self._fill():
                return None, line, False


# ---- a segment's text cut into elements ----------------------------------------------

def split(text: str, seps: Separators) -> tuple[str, tuple[Element, ...]]:
    """A segment's text → its tag and elements (repetitions of components)."""
    rel = seps.release
    if rel is not None and rel in text:
        return _split_released(text, seps)
    parts = text.split(seps.element)
    comp, rep = seps.component, seps.repetition
    if rep is not None and rep in text:
        elements = tuple([tuple([tuple(r.split(comp)) for r in p.split(rep)])
                          for p in parts[1:]])
    else:
        elements = tuple([(tuple(p.split(comp)),) for p in parts[1:]])
    return parts[0].split(comp)[0], elements


def _split_released(text: str, seps: Separators) -> tuple[str, tuple[Element, ...]]:
    """A segment with release characters: each released character is swapped for a
    private-use character the text does not hold, the text split, then swapped back (a
    release before an ordinary character is kept as it is)."""
    rel = seps.release
    assert rel is not None
    specials = [c for c in (rel, seps.component, seps.element, seps.repetition,
                            seps.segment) if c]
    free = (chr(c) for c in range(0xE000, 0xF900) if chr(c) not in text)
    back: dict[int, str] = {}
    for ch in specials:  # the release itself first: "??+" is a released "?", then "+"
        stand_in = next(free)
        text = text.replace(rel + ch, stand_in)
        back[ord(stand_in)] = ch
    tag, elements = split(text, Separators(seps.component, seps.element, seps.segment,
                                           None, seps.repetition))
    return tag, tuple(tuple(tuple(c.translate(back) for c in r) for r in e)
                      for e in elements)


# ---- the envelope assembler -----------------------------------------------------------

@dataclass(frozen=True)
class Spec:
    """One standard's envelope: its tags, where trailers keep count and reference, and
    its error codes (``codes[(level, what)]``)."""

    standard: str
    interchange: tuple[str, str]   # header, trailer tags
    group: tuple[str, str]
    message: tuple[str, str]
    starts: tuple[str, ...]        # what begins an interchange (UNA, UNB; ISA)
    codes: dict[tuple[str, str], str]
    groups_required: bool          # X12: a transaction set lives in a functional group
    counts_groups_only: bool       # X12 IEA01 counts groups; EDIFACT UNZ messages or groups
    new_group: Callable[[Segment], Group]
    new_message: Callable[[Segment, Interchange, Group | None, int], Message]


@dataclass
class _Open:
    group: Group | None = None
    group_messages: int = 0
    group_problems: list[EdiProblem] = field(default_factory=list)
    message: Message | None = None
    segments: list[Segment] = field(default_factory=list)
    count: int = 0                 # segments of the open message, kept or not
    overflow: bool = False


class Assembler:
    """Segments of one interchange → messages, group ends and the interchange's end, every
    count and reference checked. Problems outside any message belong to the group or the
    interchange they are in."""

    def __init__(self, spec: Spec, interchange: Interchange, tolerance: Tolerance,
                 max_message_segments: int = MAX_MESSAGE_SEGMENTS) -> None:
        self.spec, self.ic, self.tol = spec, interchange, tolerance
        self.max_message_segments = max_message_segments
        self.end = InterchangeEnd(interchange, 0, 0)
        self.o = _Open()
        self.messages = 0           # messages of the interchange
        self.done = False

    def code(self, level: str, what: str) -> str:
        return self.spec.codes.get((level, what), self.spec.codes.get(("*", what), ""))

    def problem(self, level: str, what: str, message: str, seg: Segment | None = None,
                **kw: object) -> EdiProblem:
        return EdiProblem(message, level, self.code(level, what),
                          line=seg.line if seg is not None else None,
                          segment=seg.tag if seg is not None else None, **kw)  # type: ignore[arg-type]

    # -- feeding ---------------------------------------------------------------------------
    def feed(self, seg: Segment) -> list[Event]:
        tag = seg.tag
        sp = self.spec
        o = self.o
        if o.message is not None:
            if tag == sp.message[1]:
                return self._end_message(seg)
            if tag not in (sp.message[0], sp.group[0], sp.group[1], sp.interchange[0],
                           sp.interchange[1]):
                o.count += 1
                if len(o.segments) < self.max_message_segments:
                    _set_position(seg, o.count)
                    o.segments.append(seg)
                elif not o.overflow:
                    o.overflow = True
                    o.message.problems.append(self.problem(
                        "message", "size", f"message holds more than "
                        f"{self.max_message_segments:,} segments: not read", seg))
                return []
            out = self._close_message(seg)  # its trailer is missing
            return out + self.feed(seg)
        if tag == sp.message[0]:
            if o.group is None and sp.groups_required:
                self.end.problems.append(self.problem(
                    "group", "position", f"{tag} outside a functional group ({sp.group[0]})",
                    seg))
            self.messages += 1
            o.group_messages += 1
            index = o.group_messages if o.group is not None else self.messages
            o.message = sp.new_message(Segment(tag, seg.elements, seg.line, 1), self.ic,
                                       o.group, index)
            o.segments = [o.message.segments[0]] if o.message.segments else []
            o.count = 1
            o.overflow = False
            return []
        if tag == sp.group[0]:
            out = self._close_group(seg) if o.group is not None else []
            o.group = sp.new_group(seg)
            o.group_messages = 0
            o.group_problems = []
            self.end.groups += 1
            return out
        if tag == sp.group[1]:
            if o.group is None:
                self.end.problems.append(self.problem(
                    "group", "position", f"{tag} without its {sp.group[0]}", seg))
                return []
            return self._end_group(seg)
        if tag == sp.interchange[1]:
            out = self._close_group(seg) if o.group is not None else []
            self._end_interchange(seg)
            return out
        where = o.group_problems if o.group is not None else self.end.problems
        where.append(self.problem("segment", "position",
                                  f"segment {tag} outside a message", seg))
        return []

    def close(self, at: Segment | None = None, truncated: bool = False) -> list[Event]:
        """The interchange ends without its trailer (the file ends, or the next begins)."""
        out = self._close_message(at) if self.o.message is not None else []
        if self.o.group is not None:
            out += self._close_group(at)
        self.end.complete = False
        trailer = self.spec.interchange[1]
        why = "the file ends" if at is None else f"{at.tag} on line {at.line}"
        self.end.problems.append(EdiProblem(
            f"interchange {self.ic.control}: {trailer} missing ({why})", "interchange",
            self.code("interchange", "missing"), line=at.line if at else None,
            segment=trailer))
        self.end.messages = self.messages
        self.done = True
        return out

    # -- trailers --------------------------------------------------------------------------
    def _check(self, level: str, seg: Segment, counted: int, reference: str, what: str,
               problems: list[EdiProblem]) -> None:
        """A trailer's count (element 1) and reference (element 2)."""
        count = seg.value(1)
        if self.tol.counts and count != str(counted) and _number(count) != counted:
            problems.append(EdiProblem(
                f"{seg.tag} says {count or 'nothing'} but the {what} holds {counted}", level,
                self.code(level, "count"), line=seg.line, segment=seg.tag, element=1,
                value=count, position=seg.position or None))
        ref = seg.value(2)
        if self.tol.references and ref != reference:
            problems.append(EdiProblem(
                f"{seg.tag} reference {ref!r} is not its header's {reference!r}", level,
                self.code(level, "reference"), line=seg.line, segment=seg.tag, element=2,
                value=ref, position=seg.position or None))

    def _end_message(self, seg: Segment) -> list[Event]:
        o = self.o
        msg = o.message
        assert msg is not None
        o.count += 1
        trailer = Segment(seg.tag, seg.elements, seg.line, o.count)
        if not o.overflow:
            o.segments.append(trailer)
        self._check("message", trailer, o.count, msg.reference, "message", msg.problems)
        return [self._emit()]

    def _close_message(self, at: Segment | None) -> list[Event]:
        msg = self.o.message
        assert msg is not None
        why = "the file ends" if at is None else f"{at.tag} on line {at.line}"
        msg.problems.append(EdiProblem(
            f"message {msg.reference}: {self.spec.message[1]} missing ({why})", "message",
            self.code("message", "missing"),
            line=at.line if at is not None else self.o.segments[-1].line,
            segment=self.spec.message[1]))
        return [self._emit()]

    def _emit(self) -> Message:
        o = self.o
        msg = o.message
        assert msg is not None
        msg.segments = tuple(o.segments)
        o.message, o.segments, o.count = None, [], 0
        return msg

    def _end_group(self, seg: Segment) -> list[Event]:
        o = self.o
        assert o.group is not None
        self._check("group", seg, o.group_messages, o.group.control, "group",
                    o.group_problems)
        end = GroupEnd(o.group, o.group_messages, o.group_problems)
        o.group, o.group_messages, o.group_problems = None, 0, []
        return [end]

    def _close_group(self, at: Segment | None) -> list[Event]:
        o = self.o
        assert o.group is not None
        why = "the file ends" if at is None else f"{at.tag} on line {at.line}"
        o.group_problems.append(EdiProblem(
            f"group {o.group.control}: {self.spec.group[1]} missing ({why})", "group",
            self.code("group", "missing"), line=at.line if at else o.group.header.line,
            segment=self.spec.group[1]))
        end = GroupEnd(o.group, o.group_messages, o.group_problems, complete=False)
        o.group, o.group_messages, o.group_problems = None, 0, []
        return [end]

    def _end_interchange(self, seg: Segment) -> None:
        counted = self.end.groups if (self.spec.counts_groups_only or self.end.groups) \
            else self.messages
        self._check("interchange", seg, counted, self.ic.control, "interchange",
                    self.end.problems)
        self.end.messages = self.messages
        self.done = True


def _set_position(seg: Segment, position: int) -> None:
    """A frozen segment's place in its message, known once the assembler holds it."""
    object.__setattr__(seg, "position", position)


def _number(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


NextSegment = Callable[[], "tuple[Segment | None, EdiProblem | None] | None"]


def run(spec: Spec, src: BinaryIO, file_name: str,
        interchanges: Callable[[Scanner, list[EdiProblem]],
                               Iterator[tuple[Interchange, NextSegment]]],
        tolerance: Tolerance, max_message_segments: int = MAX_MESSAGE_SEGMENTS,
        ) -> Iterator[Event]:
    """The events of a file: ``interchanges`` finds each interchange's header (and the
    junk before it, as problems) and gives a function reading its next segment; an
    interchange's end is held back until the next begins, so that junk after its trailer
    is reported on it."""
    held: InterchangeEnd | None = None
    junk: list[EdiProblem] = []
    seen = False
    scanner = Scanner(src)
    for ic, next_segment in interchanges(scanner, junk):
        seen = True
        if held is not None:
            held.problems.extend(junk)
            junk.clear()
            yield held
            held = None
        asm = Assembler(spec, ic, tolerance, max_message_segments)
        asm.end.problems.extend(junk)
        junk.clear()
        while not asm.done:
            got = next_segment()
            if got is None:
                yield from asm.close(truncated=True)
                break
            seg, pending = got
            if seg is not None and seg.tag in spec.starts:  # the next interchange begins
                yield from asm.close(seg)
                scanner.rewind()
                break
            if pending is not None:     # a problem of this segment (skipped or unreadable)
                target = asm.o.message.problems if asm.o.message is not None \
                    else asm.end.problems
                target.append(pending)
            if seg is not None:
                yield from asm.feed(seg)
        held = asm.end
    if not seen:
        first = junk[0] if junk else None
        raise DataError(Problem(
            f"no {spec.standard.upper()} interchange in this file"
            + (f": {first.message}" if first else ""),
            line=first.line if first else 1, file=file_name,
            field=first.segment if first else None))
    if held is not None:
        held.problems.extend(junk)
        yield held


# ---- writing ----------------------------------------------------------------------------

class WriterBase:
    """Counts what an envelope's trailers need; the syntax writers say how a segment is
    spelled (``_segment_bytes``) and what their headers hold."""

    spec: Spec

    def __init__(self, sink: BinaryIO, newline: bool) -> None:
        self.sink = sink
        self.newline = newline
        self._message: tuple[str, int] | None = None  # (reference, segments so far)
        self._group: tuple[str, int] | None = None    # (control, messages so far)
        self._messages = 0
        self._groups = 0
        self._control = ""

    def _segment_bytes(self, tag: str, elements: tuple[tuple[tuple[str, ...], ...], ...]
                       ) -> bytes:
        raise NotImplementedError

    def _put(self, tag: str, *values: Value) -> None:
        self.sink.write(self._segment_bytes(tag, segment_values(values)))

    def segment(self, tag: str, *elements: Value) -> None:
        """One segment of the open message (refused with ``ValueError`` before anything
        is written when a text cannot be carried)."""
        if self._message is None:
            raise ValueError(f"segment {tag} outside a message")
        data = self._segment_bytes(tag, segment_values(elements))
        self.sink.write(data)
        ref, n = self._message
        self._message = (ref, n + 1)

    def _begin_message(self, reference: str, header: tuple[Value, ...]) -> None:
        if self._message is not None:
            raise ValueError("a message is already open")
        self._put(self.spec.message[0], *header)
        self._message = (reference, 1)
        self._messages += 1
        if self._group is not None:
            self._group = (self._group[0], self._group[1] + 1)

    def end_message(self) -> int:
        assert self._message is not None, "no message open"
        ref, n = self._message
        self._put(self.spec.message[1], str(n + 1), ref)
        self._message = None
        return n + 1

    def _begin_group(self, control: str, header: tuple[Value, ...]) -> None:
        self._put(self.spec.group[0], *header)
        self._group = (control, 0)
        self._groups += 1

    def end_group(self) -> None:
        assert self._group is not None, "no group open"
        control, n = self._group
        self._put(self.spec.group[1], str(n), control)
        self._group = None

    def close(self) -> None:
        if self._message is not None:
            self.end_message()
        if self._group is not None:
            self.end_group()
        count = self._groups if (self.spec.counts_groups_only or self._groups) \
            else self._messages
        self._put(self.spec.interchange[1], str(count), self._control)
