"""Fixed width text: each field at a documented position of the line (legacy layouts).

Lines are decoded one by one as CSV files are (``CsvRowReader``): the same byte order
mark detection and the same located problems for undecodable bytes, NULs and a UTF-8 file
declared in a legacy code page. Positions count characters, which in the single-byte code
pages of legacy ERPs are their bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from ..errors import Problem
from .csv import CsvOptions, CsvRowReader


@dataclass(frozen=True)
class FixedOptions:
    encoding: str = "utf-8"
    skip_lines: int = 0     # header lines before the first record


def span_label(start: int, length: int) -> str:
    """What a problem calls a field at 1-based ``start``: ``column 5``, ``columns 40-49``."""
    return f"column {start}" if length == 1 else f"columns {start}-{start + length - 1}"


class FixedLineReader:
    """Yields ``(line, text, terminated)`` for each non-empty line, its line end removed."""

    def __init__(self, src: BinaryIO, options: FixedOptions, file_name: str,
                 problems: Any = None) -> None:
        self.options = options
        self._decoder = CsvRowReader(src, CsvOptions(encoding=options.encoding), file_name,
                                     problems)

    def rows(self) -> Iterator[tuple[int, str, bool]]:
        skip = self.options.skip_lines
        # the CSV reader's decoded lines; an undecodable one is left out (reported there)
        decoder = self._decoder
        for line, text in enumerate(decoder._lines(), 1):
            if line <= skip or (decoder.dropped and decoder.was_dropped(line)):
                continue
            body = text.rstrip("\r\n")
            if body:
                yield line, body, len(body) != len(text)


def short_line_guard(fields: list[tuple[str, int, int, str]]) -> tuple[str, Any]:
    """The check that a line is long enough for every field: ``(name, start, length,
    label)``. A short line is reported once per field it cuts, then dropped."""
    needed = max(start + length - 1 for _, start, length, _ in fields)

    def report(line: int, text: str, terminated: bool, problems: Any, file_name: str
               ) -> None:
        for name, start, length, label in fields:
            if start + length - 1 > len(text):
                where = span_label(start, length).replace("column", "needs column", 1)
                msg = f"line is {len(text)} characters long, field {name} {where}"
                if not terminated:
                    msg += "; the last line is cut short (file truncated?)"
                problems.append(Problem(msg, line=line, field=label, file=file_name))
    return f"len(values) < {needed}", report
