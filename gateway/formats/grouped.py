"""Records in groups: one order from several consecutive CSV rows (one per line item), or
from one XML element and its repeated children.

A record is all or nothing: a bad value in any of its rows drops the whole record, each
problem reported on its own line; the record's line is its first row's. Rows of one
record must follow each other: a key seen again later, after other records, is a located
problem and that later part is dropped (the first part was already read).

This is a code path of its own: flat files never come here, so the million-row CSV loop
stays as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import Problem
from ..mapping.transforms import MISS, Failed

Row = tuple[int, Any, bool]  # (line, values, terminated), as the CSV and XML readers yield
# (line, values, terminated, problems, file name) → the fields, or None when a value failed
MapRow = Callable[[int, Any, bool, Any, str], "dict[str, Any] | None"]


@dataclass(frozen=True)
class ItemReader:
    """One group of the document (an order's ``lines``), ready to read."""

    name: str                              # the record's key for the tuple of items
    map_row: MapRow                        # one row (CSV) or element (XML) → an item
    present: Callable[[Any], bool]         # does this row hold an item at all?
    numbered: tuple[tuple[str, Any, str], ...] = ()  # row_number fields: (name, memo, label)
    # CSV: the fields read from the row; an item whose fields are all empty after their
    # transforms (a "0.00" a when turned into "") is no item
    sourced: tuple[str, ...] = ()
    first_row: bool = False                # CSV: one item from the record's first row only
    path: str | None = None                # XML: the repeated element, from the record


@dataclass(frozen=True)
class Assembler:
    """Record-level fields from the first row, one item per row of each group."""

    record: MapRow
    items: tuple[ItemReader, ...]

    def build(self, first: Row, parts: Callable[[ItemReader], Iterable[Row]],
              collected: list[Problem], file_name: str) -> dict[str, Any] | None:
        """The record, or None with every problem of every row in ``collected``."""
        line, values, terminated = first
        rec = self.record(line, values, terminated, collected, file_name)
        ok = rec is not None
        for it in self.items:
            items = []
            n = 0
            for pline, pvalues, pterm in parts(it):
                if not it.present(pvalues):
                    continue
                item = it.map_row(pline, pvalues, pterm, collected, file_name)
                if item is None:
                    ok = False
                    continue
                if it.sourced and all(item[f] is None or item[f] == "" for f in it.sourced):
                    continue
                n += 1
                for fname, memo, label in it.numbered:
                    result = memo.cache.get(n, MISS)
                    if result is MISS:
                        result = memo.compute(n)
                    if result.__class__ is Failed:
                        collected.append(Problem(result.message, line=pline, field=label,
                                                 value=str(n), file=file_name))
                        ok = False
                    else:
                        item[fname] = result
                items.append(item)
            if ok:
                rec[it.name] = tuple(items)  # type: ignore[index]
        return rec if ok and not collected else None


def read_grouped_rows(rows: Iterable[Row], key_of: Callable[[Any], str | None] | None,
                      key_label: str, bad_width: Callable[[Any], bool],
                      report_width: Callable[[int, Any, bool, Any, str], None],
                      assembler: Assembler, problems: Any, file_name: str, noun: str
                      ) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line, record)`` per group of consecutive rows with the same key (without a
    key, per row). ``key_of`` gives None for a row too short to hold the key.
    ``problems`` takes ``append`` (a row of no record) and ``add_record_problems`` (all
    the problems of one rejected record, counted once)."""
    seen: set[str] = set()
    current: str | None = None
    rows_of: list[Row] = []
    skipping = False
    for row in rows:
        if key_of is None:
            yield from _emit([row], assembler, bad_width, report_width, problems, file_name)
            continue
        line, values, terminated = row
        key = key_of(values)
        if key is None:
            report_width(line, values, terminated, problems, file_name)
            continue
        if not key:
            problems.append(Problem(f"value is required: it says which {noun} the row is "
                                    "part of", line=line, field=key_label, value="",
                                    file=file_name))
            continue
        if key != current:
            if rows_of:
                yield from _emit(rows_of, assembler, bad_width, report_width, problems,
                                 file_name)
            rows_of = []
            current = key
            skipping = key in seen
            if skipping:
                problems.add_record_problems([Problem(
                    f"{noun} {key} appears again on line {line}, not next to its other "
                    "lines", line=line, field=key_label, value=key, file=file_name)])
                continue
            seen.add(key)
        if not skipping:
            rows_of.append(row)
    if rows_of:
        yield from _emit(rows_of, assembler, bad_width, report_width, problems, file_name)


def _emit(rows_of: list[Row], assembler: Assembler, bad_width: Callable[[Any], bool],
          report_width: Callable[[int, Any, bool, Any, str], None], problems: Any,
          file_name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    collected: list[Problem] = []
    for line, values, terminated in rows_of:
        if bad_width(values):
            report_width(line, values, terminated, collected, file_name)
    rec = None
    if not collected:
        first_only = rows_of[:1]
        rec = assembler.build(rows_of[0],
                              lambda it: first_only if it.first_row else rows_of,
                              collected, file_name)
    if rec is None:
        problems.add_record_problems(collected)
        return
    yield rows_of[0][0], rec


def read_grouped_elements(records: Iterable[Row], assembler: Assembler,
                          parts: Callable[[Any, ItemReader], Iterable[Row]], problems: Any,
                          file_name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """XML: each record element is one record, its groups' items its repeated children."""
    for line, el, terminated in records:
        collected: list[Problem] = []
        rec = assembler.build((line, el, terminated), lambda it: parts(el, it), collected,
                              file_name)
        if rec is None:
            problems.add_record_problems(collected)
        else:
            yield line, rec
