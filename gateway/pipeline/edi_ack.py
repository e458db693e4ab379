"""Acknowledgements of EDI interchanges received: EDIFACT CONTRL and APERAK, X12 997.

Partners that send EDI expect the answers their translators understand, besides the
gateway's XML acknowledgement: a technical one per interchange (CONTRL, 997) that says,
in the standard's codes and positions, which messages were taken and what was wrong with
the others, and an application one (APERAK) for each message the gateway refused for
what it said (a total that does not add up, an order already forwarded…).

The two layers are kept apart as the standards keep them: the CONTRL and the 997 speak of
syntax only (counts, references, segments, a message type the channel does not read); a
message whose syntax is right but whose content the gateway refused is acknowledged
there and answered with an APERAK. One exception, so that a partner never believes
something was taken that was not: when the file was refused as a whole (nothing of it
applied) and it holds a syntax error, every interchange is rejected (UCI 4, AK9 R).

What was received is read again from the archived bytes by the syntax reader (``survey``):
the acknowledgement describes the file itself, not what the mapping made of it, and a
file read again after a crash gives the same acknowledgement. Only a summary of each
message is kept (its reference, lines and problems), so a large file costs little memory.

An interchange already received (same standard, sender and control number, in another
exchange or earlier in the same file) is a duplicate: a file made only of duplicates is
not mapped again, and the technical acknowledgement says so (CONTRL UCI 4 with error 26;
X12: a TA1 with note code 025, and no 997, since the 997 of its first reception was sent).
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, BinaryIO

from ..errors import DataError, Problem
from ..formats.edi import (EDIFACT, X12, EdiProblem, Group, GroupEnd, Interchange,
                           InterchangeEnd, Message, Tolerance, compile_path, message_tree)
from ..mapping.ediwriter import control_text, partner_key
from ..model import Direction, OrderOutcome

if TYPE_CHECKING:
    from ..config import Channel, Config, EdiSettings
    from ..mapping.loader import EdiReadOptions, Mapping

# EDIFACT action codes (0083) and the syntax error codes (0085) the gateway itself decides
ACKNOWLEDGED, REJECTED = "7", "4"
NO_AGREEMENT, DUPLICATE = "17", "26"
# X12: AK5/AK9 results, AK502 "transaction set not supported", AK502 "segments in error",
# TA1 note code "duplicate interchange control number"
X12_ACCEPTED, X12_ERRORS, X12_PARTIAL, X12_REJECTED = "A", "E", "P", "R"
X12_NOT_SUPPORTED, X12_SEGMENTS_IN_ERROR, X12_DUPLICATE = "1", "5", "025"

# APERAK error codes (ERC 9321, assigned by the supplier's side: 3055 = 91)
ERC_INVALID = "INVALID"     # a value missing or wrong: the order could not be read
ERC_REFUSED = "REFUSED"     # an order rule refused it (money check…)
ERC_DUPLICATE = "DUPLIC"    # the order was forwarded before: not again
ERC_CHANGED = "CHANGED"     # forwarded before with other content: the change is not applied
ERC_NOT_APPLIED = "NOTAPPL"  # fine itself, refused with the file as a whole

FTX_PART, FTX_PARTS = 70, 5   # FTX C108: five texts of 70 characters (D.96A)
AK404_MAX = 99


# ---- the channel -----------------------------------------------------------------------

@dataclass(frozen=True)
class Inbound:
    """An EDI input channel as its acknowledgements see it: the standard, the channel's
    ``[edi]`` options, the message its mapping reads, and how to find a message's
    document number (to pair a message with what the order rules said of it)."""

    standard: str
    settings: EdiSettings
    reads: EdiReadOptions
    number: Callable[[Message], str | None]

    @classmethod
    def of(cls, config: Config, channel: Channel) -> Inbound | None:
        """None unless the channel reads EDIFACT or X12 messages."""
        from ..config import EdiSettings
        from ..mapping.loader import load_mapping

        if channel.direction is not Direction.IN:
            return None
        mapping = load_mapping(config, channel.mapping)
        if mapping.edi_read is None or mapping.format not in (EDIFACT, X12):
            return None
        return cls(mapping.format, channel.edi or EdiSettings(), mapping.edi_read,
                   number_finder(mapping))

    @property
    def tolerance(self) -> Tolerance:
        return Tolerance(**dict(self.settings.tolerance))

    @property
    def technical(self) -> str | None:
        """The technical acknowledgement asked for: ``CONTRL``, ``997`` or None."""
        return {"contrl": "CONTRL", "997": "997"}.get(self.settings.ack)


def number_finder(mapping: Mapping) -> Callable[[Message], str | None]:
    """A message's document number as the mapping's ``number`` field finds it (``BGM/e2``,
    ``BEG/e3``), before its transforms but stripped, as the order rules see it."""
    spec = next((f for f in mapping.fields if f.name == "number" and f.group is None), None)
    paths = [p for p in ((spec.paths or (spec.path,)) if spec else ()) if p]
    finders = [compile_path(p) for p in paths]
    # the tree of only the segments the paths start from (a message may be long)
    firsts = {re.match(r"[A-Z][A-Z0-9]{1,2}(?=[/\[]|$)", p) for p in paths}
    tags = None if None in firsts else frozenset(m.group() for m in firsts if m)

    def number(msg: Message) -> str | None:
        if not finders:
            return None
        if tags is not None:
            msg = replace(msg, segments=tuple(s for s in msg.segments if s.tag in tags),
                          problems=[])
        tree = message_tree(msg)
        for find in finders:
            raw, _line = find(tree)
            if isinstance(raw, str) and raw.strip():
                return raw.strip()
        return None
    return number


# ---- what was received -----------------------------------------------------------------

@dataclass
class MessageSeen:
    """One message of the file, as much as its acknowledgements need."""

    ordinal: int                  # 1-based in the file
    reference: str                # UNH 0062 / ST02
    type: str
    version: str
    identifier: tuple[str, ...]   # EDIFACT S009 as received; X12 (ST01,)
    line: int
    last_line: int
    problems: list[EdiProblem]    # its syntax problems, segment positions filled in
    foreign: EdiProblem | None    # the type or version this channel does not read
    number: str | None            # its document number, when it could be read

    @property
    def readable(self) -> bool:
        """Syntax right and of the channel's type: the mapping read it."""
        return not self.problems and self.foreign is None


@dataclass
class GroupSeen:
    group: Group
    messages: list[MessageSeen] = field(default_factory=list)
    end: GroupEnd | None = None


@dataclass
class InterchangeSeen:
    interchange: Interchange
    groups: list[GroupSeen] = field(default_factory=list)
    messages: list[MessageSeen] = field(default_factory=list)  # outside any group
    end: InterchangeEnd | None = None
    duplicate_of: int | None = None  # the exchange that received it first

    def all_messages(self) -> Iterator[MessageSeen]:
        yield from self.messages
        for g in self.groups:
            yield from g.messages

    @property
    def problems(self) -> list[EdiProblem]:
        return self.end.problems if self.end is not None else []

    @property
    def has_errors(self) -> bool:
        """Any syntax error at any level, or a duplicate: what a technical
        acknowledgement rejects."""
        return (self.duplicate_of is not None or bool(self.problems)
                or any(g.end is not None and g.end.problems for g in self.groups)
                or any(not m.readable for m in self.all_messages()))


def survey(src: BinaryIO, file_name: str, inbound: Inbound) -> list[InterchangeSeen]:
    """The file's interchanges, groups and messages with their problems, read by the
    syntax reader with the channel's tolerance. Raises ``DataError`` when the file holds
    no interchange at all (it then gets the XML acknowledgement alone)."""
    if inbound.standard == X12:
        from ..formats import x12 as syntax
    else:
        from ..formats import edifact as syntax
    seen: list[InterchangeSeen] = []
    by_ic: dict[int, InterchangeSeen] = {}
    by_group: dict[int, GroupSeen] = {}
    ordinal = 0
    for event in syntax.events(src, file_name, tolerance=inbound.tolerance):
        ic = event.interchange if not isinstance(event, GroupEnd) else None
        if isinstance(event, GroupEnd):
            g = by_group.get(id(event.group))
            if g is None:  # a group without messages
                g = by_group[id(event.group)] = GroupSeen(event.group)
                seen[-1].groups.append(g)
            g.end = event
            continue
        assert ic is not None
        s = by_ic.get(id(ic))
        if s is None:
            s = by_ic[id(ic)] = InterchangeSeen(ic)
            seen.append(s)
        if isinstance(event, InterchangeEnd):
            s.end = event
            continue
        ordinal += 1
        m = _message_seen(event, ordinal, inbound)
        if event.group is None:
            s.messages.append(m)
        else:
            g = by_group.get(id(event.group))
            if g is None:
                g = by_group[id(event.group)] = GroupSeen(event.group)
                s.groups.append(g)
            g.messages.append(m)
    return seen


def _message_seen(msg: Message, ordinal: int, inbound: Inbound) -> MessageSeen:
    header = msg.segments[0] if msg.segments else None
    if inbound.standard == X12:
        identifier: tuple[str, ...] = (msg.type,)
    else:
        identifier = header.elements[1][0] if header and len(header.elements) > 1 \
            else (msg.type,)
    problems = _placed(msg)
    foreign = None if problems else _foreign(msg, identifier, inbound)
    return MessageSeen(
        ordinal=ordinal, reference=msg.reference, type=msg.type, version=msg.version,
        identifier=identifier, line=msg.line,
        last_line=max((s.line for s in msg.segments), default=msg.line),
        problems=problems, foreign=foreign,
        number=inbound.number(msg) if not problems and foreign is None else None)


def _foreign(msg: Message, identifier: tuple[str, ...], inbound: Inbound
             ) -> EdiProblem | None:
    """The channel has no agreement for this message: another type, or a version its
    mapping does not read (the same test the mapping reader makes)."""
    reads = inbound.reads
    x12 = inbound.standard == X12
    if msg.type != reads.message:
        return EdiProblem(f"message type {msg.type} is not read on this channel (it reads "
                          f"{reads.message})", "message",
                          X12_NOT_SUPPORTED if x12 else NO_AGREEMENT, line=msg.line,
                          segment="ST" if x12 else "UNH", position=1,
                          element=1 if x12 else 2, component=None if x12 else 1,
                          value=msg.type)
    if reads.versions and msg.version not in reads.versions:
        component = 3
        if not x12 and len(identifier) > 1 and all(v[:1] != identifier[1]
                                                   for v in reads.versions):
            component = 2
        return EdiProblem(f"{msg.type} version {msg.version} is not read on this channel "
                          f"(it reads {', '.join(reads.versions)})", "message",
                          X12_NOT_SUPPORTED if x12 else NO_AGREEMENT, line=msg.line,
                          segment="ST" if x12 else "UNH", position=1,
                          element=3 if x12 else 2, component=None if x12 else component,
                          value=msg.version)
    return None


def _placed(msg: Message) -> list[EdiProblem]:
    """The message's problems with the position of their segment in the sender's count.

    The reader keeps a segment's line but not always its position: a segment it could not
    keep (no valid tag, too long) has none, and the segments after it are numbered
    without it. A position is found from the lines when they tell it unambiguously (one
    segment per line); otherwise it stays unknown and the error is said on the message."""
    dropped = sorted(p.line for p in msg.problems
                     if p.level == "segment" and p.segment is None and p.line is not None)

    def before(line: int) -> int:
        return sum(1 for d in dropped if d < line)

    out = []
    for p in msg.problems:
        if p.position is None and p.level in ("segment", "element") and p.line is not None:
            same = [s for s in msg.segments if s.line == p.line]
            position = None
            if p.segment is None:
                if not same:
                    position = sum(1 for s in msg.segments if s.line < p.line) \
                        + before(p.line) + 1
            else:
                tagged = [s for s in same if s.tag == p.segment]
                if len(tagged) == 1:
                    position = tagged[0].position + before(p.line)
            p = replace(p, position=position)
        out.append(p)
    return out


@dataclass
class Received:
    """An EDI input file as its acknowledgements need it: the channel and what it held."""

    inbound: Inbound
    interchanges: list[InterchangeSeen]

    @property
    def duplicates(self) -> list[InterchangeSeen]:
        return [s for s in self.interchanges if s.duplicate_of is not None]


def received(src: BinaryIO, file_name: str, inbound: Inbound) -> Received | None:
    """``survey`` of an input file; None when it holds no interchange at all: the
    mapping reader refuses it, and the XML acknowledgement alone answers it."""
    try:
        return Received(inbound, survey(src, file_name, inbound))
    except DataError:
        return None


def mark_all(seen: list[InterchangeSeen], exchange_id: int) -> None:
    """The same bytes received again: every interchange is a duplicate of that exchange."""
    for s in seen:
        s.duplicate_of = exchange_id


def mark_duplicates(seen: list[InterchangeSeen], lookup: Callable[[str, str, str], int | None],
                    standard: str, exchange_id: int) -> None:
    """Each interchange received before: in another exchange (``lookup`` is
    ``Ledger.interchange_seen``) or earlier in this same file."""
    here: set[tuple[str, str]] = set()
    for s in seen:
        key = (s.interchange.sender, s.interchange.control)
        s.duplicate_of = exchange_id if key in here else lookup(standard, *key)
        here.add(key)


def record(seen: list[InterchangeSeen], remember: Callable[[str, str, str, int], None],
           standard: str, exchange_id: int) -> None:
    """Remember the interchanges this exchange applied (``Ledger.record_interchange``).
    One cut short (its trailer missing) is not remembered: the partner sends it again
    whole, with the same control number, and that is no duplicate."""
    for s in seen:
        if s.duplicate_of is None and s.end is not None and s.end.complete:
            remember(standard, s.interchange.sender, s.interchange.control, exchange_id)


def duplicate_problems(seen: list[InterchangeSeen], file_name: str,
                       standard: str) -> list[Problem]:
    """The located notice of each duplicate interchange, for the XML acknowledgement."""
    field_ = "ISA13" if standard == X12 else "UNB05"
    return [Problem(f"interchange {s.interchange.control} from {s.interchange.sender} was "
                    f"already received (exchange {s.duplicate_of}): its messages are not "
                    "applied again", line=s.interchange.header.line, field=field_,
                    value=s.interchange.control, file=file_name)
            for s in seen if s.duplicate_of is not None]


# ---- what the gateway did with each message --------------------------------------------

@dataclass(frozen=True)
class Refusal:
    """Why one message was not applied, as an APERAK says it (ERC code + text)."""

    code: str
    text: str


Item = tuple[str, str, str | None]  # (order number, OrderOutcome, reason)


def refusals(seen: list[InterchangeSeen], *, applied: bool, items: Iterable[Item],
             problems: Iterable[Problem], partial: bool) -> dict[int, list[Refusal]]:
    """Each readable message the gateway did not apply, by ordinal, with its reasons.

    The order rules say what they did per order number (``items``, in file order); a
    message refused before them (a value its mapping or the XSD refused) has no item,
    and its problems are those on its lines that no syntax problem or item explains.
    ``applied`` is False when the file was refused as a whole: a message that was fine
    itself is then refused with it."""
    readable = [m for s in seen if s.duplicate_of is None for m in s.all_messages()
                if m.readable]
    by_number: dict[str, deque[MessageSeen]] = defaultdict(deque)
    for m in readable:
        if m.number is not None:
            by_number[m.number].append(m)
    outcome: dict[int, tuple[str, str | None]] = {}
    explained: set[str] = set()
    for number, status, reason in items:
        queue = by_number.get(number)
        if queue:
            outcome[queue.popleft().ordinal] = (status, reason)
        if reason:
            explained.add(reason)
    explained.update(p.message for p in duplicate_problems(seen, "", EDIFACT))
    for s in seen:
        explained.update(p.message for p in s.problems)
        for g in s.groups:
            explained.update(p.message for p in (g.end.problems if g.end else ()))
        for m in s.all_messages():
            explained.update(p.message for p in m.problems)
    foreign_lines = {m.line for s in seen for m in s.all_messages() if m.foreign}
    leftover = [p for p in problems if p.line is not None and p.message not in explained
                and not (p.line in foreign_lines and p.field in ("UNH02", "ST01", "GS08"))]
    whole = [p for p in problems if p.line is None]
    out: dict[int, list[Refusal]] = {}
    for m in readable:
        got = outcome.get(m.ordinal)
        reasons: list[Refusal] = []
        if got is None:
            mine = [p for p in leftover
                    if m.line <= p.line <= m.last_line]  # type: ignore[operator]
            reasons = [Refusal(ERC_INVALID, _said(p)) for p in mine]
            if not reasons and applied:
                reasons = [Refusal(ERC_INVALID, "its content did not pass the gateway's "
                                                "checks")]
        else:
            status, reason = got
            order = m.number or m.reference
            if status == OrderOutcome.REJECTED:
                reasons = [Refusal(ERC_REFUSED, reason or f"order {order} refused")]
            elif status == OrderOutcome.DUPLICATE:
                reasons = [Refusal(ERC_DUPLICATE, f"order {order} was already received"
                                   + (f": {reason}" if reason else ""))]
            elif status == OrderOutcome.CHANGED:
                reasons = [Refusal(ERC_CHANGED, f"order {order} was already forwarded with "
                                   "other content; the change is not applied"
                                   + (f": {reason}" if reason else ""))]
        if not reasons and not applied:
            why = ("the channel takes a file whole or not at all" if not partial
                   else "the file was refused")
            if whole:
                why += f": {_said(whole[0])}"
            reasons = [Refusal(ERC_NOT_APPLIED, f"not applied: {why}; this message itself "
                                                "had no error")]
        if reasons:
            out[m.ordinal] = reasons
    return out


def _said(p: Problem) -> str:
    text = f"{p.field}: {p.message}" if p.field else p.message
    if p.value is not None and p.value not in p.message:
        text += f" (value {p.value!r})"
    return text


# ---- writing the acknowledgements ------------------------------------------------------

@dataclass(frozen=True)
class AckFile:
    kind: str          # CONTRL, 997, APERAK
    extension: str     # edi, x12
    data: bytes


Allocate = Callable[[str, str], int]  # Ledger.next_control_number(partner, kind)


def acknowledgements(seen: list[InterchangeSeen], inbound: Inbound, *, applied: bool,
                     refused: dict[int, list[Refusal]], allocate: Allocate, at: datetime
                     ) -> list[AckFile]:
    """The acknowledgement files the channel asks for: one technical file (an interchange
    per interchange received) and, when a message was refused for its content, one
    APERAK file. Control numbers come from ``allocate`` (the ledger, in the exchange's
    transaction: a rolled-back exchange gives them back)."""
    out: list[AckFile] = []
    technical = inbound.technical
    if technical is not None and seen:
        # nothing applied and a syntax error somewhere: every interchange is rejected
        rejected = not applied and any(s.has_errors for s in seen)
        buf = io.BytesIO()
        for s in seen:
            if inbound.standard == X12:
                write_997(buf, s, inbound.settings, rejected=rejected, allocate=allocate,
                          at=at)
            else:
                write_contrl(buf, s, inbound.settings, rejected=rejected,
                             allocate=allocate, at=at)
        if buf.getvalue():
            out.append(AckFile(technical, "x12" if inbound.standard == X12 else "edi",
                               buf.getvalue()))
    if inbound.settings.aperak and inbound.standard == EDIFACT:
        buf = io.BytesIO()
        for s in seen:
            if s.duplicate_of is None:
                mine = [(m, refused[m.ordinal]) for m in s.all_messages()
                        if m.ordinal in refused]
                if mine:
                    write_aperak(buf, s, mine, inbound.settings, allocate=allocate, at=at)
        if buf.getvalue():
            out.append(AckFile("APERAK", "edi", buf.getvalue()))
    return out


def _own_id(ic: Interchange, settings: EdiSettings) -> tuple[str, str]:
    """The gateway's id in its answer: the channel's ``recipient`` (the id its partners
    address), else the recipient the interchange named."""
    return (settings.recipient or ic.recipient,
            settings.recipient_qualifier or ic.recipient_qualifier)


def _composite(seg: Any, element: int) -> tuple[str, ...]:
    """A data element of a segment as received (its first repetition)."""
    try:
        return tuple(seg.elements[element - 1][0])
    except IndexError:
        return ("",)


# -- EDIFACT CONTRL ------------------------------------------------------------------------

def _edifact_interchange(sink: BinaryIO, ic: Interchange, settings: EdiSettings,
                         control: int, at: datetime, application_reference: str,
                         body: Callable[[Any], None]) -> None:
    """One EDIFACT interchange to the sender of ``ic``, in its character set; when a value
    copied from it cannot be written there (lower case under UNOA…), in UNOC: an
    acknowledgement must go out."""
    from ..formats.edifact import CHARSETS, EdifactWriter

    own, own_q = _own_id(ic, settings)
    version = ic.syntax_version if ic.syntax_version in ("1", "2", "3", "4") else "3"
    tried = [ic.syntax] if ic.syntax in CHARSETS else []
    for syntax in tried + ["UNOC"] * (ic.syntax != "UNOC"):
        buf = io.BytesIO()
        try:
            w = EdifactWriter(buf, sender=own, recipient=ic.sender,
                              control=control_text(EDIFACT, control), sender_qualifier=own_q,
                              recipient_qualifier=ic.sender_qualifier, syntax=syntax,
                              syntax_version=version,
                              date=at.strftime("%Y%m%d" if version == "4" else "%y%m%d"),
                              time=at.strftime("%H%M"), test=ic.test,
                              application_reference=application_reference)
            body(w)
            w.close()
        except ValueError:
            if syntax == "UNOC":
                raise
            continue
        sink.write(buf.getvalue())
        return


def _error(p: EdiProblem | None, code: str | None = None) -> list[Any]:
    """0085, 0013, S011 of a UCI, UCF or UCM: the error, the service segment it is in and
    the data element's position (ISO 9735: the segment tag is position 1, so the first
    data element is 2)."""
    if p is None:
        return [code] if code else []
    where: Any = ""
    if p.element:
        where = (str(p.element + 1), str(p.component) if p.component else "")
    return [code or p.code, p.segment or "", where]


def write_contrl(sink: BinaryIO, s: InterchangeSeen, settings: EdiSettings, *,
                 rejected: bool, allocate: Allocate, at: datetime) -> None:
    """One CONTRL interchange answering ``s`` (syntax version 3: CONTRL D:3)."""
    ic = s.interchange
    control = allocate(partner_key(EDIFACT, ic.sender), "interchange")
    _edifact_interchange(sink, ic, settings, control, at, "CONTRL",
                         lambda w: _contrl(w, s, rejected))


def _contrl(w: Any, s: InterchangeSeen, rejected: bool) -> None:
    ic = s.interchange
    w.begin_message("CONTRL", "1", "4:1" if ic.syntax_version == "4" else "D:3")
    if s.duplicate_of is not None:
        head: list[Any] = [REJECTED, DUPLICATE, "UNB", ("6",)]
    else:
        own = next((p for p in s.problems if p.level == "interchange"),
                   s.problems[0] if s.problems else None)
        head = [REJECTED if rejected else ACKNOWLEDGED, *_error(own)]
    w.segment("UCI", ic.control, _composite(ic.header, 2), _composite(ic.header, 3), *head)
    if s.duplicate_of is None:
        for m in s.messages:
            _ucm(w, m, rejected)
        for g in s.groups:
            problems = g.end.problems if g.end is not None else []
            own_g = next((p for p in problems if p.level == "group"),
                         problems[0] if problems else None)
            w.segment("UCF", g.group.control, _composite(g.group.header, 2),
                      _composite(g.group.header, 3), REJECTED if rejected else ACKNOWLEDGED,
                      *_error(own_g))
            for m in g.messages:
                _ucm(w, m, rejected)
    w.end_message()


def _ucm(w: Any, m: MessageSeen, rejected: bool) -> None:
    """UCM for one message, then UCS (+ UCD) for each located segment (element) error."""
    problems = ([m.foreign] if m.foreign else []) + m.problems
    own = next((p for p in problems if p.level == "message"), None)
    located = [p for p in problems if p.level in ("segment", "element") and p.position]
    if own is None:  # a segment error whose place is unknown is said on the message
        own = next((p for p in problems if p.level in ("segment", "element")
                    and not p.position), None)
        if own is not None:
            own = replace(own, segment=None, element=None, component=None)
    action = REJECTED if problems or rejected else ACKNOWLEDGED
    w.segment("UCM", m.reference, m.identifier, action, *_error(own))
    for p in located:
        if p.level == "segment":
            w.segment("UCS", str(p.position), p.code)
        else:
            w.segment("UCS", str(p.position))
            w.segment("UCD", p.code, (str((p.element or 0) + 1),
                                      str(p.component) if p.component else ""))


# -- EDIFACT APERAK ------------------------------------------------------------------------

def _eancom(version: str) -> tuple[str, str, tuple[str, ...]]:
    """The APERAK of the partner's EANCOM generation: EANCOM 2002 (D.01B, subset EAN003,
    BGM 305) for a message of a 2001 directory or later, else EANCOM 1997 (D.96A, EAN001,
    BGM 12E coded by EAN)."""
    year = version[1:3] if version[:1] == "D" else ""
    if year.isdigit() and int(year) < 90:
        return "D01B", "EAN003", ("305",)
    return "D96A", "EAN001", ("12E", "", "9")


def write_aperak(sink: BinaryIO, s: InterchangeSeen,
                 refused: list[tuple[MessageSeen, list[Refusal]]], settings: EdiSettings,
                 *, allocate: Allocate, at: datetime) -> None:
    """One APERAK interchange: a message per refused message, each naming it (RFF+ON its
    document number, RFF+ACW its message reference, DTM+171 when it was sent) and saying
    each reason (ERC code, FTX+AAO text)."""
    ic = s.interchange
    control = allocate(partner_key(EDIFACT, ic.sender), "interchange")
    _edifact_interchange(sink, ic, settings, control, at, "APERAK",
                         lambda w: _aperak(w, s, refused, control, at))


def _aperak(w: Any, s: InterchangeSeen, refused: list[tuple[MessageSeen, list[Refusal]]],
            control: int, at: datetime) -> None:
    ic = s.interchange
    sent = (ic.date + ic.time, "201") if len(ic.date) == 6 else (ic.date + ic.time, "203")
    for i, (m, reasons) in enumerate(refused, 1):
        version, association, document = _eancom(m.version)
        w.begin_message("APERAK", str(i), version, association=association)
        w.segment("BGM", document, f"{control}-{i}", "27")
        w.segment("DTM", ("137", at.strftime("%Y%m%d%H%M"), "203"))
        if m.number:
            _text_segment(w, "RFF", lambda t: [("ON", t)], m.number)
        w.segment("RFF", ("ACW", m.reference))
        w.segment("DTM", ("171", *sent))
        for r in reasons:
            w.segment("ERC", (r.code, "", "91"))
            _text_segment(w, "FTX", lambda t: ["AAO", "", "", tuple(_parts(t))], r.text)
        w.end_message()


def _parts(text: str) -> list[str]:
    """A text in the FTX's five parts of 70 characters, cut between words (a reader joins
    them with a space), ``...`` when it is longer still."""
    parts: list[str] = []
    rest = text.strip()
    while rest and len(parts) < FTX_PARTS:
        if len(rest) <= FTX_PART:
            parts.append(rest)
            rest = ""
            break
        cut = rest.rfind(" ", 1, FTX_PART + 1)
        if cut <= 0:
            cut = FTX_PART
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts[-1] = parts[-1][:FTX_PART - 3] + "..."
    return parts


def _text_segment(w: Any, tag: str, build: Callable[[str], list[Any]], text: str) -> None:
    """A segment with a text quoted from the file or a reason: a character the
    interchange's character set cannot carry is written in its plain form (é → e; UNOA:
    upper case), never refused: an acknowledgement must go out."""
    try:
        w.segment(tag, *build(text))
    except ValueError:
        w.segment(tag, *build(_plain(text, getattr(w, "syntax", ""))))


def _plain(text: str, syntax: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    ascii_text = re.sub(r"[\x00-\x1f\x7f]", " ", ascii_text)
    if syntax == "UNOA":
        ascii_text = re.sub(r"[^A-Z0-9 .,\-()/=!\"%&*;<>'+:?]", " ", ascii_text.upper())
    return ascii_text


# -- X12 997 -------------------------------------------------------------------------------

def write_997(sink: BinaryIO, s: InterchangeSeen, settings: EdiSettings, *, rejected: bool,
              allocate: Allocate, at: datetime) -> None:
    """One X12 interchange answering ``s``: a TA1 when its envelope is wrong or it is a
    duplicate, then per functional group a group FA holding its 997 (AK1, per set AK2,
    AK3/AK4 locating each error, AK5; AK9), in the group's own version (GS08)."""
    from ..formats.x12 import X12Writer

    ic = s.interchange
    partner = partner_key(X12, ic.sender)
    control = allocate(partner, "interchange")
    own, own_q = _own_id(ic, settings)
    w = X12Writer(sink, sender=own, recipient=ic.sender, control=control_text(X12, control),
                  sender_qualifier=own_q or "ZZ", recipient_qualifier=ic.sender_qualifier
                  or "ZZ", version=ic.syntax or "00401", date=at.strftime("%y%m%d"),
                  time=at.strftime("%H%M"), test=ic.test)
    envelope = next((p for p in s.problems if p.level == "interchange"), None)
    if s.duplicate_of is not None or envelope is not None:
        code = X12_DUPLICATE if s.duplicate_of is not None or envelope is None \
            else envelope.code
        result = X12_REJECTED if s.duplicate_of is not None or rejected else X12_ERRORS
        w.interchange_segment("TA1", _copy(w, ic.header.value(13)),  # before the first GS
                              _copy(w, ic.header.value(9)), _copy(w, ic.header.value(10)),
                              result, code)
    if s.duplicate_of is None:
        for g in s.groups:
            _group_997(w, g, rejected, allocate(partner, "group"))
    w.close()


def _group_997(w: Any, g: GroupSeen, rejected: bool, control: int) -> None:
    header = g.group.header
    w.begin_group("FA", str(control), _copy(w, g.group.version) or "004010",
                  sender=_copy(w, header.value(3)) or None,
                  recipient=_copy(w, header.value(2)) or None)
    w.begin_message("997", "0001")
    w.segment("AK1", _copy(w, g.group.id), _copy(w, g.group.control))
    accepted = 0
    for m in g.messages:
        w.segment("AK2", _copy(w, m.type), _copy(w, m.reference))
        problems = ([m.foreign] if m.foreign else []) + m.problems
        codes: list[str] = []
        for p in problems:
            if p.level == "message":
                codes.append(p.code)
            elif p.level in ("segment", "element"):
                codes.append(X12_SEGMENTS_IN_ERROR)
                if p.position:
                    _ak3(w, p, "8" if p.level == "element" else p.code)
                if p.level == "element":
                    w.segment("AK4", (str(p.element or ""), str(p.component or "")), "",
                              p.code, _copy(w, p.value, AK404_MAX))
        if problems or rejected:
            w.segment("AK5", X12_REJECTED, *_unique(codes)[:5])
        else:
            w.segment("AK5", X12_ACCEPTED)
            accepted += 1
    group_problems = [p for p in (g.end.problems if g.end else []) if p.level == "group"]
    received = len(g.messages)
    if rejected or (received and not accepted):
        result = X12_REJECTED
    elif accepted < received:
        result = X12_PARTIAL
    else:
        result = X12_ERRORS if group_problems else X12_ACCEPTED
    w.segment("AK9", result, str(_included(g)), str(received), str(accepted),
              *_unique([p.code for p in group_problems])[:5])
    w.end_message()
    w.end_group()


def _included(g: GroupSeen) -> int:
    """AK902: the sets the group's trailer (GE01) says it holds, else those received."""
    problems = g.end.problems if g.end is not None else []
    for p in problems:
        if p.segment == "GE" and p.element == 1 and p.value and p.value.isdigit():
            return int(p.value)
    return len(g.messages)


def _ak3(w: Any, p: EdiProblem, code: str) -> None:
    tag = p.segment or _tag_of(p.value or "", w.seps.element)
    w.segment("AK3", _copy(w, tag or ""), str(p.position), "", code)


def _tag_of(text: str, separator: str) -> str:
    """The id of a segment the reader could not keep, as an AK3 can carry it."""
    tag = re.sub(r"[^A-Z0-9]", "", text.split(separator, 1)[0].upper())[:3]
    return tag if len(tag) >= 2 else ""


def _copy(w: Any, value: str | None, most: int | None = None) -> str:
    """A value of the file quoted back, without the delimiters X12 cannot escape (the
    answer's delimiters need not be the sender's)."""
    if not value:
        return ""
    seps = w.seps
    bad = {c for c in (seps.component, seps.element, seps.segment, seps.repetition) if c}
    return "".join(c for c in value if c not in bad and c >= " ")[:most]


def _unique(codes: list[str]) -> list[str]:
    return list(dict.fromkeys(c for c in codes if c))
