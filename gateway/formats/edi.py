"""EDI in common: what the EDIFACT and X12 syntax readers give, what their writers take,
and a message as an element tree so that mappings read it with element paths.

The syntax readers (``edifact.py``, ``x12.py``) stream a file and yield, in file order,
``Message`` objects (one per UNH…UNT or ST…SE), a ``GroupEnd`` after each functional group
(UNG…UNE, GS…GE) and an ``InterchangeEnd`` after each interchange (UNB…UNZ, ISA…IEA).
Syntax problems inside an interchange never raise: they are kept, located, on the object
they belong to, so that the technical acknowledgement (CONTRL, 997) can say exactly what
was wrong and the other messages still go through. Only a file that is no interchange at
all raises ``DataError``.

A message read by a mapping is an element tree (``message_element``): one element per
segment, named by its tag, with attribute ``q`` = the first component of its first data
element (the qualifier: ``DTM+137`` → ``DTM[@q='137']``, ``N1*BY`` → ``N1[@q='BY']``);
each data element a child ``e1``, ``e2``… whose text is its first component and whose
children ``c1``, ``c2``… are its components; a repeated element is the same ``eN`` several
times. Segment groups nest as the mapping declares (``nest``): a trigger segment (``LIN``)
holds the segments that follow it while they belong to its group (``QTY``, ``PRI``,
``ALC``…), so that ``LIN`` is a repeated child and ``QTY[@q='21']/e1/c2`` a path inside it.
Every element's ``sourceline`` is its segment's line in the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from lxml import etree

from ..errors import Problem

# one data element: its repetitions, each a tuple of components (a simple element is one
# repetition of one component)
Element = tuple[tuple[str, ...], ...]
# what a writer takes for one data element: a text, a tuple of components, or a list of
# repetitions (each a text or a tuple of components); trailing empties are left out
Value = str | tuple[str, ...] | list[str | tuple[str, ...]]

EDIFACT, X12 = "edifact", "x12"


@dataclass(frozen=True, slots=True)
class Separators:
    """The delimiters of one interchange (EDIFACT UNA or defaults; X12 from the ISA)."""

    component: str         # EDIFACT ':'   X12 ISA16, e.g. '>' or ':'
    element: str           # EDIFACT '+'   X12 ISA byte 4, e.g. '*'
    segment: str           # EDIFACT "'"   X12 the byte after ISA16, e.g. '~' or '\n'
    release: str | None    # EDIFACT '?'   X12: none
    repetition: str | None  # EDIFACT '*' (syntax 4), X12 ISA11 from 00402 ('^'), or none
    decimal: str = "."     # EDIFACT UNA decimal mark


@dataclass(frozen=True, slots=True)
class Tolerance:
    """How strictly a syntax reader checks an interchange, per channel
    (``[channels.X.edi] tolerance``): partners whose translator miscounts are common, and
    refusing all their messages for a wrong trailer count helps nobody. A check turned off
    is not reported at all."""

    counts: bool = True       # UNT/SE segment counts, UNE/GE and UNZ/IEA counts
    references: bool = True   # trailer control references equal to their header's


@dataclass(frozen=True, slots=True)
class Segment:
    tag: str
    elements: tuple[Element, ...]
    line: int              # the file line the segment starts on (1-based)
    position: int = 0      # its place in its message, UNH/ST = 1; 0 outside a message

    def value(self, element: int, component: int = 1, repetition: int = 1) -> str:
        """The text at a 1-based place, ``""`` when the segment does not have it."""
        try:
            return self.elements[element - 1][repetition - 1][component - 1]
        except IndexError:
            return ""


@dataclass(frozen=True, slots=True)
class EdiProblem:
    """A syntax problem, located as the acknowledgements need it.

    ``code`` is the standard's own: EDIFACT syntax error code (data element 0085, e.g.
    ``"29"`` control count does not match) or X12 (AK304 / AK403 / AK502 / AK905 code,
    per ``level``). ``level``: interchange, group, message, segment or element."""

    message: str
    level: str
    code: str
    line: int | None = None
    segment: str | None = None      # tag
    position: int | None = None     # segment position in its message
    element: int | None = None      # 1-based
    component: int | None = None    # 1-based
    value: str | None = None

    def problem(self, file: str | None = None) -> Problem:
        field_ = None
        if self.segment:
            field_ = self.segment
            if self.element:
                field_ += f"{self.element:02d}"
                if self.component:
                    field_ += f"-{self.component}"
        return Problem(self.message, line=self.line, field=field_, value=self.value,
                       file=file)


@dataclass(slots=True)
class Interchange:
    standard: str          # EDIFACT or X12
    sender: str
    sender_qualifier: str
    recipient: str
    recipient_qualifier: str
    control: str           # UNB 0020 / ISA13
    syntax: str            # EDIFACT syntax identifier (UNOC) / X12 ISA12 version (00401)
    syntax_version: str    # EDIFACT 0002 ("3", "4") / X12 same as syntax
    date: str
    time: str
    test: bool
    separators: Separators
    header: Segment        # UNB or ISA as read
    encoding: str = "latin-1"  # the character set the texts were decoded with


@dataclass(slots=True)
class Group:
    id: str                # UNG 0038 / GS01 (e.g. "PO")
    control: str           # UNG 0048 / GS06
    version: str           # UNG S008 / GS08 (e.g. "004010")
    sender: str
    recipient: str
    header: Segment


@dataclass(slots=True)
class Message:
    interchange: Interchange
    group: Group | None
    type: str              # ORDERS, 850
    version: str           # EDIFACT "D96A" (0052 + 0054) / X12 GS08 or ST03
    reference: str         # UNH 0062 / ST02
    segments: tuple[Segment, ...]  # UNH…UNT / ST…SE inclusive, positions from 1
    association: str = ""  # EDIFACT 0057 (EAN008)
    index: int = 0         # 1-based, in its group (X12) or interchange (EDIFACT)
    problems: list[EdiProblem] = field(default_factory=list)

    @property
    def line(self) -> int:
        return self.segments[0].line if self.segments else self.interchange.header.line

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(slots=True)
class GroupEnd:
    group: Group
    messages: int          # messages seen in the group
    problems: list[EdiProblem] = field(default_factory=list)
    complete: bool = True  # its trailer was there


@dataclass(slots=True)
class InterchangeEnd:
    interchange: Interchange
    messages: int          # messages seen (EDIFACT: UNZ counts messages or groups)
    groups: int
    problems: list[EdiProblem] = field(default_factory=list)
    complete: bool = True  # its trailer was there

    @property
    def ok(self) -> bool:
        return not self.problems


Event = Message | GroupEnd | InterchangeEnd


class EnvelopeWriter(Protocol):
    """Writes one interchange: the syntax writers (``edifact.py``, ``x12.py``) implement it.

    Counts (UNT/SE segments, UNE/GE messages, UNZ/IEA messages or groups) and the
    trailers' control references are the writer's; the control numbers themselves are
    the caller's (kept per partner in the ledger)."""

    def begin_group(self, id: str, control: str, version: str, **kw: str) -> None: ...
    def begin_message(self, type: str, reference: str, version: str, **kw: str) -> None: ...
    def segment(self, tag: str, *elements: Value) -> None: ...
    def end_message(self) -> int: ...   # the trailer written; the message's segment count
    def end_group(self) -> None: ...
    def close(self) -> None: ...        # the interchange trailer written


# ---- a message as an element tree ---------------------------------------------------

def _element(tag: str, seg: Segment) -> Any:
    el = etree.Element(tag)
    el.sourceline = seg.line
    q = seg.value(1)
    if q:
        el.set("q", q)
    for i, reps in enumerate(seg.elements, 1):
        name = f"e{i}"
        for rep in reps:
            if not any(rep):
                continue
            e = etree.SubElement(el, name)
            e.sourceline = seg.line
            e.text = rep[0]
            for j, comp in enumerate(rep, 1):
                if comp:
                    c = etree.SubElement(e, f"c{j}")
                    c.text = comp
                    c.sourceline = seg.line
    return el


def message_element(msg: Message, nest: Mapping[str, Iterable[str]] | None = None) -> Any:
    """The message as an element tree (see the module's docstring); ``nest`` maps a
    group's trigger tag to the tags of the segments its group holds."""
    members = {k: frozenset(v) for k, v in (nest or {}).items()}
    root = etree.Element("message")
    root.sourceline = msg.line
    root.set("type", msg.type)
    root.set("version", msg.version)
    root.set("reference", msg.reference)
    root.set("sender", msg.interchange.sender)
    root.set("recipient", msg.interchange.recipient)
    root.set("control", msg.interchange.control)
    stack: list[tuple[Any, frozenset[str] | None]] = [(root, None)]  # (element, members)
    for seg in msg.segments:
        tag = seg.tag
        # leave the groups this segment does not belong to; a trigger seen again inside
        # its own group starts a sibling group
        while len(stack) > 1:
            el, held = stack[-1]
            if held is not None and tag in held and tag != el.tag:
                break
            stack.pop()
        el = _element(tag, seg)
        stack[-1][0].append(el)
        if tag in members:
            stack.append((el, members[tag]))
    return root


def segment_values(elements: Sequence[Value]) -> tuple[Element, ...]:
    """Writer values as elements: trailing empty components and elements left out."""
    out: list[Element] = []
    for v in elements:
        reps = v if isinstance(v, list) else [v]
        norm: list[tuple[str, ...]] = []
        for r in reps:
            comps = (r,) if isinstance(r, str) else tuple(r)
            while comps and comps[-1] == "":
                comps = comps[:-1]
            norm.append(comps or ("",))
        out.append(tuple(norm))
    while out and all(r == ("",) for r in out[-1]):
        out.pop()
    return tuple(out)
