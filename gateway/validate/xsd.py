"""XSD validation of canonical records, a chunk at a time, with lxml.

Records are serialised one per line into a small canonical document, parsed by libxml2
and validated against the document's XSD. Memory stays bounded by the chunk; an error's
line in the chunk points back to the record and so to the line of the partner file.
DTDs, entities and network access are refused by the parser.

A file that already is canonical XML (its records are the document's record elements,
read by their own names: ``formats/xml.RecordLine``) is validated as it was received: the
record elements, serialised by lxml as parsed, make the chunk's document, with no mapping
back to XML. A record that fails there, or whose mapped form lacks a field the XSD
requires (an element present but empty, which the mapping leaves out), is checked again
the usual way, mapped and serialised, so its problems read the same as for any file.
"""

from __future__ import annotations

import multiprocessing
from bisect import bisect_right
from collections.abc import Callable, Iterable
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor
from copy import deepcopy
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO

from lxml import etree

from ..documents import DocumentType, to_text
from ..errors import ConfigError, Problem
from ..formats.xml import RecordLine
from ..mapping.loader import Mapping, canonical_mapping
from ..mapping.writer import plan, xml_records
from .streaming import ValidatedStream, open_stream, plain_schema

_schemas: dict[Path, etree.XMLSchema] = {}


def safe_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           huge_tree=False, remove_blank_text=False)


def load_schema(path: Path) -> etree.XMLSchema:
    if path not in _schemas:
        try:
            _schemas[path] = etree.XMLSchema(etree.parse(str(path), safe_parser()))
        except (OSError, etree.XMLSchemaParseError, etree.XMLSyntaxError) as exc:
            raise ConfigError(f"cannot load schema: {exc}", file=str(path)) from None
    return _schemas[path]


Chunk = list[tuple[int, dict[str, Any]]]


def check_document(schema_path: str, data: bytes, record: str | None = None
                   ) -> list[tuple[int, str]] | None:
    """Parse and validate one canonical XML text: ``[]`` when valid, else (line, message)
    per error; ``None`` when the text is not well-formed. Runs in a worker process for
    large files: libxml2 holds the GIL, so a second core is only reached this way.
    ``record``: the text is a ``VALUES`` document of that record's fields
    (``value_schema``)."""
    try:
        tree = etree.fromstring(data, safe_parser())
    except etree.XMLSyntaxError:
        return None
    schema = (load_schema(Path(schema_path)) if record is None
              else value_schema(Path(schema_path), record))
    if schema is None:
        return None
    if schema.validate(tree):
        return []
    return [(err.line, err.message) for err in schema.error_log]


VALUES = "gateway-values"  # the root of a document of field values (``value_schema``)


@cache
def value_schema(path: Path, record: str) -> etree.XMLSchema | None:
    """The schema and one more element, ``VALUES``: any number of the record's child
    elements, in any order, each declared as in the record. A field's value is then
    checked alone, as it is in a record whose elements are each valid on their own (a
    plain sequence, each once at most: otherwise ``None``)."""
    xs = "{http://www.w3.org/2001/XMLSchema}"
    try:
        tree = etree.parse(str(path), safe_parser())
    except (OSError, etree.XMLSyntaxError):
        return None
    root = tree.getroot()
    decl = next((el for el in root.iter(f"{xs}element") if el.get("name") == record), None)
    if decl is None or any(el.get("name") == VALUES for el in root):
        return None
    seq = decl.find(f"{xs}complexType/{xs}sequence")
    if seq is None:
        return None
    choice = etree.Element(f"{xs}choice", minOccurs="0", maxOccurs="unbounded")
    for child in seq:
        if not isinstance(child.tag, str) or child.tag == f"{xs}annotation":
            continue
        if (child.tag != f"{xs}element" or child.get("maxOccurs", "1") != "1"
                or child.get("minOccurs", "1") not in ("0", "1")):
            return None
        copy = deepcopy(child)
        copy.attrib.pop("minOccurs", None)
        choice.append(copy)
    values = etree.SubElement(root, f"{xs}element", name=VALUES)
    etree.SubElement(values, f"{xs}complexType").append(choice)
    try:
        return etree.XMLSchema(tree)
    except etree.XMLSchemaParseError:
        return None


@dataclass
class CheckedChunk:
    valid: Chunk
    problems: list[Problem]
    body: str | None  # canonical XML of the records when all were valid, ready to write
    position: int | None = None  # how far into the file, when not the reader's own
    # a batch read by column and valid whole (``validate/distinct.py``): its rows are
    # there, ``valid`` is empty
    columns: Any = None


class ChunkValidator:
    def __init__(self, doc: DocumentType, schemas_dir: Path, pool: Executor | None = None
                 ) -> None:
        self.doc = doc
        self.schemas_dir = schemas_dir
        self.schema_path = doc.schema_path(schemas_dir)
        load_schema(self.schema_path)  # a broken schema fails here, not in a worker
        self.mapping = canonical_mapping(doc)
        self.plan = plan(self.mapping)
        self.pool = pool
        self.required = _required_fields(self.schema_path, doc)
        self._record_open = f"<{doc.record}".encode()

    def serialise(self, records: Iterable[dict[str, Any]]) -> tuple[str, bytes]:
        body, _ = xml_records(self.mapping, self.plan, records)
        return body, f"<{self.doc.root}>\n{body}</{self.doc.root}>\n".encode()

    def submit(self, chunk: Chunk, file_name: str) -> Callable[[], CheckedChunk]:
        """Start checking a chunk; call the result to wait for it. Chunks submitted in
        order and collected in order keep the file's order."""
        if not chunk:
            return lambda: CheckedChunk(chunk, [], None)
        if self.required is not None and chunk[0][0].__class__ is RecordLine:
            received = self._submit_received(chunk, file_name)
            if received is not None:
                return received
        chunk = _plain_lines(chunk)
        body, data = self.serialise(rec for _, rec in chunk)
        if self.pool is None:
            errors = check_document(str(self.schema_path), data)
            return lambda: self._result(chunk, file_name, body, errors)
        try:
            future = self.pool.submit(check_document, str(self.schema_path), data)
        except BrokenExecutor:
            self.pool = None  # the worker died (killed, out of memory): check here instead
            return self.submit(chunk, file_name)

        def wait() -> CheckedChunk:
            try:
                errors = future.result()
            except BrokenExecutor:
                self.pool = None
                errors = check_document(str(self.schema_path), data)
            return self._result(chunk, file_name, body, errors)
        return wait

    @property
    def by_value(self) -> bool:
        """Is each element of a record valid or not on its own, so that records can be
        checked by their distinct values (``validate/distinct.py``)?"""
        return self.required is not None and plain_schema(self.schema_path)

    def validate(self, chunk: Chunk, file_name: str) -> CheckedChunk:
        return self.submit(chunk, file_name)()

    def stream(self, mapping: Mapping, src: BinaryIO, file_name: str
               ) -> ValidatedStream | None:
        """A worker that validates the whole file as it reads it (``streaming.py``), when
        the mapping and the schema allow; ``checked_whole`` then checks its records."""
        return open_stream(mapping, self.doc, self.schema_path, self.required, src,
                           file_name)

    def checked_whole(self, chunk: Chunk, file_name: str) -> CheckedChunk:
        """Records of a document validated whole: valid as received. Those the mapping
        left without a field the XSD requires (an element present but empty) are checked
        again mapped, as ``_submit_received`` does, for their problems."""
        required = self.required or ()
        again = [i for i, (_line, rec) in enumerate(chunk) if _lacks(rec, required)]
        if not again:
            return CheckedChunk(chunk, [], None)
        checked = self.validate([chunk[i] for i in again], file_name)
        passed = {id(rec) for _line, rec in checked.valid}
        refused = {i for i in again if id(chunk[i][1]) not in passed}
        return CheckedChunk([item for i, item in enumerate(chunk) if i not in refused],
                            checked.problems, None)

    def _submit_received(self, chunk: Chunk, file_name: str
                         ) -> Callable[[], CheckedChunk] | None:
        """Validate the records as received, when each is the document's own record
        element and its fields were read from the elements of their names (else
        ``None``). Those that fail, and those the mapping left without a required field,
        are checked again mapped, for their problems."""
        required = self.required or ()
        fields = self.doc.fields
        opening = self._record_open
        n = len(opening)
        seen: frozenset[str] | None = None
        plain: Chunk = []  # the chunk with int lines: what was received goes no further
        again: list[int] = []  # records checked mapped only
        kept: list[int] = []  # records checked as received, at these lines of the document
        starts: list[int] = []
        parts = [f"<{self.doc.root}>".encode()]
        at = 2
        for i, (line, rec) in enumerate(chunk):
            if line.__class__ is not RecordLine:
                return None
            raw = line.raw
            if not raw.startswith(opening) or raw[n:n + 1] not in _AFTER_TAG:
                return None
            if line.reads is not seen:
                # read from the elements of the same names, and nothing else (a field
                # with no path, a constant, is in no element: its record is checked mapped)
                if not line.reads.issubset(fields) or rec.keys() != line.reads:
                    return None
                seen = line.reads
            plain.append((int(line), rec))
            if _lacks(rec, required):
                again.append(i)
            else:
                kept.append(i)
                starts.append(at)
                parts.append(raw)
                at += raw.count(b"\n") + 1
        parts.append(f"</{self.doc.root}>\n".encode())
        wait = self.check(b"\n".join(parts)) if kept else (lambda: [])

        def result() -> CheckedChunk:
            errors = wait()
            received: dict[int, list[str]] = {}  # errors of each record as received
            if errors is None:  # lxml's own serialisation is well-formed: not expected
                failed = set(range(len(plain)))
            else:
                failed = set(again)
                for err_line, message in errors:
                    k = kept[max(bisect_right(starts, err_line) - 1, 0)]
                    failed.add(k)
                    received.setdefault(k, []).append(message)
            if not failed:
                return CheckedChunk(plain, [], None)
            checked = self.validate([plain[i] for i in sorted(failed)], file_name)
            passed = {id(rec) for _line, rec in checked.valid}
            problems = list(checked.problems)
            # valid once mapped, invalid as received: the mapping left out what the XSD
            # refuses (an element it does not know), so the record is refused as received
            for k, messages in received.items():
                if id(plain[k][1]) in passed:
                    passed.discard(id(plain[k][1]))
                    problems += [Problem(_clean(m), line=plain[k][0], field=_field(m),
                                         file=file_name) for m in messages]
            valid = [item for i, item in enumerate(plain)
                     if i not in failed or id(item[1]) in passed]
            return CheckedChunk(valid, problems, None)
        return result

    def check(self, data: bytes, record: str | None = None
              ) -> Callable[[], list[tuple[int, str]] | None]:
        """``check_document`` in the worker when there is one, else here and now."""
        path = str(self.schema_path)
        if self.pool is not None:
            try:
                future = self.pool.submit(check_document, path, data, record)
            except BrokenExecutor:
                self.pool = None
            else:
                def wait() -> list[tuple[int, str]] | None:
                    try:
                        return future.result()
                    except BrokenExecutor:
                        self.pool = None
                        return check_document(path, data, record)
                return wait
        errors = check_document(path, data, record)
        return lambda: errors

    def _result(self, chunk: Chunk, file_name: str, body: str,
                errors: list[tuple[int, str]] | None) -> CheckedChunk:
        if errors == []:
            return CheckedChunk(chunk, [], body)
        if errors is None:  # not well-formed: find the record(s) one by one
            if len(chunk) == 1:
                return CheckedChunk([], [Problem("value contains characters not allowed in "
                                                 "XML", line=chunk[0][0], file=file_name)],
                                    None)
            valid: Chunk = []
            problems: list[Problem] = []
            for item in chunk:
                one = self._result([item], file_name, "", check_document(
                    str(self.schema_path), self.serialise([item[1]])[1]))
                valid += one.valid
                problems += one.problems
            return CheckedChunk(valid, problems, None)
        bad: dict[int, list[Problem]] = {}
        for err_line, message in errors:
            idx = err_line - 2  # line 1 is the root element
            if 0 <= idx < len(chunk):
                line, rec = chunk[idx]
                fld = _field(message)
                value = to_text(rec[fld]) if fld in rec else None
                bad.setdefault(idx, []).append(
                    Problem(_clean(message), line=line, field=fld, value=value,
                            file=file_name))
            else:
                bad.setdefault(-1, []).append(Problem(_clean(message), file=file_name))
        valid = [item for i, item in enumerate(chunk) if i not in bad]
        return CheckedChunk(valid, [p for ps in bad.values() for p in ps], None)


_AFTER_TAG = (b">", b" ", b"/", b"\n", b"\t", b"\r")


def _plain_lines(chunk: Chunk) -> Chunk:
    """The chunk with plain ``int`` lines: what was received is not carried further."""
    if not chunk or chunk[0][0].__class__ is int:
        return chunk
    return [(int(line), rec) for line, rec in chunk]


def _lacks(rec: dict[str, Any], required: tuple[str, ...]) -> bool:
    """A required field the canonical XML would leave out (run for every record of a
    large file: plain texts, the usual case, are looked at here)."""
    for f in required:
        v = rec.get(f)
        if v is None or v.__class__ is not str and _empty(v) or v == "":
            return True
    return False


def _empty(value: Any) -> bool:
    """True when the canonical XML of a value is nothing (the writer leaves it out)."""
    if value is None:
        return True
    kind = value.__class__
    if kind is str:
        return not value
    if kind is dict:
        value = value.values()
    elif kind is not tuple and kind is not list:  # a scalar (or a subclass: rare)
        if isinstance(value, dict):
            value = value.values()
        elif not isinstance(value, (tuple, list)):
            return value == ""
    for v in value:
        if v is not None and v != "":
            return False
    return True


_XS = "{http://www.w3.org/2001/XMLSchema}"


def _required_fields(schema_path: Path, doc: DocumentType) -> tuple[str, ...] | None:
    """The fields the record element of ``doc`` must have, read from its XSD; ``None``
    when its shape is not a plain sequence of child elements (and attributes none
    required), or the document has groups: records are then always checked mapped."""
    if doc.groups:
        return None
    try:
        tree = etree.parse(str(schema_path), safe_parser())
    except (OSError, etree.XMLSyntaxError):
        return None
    for el in tree.iter(f"{_XS}element"):
        if el.get("name") != doc.record:
            continue
        kind = el.find(f"{_XS}complexType")
        if kind is None:
            return None
        required = []
        for part in kind:
            if not isinstance(part.tag, str) or part.tag == f"{_XS}annotation":
                continue
            if part.tag == f"{_XS}attribute" and part.get("use") != "required":
                continue
            if part.tag != f"{_XS}sequence":
                return None
            for child in part:
                if not isinstance(child.tag, str) or child.tag == f"{_XS}annotation":
                    continue
                name = child.get("name")
                if child.tag != f"{_XS}element" or name is None or name not in doc.fields:
                    return None
                if child.get("minOccurs", "1") != "0":
                    required.append(name)
        return tuple(required)
    return None


def validation_pool() -> Executor:
    """One worker process for XSD checks of large files (spawned: no inherited locks)."""
    return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))


def _field(message: str) -> str | None:
    if message.startswith("Element '"):
        return message.split("'", 2)[1]
    return None


def _clean(message: str) -> str:
    """lxml says "Element 'quantity': [facet 'minInclusive'] The value…"; keep the sentence."""
    if message.startswith("Element '") and ": " in message:
        message = message.split(": ", 1)[1]
    if message.startswith("[facet"):
        message = message.split("] ", 1)[-1]
    return message
