"""A large flat CSV file read and mapped by a worker process.

Reading a million-row file by column (``mapping/columns.py``) and giving each distinct
value its canonical XML element (``distinct.Elements``) is most of the work of a large
stock file; checking the new elements, applying the batch to the ledger and writing the
outputs is the rest. The two go on two cores: a worker process reads and maps the file
batch by batch and sends each batch on, while the main process checks
(``distinct.DistinctChecker``), applies and writes the batches it has.

A batch read by column crosses as its mapped columns and its distinct values' elements:
a value repeated on many rows is one object there, which pickle writes once. A batch
read row by row (anything irregular) crosses as its records, checked by the worker. The
problems the worker's reader and mapping report cross with the batch they were met in,
and are added to the file's in the main process in the same order.

If the worker stops without its last word (killed, out of memory), the main process
reads the file on itself from the first batch it did not receive: batches are cut the
same way in both, so nothing is read twice.
"""

from __future__ import annotations

import gc
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from ..documents import document
from ..errors import DataError, Problem
from ..formats.csv import LINE_LIMIT
from ..mapping.columns import ColumnBatch, read_columns
from ..mapping.loader import Mapping, load_mapping_file
from ..mapping.reader import ProblemSink
from .distinct import DistinctChecker, Elements
from .worker import WorkerPipe
from .xsd import CheckedChunk, ChunkValidator

AHEAD = 2  # batches received ahead of the main process
_DIED = object()
Call = tuple[str, Any]  # a ProblemSink method and its argument


@dataclass(frozen=True)
class Plan:
    """What the worker needs: all of it plain values, to cross to a spawned process."""

    path: str
    file_name: str
    mapping: str
    document: str
    schemas_dir: str
    max_line: int


class Recorder(ProblemSink):
    """The problems met since the last batch, as the calls that reported them."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Call] = []

    def append(self, problem: Problem) -> None:
        self.calls.append(("append", problem))

    def add_output_problem(self, problem: Problem) -> None:
        self.calls.append(("add_output_problem", problem))

    def add_file_problem(self, problem: Problem) -> None:
        self.calls.append(("add_file_problem", problem))

    def add_record_problems(self, problems: list[Problem]) -> None:
        self.calls.append(("add_record_problems", problems))

    def take(self) -> list[Call]:
        calls, self.calls = self.calls, []
        return calls


def replay(calls: list[Call], problems: ProblemSink) -> None:
    for name, arg in calls:
        getattr(problems, name)(arg)


class Switch(ProblemSink):
    """Problems kept nowhere until ``to`` is set: the batches the worker already sent
    are read again here only to reach the next one, their problems already counted."""

    def __init__(self) -> None:
        super().__init__()
        self.to: ProblemSink | None = None

    def append(self, problem: Problem) -> None:
        if self.to is not None:
            self.to.append(problem)

    def add_output_problem(self, problem: Problem) -> None:
        if self.to is not None:
            self.to.add_output_problem(problem)

    def add_file_problem(self, problem: Problem) -> None:
        if self.to is not None:
            self.to.add_file_problem(problem)

    def add_record_problems(self, problems: list[Problem]) -> None:
        if self.to is not None:
            self.to.add_record_problems(problems)


def batches(mapping: Mapping, validator: ChunkValidator, src: BinaryIO, file_name: str,
            problems: ProblemSink, *, skip: int = 0, check: bool = True
            ) -> Iterator[tuple[list[int], CheckedChunk]]:
    """The file's batches, each read (and checked) before the next is read, with the
    lines of the records it mapped (checked or not: what ``max_records`` counts).
    ``skip``: the first batches were read by the worker, read again here to reach the
    next one. ``check=False``: a batch read by column is given with its elements, to be
    checked where it is received (``CsvStream.batches``)."""
    elements = Elements(validator, [f.name for f in mapping.fields])
    checker = DistinctChecker(validator, file_name)
    switch = None
    if skip:
        switch = Switch()
        problems, sink = switch, problems
    for batch in read_columns(mapping, src, file_name, problems):
        if skip:
            skip -= 1
            if not skip and switch is not None:
                switch.to = sink
            continue
        if isinstance(batch, ColumnBatch):
            elements.attach(batch)
            yield batch.lines, (checker.submit(batch)() if check
                                else CheckedChunk([], [], None, columns=batch))
        else:
            yield [line for line, _ in batch], validator.submit(batch, file_name)()


def _encode(lines: list[int], checked: CheckedChunk) -> Any:
    """A checked batch as plain data. A batch read by column crosses as its columns: a
    value repeated on many rows is one object there (mapped once per distinct text), which
    pickle writes once and refers to after."""
    batch = checked.columns
    if batch is None:
        return ("records", lines, checked.valid, checked.problems, checked.body)
    return ("columns", batch.lines[0], len(batch), batch.mapped, batch.tag, batch.elements)


def _decode(msg: Any) -> tuple[list[int], CheckedChunk]:
    if msg[0] == "records":
        return msg[1], CheckedChunk(msg[2], msg[3], msg[4])
    _kind, first, count, mapped, tag, elements = msg
    lines = list(range(first, first + count))
    return lines, CheckedChunk([], [], None, columns=ColumnBatch(lines, {}, mapped, tag,
                                                                 elements))


def _work(plan: Plan, conn: Any) -> None:
    """The worker: ``("batch", calls, position, checked)`` per batch, then ``("end",
    calls)``, or ``("refused", calls, problem)`` when the file is refused whole."""
    LINE_LIMIT.set(plan.max_line)
    # millions of short-lived values, none in a reference cycle: the youngest generation
    # is collected every 50,000 allocations rather than every 700 (as the main process
    # does for a large file)
    gc.set_threshold(50_000, *gc.get_threshold()[1:])
    try:
        mapping = load_mapping_file(Path(plan.mapping))
        validator = ChunkValidator(document(plan.document), Path(plan.schemas_dir))
        sink = Recorder()
        with open(plan.path, "rb") as fh:
            try:
                for lines, checked in batches(mapping, validator, fh, plan.file_name,
                                              sink, check=False):
                    conn.send_bytes(pickle.dumps(("batch", sink.take(), fh.tell(),
                                                  _encode(lines, checked)), protocol=5))
            except DataError as exc:
                conn.send_bytes(pickle.dumps(("refused", sink.take(), exc.problem)))
                return
        conn.send_bytes(pickle.dumps(("end", sink.take())))
    except (BrokenPipeError, ConnectionError, EOFError):
        return  # the main process stopped reading: nothing more to do
    finally:
        conn.close()


class CsvStream(WorkerPipe):
    """The worker's side seen from the main process: checked batches, in the file's
    order, and from which batch on the file must be read here (``fallback_from``)."""

    def __init__(self, plan: Plan) -> None:
        self.received = 0
        self.fallback_from: int | None = None
        super().__init__(_work, plan, "csv-reader", AHEAD)

    def batches(self, problems: ProblemSink, checker: DistinctChecker
                ) -> Iterator[tuple[int, list[int], CheckedChunk]]:
        """``(position in the file, lines mapped, checked batch)``; the problems met
        reading each are added to ``problems`` before it is given. A batch read by column
        is checked here, by its elements (``checker``): the worker only reads."""
        while True:
            data = self.message()
            try:
                msg = pickle.loads(data) if data is not None else _DIED
            except (EOFError, ValueError, TypeError, pickle.UnpicklingError):
                msg = _DIED
            if msg is _DIED:  # ended without a last word: read on from here
                self.fallback_from = self.received
                return
            replay(msg[1], problems)
            if msg[0] == "end":
                return
            if msg[0] == "refused":
                raise DataError(msg[2])
            self.received += 1
            lines, checked = _decode(msg[3])
            if checked.columns is not None:
                checked = checker.submit(checked.columns)()
            yield msg[2], lines, checked


def open_csv_stream(mapping: Mapping, validator: ChunkValidator, src: BinaryIO,
                    file_name: str) -> CsvStream | None:
    """A worker reading ``src`` (an archived file: read again by its path), or ``None``
    when there is no path to read it by."""
    path = getattr(src, "name", None)
    if not isinstance(path, str) or not Path(path).is_file():
        return None
    return CsvStream(Plan(path, file_name, str(mapping.path), validator.doc.name,
                          str(validator.schemas_dir), LINE_LIMIT.get()))
