"""EDI writers: canonical records → the messages of one EDIFACT or X12 interchange.

A writer mapping's ``[[segments]]`` say what each message holds: segments written once at
a message's start from its first record (level ``message``: BGM, DTM, RFF; BAK), once per
record (``record``: LIN, QTY; PO1, ACK) and once before its trailer (``end``: UNS, CNT;
CTT, with the ``{records}`` count). ``[edi] per`` says how records make messages: all in
one (a catalogue, a stock report) or a new message whenever a field changes (one order
response per order, its lines being consecutive).

The envelope is the syntax writer's (``formats/edifact.py``, ``formats/x12.py``): this
module gives it the channel's ids, the interchange control number (and X12's group control
number) from the ledger, counted per partner, and message references numbered from 1 in
each interchange. The interchange is opened with the first message, so a file with
nothing to send takes no control number; the number is allocated in the transaction that
records the output, so a rolled-back output gives it back.

A record is all or nothing, as in multi-record writers: a value its transforms refuse, or
a text the syntax cannot carry (a character outside the interchange's character set, an
X12 separator inside a value), leaves the record out of this output, reported with its
line and the element (``QTY01-2 (quantity_confirmed)``). Texts are checked before any
segment of the record is written (each distinct text once), so a message never holds half
a record.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, BinaryIO

from ..documents import to_text
from ..errors import ConfigError
from ..formats.edi import EnvelopeWriter, Value
from .loader import EdiSegment, EdiValue, EdiWriteOptions, Mapping
from .transforms import Memo, TransformError

if TYPE_CHECKING:
    from ..config import EdiSettings

Record = dict[str, Any]
OnProblem = Callable[[int | None, str, str, str], None]
# texts already known to be writable: cleared when it grows past this many
_GOOD_TEXTS = 50_000
# the most segments an EDIFACT message holds (UNT 0074 is six digits); X12's SE01 has ten
MESSAGE_SEGMENTS = {"edifact": 999_999}


@dataclass(frozen=True)
class Envelope:
    """What an EDI output needs besides its mapping: the channel's ids, where control
    numbers come from (``Ledger.next_control_number``, inside the output's transaction)
    and the interchange's date and time."""

    settings: EdiSettings
    allocate: Callable[[str, str], int]
    at: datetime


class _Refused(Exception):
    """A value of a record that cannot be written: located, the record is left out."""

    def __init__(self, label: str, message: str, value: str) -> None:
        super().__init__(message)
        self.label, self.message, self.value = label, message, value


class _Null(io.RawIOBase):
    """Where the probe writer's bytes go."""

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return len(data)


def syntax_writer(fmt: str, sink: BinaryIO, settings: EdiSettings, control: int,
                  options: EdiWriteOptions, at: datetime) -> EnvelopeWriter:
    """The syntax writer of an interchange, with its header written: EDIFACT UNB, or X12
    ISA and GS (one functional group per interchange, its control number counted per
    partner as well)."""
    if fmt == "x12":
        from ..formats.x12 import X12Writer

        writer = X12Writer(sink, sender=settings.sender or "", recipient=settings.recipient
                           or "", control=control_text(fmt, control),
                           sender_qualifier=settings.sender_qualifier or "ZZ",
                           recipient_qualifier=settings.recipient_qualifier or "ZZ",
                           version=options.version[:5], date=at.strftime("%y%m%d"),
                           time=at.strftime("%H%M"), test=settings.test)
        return writer
    from ..formats.edifact import EdifactWriter

    return EdifactWriter(sink, sender=settings.sender or "",  # type: ignore[no-any-return]
                         recipient=settings.recipient or "", control=control_text(fmt, control),
                         sender_qualifier=settings.sender_qualifier or "14",
                         recipient_qualifier=settings.recipient_qualifier or "14",
                         syntax=settings.syntax or "UNOC", date=at.strftime("%y%m%d"),
                         time=at.strftime("%H%M"), test=settings.test)


def control_text(fmt: str, number: int) -> str:
    """A control number as the envelope writes it: ISA13 is nine digits, zero-padded."""
    return f"{number:09d}" if fmt == "x12" else str(number)


def partner_key(fmt: str, recipient: str) -> str:
    """The ledger's key of a partner's control numbers: ``edifact:5412345000013``."""
    return f"{fmt}:{recipient}"


def _reference(fmt: str, n: int) -> str:
    """The n-th message reference of an interchange: ST02 is 4 to 9 characters."""
    return f"{n:04d}" if fmt == "x12" else str(n)


class EdiRecordWriter:
    """Writes records as the messages of one interchange; ``close`` ends it."""

    def __init__(self, mapping: Mapping, sink: BinaryIO, envelope: Envelope | None,
                 on_problem: OnProblem | None = None) -> None:
        options = mapping.edi_write
        assert options is not None
        if envelope is None or not envelope.settings.sender or not envelope.settings.recipient:
            raise ConfigError(f"mapping {mapping.name!r} writes {mapping.format} interchanges: "
                              "its channel needs [edi] sender and recipient ids")
        self.mapping = mapping
        self.options = options
        self.sink = sink
        self.envelope = envelope
        self.on_problem = on_problem
        self.count = 0                      # records written
        self._fmt = mapping.format
        self._writer: EnvelopeWriter | None = None
        self._probe: EnvelopeWriter | None = None
        self._number: int | None = None     # the interchange control number, once taken
        self._messages = 0                  # messages begun in the interchange
        self._in_message = False
        self._in_message_records = 0
        self._in_message_segments = 0
        self._in_message_items = 0          # group items (order lines) written in it
        self._end: list[tuple[str, list[list[str | EdiValue]]]] = []
        self._key: str | None = None        # the per field's text of the open message
        self._held: list[tuple[Record, int | None]] = []
        self._buffered = options.buffered
        self._good: set[str] = set()        # texts known writable (repeated values)
        self._good_chars: set[str] = set()  # characters known writable
        from .writer import _text  # the writers' final step (writer imports this module)

        # each value's transforms, memoised, by the value's identity (hashing the frozen
        # value itself per record would cost more than the lookup saves)
        self._memos = {id(v): Memo([*v.chain, _text]) for seg in options.segments
                       for element in seg.elements for v in element if v.text is None}
        levels: dict[str, list[EdiSegment]] = {"message": [], "record": [], "end": []}
        for seg in options.segments:
            levels[seg.level].append(seg)
        self._head, self._body, self._tail = levels["message"], levels["record"], levels["end"]
        # the group whose items {items} counts: the last one written in a record (an
        # order's lines come after its allowances, in EANCOM and X12 alike)
        self._item_group = next((seg.group for seg in reversed(self._body) if seg.group),
                                None)
        self._when = {seg.key: _condition(seg) for seg in options.segments if seg.when}

    # -- records ---------------------------------------------------------------------------
    def write(self, records: Iterable[Record], lines: Iterable[int] | None = None) -> int:
        """Write the records the mapping's ``where`` selects; the number written."""
        where = self.mapping.where
        per = self.options.per
        lit = iter(lines) if lines is not None else None
        before = self.count
        for rec in records:
            line = next(lit, None) if lit is not None else None
            if where and not all(to_text(rec.get(f)) == v for f, v in where):
                continue
            if per is not None:
                key = to_text(rec.get(per))
                if key != self._key:
                    self._finish_message()
                    self._key = key
            if self._buffered:
                self._held.append((rec, line))
            else:
                self._take(rec, line)
        return self.count - before

    def _take(self, rec: Record, line: int | None) -> None:
        """Stream one record into the open message, opening it with this record when
        none is (its message-level segments are this record's)."""
        number = self._in_message_records + 1 if self._in_message else 1
        body = self._located(rec, line,
                             lambda: self._segments(self._body, rec, {}, number))
        if body is None:
            return
        if self._in_message and self._full(body):
            self._end_message()  # the next message starts with this record
            self._take(rec, line)
            return
        if not self._in_message:
            head = self._located(rec, line, lambda: self._opening(rec, {}))
            if head is None:
                return
            self._begin(*head)
        self._emit(body, rec)

    def _full(self, body: list[tuple[str, list[Value]]]) -> bool:
        """Would this record take the open message past the segments its trailer can
        count? A catalogue of a million products then goes on in a next message."""
        most = MESSAGE_SEGMENTS.get(self._fmt)
        return most is not None and self._in_message_segments + len(body) + len(self._end) \
            + 1 > most

    def _finish_message(self) -> None:
        """The open message's end: a streamed one gets its end segments and trailer; the
        held records of a buffered one are written now, with what they have in common
        (``distinct``)."""
        if self._buffered and self._held:
            held, self._held = self._held, []
            good = []
            for rec, line in held:
                body = self._located(rec, line, lambda r=rec, n=len(good) + 1:
                                     self._segments(self._body, r, {}, n))
                if body is not None:
                    good.append((rec, line, body))
            if not good:
                return
            # over every record of the message, those left out too: a response says what
            # happened to the whole order, not only to the lines it could carry
            distinct = self._distinct([rec for rec, _line in held])
            first, line, _body = good[0]
            try:
                head = self._opening(first, distinct)
            except _Refused as exc:
                per = self.options.per
                self._refuse(line, exc.label, f"{exc.message}; the message for {per} "
                             f"{to_text(first.get(per or ''))!r} ({len(good)} record(s)) "
                             "is left out", exc.value)
                return
            self._begin(*head)
            for rec, _line, body in good:
                if self._full(body):  # one order past a message's segments: go on
                    self._end_message()
                    self._begin(*head)
                self._emit(body, rec)
        if self._in_message:
            self._end_message()

    def _distinct(self, records: list[Record]) -> dict[str, str]:
        """Per field a ``distinct`` value names: its canonical texts over the message's
        records, sorted, joined by commas (``accepted,blocked``)."""
        fields = {v.field for s in (*self._head, *self._tail) for e in s.elements
                  for v in e if v.distinct and v.field}
        return {f: ",".join(sorted({to_text(_value(r, f)) for r in records} - {""}))
                for f in fields}

    def _located(self, rec: Record, line: int | None, build: Callable[[], Any]) -> Any:
        try:
            return build()
        except _Refused as exc:
            self._refuse(line, exc.label, exc.message, exc.value)
            return None

    def _refuse(self, line: int | None, label: str, message: str, value: str) -> None:
        if self.on_problem is not None:
            self.on_problem(line, label, message, value)

    # -- segments --------------------------------------------------------------------------
    def _opening(self, rec: Record, distinct: dict[str, str]
                 ) -> tuple[list[tuple[str, list[Value]]], list[tuple[str, list[list[str | EdiValue]]]]]:
        """A message's first segments and its end segments (their counters left to fill
        in at the end), from its first record: all checked before the message begins."""
        head = self._segments(self._head, rec, distinct, None)
        tail = [(seg.tag, self._texts(seg, rec, distinct, None))
                for seg in self._tail if self._applies(seg, rec)]
        return head, tail

    def _segments(self, segments: list[EdiSegment], rec: Record, distinct: dict[str, str],
                  number: int | None) -> list[tuple[str, list[Value]]]:
        out = []
        i = 0
        while i < len(segments):
            seg = segments[i]
            if seg.group is None:
                if self._applies(seg, rec):
                    texts = self._texts(seg, rec, distinct, number)
                    out.append((seg.tag, [_element(e) for e in texts]))
                i += 1
                continue
            # a run of one group's segments, written item by item (each LIN with its
            # PIA, QTY…), an item's fields over the record's
            run = [seg]
            while i + len(run) < len(segments) and segments[i + len(run)].group == seg.group:
                run.append(segments[i + len(run)])
            for n, item in enumerate(rec.get(seg.group) or (), 1):
                view = {**rec, **item}
                for member in run:
                    if self._applies(member, view):
                        texts = self._texts(member, view, distinct, n)
                        out.append((member.tag, [_element(e) for e in texts]))
            i += len(run)
        return out

    def _applies(self, seg: EdiSegment, rec: Record) -> bool:
        test = self._when.get(seg.key)
        return test is None or test(rec)

    def _texts(self, seg: EdiSegment, rec: Record, distinct: dict[str, str],
               number: int | None) -> list[list[str | EdiValue]]:
        """Each element's component texts, every one checked writable; ``{records}`` is
        the record's ``number`` in its message, or left as it is (``number`` None) for the
        end of the message to count."""
        out: list[list[str | EdiValue]] = []
        for i, element in enumerate(seg.elements, 1):
            comps: list[str | EdiValue] = []
            for j, v in enumerate(element, 1):
                if v.counter in ("records", "items") and number is None:
                    comps.append(v)
                    continue
                text = self._text(v, rec, distinct, number)
                if text and text not in self._good:
                    self._check(seg.tag, i, j, text, v.label)
                comps.append(text)
            out.append(comps)
        return out

    def _text(self, v: EdiValue, rec: Record, distinct: dict[str, str],
              number: int | None) -> str:
        if v.text is not None:
            return v.text
        if v.counter is not None:
            raw: Any = self._counter(v.counter, number)
        elif v.distinct:
            raw = distinct.get(v.field or "", "")
        else:
            raw = _value(rec, v.field or "")
        try:
            return self._memos[id(v)](raw)  # type: ignore[no-any-return]
        except TransformError as exc:
            raise _Refused(v.label, str(exc), to_text(raw)) from None

    def _counter(self, name: str, number: int | None = None) -> str:
        """A value the writer knows: ``records`` is ``number`` when given (a record's
        place in its message), else the count of the message's records."""
        if name == "records":
            return str(number if number is not None else self._in_message_records)
        if name == "items":
            return str(self._in_message_items)
        if name == "control":
            return control_text(self._fmt, self._control_number())
        if name in ("sender", "recipient"):
            return getattr(self.envelope.settings, name) or ""
        return self.envelope.at.strftime("%Y%m%d" if name == "date" else "%H%M")

    def _check(self, tag: str, element: int, component: int, text: str, label: str) -> None:
        """Can the syntax write this text? What it refuses is a character (outside the
        character set, or an X12 separator), so a text of characters already written is
        writable; another is asked of a writer whose bytes go nowhere, at the text's own
        place, so that its message names the element."""
        if self._good_chars.issuperset(text):
            self._remember(text)
            return
        if self._probe is None:
            self._probe = self._open(_Null(), 1, 1)  # type: ignore[arg-type]
            self._probe.begin_message(self.options.message, _reference(self._fmt, 1),
                                      **self._message_options())
        try:
            self._probe.segment(tag, *([""] * (element - 1)),
                                (*([""] * (component - 1)), text))
        except ValueError as exc:
            raise _Refused(label, str(exc), text) from None
        self._good_chars.update(text)
        self._remember(text)

    def _remember(self, text: str) -> None:
        if len(self._good) >= _GOOD_TEXTS:
            self._good.clear()
        self._good.add(text)

    # -- the envelope ----------------------------------------------------------------------
    def _control_number(self) -> int:
        """The interchange's control number, taken from the ledger when first needed (a
        message's ``{control}``, or its envelope)."""
        if self._number is None:
            self._number = self.envelope.allocate(self._partner(), "interchange")
        return self._number

    def _partner(self) -> str:
        """Whose numbers: the recipient, per standard (an EDIFACT UNB 0020 and an X12
        ISA13 are sequences of their own, even to one partner)."""
        return partner_key(self._fmt, self.envelope.settings.recipient or "")

    def _open(self, sink: BinaryIO, control: int, group: int | None = None
              ) -> EnvelopeWriter:
        """A syntax writer with its header (and X12's group header) written; ``group``
        None takes the group control number from the ledger."""
        writer = syntax_writer(self._fmt, sink, self.envelope.settings, control, self.options,
                               self.envelope.at)
        if self._fmt == "x12":
            if group is None:
                group = self.envelope.allocate(self._partner(), "group")
            writer.begin_group(self.options.functional_group or "", str(group),
                               self.options.version)
        return writer

    def _message_options(self) -> dict[str, str]:
        if self._fmt == "x12":
            return {"version": ""}
        return {"version": self.options.version, "association": self.options.association}

    def _begin(self, head: list[tuple[str, list[Value]]],
               tail: list[tuple[str, list[list[str | EdiValue]]]]) -> None:
        if self._writer is None:
            self._writer = self._open(self.sink, self._control_number())
        self._messages += 1
        self._writer.begin_message(self.options.message, _reference(self._fmt, self._messages),
                                   **self._message_options())
        self._in_message, self._in_message_records, self._end = True, 0, tail
        self._in_message_items = 0
        for tag, values in head:
            self._writer.segment(tag, *values)
        self._in_message_segments = 1 + len(head)  # the header and these

    def _emit(self, body: list[tuple[str, list[Value]]], rec: Record) -> None:
        assert self._writer is not None
        for tag, values in body:
            self._writer.segment(tag, *values)
        self._in_message_segments += len(body)
        self._in_message_records += 1
        if self._item_group is not None:
            self._in_message_items += len(rec.get(self._item_group) or ())
        self.count += 1

    def _end_message(self) -> None:
        assert self._writer is not None
        for tag, texts in self._end:
            self._writer.segment(tag, *(_element([self._counter(c.counter or "")
                                                  if isinstance(c, EdiValue) else c
                                                  for c in comps]) for comps in texts))
        self._writer.end_message()
        self._in_message = False

    def close(self) -> None:
        """End the last message, the group and the interchange (nothing was written when
        no record was: the output is then dropped, and no control number taken)."""
        self._finish_message()
        if self._writer is not None:
            if self._fmt == "x12":
                self._writer.end_group()
            self._writer.close()


def _element(comps: list[Any]) -> Value:
    """One component is a simple element; several, a composite."""
    return comps[0] if len(comps) == 1 else tuple(comps)


def _value(rec: Record, name: str) -> Any:
    base, _, sub = name.partition(".")
    return (rec.get(base) or {}).get(sub) if sub else rec.get(name)


def _condition(seg: EdiSegment) -> Callable[[Record], bool]:
    """A segment's ``when``: its field ``present`` (or not), or its text ``in`` a set."""
    assert seg.when is not None
    name, cond, what = seg.when
    if cond == "present":
        return lambda rec: _present(_value(rec, name)) is what
    return lambda rec: to_text(_value(rec, name)) in what


def _present(value: Any) -> bool:
    return not (value is None or value == "" or (isinstance(value, tuple | list | dict)
                                                 and not value))
