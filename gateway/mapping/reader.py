"""Reader mappings: partner files (CSV, fixed width, multi-record, XML) → canonical
records, every problem located.

A row with a bad value is dropped with a problem naming its line, column and value; the
other rows go on. Only problems that make the whole file unreadable (a missing column, the
wrong encoding) raise ``DataError``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, BinaryIO

from ..errors import DataError, Problem
from ..formats import xml as xml_format
from ..formats.edi import (EdiProblem, GroupEnd, Message, Nest, Node, compile_first,
                           compile_path, compile_segments, flat_code, flat_inlinable,
                           flat_prefixes, flat_segments, message_index, message_tree)
from ..formats.csv import CsvRowReader
from ..formats.fixed_width import FixedLineReader, FixedOptions, short_line_guard
from ..formats.grouped import Assembler, ItemReader, read_grouped_elements, read_grouped_rows
from ..formats.multirecord import Kind, read_multirecord
from .compiled import (Guard, Step, compile_row_function, compile_row_mapper, show,
                       width_guard)
from .loader import EdiReadOptions, FieldSpec, GroupSpec, Mapping, RecordType
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

    def add_record_problems(self, problems: list[Problem]) -> None:
        """The problems of one record read from several lines (an order and its lines):
        each is kept on its own line, the record is counted rejected once."""
        self.count += len(problems)
        self.rows_rejected += 1
        self._last_line = None
        room = self.keep - len(self.items)
        if room > 0:
            self.items.extend(problems[:room])

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


def read_records(mapping: Mapping, src: BinaryIO, file_name: str, problems: ProblemSink,
                 *, skip: int = 0) -> Iterator[tuple[int, Record]]:
    """Stream ``(line, record)`` pairs of the valid rows of ``src``; ``skip``: the first
    record elements of a flat XML file are already handled (read by a worker process)."""
    if skip:
        if mapping.format != "xml" or mapping.groups or mapping.group_by is not None:
            raise ValueError("only a flat XML file is read from a record on")
        return _read_xml(mapping, src, file_name, problems, skip)
    if mapping.edi_read is not None:
        return _read_edi(mapping, src, file_name, problems)
    if mapping.groups or mapping.group_by is not None:
        if mapping.format == "xml":
            return _read_grouped_xml(mapping, src, file_name, problems)
        return _read_grouped_csv(mapping, src, file_name, problems)
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


def _no_header(rows: CsvRowReader, file_name: str) -> DataError:
    """A CSV file without its header line: empty, or every line of it left out."""
    return DataError(Problem("no header line: every line of the file was left out"
                             if rows.dropped else "file is empty: no header line",
                             line=1, file=file_name))


def _read_csv(mapping: Mapping, src: BinaryIO, file_name: str, problems: ProblemSink
              ) -> Iterator[tuple[int, Record]]:
    rows = CsvRowReader(src, mapping.csv, file_name, problems)  # type: ignore[arg-type]
    it = rows.rows()
    first = next(it, None)
    header = rows.header
    if first is None and header is None and mapping.csv.header:
        raise _no_header(rows, file_name)

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
    positions = _header_positions(mapping, mapping.fields, header, file_name)
    return [_csv_step(f, positions) for f in mapping.fields]


def _header_positions(mapping: Mapping, fields: tuple[FieldSpec, ...],
                      header: list[str] | None, file_name: str) -> dict[str, int]:
    """Column name → position; a column the mapping reads missing from the header (or,
    with strict_columns, one it does not know) makes the whole file unreadable."""
    positions: dict[str, int] = {}
    if header is None:
        return positions
    for i, name in enumerate(header):
        positions.setdefault(name, i)
    wanted = {c for f in fields for c in (f.column, *f.columns, *f.column_any)
              if c is not None}
    for f in fields:  # in the mapping's order: the first missing one is named
        where = "group.by" if f is mapping.group_by else f.where
        for name in (f.column, *f.columns):
            if name is not None and name not in positions:
                raise DataError(Problem(
                    f"column {name!r} is missing from the header "
                    f"(found: {_listed(header)}; mapping {mapping.path.name}, "
                    f"{where})", line=1, field=name, file=file_name))
        if f.column_any and not any(n in positions for n in f.column_any):
            raise DataError(Problem(
                f"column {' or '.join(repr(n) for n in f.column_any)} is missing from the "
                f"header (found: {_listed(header)}; mapping {mapping.path.name}, "
                f"{where})", line=1, field=f.column_any[0], file=file_name))
    if mapping.csv.strict_columns:
        for name in header:
            if name not in wanted:
                raise DataError(Problem(f"unexpected column {name!r} in the header",
                                        line=1, field=name, file=file_name))
    return positions


def _listed(header: list[str], most: int = 50) -> str:
    """The header's columns for an error message: a hostile file's 10,000 columns would
    make an ack of 90 KB, so past ``most`` the rest are counted, not listed."""
    shown = ", ".join(header[:most])
    return shown if len(header) <= most else f"{shown} … and {len(header) - most:,} more"


def _column_of(f: FieldSpec, positions: dict[str, int]) -> str | None:
    """The one column a field reads by name: ``column``, or the first of ``column_any``
    this file's header has."""
    if f.column_any:
        return next((n for n in f.column_any if n in positions), None)
    return f.column


def _csv_step(f: FieldSpec, positions: dict[str, int]) -> Step:
    label = (_column_of(f, positions) or f.label) if f.column_any else f.label
    return Step(f.name, _csv_source(f, positions), Memo(f.chain), label, f.lang)


def _csv_source(f: FieldSpec, positions: dict[str, int]) -> str:
    """``values[2]``; several columns: ``(values[0], values[3], )``; a constant: ``None``."""
    column = _column_of(f, positions)
    if column is not None:
        return f"values[{positions[column]}]"
    if f.index is not None:
        return f"values[{f.index}]"
    indexes = [positions[c] for c in f.columns] if f.columns else f.indexes
    if indexes:
        return "(" + "".join(f"values[{i}], " for i in indexes) + ")"
    return "None"


def _read_grouped_csv(mapping: Mapping, src: BinaryIO, file_name: str, problems: ProblemSink
                      ) -> Iterator[tuple[int, Record]]:
    """Several consecutive rows make one record (``[group] by``): record-level fields from
    its first row, one item of each group per row. See ``formats/grouped.py``."""
    rows = CsvRowReader(src, mapping.csv, file_name, problems)  # type: ignore[arg-type]
    it = rows.rows()
    first = next(it, None)
    header = rows.header
    if first is None and header is None and mapping.csv.header:
        raise _no_header(rows, file_name)
    parts = _compiled(mapping, ("read", "grouped", tuple(header) if header is not None
                                else None), lambda: _grouped_csv(mapping, header, file_name))
    if first is None:
        return
    assembler, key_of, key_label, bad_width, report_width = parts
    yield from read_grouped_rows(_chain_first(first, it), key_of, key_label, bad_width,
                                 report_width, assembler, problems, file_name,
                                 mapping.doc.record)


def _grouped_csv(mapping: Mapping, header: list[str] | None, file_name: str
                 ) -> tuple[Assembler, Any, str, Any, Any]:
    by = mapping.group_by
    every = (*mapping.fields, *(f for g in mapping.groups for f in g.fields),
             *((by,) if by is not None else ()))
    positions = _header_positions(mapping, every, header, file_name)
    record = compile_row_function([_csv_step(f, positions) for f in mapping.fields])
    items = tuple(_csv_items(g, positions) for g in mapping.groups)
    key_of = None
    key_label = ""
    if by is not None:
        k = positions[by.column] if by.column is not None else by.index
        assert k is not None
        key_label = by.column if by.column is not None else f"column {k + 1}"

        def key_of(values: list[str]) -> str | None:
            return values[k].strip() if len(values) > k else None
    if header is not None:
        width, exact = len(header), True
    else:
        width = max((i for f in every for i in (f.index, *f.indexes) if i is not None),
                    default=-1) + 1
        exact = False
    report_width = width_guard(width, exact)[1]

    def bad_width(values: list[str]) -> bool:
        return len(values) != width if exact else len(values) < width
    return Assembler(record, items), key_of, key_label, bad_width, report_width


def _csv_items(g: GroupSpec, positions: dict[str, int]) -> ItemReader:
    read = [f for f in g.fields if not f.row_number]
    map_row = compile_row_function([_csv_step(f, positions) for f in read])
    # the columns that say whether a row holds an item (constants do not)
    where: list[int] = []
    for f in read:
        where += [positions[n] for n in (_column_of(f, positions), *f.columns)
                  if n is not None]
        where += [i for i in (f.index, *f.indexes) if i is not None]

    def present(values: list[str]) -> bool:
        return not where or any(values[i].strip() for i in where)
    numbered = tuple((f.name, Memo(f.chain), f.label) for f in g.fields if f.row_number)
    sourced = tuple(f.name for f in read if f.column is not None or f.column_any
                    or f.columns or f.index is not None or f.indexes)
    return ItemReader(g.name, map_row, present, numbered, first_row=g.first_row,
                      sourced=sourced)


def _read_grouped_xml(mapping: Mapping, src: BinaryIO, file_name: str, problems: ProblemSink
                      ) -> Iterator[tuple[int, Record]]:
    """A record element with its groups' items as repeated children (``<line>``)."""
    assert mapping.xml is not None
    assembler = _compiled(mapping, ("read", "grouped", "xml"), lambda: Assembler(
        _one_row(_xml_mapper(mapping.fields, grouped=True)),
        tuple(ItemReader(g.name, _one_row(_xml_mapper(tuple(f for f in g.fields
                                                              if not f.row_number),
                                                        grouped=True)),
                         _always, tuple((f.name, Memo(f.chain), f.label)
                                        for f in g.fields if f.row_number), path=g.path)
              for g in mapping.groups)))
    yield from read_grouped_elements(xml_format.records(src, mapping.xml.record, file_name),
                                     assembler, _xml_parts, problems, file_name)


def _always(_values: Any) -> bool:
    return True


_PATHS = {"xml": xml_format.XML_NS[1:-1]}


def _xml_parts(el: Any, it: ItemReader) -> Iterator[tuple[int, Any, bool]]:
    for child in el.iterfind(it.path, _PATHS):
        yield child.sourceline, child, True


def _one_row(mapper: Any) -> Any:
    """A generated row loop as a function of one row."""
    def map_row(line: int, values: Any, terminated: bool, problems: Any, file_name: str
                ) -> Record | None:
        for _line, rec in mapper(((line, values, terminated),), problems, file_name):
            return rec  # type: ignore[no-any-return]
        return None
    return map_row


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


def _read_xml(mapping: Mapping, src: BinaryIO, file_name: str, problems: ProblemSink,
              skip: int = 0) -> Iterator[tuple[int, Record]]:
    assert mapping.xml is not None
    mapper = _compiled(mapping, ("read", "xml"), lambda: _xml_mapper(mapping.fields))
    yield from mapper(xml_format.records(src, mapping.xml.record, file_name, skip=skip),
                      problems, file_name)


def _xml_mapper(fields: tuple[FieldSpec, ...], grouped: bool = False) -> Any:
    with_path = [f for f in fields if f.path is not None]
    exprs, prelude, env = xml_format.sources([(f.path or "", f.all, f.by) for f in with_path])
    if grouped:  # an order is validated mapped (groups): no need to keep it as received
        prelude = [step for step in prelude if "_received(" not in step]
    source = dict(zip((f.key for f in with_path), exprs, strict=True))
    return compile_row_mapper(_xml_steps(fields, source), None, (prelude, env))


def _xml_steps(fields: tuple[FieldSpec, ...], source: dict[str, str]) -> list[Step]:
    steps = []
    for f in fields:
        memo = Memo(f.chain)
        if f.by is not None:
            steps.append(Step(f.name, source[f.key], _ByAttribute(memo, f.path or "", f.by),
                              f.label, cached=False))
        else:
            steps.append(Step(f.name, source.get(f.key, "None"), memo, f.label, f.lang))
    return steps


RawFields = tuple[tuple[str, bool, str | None], ...]


def xml_raw_reader(mapping: Mapping) -> tuple[RawFields, Any] | None:
    """For a flat XML mapping whose every field is read from the child element of its
    own name (a canonical document): the fields as ``formats.xml.sources`` takes them,
    for a worker process to extract the raw values with, and the loop that maps rows of
    those values (``(line, (raw, …), True)``) here. ``None`` for any other mapping."""
    fields = mapping.fields
    if (mapping.format != "xml" or mapping.groups or mapping.group_by is not None
            or not fields):
        return None
    for f in fields:
        if (f.path is None or f.path != f.name or f.lang is not None
                or not xml_format.is_tag(f.path)):
            return None
    mapper = _compiled(mapping, ("read", "xml", "raw"), lambda: compile_row_mapper(
        _xml_steps(fields, {f.key: f"values[{i}]" for i, f in enumerate(fields)})))
    return tuple((f.path or "", f.all, f.by) for f in fields), mapper


class _ByAttribute:
    """A whole localized field from repeated elements: ``((lang, text), …)`` →
    ``{lang: text}`` (empty texts left out), then the field's transforms on that dict as
    on any localized value (``strip`` each language; ``required``: at least one). Every
    record gets a dict of its own: dicts are never memoised, so never shared."""

    def __init__(self, memo: Memo, path: str, attr: str) -> None:
        self.memo = memo
        self.path = path
        self.attr = attr

    def compute(self, pairs: tuple[tuple[str | None, str], ...] | dict[str, str] | None
                ) -> Any:
        """``pairs`` may already be that dict (``formats.xml.by_language``)."""
        if pairs.__class__ is not dict:
            pairs = xml_format.by_language(pairs)  # type: ignore[arg-type]
            if pairs and pairs.__class__ is not dict:  # left as pairs: refused
                return self._refused(pairs)  # type: ignore[arg-type]
        texts: dict[str, str] = pairs or {}  # type: ignore[assignment]
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

    def _refused(self, pairs: tuple[tuple[str | None, str], ...]) -> Failed:
        """The first element without the attribute, or the first repeated value of it."""
        seen = set()
        for lang, _text in pairs:
            if lang is None:
                return Failed(f"a {self.path} element has no {self.attr} attribute")
            if lang in seen:
                break
            seen.add(lang)
        return Failed(f"two {self.path} elements with {self.attr}={lang!r}")


# ---- EDI: EDIFACT and X12 messages ---------------------------------------------------

def _read_edi(mapping: Mapping, src: BinaryIO, file_name: str, problems: ProblemSink
              ) -> Iterator[tuple[int, Record]]:
    """One record per message of the mapping's type, read from the message as an element
    tree (``formats/edi.py``) by the grouped assembly XML orders use: an order's lines are
    its ``LIN`` (or ``PO1``) groups.

    Partial acceptance, as the technical acknowledgement has it: a message with syntax
    problems is refused with each of them, located, and the others go on. A message of
    another type or version is refused on its line rather than skipped unseen. Problems
    of a group's or an interchange's trailer (counts, control references) are the
    file's."""
    spec = mapping.edi_read
    assert spec is not None
    nest = Nest(dict(spec.nest))
    flat = _compiled(mapping, ("read", "edi", "flat"), lambda: _edi_flat_assembler(mapping))
    if flat is False:
        assembler = _compiled(mapping, ("read", "edi"), lambda: _edi_assembler(mapping))
    else:
        assembler, items = flat
    build = assembler.build
    for event in _edi_events(mapping.format)(src, file_name):
        if event.__class__ is not Message:
            head = (event.group if isinstance(event, GroupEnd)  # type: ignore[union-attr]
                    else event.interchange).header  # type: ignore[union-attr]
            for p in event.problems:
                problems.add_file_problem(_located(p, head.line, file_name))
            continue
        refused = _edi_refusal(mapping, spec, event, file_name)  # type: ignore[arg-type]
        if refused is not None:
            problems.add_record_problems([refused])
        elif event.problems:
            problems.add_record_problems([_located(p, event.line, file_name)
                                          for p in event.problems])
        else:  # the message as one record, its groups' items its segment groups
            line = event.line  # type: ignore[union-attr]
            collected: list[Problem] = []
            if flat is False:
                tree = message_tree(event, nest)  # type: ignore[arg-type]
                rec = build((line, tree, True), lambda it: _edi_parts(tree, it), collected,
                            file_name)
            else:
                root = (None, message_index(event, nest), event)  # type: ignore[arg-type]
                rec = build((line, root, True), lambda it: items[it.name](root), collected,
                            file_name)
            if rec is None:
                problems.add_record_problems(collected)
            else:
                yield line, rec


def _edi_events(fmt: str) -> Any:
    """The syntax reader's ``events``, imported on first use: a gateway without EDI
    channels never loads them."""
    if fmt == "x12":
        from ..formats import x12 as syntax
    else:
        from ..formats import edifact as syntax
    return syntax.events


def _located(p: EdiProblem, line: int, file_name: str) -> Problem:
    """A syntax problem as the ack shows it; one without a segment of its own (a missing
    trailer) is placed on the line of what it belongs to."""
    problem = p.problem(file_name)
    return problem if problem.line is not None else replace(problem, line=line)


def _edi_refusal(mapping: Mapping, spec: EdiReadOptions, msg: Message, file_name: str
                 ) -> Problem | None:
    """A message this mapping does not read, said on its header's line."""
    x12 = mapping.format == "x12"
    if msg.type != spec.message:
        return Problem(f"message type {msg.type} is not read by mapping {mapping.name} "
                       f"(it reads {spec.message})", line=msg.line,
                       field="ST01" if x12 else "UNH02", value=msg.type, file=file_name)
    if spec.versions and msg.version not in spec.versions:
        return Problem(f"{msg.type} version {msg.version} is not read by mapping "
                       f"{mapping.name} (it reads {', '.join(spec.versions)})",
                       line=msg.line, field="GS08" if x12 else "UNH02",
                       value=msg.version, file=file_name)
    return None


def _edi_assembler(mapping: Mapping) -> Assembler:
    return Assembler(_edi_row(mapping.fields), tuple(
        ItemReader(g.name, _edi_row(tuple(f for f in g.fields if not f.row_number)),
                   _always, tuple((f.name, Memo(f.chain), f.label)
                                  for f in g.fields if f.row_number), path=g.path)
        for g in mapping.groups))


def _edi_flat_assembler(mapping: Mapping) -> tuple[Assembler, dict[str, Any]] | bool:
    """The message's record and its groups' items read over the flat tree, every path
    written out inline (``edi.flat_code``), and each group's items as ``(line, node,
    True)`` rows; False when a path of the mapping is not of a shape written out (the
    message tree and the paths' functions read it then)."""
    spec = mapping.edi_read
    assert spec is not None
    triggers = frozenset(dict(spec.nest))
    every = [*mapping.fields, *(f for g in mapping.groups for f in g.fields)]
    if any(f.all or not all(flat_inlinable(p) for p in _field_paths(f)) for f in every):
        return False
    finders = {}
    for g in mapping.groups:
        find = flat_segments(g.path or "", triggers)
        if find is None:
            return False
        finders[g.name] = _flat_parts(find)
    return Assembler(_edi_flat_row(mapping.fields, True, triggers), tuple(
        ItemReader(g.name, _edi_flat_row(tuple(f for f in g.fields if not f.row_number),
                                         False, triggers),
                   _always, tuple((f.name, Memo(f.chain), f.label)
                                  for f in g.fields if f.row_number), path=g.path)
        for g in mapping.groups)), finders


def _flat_parts(find: Callable[[Any], list[Any]]) -> Callable[[Any], list[Any]]:
    def parts(root: Any) -> list[tuple[int, Any, bool]]:
        return [(node[0].line, node, True) for node in find(root)]
    return parts


def _field_paths(f: FieldSpec) -> tuple[str, ...]:
    return f.paths or ((f.path,) if f.path is not None else ())


def _edi_flat_row(fields: tuple[FieldSpec, ...], root: bool, triggers: frozenset[str]
                  ) -> Any:
    """A message (or one of its segment groups) → its fields, as one function written
    out for the mapping's fields (as ``compiled.py`` does for CSV): each path read
    inline, the children lists paths start from picked once, then each field's memo. A
    value a transform refuses is reported on the line of the segment it was read from,
    not the message's first line: a message spans many lines."""
    env: dict[str, Any] = {"MISS": MISS, "Failed": Failed, "_refused": _refused}
    prefixes: dict[tuple[str, str], str] = {}

    def prefix(tag: str, q: str) -> str:
        name = prefixes.get((tag, q))
        if name is None:
            name = prefixes[tag, q] = f"P{len(prefixes)}"
        return name

    body: list[str] = []
    for i, f in enumerate(fields):
        paths = _field_paths(f)
        body.append("raw = at = None")
        for j, path in enumerate(paths):
            code = flat_code(path, "node", root, triggers, prefix)
            if f.paths:  # the first path that finds a text
                code += ["if raw == '':", "    raw = at = None"]
            if j:
                code = ["if raw is None:", *("    " + c for c in code)]
            body += code
        memo = Memo(f.chain)
        env[f"g{i}"], env[f"c{i}"] = memo.cache.get, memo.compute
        env[f"L{i}"] = f.label
        body += [f"r = g{i}(raw, MISS)",
                 "if r is MISS:",
                 f"    r = c{i}(raw)",
                 "if r.__class__ is Failed:",
                 f"    ok = _refused(problems, r, at or line, L{i}, raw, file_name)"]
        if f.lang is None:
            body += ["else:", f"    rec[{f.name!r}] = r"]
        else:  # one language of a localized field: merged into {lang: text}
            body += ["elif r is None or r == '':",
                     f"    rec.setdefault({f.name!r}, None)",
                     "else:",
                     f"    langs = rec.get({f.name!r})",
                     "    if langs is None:",
                     f"        langs = rec[{f.name!r}] = {{}}",
                     f"    langs[{f.lang!r}] = r"]
    lines = ["def map_row(line, node, _terminated, problems, file_name):",
             "    seg0 = node[0]",
             "    index0 = node[1]",
             *(["    msg = node[2]"] if root else []),
             *("    " + c for c in flat_prefixes(prefixes, triggers)),
             "    rec = {}",
             "    ok = True",
             *("    " + b for b in body),
             "    return rec if ok else None"]
    exec("\n".join(lines), env)  # noqa: S102 - code built from checked paths only
    return env["map_row"]


# a message tree (or a node of it) → the raw value and its segment's line, or None
Finder = Callable[[Any], "tuple[Any, int | None] | None"]


def _edi_row(fields: tuple[FieldSpec, ...]) -> Any:
    """A message (or one of its segment groups) → its fields, read by the paths'
    functions over the message tree. A value a transform refuses is reported on the line
    of the segment it was read from, not the message's first line: a message spans many
    lines."""
    reads = tuple((f.name, f.lang, _edi_finder(f), Memo(f.chain), f.label) for f in fields)

    def map_row(line: int, el: Any, _terminated: bool, problems: Any, file_name: str
                ) -> Record | None:
        rec: Record = {}
        ok = True
        for name, lang, find, memo, label in reads:
            got = find(el) if find is not None else None
            if got is None:
                raw = at = None
            else:
                raw, at = got
            result = memo.cache.get(raw, MISS)
            if result is MISS:
                result = memo.compute(raw)
            if result.__class__ is Failed:
                ok = _refused(problems, result, at or line, label, raw, file_name)
            elif lang is None:
                rec[name] = result
            elif result is None or result == "":
                rec.setdefault(name, None)
            else:  # one language of a localized field: merged into {lang: text}
                langs = rec.get(name)
                if langs is None:
                    langs = rec[name] = {}
                langs[lang] = result
        return rec if ok else None
    return map_row


def _refused(problems: Any, result: Failed, line: int | None, label: str, raw: Any,
             file_name: str) -> bool:
    problems.append(Problem(result.message, line=line, field=label, value=show(raw),
                            file=file_name))
    return False


def _edi_finder(f: FieldSpec) -> Finder | None:
    """What a field reads (None: a constant, nothing)."""
    if f.paths:
        finders = tuple(_edi_path(p, False) for p in f.paths)

        def first_of(el: Any) -> tuple[Any, int | None] | None:
            for find in finders:  # the first path that finds a text
                got = find(el)
                if got is not None and got[0] != "":
                    return got
            return None
        return first_of
    if f.path is not None:
        return _edi_path(f.path, f.all)
    return None


def _edi_path(path: str, every: bool) -> Finder:
    """The text (or, with ``every``, the tuple of texts) at a path of the message tree,
    and the line of the segment it was found in; None when nothing is there."""
    if not every:
        return compile_first(path)
    find_all = compile_path(path, True)

    def every_text(el: Any) -> tuple[Any, int | None] | None:
        got = find_all(el)
        return None if got[0] is None else got
    return every_text


_ITEM_PATHS: dict[str, Callable[[Node], list[Node]]] = {}


def _edi_parts(node: Node, it: ItemReader) -> list[tuple[int, Any, bool]]:
    """The items of a group: the segments its path finds, each with its line."""
    path = it.path or ""
    find = _ITEM_PATHS.get(path)
    if find is None:
        find = _ITEM_PATHS[path] = compile_segments(path)
    return [(child.seg.line, child, True) for child in find(node)]  # type: ignore[union-attr]
