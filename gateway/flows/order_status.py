"""Order status: what the ERP did with each order line, turned into back-orders.

A status names an order line the gateway forwarded (shop, number, line); one for an order
it never forwarded is a located error. Accepted and partial lines are *confirmed*: once
the ERP's stock export is newer than the confirmation, the line no longer counts against
the projected stock. A blocked line will not ship, so it stops counting at once. Blocked
and partial lines become back-orders for the shop, with reason and expected date. A status
older than the one held for the line is ignored.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from typing import TYPE_CHECKING

from ..model import LineStatus
from . import Flow, FlowRun, Record
from .projection import ZERO

if TYPE_CHECKING:
    from ..config import Channel


class OrderStatusFlow(Flow):
    streaming_views = ("records",)

    def __init__(self, run: FlowRun) -> None:
        super().__init__(run)
        self.backorders: list[Record] = []

    def apply(self, records: list[Record], lines: list[int]) -> list[Record]:
        ledger = self.run.ledger
        kept = []
        for rec, line in zip(records, lines, strict=True):
            shop, number, n = rec["shop"], rec["number"], int(rec["line_number"])
            held = ledger.order_line(shop, number, n)
            if held is None:
                known = ledger.order(shop, number)
                what = (f"order {number} has no line {n}" if known and known["state"] ==
                        "forwarded" else f"unknown order {number} (shop {shop}): the "
                        "gateway never forwarded it")
                self.refuse(line, f"status for {what}", "number" if not known else
                            "line_number", number if not known else n)
                continue
            status = LineStatus(rec["status"])
            confirmed = rec.get("quantity_confirmed")
            confirmed = None if confirmed in (None, "") else confirmed
            backordered = rec.get("quantity_backordered")
            backordered = None if backordered in (None, "") else backordered
            if status is LineStatus.ACCEPTED and confirmed is None:
                confirmed = held["quantity"]
            if status is LineStatus.BLOCKED:
                confirmed = confirmed or ZERO
            if backordered is None and status is not LineStatus.ACCEPTED:
                backordered = max(held["quantity"] - (confirmed or ZERO), ZERO)
            at = rec["as_of"].astimezone(UTC).isoformat()
            if not ledger.set_line_status(shop, number, n, str(status), confirmed,
                                          backordered, at):
                self.ignored += 1
                continue
            kept.append(rec)
            if status is not LineStatus.ACCEPTED and backordered:
                self.backorders.append({
                    "shop": shop, "number": number, "line_number": n,
                    "sku": rec.get("sku") or held.get("sku"), "status": str(status),
                    "quantity_ordered": held["quantity"], "quantity_confirmed": confirmed,
                    "quantity_backordered": backordered,
                    "expected_date": rec.get("expected_date"),
                    "reason_code": rec.get("reason_code"),
                    "reason_text": rec.get("reason_text")})
        return records if len(kept) == len(records) else kept

    def view(self, name: str, out: Channel) -> Iterator[Record]:
        if name != "backorders":
            raise ValueError(f"order status has no final view {name!r}")
        yield from self.backorders

    def note(self) -> str | None:
        notes = []
        if self.backorders:
            notes.append(f"{len(self.backorders)} back-order line(s)")
        if self.ignored:
            notes.append(f"{self.ignored} status line(s) older than the one held were "
                         "ignored")
        return "; ".join(notes) or None
