"""Every bad input the ERP can send: a located error, the right ack and state, and the
gateway goes on with the next file. Nothing that arrived is ever lost."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

from gateway.config import resource_dir
from gateway.model import Direction, ExchangeState
from gateway.pipeline.runner import Gateway
from gateway.store.archive import Archive
from gateway.store.ledger import Exchange

from tests.conftest import Workspace, make_workspace, stock_csv

ACK_SCHEMA = etree.XMLSchema(etree.parse(str(resource_dir("schemas") / "ack.xsd")))

A1 = "A-1;MAIN;1,000;28/11/2026 09:15"
GOOD_NAME = "good.csv"  # sorts after "bad.csv": the bad file is exchange 1, this one 2
GOOD = stock_csv("G-1;MAIN;5,000;28/11/2026 09:15", "G-2;MAIN;2,500;28/11/2026 09:15")
GOOD_SHOP_CSV = "Reference #;Quantity\nG-1;5\nG-2;2\n"

ProblemRow = tuple[int | None, str | None, str | None, str]  # line, field, value, message


@dataclass
class Ack:
    result: str
    records: dict[str, str]
    errors: list[ProblemRow]
    duplicate_of: str | None
    note: str | None
    file: dict[str, str]


def read_ack(path: Path) -> Ack:
    """Parse an ack and check it against schemas/ack.xsd."""
    doc = etree.parse(str(path))
    assert ACK_SCHEMA.validate(doc), ACK_SCHEMA.error_log
    root = doc.getroot()
    errors: list[ProblemRow] = []
    for e in root.iterfind("errors/error"):
        line = e.get("line")
        errors.append((int(line) if line is not None else None, e.get("field"),
                       e.findtext("value"), e.findtext("message") or ""))
    if (errs := root.find("errors")) is not None:
        assert errs.attrib == {"count": str(len(errors)), "shown": str(len(errors))}
    return Ack(root.findtext("result") or "", dict(root.find("records").attrib), errors,
               root.findtext("duplicateOf"), root.findtext("note"),
               dict(root.find("file").attrib))


def inputs(ws: Workspace) -> list[Exchange]:
    return ws.ledger().list_exchanges(direction=Direction.IN)


def problems(ws: Workspace, xid: int) -> list[ProblemRow]:
    return [(p.line, p.field, p.value, p.message) for p in ws.ledger().problems(xid)]


def positions(ws: Workspace) -> list[tuple[str, str, int, int]]:
    """(sku, warehouse, quantity in millionths, exchange) of every stock position."""
    return [tuple(r) for r in ws.ledger().db.execute(
        "SELECT sku, warehouse, quantity, exchange_id FROM stock_positions"
        " ORDER BY sku, warehouse")]


def assert_nothing_lost(ws: Workspace, dropped: dict[str, list[bytes]]) -> None:
    """Each dropped file is still in the inbox, in quarantine, or archived by an exchange."""
    archive = Archive.in_workspace(ws.root)
    exchanges = inputs(ws)
    for name, versions in dropped.items():
        for data in versions:
            here = ws.inbox / name
            if here.is_file() and here.read_bytes() == data:
                continue
            digest = hashlib.sha256(data).hexdigest()
            kept = [x for x in exchanges if x.file_name == name and x.sha256 == digest
                    and x.size == len(data)]
            if kept:
                with archive.open(digest) as fh:
                    assert fh.read() == data
                continue
            quarantined = [x for x in exchanges if x.file_name == name and not x.sha256
                           and (ws.inbox / "quarantine" / f"{name}.{x.id}").is_file()
                           and (ws.inbox / "quarantine" / f"{name}.{x.id}").read_bytes()
                           == data]
            assert quarantined, f"{name} ({len(data)} bytes) was lost"


def assert_good_file_processed(ws: Workspace, xid: int = 2) -> None:
    """The good file dropped beside the bad one went all the way through."""
    x = ws.ledger().get(xid)
    assert x is not None
    assert (x.file_name, x.state, x.result, x.records_accepted) == (
        GOOD_NAME, ExchangeState.PROCESSED, "accepted", 2)
    assert (ws.shop_out / f"stock_{xid:06d}.csv").read_text("utf-8") == GOOD_SHOP_CSV
    assert read_ack(ws.erp_out / f"ACK_good_{xid:06d}.xml").result == "accepted"


@dataclass
class Case:
    id: str
    data: bytes
    result: str
    counts: tuple[int, int, int]  # total, accepted, rejected
    errors: list[ProblemRow]
    shop_csv: str | None  # the bad file's shop output, None when nothing may be written


CASES = [
    Case("wrong_encoding_utf8_on_cp1252",
         stock_csv("CHAISE-ÉTÉ-01;MAIN;1,000;28/11/2026 09:15", encoding="utf-8"),
         "rejected", (0, 0, 0),
         [(2, None, "CHAISE-Ã‰TÃ‰-01;MAIN;1,000;28/11/2026 09:15",
           "file is UTF-8 encoded but the mapping declares cp1252")], None),
    Case("invalid_byte", stock_csv(A1) + b"B\x81;MAIN;2,000;28/11/2026 09:15\r\n",
         "partial", (2, 1, 1),
         [(3, None, None, "byte 0x81 at column 2 is not valid cp1252")],
         "Reference #;Quantity\nA-1;1\n"),
    Case("missing_column", stock_csv("A-1;MAIN;28/11/2026 09:15",
                                     header="ARTICLE;DEPOT;DATE_MAJ\r\n"),
         "rejected", (0, 0, 0),
         [(1, "QTE_VIRTUELLE", None, "column 'QTE_VIRTUELLE' is missing from the header "
           "(found: ARTICLE, DEPOT, DATE_MAJ; mapping erp_stock_csv.toml, fields.quantity)")],
         None),
    Case("extra_column", stock_csv(A1 + ";x",
                                   header="ARTICLE;DEPOT;QTE_VIRTUELLE;DATE_MAJ;EXTRA\r\n"),
         "rejected", (0, 0, 0),
         [(1, "EXTRA", None, "unexpected column 'EXTRA' in the header")], None),
    Case("row_with_extra_field", stock_csv(A1, "B-2;MAIN;2,000;28/11/2026 09:15;oops"),
         "partial", (2, 1, 1), [(3, None, None, "expected 4 fields, found 5")],
         "Reference #;Quantity\nA-1;1\n"),
    Case("non_numeric_quantity", stock_csv(A1, "B-2;MAIN;deux;28/11/2026 09:15"),
         "partial", (2, 1, 1), [(3, "QTE_VIRTUELLE", "deux", "not a number")],
         "Reference #;Quantity\nA-1;1\n"),
    Case("negative_quantity", stock_csv(A1, "B-2;MAIN;-4,000;28/11/2026 09:15"),
         "partial", (2, 1, 1),
         [(3, "QTE_VIRTUELLE", "-4.000",
           "The value '-4.000' is less than the minimum value allowed ('0').")],
         "Reference #;Quantity\nA-1;1\n"),
    Case("unparseable_date", stock_csv(A1, "B-2;MAIN;4,000;31/11/2026 09:15"),
         "partial", (2, 1, 1),
         [(3, "DATE_MAJ", "31/11/2026 09:15", "not a date/time in the form '%d/%m/%Y %H:%M'")],
         "Reference #;Quantity\nA-1;1\n"),
    Case("header_only", stock_csv(), "rejected", (0, 0, 0),
         [(2, None, None, "file has no records")], None),
    Case("truncated_last_line", stock_csv(A1) + b"B-2;MAIN;4,0", "partial", (2, 1, 1),
         [(3, None, None,
           "expected 4 fields, found 3; the last line is cut short (file truncated?)")],
         "Reference #;Quantity\nA-1;1\n"),
    Case("several_bad_rows", stock_csv(A1, "B-2;MAIN;x;28/11/2026 09:15",
                                       "C-3;MAIN;3,000;28/11/2026 09:15",
                                       "D-4;;4,000;28/11/2026 09:15",
                                       "E-5;EAST;5,000;28/11/2026 09:15"),
         "partial", (5, 3, 2),
         [(3, "QTE_VIRTUELLE", "x", "not a number"),
          (5, "DEPOT", "", "value is required")],
         "Reference #;Quantity\nA-1;1\nC-3;3\nE-5;5\n"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_located_acknowledged_and_the_next_file_still_goes(
        ws: Workspace, case: Case) -> None:
    ws.drop("bad.csv", case.data)
    ws.drop(GOOD_NAME, GOOD)
    s = ws.run_once()
    assert [(o.exchange_id, str(o.result)) for o in s.outcomes] == [(1, case.result),
                                                                     (2, "accepted")]
    x = ws.ledger().get(1)
    assert x is not None
    state = ExchangeState.REJECTED if case.result == "rejected" else ExchangeState.PROCESSED
    assert (x.file_name, x.state, x.result) == ("bad.csv", state, case.result)
    assert (x.records_total, x.records_accepted, x.records_rejected) == case.counts
    assert problems(ws, 1) == case.errors
    ack = read_ack(ws.erp_out / "ACK_bad_000001.xml")
    total, accepted, rejected = case.counts
    assert ack.result == case.result
    assert ack.records == {"total": str(total), "accepted": str(accepted),
                           "rejected": str(rejected)}
    assert ack.errors == case.errors
    assert ack.file == {"name": "bad.csv", "size": str(len(case.data)),
                        "sha256": hashlib.sha256(case.data).hexdigest(),
                        "received": x.created_at, "channel": "erp_stock_in",
                        "exchange": "1"}
    if case.shop_csv is None:
        assert ws.files(ws.shop_out) == ["stock_000002.csv", "stock_000002.xml"]
    else:
        assert ws.files(ws.shop_out) == ["stock_000001.csv", "stock_000001.xml",
                                         "stock_000002.csv", "stock_000002.xml"]
        assert (ws.shop_out / "stock_000001.csv").read_text("utf-8") == case.shop_csv
    assert ws.files(ws.erp_out) == ["ACK_bad_000001.xml", "ACK_good_000002.xml"]
    assert ws.files(ws.inbox) == []
    assert_good_file_processed(ws)
    assert_nothing_lost(ws, {"bad.csv": [case.data], GOOD_NAME: [GOOD]})


def test_utf8_with_a_byte_order_mark_is_read_as_utf8(ws: Workspace) -> None:
    data = b"\xef\xbb\xbf" + stock_csv("CHAISE-ÉTÉ-01;MAIN;3,000;28/11/2026 09:15",
                                       encoding="utf-8")
    ws.drop("bom.csv", data)
    ws.run_once()
    x = ws.ledger().get(1)
    assert x is not None and (x.state, x.result) == (ExchangeState.PROCESSED, "accepted")
    assert (ws.shop_out / "stock_000001.csv").read_text("utf-8") == (
        "Reference #;Quantity\nCHAISE-ÉTÉ-01;3\n")
    assert_nothing_lost(ws, {"bom.csv": [data]})


def test_rejected_file_applies_nothing(ws: Workspace) -> None:
    """A rejected file is rolled back whole: no stock position of it survives."""
    bad = stock_csv(A1, header="ARTICLE;DEPOT;QTE;DATE_MAJ\r\n")
    ws.drop("bad.csv", bad)
    ws.drop(GOOD_NAME, GOOD)
    ws.run_once()
    assert positions(ws) == [("G-1", "MAIN", 5_000_000, 2), ("G-2", "MAIN", 2_500_000, 2)]
    assert_nothing_lost(ws, {"bad.csv": [bad], GOOD_NAME: [GOOD]})


# -- empty files -------------------------------------------------------------------------------
def test_zero_byte_file_waits(ws: Workspace) -> None:
    ws.drop("empty.csv", b"")
    ws.drop(GOOD_NAME, GOOD)
    with Gateway(ws.config()) as gw:
        for _ in range(4):
            gw.cycle()
            time.sleep(0.02)
        assert gw.files_waiting()
    assert [(x.id, x.file_name) for x in inputs(ws)] == [(1, GOOD_NAME)]
    assert ws.files(ws.inbox) == ["empty.csv"]
    assert_good_file_processed(ws, 1)
    assert_nothing_lost(ws, {"empty.csv": [b""], GOOD_NAME: [GOOD]})


def test_zero_byte_file_is_rejected_after_the_grace_period(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", extra_in='empty_grace = "0s"')
    ws.drop("empty.csv", b"")
    ws.drop(GOOD_NAME, GOOD)
    ws.run_once()
    x = ws.ledger().get(1)
    assert x is not None
    assert (x.file_name, x.state, x.result, x.size) == (
        "empty.csv", ExchangeState.REJECTED, "rejected", 0)
    assert problems(ws, 1) == [(1, None, None, "file is empty (0 bytes)")]
    ack = read_ack(ws.erp_out / "ACK_empty_000001.xml")
    assert (ack.result, ack.records, ack.errors) == (
        "rejected", {"total": "0", "accepted": "0", "rejected": "0"},
        [(1, None, None, "file is empty (0 bytes)")])
    assert ws.files(ws.shop_out) == ["stock_000002.csv", "stock_000002.xml"]
    assert_good_file_processed(ws)
    assert_nothing_lost(ws, {"empty.csv": [b""], GOOD_NAME: [GOOD]})


# -- partial files -----------------------------------------------------------------------------
def test_accept_partial_false_rejects_the_file_and_writes_no_shop_output(tmp_path: Path
                                                                          ) -> None:
    ws = make_workspace(tmp_path / "ws", extra_in="accept_partial = false")
    bad = stock_csv(A1, "B-2;MAIN;deux;28/11/2026 09:15")
    ws.drop("bad.csv", bad)
    ws.drop(GOOD_NAME, GOOD)
    ws.run_once()
    x = ws.ledger().get(1)
    assert x is not None
    assert (x.state, x.result, x.records_total, x.records_accepted, x.records_rejected) == (
        ExchangeState.REJECTED, "rejected", 2, 1, 1)
    ack = read_ack(ws.erp_out / "ACK_bad_000001.xml")
    assert (ack.result, ack.records, ack.errors) == (
        "rejected", {"total": "2", "accepted": "1", "rejected": "1"},
        [(3, "QTE_VIRTUELLE", "deux", "not a number")])
    assert ws.files(ws.shop_out) == ["stock_000002.csv", "stock_000002.xml"]
    assert [o.kind for o in ws.ledger().outputs_of(1)] == ["ack"]
    assert positions(ws) == [("G-1", "MAIN", 5_000_000, 2), ("G-2", "MAIN", 2_500_000, 2)]
    assert_good_file_processed(ws)
    assert_nothing_lost(ws, {"bad.csv": [bad], GOOD_NAME: [GOOD]})


# -- size limit --------------------------------------------------------------------------------
def test_file_over_max_size_is_quarantined_unread(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", extra_in="max_size = 100")
    big = stock_csv(A1, "B-2;MAIN;2,000;28/11/2026 09:15", "C-3;MAIN;3,000;28/11/2026 09:15")
    small = stock_csv("G-1;MAIN;5,000;28/11/2026 09:15")
    assert len(big) > 100 >= len(small)
    ws.drop("big.csv", big)
    ws.drop(GOOD_NAME, small)
    ws.run_once()
    x = ws.ledger().get(1)
    assert x is not None
    assert (x.file_name, x.state, x.result, x.size, x.sha256) == (
        "big.csv", ExchangeState.REJECTED, "rejected", len(big), "")
    message = (f"file is {len(big)} bytes, over this channel's limit of 100 bytes; it was not "
               "read and is kept in the endpoint's quarantine folder")
    assert problems(ws, 1) == [(None, None, None, message)]
    ack = read_ack(ws.erp_out / "ACK_big_000001.xml")
    assert (ack.result, ack.errors, ack.file["size"], ack.file["sha256"]) == (
        "rejected", [(None, None, None, message)], str(len(big)), "0" * 64)
    # moved aside, never deleted, never read into the archive
    assert ws.files(ws.inbox) == []
    assert ws.files(ws.inbox / "quarantine") == ["big.csv.1"]
    assert (ws.inbox / "quarantine/big.csv.1").read_bytes() == big
    assert not Archive.in_workspace(ws.root).exists(hashlib.sha256(big).hexdigest())
    good = ws.ledger().get(2)
    assert good is not None and (good.state, good.result) == (ExchangeState.PROCESSED,
                                                              "accepted")
    assert (ws.shop_out / "stock_000002.csv").read_text("utf-8") == (
        "Reference #;Quantity\nG-1;5\n")
    assert_nothing_lost(ws, {"big.csv": [big], GOOD_NAME: [small]})


# -- identity: duplicates and new versions -----------------------------------------------------
def test_same_bytes_under_another_name_is_a_duplicate(ws: Workspace) -> None:
    data = stock_csv(A1)
    ws.drop("first.csv", data)
    ws.run_once()
    ws.drop("second.csv", data)
    s = ws.run_once()
    assert [(o.exchange_id, str(o.result), o.duplicate_of) for o in s.outcomes] == [
        (5, "duplicate", 1)]
    x = ws.ledger().get(5)
    assert x is not None
    assert (x.file_name, x.state, x.result) == ("second.csv", ExchangeState.DUPLICATE,
                                                "duplicate")
    ack = read_ack(ws.erp_out / "ACK_second_000005.xml")
    assert (ack.result, ack.duplicate_of, ack.note, ack.records, ack.errors) == (
        "duplicate", "1", "same content as exchange 1 (first.csv)",
        {"total": "0", "accepted": "0", "rejected": "0"}, [])
    assert [o.kind for o in ws.ledger().outputs_of(5)] == ["ack"]
    assert ws.files(ws.shop_out) == ["stock_000001.csv", "stock_000001.xml"]
    assert ws.files(ws.inbox) == []
    assert_nothing_lost(ws, {"first.csv": [data], "second.csv": [data]})


def test_duplicate_in_the_same_batch(ws: Workspace) -> None:
    data = stock_csv(A1)
    ws.drop("a.csv", data)
    ws.drop("b.csv", data)
    ws.run_once()
    assert [(x.id, x.file_name, x.state) for x in inputs(ws)] == [
        (1, "a.csv", ExchangeState.PROCESSED), (2, "b.csv", ExchangeState.DUPLICATE)]
    assert ws.files(ws.shop_out) == ["stock_000001.csv", "stock_000001.xml"]
    assert read_ack(ws.erp_out / "ACK_b_000002.xml").duplicate_of == "1"
    assert_nothing_lost(ws, {"a.csv": [data], "b.csv": [data]})


def test_same_name_with_new_content_is_a_new_exchange(ws: Workspace) -> None:
    v1 = stock_csv("A-1;MAIN;1,000;28/11/2026 09:15")
    v2 = stock_csv("A-1;MAIN;6,000;28/11/2026 10:15")
    ws.drop("stock.csv", v1)
    ws.run_once()
    ws.drop("stock.csv", v2)
    ws.run_once()
    assert [(x.id, x.file_name, x.state, x.result) for x in inputs(ws)] == [
        (1, "stock.csv", ExchangeState.PROCESSED, "accepted"),
        (5, "stock.csv", ExchangeState.PROCESSED, "accepted")]
    assert (ws.shop_out / "stock_000005.csv").read_text("utf-8") == (
        "Reference #;Quantity\nA-1;6\n")
    assert read_ack(ws.erp_out / "ACK_stock_000005.xml").result == "accepted"
    assert positions(ws) == [("A-1", "MAIN", 6_000_000, 5)]
    # the same name and the same content again is a duplicate of the second version
    ws.drop("stock.csv", v2)
    ws.run_once()
    x = ws.ledger().get(9)
    assert x is not None and (x.state, x.result) == (ExchangeState.DUPLICATE, "duplicate")
    assert read_ack(ws.erp_out / "ACK_stock_000009.xml").duplicate_of == "5"
    assert_nothing_lost(ws, {"stock.csv": [v1, v2]})


# -- older never overwrites newer --------------------------------------------------------------
def test_older_file_never_overwrites_newer_quantities(ws: Workspace) -> None:
    newer = stock_csv("A-1;MAIN;7,000;28/11/2026 10:00", "B-2;MAIN;1,000;28/11/2026 10:00")
    older = stock_csv("A-1;MAIN;3,000;28/11/2026 09:00", "B-2;MAIN;2,000;28/11/2026 11:00")
    ws.drop("newer.csv", newer)
    ws.run_once()
    ws.drop("older.csv", older)
    ws.run_once()
    x = ws.ledger().get(5)
    assert x is not None
    assert (x.file_name, x.state, x.result, x.records_accepted) == (
        "older.csv", ExchangeState.PROCESSED, "accepted", 2)
    # A-1 keeps the 10:00 quantity of newer.csv; B-2 takes the 11:00 one of older.csv
    assert positions(ws) == [("A-1", "MAIN", 7_000_000, 1), ("B-2", "MAIN", 2_000_000, 5)]
    note = ("1 record(s) older than the quantity already applied for the same SKU and "
            "warehouse were ignored")
    ack = read_ack(ws.erp_out / "ACK_older_000005.xml")
    assert (ack.result, ack.records, ack.note) == (
        "accepted", {"total": "2", "accepted": "2", "rejected": "0", "ignored": "1"}, note)
    assert x.note == note
    # the shop's summed import only carries what changed
    assert (ws.shop_out / "stock_000005.csv").read_text("utf-8") == (
        "Reference #;Quantity\nB-2;2\n")
    assert_nothing_lost(ws, {"newer.csv": [newer], "older.csv": [older]})


def test_older_record_is_not_sent_to_the_shop_in_xml(ws: Workspace) -> None:
    ws.drop("newer.csv", stock_csv("A-1;MAIN;7,000;28/11/2026 10:00"))
    ws.run_once()
    ws.drop("older.csv", stock_csv("A-1;MAIN;3,000;28/11/2026 09:00",
                                   "B-2;MAIN;2,000;28/11/2026 11:00"))
    ws.run_once()
    xml = etree.parse(str(ws.shop_out / "stock_000005.xml"))
    assert [(i.findtext("sku"), i.findtext("quantity")) for i in xml.getroot()] == [
        ("B-2", "2.000")]
