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
those of XML mappings, evaluated directly on the segments: no XML tree is built. A
mapping reader whose paths all have the common shapes writes them out as Python over a
flat index of the message instead (``message_index``, ``flat_code``): what that code
finds is what the path functions find on the tree (tests/formats/test_edi_paths.py).
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
    children indexed by tag; the root (``attrs``: the message's) stands for the
    message. A child index also keeps, under ``(tag, q)``, the children of that tag with
    that qualifier, once a path has asked for them."""

    __slots__ = ("seg", "parent", "children")
    attrs: dict[str, str] | None = None

    def __init__(self, seg: Segment | None, parent: Node | None,
                 children: dict[Any, list[Node]] | None = None) -> None:
        self.seg, self.parent = seg, parent
        # a segment that holds no group shares one empty index: it never gets children
        self.children: dict[Any, list[Node]] = _LEAF if children is None else children


class _Root(Node):
    __slots__ = ("attrs",)


_LEAF: dict[Any, list[Node]] = {}
_new_node = object.__new__


class Nest:
    """A mapping's ``nest`` ready for ``message_tree``: each group's trigger tag and the
    tags of the segments its group holds."""

    __slots__ = ("members", "stays")

    def __init__(self, nest: Mapping[str, Iterable[str]] | None) -> None:
        self.members = {k: frozenset(v) for k, v in (nest or {}).items()}
        # what stays in a trigger's group: its members, but the trigger (seen again, it
        # starts a sibling group)
        self.stays = {k: v - {k} for k, v in self.members.items()}


def message_tree(msg: Message, nest: Mapping[str, Iterable[str]] | Nest | None = None
                 ) -> Node:
    """The message as a tree (see the module's docstring); ``nest`` maps a group's
    trigger tag to the tags of the segments its group holds."""
    members = (nest if isinstance(nest, Nest) else Nest(nest)).members
    root = _Root(None, None, {})
    ic = msg.interchange
    root.attrs = {"type": msg.type, "version": msg.version, "reference": msg.reference,
                  "sender": ic.sender, "recipient": ic.recipient, "control": ic.control}
    # the open groups: (node, the tags it holds, its trigger tag), innermost last
    stack: list[tuple[Node, frozenset[str], str]] = []
    parent: Node = root
    index = root.children
    held: frozenset[str] | None = None
    trigger = ""
    leaf = _LEAF
    for seg in msg.segments:
        tag = seg.tag
        # leave the groups this segment does not belong to; a trigger seen again inside
        # its own group starts a sibling group
        while held is not None and (tag not in held or tag == trigger):
            stack.pop()
            if stack:
                parent, held, trigger = stack[-1]
            else:
                parent, held, trigger = root, None, ""
            index = parent.children
        node = _new_node(Node)
        node.seg = seg
        node.parent = parent
        siblings = index.get(tag)
        if siblings is None:
            index[tag] = [node]
        else:
            siblings.append(node)
        group = members.get(tag)
        if group is None:
            node.children = leaf
        else:
            node.children = index = {}
            stack.append((node, group, tag))
            parent, held, trigger = node, group, tag
    return root


# ---- the same tree, flat, for the paths a mapping reader writes out inline ---------------
#
# A mapping whose paths are all of the common shapes (segment steps, then an element, a
# component, an element guard ``eN[...]/..``, or a last ``@attr``) has them written out
# as Python (``flat_code``) over a lighter tree (``message_index``): a group's index maps
# a tag to its segments, or, for a trigger tag of ``nest``, to ``(segment, index)`` pairs
# of the groups it starts. A node is ``(segment, index)``; the root ``(None, index,
# message)``. What the code finds is what ``compile_first`` finds on ``message_tree``.

FlatNode = tuple[Any, ...]
_EMPTY: dict[str, list[Any]] = {}


def message_index(msg: Message, nest: Nest) -> dict[str, list[Any]]:
    """The index of a message's root: ``message_tree``'s, flat."""
    stays = nest.stays
    root: dict[str, list[Any]] = {}
    # the open groups, innermost last: (index, the tags that stay in the group)
    stack: list[tuple[dict[str, list[Any]], frozenset[str]]] = []
    index = root
    stay: frozenset[str] | None = None
    for seg in msg.segments:
        tag = seg.tag
        if stay is not None and tag not in stay:  # leave the groups it is no part of
            while True:
                stack.pop()
                if not stack:
                    index, stay = root, None
                    break
                index, stay = stack[-1]
                if tag in stay:
                    break
        group = stays.get(tag)
        if group is None:
            siblings = index.get(tag)
            if siblings is None:
                index[tag] = [seg]
            else:
                siblings.append(seg)
        else:
            sub: dict[str, list[Any]] = {}
            siblings = index.get(tag)
            if siblings is None:
                index[tag] = [(seg, sub)]
            else:
                siblings.append((seg, sub))
            stack.append((sub, group))
            index, stay = sub, group
    return root


def message_attr(msg: Message, name: str) -> str | None:
    """A message's ``@attr`` (the root's attributes of ``message_tree``)."""
    ic = msg.interchange
    return {"type": msg.type, "version": msg.version, "reference": msg.reference,
            "sender": ic.sender, "recipient": ic.recipient, "control": ic.control
            }.get(name)


# the same, as the expressions written out for a message named ``msg``
_MESSAGE_ATTRS = {"type": "msg.type", "version": "msg.version",
                  "reference": "msg.reference", "sender": "msg.interchange.sender",
                  "recipient": "msg.interchange.recipient",
                  "control": "msg.interchange.control"}


def qualifier(seg: Segment) -> str:
    """``seg.value(1)``, a segment's qualifier."""
    els = seg.elements
    return els[0][0][0] if els and els[0] and els[0][0] else ""


def _flat_steps(path: str) -> tuple[list[tuple[str, str | None]], list[Any]] | None:
    """A path of an inlinable shape as its segment steps and what it reads at the last
    one: ``[("attr", name)]`` or guards ``("guard", n, ck, cv)`` then ``("leaf", n, ck,
    cv, c)``; None for another shape."""
    segs: list[tuple[str, str | None]] = []
    tail: list[Any] = []
    element: tuple[int, int | None, str | None] | None = None
    component: int | None = None
    for m in _matches(path):
        if m["dot"] is not None:
            continue
        if element is None and not tail:
            if m["seg"] is not None:
                segs.append((m["seg"], _quoted(m["q"])))
                continue
            if m["attr"] is not None:
                return segs, [("attr", m["attr"])]
        if element is None and m["e"] is not None:
            element = (int(m["e"]), int(m["ck"]) if m["ck"] is not None else None,
                       _quoted(m["cv"]))
        elif element is not None and component is None and m["c"] is not None:
            component = int(m["c"])
        elif element is not None and component is None and m["up"] is not None:
            tail.append(("guard", *element))  # an element that must be there, then up
            element = None
        else:
            return None
    if element is None:
        return None
    return segs, [*tail, ("leaf", *element, component)]


def flat_inlinable(path: str) -> bool:
    return _flat_steps(path) is not None


def flat_code(path: str, node: str, root: bool, triggers: frozenset[str],
              prefix: Callable[[str, str], str]) -> list[str]:
    """Python lines setting ``raw`` (None beforehand) to the first text a path finds
    from the flat node named ``node`` (left None: nothing) and ``at`` to the line of its
    segment, for a path ``flat_inlinable`` says is. The lines use ``seg0`` and ``index0``,
    the node's segment and index, and ``msg``, the message when the node is its root
    (``root``). ``prefix(tag, q)`` names the list of the node's children of a tag with a
    qualifier, for the caller to pick once (``flat_prefixes``)."""
    got = _flat_steps(path)
    assert got is not None, path
    segs, tail = got
    lines: list[str] = []
    depth = 0
    seg = "seg0"
    indent = ""
    for tag, q in segs:
        if depth and segs[depth - 1][0] not in triggers:
            return []  # below a segment that holds no group: nothing
        entries = prefix(tag, q) if depth == 0 and q is not None else (
            f"index{depth}.get({tag!r}, ())")
        depth += 1
        if tag in triggers:
            lines += [f"{indent}for seg{depth}, index{depth} in {entries}:"]
        else:
            lines += [f"{indent}for seg{depth} in {entries}:"]
        indent += "    "
        if q is not None and depth > 1:
            lines.append(f"{indent}if {_qualifier_code(f'seg{depth}')} != {q!r}:")
            lines.append(f"{indent}    continue")
        seg = f"seg{depth}"
    kind = tail[0][0]
    if kind == "attr":
        name = tail[0][1]
        if depth == 0 and root:
            if name in _MESSAGE_ATTRS:
                lines.append(f"raw = {_MESSAGE_ATTRS[name]}")
        elif name == "q":
            at = ""
            if depth == 0:
                lines.append(f"if {seg} is not None:")
                at = "    "
            lines += [f"{indent}{at}raw = {_qualifier_code(seg)} or None",
                      f"{indent}{at}at = {seg}.line"]
    else:
        if depth == 0:
            lines.append(f"if {seg} is not None:")
            indent = "    "
        lines.append(f"{indent}els = {seg}.elements")
        for step in tail:
            n, ck, cv = step[1:4]
            test = "any(r)"
            if ck is not None:
                test += f" and len(r) >= {ck} and r[{ck - 1}] == {cv!r}"
            if step[0] == "guard":
                lines += [f"{indent}found = False",
                          f"{indent}if len(els) >= {n}:",
                          f"{indent}    for r in els[{n - 1}]:",
                          f"{indent}        if {test}:",
                          f"{indent}            found = True",
                          f"{indent}            break",
                          f"{indent}if found:"]
                indent += "    "
                continue
            c = step[4]
            text = "r[0]"
            if c is not None:  # a component's text: its repetition is not empty
                test = f"len(r) >= {c} and r[{c - 1}]" + test[len("any(r)"):]
                text = f"r[{c - 1}]"
            lines += [f"{indent}if len(els) >= {n}:",
                      f"{indent}    for r in els[{n - 1}]:",
                      f"{indent}        if {test}:",
                      f"{indent}            raw = {text}",
                      f"{indent}            at = {seg}.line",
                      f"{indent}            break"]
    for d in range(depth, 0, -1):  # the first found ends every loop
        lines += ["    " * d + "if raw is not None:", "    " * d + "    break"]
    return lines


def _qualifier_code(seg: str) -> str:
    """``qualifier(seg)`` written out."""
    return (f"({seg}.elements[0][0][0] if {seg}.elements and {seg}.elements[0] and "
            f"{seg}.elements[0][0] else '')")


def flat_prefixes(prefixes: dict[tuple[str, str], str], triggers: frozenset[str]
                  ) -> list[str]:
    """Lines picking the lists ``flat_code`` named from the node's index ``index0``: one
    pass over a tag's children sorts them by the qualifiers asked for."""
    lines: list[str] = []
    by_tag: dict[str, list[tuple[str, str]]] = {}
    for (tag, q), name in prefixes.items():
        by_tag.setdefault(tag, []).append((q, name))
        lines.append(f"{name} = []")
    for tag, wanted in by_tag.items():
        entry = "e[0]" if tag in triggers else "e"
        lines += [f"for e in index0.get({tag!r}, ()):",
                  f"    els = {entry}.elements",
                  "    q = els[0][0][0] if els and els[0] and els[0][0] else ''"]
        for i, (q, name) in enumerate(wanted):
            lines += [f"    {'if' if i == 0 else 'elif'} q == {q!r}:",
                      f"        {name}.append(e)"]
    return lines


def flat_segments(path: str, triggers: frozenset[str]
                  ) -> Callable[[FlatNode], list[FlatNode]] | None:
    """``compile_segments`` over flat nodes: the nodes ``(segment, index)`` of a path of
    segment steps; None for another path."""
    matches = [m for m in _matches(path) if m["dot"] is None]
    if not all(m["seg"] is not None for m in matches):
        return None
    walk = [(m["seg"], _quoted(m["q"]), m["seg"] in triggers) for m in matches]

    def nodes(node: FlatNode) -> list[FlatNode]:
        found = [node]
        for tag, q, trig in walk:
            step: list[FlatNode] = []
            for n in found:
                for e in n[1].get(tag, ()):
                    seg = e[0] if trig else e
                    if q is None or qualifier(seg) == q:
                        step.append(e if trig else (e, _EMPTY))
            found = step
        return found
    return nodes


# a place a path reached: (node, the element's repetition or None, the text)
Place = tuple[Node, tuple[str, ...] | None, str | None]
Finder = Callable[[Node], "tuple[Any, int | None]"]
# a path's first text and its segment's line, None when the path finds nothing
First = Callable[[Node], "tuple[str, int | None] | None"]

_STEP = re.compile(
    r"(?P<seg>[A-Z][A-Z0-9]{1,2})(?:\[@q=(?P<q>'[^']*'|\"[^\"]*\")\])?\Z"
    r"|e(?P<e>[1-9]\d*)(?:\[c(?P<ck>[1-9]\d*)=(?P<cv>'[^']*'|\"[^\"]*\")\])?\Z"
    r"|c(?P<c>[1-9]\d*)\Z|(?P<up>\.\.)\Z|(?P<dot>\.)\Z|@(?P<attr>[A-Za-z_][\w.-]*)\Z")


def path_steps(path: str) -> list[str]:
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


def _matches(path: str) -> list[re.Match[str]]:
    """A path's steps, checked (``ValueError`` naming what is wrong)."""
    found = []
    steps = path_steps(path)
    for i, step in enumerate(steps):
        m = _STEP.match(step)
        if m is None:
            raise ValueError(f"{path!r} is not a valid element path: step {step!r} is "
                             "not a segment tag (NAD, "
                             "NAD[@q='BY']), a data element (e2, e2[c1='VP']), a component "
                             "(c2), .. or a last @attribute")
        if m["attr"] is not None and i != len(steps) - 1:
            raise ValueError(f"{path!r}: an attribute can only be the last step")
        found.append(m)
    return found


def compile_segments(path: str) -> Callable[[Node], list[Node]]:
    """A path to segments (a group's items: ``LIN``, ``SAC[@q='A']``) → the nodes it
    finds, in file order."""
    matches = _matches(path)
    if all(m["seg"] is not None for m in matches):  # segment steps only: walked directly
        walk = [(m["seg"], _quoted(m["q"])) for m in matches]

        def nodes(node: Node) -> list[Node]:
            found = [node]
            for tag, q in walk:
                found = [k for n in found for k in _children(n, tag, q)]
            return found
        return nodes
    places = _places(path)
    return lambda node: [p[0] for p in places(node) if p[1] is None and p[2] is None]


def compile_path(path: str, every: bool = False) -> Finder:
    """A path over a message tree → a function giving its first text (with ``every``,
    the tuple of all) and the line of the segment it was found in; ``(None, None)`` when
    nothing is there. Steps: a segment tag, with ``[@q='X']`` its qualifier; ``eN`` a
    data element, with ``[cK='V']`` a component's value; ``cN`` a component; ``..`` up;
    ``@attr`` last (the message's ``@sender``…, a segment's ``@q``). ``ValueError`` for
    anything else, so that a mapping is checked when it is loaded."""
    if every:
        places = _places(path)

        def find_all(node: Node) -> tuple[Any, int | None]:
            found = list(places(node))
            if not found:
                return None, None
            first = found[0][0]
            return (tuple(_text(p) for p in found),
                    first.seg.line if first.seg is not None else None)
        return find_all
    first = compile_first(path)

    def find(node: Node) -> tuple[Any, int | None]:
        got = first(node)
        return (None, None) if got is None else got
    return find


def compile_first(path: str) -> First:
    """``compile_path`` without ``every``, as the mapping reader calls it: the first text
    and its line, or None. Evaluated depth first (the first of the places the path
    reaches, in file order, is the first found), each step specialised: no place is
    built for what is not kept."""
    steps: list[tuple[Any, ...]] = []
    for m in _matches(path):
        if m["seg"] is not None:
            steps.append(("seg", m["seg"], _quoted(m["q"])))
        elif m["e"] is not None:
            steps.append(("el", int(m["e"]), int(m["ck"]) if m["ck"] is not None else None,
                          _quoted(m["cv"])))
        elif m["c"] is not None:
            steps.append(("comp", int(m["c"])))
        elif m["up"] is not None:
            steps.append(("up",))
        elif m["attr"] is not None:
            steps.append(("attr", m["attr"]))
        # "." changes nothing
    return _chain(steps, _NODE)  # type: ignore[no-any-return]


def _quoted(text: str | None) -> str | None:
    return text[1:-1] if text is not None else None


def _children(node: Node, tag: str, q: str | None) -> list[Node]:
    """The children of a tag, those with qualifier ``q`` (picked once per node)."""
    index = node.children
    if q is None:
        return index.get(tag) or []
    got = index.get((tag, q))
    if got is None:
        kids = index.get(tag)
        if not kids:
            return []
        got = index[tag, q] = [k for k in kids
                               if k.seg.value(1) == q]  # type: ignore[union-attr]
    return got


# where a path is between steps: at a node, at an element's repetition, at a text
_NODE, _REP, _TEXT = 0, 1, 2


def _line(node: Node) -> int | None:
    return node.seg.line if node.seg is not None else None


def _never(level: int) -> Any:
    """A step that cannot follow where the path is: it finds nothing."""
    if level == _NODE:
        return lambda node: None
    if level == _REP:
        return lambda node, rep: None
    return lambda node, rep, text: None


def _chain(steps: list[tuple[Any, ...]], level: int) -> Any:
    """The function reading ``steps`` from a place at ``level``: (node), (node, rep) or
    (node, rep, text) → (text, line) of the first place reached, or None."""
    if not steps:
        if level == _NODE:
            return lambda node: ("", _line(node))
        if level == _REP:
            return lambda node, rep: (rep[0], _line(node))
        return lambda node, rep, text: (text, _line(node))
    kind, rest = steps[0][0], steps[1:]
    if kind == "seg":
        if level != _NODE:
            return _never(level)
        return _segment_step(steps[0][1], steps[0][2], rest)
    if kind == "el":
        if level != _NODE:
            return _never(level)
        _, n, ck, cv = steps[0]
        if len(rest) == 1 and rest[0][0] == "comp":
            return _leaf(_element_component(n, ck, cv, rest[0][1]))
        if not rest:
            return _leaf(_element(n, ck, cv))
        then = _chain(rest, _REP)

        def element(node: Node) -> Any:
            seg = node.seg
            if seg is None or n > len(seg.elements):
                return None
            for r in seg.elements[n - 1]:
                if any(r) and (ck is None or (ck <= len(r) and r[ck - 1] == cv)):
                    got = then(node, r)
                    if got is not None:
                        return got
            return None
        return element
    if kind == "comp":
        if level != _REP:
            return _never(level)
        c = steps[0][1]
        then = _chain(rest, _TEXT)

        def component(node: Node, rep: tuple[str, ...]) -> Any:
            if c <= len(rep) and rep[c - 1]:
                return then(node, rep, rep[c - 1])
            return None
        return component
    if kind == "up":
        if level == _TEXT:
            up_rep = _chain(rest, _REP)
            return lambda node, rep, text: up_rep(node, rep)
        up_node = _chain(rest, _NODE)
        if level == _REP:
            return lambda node, rep: up_node(node)
        return lambda node: up_node(node.parent) if node.parent is not None else None
    # an attribute: the last step
    if level != _NODE:
        return _never(level)
    name = steps[0][1]

    def attribute(node: Node) -> Any:
        value = attribute_of(node, name)
        return None if value is None else (value, _line(node))
    return attribute


# a segment's own text at an element (and component), as its path's last steps have it
Leaf = Callable[[Segment], "tuple[str, int] | None"]


def _element_component(n: int, ck: int | None, cv: str | None, c: int) -> Leaf:
    def read(seg: Segment) -> tuple[str, int] | None:
        els = seg.elements
        if n <= len(els):
            for r in els[n - 1]:
                # a component's text: its repetition is not empty (any(r))
                if c <= len(r) and r[c - 1] and (ck is None or (ck <= len(r)
                                                                 and r[ck - 1] == cv)):
                    return r[c - 1], seg.line
        return None
    return read


def _element(n: int, ck: int | None, cv: str | None) -> Leaf:
    def read(seg: Segment) -> tuple[str, int] | None:
        els = seg.elements
        if n <= len(els):
            for r in els[n - 1]:
                if any(r) and (ck is None or (ck <= len(r) and r[ck - 1] == cv)):
                    return r[0], seg.line
        return None
    return read


def _leaf(read: Leaf) -> Any:
    """The last steps of a path, read in one segment (``e3/c2``): a function of the node
    that keeps the function of the segment, for a segment step before it to call."""
    def at(node: Node) -> Any:
        seg = node.seg
        return None if seg is None else read(seg)
    at.of_segment = read  # type: ignore[attr-defined]
    return at


def _segment_step(tag: str, q: str | None, rest: list[tuple[Any, ...]]) -> Any:
    then = _chain(rest, _NODE)
    read = getattr(then, "of_segment", None)
    if read is not None:  # TAG/eN/cM: the children's segments read directly
        if q is None:
            def leaf_children(node: Node) -> Any:
                kids = node.children.get(tag)
                if kids:
                    for k in kids:
                        got = read(k.seg)
                        if got is not None:
                            return got
                return None
            return leaf_children
        key = (tag, q)

        def leaf_picked(node: Node) -> Any:
            index = node.children
            kids = index.get(key)
            if kids is None:
                kids = _children(node, tag, q)
            for k in kids:
                got = read(k.seg)
                if got is not None:
                    return got
            return None
        return leaf_picked

    def children(node: Node) -> Any:
        for k in _children(node, tag, q):
            got = then(k)
            if got is not None:
                return got
        return None
    return children


def _places(path: str) -> Callable[[Node], Iterator[Place]]:
    moves = [_move(m) for m in _matches(path)]

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
        value = attribute_of(node, name)
        if value is not None:
            yield node, None, value
    return attribute


def attribute_of(node: Node, name: str) -> str | None:
    """``@name`` of a node: the message's own (``@sender``…), or a segment's ``@q``."""
    if node.attrs is not None:
        return node.attrs.get(name)
    if name == "q" and node.seg is not None:
        return node.seg.value(1) or None
    return None


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
