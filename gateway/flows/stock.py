"""Stock: ERP virtual quantities per SKU and warehouse become the shop's quantity per SKU.

Positions are kept in the ledger, in the same transaction as the exchange, so that a
file is applied entirely or not at all. Per SKU and warehouse, a quantity older than the
one already applied is ignored (older never overwrites newer) and counted. The shop's
view sums every warehouse of each SKU the file changed, read back in SKU order from the
ledger, so memory does not grow with the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from decimal import Decimal
from itertools import groupby
from typing import Any

from ..store.ledger import Ledger

Record = dict[str, Any]


class StockFlow:
    streaming_views = ("records",)

    def __init__(self, ledger: Ledger, exchange_id: int) -> None:
        self.ledger = ledger
        self.exchange_id = exchange_id
        self.ignored = 0
        self.applied = 0

    def apply(self, records: list[Record]) -> None:
        rows = [(r["sku"], r["warehouse"], format(r["quantity"], "f"),
                 r["as_of"].astimezone(UTC).isoformat()) for r in records]
        changed = self.ledger.upsert_positions(rows, self.exchange_id)
        self.applied += changed
        self.ignored += len(rows) - changed

    def view(self, name: str) -> Iterator[Record]:
        if name != "sku_totals":
            raise ValueError(f"stock has no final view {name!r}")
        rows = self.ledger.positions_touched_by(self.exchange_id)
        for sku, group in groupby(rows, key=lambda r: r[0]):
            yield {"sku": sku, "quantity": sum((Decimal(q) for _, q in group), Decimal(0))}

    def note(self) -> str | None:
        if self.ignored:
            return (f"{self.ignored} record(s) older than the quantity already applied for "
                    "the same SKU and warehouse were ignored")
        return None
