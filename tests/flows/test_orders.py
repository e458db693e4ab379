"""The orders flow on its own: registry, payment rule, money, customers, projected stock,
replenishment, order status and back-orders. Records as a reader mapping yields them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from gateway.config import Channel
from gateway.errors import Problem
from gateway.flows import FlowRun, flow_for
from gateway.flows.projection import Projector
from gateway.model import Direction, ExchangeState, PaymentRule
from gateway.store.ledger import Ledger

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    led = Ledger(tmp_path / "ledger.sqlite3")
    yield led
    led.close()


def channel(document: str = "orders", **kw: Any) -> Channel:
    return Channel(f"{document}_in", Direction.IN, "ep", document, "m", **kw)


def out_channel(document: str, **kw: Any) -> Channel:
    return Channel(f"{document}_out", Direction.OUT, "ep", document, "m", **kw)


class Run:
    """One file's worth of records through a flow, as the pipeline drives it."""

    def __init__(self, ledger: Ledger, document: str, records: list[dict[str, Any]],
                 ch: Channel | None = None) -> None:
        xid = ledger.add_exchange(direction=Direction.IN, channel=f"{document}_in",
                                  endpoint="ep", file_name=f"{document}.csv", size=1,
                                  sha256=f"{document}{len(records)}{id(records)}",
                                  state=ExchangeState.RECEIVED, reason="test")
        self.problems: list[Problem] = []
        self.flow = flow_for(document, FlowRun(ledger, xid, f"{document}.csv", self.problems,
                                               T0, ch or channel(document), None))
        self.kept = self.flow.apply(records, list(range(2, len(records) + 2)))
        self.flow.finish()

    @property
    def items(self) -> list[tuple[str, str]]:
        return [(n, s) for n, s, _ in self.flow.items]

    def view(self, name: str, out: Channel) -> list[dict[str, Any]]:
        return list(self.flow.view(name, out))


def order(number: str, *lines: tuple[str, str, str, str], shipping: str = "5.00",
          total: str | None = None, payment: str = "paid", email: str = "anne@example.com",
          street: str = "1 rue des Lilas", discounts: tuple[dict[str, Any], ...] = (),
          **extra: Any) -> dict[str, Any]:
    """``lines``: (sku, quantity, unit price, line discount)."""
    ls = tuple({"line_number": i, "sku": sku, "quantity": D(q), "unit_price": D(p),
                "discount_amount": D(d) if d else ""}
               for i, (sku, q, p, d) in enumerate(lines, start=1))
    computed = sum((D(q) * D(p) - (D(d) if d else 0) for _s, q, p, d in lines), D(0))
    computed -= sum((x["amount"] for x in discounts if not x.get("spread")), D(0))
    rec = {"shop": "webshop", "number": number, "created_at": T0, "currency": "EUR",
           "payment_status": payment, "email": email, "customer_name": "Anne Martin",
           "delivery_name": "Anne Martin", "delivery_street": street,
           "delivery_zip": "75011", "delivery_city": "Paris", "delivery_country": "FR",
           "shipping_amount": D(shipping),
           "total": D(total) if total else (computed + D(shipping)),
           "lines": ls, "discounts": discounts}
    rec.update(extra)
    return rec


def stock(ledger: Ledger, sku: str, qty: str, as_of: datetime) -> Run:
    return Run(ledger, "stock", [{"sku": sku, "warehouse": "MAIN", "quantity": D(qty),
                                  "as_of": as_of}])


def status(number: str, line: int, st: str, at: datetime, **kw: Any) -> dict[str, Any]:
    return {"shop": "webshop", "number": number, "line_number": line, "status": st,
            "as_of": at, **kw}


def test_overlapping_exports_forward_each_order_once(ledger: Ledger) -> None:
    a, b, c, d = (order(n, ("SKU-1", "1", "10.00", "")) for n in ("#1", "#2", "#3", "#4"))
    first = Run(ledger, "orders", [a, b])
    second = Run(ledger, "orders", [b, c])
    third = Run(ledger, "orders", [c, d, a])
    assert first.items == [("#1", "forwarded"), ("#2", "forwarded")]
    assert second.items == [("#2", "duplicate"), ("#3", "forwarded")]
    assert third.items == [("#3", "duplicate"), ("#4", "forwarded"), ("#1", "duplicate")]
    assert [r["number"] for r in first.kept + second.kept + third.kept] == [
        "#1", "#2", "#3", "#4"]


def test_the_same_order_with_other_content_is_a_change_never_reimported(ledger: Ledger
                                                                        ) -> None:
    Run(ledger, "orders", [order("#1", ("SKU-1", "1", "10.00", ""))])
    again = Run(ledger, "orders", [order("#1", ("SKU-1", "2", "10.00", ""))])
    assert again.items == [("#1", "changed")]
    assert again.kept == []
    [change] = ledger.order_changes()
    assert change["number"] == "#1"
    assert change["summary"] == "lines[1].quantity: 1 → 2; total: 15.00 → 25.00"


@pytest.mark.parametrize("rule, waiting, forwarded", [
    (PaymentRule.PAID, ["pending", "authorized"], ["paid"]),
    (PaymentRule.AUTHORIZED, ["pending"], ["authorized", "paid"]),
    (PaymentRule.ANY, [], ["pending", "authorized", "paid"]),
])
def test_payment_rule(ledger: Ledger, rule: PaymentRule, waiting: list[str],
                      forwarded: list[str]) -> None:
    ch = channel(payment=rule)
    for i, pay in enumerate(["pending", "authorized", "paid"]):
        run = Run(ledger, "orders", [order(f"#{i}", ("A", "1", "1.00", ""), payment=pay)], ch)
        assert run.items == [(f"#{i}", "waiting payment" if pay in waiting else "forwarded")]
    # a later export shows the waiting orders paid: forwarded now, not "changed"
    later = Run(ledger, "orders", [order(f"#{i}", ("A", "1", "1.00", ""), payment="paid")
                                   for i in range(3)], ch)
    assert later.items == [(f"#{i}", "forwarded" if pay in waiting else "duplicate")
                           for i, pay in enumerate(["pending", "authorized", "paid"])]


def test_returning_customer_with_a_new_delivery_address_is_an_update(ledger: Ledger) -> None:
    Run(ledger, "customers", [{"number": "C042", "email": "Anne@Example.com",
                               "delivery_street": "1 rue des Lilas", "delivery_zip": "75011",
                               "delivery_city": "Paris", "delivery_country": "FR",
                               "name": "Anne Martin"}])
    home = Run(ledger, "orders", [order("#1", ("A", "1", "1.00", ""))])
    assert home.kept[0]["customer_number"] == "C042"
    assert home.kept[0]["customer_status"] == "known"
    assert home.view("customer_updates", out_channel("orders")) == []
    moved = Run(ledger, "orders", [order("#2", ("A", "1", "1.00", ""),
                                         street="8 avenue Foch")])
    assert moved.kept[0]["customer_status"] == "updated"
    [update] = moved.view("customer_updates", out_channel("orders"))
    assert (update["customer_number"], update["delivery_street"]) == ("C042", "8 avenue Foch")
    again = Run(ledger, "orders", [order("#3", ("A", "1", "1.00", ""),
                                         street="8 Avenue  Foch")])  # same, spelled apart
    assert again.kept[0]["customer_status"] == "known"
    stranger = Run(ledger, "orders", [order("#4", ("A", "1", "1.00", ""),
                                            email="new@example.com")])
    assert stranger.kept[0]["customer_status"] == "new"
    assert "customer_number" not in stranger.kept[0]


def test_matching_falls_back_to_the_vat_id(ledger: Ledger) -> None:
    Run(ledger, "customers", [{"number": "C7", "email": "buyer@corp.example",
                               "vat_id": "FR40303265045"}])
    run = Run(ledger, "orders", [order("#1", ("A", "1", "1.00", ""),
                                       email="other@corp.example", vat_id="FR40303265045")])
    assert run.kept[0]["customer_number"] == "C7"


def test_a_coupon_spread_over_lines_with_rounding_adds_up(ledger: Ledger) -> None:
    # 3 × 33.33 = 99.99; a 10 % coupon of 10.00 spread as 3.33 + 3.33 + 3.34
    rec = order("#1", ("A", "1", "33.33", "3.33"), ("B", "1", "33.33", "3.33"),
                ("C", "1", "33.33", "3.34"), total="94.99",
                discounts=({"code": "TEN", "amount": D("10.00"), "spread": True},))
    run = Run(ledger, "orders", [rec])
    assert run.items == [("#1", "forwarded")]
    assert run.problems == []


def test_an_order_that_does_not_add_up_is_rejected_alone(ledger: Ledger) -> None:
    good = order("#1", ("A", "2", "10.00", ""))
    bad = order("#2", ("A", "1", "33.33", ""), ("B", "1", "33.33", "3.33"), total="63.34",
                discounts=({"code": "X", "amount": D("5.00")},))
    run = Run(ledger, "orders", [good, bad])
    assert run.items[0] == ("#1", "forwarded")
    assert run.items[1][1] == "rejected"
    [p] = run.problems
    assert (p.line, p.field) == (3, "total")
    assert p.message == ("order #2 does not add up: lines 63.33 − order discounts 5.00 + "
                         "shipping 5.00 = 63.33, but the total is 63.34 (difference -0.01)")
    assert [r["number"] for r in run.kept] == ["#1"]


def test_a_lagging_erp_stock_never_shows_the_shop_more_than_it_can_sell(ledger: Ledger
                                                                       ) -> None:
    stock(ledger, "SKU-1", "10", T0)
    Run(ledger, "orders", [order("#1", ("SKU-1", "3", "10.00", ""))])
    # the ERP's next export predates the order: 10 again, but 3 are sold
    run = stock(ledger, "SKU-1", "10", T0 + timedelta(minutes=5))
    shop = out_channel("stock", safety_buffer=D("1"))
    assert run.view("sku_totals", shop) == [{"sku": "SKU-1", "quantity": D("6")}]
    # the ERP confirms the order at 10:00; its 10:30 export includes it: 7 left
    Run(ledger, "order_status", [status("#1", 1, "accepted", T0 + timedelta(hours=1))])
    run = stock(ledger, "SKU-1", "7", T0 + timedelta(hours=1, minutes=30))
    assert run.view("sku_totals", shop) == [{"sku": "SKU-1", "quantity": D("6")}]
    # an export from before the confirmation still counts the order
    run = stock(ledger, "SKU-1", "10", T0 + timedelta(minutes=50))
    assert run.view("sku_totals", shop) == []  # older than what is held: not sent
    p = next(Projector(ledger, 48 * 3600).project_held(["SKU-1"]))
    assert (p.erp_quantity, p.in_flight_quantity, p.available) == (D(7), D(0), D(7))


def test_projection_never_goes_below_zero(ledger: Ledger) -> None:
    stock(ledger, "SKU-1", "2", T0)
    Run(ledger, "orders", [order("#1", ("SKU-1", "5", "1.00", ""))])
    run = stock(ledger, "SKU-1", "2", T0 + timedelta(minutes=1))
    assert run.view("sku_totals", out_channel("stock")) == [{"sku": "SKU-1",
                                                              "quantity": D(0)}]


def test_replenishment_fires_once_per_crossing(ledger: Ledger) -> None:
    Run(ledger, "catalogue", [{"sku": "SKU-1", "reorder_point": D("5"), "active": True}])
    stock(ledger, "SKU-1", "8", T0)
    ask = out_channel("replenishment", reorder_target=D("20"))
    first = Run(ledger, "orders", [order("#1", ("SKU-1", "2", "1.00", ""))])
    assert first.view("replenishment", ask) == []  # 6 left: above 5
    second = Run(ledger, "orders", [order("#2", ("SKU-1", "2", "1.00", ""))])
    [req] = second.view("replenishment", ask)
    assert (req["sku"], req["projected"], req["quantity"], req["target"]) == (
        "SKU-1", D(4), D(16), D(20))
    third = Run(ledger, "orders", [order("#3", ("SKU-1", "1", "1.00", ""))])
    assert third.view("replenishment", ask) == []  # still below: not asked again
    refill = stock(ledger, "SKU-1", "30", T0 + timedelta(hours=1))
    assert refill.view("replenishment", ask) == []  # back above: the crossing is over
    Run(ledger, "orders", [order("#4", ("SKU-1", "22", "1.00", ""))])
    fourth = Run(ledger, "orders", [order("#5", ("SKU-1", "1", "1.00", ""))])
    assert [r["sku"] for r in fourth.view("replenishment", ask)] == ["SKU-1"]


def test_a_blocked_line_comes_back_as_a_back_order_and_releases_stock(ledger: Ledger
                                                                     ) -> None:
    stock(ledger, "SKU-1", "10", T0)
    Run(ledger, "orders", [order("#1", ("SKU-1", "3", "10.00", ""), ("SKU-2", "4", "5.00", ""))])
    run = Run(ledger, "order_status", [
        status("#1", 1, "blocked", T0 + timedelta(minutes=10), reason_code="STOCK",
               reason_text="insufficient stock", expected_date=datetime(2026, 12, 5).date()),
        status("#1", 2, "partial", T0 + timedelta(minutes=10), quantity_confirmed=D(1),
               quantity_backordered=D(3), reason_code="STOCK",
               reason_text="insufficient stock")])
    assert run.problems == []
    [b1, b2] = run.view("backorders", out_channel("backorders"))
    assert (b1["number"], b1["line_number"], b1["status"], b1["quantity_ordered"],
            b1["quantity_backordered"], b1["reason_text"]) == (
        "#1", 1, "blocked", D(3), D(3), "insufficient stock")
    assert (b2["status"], b2["quantity_confirmed"], b2["quantity_backordered"]) == (
        "partial", D(1), D(3))
    # the blocked line will not ship: it no longer counts against SKU-1
    p = next(Projector(ledger, 48 * 3600).project_held(["SKU-1"]))
    assert p.in_flight == [] and p.available == D(10)


def test_status_for_an_unknown_order_is_a_located_error(ledger: Ledger) -> None:
    Run(ledger, "orders", [order("#1", ("SKU-1", "1", "1.00", ""))])
    run = Run(ledger, "order_status", [status("#1", 1, "accepted", T0),
                                       status("#9", 1, "accepted", T0),
                                       status("#1", 7, "accepted", T0)])
    assert [(p.line, p.field, p.message) for p in run.problems] == [
        (3, "number", "status for unknown order #9 (shop webshop): the gateway never "
                      "forwarded it"),
        (4, "line_number", "status for order #1 has no line 7")]
    assert len(run.kept) == 1
