"""A large flat CSV file mapped a column at a time.

Mapped row by row, a million-row export costs a dictionary and a lookup per field per
row. When each field of the mapping is one column (or nothing: a constant) and its steps
are pure functions of the value (a ``Memo``), a batch of rows is mapped column by column
instead: each distinct text is mapped once, and the column is looked up in C
(``map(dict.__getitem__, …)``). The rows are those of the same ``CsvRowReader``, so the
lines left out, the header checks and the line numbers are the row-by-row path's.

A batch with anything irregular (a row of the wrong width, a last line cut short, a
value a field refuses) is mapped row by row instead, its records given as usual, so that
each problem is located and worded the same.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import chain, repeat
from typing import Any, BinaryIO

from ..formats.csv import Block, CsvRowReader
from .compiled import Step, compile_row_mapper, width_guard
from .loader import Mapping
from .reader import ProblemSink, Record, _compiled, _csv_steps, _no_header
from .transforms import Failed, run_steps

BATCH = 10_000
DISTINCT_KEPT = 20_000  # distinct texts a field remembers; past it, it starts again
_COLUMN = re.compile(r"values\[(\d+)\]")


@dataclass
class ColumnBatch:
    """Rows of a file, field by field: the texts read and the values they map to."""

    lines: list[int]
    raw: dict[str, Sequence[Any]]      # field → its text on each row (None: a constant)
    mapped: dict[str, list[Any]]       # field → its mapped value on each row
    # once checked (``validate/distinct.py``): the record element and, per field in the
    # record's order, its distinct values (the very objects of ``mapped``) and the
    # canonical XML element of each, in UTF-8
    tag: str = ""
    elements: list[tuple[str, list[Any], list[bytes]]] | None = field(default=None,
                                                                     repr=False)
    _records: list[Record] | None = field(default=None, repr=False)

    def xml(self) -> bytes:
        """The rows' canonical XML in UTF-8, one record a line. A value is one object on
        all the rows that read the same text, so its element is found by the object
        itself (``id``: equal values may be written apart, ``0`` and ``0.000``)."""
        assert self.elements is not None
        columns = []
        for name, values, elements in self.elements:
            by_object = dict(zip(map(id, values), elements, strict=True))
            columns.append(map(by_object.__getitem__, map(id, self.mapped[name])))
        return b"".join(chain.from_iterable(zip(repeat(f"<{self.tag}>".encode()), *columns,
                                                repeat(f"</{self.tag}>\n".encode()))))

    def records(self) -> list[Record]:
        """The rows as records (built once, for flows and writers that take records)."""
        if self._records is None:
            names = list(self.mapped)
            self._records = [dict(zip(names, values, strict=True))
                             for values in zip(*self.mapped.values(), strict=True)]
        return self._records

    def __len__(self) -> int:
        return len(self.lines)


class _Values(dict[Any, Any]):
    """Text → mapped value (or ``Failed``), each distinct text computed once."""

    def __init__(self, compute: Callable[[Any], Any]) -> None:
        super().__init__()
        self.compute = compute
        self.failed: set[Any] = set()

    def __missing__(self, raw: Any) -> Any:
        value = self[raw] = self.compute(raw)
        if value.__class__ is Failed:
            self.failed.add(raw)
        return value


def columnar(mapping: Mapping) -> bool:
    """Can this mapping's file be read by column: a flat CSV file with a header line,
    each field one column or a constant, no language of a localized field?"""
    if (mapping.format != "csv" or not mapping.csv.header or mapping.groups
            or mapping.group_by is not None or mapping.records is not None
            or mapping.edi_read is not None):
        return False
    return all(f.lang is None and not f.columns and not f.indexes and f.group is None
               for f in mapping.fields)


def read_columns(mapping: Mapping, src: BinaryIO, file_name: str, problems: ProblemSink,
                 *, batch: int = BATCH) -> Iterator[ColumnBatch | list[tuple[int, Record]]]:
    """Batches of the file's rows: a ``ColumnBatch`` for each plain block of the file
    (``CsvRowReader.blocks``) whose values the fields all take, else the ``(line,
    record)`` pairs of the valid rows, mapped row by row as ``read_records`` does."""
    reader = CsvRowReader(src, mapping.csv, file_name, problems)  # type: ignore[arg-type]
    items = reader.blocks()
    rows: list[Any] = []
    mapper: Any = None
    steps: list[Step] = []
    sources: list[int | None] = []
    values: list[_Values] = []
    for item in items:
        if mapper is None:  # the header is read by now
            if reader.header is None:
                raise _no_header(reader, file_name)
            header = reader.header
            steps = _csv_steps(mapping, header, file_name)
            mapper = _compiled(mapping, ("read", "csv", tuple(header)),
                               lambda: compile_row_mapper(
                                   steps, width_guard(len(header), exact=True)))
            sources = [_source(s) for s in steps]
            values = [_field_values(s) for s in steps]
        if item.__class__ is not Block:
            rows.append(item)
            if len(rows) >= batch:
                yield list(mapper(rows, problems, file_name))
                rows = []
            continue
        if rows:
            yield list(mapper(rows, problems, file_name))
            rows = []
        first, parsed = item
        mapped = None if None in sources else _mapped(parsed, steps, sources, values)
        if mapped is None:
            yield list(mapper([(first + i, v, True) for i, v in enumerate(parsed)],
                              problems, file_name))
        else:
            yield ColumnBatch(list(range(first, first + len(parsed))), *mapped)
    if rows:
        yield list(mapper(rows, problems, file_name))
    elif mapper is None:  # no row: the header alone is checked, as row by row
        if reader.header is None:
            raise _no_header(reader, file_name)
        _csv_steps(mapping, reader.header, file_name)


def _mapped(parsed: list[list[str]], steps: list[Step], sources: list[int | None],
            values: list[_Values]
            ) -> tuple[dict[str, Sequence[Any]], dict[str, list[Any]]] | None:
    """The block's texts and mapped values per field; None when a field refuses one of
    its values (the block is then mapped row by row, for the problems)."""
    texts = list(zip(*parsed, strict=True))
    count = len(parsed)
    raw: dict[str, Sequence[Any]] = {}
    mapped: dict[str, list[Any]] = {}
    for step, source, known in zip(steps, sources, values, strict=True):
        assert source is not None
        column = texts[source] if source >= 0 else tuple(repeat(None, count))
        raw[step.name] = column
        if len(known) > DISTINCT_KEPT:
            known.clear()
            known.failed.clear()
        mapped[step.name] = list(map(known.__getitem__, column))
        if known.failed and not known.failed.isdisjoint(column):
            return None
    return raw, mapped


def _source(step: Step) -> int | None:
    """The column a step reads (-1: none, a constant), or None when it is not one column
    read as it is."""
    if step.lang is not None or not isinstance(step.source, str) or not step.cached:
        return None
    if step.source == "None":
        return -1
    match = _COLUMN.fullmatch(step.source)
    return int(match.group(1)) if match else None


def _field_values(step: Step) -> _Values:
    """A field's distinct values: each text mapped once, and one object for all the
    rows that read it (a field with no steps: the first of its texts, as read)."""
    if not step.memo.chain:
        return _Values(_as_read)
    return _Values(partial(run_steps, step.memo.chain))  # no memo: each text once


def _as_read(text: Any) -> Any:
    return text
