"""XML input, streamed one record element at a time, safe against hostile documents.

``iterparse`` hands over each record element when it ends; it is then cleared and its
earlier siblings deleted, so a 300 MB file is read in the memory of one record. The
parser never loads a DTD, never goes to the network and never expands entities: a
DOCTYPE that declares entities is refused, and libxml2's own limits stop entity
amplification (the "billion laughs") with a located error.

Field paths are ElementPath, relative to the record. The common ones (a child's tag,
``name[@lang='fr']``, every ``category``) are read from one pass over the record's
children instead of one search per field: that pass is what keeps a million-product
catalogue fast.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from lxml import etree

from ..errors import DataError, Problem

XML_NS = "{http://www.w3.org/XML/1998/namespace}"
_PREFIXES = {"xml": XML_NS[1:-1]}  # ``name[@xml:lang='fr']`` in a path
_NAME = r"(?:\{[^}]*\})?[A-Za-z_][\w.\-]*"
_QNAME = rf"(?:xml:)?{_NAME}"
_TAG = re.compile(rf"({_NAME})\Z")
_PREDICATE = re.compile(rf"({_NAME})\[@({_QNAME})=(['\"])([^'\"]*)\3\]\Z")
_ATTRIBUTE = re.compile(rf"(?:(.+)/)?@({_QNAME})\Z")
_RECORD = re.compile(rf"{_NAME}(?:/{_NAME})*\Z")


def record_tag(path: str) -> str:
    """The tag records are matched on: the last step of ``catalogue/product``."""
    return str(re.findall(_NAME, path)[-1])


def check_record(path: str) -> None:
    if not _RECORD.match(path):
        raise ValueError(f"{path!r} is not a path of element names like 'catalogue/product'")


def attribute_name(name: str) -> str:
    """``xml:lang`` is the attribute lxml calls ``{http://www.w3.org/XML/1998/namespace}lang``."""
    return XML_NS + name[4:] if name.startswith("xml:") else name


def check_attribute(name: str) -> None:
    if not re.fullmatch(_QNAME, name):
        raise ValueError(f"{name!r} is not an attribute name")


def is_tag(path: str) -> bool:
    """A path that is one child element's name (``sku``)."""
    return _TAG.match(path) is not None


def is_attribute(path: str) -> bool:
    return _ATTRIBUTE.match(path) is not None


def check_path(path: str) -> None:
    """Raise ``ValueError`` unless ``path`` is ElementPath lxml accepts (``@x`` last)."""
    attr = _ATTRIBUTE.match(path)
    elements = attr.group(1) if attr else path
    if elements:
        try:
            etree.Element("record").findall(elements, namespaces=_PREFIXES)
        except SyntaxError as exc:
            raise ValueError(f"{path!r} is not a valid element path: {exc}") from None
        except KeyError:
            raise ValueError(f"{path!r}: an attribute can only be the last step (a/@x)"
                             ) from None


def sources(fields: list[tuple[str, bool, str | None]]
            ) -> tuple[list[str], list[str], dict[str, Any]]:
    """For each field ``(path, all, by)`` the expression of its raw value over the record
    element ``values``; and the prelude that indexes the record's children once, with the
    names both use. ``T``: tag → text of the first child; ``M``: tag → what every child of
    that tag gives, for the tags read more than once: its text (``all``), its ``(by
    attribute, text)`` pair (``by``), or the element itself when the tag is read several
    ways (``name[@lang='fr']`` and ``name`` by ``lang``)."""
    kinds: dict[str, set[Any]] = {}
    for path, all_, by in fields:
        if _ATTRIBUTE.match(path):
            continue
        pred = _PREDICATE.match(path)
        if pred:
            kinds.setdefault(pred.group(1), set()).add(_ELEMENT)
        elif _TAG.match(path):
            kind = attribute_name(by) if by else _TEXT if all_ else _FIRST
            kinds.setdefault(path, set()).add(kind)
    index: dict[str, Any] = {}  # tag → what M holds per child: _TEXT, an attribute, _ELEMENT
    for tag, ks in kinds.items():
        if ks == {_FIRST}:
            continue
        index[tag] = next(iter(ks)) if len(ks) == 1 else _ELEMENT
    exprs = []
    uses_index = False
    for path, all_, by in fields:
        attr, pred, tag = _ATTRIBUTE.match(path), _PREDICATE.match(path), _TAG.match(path)
        if attr:
            elements, name = attr.group(1), attribute_name(attr.group(2))
            if elements is None:
                exprs.append(f"values.get({name!r})" if not all_ else
                             f"_tuple((values.get({name!r}),))")
            else:
                fn = "_attributes" if all_ else "_attribute"
                exprs.append(f"{fn}(values, {elements!r}, {name!r})")
            continue
        uses_index = uses_index or bool(pred or tag)
        held = f"(tuple(M[{path!r}]) if {path!r} in M else None)"
        if by:
            if not tag:
                exprs.append(f"_pairs(values.findall({path!r}, _NS), "
                             f"{attribute_name(by)!r})")
            elif index[path] is _ELEMENT:
                exprs.append(f"_pairs(M.get({path!r}), {attribute_name(by)!r})")
            else:
                exprs.append(held)
        elif pred:
            exprs.append(f"_pick(M.get({pred.group(1)!r}), {attribute_name(pred.group(2))!r}, "
                         f"{pred.group(4)!r})")
        elif tag and all_:
            exprs.append(f"_texts(M.get({path!r}))" if index[path] is _ELEMENT else held)
        elif tag:
            exprs.append(f"_first(M.get({path!r}))" if path in index else f"T.get({path!r})")
        elif all_:
            exprs.append(f"_texts(values.findall({path!r}, _NS))")
        else:
            exprs.append(f"values.findtext({path!r}, None, _NS)")
    prelude = []
    if uses_index:
        prelude = ["T = {}", "M = {}", "for c in values:", "    t = c.tag"]
        if index:
            prelude += ["    k = _INDEX.get(t)",
                        "    if k is None:",
                        "        if t not in T:",
                        "            T[t] = c.text or ''",
                        "    else:",
                        "        if k is _TEXT:",
                        "            v = c.text or ''",
                        "        elif k is _ELEMENT:",
                        "            v = c",
                        "        else:",
                        "            v = (c.get(k), c.text or '')",
                        "        m = M.get(t)",
                        "        if m is None:",
                        "            M[t] = [v]",
                        "        else:",
                        "            m.append(v)"]
        else:
            prelude += ["    if t not in T:",
                        "        T[t] = c.text or ''"]
    if fields and all(_TAG.match(path) and not _ATTRIBUTE.match(path) for path, _a, _b in fields):
        # the record's elements are read by their own names: keep the record as received,
        # so that the XSD check can validate it rather than the re-serialised record
        prelude.append("line = _received(line, values, _READS)")
    env = {"_INDEX": index, "_TEXT": _TEXT, "_ELEMENT": _ELEMENT, "_pairs": _pairs,
           "_pick": _pick, "_texts": _texts, "_first": _first, "_attribute": _attribute,
           "_attributes": _attributes, "_tuple": _tuple, "_NS": _PREFIXES,
           "_received": RecordLine.received,
           "_READS": frozenset(path for path, _a, _b in fields)}
    return exprs, prelude, env


class _Kind:
    """What the index keeps of a child element (compared by identity)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


_FIRST, _TEXT, _ELEMENT = _Kind("first text"), _Kind("every text"), _Kind("every element")


def _first(found: list[Any] | None) -> str | None:
    if not found:
        return None
    first = found[0]
    if first.__class__ is str:
        return first
    if first.__class__ is tuple:
        return first[1]
    return first.text or ""


class RecordLine(int):
    """The line of a record element, carrying the element as received (serialised) and the
    child element names the mapping reads. A file whose records are already the canonical
    elements is then validated as it was received (``validate/xsd.py``), instead of
    validating the mapped records serialised again. Everywhere else it is the line."""

    raw: bytes
    reads: frozenset[str]

    @classmethod
    def received(cls, line: int, el: Any, reads: frozenset[str]) -> RecordLine:
        carried = cls(line)
        carried.raw = etree.tostring(el, encoding="UTF-8", xml_declaration=False,
                                     with_tail=False)
        carried.reads = reads
        return carried


def _pick(found: list[Any] | None, attr: str, value: str) -> str | None:
    for e in found or ():
        if e.get(attr) == value:
            return e.text or ""
    return None


def _texts(found: list[Any] | None) -> tuple[str, ...] | None:
    return tuple(e.text or "" for e in found) if found else None


def by_language(pairs: tuple[tuple[str | None, str], ...] | None) -> Any:
    """``((lang, text), …)`` as ``{lang: text}`` without its empty texts, when each element
    has the attribute, once; else the pairs as they are, for the reader to refuse."""
    if not pairs:
        return pairs
    texts = dict(pairs)
    if len(texts) != len(pairs) or None in texts:
        return pairs
    if "" in texts.values():
        texts = {lang: text for lang, text in texts.items() if text}
    return texts


def _pairs(found: list[Any] | None, attr: str) -> tuple[tuple[str | None, str], ...] | None:
    return tuple((e.get(attr), e.text or "") for e in found) if found else None


def _attribute(el: Any, path: str, name: str) -> str | None:
    found = el.find(path, _PREFIXES)
    return None if found is None else found.get(name)


def _attributes(el: Any, path: str, name: str) -> tuple[str, ...] | None:
    return _tuple(tuple(e.get(name) for e in el.iterfind(path, _PREFIXES)))


def _tuple(values: tuple[str | None, ...]) -> tuple[str, ...] | None:
    kept = tuple(v for v in values if v is not None)
    return kept or None


def records(src: BinaryIO, path: str, file_name: str, *, skip: int = 0
            ) -> Iterator[tuple[int, Any, bool]]:
    """``(line, element, True)`` per record element (the row shape the mapping loops
    take); each is cleared, with its earlier siblings, once the next one is asked for.
    The first ``skip`` record elements are parsed but not handed over."""
    return iter(RecordStream(src, path, file_name, skip=skip))


class RecordStream:
    """The record elements of a document, streamed; with ``schema``, libxml2 validates
    the whole document as it parses (``clean`` tells whether it has found an error yet).

    Validation errors do not stop the parse: they are logged while a block of the file
    is parsed, before the records of that block are handed over. A record handed over
    while the log is still empty was therefore parsed, and validated, without error.
    With a schema, libxml2 may also end a file cut short without an error: given the
    ``root`` tag, ``complete`` tells whether the document really ended."""

    def __init__(self, src: BinaryIO, path: str, file_name: str, *, skip: int = 0,
                 schema: Any = None, root: str | None = None) -> None:
        self.tag = record_tag(path)
        self.file_name = file_name
        self.skip = skip
        self.root = root
        self.complete = False  # the end of the root element was seen (``root`` given)
        tags = self.tag if root is None else (self.tag, root)
        self.context = etree.iterparse(src, events=("end",), tag=tags, schema=schema,
                                       resolve_entities=False, no_network=True,
                                       load_dtd=False, huge_tree=False,
                                       remove_comments=True, remove_pis=True)

    def clean(self) -> bool:
        """No error logged so far (well-formedness or, with a schema, validity)."""
        return len(self.context.error_log) == 0

    def __iter__(self) -> Iterator[tuple[int, Any, bool]]:
        context, tag, skip = self.context, self.tag, self.skip
        first = True
        try:
            for _event, el in context:
                up = el.getparent()
                if el.tag != tag:  # the root (asked for: see ``complete``)
                    self.complete = up is None
                    continue
                if up is not None and up.tag == tag:
                    continue  # a child named like its record (<status> in <status>): a field
                if first:
                    _refuse_entities(el, self.file_name)
                    first = False
                if skip:
                    skip -= 1
                else:
                    yield el.sourceline, el, True
                el.clear(keep_tail=False)
                parent = el.getparent()
                if parent is not None:
                    while el.getprevious() is not None:
                        del parent[0]
        except etree.XMLSyntaxError as exc:
            line, column = exc.position if exc.position else (0, 0)
            message = exc.msg
            # libxml2's real cause, from this parser's own log: the exception's is a copy
            # of the thread's, where an error of a file read earlier may still be the last
            last = context.error_log.last_error
            if not line and last is not None:
                line, column, message = last.line, last.column, last.message
            # no line at all: nothing was parsed (an empty file), so the fault is on line 1
            raise DataError(Problem(f"not well-formed XML: {message}", line=line or 1,
                                    column=column or None, file=self.file_name)) from None


def _refuse_entities(el: Any, file_name: str) -> None:
    """Entities are never expanded; a text that uses one would be read cut short."""
    dtd = el.getroottree().docinfo.internalDTD
    names = [e.name for e in dtd.entities()] if dtd is not None else []
    if names:
        raise DataError(Problem(
            f"the DOCTYPE declares entities ({', '.join(names[:5])}); they are never "
            "expanded, so the file is refused", line=el.sourceline, file=file_name))
