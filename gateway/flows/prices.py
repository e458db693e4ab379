"""Prices: per SKU and price list, checked dates, and older never overwrites newer.

A price is applied with its ``as_of`` time (the exchange's arrival when the file has
none); a price older than the one applied before for the same SKU and list is ignored,
counted and not sent to the shop. An end date before its start date, or a price with
neither a net nor a gross amount, refuses that line alone.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from . import Flow, FlowRun, Record


def _as_datetime(value: date) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.combine(value, time.min, tzinfo=UTC)


def _before(end: Any, start: Any) -> bool:
    if end in (None, "") or start in (None, ""):
        return False
    if type(end) is date and type(start) is date:
        return bool(end < start)
    return _as_datetime(end) < _as_datetime(start)


class PricesFlow(Flow):
    def __init__(self, run: FlowRun) -> None:
        super().__init__(run)
        self.received = run.received_at.astimezone(UTC).isoformat()

    def apply(self, records: list[Record], lines: list[int]) -> list[Record]:
        kept, kept_lines = [], []
        for rec, line in zip(records, lines, strict=True):
            if rec.get("net") in (None, "") and rec.get("gross") in (None, ""):
                self.refuse(line, "a price needs a net or a gross amount", "net")
                continue
            if _before(rec.get("valid_to"), rec.get("valid_from")):
                self.refuse(line, f"valid_to {rec['valid_to']} is before valid_from "
                            f"{rec['valid_from']}", "valid_to", rec["valid_to"])
                continue
            if _before(rec.get("promo_to"), rec.get("promo_from")):
                self.refuse(line, f"promo_to {rec['promo_to']} is before promo_from "
                            f"{rec['promo_from']}", "promo_to", rec["promo_to"])
                continue
            kept.append(rec)
            kept_lines.append(line)
        times = []
        for rec in kept:
            at = rec.get("as_of")
            times.append((rec["sku"], rec["price_list"],
                          at.astimezone(UTC).isoformat() if at else self.received))
        older = self.run.ledger.apply_price_times(times, self.run.exchange_id)
        if older:
            self.ignored += len(older)
            kept = [rec for i, rec in enumerate(kept) if i not in older]
        return records if len(kept) == len(records) else kept

    def note(self) -> str | None:
        if self.ignored:
            return (f"{self.ignored} price(s) older than the price already applied for the "
                    "same SKU and price list were ignored")
        return None
