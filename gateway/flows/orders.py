"""Orders: only new orders reach the ERP, each attached to the right customer, each
adding up to the cent; what they take from stock counts at once.

Shops re-export overlapping windows, so every order goes through a registry per shop:

- seen and forwarded before, same content → *duplicate* (not forwarded again);
- seen and forwarded before, other content → *changed*: reported (ack, ``gateway orders
  changes``), never re-imported;
- not paid under the channel's payment rule → *waiting payment*: held in the registry and
  forwarded when a later export shows it paid;
- lines, discounts and shipping that do not add up to the total → *rejected* alone, with
  the difference.

The content compared leaves out what legitimately moves after the order is placed
(payment status and time), so an order that gets paid is not a "change".

A forwarded order's customer is matched to the ERP's (the shop's customer id already
linked, else email, else VAT id); a known customer with a new delivery address also
yields a customer update for the ERP; an unknown one goes as a new customer inside the
order. Its lines start counting against the projected stock, and a SKU they take below
its reorder point yields one replenishment request.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..documents import to_text
from ..model import OrderOutcome, PaymentRule
from . import Flow, FlowRun, Record
from .projection import ZERO, Projector, replenish

if TYPE_CHECKING:
    from ..config import Channel

CENT = Decimal("0.01")
PAYABLE = {
    PaymentRule.PAID: frozenset({"paid", "partially_refunded", "refunded"}),
    PaymentRule.AUTHORIZED: frozenset({"paid", "partially_refunded", "refunded",
                                       "authorized", "partially_paid"}),
}
# not part of an order's identity: they move after it is placed
VOLATILE = frozenset({"payment_status", "paid_at", "customer_number", "customer_status"})
# an address is a place: who receives there (name, company) does not make it another one
ADDRESS = ("street", "street2", "zip", "city", "country")


def content_of(rec: Record) -> dict[str, Any]:
    """An order as plain text values, for the registry and its comparisons."""
    def plain(v: Any) -> Any:
        if isinstance(v, tuple | list):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in sorted(v.items()) if x not in (None, "")}
        return to_text(v)
    return {k: plain(v) for k, v in sorted(rec.items())
            if k not in VOLATILE and v not in (None, "", ())}


def digest_of(content: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def differences(old: dict[str, Any], new: dict[str, Any]) -> str:
    """``total: 95.00 → 99.00; lines: 2 → 3`` — what an operator needs to see."""
    parts = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if isinstance(a, list) or isinstance(b, list):
            a_list, b_list = a or [], b or []
            if len(a_list) != len(b_list):
                parts.append(f"{key}: {len(a_list)} → {len(b_list)} item(s)")
                continue
            for i, (x, y) in enumerate(zip(a_list, b_list, strict=True), start=1):
                for f in sorted(set(x) | set(y)):
                    if x.get(f) != y.get(f):
                        parts.append(f"{key}[{i}].{f}: {x.get(f, '')} → {y.get(f, '')}")
        else:
            parts.append(f"{key}: {a or ''} → {b or ''}")
    return "; ".join(parts) or "content differs"


def address_digest(rec: Record, prefix: str) -> str | None:
    parts = [str(rec.get(f"{prefix}_{a}") or "").strip().casefold() for a in ADDRESS]
    if not any(parts[:4]):  # no street, zip or city: no address
        return None
    return hashlib.sha256("\x1f".join(" ".join(p.split()) for p in parts).encode()).hexdigest()


def money_problem(rec: Record, prices_include_tax: bool) -> str | None:
    """Σ(line gross − line discounts) − order discounts (not already spread over the
    lines) + shipping (+ tax, when line prices exclude it) must equal the total, to the
    cent."""
    lines_total = ZERO
    for line in rec.get("lines") or ():
        gross = line["quantity"] * line["unit_price"]
        discount = line.get("discount_amount")
        if discount in (None, "") and line.get("discount_percent") not in (None, ""):
            discount = (gross * line["discount_percent"] / 100).quantize(CENT)
        lines_total += gross - (discount or ZERO)
    order_discounts = sum((d["amount"] for d in rec.get("discounts") or ()
                           if not d.get("spread")), ZERO)
    shipping = rec.get("shipping_amount") or ZERO
    tax = ZERO if prices_include_tax else (rec.get("tax_total") or ZERO)
    computed = (lines_total - order_discounts + shipping + tax).quantize(CENT)
    total = rec["total"].quantize(CENT)
    if computed == total:
        return None
    text = f"lines {lines_total.quantize(CENT)}"
    if order_discounts:
        text += f" − order discounts {order_discounts.quantize(CENT)}"
    if shipping:
        text += f" + shipping {shipping.quantize(CENT)}"
    if tax:
        text += f" + tax {tax.quantize(CENT)}"
    return (f"order {rec['number']} does not add up: {text} = {computed}, but the total "
            f"is {total} (difference {computed - total:+})")


class OrdersFlow(Flow):
    def __init__(self, run: FlowRun) -> None:
        super().__init__(run)
        ch = run.channel
        self.rule = ch.payment if ch is not None else PaymentRule.PAID
        self.prices_include_tax = ch.prices_include_tax if ch is not None else True
        self.now = datetime.now(UTC).isoformat()
        self.updates: list[Record] = []
        self.skus: set[str] = set()
        self.counts: dict[OrderOutcome, int] = {}

    def _item(self, number: str, outcome: OrderOutcome, reason: str | None = None) -> None:
        self.items.append((number, str(outcome), reason))
        self.counts[outcome] = self.counts.get(outcome, 0) + 1

    def apply(self, records: list[Record], lines: list[int]) -> list[Record]:
        ledger, xid = self.run.ledger, self.run.exchange_id
        forwarded = []
        for rec, line in zip(records, lines, strict=True):
            shop, number = rec["shop"], rec["number"]
            problem = money_problem(rec, self.prices_include_tax)
            if problem:
                self.refuse(line, problem, "total", rec["total"])
                self._item(number, OrderOutcome.REJECTED, problem)
                continue
            content = content_of(rec)
            digest = digest_of(content)
            held = ledger.order(shop, number)
            if held is not None and held["state"] == "forwarded":
                if held["digest"] == digest:
                    self._item(number, OrderOutcome.DUPLICATE,
                               f"forwarded with exchange {held['exchange_id']}")
                else:
                    summary = differences(json.loads(held["content"]), content)
                    ledger.add_order_change(shop, number, xid, summary)
                    self._item(number, OrderOutcome.CHANGED, summary)
                continue
            text = json.dumps(content, sort_keys=True)
            status = str(rec.get("payment_status") or "").lower()
            if rec.get("cancelled_at"):
                ledger.put_order(shop, number, state="cancelled", digest=digest, content=text,
                                 payment_status=status, xid=xid, forwarded_at=None)
                self._item(number, OrderOutcome.REJECTED,
                           "cancelled in the shop before it was forwarded")
                continue
            if self.rule is not PaymentRule.ANY and status not in PAYABLE[self.rule]:
                ledger.put_order(shop, number, state="waiting", digest=digest, content=text,
                                 payment_status=status, xid=xid, forwarded_at=None)
                self._item(number, OrderOutcome.WAITING_PAYMENT,
                           f"payment status {status or 'unknown'!r}; forwarded once "
                           f"{self.rule}")
                continue
            self._customer(rec)
            ledger.put_order(shop, number, state="forwarded", digest=digest, content=text,
                             payment_status=status, xid=xid, forwarded_at=self.now)
            order_lines = [(ln["line_number"], ln.get("sku") or None, ln["quantity"])
                           for ln in rec.get("lines") or ()]
            ledger.add_order_lines(shop, number, order_lines, self.now)
            self.skus.update(sku for _n, sku, _q in order_lines if sku)
            self._item(number, OrderOutcome.FORWARDED)
            forwarded.append(rec)
        return records if len(forwarded) == len(records) else forwarded

    def _customer(self, rec: Record) -> None:
        ledger, shop = self.run.ledger, rec["shop"]
        found = ledger.find_customer(shop, rec.get("customer_id"), rec.get("email"),
                                     rec.get("vat_id"))
        if found is None:
            rec["customer_status"] = "new"
            return
        number, _by = found
        rec["customer_number"] = number
        if rec.get("customer_id"):
            ledger.link_customer(shop, rec["customer_id"], number)
        digest = address_digest(rec, "delivery") or address_digest(rec, "billing")
        if digest is not None and ledger.add_address(number, digest):
            rec["customer_status"] = "updated"
            self.updates.append(rec)
        else:
            rec["customer_status"] = "known"

    def view(self, name: str, out: Channel) -> Iterator[Record]:
        if name == "customer_updates":
            yield from self.updates
        elif name == "replenishment":
            cfg = self.run.config
            projector = Projector(self.run.ledger, cfg.in_flight_horizon if cfg else 172800.0,
                                  self.skus)
            for req in replenish(self.run.ledger, projector.project_held(self.skus),
                                 default_point=out.reorder_point, target=out.reorder_target):
                yield vars(req)
        else:
            raise ValueError(f"orders have no final view {name!r}")

    def note(self) -> str | None:
        if not self.counts:
            return None
        return "orders: " + ", ".join(f"{n} {k}" for k, n in self.counts.items())
