"""Order responses by EDI, end to end: a buyer's orders reach the ERP, the ERP's order
statuses come back, and the buyer gets an EANCOM ORDRSP interchange and an X12 855 in
its outbox, their control numbers counted in the ledger across files and restarts."""

from __future__ import annotations

import io
from pathlib import Path

from gateway.config import load
from gateway.formats import edifact, x12
from gateway.formats.edi import GroupEnd, InterchangeEnd, Message
from gateway.pipeline.runner import CycleSummary, Gateway

BUYER = "3012345000017"   # the buyer's GLN: its orders' shop, our responses' recipient
US = "4012345000009"

CONFIG = f"""\
[gateway]
workspace = "."
poll_interval = "50ms"
min_age = "0s"

[endpoints.buyer_in]
path = "inbox/buyer"

[endpoints.erp_in]
path = "inbox/erp"

[endpoints.erp_out]
path = "outbox/erp"

[endpoints.buyer_out]
path = "outbox/buyer"

# the buyer's orders (canonical XML here; EANCOM ORDERS in production), on account
[channels.buyer_orders_in]
direction = "in"
endpoint = "buyer_in"
document = "orders"
mapping = "canonical_orders_in"
payment = "any"

[channels.erp_orders_txt]
direction = "out"
endpoint = "erp_out"
document = "orders"
mapping = "erp_orders_csv"
filename = "orders_{{exchange}}.txt"

[channels.erp_status_in]
direction = "in"
endpoint = "erp_in"
pattern = "*.csv"
document = "order_status"
mapping = "erp_order_status_csv"
ack_endpoint = "erp_out"

[channels.buyer_ordrsp]
direction = "out"
endpoint = "buyer_out"
document = "order_status"
mapping = "edifact_ordrsp_d96a"
filename = "ORDRSP_{{exchange}}.{{ext}}"

[channels.buyer_ordrsp.edi]
sender = "{US}"
recipient = "{BUYER}"

[channels.buyer_855]
direction = "out"
endpoint = "buyer_out"
document = "order_status"
mapping = "x12_855"
filename = "855_{{exchange}}.{{ext}}"

[channels.buyer_855.edi]
sender = "GATEWAY"
recipient = "BUYER"
test = true
"""

ORDERS = f"""\
<?xml version="1.0" encoding="utf-8"?>
<orders>
<order><shop>{BUYER}</shop><number>PO-7001</number><created_at>2026-11-28T08:00:00+01:00</created_at>
<currency>EUR</currency><payment_status>on_account</payment_status><customer_id>{BUYER}</customer_id>
<company>Épicerie L'Arbre à Café</company><shipping_amount>0.00</shipping_amount><total>183.00</total>
<line><line_number>1</line_number><sku>CAF-001</sku><quantity>24</quantity><unit_price>4.00</unit_price></line>
<line><line_number>2</line_number><sku>CAF-002</sku><quantity>6</quantity><unit_price>14.50</unit_price></line>
</order>
<order><shop>{BUYER}</shop><number>PO-7002</number><created_at>2026-11-28T08:30:00+01:00</created_at>
<currency>EUR</currency><payment_status>on_account</payment_status><customer_id>{BUYER}</customer_id>
<company>Épicerie L'Arbre à Café</company><shipping_amount>0.00</shipping_amount><total>86.40</total>
<line><line_number>1</line_number><sku>MUG-001</sku><quantity>12</quantity><unit_price>7.20</unit_price></line>
</order>
</orders>
"""

HEADER = ("BOUTIQUE;COMMANDE;LIGNE;ARTICLE;STATUT;QTE_CONFIRMEE;QTE_RELIQUAT;DATE_PREVUE;"
          "CODE_MOTIF;MOTIF;DATE_MAJ\r\n")


def statuses(*rows: str) -> bytes:
    return (HEADER + "".join(r + "\r\n" for r in rows)).encode("cp1252")


class Workspace:
    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("inbox/buyer", "inbox/erp", "outbox/erp", "outbox/buyer"):
            (root / sub).mkdir(parents=True)
        (root / "gateway.toml").write_text(CONFIG, encoding="utf-8")

    def receive(self, folder: str, name: str, data: bytes) -> CycleSummary:
        tmp = self.root / folder / f".{name}.part"
        tmp.write_bytes(data)
        tmp.rename(self.root / folder / name)
        with Gateway(load(self.root / "gateway.toml")) as gw:  # a new process each time
            return gw.run_once(settle_timeout=2.0)

    def out(self, pattern: str) -> list[Path]:
        return sorted((self.root / "outbox/buyer").glob(pattern))


def read(module: object, data: bytes) -> list[object]:
    return list(module.events(io.BytesIO(data), "out"))  # type: ignore[attr-defined]


def body(msg: Message) -> list[tuple[str, tuple[tuple[str, ...], ...]]]:
    """The message's segments between its header and trailer, as (tag, the components
    of each element)."""
    return [(s.tag, tuple(e[0] for e in s.elements)) for s in msg.segments[1:-1]]


def test_order_statuses_go_back_to_the_buyer_as_ordrsp_and_855(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    [orders] = ws.receive("inbox/buyer", "orders.xml", ORDERS.encode()).outcomes
    assert [status for _n, status, _w in orders.items] == ["forwarded", "forwarded"]

    [first] = ws.receive("inbox/erp", "status_1.csv", statuses(
        f"{BUYER};PO-7001;1;CAF-001;ACCEPTEE;24;0;;;;28/11/2026 14:05",
        f"{BUYER};PO-7001;2;CAF-002;PARTIELLE;4;2;05/12/2026;RUP;Rupture fournisseur;"
        "28/11/2026 14:05",
        f"{BUYER};PO-7002;1;MUG-001;BLOQUEE;;;;ARR;Article arrêté;28/11/2026 14:06")).outcomes
    assert (str(first.result), first.accepted) == ("accepted", 3)
    [ordrsp] = ws.out("ORDRSP_*")
    assert ordrsp.name == f"ORDRSP_{first.exchange_id:06d}.edi"
    events = read(edifact, ordrsp.read_bytes())
    m1, m2, end = events
    assert isinstance(m1, Message) and isinstance(m2, Message) and isinstance(end,
                                                                             InterchangeEnd)
    assert end.ok and end.messages == 2 and m1.ok and m2.ok
    ic = m1.interchange
    assert (ic.sender, ic.recipient, ic.control, ic.syntax) == (US, BUYER, "1", "UNOC")
    assert (m1.type, m1.version, m1.association, m1.reference, m2.reference) == (
        "ORDRSP", "D96A", "EAN005", "1", "2")
    assert body(m1)[:3] == [("BGM", (("231",), ("PO-7001",), ("4",))),
                            ("DTM", (("137", "20261128", "102"),)),
                            ("RFF", (("ON", "PO-7001"),))]
    assert [(tag, els) for tag, els in body(m1) if tag in ("LIN", "QTY", "DTM", "FTX")][1:] \
        == [("LIN", (("1",), ("5",))), ("QTY", (("113", "24"),)), ("QTY", (("83", "0"),)),
            ("LIN", (("2",), ("3",))), ("QTY", (("113", "4"),)), ("QTY", (("83", "2"),)),
            ("DTM", (("2", "20261205", "102"),)),
            ("FTX", (("AAI",), ("",), ("",), ("Rupture fournisseur",)))]
    assert body(m1)[-2:] == [("UNS", (("S",),)), ("CNT", (("2", "2"),))]
    assert body(m2)[0] == ("BGM", (("231",), ("PO-7002",), ("27",)))
    assert ("FTX", (("AAI",), ("",), ("",), ("Article arrêté",))) in body(m2)
    # the trailer counts what the message holds: the syntax reader found no problem
    assert m1.segments[-1].value(1) == str(len(m1.segments))

    [ack855] = ws.out("855_*")
    isa_events = read(x12, ack855.read_bytes())
    t1, t2, group_end, x_end = isa_events
    assert isinstance(group_end, GroupEnd) and isinstance(x_end, InterchangeEnd)
    assert x_end.ok and group_end.messages == 2 and t1.ok and t2.ok
    assert (t1.interchange.control, t1.interchange.test, t1.group.id, t1.group.control) == (
        "000000001", True, "PR", "1")
    assert (t1.type, t1.reference, t2.reference) == ("855", "0001", "0002")
    assert body(t1) == [
        ("BAK", (("00",), ("AC",), ("PO-7001",), ("20261128",))),
        ("PO1", (("1",), ("",), ("",), ("",), ("",), ("VP",), ("CAF-001",))),
        ("ACK", (("IA",), ("24",), ("EA",))),
        ("PO1", (("2",), ("",), ("",), ("",), ("",), ("VP",), ("CAF-002",))),
        ("ACK", (("BP",), ("2",), ("EA",), ("068",), ("20261205",))),
        ("CTT", (("2",),))]
    assert body(t2)[0] == ("BAK", (("00",), ("RD",), ("PO-7002",), ("20261128",)))

    # the next status file: a new interchange for each partner, the numbers go on (each
    # run is a new gateway process reading the ledger again)
    [second] = ws.receive("inbox/erp", "status_2.csv", statuses(
        f"{BUYER};PO-7001;2;CAF-002;ACCEPTEE;6;0;;;;29/11/2026 10:00")).outcomes
    assert str(second.result) == "accepted"
    later = ws.out(f"ORDRSP_{second.exchange_id:06d}.edi")[0]
    [m, end] = read(edifact, later.read_bytes())
    assert (m.interchange.control, m.reference) == ("2", "1")
    assert body(m)[0] == ("BGM", (("231",), ("PO-7001",), ("29",)))
    [t, _group_end, _x_end] = read(x12, ws.out(f"855_{second.exchange_id:06d}.x12")[0]
                                   .read_bytes())
    assert (t.interchange.control, t.group.control) == ("000000002", "2")


def test_a_value_the_syntax_cannot_carry_leaves_its_line_out_located(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.receive("inbox/buyer", "orders.xml", ORDERS.encode())
    data = (HEADER + f"{BUYER};PO-7001;1;CAF-001;ACCEPTEE;24;0;;;;28/11/2026 14:05\r\n"
            f"{BUYER};PO-7001;2;CAF-002;BLOQUEE;;;;ARR;Арт. снят;28/11/2026 14:05\r\n"
            ).encode("utf-8-sig")  # a UTF-8 export: the ERP's reason in Cyrillic
    [outcome] = ws.receive("inbox/erp", "status_3.csv", data).outcomes
    assert str(outcome.result) == "partial"
    [problem] = outcome.problems.sorted()
    assert (problem.line, problem.field, problem.value) == (3, "FTX04 (reason_text)",
                                                            "Арт. снят")
    assert "(left out of buyer_ordrsp)" in problem.message and "А" in problem.message
    # the line is left out of the ORDRSP only; the 855 carries no text and has it
    [m, _end] = read(edifact, ws.out("ORDRSP_*")[0].read_bytes())
    assert [els[0][0] for tag, els in body(m) if tag == "LIN"] == ["1"]
    assert m.ok
    [t, _g, _x] = read(x12, ws.out("855_*")[0].read_bytes())
    assert [els for tag, els in body(t) if tag == "ACK"] == [(("IA",), ("24",), ("EA",)),
                                                             (("IR",),)]
    ack = next((ws.root / "outbox/erp").glob("ACK_status_3_*.xml")).read_text("utf-8")
    assert "<result>partial</result>" in ack and "FTX04 (reason_text)" in ack
