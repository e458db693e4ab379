"""XSD validation of canonical records, a chunk at a time, with lxml.

Records are serialised one per line into a small canonical document, parsed by libxml2
and validated against the document's XSD. Memory stays bounded by the chunk; an error's
line in the chunk points back to the record and so to the line of the partner file.
DTDs, entities and network access are refused by the parser.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lxml import etree

from ..documents import DocumentType
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


class ChunkValidator:
    def __init__(self, doc: DocumentType, schemas_dir: Path) -> None:
        self.doc = doc
        self.schema = load_schema(doc.schema_path(schemas_dir))
        self.mapping = canonical_mapping(doc)
        self.parser = safe_parser()
        self.plan = plan(self.mapping)
        self.last_body: str | None = None  # canonical XML of the last chunk, when all valid

    def _serialise(self, records: Iterable[dict[str, Any]]) -> tuple[str, bytes]:
        body, _ = xml_records(self.mapping, self.plan, records)
        return body, f"<{self.doc.root}>\n{body}</{self.doc.root}>\n".encode()

    def validate(self, chunk: list[tuple[int, dict[str, Any]]], file_name: str
                 ) -> tuple[list[tuple[int, dict[str, Any]]], list[Problem]]:
        """Split a chunk into valid records and located problems."""
        self.last_body = None
        if not chunk:
            return chunk, []
        body, data = self._serialise(rec for _, rec in chunk)
        try:
            tree = etree.fromstring(data, self.parser)
        except etree.XMLSyntaxError:
            if len(chunk) == 1:
                line = chunk[0][0]
                return [], [Problem("value contains characters not allowed in XML",
                                    line=line, file=file_name)]
            valid, problems = [], []
            for item in chunk:  # locate the bad record(s) one by one
                v, p = self.validate([item], file_name)
                valid += v
                problems += p
            return valid, problems
        if self.schema.validate(tree):
            self.last_body = body
            return chunk, []
        bad: dict[int, list[Problem]] = {}
        for err in self.schema.error_log:
            idx = err.line - 2  # line 1 is the root element
            if 0 <= idx < len(chunk):
                line, _ = chunk[idx]
                bad.setdefault(idx, []).append(
                    Problem(_clean(err.message), line=line, field=_field(err.message),
                            file=file_name))
            else:
                bad.setdefault(-1, []).append(Problem(_clean(err.message), file=file_name))
        valid = [item for i, item in enumerate(chunk) if i not in bad]
        return valid, [p for ps in bad.values() for p in ps]


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
