"""Multi-record writers: several record types per canonical record, in one CSV file.

A legacy ERP's order import takes an order as lines of several kinds, each starting with
its record type: an ``E`` order header, its customer ``C``, one ``L`` per order line, one
``R`` per order-level discount, a shipping ``P``. Each ``[[records]]`` entry of the
mapping is written once per record (level ``record``) or once per item of one of the
record's groups (level ``lines``: one per line), in the mapping's order, optionally only
when a condition holds (``when``).

A record is all or nothing: a value one column's transforms refuse (a code missing from a
lookup table) leaves the whole record, all its lines, out of this output, reported once
with the record's line. Delta publishing does not apply: every record given is written
(the writer's ``RecordWriter`` ignores its publisher).
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterable
from decimal import Decimal
from dataclasses import dataclass
from typing import Any, BinaryIO

from ..documents import DocumentType, to_text
from ..formats.csv import CsvRowWriter
from .loader import Mapping, RecordLayout
from .transforms import MISS, Failed, Memo, TransformError, memo_key

Getter = Callable[[dict[str, Any], "dict[str, Any] | None"], Any]
_BATCH = 5000  # rows handed to the CSV writer at a time


@dataclass(frozen=True)
class _Layout:
    """A record type ready to write: per column its label, value getter and memo, and the
    same as one generated function ``(record, item) → row`` (raising ``TransformError``)."""

    type: str
    level: str | None                  # None: once per record; else the group's name
    columns: tuple[tuple[str, Getter, Memo], ...]
    when: Callable[[dict[str, Any], dict[str, Any] | None], bool] | None
    row: Callable[[dict[str, Any], dict[str, Any] | None], list[str]]


class MultiRecordWriter:
    """Writes each record as the lines of its record types; ``close`` flushes the file."""

    def __init__(self, mapping: Mapping, sink: BinaryIO,
                 on_problem: Callable[[int | None, str, str, str], None] | None = None
                 ) -> None:
        self.mapping = mapping
        self.on_problem = on_problem
        self._csv = CsvRowWriter(sink, mapping.csv)
        self._encoding = mapping.csv.encoding
        # UTF-8 writes every text; a code page (cp1252) does not: checked per record
        self._check_encoding = codecs.lookup(self._encoding).name not in ("utf-8",
                                                                          "utf-16", "utf-32")
        layouts = mapping.compiled.get("layouts")
        if layouts is None:
            layouts = mapping.compiled["layouts"] = tuple(
                _compile(lay, mapping.doc) for lay in mapping.layouts)
        self._layouts: tuple[_Layout, ...] = layouts

    def write(self, records: Iterable[dict[str, Any]], lines: Iterable[int] | None = None
              ) -> int:
        """Write the records the mapping's ``where`` selects; the number written."""
        where = self.mapping.where
        lit = iter(lines) if lines is not None else None
        rows: list[list[str]] = []
        written = 0
        for rec in records:
            line = next(lit, None) if lit is not None else None
            if where and not all(to_text(rec.get(f)) == v for f, v in where):
                continue
            out = self._rows(rec, line)
            if out is None:
                continue
            rows += out
            written += 1
            if len(rows) >= _BATCH:
                self._csv.write_many(rows)
                rows = []
        if rows:
            self._csv.write_many(rows)
        return written

    def _rows(self, rec: dict[str, Any], line: int | None) -> list[list[str]] | None:
        """The lines of one record, or None when a column refused one of its values."""
        out = []
        try:
            for lay in self._layouts:
                if lay.level is None:
                    if lay.when is None or lay.when(rec, None):
                        out.append(lay.row(rec, None))
                    continue
                for item in rec.get(lay.level) or ():
                    if lay.when is None or lay.when(rec, item):
                        out.append(lay.row(rec, item))
            if self._check_encoding:
                for row in out:
                    if not "".join(row).isascii():
                        "".join(row).encode(self._encoding)
        except (TransformError, UnicodeEncodeError):
            return self._locate(rec, line)
        return out

    def _locate(self, rec: dict[str, Any], line: int | None) -> None:
        """A record one of whose values is refused: report that value, with its column."""
        for lay in self._layouts:
            items: Iterable[dict[str, Any] | None] = (
                (None,) if lay.level is None else rec.get(lay.level) or ())
            for item in items:
                if lay.when is not None and not lay.when(rec, item):
                    continue
                for label, get, memo in lay.columns:
                    value = get(rec, item)
                    try:
                        text = memo(value)
                        if not text.isascii():
                            text.encode(self._encoding)
                    except TransformError as exc:
                        return self._refuse(line, label, str(exc), value)
                    except UnicodeEncodeError as exc:
                        return self._refuse(line, label, f"{text[exc.start]!r} cannot be "
                                            f"written in {self._encoding}", value)
        return None

    def _refuse(self, line: int | None, label: str, message: str, value: Any) -> None:
        if self.on_problem is not None:
            self.on_problem(line, label, message, to_text(value))

    def close(self) -> None:
        self._csv.close()


def _compile(lay: RecordLayout, doc: DocumentType) -> _Layout:
    from .writer import _text  # the writers' final step (writer imports this module)

    columns = tuple((c.name, _getter(c.field, doc), Memo([*c.chain, _text]))
                    for c in lay.columns)
    when = None
    if lay.when is not None:
        fname, cond, what = lay.when
        get = _getter(fname, doc)
        if cond == "present":
            def when(rec: dict[str, Any], item: dict[str, Any] | None) -> bool:
                return (not _empty(get(rec, item))) is what
        else:
            def when(rec: dict[str, Any], item: dict[str, Any] | None) -> bool:
                return to_text(get(rec, item)) in what
    return _Layout(lay.type, None if lay.level == "record" else lay.level, columns, when,
                   _row_function(lay, doc, columns))


def _row_function(lay: RecordLayout, doc: DocumentType,
                  columns: tuple[tuple[str, Getter, Memo], ...]
                  ) -> Callable[[dict[str, Any], dict[str, Any] | None], list[str]]:
    """``(record, item) → [type, text, …]`` written out for this record type's columns:
    each value looked up in its column's memo (computed on a miss), as the other writers'
    generated loops do; a refused value raises ``TransformError``."""
    env: dict[str, Any] = {"MISS": MISS, "Failed": Failed, "Decimal": Decimal,
                           "memo_key": memo_key, "NOTHING": {}}
    body = ["def row(rec, item):"]
    for i, (c, (_label, _get, memo)) in enumerate(zip(lay.columns, columns, strict=True)):
        env[f"m{i}"] = memo
        env[f"g{i}"] = memo.cache.get
        base, _, sub = (c.field or "").partition(".")
        if not c.field:
            src = "None"
        elif sub and doc.group(base) is not None:
            src = f"item.get({sub!r})"
        elif sub:
            src = f"(rec.get({base!r}) or NOTHING).get({sub!r})"
        else:
            src = f"rec.get({base!r})"
        body.append(f"    v{i} = {src}")
        if base in doc.localized and not sub:  # a dict of languages: not memoised
            body.append(f"    t{i} = m{i}(v{i})")
            continue
        # the memo's key: a decimal's carries its spelling, True is not 1 (memo_key)
        body += [f"    c{i} = v{i}.__class__",
                 f"    t{i} = g{i}(v{i} if c{i} is not Decimal and c{i} is not bool"
                 f" else memo_key(v{i}), MISS)",
                 f"    if t{i} is MISS or t{i}.__class__ is Failed:",
                 f"        t{i} = m{i}(v{i})"]
    body.append(f"    return [{lay.type!r}, " + "".join(f"t{i}, " for i in range(len(columns)))
                + "]")
    exec("\n".join(body), env)  # noqa: S102 - built from field names and a type code only
    return env["row"]  # type: ignore[no-any-return]


def _getter(fname: str | None, doc: DocumentType) -> Getter:
    """``number``: the record's; ``lines.sku``: the item's (the loader allows it only at
    the level of its group); ``name.fr``: one language of a localized field."""
    if not fname:
        return lambda rec, item: None
    base, _, sub = fname.partition(".")
    if sub and doc.group(base) is not None:
        return lambda rec, item: item.get(sub) if item is not None else None
    if sub:
        return lambda rec, item: (rec.get(base) or {}).get(sub)
    return lambda rec, item: rec.get(fname)


def _empty(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, tuple | list | dict)
                                           and not value)
