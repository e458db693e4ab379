"""Business logic per document type; each flow turns validated records into views.

A flow sees the records of one exchange, a chunk at a time, after the mapping and the
XSD: it applies them to what the gateway holds (stock positions, the category tree,
price times), drops the records a business rule refuses (each with a located problem),
and says which records go on to the writers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import ConfigError, Problem
from ..store.ledger import Ledger

if TYPE_CHECKING:
    from ..config import Channel, Config
    from ..mapping.columns import ColumnBatch

Record = dict[str, Any]


class ProblemList(Protocol):
    def append(self, problem: Problem) -> None: ...


@dataclass
class FlowRun:
    """What a flow knows of the exchange it processes."""

    ledger: Ledger
    exchange_id: int
    file_name: str
    problems: ProblemList
    received_at: datetime
    channel: Channel | None = None   # the input channel (its rules: payment, taxes…)
    config: Config | None = None


class Flow:
    """The default flow: records go through unchanged."""

    streaming_views: tuple[str, ...] = ("records",)

    def __init__(self, run: FlowRun) -> None:
        self.run = run
        self.ignored = 0   # older than what is held: not sent on, not an error
        self.dropped = 0   # refused by a business rule: a located problem each
        # what happened to each business item (an order), said one by one in the ack
        self.items: list[tuple[str, str, str | None]] = []

    def apply(self, records: list[Record], lines: list[int]) -> list[Record]:
        """Return the records that go on (``records`` itself when all of them do)."""
        return records

    def apply_columns(self, batch: ColumnBatch) -> tuple[list[Record], list[int]] | None:
        """A batch read by column (``mapping/columns.py``): ``None`` when all its rows go
        on as they are, else the records that go on and their lines. Here, as records."""
        records = batch.records()
        applied = self.apply(records, batch.lines)
        if applied is records:
            return None
        kept = {id(r) for r in applied}
        return applied, [ln for ln, r in zip(batch.lines, records, strict=True)
                         if id(r) in kept]

    def finish(self) -> None:
        """After the last chunk: rules that need the whole file."""

    def view(self, name: str, out: Channel) -> Iterator[Record]:
        """Records of a final view for the output channel ``out`` (its own rules: the
        safety buffer of a stock channel, the reorder defaults of a replenishment one)."""
        raise ValueError(f"no final view {name!r}")

    def note(self) -> str | None:
        return None

    def refuse(self, line: int, message: str, field: str | None = None,
               value: Any = None) -> None:
        self.dropped += 1
        self.run.problems.append(Problem(message, line=line, field=field,
                                         value=None if value is None else str(value),
                                         file=self.run.file_name,
                                         exchange_id=self.run.exchange_id))


def flow_for(document: str, run: FlowRun) -> Flow:
    from .catalogue import CatalogueFlow
    from .categories import CategoriesFlow
    from .customers import CustomersFlow
    from .order_status import OrderStatusFlow
    from .orders import OrdersFlow
    from .prices import PricesFlow
    from .stock import StockFlow

    flows: dict[str, type[Flow]] = {"stock": StockFlow, "catalogue": CatalogueFlow,
                                    "categories": CategoriesFlow, "prices": PricesFlow,
                                    "orders": OrdersFlow, "customers": CustomersFlow,
                                    "order_status": OrderStatusFlow}
    try:
        return flows[document](run)
    except KeyError:
        raise ConfigError(f"no flow for document {document!r}") from None
