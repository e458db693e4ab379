"""EDI in common: what the EDIFACT and X12 syntax readers give, what their writers take,
and a message as an element tree so that mappings read it with element paths.

The syntax readers (``edifact.py``, ``x12.py``) stream a file and yield, in file order,
``Message`` objects (one per UNH…UNT or ST…SE), a ``GroupEnd`` after each functional group
(UNG…UNE, GS…GE) and an ``InterchangeEnd`` after each interchange (UNB…UNZ, ISA…IEA).
Syntax problems inside an interchange never raise: they are kept, located, on the object
they belong to, so that the technical acknowledgement (CONTRL, 997) can say exactly what
was wrong and the other messages still go through. Only a file that is no interchange at
all raises ``DataError``.

A message read by a mapping is a tree (``message_tree``) read with element paths
(``compile_path``): a segment is named by its tag, its qualifier ``q`` being the first
component of its first data element (``DTM+137`` → ``DTM[@q='137']``, ``N1*BY`` →
``N1[@q='BY']``); its data elements are ``e1``, ``e2``…, whose text is their first
component, and their components ``c1``, ``c2``…; a repeated element is the same ``eN``
several times. Segment groups nest as the mapping declares (``nest``): a trigger segment
(``LIN``) holds the segments that follow it while they belong to its group (``QTY``,
``PRI``, ``ALC``…), so that ``LIN`` is a repeated child and ``QTY[@q='21']/e1/c2`` a path
inside it. What a path finds comes with its segment's line in the file. The paths are
those of XML mappings, evaluated directly on the segments: no XML tree is built.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

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


# the tolerance of the channel whose file is being read (set per file by the pipeline)
TOLERANCE: ContextVar[Tolerance] = ContextVar("edi_tolerance", default=Tolerance())


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


# ---- a message as a tree that mappings read with element paths -----------------------

class Node:
    """A segment of a message's tree, with the segments its group holds (``nest``) as
    children indexed by tag; the root stands for the message."""

    __slots__ = ("seg", "parent", "children", "attrs")

    def __init__(self, seg: Segment | None, parent: Node | None) -> None:
        self.seg, self.parent = seg, parent
        self.children: dict[str, list[Node]] = {}
        self.attrs: dict[str, str] | None = None


def message_tree(msg: Message, nest: Mapping[str, Iterable[str]] | None = None) -> Node:
    """The message as a tree (see the module's docstring); ``nest`` maps a group's
    trigger tag to the tags of the segments its group holds."""
    members = {k: frozenset(v) for k, v in (nest or {}).items()}
    root = Node(None, None)
    root.attrs = {"type": msg.type, "version": msg.version, "reference": msg.reference,
                  "sender": msg.interchange.sender, "recipient": msg.interchange.recipient,
                  "control": msg.interchange.control}
    stack: list[tuple[Node, frozenset[str] | None]] = [(root, None)]
    for seg in msg.segments:
        tag = seg.tag
        # leave the groups this segment does not belong to; a trigger seen again inside
        # its own group starts a sibling group
        while len(stack) > 1:
            node, held = stack[-1]
            if held is not None and tag in held and tag != node.seg.tag:  # type: ignore[union-attr]
                break
            stack.pop()
        parent = stack[-1][0]
        node = Node(seg, parent)
        siblings = parent.children.get(tag)
        if siblings is None:
            parent.children[tag] = [node]
        else:
            siblings.append(node)
        if tag in members:
            stack.append((node, members[tag]))
    return root


# a place a path reached: (node, the element's repetition or None, the text)
Place = tuple[Node, tuple[str, ...] | None, str | None]
Finder = Callable[[Node], "tuple[Any, int | None]"]

_STEP = re.compile(
    r"(?P<seg>[A-Z][A-Z0-9]{1,2})(?:\[@q=(?P<q>'[^']*'|\"[^\"]*\")\])?\Z"
    r"|e(?P<e>[1-9]\d*)(?:\[c(?P<ck>[1-9]\d*)=(?P<cv>'[^']*'|\"[^\"]*\")\])?\Z"
    r"|c(?P<c>[1-9]\d*)\Z|(?P<up>\.\.)\Z|(?P<dot>\.)\Z|@(?P<attr>[A-Za-z_][\w.-]*)\Z")


def _steps(path: str) -> list[str]:
    """``NAD[@q='A/B']/e1`` → ``["NAD[@q='A/B']", "e1"]`` (a ``/`` in quotes stays)."""
    steps, quote, current = [], "", ""
    for ch in path:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "/":
            steps.append(current)
            current = ""
            continue
        current += ch
    steps.append(current)
    return steps


def compile_segments(path: str) -> Callable[[Node], list[Node]]:
    """A path to segments (a group's items: ``LIN``, ``SAC[@q='A']``) → the nodes it
    finds, in file order."""
    places = _places(path)
    return lambda node: [p[0] for p in places(node) if p[1] is None and p[2] is None]


def compile_path(path: str, every: bool = False) -> Finder:
    """A path over a message tree → a function giving its first text (with ``every``,
    the tuple of all) and the line of the segment it was found in; ``(None, None)`` when
    nothing is there. Steps: a segment tag, with ``[@q='X']`` its qualifier; ``eN`` a
    data element, with ``[cK='V']`` a component's value; ``cN`` a component; ``..`` up;
    ``@attr`` last (the message's ``@sender``…, a segment's ``@q``). ``ValueError`` for
    anything else, so that a mapping is checked when it is loaded."""
    places = _places(path)

    def line_of(place: Place) -> int | None:
        node = place[0]
        return node.seg.line if node.seg is not None else None

    if every:
        def find_all(node: Node) -> tuple[Any, int | None]:
            found = list(places(node))
            if not found:
                return None, None
            return tuple(_text(p) for p in found), line_of(found[0])
        return find_all

    def find(node: Node) -> tuple[Any, int | None]:
        for p in places(node):
            return _text(p), line_of(p)
        return None, None
    return find


def _places(path: str) -> Callable[[Node], Iterator[Place]]:
    moves: list[Callable[[Place], Iterator[Place]]] = []
    steps = _steps(path)
    for i, step in enumerate(steps):
        m = _STEP.match(step)
        if m is None:
            raise ValueError(f"{path!r} is not a valid element path: step {step!r} is "
                             "not a segment tag (NAD, "
                             "NAD[@q='BY']), a data element (e2, e2[c1='VP']), a component "
                             "(c2), .. or a last @attribute")
        if m["attr"] is not None and i != len(steps) - 1:
            raise ValueError(f"{path!r}: an attribute can only be the last step")
        moves.append(_move(m))

    def places(node: Node) -> Iterator[Place]:
        todo: Iterable[Place] = ((node, None, None),)
        for move in moves:
            todo = [q for p in todo for q in move(p)]
        return iter(todo)
    return places


def _text(place: Place) -> str:
    node, rep, text = place
    if text is not None:
        return text
    return rep[0] if rep is not None else ""


def _move(m: re.Match[str]) -> Callable[[Place], Iterator[Place]]:
    if m["seg"] is not None:
        tag, q = m["seg"], m["q"][1:-1] if m["q"] is not None else None

        def segments(p: Place) -> Iterator[Place]:
            node, rep, text = p
            if rep is not None or text is not None:
                return
            for child in node.children.get(tag, ()):
                if q is None or child.seg.value(1) == q:  # type: ignore[union-attr]
                    yield child, None, None
        return segments
    if m["e"] is not None:
        n = int(m["e"])
        ck = int(m["ck"]) if m["ck"] is not None else None
        cv = m["cv"][1:-1] if m["cv"] is not None else None

        def element(p: Place) -> Iterator[Place]:
            node, rep, text = p
            seg = node.seg
            if seg is None or rep is not None or text is not None or n > len(seg.elements):
                return
            for r in seg.elements[n - 1]:
                if any(r) and (ck is None or (ck <= len(r) and r[ck - 1] == cv)):
                    yield node, r, None
        return element
    if m["c"] is not None:
        c = int(m["c"])

        def component(p: Place) -> Iterator[Place]:
            node, rep, text = p
            if rep is not None and text is None and c <= len(rep) and rep[c - 1]:
                yield node, rep, rep[c - 1]
        return component
    if m["up"] is not None:
        def up(p: Place) -> Iterator[Place]:
            node, rep, text = p
            if text is not None:
                yield node, rep, None
            elif rep is not None:
                yield node, None, None
            elif node.parent is not None:
                yield node.parent, None, None
        return up
    if m["dot"] is not None:
        return lambda p: iter((p,))
    name = m["attr"]

    def attribute(p: Place) -> Iterator[Place]:
        node, rep, text = p
        if rep is not None or text is not None:
            return
        if node.attrs is not None:
            value = node.attrs.get(name)
        elif name == "q" and node.seg is not None:
            value = node.seg.value(1) or None
        else:
            value = None
        if value is not None:
            yield node, None, value
    return attribute


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
