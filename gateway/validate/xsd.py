"""XSD validation of canonical records, a chunk at a time, with lxml.

Records are serialised one per line into a small canonical document, parsed by libxml2
and validated against the document's XSD. Memory stays bounded by the chunk; an error's
line in the chunk points back to the record and so to the line of the partner file.
DTDs, entities and network access are refused by the parser.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from ..documents import DocumentType, to_text
from ..errors import ConfigError, Problem
from ..mapping.loader import canonical_mapping
from ..mapping.writer import plan, xml_records

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


def check_document(schema_path: str, data: bytes) -> list[tuple[int, str]] | None:
    """Parse and validate one canonical XML text: ``[]`` when valid, else (line, message)
    per error; ``None`` when the text is not well-formed. Runs in a worker process for
    large files: libxml2 holds the GIL, so a second core is only reached this way."""
    try:
        tree = etree.fromstring(data, safe_parser())
    except etree.XMLSyntaxError:
        return None
    schema = load_schema(Path(schema_path))
    if schema.validate(tree):
        return []
    return [(err.line, err.message) for err in schema.error_log]


@dataclass
class CheckedChunk:
    valid: Chunk
    problems: list[Problem]
    body: str | None  # canonical XML of the records when all were valid, ready to write


class ChunkValidator:
    def __init__(self, doc: DocumentType, schemas_dir: Path, pool: Executor | None = None
                 ) -> None:
        self.doc = doc
        self.schema_path = doc.schema_path(schemas_dir)
        load_schema(self.schema_path)  # a broken schema fails here, not in a worker
        self.mapping = canonical_mapping(doc)
        self.plan = plan(self.mapping)
        self.pool = pool

    def _serialise(self, records: Iterable[dict[str, Any]]) -> tuple[str, bytes]:
        body, _ = xml_records(self.mapping, self.plan, records)
        return body, f"<{self.doc.root}>\n{body}</{self.doc.root}>\n".encode()

    def submit(self, chunk: Chunk, file_name: str) -> Callable[[], CheckedChunk]:
        """Start checking a chunk; call the result to wait for it. Chunks submitted in
        order and collected in order keep the file's order."""
        if not chunk:
            return lambda: CheckedChunk(chunk, [], None)
        body, data = self._serialise(rec for _, rec in chunk)
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

    def validate(self, chunk: Chunk, file_name: str) -> CheckedChunk:
        return self.submit(chunk, file_name)()

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
                    str(self.schema_path), self._serialise([item[1]])[1]))
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
