"""Reader mappings: partner rows → canonical records, every problem located.

A row with a bad value is dropped with a problem naming its line, column and value; the
other rows go on. Only problems that make the whole file unreadable (a missing column, the
wrong encoding) raise ``DataError``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

from ..errors import DataError, Problem
from ..formats.csv import CsvRowReader
from .loader import Mapping
from .compiled import compile_row_mapper
from .transforms import Memo

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
    rows = CsvRowReader(src, mapping.csv, file_name, problems)  # type: ignore[arg-type]
    it = rows.rows()
    first = next(it, None)
    if first is None and rows.header is None and mapping.csv.header:
        raise DataError(Problem("file is empty: no header line", line=1, file=file_name))
    key = ("rows", tuple(rows.header) if rows.header is not None else None)
    mapper = mapping.compiled.get(key)
    if mapper is None:  # one generated loop per mapping and header layout
        plan = _plan(mapping, rows.header, file_name)
        width = len(rows.header) if rows.header is not None else None
        mapper = compile_row_mapper(plan, width)
        if len(mapping.compiled) < 64:
            mapping.compiled[key] = mapper
    if first is None:
        return
    yield from mapper(_chain_first(first, it), problems, file_name)


def _chain_first(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


def _plan(mapping: Mapping, header: list[str] | None, file_name: str
          ) -> list[tuple[str, int | None, Memo, str]]:
    plan = []
    if header is not None:
        positions = {name: i for i, name in enumerate(header)}
        wanted = {f.column for f in mapping.fields if f.column is not None}
        for f in mapping.fields:
            if f.column is not None and f.column not in positions:
                raise DataError(Problem(
                    f"column {f.column!r} is missing from the header "
                    f"(found: {', '.join(header)})", line=1, field=f.column, file=file_name))
        if mapping.csv.strict_columns:
            for name in header:
                if name not in wanted:
                    raise DataError(Problem(f"unexpected column {name!r} in the header",
                                            line=1, field=name, file=file_name))
    for f in mapping.fields:
        if f.column is not None and header is not None:
            idx: int | None = header.index(f.column)
            label = f.column
        else:
            idx = f.index
            label = f"column {f.index + 1}" if f.index is not None else f.name
        plan.append((f.name, idx, Memo(f.chain), label))
    return plan
