"""Projected stock: what the shop may still sell, and when to ask the ERP to refill.

The ERP's stock export lags behind the shop's sales. Per SKU the projection is the ERP's
quantity (summed over warehouses) minus the order lines forwarded to the ERP that its
export cannot yet reflect, minus the output channel's safety buffer, never below zero.

A line is *reflected* once the ERP confirmed it (an order-status line, accepted or
partial) at a time no later than the stock's as-of time (the oldest of the SKU's
warehouses); a blocked line never ships, so it never counts; a line the ERP never
confirmed stops counting after the gateway's ``in_flight_horizon``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from ..model import LineStatus
from ..store.ledger import Ledger

ZERO = Decimal(0)


@dataclass
class Projection:
    sku: str
    erp_quantity: Decimal
    as_of: str | None
    in_flight: list[dict[str, Any]] = field(default_factory=list)  # lines that count
    reflected: list[dict[str, Any]] = field(default_factory=list)  # lines that no longer do
    buffer: Decimal = ZERO

    @property
    def in_flight_quantity(self) -> Decimal:
        return sum((counted(line) for line in self.in_flight), ZERO)

    @property
    def available(self) -> Decimal:
        """ERP quantity minus in-flight orders (before the shop's buffer)."""
        return self.erp_quantity - self.in_flight_quantity

    @property
    def projected(self) -> Decimal:
        """What the shop is shown: never below zero."""
        return max(self.available - self.buffer, ZERO)


def counted(line: dict[str, Any]) -> Decimal:
    """The quantity of an unreflected line that will leave the ERP's stock."""
    if line.get("status") == LineStatus.PARTIAL and line.get("quantity_confirmed") is not None:
        return line["quantity_confirmed"]  # type: ignore[no-any-return]
    return line["quantity"]  # type: ignore[no-any-return]


def horizon_start(horizon_seconds: float, now: datetime | None = None) -> str:
    return ((now or datetime.now(UTC)) - timedelta(seconds=horizon_seconds)).isoformat()


def is_reflected(line: dict[str, Any], as_of: str | None) -> bool:
    at = line.get("status_at")
    return (as_of is not None and at is not None and at <= as_of
            and line.get("status") in (LineStatus.ACCEPTED, LineStatus.PARTIAL))


class Projector:
    """Projects many SKUs with one read of the in-flight order lines."""

    def __init__(self, ledger: Ledger, horizon_seconds: float, skus: Iterable[str] | None
                 = None) -> None:
        self.ledger = ledger
        self.lines = ledger.in_flight(skus, horizon_start(horizon_seconds))

    def project(self, sku: str, erp_quantity: Decimal, as_of: str | None = None,
                buffer: Decimal = ZERO) -> Projection:
        p = Projection(sku, erp_quantity, as_of, buffer=buffer)
        lines = self.lines.get(sku)
        if lines:
            if p.as_of is None:
                held = self.ledger.stock_totals([sku]).get(sku)
                p.as_of = held[1] if held else None
            for line in lines:
                (p.reflected if is_reflected(line, p.as_of) else p.in_flight).append(line)
        return p

    def project_held(self, skus: Iterable[str], buffer: Decimal = ZERO
                     ) -> Iterator[Projection]:
        """SKUs with their ERP quantity as held (0 for a SKU the ERP never sent)."""
        wanted = sorted(set(skus))
        held = self.ledger.stock_totals(wanted)
        for sku in wanted:
            qty, as_of = held.get(sku, (ZERO, None))
            yield self.project(sku, qty, as_of, buffer)


def _plain(d: Decimal) -> str:
    """``4`` rather than ``4.000000`` (the ledger's millionths) in a sentence."""
    return format(d.normalize(), "f")


@dataclass(frozen=True)
class Request:
    sku: str
    projected: Decimal
    reorder_point: Decimal
    target: Decimal
    quantity: Decimal
    reason: str
    at: datetime


def replenish(ledger: Ledger, projections: Iterable[Projection], *,
              default_point: Decimal | None, target: Decimal | None) -> Iterator[Request]:
    """One request when a SKU goes below its reorder point; none again until it has been
    back at or above the point."""
    projections = list(projections)
    points = ledger.reorder_points(p.sku for p in projections)
    now = datetime.now(UTC).replace(microsecond=0)
    for p in projections:
        point = points.get(p.sku, default_point)
        if point is None or (p.as_of is None and not p.erp_quantity):
            continue  # no reorder point, or the ERP never sent this SKU's stock
        level = p.available
        was_below = ledger.below_reorder(p.sku)
        if level < point:
            if not was_below:
                ledger.set_below_reorder(p.sku, True)
                goal = target if target is not None and target > point else point * 2
                qty = max(goal - level, ZERO)
                yield Request(p.sku, level, point, goal, qty,
                              f"projected stock {_plain(level)} fell below the reorder point "
                              f"{_plain(point)}", now)
        elif was_below:
            ledger.set_below_reorder(p.sku, False)
