"""Delimited text, read as bytes line by line so that every row keeps its line number.

Decoding happens per line: a byte that the declared encoding cannot decode is reported on
its own line instead of stopping the whole file, and a file that declares a legacy
single-byte encoding but is really UTF-8 is caught instead of imported as mojibake.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import itertools
import re
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import BinaryIO, NamedTuple

from ..errors import DataError, Problem

BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"))
_SINGLE_BYTE = {"cp1252", "latin-1", "iso8859-1", "iso8859-15", "cp850", "ascii"}
BLOCK_CHARS = 1 << 19
_UNDECODED = re.compile("[\udc80-\udcff]")  # bytes the codec could not decode
DEFAULT_MAX_LINE = 1 << 20
# the longest line the channel being read accepts (``max_line``); the transform sets it
# around each file, so that every line reader (CSV, fixed width, multi-record) obeys it
LINE_LIMIT: ContextVar[int] = ContextVar("line_limit", default=DEFAULT_MAX_LINE)


@dataclass(frozen=True)
class CsvOptions:
    delimiter: str = ";"
    quotechar: str = '"'
    encoding: str = "utf-8"
    header: bool = True
    strict_columns: bool = False
    line_terminator: str = "\r\n"
    decimal_separator: str = "."
    neutralise_formulas: bool = True  # writers: cells a spreadsheet would run, made text


def _normalise(encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        return encoding


class Block(NamedTuple):
    """Consecutive rows, one per line from ``first`` on, all as wide as the header."""

    first: int
    rows: list[list[str]]


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
        self.max_line = LINE_LIMIT.get()
        self._dropped: set[int] = set()  # lines left out, already reported

    @property
    def dropped(self) -> bool:
        """Were lines left out (each reported)?"""
        return bool(self._dropped)

    def was_dropped(self, line: int) -> bool:
        """Was this line left out (what ``_lines`` gave for it only stands in for it)?"""
        return line in self._dropped

    def _lines(self) -> Iterator[str]:
        """Decoded lines; ASCII lines (most of a file) take the fast path in C."""
        return itertools.chain.from_iterable(self._decoded_blocks())

    def _decoded_blocks(self) -> Iterator[list[str]]:
        """The decoded lines a block at a time (``_blocks``)."""
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
            yield from self._blocks(text_stream, encoding, single_byte)
        finally:
            if not self.src.closed:  # abandoned after its owner closed the file: nothing to do
                text_stream.detach()

    def _blocks(self, text_stream: io.TextIOWrapper, encoding: str, single_byte: bool
                ) -> Iterator[list[str]]:
        """Lists of lines, a block of about half a megabyte at a time.

        A block with no NUL, no undecodable byte and no stray byte order mark (almost
        every block) is passed on as it is: the checks run in C over the whole block.
        Only a block where one of them hits is looked at line by line.
        """
        lineno = 0
        utf8_seq, suspect = (_utf8_sequences(encoding) if single_byte
                             else (None, _UNDECODED))
        while block := text_stream.read(BLOCK_CHARS):
            # blocks end at a line end, or past the limit; a CR the read stopped at may be
            # the first half of a CRLF: readline takes its LF, so no block starts with one
            if not block.endswith("\n"):
                block += text_stream.readline(self.max_line + 1)
            lines = list(io.StringIO(block, newline=""))
            first = lineno + 1
            lineno += len(lines)
            # only a block longer than max_line can hold a line that is too long
            too_long = self._too_long(lines) if len(block) > self.max_line else None
            if not lines[-1].endswith(("\n", "\r")):
                self.unterminated_line = lineno
            ascii_block = block.isascii()
            if not ascii_block and single_byte and not self._checked_utf8:
                # the lines before a line too long: the file is refused for what comes first
                for i, text in enumerate(lines[:too_long]):
                    if not text.isascii() and "ï»¿" not in text:  # a BOM is reported below
                        self._check_not_utf8(text.encode(encoding, "surrogateescape"), text,
                                             first + i)
                        break
            if too_long is not None:
                self._refuse_long(lines[too_long], first + too_long)
            if "\x00" not in block and (ascii_block or not (
                    "\ufeff" in block or "ï»¿" in block or (suspect.search(block) and (
                        _UNDECODED.search(block)
                        or (utf8_seq is not None and utf8_seq.search(block)))))):
                yield lines
                continue
            yield [self._check_line(text, first + i, encoding, utf8_seq)
                   for i, text in enumerate(lines)]

    def _too_long(self, lines: list[str]) -> int | None:
        """The index of the first line over the channel's ``max_line``, if any."""
        return next((i for i, text in enumerate(lines) if len(text) > self.max_line), None)

    def _refuse_long(self, text: str, lineno: int) -> None:
        """A line over the channel's ``max_line`` refuses the whole file: it is garbage or
        an attack on memory, and what follows it cannot be trusted to be lines."""
        raise DataError(Problem(
            f"line is longer than {self.max_line} characters, this channel's max_line; "
            "the file is refused", line=lineno, file=self.file_name, value=text[:40]))

    def _problem(self, message: str, line: int, column: int | None = None) -> None:
        self.problems.append(Problem(message, line=line, file=self.file_name, column=column))

    def _check_line(self, text: str, lineno: int, encoding: str,
                    utf8_seq: re.Pattern[str] | None = None) -> str:
        """One line of a suspicious block: the line itself, or what stands for it when it
        must be left out (``_drop``)."""
        if "\x00" in text:
            return self._drop(text, lineno, "NUL byte in line: binary data or UTF-16 text")
        if _UNDECODED.search(text):
            raw = text.encode(encoding, "surrogateescape")
            try:
                raw.decode(encoding)
            except UnicodeDecodeError as exc:
                return self._drop(text, lineno, f"byte 0x{raw[exc.start]:02x} at column "
                                  f"{exc.start + 1} is not valid {self.options.encoding}",
                                  exc.start + 1)
        if "\ufeff" in text or "ï»¿" in text:
            return self._drop(text, lineno, "byte order mark in the middle of the file "
                              "(two files joined?)")
        if utf8_seq is not None and utf8_seq.search(text):
            try:
                text.encode(encoding, "surrogateescape").decode("utf-8")
            except UnicodeDecodeError:
                return text  # accented text of the declared code page
            return self._drop(text, lineno, f"line is UTF-8 encoded, the file "
                              f"{self.options.encoding} (mixed encodings); it would be read "
                              "garbled")
        return text

    def _drop(self, text: str, lineno: int, message: str, column: int | None = None) -> str:
        """Report a line and leave it out. What the parser gets instead keeps its quote
        characters, so that a quoted field it closes (or opens) still ends where it did:
        the rows after it are read as they were written, and the row it was part of is
        left out whole (``rows``) without a second problem."""
        self._problem(message, lineno, column)
        self._dropped.add(lineno)
        ending = text[len(text.rstrip("\r\n")):]
        return self.options.quotechar * text.count(self.options.quotechar) + ending

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
        return self._rows(self._lines(), 0)

    def blocks(self) -> Iterator[Block | Row]:
        """``rows``, a block at a time where the block is plain: a ``Block`` of ended
        lines, each one row of as many fields as the header. Every
        other row comes as the ``Row`` that ``rows`` gives for it.

        A block without the quote character holds one row per line (no field spans
        lines), so the C parser reads it whole. From the first block with one on, rows
        are read one by one, as ``rows`` does."""
        o = self.options
        blocks = self._decoded_blocks()
        lineno = 0
        while True:
            dropped = len(self._dropped)
            lines = next(blocks, None)
            if lines is None:
                return
            first = lineno + 1
            lineno += len(lines)
            if not o.quotechar or o.quotechar in "".join(lines):
                yield from self._rows(itertools.chain(lines,
                                                      itertools.chain.from_iterable(blocks)),
                                      first - 1)
                return
            plain = (self.header is not None and len(self._dropped) == dropped
                     and not first <= (self.unterminated_line or 0) <= lineno)
            if plain:
                try:
                    parsed = list(csv.reader(lines, delimiter=o.delimiter,
                                             quotechar=o.quotechar, strict=True))
                except csv.Error:
                    plain = False
            if plain and set(map(len, parsed)) == {len(self.header or ())}:
                yield Block(first, parsed)
            else:
                yield from self._rows(iter(lines), first - 1)

    def _rows(self, lines: Iterator[str], before: int) -> Iterator[Row]:
        """The rows of ``lines``, the first of which is line ``before + 1``."""
        o = self.options
        reader = csv.reader(lines, delimiter=o.delimiter, quotechar=o.quotechar,
                            strict=True)
        last_line = before
        while True:
            try:
                for values in reader:
                    line = last_line + 1
                    last_line = reader.line_num + before
                    if not values or (len(values) == 1 and values[0] == ""):
                        continue  # blank line, or an undecodable one already reported
                    if self._dropped and any(n in self._dropped
                                             for n in range(line, last_line + 1)):
                        continue  # holds a line left out: reported there
                    if self.header is None and o.header:
                        self.header = [v.strip() for v in values]
                        continue
                    yield (line, values, self.unterminated_line != last_line)  # a Row
                return
            except csv.Error as exc:
                self.problems.append(Problem(f"malformed CSV: {exc}",
                                             line=reader.line_num + before,
                                             file=self.file_name))
                last_line = reader.line_num + before


@functools.cache
def _utf8_sequences(encoding: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """What UTF-8 multi-byte sequences look like once decoded in a single-byte code page
    (``Ã©`` for ``é`` in cp1252): a line of a legacy file written in UTF-8 by mistake.
    Second, the quick test a block passes first: a UTF-8 continuation byte or an
    undecodable one. Legacy text rarely has either, so most blocks stop there."""
    def chars(lo: int, hi: int) -> str:
        return re.escape(bytes(range(lo, hi)).decode(encoding, "surrogateescape"))
    lead2, lead3, lead4 = chars(0xC2, 0xE0), chars(0xE0, 0xF0), chars(0xF0, 0xF5)
    cont = chars(0x80, 0xC0)
    return (re.compile(f"[{lead2}][{cont}]|[{lead3}][{cont}]{{2}}|[{lead4}][{cont}]{{3}}"),
            re.compile(f"[\udc80-\udcff{cont}]"))


# A cell a spreadsheet would run as a formula when the shop's operator opens the file:
# '=', '+', '-', '@' first, or a tab or CR before one of them. Numbers (-5, +1.5, 1E30)
# and phone numbers (+33 6 12 34 56 78) only use digits, spaces and . , / ( ) + -, which
# cannot call a function or reach another cell or program: they are left as they are.
_FORMULA_START = "=+-@\t\r"
_HARMLESS = re.compile(r"[+-][\d\s.,/()+-]*|[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+")
_SEP = "\x1f"
_FORMULA_IN_ROW = re.compile(f"{_SEP}[{re.escape(_FORMULA_START)}]")  # a literal first: fast


def neutralise(cell: str) -> str:
    """The cell as text a spreadsheet shows instead of running (a leading ``'``)."""
    if cell[:1] in ("+", "-") and _HARMLESS.fullmatch(cell):
        return cell
    return "'" + cell


def _neutralised(rows: list[list[str]]) -> list[list[str]]:
    """``rows`` with their formula cells neutralised. The common case, no cell starting
    with a trigger, is one join and one regex search in C per batch."""
    try:
        joined = _SEP.join(map(_SEP.join, rows))
    except TypeError:  # a cell that is not text (a number) cannot be a formula
        joined = _SEP.join(_SEP.join(map(str, r)) for r in rows)
    if not (joined[:1] in _FORMULA_START and joined) and not _FORMULA_IN_ROW.search(joined):
        return rows
    return [[neutralise(c) if c.__class__ is str and c[:1] in _FORMULA_START and c
             else c for c in row] for row in rows]


class CsvRowWriter:
    """Writes rows to a binary sink in the mapping's encoding and line terminator; cells
    a spreadsheet would run as formulas are written as text (``neutralise_formulas``)."""

    def __init__(self, sink: BinaryIO, options: CsvOptions) -> None:
        self._text = io.TextIOWrapper(sink, encoding=options.encoding, newline="",  # type: ignore[arg-type]
                                      errors="strict", write_through=False)
        self._writer = csv.writer(self._text, delimiter=options.delimiter,
                                  quotechar=options.quotechar,
                                  lineterminator=options.line_terminator,
                                  quoting=csv.QUOTE_MINIMAL)
        self._neutralise = options.neutralise_formulas

    def write(self, values: list[str]) -> None:
        self._writer.writerow(_neutralised([values])[0] if self._neutralise else values)

    def write_many(self, rows: list[list[str]]) -> None:
        self._writer.writerows(_neutralised(rows) if self._neutralise else rows)

    def close(self) -> None:
        self._text.flush()
        self._text.detach()
