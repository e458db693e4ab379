"""Canonical → EDI → canonical: orders read from a buyer's EANCOM interchange, written by
the ORDERS writer and read back by the same reader are the same orders, and texts with
the separators and accents in them come back unchanged."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.config import EdiSettings, resource_dir
from gateway.formats import edifact
from gateway.mapping.ediwriter import Envelope
from gateway.mapping.loader import load_mapping_file
from gateway.mapping.reader import ProblemSink, read_records
from gateway.mapping.writer import RecordWriter
from gateway.store.ledger import Ledger

DATA = Path(__file__).resolve().parents[1] / "data" / "edifact"
BUYER, US = "3012345000017", "3098765000004"


def read(data: bytes) -> list[dict[str, Any]]:
    m = load_mapping_file(resource_dir("mappings") / "edifact_orders_d96a.toml")
    sink = ProblemSink()
    records = [rec for _line, rec in read_records(m, io.BytesIO(data), "orders.edi", sink)]
    assert not sink, sink.items
    return records


def write(ledger: Ledger, records: list[dict[str, Any]], syntax: str = "UNOC"
          ) -> tuple[bytes, list[Any]]:
    m = load_mapping_file(resource_dir("mappings") / "edifact_orders_d96a_out.toml")
    sink, problems = io.BytesIO(), []
    w = RecordWriter(m, sink, envelope=Envelope(
        EdiSettings(sender=BUYER, recipient=US, syntax=syntax), ledger.next_control_number,
        datetime(2026, 11, 28, 9, 0, tzinfo=UTC)), on_problem=lambda *p: problems.append(p))
    with ledger.transaction():
        w.write(records, list(range(2, len(records) + 2)))
        w.close()
    return sink.getvalue(), problems


def test_orders_written_as_eancom_read_back_the_same(tmp_path: Path) -> None:
    orders = read((DATA / "orders_d96a.edi").read_bytes())
    assert len(orders) == 3 and any(o["discounts"] for o in orders)
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    try:
        data, problems = write(ledger, orders)
    finally:
        ledger.close()
    assert problems == []
    *messages, end = list(edifact.events(io.BytesIO(data), "out.edi"))
    assert end.ok and all(m.ok for m in messages) and len(messages) == 3
    # CNT+2 counts each order's lines (not its allowances, written before them)
    assert [m.segments[-2].value(1, 2) for m in messages] == [
        str(len(o["lines"])) for o in orders]
    assert read(data) == orders


def test_separators_and_accents_survive_the_round_trip(tmp_path: Path) -> None:
    [order, *_] = read((DATA / "orders_d96a.edi").read_bytes())
    tricky = {**order, "company": "L'Arbre + Fils: 100% ?bio? — Ça va", "number": "PO+1'2",
              "lines": tuple({**ln, "name": "Thé « vert » 2:1 + ?"} for ln in order["lines"])}
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    try:
        latin, problems = write(ledger, [tricky])
        utf8, _ = write(ledger, [{**tricky, "company": "Чайная L'Арбр"}], syntax="UNOY")
    finally:
        ledger.close()
    # "—" is not Latin-1: the UNOC interchange leaves the order out, located
    assert [(p[0], p[1]) for p in problems] == [(2, "NAD04 (company)")]
    assert latin == b""  # nothing else to send: no interchange, no control number
    assert read(utf8)[0]["company"] == "Чайная L'Арбр"
    fine = {**tricky, "company": "L'Arbre + Fils: 100% ?bio? Ça va"}
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    try:
        data, problems = write(ledger, [fine])
    finally:
        ledger.close()
    assert problems == [] and read(data) == [fine]
