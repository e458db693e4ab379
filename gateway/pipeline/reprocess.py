"""Reprocess a rejected exchange: a new attempt from the archived bytes, current mappings.

The new attempt is linked to the first (``parent_id``); the first becomes REPROCESSED,
so ``rejected list`` shows only what still waits for an operator. ``dry_run`` runs the
same code inside a transaction that is rolled back, with outputs discarded.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import UsageError
from ..model import Direction, ExchangeState
from ..store.atomic import DurableBatch
from .runner import Gateway
from .deliver import deliver_pending
from .transform import Outcome, process, transform_pending


class _DryRun(Exception):
    pass


def _new_attempt(gw: Gateway, xid: int) -> int:
    ledger = gw.ctx.ledger
    x = ledger.get(xid)
    if x is None or x.direction is not Direction.IN:
        raise UsageError(f"no incoming exchange with id {xid}",
                         hint="'gateway rejected list' shows the ids")
    if x.state is not ExchangeState.REJECTED:
        raise UsageError(f"exchange {xid} is {x.state}, not REJECTED; only rejected files are "
                         "reprocessed")
    if not x.sha256 or not gw.ctx.archive.exists(x.sha256):
        raise UsageError(f"exchange {xid}: its content was not archived (refused before "
                         "reading); take the file from the endpoint's quarantine folder")
    new = ledger.add_exchange(direction=Direction.IN, channel=x.channel, endpoint=x.endpoint,
                              file_name=x.file_name, size=x.size, sha256=x.sha256,
                              document=x.document, state=ExchangeState.RECEIVED,
                              parent_id=x.id, reason=f"reprocess of exchange {x.id}")
    ledger.mark_settled(new)
    return new


def reprocess(gw: Gateway, ids: list[int], *, dry_run: bool = False,
              progress: Callable[[int], None] | None = None) -> list[Outcome]:
    """Reprocess ``ids`` in order; ``progress`` is called with the count done so far."""
    ledger = gw.ctx.ledger
    outcomes: list[Outcome] = []
    if dry_run:
        for xid in ids:
            batch = DurableBatch()
            try:
                with ledger.transaction():
                    new = _new_attempt(gw, xid)
                    x = ledger.get(new)
                    assert x is not None
                    outcomes.append(process(gw.ctx, x, batch))
                    raise _DryRun
            except _DryRun:
                pass
            finally:
                batch.discard()
            if progress:
                progress(len(outcomes))
        return outcomes
    with ledger.transaction():
        new_ids = [_new_attempt(gw, xid) for xid in ids]
    by_id: dict[int, Outcome] = {}
    wanted = set(new_ids)
    while wanted - by_id.keys():
        done = transform_pending(gw.ctx, progress_for=gw.progress_for)
        if not done:
            break  # what is left failed for a reason other than data: see its last_error
        by_id.update((o.exchange_id, o) for o in done)
        if progress:
            progress(len(wanted & by_id.keys()))
    deliver_pending(gw.ctx)
    return [by_id[n] for n in new_ids if n in by_id]
