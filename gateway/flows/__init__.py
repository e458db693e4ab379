"""Business logic per document type; each flow turns validated records into views."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..store.ledger import Ledger
    from .stock import StockFlow


def flow_for(document: str, ledger: Ledger, exchange_id: int) -> StockFlow:
    from .stock import StockFlow

    flows = {"stock": StockFlow}
    try:
        return flows[document](ledger, exchange_id)
    except KeyError:
        raise ConfigError(f"no flow for document {document!r}") from None
