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

from ..errors import TransientError
from ..model import ExchangeState
from ..store.atomic import crash_point
from ..store.ledger import Exchange
from .context import Context

log = logging.getLogger("gateway.deliver")


@dataclass
class DeliveryReport:
    delivered: list[int] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # endpoint → error
    reached: set[str] = field(default_factory=set)  # endpoints that took every delivery


def deliver_pending(ctx: Context, *, skip: set[str] | None = None) -> DeliveryReport:
    report = DeliveryReport()
    queues: dict[str, list[Exchange]] = {}
    for x in ctx.ledger.undelivered():
        queues.setdefault(x.endpoint, []).append(x)
    for endpoint, queue in queues.items():
        if skip and endpoint in skip:
            continue
        try:
            done = _deliver_queue(ctx, endpoint, queue)
            report.delivered += done
            if len(done) == len(queue):
                report.reached.add(endpoint)
        except TransientError as exc:
            report.failed[endpoint] = str(exc)
            log.warning("endpoint %s: %s; will retry", endpoint, exc)
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
        for x in new:
            ctx.ledger.set_state(x.id, ExchangeState.STAGED,
                                 f"written to {transport.describe()} under a temporary name")
    crash_point("deliver.staged")
    staged += new
    transport.publish([x.file_name for x in staged])  # on failure temps stay for next round
    crash_point("deliver.renamed")
    with ctx.ledger.transaction():
        for x in staged:
            ctx.ledger.set_state(x.id, ExchangeState.DELIVERED,
                                 f"renamed into place in {transport.describe()}",
                                 last_error=None)
    for x in staged:
        log.info("%s: %s delivered to %s", x.channel, x.file_name, transport.describe())
    return [x.id for x in staged]
