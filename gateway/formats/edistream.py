"""What the EDIFACT and X12 syntax modules share: a byte scanner that cuts a stream into
segments, the reader that makes them into segments a read block at a time, the envelope
assembler that turns segments into the events of ``edi.py`` and checks every count and
reference, and the envelope-writing base with its counters.

The two syntaxes differ in how an interchange announces its separators (UNA, the fixed
ISA) and how texts are escaped; the nesting interchange › group › message, the trailers'
counts and control references and what to do when a trailer is missing are the same,
so they are written once, here, with each standard's tags and error codes in a ``Spec``.

Speed: every segment of a file goes through one loop (``Reader._fast``) that cuts it
into elements and places it in its message; the whole segments of a read block are
decoded and cut at once before it. What that loop gives is what reading a segment at a
time gives (``Scanner.segment`` and the syntax's ``make``, still used for what a block
cannot do): tests/formats/test_edi_blocks.py holds the one to the other.

Memory stays bounded whatever the file's size: the scanner holds one read block and the
segment being cut (a segment past ``MAX_SEGMENT`` bytes is skipped, reported), the reader
the segments of one block, and a message keeps at most ``MAX_MESSAGE_SEGMENTS``
segments.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field, replace
from itertools import accumulate, compress, count as naturals, repeat
from typing import Any, BinaryIO

from ..errors import DataError, Problem
from .edi import (EdiProblem, Element, Event, Group, GroupEnd, Interchange, InterchangeEnd,
                  Message, Segment, Separators, Tolerance, Value, segment_values)

BLOCK = 1 << 20
MAX_SEGMENT = 1 << 20             # bytes: the longest segment read
MAX_MESSAGE_SEGMENTS = 1_000_000  # segments kept per message
WHITESPACE = b" \t\r\n\x00"
BOM = b"\xef\xbb\xbf"
NEWLINE = 10
_WS = WHITESPACE.decode("ascii")

# a frozen segment made, or given its place in its message, without its __setattr__
_new = object.__new__
_set_tag = Segment.tag.__set__            # type: ignore[attr-defined]
_set_elements = Segment.elements.__set__  # type: ignore[attr-defined]
_set_line = Segment.line.__set__          # type: ignore[attr-defined]
_set_position = Segment.position.__set__  # type: ignore[attr-defined]


class Scanner:
    """A binary stream cut into segments at a terminator byte, lines counted, a release
    (escape) character honoured; reads one block at a time.

    A segment is the bytes after the previous terminator up to its own (a terminator after
    an odd run of release characters is escaped, part of the segment). One longer than
    ``max_segment`` bytes is skipped, whatever the read blocks: which segments a file
    loses depends on their length only. A newline used as the terminator is a line break
    like any other."""

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

    def peek_text(self, n: int) -> bytes:
        """The next ``n`` bytes leaving out line breaks (a file wrapped at 80 columns may
        break a UNA or a UNB anywhere), not consumed."""
        want = n
        while True:
            got = self.peek(want)
            text = got.replace(b"\r", b"").replace(b"\n", b"")
            if len(text) >= n or len(got) < want:
                return text[:n]
            want += n

    def advance_text(self, n: int) -> None:
        """Consume ``n`` bytes that are not line breaks, and the line breaks among them."""
        self.peek(n)
        while n > 0 and (self.pos < len(self.buf) or self._fill()):
            if self.buf[self.pos] not in b"\r\n":
                n -= 1
            self.advance(1)

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
            if i - start > self.max_segment:
                return self._skip_long(term, release)
            raw = b[start:i]
            self.mark = (start, self.line)
            self.pos = i + 1
            got = self._cut(raw, True)
            if term == NEWLINE:
                self.line += 1
            return got

    def chunk(self, term: int, release: int | None) -> tuple[bytes, int, int] | None:
        """The bytes of all the whole segments the buffer holds from here on (the last
        one's terminator left out, consumed), the line they start on and where they
        start in the buffer (for ``seek``). None when not one whole segment is to be
        had that way: the next one is too long to hold, or the file ends without its
        terminator (``segment`` reads it)."""
        while True:
            b = self.buf
            start = self.pos
            k = b.rfind(term, start)
            while k > start and release is not None and b[k - 1] == release:
                j = k - 1
                while j >= start and b[j] == release:
                    j -= 1
                if not (k - 1 - j) % 2:
                    break
                k = b.rfind(term, start, k)   # an escaped terminator: the one before
            if k >= 0:
                data = b[start:k]
                self.mark = (start, self.line)
                line = self.line
                self.line += data.count(b"\n") + (term == NEWLINE)
                self.pos = k + 1
                return data, line, start
            if len(b) - start > self.max_segment or not self._fill():
                return None

    def seek(self, pos: int, line: int) -> None:
        """Back to a place of the buffer a ``chunk`` held (the next interchange begins
        there, or the one read ended before it)."""
        self.pos, self.line = pos, line

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
        """A segment too long to hold: skipped to its terminator (release runs counted
        across read blocks), never held whole; the line its text starts on kept."""
        line: int | None = None   # where its text starts, once seen
        run = 0                   # the releases just before ``pos`` (of this segment)
        while True:
            b = self.buf
            pos = self.pos
            i = b.find(term, pos)
            while i >= 0 and release is not None:
                j = i - 1
                while j >= pos and b[j] == release:
                    j -= 1
                if not (i - 1 - j + (run if j < pos else 0)) % 2:
                    break
                i = b.find(term, i + 1)
            end = i if i >= 0 else len(b)
            if line is None:
                part = b[pos:end]
                body = part.lstrip(WHITESPACE)
                if body or i >= 0:
                    line = self.line + part.count(b"\n", 0, len(part) - len(body))
            if i < 0 and release is not None:
                j = end - 1
                while j >= pos and b[j] == release:
                    j -= 1
                run = end - 1 - j + (run if j < pos else 0)
            self.line += b.count(b"\n", pos, end)
            if i >= 0:
                self.pos = i + 1
                if term == NEWLINE:
                    self.line += 1
                return None, line if line is not None else self.line, True
            self.pos = end
            if not self._fill():
                return None, line if line is not None else self.line, False


# ---- a segment's text cut into elements ----------------------------------------------

def split(text: str, seps: Separators) -> tuple[str, tuple[Element, ...]]:
    """A segment's text → its tag and elements (repetitions of components)."""
    rel = seps.release
    comp, rep = seps.component, seps.repetition
    if rel is not None and rel in text:
        term = seps.segment
        released = rel + term
        if text.count(rel) != text.count(released) or (rep is not None and rep in text) \
                or term in (comp, seps.element, rel) or rel in (comp, seps.element):
            return _split_released(text, seps)
        # released terminators only, which cut nothing here: each put back as itself
        parts = text.split(seps.element)
        if rel in parts[0]:
            return _split_released(text, seps)
        return parts[0].split(comp)[0], tuple([
            (tuple((p.replace(released, term) if rel in p else p).split(comp)),)
            for p in parts[1:]])
    parts = text.split(seps.element)
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
        if rel + ch in text:
            text = text.replace(rel + ch, stand_in)
            back[ord(stand_in)] = ch
    comp, rep = seps.component, seps.repetition
    parts = text.split(seps.element)
    tag = parts[0].split(comp)[0]   # as cut: a released character makes it no tag
    del parts[0]
    if rep is not None and rep in text:
        elements = tuple([tuple([tuple([c.translate(back) for c in r.split(comp)])
                                 for r in p.split(rep)]) for p in parts])
    else:
        elements = tuple([(tuple([c.translate(back) for c in p.split(comp)]),)
                          for p in parts])
    return tag, elements


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
    interchange_segments: tuple[str, ...] = ()  # allowed between header and first group


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
        if o.group is None and tag in sp.interchange_segments:
            return []  # a segment of the interchange itself (X12 TA1, before any GS)
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


def _number(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


# a segment made from its bytes (None: too long, skipped), its line and whether its
# terminator was there → the segment (None when unreadable) and a problem of it
MakeSegment = Callable[[bytes | None, int, bool],
                       "tuple[Segment | None, EdiProblem | None]"]
# a segment made from its decoded text (terminated), its line → the same
MakeText = Callable[[str, int], "tuple[Segment | None, EdiProblem | None]"]



class Reader:
    """One interchange's segments, read from the scanner and given to its assembler.

    A read block at a time when it can be: the whole segments the buffer holds are
    decoded at once, cut at their terminators (released ones joined back), their lines
    counted from the line breaks between them, and each ordinary segment of an open
    message is made and placed in one loop; headers, trailers and anything unusual go
    through the assembler's ``feed`` one by one. The syntax's ``make`` (from bytes, the
    reference) and ``make_text`` (from text already decoded) say what a segment is; a
    segment too long to hold, the file's unterminated end and a block that does not
    decode are read one segment at a time, as ``make`` has them."""

    def __init__(self, sc: Scanner, seps: Separators, codec: str, make: MakeSegment,
                 make_text: MakeText, spec: Spec) -> None:
        self.sc, self.seps, self.codec = sc, seps, codec
        self.make, self.make_text = make, make_text
        self.starts = spec.starts
        self.trailer = spec.message[1]
        self.term = ord(seps.segment)
        rel = seps.release
        self.release = ord(rel) if rel is not None else None
        # cut as text when the terminator and the release are the same character in
        # the decoded text (ASCII); else a segment at a time, as bytes
        self.text = 0 <= self.term < 0x80 and (self.release is None or self.release < 0x80)
        self.single = codec.replace("-", "").replace("_", "") in ("latin1", "ascii") \
            or codec.startswith("iso8859")
        # the tags made once already, that are no envelope's: such a segment needs no
        # other check than its tag's
        self.known: set[str] = set()
        self.envelope = frozenset((*spec.interchange, *spec.group, *spec.message,
                                   *spec.starts))

    # -- the events ------------------------------------------------------------------------
    def events(self, asm: Assembler) -> Iterator[Event]:
        """The events of the interchange, up to its trailer (the scanner left after it),
        the beginning of the next interchange (the scanner left there) or the file's
        end."""
        sc = self.sc
        term, release = self.term, self.release
        while not asm.done:
            got = sc.chunk(term, release) if term >= 0 else None
            if got is None:
                one = sc.segment(term, release)
                if one is None:
                    yield from asm.close(truncated=True)
                    return
                seg, pending = self.make(*one)
                out, begins = self._give(asm, seg, pending)
                yield from out
                if begins:
                    sc.rewind()
                    return
                continue
            data, line, base = got
            text = None
            if self.text:
                try:
                    text = data.decode(self.codec)
                except UnicodeDecodeError:
                    text = None
            if text is not None:
                stopped = yield from self._text_chunk(asm, text, line, base)
            else:
                stopped = yield from self._bytes_chunk(asm, data, line, base)
            if stopped:
                return

    def _give(self, asm: Assembler, seg: Segment | None, pending: EdiProblem | None
              ) -> tuple[list[Event], bool]:
        """One segment (or a problem in its place) given to the assembler: its events, and
        whether it begins the next interchange (then the interchange is closed)."""
        if seg is not None and seg.tag in self.starts:
            return asm.close(seg), True
        if seg is None:
            if pending is not None:  # a segment skipped: a problem of what it is in
                o = asm.o
                if o.message is not None:
                    # still one of the sender's segments: counted as its UNT/SE counts it,
                    # and located by its place among them
                    o.count += 1
                    o.message.problems.append(replace(pending, position=o.count))
                else:
                    asm.end.problems.append(pending)
            return [], False
        if seg.tag not in self.envelope:
            self.known.add(seg.tag)
        out = asm.feed(seg)
        if pending is not None:
            # a problem of this segment, filed once it is placed: a header's belongs to
            # the message it opens, a trailer's to the message it closes
            closed = [e for e in out if isinstance(e, Message)]
            if seg.tag == self.trailer and closed:
                closed[-1].problems.append(pending)
            elif asm.o.message is not None:
                asm.o.message.problems.append(pending)
            elif closed:
                closed[-1].problems.append(pending)
            else:
                asm.end.problems.append(pending)
        return out, False

    def _text_chunk(self, asm: Assembler, text: str, line0: int, base: int
                    ) -> Generator[Event, None, bool]:
        """Whole segments decoded (``base``: where they begin in the scanner's buffer,
        ``line0`` the line there); True when the interchange ended among them."""
        seps = self.seps
        T = seps.segment
        R = seps.release
        tnl = T == "\n"
        cut = _one_a_line(text, T, R)
        if cut is not None:  # each segment on a line of its own: cut at terminator + CRLF
            lead, pieces = cut
            sep = len(T) + 2
            bodies: list[str] = pieces
            lines: Iterable[int] = range(line0 + (lead > 0), line0 + (lead > 0) + len(pieces))
            longest = max(map(len, pieces)) + 2
        else:
            lead, sep = 0, len(T)
            pieces = text.split(T)
            broken = False
            if R is not None and R + T in text:
                pieces, broken = _rejoin(pieces, R, T)
            bodies, lines = _layout(pieces, text, line0, T, tnl, broken)
            longest = max(map(len, pieces))

        def seek(i: int) -> None:
            """To the beginning of piece i (after the text: after its last terminator)."""
            at = len(text) + 1 if i >= len(pieces) else lead + sum(map(len, pieces[:i])) + i * sep
            size = at if not i or self.single or text.isascii() else \
                len(text[:at - 1].encode(self.codec)) + 1
            self.sc.seek(base + size, line0 + text.count("\n", 0, at)
                         + (tnl and at > len(text)))

        if longest * (1 if self.single or text.isascii() else 4) > self.sc.max_segment:
            if cut is not None:  # segments' lengths as the scanner has them: cut again
                lead, sep = 0, len(T)
                pieces = text.split(T)
                broken = False
                if R is not None and R + T in text:
                    pieces, broken = _rejoin(pieces, R, T)
                bodies, lines = _layout(pieces, text, line0, T, tnl, broken)
            limit = self.sc.max_segment
            make, make_text, codec = self.make, self.make_text, self.codec
            return (yield from self._careful(asm, (
                make(None, line, True) if len(p.encode(codec)) > limit
                else make_text(body, line)
                for p, body, line in zip(pieces, bodies, lines)), seek))
        return (yield from self._fast(asm, bodies, lines, seek,
                                      R is not None and R in text,
                                      seps.repetition is not None and seps.repetition in text))

    def _bytes_chunk(self, asm: Assembler, data: bytes, line0: int, base: int
                     ) -> Generator[Event, None, bool]:
        """Whole segments that cannot be cut as text: each made from its bytes."""
        T = bytes([self.term])
        pieces = data.split(T)
        broken = False
        if self.release is not None:
            R = bytes([self.release])
            if R + T in data:
                pieces, broken = _rejoin(pieces, R, T)
        bodies, lines = _layout(pieces, data, line0, T, T == b"\n", broken)

        def seek(i: int) -> None:
            at = sum(map(len, pieces[:i])) + i
            self.sc.seek(base + at, line0 + data.count(b"\n", 0, at)
                         + (T == b"\n" and at > len(data)))

        limit = self.sc.max_segment
        make = self.make
        return (yield from self._careful(asm, (
            make(None if len(p) > limit else body, line, True)
            for p, body, line in zip(pieces, bodies, lines)), seek))

    def _careful(self, asm: Assembler,
                 made: Iterator[tuple[Segment | None, EdiProblem | None]],
                 seek: Callable[[int], None]) -> Generator[Event, None, bool]:
        """Segments given to the assembler one by one; True when the interchange ended
        (the scanner then sought to the next segment)."""
        for i, (seg, pending) in enumerate(made):
            out, begins = self._give(asm, seg, pending)
            yield from out
            if begins:
                seek(i)
                return True
            if asm.done:
                seek(i + 1)
                return True
        return False

    def _fast(self, asm: Assembler, bodies: list[str], lines: Iterable[int],
              seek: Callable[[int], None], released: bool, repeated: bool
              ) -> Generator[Event, None, bool]:
        """The loop every segment of a file goes through: an ordinary segment of an open
        message (a tag made before, no release or repetition character, room in the
        message) is cut into elements, made and placed here, as ``feed`` would;
        anything else is made by ``make_text`` and given to ``feed``. True when the
        interchange ended (the scanner then sought to where the next one may begin)."""
        seps = self.seps
        E, C, R, P = seps.element, seps.component, seps.release or "", seps.repetition or ""
        known = self.known
        envelope = self.envelope.difference(self.starts)
        make_text = self.make_text
        o = asm.o
        limit = asm.max_message_segments
        count = o.count
        room = o.message is not None and count < limit
        append = o.segments.append
        i = -1
        for body, line in zip(bodies, lines):
            i += 1
            parts = body.split(E)
            tag = parts[0]
            if room and tag in known:
                if (released and R in body) or (repeated and P in body):
                    elements = split(body, seps)[1]
                else:  # as split() has them; the short ones written out
                    n = len(parts)
                    if n == 2:
                        elements = ((tuple(parts[1].split(C)),),)
                    elif n == 3:
                        elements = ((tuple(parts[1].split(C)),), (tuple(parts[2].split(C)),))
                    elif n == 4:
                        elements = ((tuple(parts[1].split(C)),), (tuple(parts[2].split(C)),),
                                    (tuple(parts[3].split(C)),))
                    else:
                        del parts[0]
                        elements = tuple([(tuple(p.split(C)),) for p in parts])
                count += 1
                seg = _new(Segment)
                _set_tag(seg, tag)
                _set_elements(seg, elements)
                _set_line(seg, line)
                _set_position(seg, count)
                append(seg)
                room = count < limit
                continue
            o.count = count
            if tag in envelope and not ((released and R in body) or (repeated and P in body)):
                # a header or trailer (a valid tag, whole): made here, given to feed
                del parts[0]
                out = asm.feed(Segment(tag, tuple([(tuple(p.split(C)),) for p in parts]),
                                       line))
                begins = False
            else:
                seg, pending = make_text(body, line)
                out, begins = self._give(asm, seg, pending)
            if out:
                yield from out
            if begins:
                seek(i)
                return True
            if asm.done:
                seek(i + 1)
                return True
            o = asm.o
            count = o.count
            room = o.message is not None and count < limit
            append = o.segments.append
        o.count = count
        return False


def _one_a_line(text: str, term: str, rel: str | None) -> tuple[int, list[str]] | None:
    """The most common layout, counted at once: every terminator (but released ones)
    followed by CRLF, no other line break and no whitespace before a segment. Then the
    segments are the text cut at terminator + CRLF (a released terminator, never followed
    by a line break here, stays in its segment): the length of the line break the text
    begins with, and the segments. None for any other layout."""
    if term in "\r\n" or not text:
        return None
    crlf = term + "\r\n"
    lead = 2 if text.startswith("\r\n") else 0
    pieces = text[lead:].split(crlf) if lead else text.split(crlf)
    breaks = len(pieces) - 1 + (lead > 0)
    if text.count("\n") != breaks or text.count("\r") != breaks:
        return None
    released = 0
    if rel is not None and rel + term in text:
        # a terminator after one release is escaped (none after a run of two or more
        # here), and no line break follows one
        if rel + rel + term in text or rel + crlf in text:
            return None
        released = text.count(rel + term)
    if text.count(term) != len(pieces) - 1 + released:
        return None
    if text[lead:lead + 1] in (" ", "\t", "\x00") or _SPACE_AFTER_BREAK.search(text):
        return None
    return lead, pieces


_SPACE_AFTER_BREAK = re.compile("\r\n[ \t\x00]")


def _rejoin(pieces: list[Any], rel: Any, term: Any) -> tuple[list[Any], bool]:
    """Pieces cut at every terminator → segments: a piece ending in an odd run of release
    characters ends with an escaped terminator, joined to the next. And whether a line
    break follows an escaped terminator (then inside its segment)."""
    kind = type(pieces[0])
    marked = list(compress(naturals(), map(kind.endswith, pieces, repeat(rel))))
    if not marked:
        return pieces, False
    breaks = ("\r", "\n") if kind is str else (b"\r", b"\n")
    broken = False
    out: list[Any] = []
    at = 0
    last = len(pieces) - 1
    for i in marked:
        if i < at:
            continue
        p = pieces[i]
        if not (len(p) - len(p.rstrip(rel))) % 2 or i >= last:
            continue
        out.extend(pieces[at:i])
        j = i + 1
        broken = broken or pieces[j].startswith(breaks)
        p = p + term + pieces[j]
        while (len(p) - len(p.rstrip(rel))) % 2 and j < last:
            j += 1
            broken = broken or pieces[j].startswith(breaks)
            p = p + term + pieces[j]
        out.append(p)
        at = j + 1
    out.extend(pieces[at:])
    return out, broken


def _layout(pieces: list[Any], whole: Any, line: int, term: Any, tnl: bool, broken: bool
            ) -> tuple[list[Any], Iterable[int]]:
    """The segments' texts (whitespace before them and line breaks inside them left out)
    and the lines they start on, from the pieces of ``whole`` (text or bytes) starting
    on ``line``. The common layouts (no line break at all, or one after each terminator
    that is not escaped: not ``broken``) are counted at once; any other a piece at a
    time."""
    text = isinstance(whole, str)
    ws, nl, cr, empty = (_WS, "\n", "\r", "") if text else (WHITESPACE, b"\n", b"\r", b"")
    lstrip = str.lstrip if text else bytes.lstrip
    n = len(pieces)
    breaks = whole.count(nl) - (n - 1 if tnl else 0)
    crs = whole.count(cr) - (n - 1 if term == cr else 0)
    if not breaks and not crs:
        bodies = list(map(lstrip, pieces, repeat(ws)))
        return bodies, (range(line, line + n) if tnl else repeat(line, n))
    if not tnl and term != cr and not broken:
        crlf = whole.count(term + cr + nl)
        head_crlf = whole.startswith(cr + nl)
        if crs == crlf + head_crlf and breaks == crlf + whole.count(term + nl) + head_crlf \
                + whole.startswith(nl):
            # every line break right after a terminator: each piece's are before its text
            counted = accumulate(map(str.count if text else bytes.count, pieces,
                                     repeat(nl)), initial=line)
            next(counted)
            return list(map(lstrip, pieces, repeat(ws))), counted
    bodies = []
    lines = []
    for p in pieces:
        body = lstrip(p, ws)
        lead = len(p) - len(body)
        lines.append(line + p.count(nl, 0, lead) if lead else line)
        if nl in body or cr in body:
            body = body.replace(cr, empty).replace(nl, empty)  # lines wrapped at 80
        bodies.append(body)
        line += p.count(nl) + tnl
    return bodies, lines


def run(spec: Spec, src: BinaryIO, file_name: str,
        interchanges: Callable[[Scanner, list[EdiProblem]],
                               Iterator[tuple[Interchange, Reader]]],
        tolerance: Tolerance, max_message_segments: int = MAX_MESSAGE_SEGMENTS,
        ) -> Iterator[Event]:
    """The events of a file: ``interchanges`` finds each interchange's header (and the
    junk before it, as problems) and gives the reader of its segments; an interchange's
    end is held back until the next begins, so that junk after its trailer is reported
    on it."""
    held: InterchangeEnd | None = None
    junk: list[EdiProblem] = []
    seen = False
    scanner = Scanner(src)
    for ic, reader in interchanges(scanner, junk):
        seen = True
        if held is not None:
            held.problems.extend(junk)
            junk.clear()
            yield held
            held = None
        asm = Assembler(spec, ic, tolerance, max_message_segments)
        asm.end.problems.extend(junk)
        junk.clear()
        yield from reader.events(asm)
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
