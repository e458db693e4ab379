"""Deliver: outputs go to their endpoint under a temporary name, then are renamed.

States make a crash at any point repeatable without a second copy: PENDING → (temp file
written and durable) STAGED → (renamed, durable) DELIVERED. On restart a STAGED output
whose temp file is gone was renamed already; one whose temp file is there is renamed now.
Deliveries to one endpoint keep their order: the first failure stops that endpoint's
queue for this round.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ..errors import HostKeyError, TransientError, UsageError
from ..model import Direction, ExchangeState
from ..store.atomic import crash_point
from ..store.ledger import Exchange
from .context import Context

log = logging.getLogger("gateway.deliver")


@dataclass
class DeliveryReport:
    delivered: list[int] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # endpoint → error
    reached: set[str] = field(default_factory=set)  # endpoints that took every delivery
    refused: dict[str, str] = field(default_factory=dict)  # endpoint → host key problem


def deliver_pending(ctx: Context, *, skip: set[str] | None = None, only: str | None = None
                    ) -> DeliveryReport:
    """Deliver waiting outputs, oldest first per endpoint (``only``: one endpoint)."""
    report = DeliveryReport()
    queues: dict[str, list[Exchange]] = {}
    for x in ctx.ledger.undelivered():
        queues.setdefault(x.endpoint, []).append(x)
    for endpoint, queue in queues.items():
        if (skip and endpoint in skip) or (only is not None and endpoint != only):
            continue
        try:
            done = _deliver_queue(ctx, endpoint, queue)
            report.delivered += done
            if len(done) == len(queue):
                report.reached.add(endpoint)
        except TransientError as exc:
            report.failed[endpoint] = str(exc)
            log.warning("endpoint %s: %s; will retry", endpoint, exc)
        except HostKeyError as exc:
            report.failed[endpoint] = report.refused[endpoint] = str(exc)
            log.error("endpoint %s: %s", endpoint, exc)
    return report


def _deliver_queue(ctx: Context, endpoint: str, queue: list[Exchange]) -> list[int]:
    transport = ctx.transport(endpoint)
    # staged before a crash: renamed first (a temp file gone means it was renamed already)
    staged = [x for x in queue if x.state is ExchangeState.STAGED]
    new: list[Exchange] = []
    try:
        for x in queue:
            if x.state is not ExchangeState.PENDING:
                continue
            try:
                with ctx.archive.open(x.sha256) as src:
                    transport.stage(x.file_name, src, x.size)
            except TransientError as exc:
                with ctx.ledger.transaction():
                    ctx.ledger.update(x.id, attempts=x.attempts + 1, last_error=str(exc))
                if not staged and not new:
                    raise
                break  # deliver what is ahead of it, keep the order
            new.append(x)
            crash_point("deliver.staged_one")
        transport.make_durable([x.file_name for x in new])
    except BaseException:
        transport.discard([x.file_name for x in new])  # not STAGED yet: only litter
        raise
    with ctx.ledger.transaction():
        ctx.ledger.set_states([x.id for x in new], ExchangeState.STAGED,
                              f"written to {transport.describe()} under a temporary name",
                              expected=ExchangeState.PENDING)
    crash_point("deliver.staged")
    staged += new
    transport.publish([x.file_name for x in staged])  # on failure temps stay for next round
    crash_point("deliver.renamed")
    with ctx.ledger.transaction():
        ctx.ledger.set_states([x.id for x in staged], ExchangeState.DELIVERED,
                              f"renamed into place in {transport.describe()}",
                              expected=ExchangeState.STAGED, last_error=None)
    for x in staged:
        log.info("%s: %s delivered to %s", x.channel, x.file_name, transport.describe())
    return [x.id for x in staged]


def retry(ctx: Context, xid: int) -> DeliveryReport:
    """Deliver a waiting output now, whatever the backoff said (``deliveries retry``)."""
    x = ctx.ledger.get(xid)
    if x is None or x.direction is not Direction.OUT:
        raise UsageError(f"no output with id {xid}", hint="'gateway deliveries list' shows them")
    if x.state not in (ExchangeState.PENDING, ExchangeState.STAGED):
        raise UsageError(f"output {xid} is {x.state}; only waiting outputs are retried",
                         hint=f"'gateway deliveries resend {xid}' sends a delivered one again")
    with ctx.ledger.transaction():
        ctx.ledger.update(xid, attempts=0, last_error=None)
    return deliver_pending(ctx)


def resend(ctx: Context, xid: int) -> tuple[list[int], DeliveryReport]:
    """Send delivered outputs again (the partner lost them): of one output, or every output
    of an input exchange. Each resend is a new output linked to the first, same bytes."""
    x = ctx.ledger.get(xid)
    if x is None:
        raise UsageError(f"no exchange with id {xid}", hint="'gateway archive list' shows ids")
    outputs = [x] if x.direction is Direction.OUT else ctx.ledger.outputs_of(xid)
    delivered = [o for o in outputs if o.state is ExchangeState.DELIVERED]
    if not delivered:
        raise UsageError(f"exchange {xid} has no delivered output to send again",
                         hint="waiting outputs are retried with 'gateway deliveries retry'")
    with ctx.ledger.transaction():
        new = [ctx.ledger.add_exchange(
            direction=Direction.OUT, channel=o.channel, endpoint=o.endpoint,
            file_name=o.file_name, size=o.size, sha256=o.sha256, state=ExchangeState.PENDING,
            kind=o.kind, document=o.document, source_id=o.source_id, parent_id=o.id,
            reason=f"resend of output {o.id} asked by an operator") for o in delivered]
    return new, deliver_pending(ctx)
