"""Reader mappings: partner files (CSV, fixed width, multi-record, XML) → canonical
records, every problem located.

A row with a bad value is dropped with a problem naming its line, column and value; the
other rows go on. Only problems that make the whole file unreadable (a missing column, the
wrong encoding) raise ``DataError``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from ..errors import DataError, Problem
from ..formats import xml as xml_format
from ..formats.csv import CsvRowReader
from ..formats.fixed_width import FixedLineReader, FixedOptions, short_line_guard
from ..formats.multirecord import Kind, read_multirecord
from .compiled import Guard, Step, compile_row_function, compile_row_mapper, width_guard
from .loader import FieldSpec, Mapping, RecordType
from .transforms import MISS, Failed, Memo

Record = dict[str, Any]


class ProblemSink:
    """Keeps the first ``keep`` problems in memory and counts them all (bounded memory)."""

    def __init__(self, keep: int = 1000) -> None:
        self.keep = keep
        self.items: list[Problem] = []
        self.count = 0
        self.rows_rejected = 0
        self._last_line: int | None = None

    def append(self, problem: Problem) -> None:
        """Record a problem; every problem with a line drops that row (counted once)."""
        self.count += 1
        if problem.line is not None and problem.line != self._last_line:
            self.rows_rejected += 1
            self._last_line = problem.line
        if len(self.items) < self.keep:
            self.items.append(problem)

    def add_output_problem(self, problem: Problem) -> None:
        """A record one output could not take: reported, its line not counted rejected."""
        self.count += 1
        if len(self.items) < self.keep:
            self.items.append(problem)

    def add_file_problem(self, problem: Problem) -> None:
        """A problem with the whole file (header, encoding): no row is counted for it."""
        self.count += 1
        self.items.insert(0, problem)
        del self.items[self.keep:]

    def sorted(self) -> list[Problem]:
        """Kept problems in file order (the XSD check reports a chunk after the mapping)."""
        return sorted(self.items, key=lambda p: (p.line is not None, p.line or 0))

    def __len__(self) -> int:
        return self.count

    def __bool__(self) -> bool:
        return self.count > 0


def read_records(mapping: Mapping, src: BinaryIO, file_name: str, problems: ProblemSink
                 ) -> Iterator[tuple[int, Record]]:
    """Stream ``(line, record)`` pairs of the valid rows of ``src``."""
    if mapping.format == "xml":
        return _read_xml(mapping, src, file_name, problems)
    if mapping.records is not None:
        return _read_multirecord(mapping, src, file_name, problems)
    if mapping.format == "fixed":
        return _read_fixed(mapping, src, file_name, problems)
    return _read_csv(mapping, src, file_name, problems)


def _compiled(mapping: Mapping, key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
    """One generated loop per mapping (and CSV header layout), kept with the mapping."""
    found = mapping.compiled.get(key)
    if found is None:
        found = build()
        if len(mapping.compiled) < 64:
            mapping.compiled[key] = found
    return found


def _read_csv(mapping: Mapping, src: BinaryIO, file_name: str, problems: ProblemSink
              ) -> Iterator[tuple[int, Record]]:
    rows = CsvRowReader(src, mapping.csv, file_name, problems)  # type: ignore[arg-type]
    it = rows.rows()
    first = next(it, None)
    header = rows.header
    if first is None and header is None and mapping.csv.header:
        raise DataError(Problem("file is empty: no header line", line=1, file=file_name))

    def build() -> Any:
        steps = _csv_steps(mapping, header, file_name)
        guard = (width_guard(len(header), exact=True) if header is not None
                 else _min_width(mapping.fields))
        return compile_row_mapper(steps, guard)
    mapper = _compiled(mapping, ("read", "csv", tuple(header) if header is not None else None),
                       build)
    if first is None:
        return
    yield from mapper(_chain_first(first, it), problems, file_name)


def _chain_first(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


def _csv_steps(mapping: Mapping, header: list[str] | None, file_name: str) -> list[Step]:
    positions: dict[str, int] = {}
    if header is not None:
        for i, name in enumerate(header):
            positions.setdefault(name, i)
        wanted = {c for f in mapping.fields for c in (f.column, *f.columns) if c is not None}
        for f in mapping.fields:  # in the mapping's order: the first missing one is named
            for name in (f.column, *f.columns):
                if name is not None and name not in positions:
                    raise DataError(Problem(
                        f"column {name!r} is missing from the header "
                        f"(found: {', '.join(header)}; mapping {mapping.path.name}, "
                        f"fields.{f.key})", line=1, field=name, file=file_name))
        if mapping.csv.strict_columns:
            for name in header:
                if name not in wanted:
                    raise DataError(Problem(f"unexpected column {name!r} in the header",
                                            line=1, field=name, file=file_name))
    return [Step(f.name, _csv_source(f, positions), Memo(f.chain), f.label, f.lang)
            for f in mapping.fields]


def _csv_source(f: FieldSpec, positions: dict[str, int]) -> str:
    """``values[2]``; several columns: ``(values[0], values[3], )``; a constant: ``None``."""
    if f.column is not None:
        return f"values[{positions[f.column]}]"
    if f.index is not None:
        return f"values[{f.index}]"
    indexes = [positions[c] for c in f.columns] if f.columns else f.indexes
    if indexes:
        return "(" + "".join(f"values[{i}], " for i in indexes) + ")"
    return "None"


def _min_width(fields: tuple[FieldSpec, ...]) -> Guard | None:
    """Without a header line: a row needs the columns the mapping reads."""
    needed = max((i for f in fields for i in (f.index, *f.indexes) if i is not None),
                 default=-1) + 1
    return width_guard(needed, exact=False) if needed else None


def _read_fixed(mapping: Mapping, src: BinaryIO, file_name: str, problems: ProblemSink
                ) -> Iterator[tuple[int, Record]]:
    def build() -> Any:
        return compile_row_mapper([_fixed_step(f) for f in mapping.fields],
                                  _fixed_guard(mapping.fields))
    mapper = _compiled(mapping, ("read", "fixed"), build)
    rows = FixedLineReader(src, mapping.fixed or FixedOptions(), file_name, problems)
    yield from mapper(rows.rows(), problems, file_name)


def _fixed_step(f: FieldSpec) -> Step:
    source = "None"
    if f.start is not None and f.length is not None:
        source = f"values[{f.start - 1}:{f.start - 1 + f.length}]"
    return Step(f.name, source, Memo(f.chain), f.label, f.lang)


def _fixed_guard(fields: tuple[FieldSpec, ...]) -> Guard | None:
    spans = [(f.key, f.start, f.length, f.label) for f in fields
             if f.start is not None and f.length is not None]
    return short_line_guard(spans) if spans else None


def _read_multirecord(mapping: Mapping, src: BinaryIO, file_name: str, problems: ProblemSink
                      ) -> Iterator[tuple[int, Record]]:
    spec = mapping.records
    assert spec is not None
    fixed = mapping.format == "fixed"
    kinds = _compiled(mapping, ("read", "records"),
                      lambda: {t.code: _kind(t, fixed) for t in spec.types})
    rows: Any
    if fixed:
        rows = FixedLineReader(src, mapping.fixed or FixedOptions(), file_name, problems)
    else:
        rows = CsvRowReader(src, mapping.csv, file_name, problems)  # type: ignore[arg-type]
    yield from read_multirecord(rows.rows(), _text_at(spec.type), spec.type.label, kinds,
                                problems, file_name)


def _kind(t: RecordType, fixed: bool) -> Kind:
    """A record type ready to read: its fields as a generated function of one line."""
    map_row = None
    if t.fields:
        if fixed:
            map_row = compile_row_function([_fixed_step(f) for f in t.fields],
                                           _fixed_guard(t.fields))
        else:
            map_row = compile_row_function(
                [Step(f.name, _csv_source(f, {}), Memo(f.chain), f.label, f.lang)
                 for f in t.fields], _min_width(t.fields))
    return Kind(t.code, t.role, map_row, _text_at(t.count) if t.count else None,
                t.count.label if t.count else "")


def _text_at(f: FieldSpec) -> Callable[[Any], str]:
    """The stripped text at a CSV index or a fixed span ("" when the line is too short)."""
    if f.index is not None:
        i = f.index
        return lambda values: values[i].strip() if len(values) > i else ""
    assert f.start is not None and f.length is not None
    a, b = f.start - 1, f.start - 1 + f.length
    return lambda values: values[a:b].strip()


def _read_xml(mapping: Mapping, src: BinaryIO, file_name: str, problems: ProblemSink
              ) -> Iterator[tuple[int, Record]]:
    assert mapping.xml is not None
    mapper = _compiled(mapping, ("read", "xml"), lambda: _xml_mapper(mapping))
    yield from mapper(xml_format.records(src, mapping.xml.record, file_name), problems,
                      file_name)


def _xml_mapper(mapping: Mapping) -> Any:
    with_path = [f for f in mapping.fields if f.path is not None]
    exprs, prelude, env = xml_format.sources([(f.path or "", f.all, f.by) for f in with_path])
    source = dict(zip((f.key for f in with_path), exprs, strict=True))
    steps = []
    for f in mapping.fields:
        memo = Memo(f.chain)
        if f.by is not None:
            steps.append(Step(f.name, source[f.key], _ByAttribute(memo, f.path or "", f.by),
                              f.label, cached=False))
        else:
            steps.append(Step(f.name, source.get(f.key, "None"), memo, f.label, f.lang))
    return compile_row_mapper(steps, None, (prelude, env))


class _ByAttribute:
    """A whole localized field from repeated elements: ``((lang, text), …)`` →
    ``{lang: text}`` (empty texts left out), then the field's transforms on that dict as
    on any localized value (``strip`` each language; ``required``: at least one). Every
    record gets a dict of its own: dicts are never memoised, so never shared."""

    def __init__(self, memo: Memo, path: str, attr: str) -> None:
        self.memo = memo
        self.path = path
        self.attr = attr

    def compute(self, pairs: tuple[tuple[str | None, str], ...] | None) -> Any:
        texts: dict[str, str] = {}
        seen = set()
        for lang, text in pairs or ():
            if lang is None:
                return Failed(f"a {self.path} element has no {self.attr} attribute")
            if lang in seen:
                return Failed(f"two {self.path} elements with {self.attr}={lang!r}")
            seen.add(lang)
            if text:
                texts[lang] = text
        if not texts:  # no language: "required" fails, anything else leaves it out
            result = self.memo.cache.get(None, MISS)
            if result is MISS:
                result = self.memo.compute(None)
            return result if result.__class__ is Failed else None
        if not self.memo.chain:
            return texts
        result = self.memo.compute(texts)
        if result.__class__ is dict:
            result = {k: v for k, v in result.items() if v is not None and v != ""} or None
        return result
