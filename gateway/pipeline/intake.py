"""Intake: take ready files from an endpoint into the archive and the ledger.

Order of side effects (Rule 1): bytes archived and durable → exchange committed →
only then is the source removed or moved. A crash anywhere leaves the source in place or
an exchange that recovery settles; never a source gone without its bytes archived.
"""

from __future__ import annotations

import logging

from ..config import Channel
from ..errors import HostKeyError, StorageError, TransientError
from ..model import Direction, ExchangeState, SettleMode
from ..store.archive import Blob
from ..store.atomic import DurableBatch, crash_point
from ..transports.base import name_refusal
from ..transports.local import safe_name
from ..transports.readiness import Entry, Readiness
from .context import Context

log = logging.getLogger("gateway.intake")


def intake(ctx: Context, channel: Channel, readiness: Readiness) -> list[int]:
    """Take up to one batch of ready files of ``channel``; return the new exchange ids."""
    transport = ctx.transport(channel.endpoint)
    ready = readiness.observe(transport.list())
    if channel.order == "mtime":  # oldest first (the partner's clock only orders, never ages)
        ready.sort(key=lambda e: (e.mtime, e.name))
    ready = ready[: ctx.config.batch_size]  # the batch is capped after sorting
    if not ready:
        return []
    batch = DurableBatch()
    taken: list[tuple[Entry, Blob | None]] = []
    for entry in ready:
        if entry.size > channel.max_size or name_refusal(entry.name):
            taken.append((entry, None))  # refused before reading: quarantined, not archived
            continue
        try:
            with transport.open(entry.name) as fh:
                blob = ctx.archive.put_stream(fh, batch, expected_size=entry.size)
        except StorageError:  # our disk, not this file: every file would fail the same
            batch.discard()
            raise
        except TransientError as exc:
            log.warning("%s: %s: %s; will retry", channel.name, entry.name, exc)
            readiness.forget(entry.name)
            continue
        if transport.stat(entry.name) != entry:  # written to while read: not this round
            log.warning("%s: %s changed while it was read; will take it when it is stable",
                        channel.name, entry.name)
            readiness.forget(entry.name)
            continue
        taken.append((entry, blob))
    try:
        batch.flush()
        batch.publish()
    except TransientError:
        batch.discard()
        raise
    crash_point("intake.archived")
    ids: list[tuple[Entry, int, bool]] = []
    with ctx.ledger.transaction():
        for entry, blob in taken:
            name = safe_name(entry.name)
            if blob is None:
                refusal = name_refusal(entry.name)
                existing = ctx.ledger.find_identity(channel.name, name, entry.size, "")
                if existing is not None and existing.settled_at is None:
                    # refused before a crash; its name may be one recovery cannot open
                    ids.append((entry, existing.id, True))
                    continue
                xid = ctx.ledger.add_exchange(
                    direction=Direction.IN, channel=channel.name, endpoint=channel.endpoint,
                    file_name=name, size=entry.size, sha256="", document=channel.document,
                    state=ExchangeState.RECEIVED,
                    reason=f"seen in {transport.describe()}; "
                    + (f"its name {refusal}" if refusal else "over the size limit")
                    + ", not read")
                if refusal:  # what the ack says; the transform finds it here
                    ctx.ledger.update(xid, note=f"file name '{name}' {refusal}; it was not "
                                      "read and is kept in the endpoint's quarantine folder")
                log.warning("%s: %s refused unread: %s", channel.name, name,
                            f"its name {refusal}" if refusal else
                            f"{entry.size} bytes, over max_size {channel.max_size}")
                ids.append((entry, xid, True))
                continue
            existing = ctx.ledger.find_identity(channel.name, name, blob.size, blob.sha256)
            if existing is not None and existing.settled_at is None:
                ids.append((entry, existing.id, False))  # committed before a crash: settle it
                continue
            xid = ctx.ledger.add_exchange(
                direction=Direction.IN, channel=channel.name, endpoint=channel.endpoint,
                file_name=name, size=blob.size, sha256=blob.sha256, document=channel.document,
                state=ExchangeState.RECEIVED, reason=f"picked up from {transport.describe()}")
            log.info("%s: %s received as exchange %d (%d bytes)", channel.name, name, xid,
                     blob.size)
            ids.append((entry, xid, False))
    crash_point("intake.committed")
    settled = []
    for entry, xid, oversize in ids:
        current = transport.stat(entry.name)
        if current is not None and (current.size, current.mtime) != (entry.size, entry.mtime):
            log.warning("%s: %s changed after it was read; the new content is a new file",
                        channel.name, entry.name)
        else:
            mode = SettleMode.MOVE if oversize else channel.settle
            if oversize:
                transport.quarantine(entry.name, tag=str(xid))
            else:
                transport.settle(entry.name, mode, tag=str(xid),
                                 done_suffix=channel.done_suffix)
        readiness.forget(entry.name)
        settled.append(xid)
        crash_point("intake.settled_one")
    with ctx.ledger.transaction():
        for xid in settled:
            ctx.ledger.mark_settled(xid)
    return [xid for _, xid, _ in ids]


def recover(ctx: Context) -> int:
    """Settle inputs committed before a crash whose source is still in place."""
    count = 0
    for x in ctx.ledger.unsettled():
        channel = ctx.config.channels.get(x.channel)
        if channel is None or x.endpoint not in ctx.transports:
            continue
        transport = ctx.transport(x.endpoint)
        try:
            current = transport.stat(x.file_name)
            if not x.sha256:  # refused unread: its ledger name may be the escaped one
                real = x.file_name if current is not None else next(
                    (e.name for e in transport.list() if safe_name(e.name) == x.file_name),
                    None)
                if real is not None:
                    transport.quarantine(real, tag=str(x.id))
            elif current is not None and current.size == x.size:
                with transport.open(x.file_name) as fh:
                    same = ctx.archive.hash_stream(fh) == x.sha256
                if same:
                    transport.settle(x.file_name, channel.settle, tag=str(x.id),
                                     done_suffix=channel.done_suffix)
        except (TransientError, HostKeyError) as exc:
            # the endpoint is out of reach: settle when the file is seen again (intake
            # recognises it by name, size and sha256) or at the next start
            log.warning("%s: cannot settle %s yet: %s", x.channel, x.file_name, exc)
            continue
        with ctx.ledger.transaction():
            ctx.ledger.mark_settled(x.id)
        count += 1
    ctx.archive.clean_temp()
    return count
