"""Customers: the ERP's customer master, kept to match the shop's customers.

Each ERP customer is held by number with its email (compared case-insensitively) and VAT
id; its delivery and billing addresses become *known* addresses, so an order delivered
to one of them is no customer update.
"""

from __future__ import annotations

from . import Flow, Record
from .orders import address_digest


class CustomersFlow(Flow):
    def apply(self, records: list[Record], lines: list[int]) -> list[Record]:
        ledger, xid = self.run.ledger, self.run.exchange_id
        for rec in records:
            ledger.put_customer(rec["number"], rec.get("email"), rec.get("vat_id"), xid)
            for prefix in ("delivery", "billing"):
                digest = address_digest(_as_order(rec), prefix)
                if digest is not None:
                    ledger.add_address(rec["number"], digest)
        return records


def _as_order(rec: Record) -> Record:
    """A customer's addresses under the names an order uses (``delivery_name``…)."""
    out = dict(rec)
    for prefix in ("delivery", "billing"):
        if not out.get(f"{prefix}_name"):
            out[f"{prefix}_name"] = rec.get("name")
        if not out.get(f"{prefix}_company"):
            out[f"{prefix}_company"] = rec.get("company")
    return out
