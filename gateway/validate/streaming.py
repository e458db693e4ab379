"""A large canonical XML file validated whole while it streams, in a worker process.

A file whose records are the document's own record elements, read by their own names
(a canonical catalogue, prices, stock document), needs no per-record validation when the
document as a whole is valid. A worker process parses it with libxml2 validating as it
goes (the cost of ``iterparse(schema=…)`` alone), extracts each record's raw texts and
sends them on in batches of plain tuples; the main process only runs the transforms,
the flow and the writers. The two cores share the work, and no record is serialised
again to be validated.

A batch is sent only when libxml2 has logged no error by the time its last record was
handed over (errors are logged while a block is parsed, before its records are handed
over: see ``formats/xml.RecordStream``), and the last one only once the root element
has closed. On the first error, or anything else the worker does not expect, it says
from which record on the file must be read the usual way; the main process then reads
the rest itself, each record checked as in any other file, so each problem is located
and worded the same. Nothing of an unchecked batch is used.
"""

from __future__ import annotations

import marshal
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO

from lxml import etree

from ..documents import DocumentType
from ..errors import DataError
from ..formats import xml as xml_format
from ..mapping.compiled import compile_extractor
from ..mapping.loader import Mapping
from ..mapping.reader import RawFields, xml_raw_reader
from .worker import WorkerPipe

BATCH = 2000
AHEAD = 6  # batches received ahead of the main process
_DIED = object()
_XS = "{http://www.w3.org/2001/XMLSchema}"
_IDENTITY = ("unique", "key", "keyref")
_OTHER_FILES = ("include", "import", "redefine", "override")


@dataclass(frozen=True)
class Plan:
    """What the worker needs: all of it plain values, to cross to a spawned process."""

    path: str
    record: str
    root: str
    file_name: str
    schema: str
    fields: RawFields
    batch: int = BATCH


def _work(plan: Plan, conn: Any) -> None:
    """The worker: send ``(position, rows)`` batches, then ``None`` (the whole document
    is valid) or the number of records sent (read the rest from that record on)."""
    from .xsd import load_schema

    sent = 0
    try:
        try:
            schema = load_schema(Path(plan.schema))
            exprs, prelude, env = xml_format.sources(list(plan.fields))
            prelude = [step for step in prelude if "_received(" not in step]
            # a localized field crosses as the dict it becomes (the reader takes either)
            env["_by_language"] = xml_format.by_language
            exprs = [f"_by_language({e})" if by else e
                     for e, (_path, _all, by) in zip(exprs, plan.fields, strict=True)]
            extract = compile_extractor(exprs, prelude, env)
            with open(plan.path, "rb") as fh:
                stream = xml_format.RecordStream(fh, plan.record, plan.file_name,
                                                 schema=schema, root=plan.root)
                rows = iter(stream)
                more = True
                while more:
                    out: list[Any] = []
                    more = extract(rows, out, plan.batch)
                    if not stream.clean() or not (more or stream.complete):
                        break  # an error, or a file cut short that libxml2 let pass
                    if out:
                        conn.send_bytes(marshal.dumps((fh.tell(), out)))
                        sent += len(out)
                else:
                    conn.send_bytes(marshal.dumps(None))
                    return
        except (DataError, etree.Error, ValueError, TypeError):
            pass  # the main process finds and locates it, reading from ``sent`` on
        conn.send_bytes(marshal.dumps(sent))
    except (BrokenPipeError, ConnectionError, EOFError):
        return  # the main process stopped reading: nothing more to do
    finally:
        conn.close()


@cache
def plain_schema(path: Path) -> bool:
    """True when validity is a matter of each element alone: no identity constraint
    (a key across records is checked at the end of the document), in the schema or the
    local files it includes."""
    todo, seen = [path.resolve()], set()
    while todo:
        one = todo.pop()
        if one in seen:
            continue
        seen.add(one)
        try:
            tree = etree.parse(str(one), etree.XMLParser(resolve_entities=False,
                                                         no_network=True, load_dtd=False))
        except (OSError, etree.XMLSyntaxError):
            return False
        if next(tree.iter(*(_XS + name for name in _IDENTITY)), None) is not None:
            return False
        for el in tree.iter(*(_XS + name for name in _OTHER_FILES)):
            location = el.get("schemaLocation")
            if location is None or ":" in location:  # a namespace alone, or not a file
                return False
            todo.append((one.parent / location).resolve())
    return True


class ValidatedStream(WorkerPipe):
    """The worker's side seen from the main process: batches of raw rows, and from which
    record the rest of the file must be read the usual way (``fallback_from``)."""

    def __init__(self, plan: Plan, mapper: Any) -> None:
        self.mapper = mapper
        self.received = 0
        self.fallback_from: int | None = None
        super().__init__(_work, plan, "xml-reader", AHEAD)

    def batches(self) -> Iterator[tuple[int, list[Any]]]:
        """``(position in the file, rows)`` per checked batch, in the file's order."""
        while True:
            data = self.message()
            try:
                msg = marshal.loads(data) if data is not None else _DIED
            except (EOFError, ValueError, TypeError):
                msg = _DIED
            if msg is _DIED:  # ended without a last word: read on from here
                self.fallback_from = self.received
                return
            if msg is None:
                return
            if msg.__class__ is int:
                self.fallback_from = msg
                return
            position, rows = msg
            self.received += len(rows)
            yield position, rows


def open_stream(mapping: Mapping, doc: DocumentType, schema_path: Path,
                required: tuple[str, ...] | None, src: BinaryIO, file_name: str
                ) -> ValidatedStream | None:
    """A worker reading ``src`` (an archived file: read again by its path), or ``None``
    when the file cannot be read this way: not a flat canonical mapping of ``doc``, a
    schema whose validity is not per element, or no path to read."""
    path = getattr(src, "name", None)
    if required is None or mapping.xml is None or not isinstance(path, str):
        return None
    if xml_format.record_tag(mapping.xml.record) != doc.record or doc.root == doc.record:
        return None
    raw = xml_raw_reader(mapping)
    if raw is None or not {f for f, _a, _b in raw[0]} <= set(doc.fields):
        return None
    if not plain_schema(schema_path) or not Path(path).is_file():
        return None
    return ValidatedStream(Plan(path, mapping.xml.record, doc.root, file_name,
                                str(schema_path), raw[0], BATCH), raw[1])
