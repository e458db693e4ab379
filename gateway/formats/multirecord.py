"""Multi-record flat files: one file, several line layouts told apart by a record type.

Legacy ERPs write a header record (``H``: the order, the price list), its detail records
(``L``: one per line item) and a trailer (``T``: how many details were written). A detail
becomes one canonical record carrying its header's fields; the trailer's count proves the
file is complete, so a count that disagrees rejects the whole file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from ..errors import DataError, Problem

HEADER, DETAIL, TRAILER, IGNORE = "header", "detail", "trailer", "ignore"
ROLES = (HEADER, DETAIL, TRAILER, IGNORE)

Row = tuple[int, Any, bool]  # (line, values, terminated), as the CSV and fixed readers yield
# (line, values, terminated, problems, file name) → the record, or None when rejected
MapRow = Callable[[int, Any, bool, Any, str], "dict[str, Any] | None"]


@dataclass(frozen=True)
class Kind:
    """One record type of the file, ready to read."""

    code: str
    role: str
    map_row: MapRow | None = None              # header and detail: its fields
    count: Callable[[Any], str] | None = None  # trailer: the text of its detail count
    count_label: str = ""


def read_multirecord(rows: Iterable[Row], type_of: Callable[[Any], str], type_label: str,
                     kinds: dict[str, Kind], problems: Any, file_name: str
                     ) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line, record)`` per valid detail line, its header's fields included."""
    reader = _Groups(kinds, problems, file_name)
    for line, values, terminated in rows:
        code = type_of(values)
        kind = kinds.get(code)
        if kind is None:
            problems.append(Problem(
                f"record type {code!r} is not declared in the mapping (declared: "
                f"{', '.join(kinds)})", line=line, field=type_label, value=code,
                file=file_name))
        elif kind.role == DETAIL:
            rec = reader.detail(kind, line, values, terminated)
            if rec is not None:
                yield line, rec
        elif kind.role == HEADER:
            reader.header(kind, line, values, terminated)
        elif kind.role == TRAILER:
            reader.trailer(kind, line, values)
    reader.end()


class _Groups:
    """The state between a header and its trailer: the header's values and the details
    seen since (which the trailer counts, rejected ones included: the ERP wrote them)."""

    def __init__(self, kinds: dict[str, Kind], problems: Any, file_name: str) -> None:
        self.problems = problems
        self.file_name = file_name
        self.header_code = next((k.code for k in kinds.values() if k.role == HEADER), None)
        self.trailer_code = next((k.code for k in kinds.values() if k.role == TRAILER), None)
        self.header_line: int | None = None
        self.values: dict[str, Any] = {}
        self.errors: list[Problem] = []
        self.details = 0
        self.open_since: int | None = None  # first line of a group no trailer has closed yet

    def header(self, kind: Kind, line: int, values: Any, terminated: bool) -> None:
        self._close_header()
        self.errors = []  # a bad header value is reported on each detail line under it
        rec = kind.map_row(line, values, terminated, self.errors, self.file_name) \
            if kind.map_row else {}
        self.values = rec or {}
        self.header_line = line
        self.details = 0
        self.open_since = line

    def detail(self, kind: Kind, line: int, values: Any, terminated: bool
               ) -> dict[str, Any] | None:
        self.details += 1
        if self.open_since is None:
            self.open_since = line
        if self.header_code is not None and self.header_line is None:
            self.problems.append(Problem(
                f"{kind.code} detail record with no {self.header_code} header record before "
                "it", line=line, value=kind.code, file=self.file_name))
            return None
        if self.errors:
            for p in self.errors:
                self.problems.append(replace(p, line=line, message=(
                    f"{p.message} (in the header record on line {self.header_line})")))
            return None
        assert kind.map_row is not None
        rec = kind.map_row(line, values, terminated, self.problems, self.file_name)
        if rec is not None and self.values:
            rec.update(self.values)
        return rec

    def trailer(self, kind: Kind, line: int, values: Any) -> None:
        self._close_header()
        if kind.count is not None:
            text = kind.count(values)
            since = (f" since the header on line {self.header_line}"
                     if self.header_line is not None else "")
            try:
                said = int(text.strip())
            except ValueError:
                raise DataError(Problem(
                    "the trailer's record count is not a whole number: the file cannot be "
                    "checked", line=line, field=kind.count_label, value=text,
                    file=self.file_name)) from None
            if said != self.details:
                raise DataError(Problem(
                    f"the trailer counts {said} detail records, {self.details} were found"
                    f"{since}: the file is "
                    + ("incomplete" if said > self.details else "not the one it describes"),
                    line=line, field=kind.count_label, value=text, file=self.file_name))
        self.header_line = None
        self.values, self.errors, self.details, self.open_since = {}, [], 0, None

    def end(self) -> None:
        self._close_header()
        if self.trailer_code is not None and self.open_since is not None:
            raise DataError(Problem(
                f"the file ends without the {self.trailer_code} trailer record of the "
                f"records from line {self.open_since}: the file is incomplete",
                line=self.open_since, file=self.file_name))

    def _close_header(self) -> None:
        """A bad header with no detail under it is reported on its own line."""
        if self.errors and not self.details:
            for p in self.errors:
                self.problems.append(p)
        self.errors = []
