"""Stock: ERP virtual quantities per SKU and warehouse become the shop's quantity per SKU.

Positions are kept in the ledger, in the same transaction as the exchange, so that a
file is applied entirely or not at all. Per SKU and warehouse, a quantity older than the
one already applied is ignored (older never overwrites newer) and counted. The shop's
view sums every warehouse of each SKU the file changed, read back in SKU order from the
ledger, so memory does not grow with the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..store.ledger import to_micro
from . import Flow, FlowRun, Record
from .projection import ZERO, Projection, Projector, replenish

if TYPE_CHECKING:
    from ..config import Channel
    from ..mapping.columns import ColumnBatch

SMALL_FILE_SKUS = 10_000


class StockFlow(Flow):
    def __init__(self, run: FlowRun) -> None:
        super().__init__(run)
        self.ledger = run.ledger
        self.exchange_id = run.exchange_id
        self.applied = 0
        self.projected = 0  # SKUs the shop is shown less than the ERP's figure
        self._texts: dict[Any, str] = {}  # exports repeat the same as-of times
        self._micro: dict[Decimal, int] = {}  # … and the same quantities
        self._skus: set[str] | None = set()

    def apply(self, records: list[Record], lines: list[int]) -> list[Record]:
        """Apply a chunk; return the records that changed a position (the ones the shop
        must see: a record older than what is held is not sent on)."""
        texts, micro = self._conversions()
        rows = []
        for r in records:
            t = r["as_of"]
            tt = texts.get(t)
            if tt is None:  # as-of times compare as text: always UTC, same precision
                tt = texts[t] = t.astimezone(UTC).isoformat()
            q = r["quantity"]
            m = micro.get(q)
            if m is None:  # in millionths, as the ledger keeps them
                m = micro[q] = to_micro(q)
            rows.append((r["sku"], r["warehouse"], m, tt))
        held = self._apply_rows(rows, (r["sku"] for r in records))
        if held is None:
            return records
        return [r for r in records if (r["sku"], r["warehouse"]) in held]

    def apply_columns(self, batch: ColumnBatch) -> tuple[list[Record], list[int]] | None:
        """``apply`` for a batch read by column: each distinct quantity and time is
        converted once, and the rows go to the ledger as they are zipped, no record built."""
        texts, micro = self._conversions()
        m = batch.mapped
        quantities, times = m["quantity"], m["as_of"]
        for q in set(quantities).difference(micro):
            micro[q] = to_micro(q)
        for t in set(times).difference(texts):
            texts[t] = t.astimezone(UTC).isoformat()
        rows = list(zip(m["sku"], m["warehouse"], map(micro.__getitem__, quantities),
                        map(texts.__getitem__, times)))
        held = self._apply_rows(rows, m["sku"])
        if held is None:
            return None
        records = batch.records()
        kept = [i for i, r in enumerate(rows) if (r[0], r[1]) in held]
        return [records[i] for i in kept], [batch.lines[i] for i in kept]

    def _conversions(self) -> tuple[dict[Any, str], dict[Decimal, int]]:
        """As-of time → its UTC text, quantity → millionths: exports repeat both; kept
        bounded."""
        for table in (self._texts, self._micro):
            if len(table) > 50_000:
                table.clear()
        return self._texts, self._micro

    def _apply_rows(self, rows: list[tuple[str, str, int, str]], skus: Iterable[str]
                    ) -> set[tuple[str, str]] | None:
        """Apply (sku, warehouse, millionths, UTC as-of) rows; None when each changed a
        position, else the positions this exchange holds (the others were newer)."""
        if self._skus is not None:
            self._skus.update(skus)
            if len(self._skus) > SMALL_FILE_SKUS:
                self._skus = None  # a large file: find its SKUs by one scan at the end
        changed = self.ledger.apply_positions(rows, self.exchange_id)
        self.applied += changed
        if changed == len(rows):
            return None
        self.ignored += len(rows) - changed
        return self.ledger.positions_held_by(self.exchange_id, [(r[0], r[1]) for r in rows])

    def view(self, name: str, out: Channel) -> Iterator[Record]:
        """``sku_totals``: the projected stock the shop may sell (ERP quantity over all
        warehouses − orders in flight − the channel's safety buffer, never below 0);
        ``replenishment``: a request per SKU this file took below its reorder point."""
        horizon = self.run.config.in_flight_horizon if self.run.config else 48 * 3600.0
        projector = Projector(self.ledger, horizon)
        touched = self.ledger.stock_totals_touched_by(self.exchange_id, self._skus)
        if name == "sku_totals":
            lines, buffer = projector.lines, out.safety_buffer
            for sku, total in touched:
                if sku in lines:  # few SKUs have orders in flight: the rest go straight
                    p = projector.project(sku, total, buffer=buffer)
                    self.projected += bool(p.in_flight)
                    total = p.projected
                elif buffer:
                    total = max(total - buffer, ZERO)
                yield {"sku": sku, "quantity": total}
        elif name == "replenishment":
            def projections() -> Iterator[Projection]:
                for sku, total in touched:
                    yield projector.project(sku, total)
            for batch in _batches(projections(), 500):
                for req in replenish(self.ledger, batch, default_point=out.reorder_point,
                                     target=out.reorder_target):
                    yield vars(req)
        else:
            raise ValueError(f"stock has no final view {name!r}")

    def note(self) -> str | None:
        notes = []
        if self.ignored:
            notes.append(f"{self.ignored} record(s) older than the quantity already applied "
                         "for the same SKU and warehouse were ignored")
        if self.projected:
            notes.append(f"{self.projected} SKU(s) lowered by orders the ERP's stock does "
                         "not reflect yet")
        return "; ".join(notes) or None


def _batches(items: Iterator[Projection], size: int) -> Iterator[list[Projection]]:
    batch: list[Projection] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
