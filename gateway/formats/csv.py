"""Delimited text, read as bytes line by line so that every row keeps its line number.

Decoding happens per line: a byte that the declared encoding cannot decode is reported on
its own line instead of stopping the whole file, and a file that declares a legacy
single-byte encoding but is really UTF-8 is caught instead of imported as mojibake.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, NamedTuple

from ..errors import DataError, Problem

BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"))
_SINGLE_BYTE = {"cp1252", "latin-1", "iso8859-1", "iso8859-15", "cp850", "ascii"}
BLOCK_CHARS = 1 << 20
_UNDECODED = re.compile("[\udc80-\udcff]")  # bytes the codec could not decode


@dataclass(frozen=True)
class CsvOptions:
    delimiter: str = ";"
    quotechar: str = '"'
    encoding: str = "utf-8"
    header: bool = True
    strict_columns: bool = False
    line_terminator: str = "\r\n"
    decimal_separator: str = "."


def _normalise(encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        return encoding


class Row(NamedTuple):
    """One CSV record: the line it starts on, its fields, whether its line was ended."""

    line: int
    values: list[str]
    terminated: bool = True


class CsvRowReader:
    """Yields ``Row`` objects; reports undecodable lines into ``problems``."""

    def __init__(self, src: BinaryIO, options: CsvOptions, file_name: str,
                 problems: list[Problem] | None = None) -> None:
        self.src = src
        self.options = options
        self.file_name = file_name
        self.problems = problems if problems is not None else []
        self.encoding = _normalise(options.encoding)
        self.header: list[str] | None = None
        self._checked_utf8 = False
        self.unterminated_line: int | None = None

    def _lines(self) -> Iterator[str]:
        """Decoded lines; ASCII lines (most of a file) take the fast path in C."""
        head = self.src.read(4)
        encoding = self.encoding
        skip = 0
        for bom, bom_enc in BOMS:
            if head.startswith(bom):
                if bom_enc != "utf-8":
                    raise DataError(Problem(
                        f"file starts with a {bom_enc} byte order mark; "
                        f"only UTF-8 or {self.options.encoding} is accepted",
                        line=1, file=self.file_name))
                encoding, skip = "utf-8", len(bom)
                self.encoding = encoding
                break
        self.src.seek(skip)
        single_byte = encoding in {_normalise(e) for e in _SINGLE_BYTE}
        text_stream = io.TextIOWrapper(self.src, encoding=encoding,  # type: ignore[arg-type]
                                       errors="surrogateescape", newline="")
        try:
            yield from itertools.chain.from_iterable(
                self._blocks(text_stream, encoding, single_byte))
        finally:
            if not self.src.closed:  # abandoned after its owner closed the file: nothing to do
                text_stream.detach()

    def _blocks(self, text_stream: io.TextIOWrapper, encoding: str, single_byte: bool
                ) -> Iterator[list[str]]:
        """Lists of lines, a block of about a megabyte at a time.

        A block with no NUL, no undecodable byte and no stray byte order mark (almost
        every block) is passed on as it is: the checks run in C over the whole block.
        Only a block where one of them hits is looked at line by line.
        """
        lineno = 0
        while block := text_stream.read(BLOCK_CHARS):
            if not block.endswith(("\n", "\r")):
                block += text_stream.readline()  # blocks end at a line end
            lines = list(io.StringIO(block, newline=""))
            first = lineno + 1
            lineno += len(lines)
            if not lines[-1].endswith(("\n", "\r")):
                self.unterminated_line = lineno
            ascii_block = block.isascii()
            if not ascii_block and single_byte and not self._checked_utf8:
                for i, text in enumerate(lines):
                    if not text.isascii():
                        self._check_not_utf8(text.encode(encoding, "surrogateescape"), text,
                                             first + i)
                        break
            if "\x00" not in block and (ascii_block or not (
                    _UNDECODED.search(block) or "\ufeff" in block or "ï»¿" in block)):
                yield lines
                continue
            yield [self._check_line(text, first + i, encoding) for i, text in enumerate(lines)]

    def _problem(self, message: str, line: int, column: int | None = None) -> None:
        self.problems.append(Problem(message, line=line, file=self.file_name, column=column))

    def _check_line(self, text: str, lineno: int, encoding: str) -> str:
        """One line of a suspicious block: the line itself, or "" when it must be dropped."""
        if "\x00" in text:
            self._problem("NUL byte in line: binary data or UTF-16 text", lineno)
            return ""
        if _UNDECODED.search(text):
            raw = text.encode(encoding, "surrogateescape")
            try:
                raw.decode(encoding)
            except UnicodeDecodeError as exc:
                self._problem(f"byte 0x{raw[exc.start]:02x} at column {exc.start + 1} is "
                              f"not valid {self.options.encoding}", lineno, exc.start + 1)
                return ""
        if "\ufeff" in text or "ï»¿" in text:
            self._problem("byte order mark in the middle of the file (two files joined?)",
                          lineno)
            return ""
        return text

    def _check_not_utf8(self, raw: bytes, text: str, lineno: int) -> None:
        """A legacy-encoded file whose accented bytes form valid UTF-8 is really UTF-8.

        Accented text in a single-byte code page almost never forms valid multi-byte
        UTF-8 sequences, so the first non-ASCII line decides.
        """
        self._checked_utf8 = True
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return
        raise DataError(Problem(
            f"file is UTF-8 encoded but the mapping declares {self.options.encoding}",
            line=lineno, file=self.file_name, value=text.strip()[:60]))

    def rows(self) -> Iterator[Row]:
        o = self.options
        reader = csv.reader(self._lines(), delimiter=o.delimiter, quotechar=o.quotechar,
                            strict=True)
        last_line = 0
        while True:
            try:
                for values in reader:
                    line = last_line + 1
                    last_line = reader.line_num
                    if not values or (len(values) == 1 and values[0] == ""):
                        continue  # blank line, or an undecodable one already reported
                    if self.header is None and o.header:
                        self.header = [v.strip() for v in values]
                        continue
                    yield (line, values, self.unterminated_line != last_line)  # a Row
                return
            except csv.Error as exc:
                self.problems.append(Problem(f"malformed CSV: {exc}", line=reader.line_num,
                                             file=self.file_name))
                last_line = reader.line_num


class CsvRowWriter:
    """Writes rows to a binary sink in the mapping's encoding and line terminator."""

    def __init__(self, sink: BinaryIO, options: CsvOptions) -> None:
        self._text = io.TextIOWrapper(sink, encoding=options.encoding, newline="",  # type: ignore[arg-type]
                                      errors="strict", write_through=False)
        self._writer = csv.writer(self._text, delimiter=options.delimiter,
                                  quotechar=options.quotechar,
                                  lineterminator=options.line_terminator,
                                  quoting=csv.QUOTE_MINIMAL)

    def write(self, values: list[str]) -> None:
        self._writer.writerow(values)

    def write_many(self, rows: list[list[str]]) -> None:
        self._writer.writerows(rows)

    def close(self) -> None:
        self._text.flush()
        self._text.detach()
