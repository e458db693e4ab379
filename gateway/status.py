"""``gateway status``: what an operator checks first — per channel, is anything stuck?"""

from __future__ import annotations

from typing import Any

from .config import Config
from .health import read as processing_health
from .model import Direction, ExchangeState
from .pipeline.context import Context
from .transports.readiness import Readiness


def channel_status(cfg: Config) -> dict[str, dict[str, Any]]:
    ctx = Context.open(cfg)
    try:
        report: dict[str, dict[str, Any]] = {}
        health = ctx.ledger.endpoint_health()
        failures = processing_health(cfg.state_dir)
        for ch in cfg.channels.values():
            h = health.get(ch.endpoint)
            failing = failures.get("transform") or failures.get(ch.endpoint)
            stats = ctx.ledger.channel_stats(ch.name)
            counts = stats["counts"]
            undelivered = counts.get(str(ExchangeState.PENDING), 0) + counts.get(
                str(ExchangeState.STAGED), 0)
            if ch.direction is Direction.IN:
                probe = Readiness(ch.pattern, min_age=0, empty_grace=0,
                                  done_suffix=ch.done_suffix)
                transport = ctx.transport(ch.endpoint)
                waiting = sum(1 for e in transport.list() if probe.matches(e.name))
                backlog = waiting + counts.get(str(ExchangeState.RECEIVED), 0)
            else:
                backlog = undelivered
            report[ch.name] = {
                "direction": str(ch.direction),
                "endpoint": ch.endpoint,
                "document": ch.document,
                "last_file": stats["last_file"],
                "last_state": stats["last_state"],
                "last_time": stats["last_time"],
                "backlog": backlog,
                "received": sum(counts.get(str(s), 0) for s in ExchangeState
                                if s not in (ExchangeState.PENDING, ExchangeState.STAGED,
                                             ExchangeState.DELIVERED)),
                "rejected": counts.get(str(ExchangeState.REJECTED), 0),
                "duplicates": counts.get(str(ExchangeState.DUPLICATE), 0),
                "undelivered": undelivered,
                "delivered": counts.get(str(ExchangeState.DELIVERED), 0),
                "last_error": stats["last_error"] or (
                    h["last_error"] if h and not h["up"] else None),
                "endpoint_up": h["up"] if h else None,  # None: not reached yet
                "endpoint_since": h["since"] if h else None,
                "endpoint_last_error": h["last_error"] if h else None,
                # the gateway's own failures (disk full, ledger locked), being retried
                "processing_error": failing["error"] if failing else None,
                "processing_since": failing["since"] if failing else None,
            }
        return report
    finally:
        ctx.close()
