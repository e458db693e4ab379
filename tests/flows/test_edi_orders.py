"""Purchase orders by EDI (EANCOM ORDERS D.96A and D.01B, X12 850): the shipped mappings
read each message as one canonical order, refuse a broken or foreign message alone, and
the orders then go through the same rules as a shop's (registry, money check), end to
end to the ERP's order import."""

from __future__ import annotations

import io
import re
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from gateway.config import load, resource_dir
from gateway.errors import Problem
from gateway.flows.orders import money_problem
from gateway.mapping.loader import load_mapping_file
from gateway.mapping.reader import ProblemSink, read_records
from gateway.pipeline.runner import CycleSummary, Gateway

DATA = Path(__file__).resolve().parents[1] / "data"
PARIS = ZoneInfo("Europe/Paris")
D = Decimal


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def read(mapping: str, data: bytes, name: str = "orders.edi"
         ) -> tuple[list[tuple[int, dict[str, Any]]], ProblemSink]:
    m = load_mapping_file(resource_dir("mappings") / f"{mapping}.toml")
    sink = ProblemSink()
    return list(read_records(m, io.BytesIO(data), name, sink)), sink


def line_of(data: bytes, needle: bytes) -> int:
    """The 1-based line of the first line holding ``needle``."""
    return next(i for i, ln in enumerate(data.splitlines(), 1) if needle in ln)


def lines(rec: dict[str, Any], *fields: str) -> list[tuple[Any, ...]]:
    return [tuple(ln[f] for f in fields) for ln in rec["lines"]]


LINE = ("line_number", "sku", "quantity", "unit_price", "discount_amount",
        "discount_percent", "promotion_code")


# ---- the samples through the shipped mappings ------------------------------------------

def test_eancom_d96a_orders_read_into_canonical_orders() -> None:
    data = sample("edifact/orders_d96a.edi")
    got, sink = read("edifact_orders_d96a", data)
    assert not sink, sink.items
    assert [line for line, _rec in got] == [line_of(data, b"UNH+1+"), line_of(data, b"UNH+2+"),
                                           line_of(data, b"UNH+3+")]
    first, second, third = (rec for _line, rec in got)
    assert {k: first[k] for k in (
        "shop", "number", "shop_order_id", "created_at", "currency", "payment_status",
        "customer_id", "company", "customer_name", "vat_id", "email", "phone")} == {
        "shop": "3012345000017", "number": "PO-2026-0001", "shop_order_id": "BUY-77120",
        "created_at": datetime(2026, 11, 28, tzinfo=PARIS), "currency": "EUR",
        "payment_status": "on_account", "customer_id": "3012345000017",
        "company": "Épicerie L'Arbre à Café", "customer_name": "Claire Martin",
        "vat_id": "FR40123456789", "email": "commandes@arbre-a-cafe.example",
        "phone": "0478123456"}
    assert [first[f"billing_{a}"] for a in ("name", "street", "zip", "city", "country")] == [
        "Arbre à Café SAS, comptabilité", "BP 42", "69002", "Lyon", "FR"]
    assert [first[f"delivery_{a}"] for a in ("name", "street", "street2", "zip", "city",
                                             "country")] == [
        "Épicerie L'Arbre à Café, dépôt", "5 chemin des Docks", "Quai 2", "69100",
        "Villeurbanne", "FR"]
    assert lines(first, "line_number", "sku", "name", "quantity", "unit_price",
                 "tax_rate") == [
        (1, "CAF-001", "Café moulu 250 g", D("24"), D("4.00"), D("5.5")),
        (2, "CAF-002", "Café en grains 1 kg", D("6"), D("14.50"), D("5.5"))]
    assert (first["subtotal"], first["total"], first["discounts"]) == (D("183.00"),
                                                                       D("183.00"), ())
    # allowances: a line's percentage or amount against its gross price (PRI+AAB), the
    # order's as a discount, the freight charge as shipping
    assert second["number"] == "PO-2026-0002"
    assert second["created_at"] == datetime(2026, 11, 28, tzinfo=PARIS)  # 203: the date
    assert lines(second, *LINE) == [
        (1, "MUG-001", D("12"), D("8.00"), None, D("10"), "PROMO-MUG"),
        (2, "TEE-002-M", D("10"), D("15.00"), D("12.50"), None, None),
        (3, "CAF-001", D("24"), D("4.00"), None, None, None)]
    assert second["discounts"] == ({"code": "HIVER26", "amount": D("10.00"),
                                    "spread": False},)
    assert (second["shipping_amount"], second["subtotal"], second["total"]) == (
        D("15.00"), D("319.90"), D("324.90"))
    assert second["billing_name"] is None  # no NAD+IV in this message
    # another buyer of the same interchange; a line without PIA: its GTIN is the SKU
    assert (third["shop"], third["customer_id"], third["company"], third["phone"]) == (
        "3012345000017", "3012345000048", "Café du Port", "0478654321")
    assert lines(third, "sku", "quantity", "unit_price") == [
        ("3098765000509", D("2"), D("45.00"))]
    # each adds up to its MOA+86 (net prices: tax comes on top)
    assert [money_problem(rec, prices_include_tax=False) for _l, rec in got] == [None] * 3


def test_eancom_d01b_orders_read_into_canonical_orders() -> None:
    got, sink = read("edifact_orders_d01b", sample("edifact/orders_d01b.edi"))
    assert not sink, sink.items
    first, second = (rec for _line, rec in got)
    assert (first["number"], first["shop"], first["created_at"]) == (
        "PO-2026-0101", "5412345000013", datetime(2026, 12, 1, tzinfo=PARIS))
    assert (first["company"], first["vat_id"], first["phone"], first["email"]) == (
        "Koffiehuis Peeters BV", "BE0123456749", "3232001122",
        "aankoop@koffiehuis-peeters.example")
    assert (first["billing_street"], first["delivery_street"], first["delivery_zip"]) == (
        "Meir 1", "Noorderlaan 120", "2030")
    # PIA+1 …:SA is the SKU; GTINs are coded SRV in EANCOM 2002
    assert lines(first, "sku", "quantity", "unit_price", "tax_rate") == [
        ("CAF-001", D("48"), D("4.00"), D("6")), ("MUG-001", D("6"), D("8.00"), D("21"))]
    assert lines(second, *LINE) == [
        (1, "CAF-002", D("20"), D("14.50"), None, D("10"), "VOLUME-10"),
        (2, "TEE-002-M", D("20"), D("15.00"), D("1.00"), None, None)]
    assert second["discounts"] == ({"code": "FIDELITE-3", "amount": D("16.80"),
                                    "spread": False},)
    assert (second["shipping_amount"], second["total"]) == (D("12.00"), D("555.20"))
    assert [money_problem(rec, prices_include_tax=False) for _l, rec in got] == [None] * 2


def test_x12_850_read_into_canonical_orders() -> None:
    data = sample("x12/850.x12")
    got, sink = read("x12_850", data, "850.x12")
    assert not sink, sink.items
    assert [line for line, _rec in got] == [line_of(data, b"ST*850*0001"),
                                           line_of(data, b"ST*850*0002")]
    first, second = (rec for _line, rec in got)
    assert {k: first[k] for k in (
        "shop", "number", "shop_order_id", "created_at", "currency", "customer_id",
        "company", "customer_name", "phone", "email")} == {
        "shop": "BUYERCO", "number": "PO-US-1001", "shop_order_id": "WEB-88001",
        "created_at": datetime(2026, 11, 28, tzinfo=ZoneInfo("UTC")), "currency": "USD",
        "customer_id": "CC-0042", "company": "Corner Coffee Co",
        "customer_name": "Dana Whitfield", "phone": "5035550142",
        "email": "orders@cornercoffee.example"}
    assert [first[f"delivery_{a}"] for a in ("name", "street", "street2", "zip", "city",
                                             "country")] == [
        "Corner Coffee Warehouse", "800 Industrial Way", "Dock 3", "97217", "Portland", "US"]
    assert (first["billing_street"], first["billing_zip"]) == ("PO Box 4410", "97208")
    assert lines(first, "line_number", "sku", "name", "quantity", "unit_price") == [
        (1, "CAF-001", "Ground coffee 250 g", D("24"), D("4.00")),
        (2, "CAF-002", "Coffee beans 1 kg", D("6"), D("14.50"))]
    assert first["total"] == D("183.00")
    # SAC05 has two implied decimals; SAC07 is a percentage; VP in the second id pair
    assert lines(second, *LINE) == [
        (1, "MUG-001", D("12"), D("8.00"), None, D("10"), "MUGDEAL"),
        (2, "TEE-002-M", D("10"), D("15.00"), D("12.50"), None, None)]
    assert second["discounts"] == ({"code": "SPRING10", "amount": D("10.00"),
                                    "spread": False},)
    assert (second["shipping_amount"], second["total"]) == (D("15.00"), D("228.90"))
    assert [money_problem(rec, prices_include_tax=False) for _l, rec in got] == [None] * 2


# ---- refused alone -----------------------------------------------------------------------

def test_a_message_with_a_syntax_error_is_refused_alone_with_its_location() -> None:
    data = sample("edifact/orders_d96a.edi")
    count = int(re.search(rb"UNT\+(\d+)\+2'", data).group(1))  # type: ignore[union-attr]
    broken = data.replace(b"UNT+%d+2'" % count, b"UNT+%d+2'" % (count - 1))
    got, sink = read("edifact_orders_d96a", broken)
    assert [rec["number"] for _line, rec in got] == ["PO-2026-0001", "PO-2026-0003"]
    first, last = line_of(data, b"UNH+2+"), line_of(data, b"UNT+%d+2'" % count)
    assert sink.items and all(p.line is not None and first <= p.line <= last
                              for p in sink.items)
    assert all(p.file == "orders.edi" for p in sink.items)
    assert sink.rows_rejected == 1


def test_a_message_of_another_type_or_version_is_a_located_problem() -> None:
    data = sample("edifact/orders_d96a.edi")
    invoice = data.replace(b"UNH+2+ORDERS:D:96A", b"UNH+2+INVOIC:D:96A")
    got, sink = read("edifact_orders_d96a", invoice)
    assert [rec["number"] for _line, rec in got] == ["PO-2026-0001", "PO-2026-0003"]
    assert sink.items == [Problem(
        "message type INVOIC is not read by mapping edifact_orders_d96a (it reads ORDERS)",
        line=line_of(data, b"UNH+2+"), field="UNH02", value="INVOIC", file="orders.edi")]
    # EANCOM 2002 orders given to the 1997 mapping: each refused, none misread
    d01b = sample("edifact/orders_d01b.edi")
    got, sink = read("edifact_orders_d96a", d01b)
    assert got == []
    assert [(p.line, p.value) for p in sink.items] == [
        (line_of(d01b, b"UNH+1+"), "D01B"), (line_of(d01b, b"UNH+2+"), "D01B")]
    assert sink.items[0].message == ("ORDERS version D01B is not read by mapping "
                                     "edifact_orders_d96a (it reads D96A)")
    # an 855 in a group of 850s
    x12 = sample("x12/850.x12")
    got, sink = read("x12_850", x12.replace(b"ST*850*0002", b"ST*855*0002"), "850.x12")
    assert [rec["number"] for _line, rec in got] == ["PO-US-1001"]
    assert [(p.line, p.field, p.value) for p in sink.items
            if p.message.startswith("message type 855")] == [
        (line_of(x12, b"ST*850*0002"), "ST01", "855")]


# ---- end to end: the buyer's interchange to the ERP's order import ---------------------

CONFIG = """\
[gateway]
workspace = "."
poll_interval = "50ms"
min_age = "0s"

[endpoints.edi_in]
path = "inbox/edi"

[endpoints.edi_out]
path = "outbox/edi"

[endpoints.erp_out]
path = "outbox/erp"

# EANCOM orders of the buyers: B2B, on account, net prices
[channels.edi_orders_in]
direction = "in"
endpoint = "edi_in"
pattern = "*.edi"
document = "orders"
mapping = "edifact_orders_d96a"
ack_endpoint = "edi_out"
payment = "any"
prices_include_tax = false

[channels.erp_orders_txt]
direction = "out"
endpoint = "erp_out"
document = "orders"
mapping = "erp_orders_csv"
filename = "orders_{exchange}.txt"
"""


class EdiWorkspace:
    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("inbox/edi", "outbox/edi", "outbox/erp"):
            (root / sub).mkdir(parents=True)
        (root / "gateway.toml").write_text(CONFIG, encoding="utf-8")

    def receive(self, name: str, data: bytes) -> CycleSummary:
        tmp = self.root / "inbox/edi" / f".{name}.part"
        tmp.write_bytes(data)
        tmp.rename(self.root / "inbox/edi" / name)
        with Gateway(load(self.root / "gateway.toml")) as gw:
            return gw.run_once(settle_timeout=2.0)

    def erp_orders(self) -> list[list[list[str]]]:
        """Each ERP order file, oldest first, as its lines' fields."""
        return [[ln.split(";") for ln in p.read_text(encoding="cp1252").splitlines()]
                for p in sorted((self.root / "outbox/erp").glob("orders_*.txt"))]


def resent(data: bytes, control: bytes) -> bytes:
    """The same messages in a new interchange, as a buyer's EDI service resends them."""
    return data.replace(b"CI000451", control).replace(b"261128:0915", b"261128:1105")


def test_edi_orders_reach_the_erp_once_each_and_add_up(tmp_path: Path) -> None:
    ws = EdiWorkspace(tmp_path / "ws")
    data = sample("edifact/orders_d96a.edi")
    s = ws.receive("orders_d96a.edi", data)
    [outcome] = s.outcomes
    assert (str(outcome.result), outcome.accepted, outcome.rejected) == ("accepted", 3, 0)
    assert outcome.items == [("PO-2026-0001", "forwarded", None),
                             ("PO-2026-0002", "forwarded", None),
                             ("PO-2026-0003", "forwarded", None)]
    [erp] = ws.erp_orders()
    assert [r[:3] + r[-1:] for r in erp if r[0] == "E"] == [
        ["E", "3012345000017", "PO-2026-0001", "183,00"],
        ["E", "3012345000017", "PO-2026-0002", "324,90"],
        ["E", "3012345000017", "PO-2026-0003", "90,00"]]
    # the order with allowances: the line's percentage and amount, the order's discount
    # and the freight, as the ERP invoices them
    second = erp[[r[2] for r in erp].index("PO-2026-0002"):]
    assert second[2:7] == [
        ["L", "1", "MUG-001", "Mug « Café »", "12,000", "8,00", "20,00", "", "10,00",
         "PROMO-MUG"],
        ["L", "2", "TEE-002-M", "T-shirt été, taille M", "10,000", "15,00", "20,00", "12,50",
         "", ""],
        ["L", "3", "CAF-001", "Café moulu 250 g", "24,000", "4,00", "5,50", "", "", ""],
        ["R", "HIVER26", "10,00", "0"],
        ["P", "", "15,00", ""]]
    ack = (ws.root / "outbox/edi/ACK_orders_d96a_000001.xml").read_text(encoding="utf-8")
    assert '<order number="PO-2026-0002" status="forwarded"/>' in ack

    # the buyer's EDI service sends the same orders again in a new interchange: the
    # registry knows them, nothing new reaches the ERP
    [outcome] = ws.receive("orders_d96a_resent.edi", resent(data, b"CI000452")).outcomes
    assert str(outcome.result) == "accepted"
    assert [(n, status) for n, status, _why in outcome.items] == [
        ("PO-2026-0001", "duplicate"), ("PO-2026-0002", "duplicate"),
        ("PO-2026-0003", "duplicate")]
    assert len(ws.erp_orders()) == 1


def test_the_money_check_holds_edi_orders_to_the_cent(tmp_path: Path) -> None:
    ws = EdiWorkspace(tmp_path / "ws")
    data = sample("edifact/orders_d96a.edi")
    # besides the first order, two new ones made from the discounted message: one a cent
    # off its MOA+86, one with the VAT the buyer computed (net prices: the tax adds up)
    head, rest = data.split(b"UNH+2+", 1)
    body, _tail = rest.split(b"UNH+3+", 1)
    msg2 = b"UNH+2+" + body
    off = msg2.replace(b"PO-2026-0002", b"PO-2026-0004").replace(b"MOA+86:324.90",
                                                                  b"MOA+86:324.91")
    taxed = (msg2.replace(b"UNH+2+", b"UNH+3+").replace(b"+2'", b"+3'")
             .replace(b"PO-2026-0002", b"PO-2026-0005")
             .replace(b"MOA+86:324.90'", b"MOA+176:59.26'\r\nMOA+86:384.16'"))
    count = int(re.search(rb"UNT\+(\d+)\+3'", taxed).group(1))  # type: ignore[union-attr]
    taxed = taxed.replace(b"UNT+%d+3'" % count, b"UNT+%d+3'" % (count + 1))
    interchange = head + off + taxed + b"UNZ+3+CI000451'\r\n"
    [outcome] = ws.receive("orders_money.edi", interchange).outcomes
    assert (str(outcome.result), outcome.accepted, outcome.rejected) == ("partial", 2, 1)
    assert [item[:2] for item in outcome.items] == [
        ("PO-2026-0001", "forwarded"), ("PO-2026-0004", "rejected"),
        ("PO-2026-0005", "forwarded")]
    [problem] = outcome.problems.items
    assert problem.message == (
        "order PO-2026-0004 does not add up: lines 319.90 − order discounts 10.00 + "
        "shipping 15.00 = 324.90, but the total is 324.91 (difference -0.01)")
    assert (problem.line, problem.field, problem.value) == (
        line_of(interchange, b"UNH+2+"), "total", "324.91")
    [erp] = ws.erp_orders()
    assert [r[2] for r in erp if r[0] == "E"] == ["PO-2026-0001", "PO-2026-0005"]


def test_a_channel_tolerating_counts_takes_a_message_its_translator_miscounted(
        tmp_path: Path) -> None:
    data = sample("edifact/orders_d96a.edi")
    count = int(re.search(rb"UNT\+(\d+)\+2'", data).group(1))  # type: ignore[union-attr]
    miscounted = data.replace(b"UNT+%d+2'" % count, b"UNT+%d+2'" % (count + 3))
    strict = EdiWorkspace(tmp_path / "strict")
    [outcome] = strict.receive("orders.edi", miscounted).outcomes
    assert (str(outcome.result), outcome.accepted, outcome.rejected) == ("partial", 2, 1)
    [problem] = outcome.problems.items
    assert (problem.line, problem.field, problem.value) == (
        line_of(data, b"UNT+%d+2'" % count), "UNT01", str(count + 3))
    tolerant = EdiWorkspace(tmp_path / "tolerant")
    (tolerant.root / "gateway.toml").write_text(
        CONFIG + '\n[channels.edi_orders_in.edi]\ntolerance = { counts = false }\n',
        encoding="utf-8")
    [outcome] = tolerant.receive("orders.edi", miscounted).outcomes
    assert (str(outcome.result), outcome.accepted, outcome.rejected) == ("accepted", 3, 0)
    # references are still checked
    [outcome] = tolerant.receive("orders2.edi", resent(miscounted, b"CI000452").replace(
        b"UNT+%d+2'" % (count + 3), b"UNT+%d+9'" % count)).outcomes
    assert outcome.rejected == 1
