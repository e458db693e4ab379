"""Transform: received exchange → mapped, validated records → flow → outputs and ack.

One exchange is processed inside one ledger savepoint: its stock positions, its outputs
(recorded PENDING), its ack and its final state are committed together, after the output
bytes are durable in the archive. A crash before the commit leaves the exchange RECEIVED,
and the next run produces the same outputs again, once.
"""

from __future__ import annotations

import gc
import logging
from collections import deque
from collections.abc import Callable, Generator, Iterator
from contextlib import closing, contextmanager, nullcontext
from datetime import UTC, datetime
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

from ..config import Channel
from ..documents import document
from ..errors import DataError, Problem, TransientError
from ..flows import FlowRun, flow_for
from ..formats.csv import LINE_LIMIT
from ..formats.edi import TOLERANCE, Tolerance
from ..mapping.columns import ColumnBatch, columnar
from ..mapping.loader import Mapping, load_mapping, load_output_mapping
from ..mapping.reader import ProblemSink, Record, read_records
from ..mapping.ediwriter import Envelope
from ..mapping.writer import RecordWriter
from ..model import AckResult, Direction, ExchangeState, ExportScope, OutputKind, PublishMode
from ..store.archive import Blob, BlobWriter
from ..store.atomic import DurableBatch, crash_point
from ..store.ledger import Exchange
from ..transports.base import escape_controls
from ..validate.csvstream import batches as csv_batches, open_csv_stream
from ..validate.distinct import DistinctChecker
from ..validate.xsd import CheckedChunk, ChunkValidator, validation_pool
from . import edi_ack
from .acknowledge import build_ack
from .context import Context
from .publish import Publisher

log = logging.getLogger("gateway.transform")

CHUNK = 2000
IN_FLIGHT = 2
PARALLEL_FROM_BYTES = 4 * 1024 * 1024  # smaller files: a worker process costs more than it saves
MAX_ATTEMPTS = 3
YOUNG_COLLECTION = 50_000  # allocations between collections while a large file is read

Chunk = list[tuple[int, Record]]
ProgressFn = Callable[[int], None]
Writers = list[tuple[Channel, Mapping, BlobWriter, RecordWriter]]


@dataclass
class Outcome:
    exchange_id: int
    result: AckResult
    total: int = 0
    accepted: int = 0
    rejected: int = 0
    ignored: int = 0
    problems: ProblemSink = field(default_factory=ProblemSink)
    outputs: list[tuple[str, str, Blob]] = field(default_factory=list)
    note: str | None = None
    duplicate_of: int | None = None
    publishers: dict[str, Publisher] = field(default_factory=dict)
    written: dict[str, int] = field(default_factory=dict)  # records per output channel
    items: list[tuple[str, str, str | None]] = field(default_factory=list)  # per order
    edi: edi_ack.Received | None = None  # an EDI input: its interchanges, for CONTRL/997


class _Rejected(Exception):
    """Unwinds the savepoint of a rejected file: nothing it applied survives."""


def valid_chunks(mapping: Mapping, validator: ChunkValidator, src: Any, file_name: str,
                 problems: ProblemSink, *, max_records: int | None = None,
                 by_column: bool = False) -> Iterator[CheckedChunk]:
    """Stream the file as chunks of records that passed the mapping and the XSD.

    Up to ``IN_FLIGHT`` chunks are being checked while the next ones are mapped, so that a
    validator with a worker process runs on the second core. A file with more than
    ``max_records`` records is refused whole (counted per chunk, off the hot loop).
    ``by_column``: a large flat CSV file is read and checked by column when its mapping
    and schema allow (``mapping/columns.py``, ``validate/distinct.py``).
    """
    pending: deque[Callable[[], CheckedChunk]] = deque()
    chunk: Chunk = []
    # the XSD names canonical elements; the sender knows the columns of its own file
    labels = {f.name: ", ".join(g.label for g in mapping.fields if g.name == f.name)
              for f in mapping.fields}  # a field from several places (languages) names all
    for group in mapping.groups:  # an order line's quantity: the sender's column for it
        for f in group.fields:
            labels.setdefault(f.name, f.label)
    seen = 0
    skip = 0
    if by_column and columnar(mapping) and validator.by_value:
        yield from _column_chunks(mapping, validator, src, file_name, problems, labels,
                                  max_records)
        return
    stream = validator.stream(mapping, src, file_name) if validator.pool is not None else None
    if stream is not None:
        with stream:
            def mapped() -> Iterator[tuple[int, list[int], CheckedChunk]]:
                for position, rows in stream.batches():
                    batch = list(stream.mapper(rows, problems, file_name))
                    yield (position, [line for line, _ in batch],
                           validator.checked_whole(batch, file_name))
            seen = yield from _handed_over(mapped(), problems, labels, max_records,
                                           file_name)
        if stream.fallback_from is None:
            return
        skip = stream.fallback_from
    for item in read_records(mapping, src, file_name, problems, skip=skip):
        chunk.append(item)
        if len(chunk) >= CHUNK:
            seen = _count([line for line, _ in chunk], seen, max_records, file_name)
            pending.append(validator.submit(chunk, file_name))
            chunk = []
            if len(pending) > IN_FLIGHT:
                yield _collect(pending.popleft(), problems, labels)
    if chunk:
        _count([line for line, _ in chunk], seen, max_records, file_name)
        pending.append(validator.submit(chunk, file_name))
    while pending:
        yield _collect(pending.popleft(), problems, labels)


def _column_chunks(mapping: Mapping, validator: ChunkValidator, src: Any, file_name: str,
                   problems: ProblemSink, labels: dict[str, str], max_records: int | None
                   ) -> Iterator[CheckedChunk]:
    """``valid_chunks`` of a file read by column, by a worker process (``csvstream``);
    what it did not send is read here, from the first batch it did not."""
    seen = 0
    skip = 0
    stream = open_csv_stream(mapping, validator, src, file_name)
    if stream is not None:
        with stream:
            # the batches' new values are checked here (no worker: the other core reads)
            checker = DistinctChecker(ChunkValidator(validator.doc, validator.schemas_dir),
                                      file_name)
            seen = yield from _handed_over(stream.batches(problems, checker), problems,
                                           labels, max_records, file_name)
        if stream.fallback_from is None:
            return
        skip = stream.fallback_from
    for lines, checked in csv_batches(mapping, validator, src, file_name, problems,
                                      skip=skip):
        seen = _count(lines, seen, max_records, file_name)
        yield _labelled(checked, problems, labels)


def _handed_over(batches: Iterator[tuple[int, list[int], CheckedChunk]],
                 problems: ProblemSink, labels: dict[str, str], max_records: int | None,
                 file_name: str) -> Generator[CheckedChunk, None, int]:
    """The checked batches of a reading worker, each with how far into the file it
    read; returns how many records were read (what ``max_records`` counts)."""
    seen = 0
    for position, lines, checked in batches:
        seen = _count(lines, seen, max_records, file_name)
        checked.position = position
        crash_point("transform.streamed_batch")
        yield _labelled(checked, problems, labels)
    return seen


def _count(lines: list[int], seen: int, limit: int | None, file_name: str) -> int:
    """Records read so far; past the channel's ``max_records``, the file is refused at
    the line of the first record over the limit."""
    seen += len(lines)
    if limit is not None and seen > limit:
        line = lines[limit - (seen - len(lines))]
        raise DataError(Problem(f"file has more than {limit} records, this channel's "
                                "max_records; the file is refused", line=line,
                                file=file_name))
    return seen


def _collect(ticket: Callable[[], CheckedChunk], problems: ProblemSink,
             labels: dict[str, str] | None = None) -> CheckedChunk:
    return _labelled(ticket(), problems, labels)


def _labelled(checked: CheckedChunk, problems: ProblemSink,
              labels: dict[str, str] | None = None) -> CheckedChunk:
    """A checked chunk's problems into the file's, each field named as the sender's."""
    for p in checked.problems:
        if labels and p.field in labels:
            p = replace(p, field=labels[p.field])
        problems.append(p)
    return checked


def output_name(template: str, *, x: Exchange, channel: str, ext: str) -> str:
    stem = Path(x.file_name).stem or "file"
    safe_stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)[:80]
    return template.format(stem=safe_stem, ext=ext, exchange=f"{x.id:06d}", channel=channel,
                           source=x.channel)


def process(ctx: Context, x: Exchange, batch: DurableBatch, *,
            progress: ProgressFn | None = None) -> Outcome:
    """Process one received exchange inside the caller's transaction."""
    cfg = ctx.config
    channel = cfg.channel(x.channel)
    outcome = Outcome(x.id, AckResult.ACCEPTED)
    outcome.edi = _edi_received(ctx, x, channel)
    if x.parent_id is None:
        first = ctx.ledger.find_same_content(channel.name, x.sha256) if x.sha256 else None
        if first is not None and first.id != x.id:
            outcome.result = AckResult.DUPLICATE
            outcome.duplicate_of = first.id
            outcome.note = f"same content as exchange {first.id} ({first.file_name})"
            if outcome.edi is not None:
                edi_ack.mark_all(outcome.edi.interchanges, first.id)
            _finish(ctx, x, channel, outcome, batch)
            return outcome
    if outcome.edi is not None and _edi_duplicates(ctx, x, outcome):
        _finish(ctx, x, channel, outcome, batch)
        return outcome
    if not x.sha256:  # refused unread at intake: for its name (the reason is its note)…
        outcome.problems.append(Problem(
            x.note or f"file is {x.size} bytes, over this channel's limit of "  # …or size
            f"{channel.max_size} bytes; it was not read and is kept in the endpoint's "
            "quarantine folder", file=x.file_name, exchange_id=x.id))
        outcome.result = AckResult.REJECTED
    elif x.size == 0:
        outcome.problems.append(Problem("file is empty (0 bytes)", line=1, file=x.file_name))
        outcome.result = AckResult.REJECTED
    else:
        try:
            with ctx.ledger.transaction():
                _map_and_apply(ctx, x, channel, outcome, batch, progress)
                if outcome.result is AckResult.REJECTED:
                    raise _Rejected
        except _Rejected:
            outcome.outputs.clear()
    _finish(ctx, x, channel, outcome, batch)
    return outcome


def _edi_received(ctx: Context, x: Exchange, channel: Channel) -> edi_ack.Received | None:
    """An EDI input file's interchanges, read by the syntax reader before the mapping
    does: to know a duplicate interchange before applying it, and to acknowledge each."""
    if not x.sha256 or x.size == 0:
        return None
    inbound = edi_ack.Inbound.of(ctx.config, channel)
    if inbound is None:
        return None
    try:
        with ctx.archive.open(x.sha256) as src:
            return edi_ack.received(src, x.file_name, inbound)
    except FileNotFoundError as exc:
        raise TransientError(f"archived bytes of exchange {x.id} are missing: {exc}") from exc


def _edi_duplicates(ctx: Context, x: Exchange, outcome: Outcome) -> bool:
    """Interchanges received before are reported, located on their header; True when
    the file holds nothing else, so that it is not mapped at all. In a file that mixes
    them with new ones, the new ones are applied and the repeated ones' orders meet the
    order registry, which forwards none twice."""
    edi = outcome.edi
    assert edi is not None
    edi_ack.mark_duplicates(edi.interchanges, ctx.ledger.interchange_seen,
                            edi.inbound.standard, x.id)
    repeated = edi.duplicates
    for p in edi_ack.duplicate_problems(repeated, x.file_name, edi.inbound.standard):
        outcome.problems.add_file_problem(p)
    if not repeated or len(repeated) < len(edi.interchanges):
        return False
    outcome.result = AckResult.DUPLICATE
    outcome.duplicate_of = repeated[0].duplicate_of
    outcome.note = ("every interchange of the file was received before: not applied "
                    "again")
    return True


def _map_and_apply(ctx: Context, x: Exchange, channel: Channel, outcome: Outcome,
                   batch: DurableBatch, progress: ProgressFn | None) -> None:
    doc = document(channel.document)
    # a worker process (about 60 MB) pays off on flat files of millions of records; an
    # order file's time goes to the business rules, not to libxml2
    large = x.size >= PARALLEL_FROM_BYTES and not doc.groups
    pool = validation_pool() if large else None
    try:
        with _fewer_collections() if large else nullcontext():
            _stream(ctx, x, channel, outcome, batch, progress,
                    ChunkValidator(doc, ctx.config.schemas_dir, pool))
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """A large file makes millions of short-lived records, none of them in a reference
    cycle: the youngest generation is collected every 50,000 allocations rather than
    every 700 (measured: about 6 % of a million-product catalogue), then as before."""
    before = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _stream(ctx: Context, x: Exchange, channel: Channel, outcome: Outcome,
            batch: DurableBatch, progress: ProgressFn | None, validator: ChunkValidator,
            *, source: BinaryIO | None = None, keep_changes: int = 0,
            sink_factory: Callable[[], Any] | None = None, provenance: bool = True) -> None:
    cfg = ctx.config
    mapping = load_mapping(cfg, channel.mapping)
    doc = document(channel.document)
    problems = outcome.problems
    flow = flow_for(doc.name, FlowRun(ctx.ledger, x.id, x.file_name, problems,
                                      datetime.fromisoformat(x.created_at), channel, cfg))
    writers: Writers = []
    # the documents the flow produces besides its own (replenishment, back-orders) are
    # final views: written once the whole file is applied
    emitted: set[str] = set()
    outs = [(out, False) for out in cfg.outputs_for(doc.name, channel.name)]
    for other in doc.emits:
        outs += [(out, True) for out in cfg.outputs_for(other, channel.name)]
    for out, is_emitted in outs:
        m = load_output_mapping(cfg, out)
        if is_emitted:
            emitted.add(out.name)
        sink = sink_factory() if sink_factory else ctx.archive.writer(batch)
        publisher = None
        if out.publish is PublishMode.DELTA:
            publisher = Publisher(ctx.ledger, out.name, m.doc, m.view, x.id,
                                  full_export=channel.export is ExportScope.FULL,
                                  keep_changes=keep_changes)
        attributes = {"exchange": str(x.id), "source": x.file_name} if provenance else None
        writers.append((out, m, sink, RecordWriter(m, sink, attributes=attributes,
                                                   publisher=publisher,
                                                   on_problem=_output_problem(problems, x,
                                                                              out.name),
                                                   envelope=_envelope(ctx, x, out,
                                                                      provenance))))
    line_limit = LINE_LIMIT.set(channel.max_line)  # the line readers' limit, this file
    tolerance = TOLERANCE.set(Tolerance(**dict(channel.edi.tolerance)) if channel.edi
                              else Tolerance())
    try:
        with (nullcontext(source) if source is not None
              else ctx.archive.open(x.sha256)) as raw, \
                closing(valid_chunks(mapping, validator, raw, x.file_name, problems,
                                     max_records=channel.max_records,
                                     by_column=x.size >= PARALLEL_FROM_BYTES)) as chunks:
            # closed on the way out, whatever stops the loop: a reading worker stops too
            for checked in chunks:
                if progress:
                    progress(checked.position if checked.position is not None
                             else raw.tell())
                if checked.columns is not None:
                    _write_columns(checked.columns, flow, writers, emitted, outcome)
                    continue
                if not checked.valid:
                    continue
                records = [rec for _, rec in checked.valid]
                lines = [line for line, _ in checked.valid]
                outcome.accepted += len(records)
                applied = flow.apply(records, lines)
                body = checked.body if applied is records else None
                if applied is not records:
                    kept = {id(r) for r in applied}
                    lines = [ln for ln, r in zip(lines, records, strict=True) if id(r) in kept]
                _write(applied, lines, body, flow, writers, emitted)
        flow.finish()
        outcome.accepted -= flow.dropped
        if outcome.accepted > 0:
            for out, m, _sink, w in writers:
                if out.name in emitted:
                    w.write(flow.view(out.document, out))
                elif m.view not in flow.streaming_views:
                    w.write(flow.view(m.view, out))
                w.write_withdrawn()
    except DataError as exc:
        problems.add_file_problem(exc.problem)
        outcome.result = AckResult.REJECTED
    except FileNotFoundError as exc:
        raise TransientError(f"archived bytes of exchange {x.id} are missing: {exc}") from exc
    finally:
        LINE_LIMIT.reset(line_limit)
        TOLERANCE.reset(tolerance)
    outcome.rejected = problems.rows_rejected
    outcome.total = outcome.accepted + outcome.rejected
    outcome.ignored = flow.ignored
    outcome.items = flow.items
    notes = [flow.note()] + [f"{out.name} (delta): {w.publisher.summary()}"
                             for out, _m, _s, w in writers if w.publisher is not None]
    outcome.note = "; ".join(n for n in notes if n) or None
    outcome.publishers = {out.name: w.publisher for out, _m, _s, w in writers
                          if w.publisher is not None}
    if outcome.result is not AckResult.REJECTED:
        for out, _m, _sink, w in writers:
            w.close()  # a buffered writer (EDI responses) reports what it leaves out now
            outcome.written[out.name] = w.count
        if outcome.accepted == 0:
            if not problems:
                problems.append(Problem("file has no records", line=2, file=x.file_name))
            outcome.result = AckResult.REJECTED
        elif problems:
            outcome.result = (AckResult.PARTIAL if channel.accept_partial
                              else AckResult.REJECTED)
    if outcome.result is AckResult.REJECTED:
        for _out, _m, sink, _w in writers:
            sink.abort()
        return
    for out, m, sink, w in writers:
        if w.count == 0:
            sink.abort()  # nothing for this partner (a delta with nothing new, orders
            continue      # that were all duplicates…): no empty file to import
        blob = sink.finish()
        outcome.outputs.append((out.name, output_name(out.filename, x=x, channel=out.name,
                                                      ext=m.extension), blob))


def _write(records: list[Record], lines: list[int], body: str | bytes | None, flow: Any,
           writers: Writers, emitted: set[str], count: int | None = None) -> None:
    """A chunk's records, to the writers of the flow's streaming views; a canonical
    writer takes the chunk's canonical XML as it was checked (``body``), when there is."""
    for out, m, _sink, w in writers:
        if m.view in flow.streaming_views and out.name not in emitted:
            if body is not None and _takes_body(m, w):
                w.write_canonical_body(body, len(records) if count is None else count)
            else:
                w.write(records, lines)


def _takes_body(m: Mapping, w: RecordWriter) -> bool:
    return w.is_canonical and w.publisher is None and not m.where


def _write_columns(batch: ColumnBatch, flow: Any, writers: Writers, emitted: set[str],
                   outcome: Outcome) -> None:
    """A batch read by column: applied by column where the flow can (stock); its
    records are built only for a flow or a writer that takes records, its canonical XML
    only for a writer that takes that."""
    outcome.accepted += len(batch)
    applied = flow.apply_columns(batch)
    if applied is not None:  # some rows did not go on, or went on changed
        _write(*applied, None, flow, writers, emitted)
        return
    streaming = [(m, w) for out, m, _s, w in writers
                 if m.view in flow.streaming_views and out.name not in emitted]
    body = batch.xml() if any(_takes_body(m, w) for m, w in streaming) else None
    if all(_takes_body(m, w) for m, w in streaming):
        _write([], batch.lines, body, flow, writers, emitted, count=len(batch))
    else:
        _write(batch.records(), batch.lines, body, flow, writers, emitted)


# the date of interchanges written without provenance (mapping cases): a fixed one, so
# that a case's expected output does not change with the day it runs
UNDATED = datetime(2000, 1, 1, tzinfo=UTC)


def _envelope(ctx: Context, x: Exchange, out: Channel, provenance: bool) -> Envelope | None:
    """An EDI output's envelope: the channel's ids, control numbers from the ledger (in
    this exchange's transaction) and the time its source was received, so that a file
    processed again after a crash comes out byte for byte the same."""
    if out.edi is None:
        return None
    return Envelope(out.edi, ctx.ledger.next_control_number,
                    datetime.fromisoformat(x.created_at) if provenance else UNDATED)


def _output_problem(problems: ProblemSink, x: Exchange, channel: str
                    ) -> Callable[[int | None, str, str, str], None]:
    """A value one output's mapping refuses: that record is left out of that output only,
    so the line is reported but not counted as rejected."""
    def report(line: int | None, column: str, message: str, value: str) -> None:
        problems.add_output_problem(Problem(f"{message} (left out of {channel})", line=line,
                                            field=column, value=value, file=x.file_name,
                                            exchange_id=x.id))
    return report


def _finish(ctx: Context, x: Exchange, channel: Channel, outcome: Outcome,
            batch: DurableBatch) -> None:
    """Record outputs, the ack and the final state of the exchange."""
    ledger = ctx.ledger
    problems = outcome.problems
    for out_name, file_name, blob in outcome.outputs:
        out = ctx.config.channels[out_name]
        ledger.add_exchange(direction=Direction.OUT, channel=out.name, endpoint=out.endpoint,
                            file_name=file_name, size=blob.size, sha256=blob.sha256,
                            state=ExchangeState.PENDING, kind=str(OutputKind.DOCUMENT),
                            document=out.document, source_id=x.id,
                            reason=f"produced from exchange {x.id} with mapping {out.mapping}")
    if channel.ack_endpoint:
        data = build_ack(x, outcome.result, total=outcome.total, accepted=outcome.accepted,
                         rejected=outcome.rejected, ignored=outcome.ignored,
                         problems=problems.sorted(), problem_count=problems.count,
                         duplicate_of=outcome.duplicate_of, note=outcome.note,
                         items=outcome.items)
        w = ctx.archive.writer(batch)
        w.write(data)
        blob = w.finish()
        name = output_name(channel.ack_filename, x=x, channel=channel.name, ext="xml")
        ledger.add_exchange(direction=Direction.OUT, channel=channel.name,
                            endpoint=channel.ack_endpoint, file_name=name, size=blob.size,
                            sha256=blob.sha256, state=ExchangeState.PENDING,
                            kind=str(OutputKind.ACK), document="ack", source_id=x.id,
                            reason=f"{outcome.result} acknowledgement of exchange {x.id}")
    if outcome.edi is not None:
        _finish_edi(ctx, x, channel, outcome, batch)
    # kept for the CLI: what a file quoted (junk in a header, a value) must not drive the
    # operator's terminal
    ledger.add_problems(x.id, (Problem(escape_controls(p.message), p.line, p.field,
                                       escape_controls(p.value) if p.value else p.value)
                               for p in problems.sorted()))
    state = {AckResult.DUPLICATE: ExchangeState.DUPLICATE,
             AckResult.REJECTED: ExchangeState.REJECTED}.get(outcome.result,
                                                             ExchangeState.PROCESSED)
    reason = f"{outcome.result}: {outcome.accepted} record(s) accepted"
    if problems.count:
        reason += f", {problems.count} error(s)"
    if outcome.duplicate_of:
        reason = f"duplicate of exchange {outcome.duplicate_of}"
    ledger.set_state(x.id, state, reason, result=str(outcome.result),
                     records_total=outcome.total, records_accepted=outcome.accepted,
                     records_rejected=outcome.rejected, note=_note(outcome, problems))
    log.info("exchange %d (%s): %s", x.id, x.file_name, reason)
    if x.parent_id is not None:
        ledger.set_state(x.parent_id, ExchangeState.REPROCESSED,
                         f"replaced by attempt {x.id} ({outcome.result})")


def _finish_edi(ctx: Context, x: Exchange, channel: Channel, outcome: Outcome,
                batch: DurableBatch) -> None:
    """An EDI input's interchanges remembered (when applied) and its CONTRL or 997 and
    APERAK recorded beside the XML acknowledgement, in the exchange's transaction: their
    control numbers commit with them, and a crash before the commit gives the same files."""
    edi = outcome.edi
    assert edi is not None
    ledger = ctx.ledger
    applied = outcome.result in (AckResult.ACCEPTED, AckResult.PARTIAL)
    standard = edi.inbound.standard
    if applied:
        edi_ack.record(edi.interchanges, ledger.record_interchange, standard, x.id)
    if not channel.ack_endpoint:
        return
    refused = {} if outcome.result is AckResult.DUPLICATE else edi_ack.refusals(
        edi.interchanges, applied=applied, items=outcome.items,
        problems=outcome.problems.items, partial=channel.accept_partial)
    for ack in edi_ack.acknowledgements(edi.interchanges, edi.inbound, applied=applied,
                                        refused=refused, allocate=ledger.next_control_number,
                                        at=datetime.fromisoformat(x.created_at)):
        w = ctx.archive.writer(batch)
        w.write(ack.data)
        blob = w.finish()
        name = output_name(f"{ack.kind}_{{stem}}_{{exchange}}.{{ext}}", x=x,
                           channel=channel.name, ext=ack.extension)
        ledger.add_exchange(direction=Direction.OUT, channel=channel.name,
                            endpoint=channel.ack_endpoint, file_name=name, size=blob.size,
                            sha256=blob.sha256, state=ExchangeState.PENDING,
                            kind=str(OutputKind.ACK), document=ack.kind.lower(),
                            source_id=x.id, reason=f"{ack.kind} of exchange {x.id}")


def _note(outcome: Outcome, problems: ProblemSink) -> str | None:
    parts = [p for p in (outcome.note,) if p]
    if problems.count > len(problems.items):
        parts.append(f"{problems.count} errors, the first {len(problems.items)} kept")
    return "; ".join(parts) or None


def transform_pending(ctx: Context, *, progress_for: Callable[[Exchange], ProgressFn | None]
                      | None = None) -> list[Outcome]:
    """Process one batch of received exchanges; one commit after the outputs are durable."""
    pending = ctx.ledger.inputs_in_state(ExchangeState.RECEIVED, ctx.config.batch_size,
                                         max_attempts=MAX_ATTEMPTS)
    if not pending:
        return []
    batch = DurableBatch()
    outcomes = []
    budget = 64 * 1024 * 1024  # bytes per commit: large files get a commit of their own
    try:
        with ctx.ledger.transaction():
            for x in pending:
                if outcomes and budget - x.size < 0:
                    break
                budget -= x.size
                try:
                    with ctx.ledger.transaction():
                        progress = progress_for(x) if progress_for else None
                        outcomes.append(process(ctx, x, batch, progress=progress))
                    crash_point("transform.processed_one")
                except (TransientError, KeyboardInterrupt):
                    raise
                except Exception as exc:  # a bug, not bad data: keep the file, say so
                    log.exception("exchange %s: processing failed", x.id)
                    ctx.ledger.update(x.id, attempts=x.attempts + 1,
                                      last_error=f"{type(exc).__name__}: {exc}")
            batch.flush()
            batch.publish()
            crash_point("transform.published")
    except BaseException:
        batch.discard()
        raise
    crash_point("transform.committed")
    return outcomes
