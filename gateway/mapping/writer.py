"""Writer mappings: canonical records → a partner file (CSV or XML), streamed to a sink."""

from __future__ import annotations

import codecs

import itertools
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, BinaryIO

from ..documents import to_text
from ..formats.csv import CsvRowWriter
from .compiled import compile_csv_rows, compile_xml_serializer
from .transforms import Memo, TransformError
from .loader import Mapping
from .ediwriter import EdiRecordWriter, Envelope
from .multiwriter import MultiRecordWriter

if TYPE_CHECKING:
    from ..pipeline.publish import Publisher

_ESC = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})


def xml_escape(text: str) -> str:
    return text.translate(_ESC) if ("&" in text or "<" in text or ">" in text or '"' in text
                                    ) else text


class RecordWriter:
    """Writes records through a writer mapping; ``close`` ends the document."""

    def __init__(self, mapping: Mapping, sink: BinaryIO, *, attributes: dict[str, str] | None
                 = None, publisher: Publisher | None = None,
                 on_problem: Callable[[int | None, str, str, str], None] | None = None,
                 envelope: Envelope | None = None) -> None:
        self.mapping = mapping
        self.on_problem = on_problem
        self.sink = sink
        self.count = 0
        self.publisher = publisher
        self._plan = plan(mapping)
        self._multi: MultiRecordWriter | None = None
        self._edi: EdiRecordWriter | None = None
        if mapping.edi_write is not None:  # EDIFACT, X12: messages of one interchange
            self._edi = EdiRecordWriter(mapping, sink, envelope, on_problem)
            self._csv = None
            self.publisher = None  # every record given is written, as for [[records]]
            return
        if mapping.layouts:  # [[records]]: several record types per record
            self._multi = MultiRecordWriter(mapping, sink, on_problem)
            self._csv = None
            self.publisher = None  # delta publishing does not apply: every record is written
            return
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

    def write(self, records: Iterable[dict[str, Any]], lines: Iterable[int] | None = None,
              *, gated: bool = True) -> None:
        """Write records, 5,000 at a time (bounded memory): those the mapping's ``where``
        selects and, with a publisher, only those it says changed. A value a column's
        transforms refuse drops that record from this output, reported with its line."""
        if self._multi is not None:
            self.count += self._multi.write(records, lines)
            return
        if self._edi is not None:  # a held message's records are counted when written
            self._edi.write(records, lines)
            self.count = self._edi.count
            return
        it = iter(records)
        lit = iter(lines) if lines is not None else None
        where = self.mapping.where
        while batch := list(itertools.islice(it, 5000)):
            blines = list(itertools.islice(lit, len(batch))) if lit is not None else None
            if where:
                keep = [i for i, r in enumerate(batch)
                        if all(to_text(r.get(f)) == v for f, v in where)]
                if len(keep) != len(batch):
                    batch = [batch[i] for i in keep]
                    blines = [blines[i] for i in keep] if blines is not None else None
            try:
                self._write_batch(batch, gated)
            except TransformError:
                good = self._isolate(batch, blines)
                self._write_batch(good, gated)

    def _write_batch(self, batch: list[dict[str, Any]], gated: bool) -> None:
        if self.publisher is not None and gated:
            if self._csv is not None:
                rows = self._csv_builder()(batch)
                send = self.publisher.filter(batch, rows)
                self._csv.write_many([rows[i] for i in send])
            else:
                send = self.publisher.filter(batch, text_rows(self.mapping, batch))
                text, _ = xml_records(self.mapping, self._plan, [batch[i] for i in send])
                self.sink.write(text.encode(self._enc))
            self.count += len(send)
        elif self._csv is not None:
            rows = self._csv_builder()(batch)
            self._csv.write_many(rows)
            self.count += len(rows)
        else:
            text, n = xml_records(self.mapping, self._plan, batch)
            self.count += n
            self.sink.write(text.encode(self._enc))

    def _isolate(self, batch: list[dict[str, Any]], lines: list[int] | None
                 ) -> list[dict[str, Any]]:
        """The records every column accepts; each refused one is reported once."""
        good = []
        for i, rec in enumerate(batch):
            for name, fname, memo in self._plan:
                try:
                    memo(_value(rec, fname))
                except TransformError as exc:
                    if self.on_problem is not None:
                        self.on_problem(lines[i] if lines else None, name, str(exc),
                                        to_text(_value(rec, fname)))
                    break
            else:
                good.append(rec)
        return good

    def _csv_builder(self) -> Any:
        build = self.mapping.compiled.get("csv")
        if build is None:
            build = self.mapping.compiled["csv"] = compile_csv_rows(
                [(fname, memo) for _n, fname, memo in self._plan], unhashable(self.mapping))
        return build

    def write_withdrawn(self) -> None:
        """After the last record of a full export: what the channel published before and
        the file no longer holds."""
        if self.publisher is not None:
            self.write(self.publisher.withdrawn(), gated=False)

    def write_canonical_body(self, body: str | bytes, count: int) -> None:
        """Write records already serialised as canonical XML (by the XSD check); given
        as bytes, they are UTF-8."""
        if body.__class__ is not bytes:
            body = body.encode(self._enc)  # type: ignore[union-attr]
        elif codecs.lookup(self._enc).name != "utf-8":
            body = body.decode().encode(self._enc)  # type: ignore[union-attr]
        self.sink.write(body)
        self.count += count

    @property
    def is_canonical(self) -> bool:
        """True when this writer's output is the document's canonical XML, element for element."""
        m = self.mapping
        doc = m.doc
        return (m.format == "xml" and m.xml is not None and m.xml.record == doc.record
                and [(c.name, c.field, c.chain) for c in m.columns]
                == [(f, f, ()) for f in doc.fields])

    def close(self) -> None:
        if self._edi is not None:
            self._edi.close()
            self.count = self._edi.count
        elif self._multi is not None:
            self._multi.close()
        elif self._csv is not None:
            self._csv.close()
        else:
            assert self.mapping.xml is not None
            self.sink.write(f"</{self.mapping.xml.root}>\n".encode(self._enc))


Plan = list[tuple[str, str | None, Memo]]


def plan(mapping: Mapping) -> Plan:
    """Per column: its name, the canonical field and its memoised text conversion."""
    cached = mapping.compiled.get("plan")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    out: Plan = []
    for c in mapping.columns:
        steps = [*c.chain, _text]
        group = mapping.doc.group(c.field) if c.field else None
        if mapping.format == "xml":
            steps = [*c.chain, _group_fragment(*group) if group else _fragment_of(c.name)]
        out.append((c.name, c.field, Memo(steps)))
    mapping.compiled["plan"] = out
    return out


def unhashable(mapping: Mapping) -> frozenset[str]:
    """Fields whose values are dicts (localized) or tuples of dicts (groups)."""
    doc = mapping.doc
    return doc.localized | {g for g, _item, _f in doc.groups}


def _group_fragment(item: str, fields: tuple[str, ...]) -> Any:
    """An order's lines → ``<line><sku>…</sku>…</line>`` per line, in the XSD's order."""
    def fragment(value: Any) -> str:
        out = []
        for sub in value or ():
            inner = "".join(f"<{f}>{xml_escape(to_text(v))}</{f}>" for f in fields
                            if (v := sub.get(f)) not in (None, ""))
            out.append(f"<{item}>{inner}</{item}>")
        return "".join(out)
    return fragment


def _value(rec: dict[str, Any], fname: str | None) -> Any:
    if not fname:
        return None
    base, _, lang = fname.partition(".")
    return (rec.get(base) or {}).get(lang) if lang else rec.get(fname)


def text_rows(mapping: Mapping, records: list[dict[str, Any]]) -> list[list[str]]:
    """Each record's column texts (what a delta compares), whatever the output format."""
    build = mapping.compiled.get("texts")
    if build is None:
        fields = [(c.field, Memo([*c.chain, _text])) for c in mapping.columns]
        build = mapping.compiled["texts"] = compile_csv_rows(fields, unhashable(mapping))
    return build(records)  # type: ignore[no-any-return]


def _text(value: Any) -> str:
    """Text of a value after a column's transforms (lists and languages flattened)."""
    if isinstance(value, dict):
        return "|".join(f"{k}={_text(v)}" for k, v in sorted(value.items()))
    if isinstance(value, (tuple, list)):
        return "|".join(_text(v) for v in value)
    return to_text(value)


def _fragment_of(path: str) -> Any:
    """``value → <path>text</path>`` in one call (the hot path of canonical XML)."""
    parts = path.split("/")
    open_tags = "".join(f"<{p}>" for p in parts)
    close_tags = "".join(f"</{p}>" for p in reversed(parts))

    tag = parts[-1]
    prefix = "".join(f"<{p}>" for p in parts[:-1])
    suffix = "".join(f"</{p}>" for p in reversed(parts[:-1]))

    def repeated(value: Any) -> str:
        """A list field repeats its element; a localized one has one per language."""
        if isinstance(value, dict):
            items = [f'<{tag} lang="{xml_escape(lang)}">{xml_escape(to_text(v))}</{tag}>'
                     for lang, v in sorted(value.items()) if v not in (None, "")]
        else:
            items = [f"<{tag}>{xml_escape(to_text(v))}</{tag}>" for v in value
                     if v not in (None, "")]
        return prefix + "".join(items) + suffix if items else ""

    def fragment(value: Any) -> str:
        if value.__class__ in (dict, tuple, list):
            return repeated(value)
        text = value if value.__class__ is str else to_text(value)
        if not text:
            return ""
        if "&" in text or "<" in text or ">" in text or '"' in text:
            text = xml_escape(text)
        return open_tags + text + close_tags
    return fragment


def xml_records(mapping: Mapping, plan: Plan, records: Iterable[dict[str, Any]]
                ) -> tuple[str, int]:
    """One ``<record>…</record>`` line per record; empty values are left out."""
    assert mapping.xml is not None
    serialise = mapping.compiled.get("xml")
    if serialise is None:
        serialise = mapping.compiled["xml"] = compile_xml_serializer(
            mapping.xml.record, [(fname, memo) for _n, fname, memo in plan],
            unhashable(mapping))
    return serialise(records)  # type: ignore[no-any-return]
