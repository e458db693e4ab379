"""``gateway diff``: what a file would change in the shop, without any side effect.

The file goes through its channel's mapping, the XSD, the flow and every output channel
it feeds, exactly as ``gateway run`` would take it, inside a ledger transaction that is
rolled back; outputs go nowhere. Delta channels compare each row with what they published
before; a full channel keeps no such record, so for it the diff can only say how many
records it would send.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Channel, Config
from ..errors import UsageError
from ..mapping.loader import load_output_mapping
from ..model import AckResult, ChangeKind, Direction, ExchangeState, PublishMode
from ..store.archive import Blob
from ..store.atomic import DurableBatch
from ..store.ledger import Ledger
from ..validate.xsd import ChunkValidator
from ..documents import document
from .context import Context, ledger_path
from .publish import Change
from .transform import Outcome, _stream


@dataclass
class ChannelDiff:
    channel: str
    mode: PublishMode
    columns: tuple[str, ...]
    key: tuple[str, ...]
    counts: dict[ChangeKind, int] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    sent: int = 0


@dataclass
class DiffReport:
    file: str
    channel: str
    outcome: Outcome
    outputs: list[ChannelDiff]


class _NullSink(io.RawIOBase):
    """An output that goes nowhere: a diff writes nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.size += len(data)
        return len(data)

    def abort(self) -> None:
        pass

    def finish(self) -> Blob:
        return Blob("", self.size)


class _Rollback(Exception):
    pass


def dry_run(cfg: Config, ledger: Ledger, channel: Channel, path: Path, *, keep: int = 0,
            sink_factory: Callable[[], Any] = _NullSink, provenance: bool = True,
            commit: bool = False) -> Outcome:
    """Take ``path`` as ``channel`` would, in a ledger transaction that is rolled back
    (or committed, for the context files of a mapping test); outputs go to the sinks."""
    doc = document(channel.document)
    outcome = Outcome(0, AckResult.ACCEPTED)
    ctx = Context(cfg, ledger, archive=None)  # type: ignore[arg-type]
    try:
        with ledger.transaction():
            xid = ledger.add_exchange(
                direction=Direction.IN, channel=channel.name, endpoint=channel.endpoint,
                file_name=path.name, size=path.stat().st_size, sha256="",
                state=ExchangeState.RECEIVED, document=doc.name, reason="dry run")
            x = ledger.get(xid)
            assert x is not None
            outcome.exchange_id = xid
            with path.open("rb") as src:
                _stream(ctx, x, channel, outcome, DurableBatch(), None,
                        ChunkValidator(doc, cfg.schemas_dir), source=src, keep_changes=keep,
                        sink_factory=sink_factory, provenance=provenance)
            if not commit:
                raise _Rollback
    except _Rollback:
        pass
    return outcome


def diff_file(cfg: Config, channel_name: str, path: Path, *, keep: int = 1000) -> DiffReport:
    channel = cfg.channels.get(channel_name)
    if channel is None or channel.direction is not Direction.IN:
        raise UsageError(f"no input channel named {channel_name!r}",
                         hint="input channels: " + ", ".join(c.name for c in cfg.inputs()))
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    lp = ledger_path(cfg)
    ledger = Ledger(lp) if lp.exists() else Ledger(Path(":memory:"))
    try:
        outcome = dry_run(cfg, ledger, channel, path, keep=keep)
    finally:
        ledger.close()
    doc = document(channel.document)
    report = DiffReport(str(path), channel.name, outcome, [])
    for out in cfg.outputs_for(doc.name, channel.name):
        m = load_output_mapping(cfg, out)
        d = ChannelDiff(out.name, out.publish, tuple(c.name for c in m.columns),
                        doc.key_of(m.view), sent=outcome.written.get(out.name, 0))
        pub = outcome.publishers.get(out.name)
        if pub is not None:
            d.counts = dict(pub.counts)
            d.changes = pub.changes
        report.outputs.append(d)
    return report
