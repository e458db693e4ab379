"""The stock flow end to end through the real pipeline, on local folders."""

from __future__ import annotations

from lxml import etree

from gateway.config import resource_dir
from gateway.model import ExchangeState

from tests.conftest import Workspace, stock_csv


def test_stock_export_becomes_shop_import_xml_and_ack(ws: Workspace) -> None:
    ws.drop("stock1.csv", stock_csv("A-1;MAIN;12,000;28/11/2026 09:15",
                                    "A-1;EAST;3,500;28/11/2026 09:15",
                                    "B-2;MAIN;0,000;28/11/2026 09:15"))
    s = ws.run_once()
    assert s.received == 1
    assert ws.files(ws.inbox) == []
    assert ws.files(ws.shop_out) == ["stock_000001.csv", "stock_000001.xml"]
    assert (ws.shop_out / "stock_000001.csv").read_text("utf-8") == (
        "Reference #;Quantity\nA-1;15\nB-2;0\n")
    xml = etree.parse(str(ws.shop_out / "stock_000001.xml"))
    schema = etree.XMLSchema(etree.parse(str(resource_dir("schemas") / "stock.xsd")))
    assert schema.validate(xml), schema.error_log
    items = [(i.findtext("sku"), i.findtext("warehouse"), i.findtext("quantity"),
              i.findtext("as_of")) for i in xml.getroot()]
    assert items == [("A-1", "MAIN", "12.000", "2026-11-28T09:15:00+01:00"),
                     ("A-1", "EAST", "3.500", "2026-11-28T09:15:00+01:00"),
                     ("B-2", "MAIN", "0.000", "2026-11-28T09:15:00+01:00")]
    assert ws.files(ws.erp_out) == ["ACK_stock1_000001.xml"]
    ack = etree.parse(str(ws.erp_out / "ACK_stock1_000001.xml"))
    ack_schema = etree.XMLSchema(etree.parse(str(resource_dir("schemas") / "ack.xsd")))
    assert ack_schema.validate(ack), ack_schema.error_log
    assert ack.findtext("result") == "accepted"
    assert ack.find("records").attrib == {"total": "3", "accepted": "3", "rejected": "0"}
    ledger = ws.ledger()
    x = ledger.get(1)
    assert x is not None and x.state is ExchangeState.PROCESSED
    assert [t.to_state for t in ledger.transitions(1)] == ["RECEIVED", "PROCESSED"]
    assert {o.state for o in ledger.outputs_of(1)} == {ExchangeState.DELIVERED}
