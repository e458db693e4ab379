"""EDIFACT syntax (ISO 9735): interchanges read as a stream of events, and written.

Separators come from the UNA service string advice, else the syntax's defaults (those of
UNOB are control characters); the release character escapes a separator inside a value;
a repetition separator splits repeated data elements (syntax 4, or whatever the UNA
names). The UNB syntax identifier names the character set the texts are decoded with
(UNOA/UNOB ASCII, UNOC Latin-1 … UNOY UTF-8). A UTF-8 byte-order mark, line breaks
between or inside segments (files wrapped at 80 columns) and several interchanges in one
file are read; counts and references of UNT, UNE and UNZ are checked, each problem kept
with its line, segment, element and the syntax error code (data element 0085) that a
CONTRL needs to say it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

from .edi import (EDIFACT, EdiProblem, Element, Event, Group, Interchange, Message, Segment,
                  Separators, Tolerance, TOLERANCE)
from .edistream import (BOM, MAX_MESSAGE_SEGMENTS, Reader, Scanner, Spec, WriterBase, run,
                         split)

# UNB syntax identifier → the codec its texts are in
CHARSETS = {"UNOA": "ascii", "UNOB": "ascii", "UNOC": "latin-1", "UNOD": "iso8859_2",
            "UNOE": "iso8859_5", "UNOF": "iso8859_7", "UNOG": "iso8859_3",
            "UNOH": "iso8859_4", "UNOI": "iso8859_6", "UNOJ": "iso8859_8",
            "UNOK": "iso8859_9", "UNOW": "utf-8", "UNOY": "utf-8"}
# what each level may hold besides the separators (ISO 9735 level A is upper case only)
_INVALID = {"UNOA": re.compile(r"[^A-Z0-9 .,\-()/=!\"%&*;<>'+:?]"),
            "UNOB": re.compile(r"[^\x20-\x7e]")}
_INVALID_8BIT = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_INVALID_UTF8 = re.compile(r"[\x00-\x1f\x7f]")
_TAG = re.compile(r"[A-Z][A-Z0-9]{2}\Z")

DEFAULT = Separators(component=":", element="+", segment="'", release="?", repetition=None)
DEFAULT_4 = Separators(component=":", element="+", segment="'", release="?", repetition="*")
# UNOB without a UNA: the information separators IS1, IS3, IS4 (and IS2 repeats)
DEFAULT_UNOB = Separators(component="\x1f", element="\x1d", segment="\x1c", release=None,
                          repetition="\x19")

# syntax error codes (0085) per problem
CODES = {("*", "count"): "29", ("*", "reference"): "28", ("*", "missing"): "13",
         ("*", "position"): "15", ("*", "size"): "39", ("*", "tag"): "22",
         ("*", "characters"): "21", ("*", "charset"): "2", ("*", "junk"): "18"}


def _group(seg: Segment) -> Group:
    return Group(id=seg.value(1), control=seg.value(5),
                 version=seg.value(7, 1) + seg.value(7, 2), sender=seg.value(2),
                 recipient=seg.value(3), header=seg)


def _message(seg: Segment, ic: Interchange, group: Group | None, index: int) -> Message:
    return Message(interchange=ic, group=group, type=seg.value(2, 1),
                   version=seg.value(2, 2) + seg.value(2, 3), reference=seg.value(1),
                   segments=(seg,), association=seg.value(2, 5), index=index)


SPEC = Spec(standard=EDIFACT, interchange=("UNB", "UNZ"), group=("UNG", "UNE"),
            message=("UNH", "UNT"), starts=("UNA", "UNB"), codes=CODES, groups_required=False,
            counts_groups_only=False, new_group=_group, new_message=_message)


def events(src: BinaryIO, file_name: str, *, tolerance: Tolerance | None = None,
           max_message_segments: int = MAX_MESSAGE_SEGMENTS) -> Iterator[Event]:
    """The messages, group ends and interchange ends of an EDIFACT file, in file order
    (see ``edi.py``), checked as ``tolerance`` (else the channel's) says; ``DataError``
    only when the file holds no interchange at all."""
    return run(SPEC, src, file_name, _interchanges, tolerance or TOLERANCE.get(),
               max_message_segments)


def _interchanges(sc: Scanner, junk: list[EdiProblem]
                  ) -> Iterator[tuple[Interchange, Reader]]:
    term = ord("'")
    while sc.skip_space():
        # the service characters are taken as they stand (a line end may be one of them);
        # only a UNA or UNB cut by a line end (a file wrapped at 80 columns) is read
        # without its line breaks
        head = sc.peek(9)
        wrapped = not (head.startswith(b"UNA") or head.startswith(b"UNB"))
        if wrapped:
            head = sc.peek_text(9)
        if not (head.startswith(b"UNA") or head.startswith(b"UNB")):
            _skip_junk(sc, term, junk)
            continue
        seps = None
        if head.startswith(b"UNA"):
            una = head[3:9].decode("latin-1")
            if len(una) < 6:
                sc.advance(len(sc.peek(9)))
                junk.append(EdiProblem("UNA cut short: the file ends", "interchange",
                                       CODES[("*", "missing")], line=sc.line, segment="UNA"))
                return
            release = None if una[3] == " " else una[3]
            seps = Separators(component=una[0], element=una[1], segment=una[5],
                              release=release, repetition=None if una[4] == " " else una[4],
                              decimal=una[2])
            if wrapped:
                sc.advance_text(9)
            else:
                sc.advance(9)
            sc.skip_space()
            if not sc.peek_text(3).startswith(b"UNB"):
                junk.append(EdiProblem("UNA not followed by UNB", "interchange",
                                       CODES[("*", "position")], line=sc.line, segment="UNA"))
                continue
        elif head[3:4] == b"\x1d":
            seps = DEFAULT_UNOB
        got = sc.segment(ord((seps or DEFAULT).segment), _ord((seps or DEFAULT).release))
        if got is None:
            return
        raw, line, _terminated = got
        if raw is None:
            junk.append(EdiProblem("UNB too long", "interchange", CODES[("*", "size")],
                                   line=line, segment="UNB"))
            continue
        tag, elements = split(raw.decode("latin-1"), seps or DEFAULT)
        header = Segment(tag, elements, line)
        syntax, version = header.value(1, 1), header.value(1, 2)
        if seps is None:
            seps = DEFAULT_4 if version == "4" else DEFAULT
        problems: list[EdiProblem] = []
        codec = CHARSETS.get(syntax)
        if codec is None:
            problems.append(EdiProblem(
                f"syntax identifier {syntax!r} is not one of {', '.join(CHARSETS)}; texts "
                "read as Latin-1", "interchange", CODES[("*", "charset")], line=line,
                segment="UNB", element=1, component=1, value=syntax))
            codec = "latin-1"
        for el, what in ((2, "sender"), (3, "recipient"), (5, "control reference")):
            if not header.value(el):
                problems.append(EdiProblem(f"UNB has no {what}", "interchange",
                                           CODES[("*", "missing")], line=line,
                                           segment="UNB", element=el))
        ic = Interchange(standard=EDIFACT, sender=header.value(2, 1),
                         sender_qualifier=header.value(2, 2), recipient=header.value(3, 1),
                         recipient_qualifier=header.value(3, 2), control=header.value(5),
                         syntax=syntax, syntax_version=version, date=header.value(4, 1),
                         time=header.value(4, 2), test=header.value(11) == "1",
                         separators=seps, header=header, encoding=codec)
        junk.extend(problems)
        yield ic, _reader(sc, seps, codec)
        term = ord(seps.segment)


def _ord(ch: str | None) -> int | None:
    return None if ch is None else ord(ch)


def _skip_junk(sc: Scanner, term: int, junk: list[EdiProblem]) -> None:
    """Bytes outside any interchange: one problem for the run, up to the next UNA/UNB."""
    line = sc.line
    shown = sc.peek(20).decode("latin-1")
    while True:
        if sc.segment(term, None) is None or not sc.skip_space():
            break
        if sc.peek_text(3) in (b"UNA", b"UNB"):
            break
    junk.append(EdiProblem("not an EDIFACT interchange: UNA or UNB expected", "interchange",
                           CODES[("*", "junk")], line=line, value=shown))


def _reader(sc: Scanner, seps: Separators, codec: str) -> Reader:
    def make(raw: bytes | None, line: int, terminated: bool
             ) -> tuple[Segment | None, EdiProblem | None]:
        if raw is None:
            return None, EdiProblem(f"segment longer than {sc.max_segment:,} bytes: skipped",
                                    "segment", CODES[("*", "size")], line=line)
        head = raw[3:6] if raw.startswith(BOM) else raw[:3]  # two files joined
        if head in (b"UNA", b"UNB"):
            return Segment(head.decode(), (), line), None
        problem = None
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError as exc:
            text = raw.decode(codec, errors="replace")
            problem = EdiProblem(f"byte {raw[exc.start]:#04x} is not {codec} text "
                                 f"(UNB says {codec})", "segment", CODES[("*", "characters")],
                                 line=line, segment=text[:3])
        seg, bad = make_text(text, line)
        if seg is None:
            return None, bad
        if not terminated and problem is None:
            problem = EdiProblem(f"segment {seg.tag} cut short: the file ends", "segment",
                                 CODES[("*", "missing")], line=line, segment=seg.tag)
        return seg, problem

    def make_text(text: str, line: int) -> tuple[Segment | None, EdiProblem | None]:
        head = text.lstrip("\ufeff")[:3] if not text.startswith("ï»¿") else text[3:6]
        if head in ("UNA", "UNB"):
            return Segment(head, (), line), None
        tag, elements = split(text, seps)
        if not _TAG.match(tag):
            return None, EdiProblem(f"{tag[:20]!r} is not a segment tag", "segment",
                                    CODES[("*", "tag")], line=line, value=text[:40])
        return Segment(tag, elements, line), None
    return Reader(sc, seps, codec, make, make_text, SPEC)


# ---- writing ----------------------------------------------------------------------------

class EdifactWriter(WriterBase):
    """One interchange written: UNA when the separators or the character set need one,
    UNB … UNZ with its counts; a text the character set cannot carry is refused with
    ``ValueError`` naming the segment and the character."""

    spec = SPEC

    def __init__(self, sink: BinaryIO, *, sender: str, recipient: str, control: str,
                 sender_qualifier: str = "14", recipient_qualifier: str = "14",
                 syntax: str = "UNOC", syntax_version: str | None = None, date: str,
                 time: str, test: bool = False, application_reference: str = "",
                 separators: Separators | None = None, newline: bool = True) -> None:
        super().__init__(sink, newline)
        if syntax not in CHARSETS:
            raise ValueError(f"syntax identifier {syntax!r} is not one of "
                             f"{', '.join(CHARSETS)}")
        self.syntax = syntax
        self.codec = CHARSETS[syntax]
        version = syntax_version or ("4" if syntax in ("UNOW", "UNOY") else "3")
        default = DEFAULT_4 if version == "4" else DEFAULT
        seps = separators or default
        self.seps = seps
        self._narrow = self.codec != "utf-8"
        self._invalid = _INVALID.get(syntax) or (
            _INVALID_UTF8 if self.codec == "utf-8" else _INVALID_8BIT)
        specials = [c for c in (seps.component, seps.element, seps.segment, seps.release,
                                seps.repetition) if c]
        self._special = re.compile("[" + re.escape("".join(specials)) + "]")
        self._end = seps.segment + ("\n" if newline else "")
        self._date, self._time = date, time
        self._control = control
        if seps != default or syntax == "UNOB":
            self.sink.write(("UNA" + seps.component + seps.element + seps.decimal
                             + (seps.release or " ") + (seps.repetition or " ")
                             + self._end).encode("ascii"))
        self._put("UNB", (syntax, version), (sender, sender_qualifier),
                  (recipient, recipient_qualifier), (date, time), control, "",
                  application_reference, "", "", "", "1" if test else "")

    def _text(self, tag: str, text: str) -> str:
        bad = self._invalid.search(text)
        if bad is not None:
            raise ValueError(f"{tag}: character {bad.group()!r} cannot be written in "
                             f"{self.syntax}")
        if self._narrow and not text.isascii():
            try:
                text.encode(self.codec)
            except UnicodeEncodeError as exc:
                raise ValueError(f"{tag}: character {text[exc.start]!r} cannot be written in "
                                 f"{self.syntax} ({self.codec})") from None
        if self._special.search(text) is None:
            return text
        rel = self.seps.release
        if rel is None:
            raise ValueError(f"{tag}: {text!r} holds a separator and the interchange has "
                             "no release character")
        return self._special.sub(lambda m: rel + m.group(), text)

    def _segment_bytes(self, tag: str, elements: tuple[Element, ...]) -> bytes:
        s = self.seps
        out = [tag]
        for reps in elements:
            out.append(s.element)
            out.append((s.repetition or "").join(
                s.component.join([self._text(tag, c) if c else c for c in comps])
                for comps in reps))
        out.append(self._end)
        return "".join(out).encode(self.codec)

    def begin_group(self, id: str, control: str, version: str, sender: str | None = None,
                    recipient: str | None = None, **_kw: str) -> None:
        v, r = _version(version)
        self._begin_group(control, (id, sender or "", recipient or "",
                                    (self._date, self._time), control, "UN", (v, r)))

    def begin_message(self, type: str, reference: str, version: str, association: str = "",
                      **_kw: str) -> None:
        v, r = _version(version)
        self._begin_message(reference, (reference, (type, v, r, "UN", association)))


def _version(version: str) -> tuple[str, str]:
    """``D96A`` → (``D``, ``96A``); ``2:2`` or ``D:3`` as written."""
    if ":" in version:
        v, _, r = version.partition(":")
        return v, r
    return version[:1], version[1:]

