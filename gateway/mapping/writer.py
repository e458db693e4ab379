"""Writer mappings: canonical records → a partner file (CSV or XML), streamed to a sink."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, BinaryIO

from ..documents import to_text
from ..formats.csv import CsvRowWriter
from .loader import Mapping

_ESC = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})


def xml_escape(text: str) -> str:
    return text.translate(_ESC) if ("&" in text or "<" in text or ">" in text or '"' in text
                                    ) else text


class RecordWriter:
    """Writes records through a writer mapping; ``close`` ends the document."""

    def __init__(self, mapping: Mapping, sink: BinaryIO, *, attributes: dict[str, str] | None
                 = None) -> None:
        self.mapping = mapping
        self.sink = sink
        self.count = 0
        self._plan = plan(mapping)
        if mapping.format == "csv":
            self._csv: CsvRowWriter | None = CsvRowWriter(sink, mapping.csv)
            if mapping.csv.header:
                self._csv.write([c.name for c in mapping.columns])
        else:
            self._csv = None
            assert mapping.xml is not None
            self._enc = mapping.xml.encoding
            attrs = "".join(f' {k}="{xml_escape(v)}"' for k, v in (attributes or {}).items())
            sink.write(f'<?xml version="1.0" encoding="{self._enc}"?>\n'
                       f"<{mapping.xml.root}{attrs}>\n".encode(self._enc))

    def write(self, records: Iterable[dict[str, Any]]) -> None:
        if self._csv is not None:
            rows = [row_values(self._plan, r) for r in records]
            self._csv.write_many(rows)
            self.count += len(rows)
            return
        text, n = xml_records(self.mapping, self._plan, records)
        self.count += n
        self.sink.write(text.encode(self._enc))

    def close(self) -> None:
        if self._csv is not None:
            self._csv.close()
        else:
            assert self.mapping.xml is not None
            self.sink.write(f"</{self.mapping.xml.root}>\n".encode(self._enc))


def _element(path: str, text: str) -> str:
    """``a/b`` → ``<a><b>text</b></a>``: element paths nest."""
    if "/" not in path:
        return f"<{path}>{text}</{path}>"
    parts = path.split("/")
    return "".join(f"<{p}>" for p in parts) + text + "".join(f"</{p}>" for p in reversed(parts))


Plan = list[tuple[str, str | None, tuple[Any, ...]]]


def plan(mapping: Mapping) -> Plan:
    return [(c.name, c.field, c.chain) for c in mapping.columns]


def row_values(plan: Plan, rec: dict[str, Any]) -> list[str]:
    out = []
    for _name, fname, chain in plan:
        value = rec.get(fname) if fname else None
        for fn in chain:
            value = fn(value)
        out.append(to_text(value))
    return out


def xml_records(mapping: Mapping, plan: Plan, records: Iterable[dict[str, Any]]
                ) -> tuple[str, int]:
    """One ``<record>…</record>`` line per record; empty values are left out."""
    assert mapping.xml is not None
    tag = mapping.xml.record
    parts = []
    for rec in records:
        values = row_values(plan, rec)
        inner = "".join(_element(name, xml_escape(v))
                        for (name, _f, _c), v in zip(plan, values, strict=True) if v != "")
        parts.append(f"<{tag}>{inner}</{tag}>\n")
    return "".join(parts), len(parts)
