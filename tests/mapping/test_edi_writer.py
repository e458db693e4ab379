"""EDI writers: records → the messages of one interchange, read back with the syntax
readers; control numbers from the ledger; values the syntax cannot carry, located."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from gateway.config import EdiSettings, resource_dir
from gateway.formats import edifact, x12
from gateway.formats.edi import GroupEnd, InterchangeEnd, Message
from gateway.mapping import ediwriter
from gateway.mapping.ediwriter import Envelope
from gateway.mapping.loader import load_mapping_file
from gateway.mapping.writer import RecordWriter
from gateway.store.ledger import Ledger

AT = datetime(2026, 11, 28, 13, 5, tzinfo=UTC)
PARTNER = EdiSettings(sender="4012345000009", recipient="5412345000013")


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    led = Ledger(tmp_path / "state" / "ledger.sqlite3")
    yield led
    led.close()


class Written:
    def __init__(self, data: bytes, count: int, problems: list[tuple[Any, ...]]) -> None:
        self.data, self.count, self.problems = data, count, problems


def write(ledger: Ledger, mapping: str, records: list[dict[str, Any]],
          settings: EdiSettings = PARTNER, *, chunks: int = 1) -> Written:
    """Write records through a shipped mapping, in the given number of ``write`` calls (as
    the pipeline hands a file over chunk by chunk), inside one ledger transaction."""
    m = load_mapping_file(resource_dir("mappings") / f"{mapping}.toml")
    sink = io.BytesIO()
    problems: list[tuple[Any, ...]] = []
    w = RecordWriter(m, sink, envelope=Envelope(settings, ledger.next_control_number, AT),
                     on_problem=lambda *p: problems.append(p))
    lines = list(range(2, len(records) + 2))
    size = -(-len(records) // chunks) if records else 1
    with ledger.transaction():
        for i in range(0, max(len(records), 1), size):
            w.write(records[i:i + size], lines[i:i + size])
        w.close()
    return Written(sink.getvalue(), w.count, problems)


def events(module: Any, data: bytes) -> list[Any]:
    return list(module.events(io.BytesIO(data), "out"))


def body(msg: Message) -> list[tuple[str, tuple[tuple[str, ...], ...]]]:
    """A message's segments between header and trailer: (tag, each element's components)."""
    return [(s.tag, tuple(e[0] for e in s.elements)) for s in msg.segments[1:-1]]


def status(number: str, line: int, state: str, **kw: Any) -> dict[str, Any]:
    return {"shop": "3012345000017", "number": number, "line_number": line, "sku": f"SKU-{line}",
            "status": state, "as_of": datetime(2026, 11, 28, 14, 5, tzinfo=UTC), **kw}


STATUSES = [
    status("PO-1", 1, "accepted", quantity_confirmed=D("24")),
    status("PO-1", 2, "partial", quantity_confirmed=D("4"), quantity_backordered=D("2"),
           expected_date=date(2026, 12, 5), reason_text="Rupture fournisseur"),
    status("PO-2", 1, "accepted"),
    status("PO-3", 1, "blocked", reason_text="Article arrêté"),
    status("PO-3", 2, "partial", quantity_confirmed=D("0"), quantity_backordered=D("5"),
           expected_date=date(2027, 1, 10)),
]


def test_ordrsp_one_message_per_order_counted_and_numbered(ledger: Ledger) -> None:
    out = write(ledger, "edifact_ordrsp_d96a", STATUSES, chunks=3)
    assert (out.count, out.problems) == (5, [])
    *msgs, end = events(edifact, out.data)
    assert isinstance(end, InterchangeEnd) and end.ok and end.messages == 3
    assert all(isinstance(m, Message) and m.ok for m in msgs)
    assert [m.reference for m in msgs] == ["1", "2", "3"]
    assert {(m.type, m.version, m.association) for m in msgs} == {("ORDRSP", "D96A", "EAN005")}
    ic = msgs[0].interchange
    assert (ic.sender, ic.sender_qualifier, ic.recipient, ic.recipient_qualifier, ic.control,
            ic.syntax) == ("4012345000009", "14", "5412345000013", "14", "1", "UNOC")
    first, second, third = (body(m) for m in msgs)
    # what the whole order got: 4 changes, 29 all accepted, 27 none accepted... and PO-3
    # has a partial line besides its blocked one: changes
    assert [b[0] for b in (first, second, third)] == [
        ("BGM", (("231",), ("PO-1",), ("4",))), ("BGM", (("231",), ("PO-2",), ("29",))),
        ("BGM", (("231",), ("PO-3",), ("4",)))]
    assert first == [
        ("BGM", (("231",), ("PO-1",), ("4",))),
        ("DTM", (("137", "20261128", "102"),)),
        ("RFF", (("ON", "PO-1"),)),
        ("NAD", (("BY",), ("3012345000017", "", "9"))),
        ("NAD", (("SU",), ("4012345000009", "", "9"))),
        ("LIN", (("1",), ("5",))), ("PIA", (("5",), ("SKU-1", "SA"))),
        ("QTY", (("113", "24"),)),
        ("LIN", (("2",), ("3",))), ("PIA", (("5",), ("SKU-2", "SA"))),
        ("QTY", (("113", "4"),)), ("QTY", (("83", "2"),)),
        ("DTM", (("2", "20261205", "102"),)),
        ("FTX", (("AAI",), ("",), ("",), ("Rupture fournisseur",))),
        ("UNS", (("S",),)), ("CNT", (("2", "2"),))]
    assert ("FTX", (("AAI",), ("",), ("",), ("Article arrêté",))) in third
    # UNT counts the message's segments, UNH and UNT included
    assert [m.segments[-1].value(1) for m in msgs] == [str(len(m.segments)) for m in msgs]


def test_x12_855_acknowledges_each_line_in_its_group(ledger: Ledger) -> None:
    out = write(ledger, "x12_855", STATUSES, EdiSettings(sender="GATEWAY", recipient="BUYER"))
    *sets, group_end, end = events(x12, out.data)
    assert isinstance(group_end, GroupEnd) and group_end.messages == 3 and not group_end.problems
    assert isinstance(end, InterchangeEnd) and end.ok and end.groups == 1
    assert all(t.ok for t in sets) and [t.reference for t in sets] == ["0001", "0002", "0003"]
    t = sets[0]
    assert (t.interchange.sender, t.interchange.sender_qualifier, t.interchange.control,
            t.interchange.test) == ("GATEWAY", "ZZ", "000000001", False)
    assert (t.group.id, t.group.control, t.group.version) == ("PR", "1", "004010")
    assert body(t) == [
        ("BAK", (("00",), ("AC",), ("PO-1",), ("20261128",))),
        ("PO1", (("1",), ("",), ("",), ("",), ("",), ("VP",), ("SKU-1",))),
        ("ACK", (("IA",), ("24",), ("EA",))),
        ("PO1", (("2",), ("",), ("",), ("",), ("",), ("VP",), ("SKU-2",))),
        ("ACK", (("BP",), ("2",), ("EA",), ("068",), ("20261205",))),
        ("CTT", (("2",),))]
    assert body(sets[1])[0][1][1] == ("AD",) and ("ACK", (("IA",),)) in body(sets[1])
    assert [els for tag, els in body(sets[2]) if tag == "ACK"] == [
        (("IR",),), (("IB",), ("5",), ("EA",), ("068",), ("20270110",))]
    assert [s.segments[-1].value(1) for s in sets] == [str(len(s.segments)) for s in sets]


def test_control_numbers_increase_per_partner_and_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    led = Ledger(path)
    one = write(led, "edifact_ordrsp_d96a", STATUSES[:2])
    two = write(led, "edifact_ordrsp_d96a", STATUSES[2:3])
    other = write(led, "edifact_ordrsp_d96a", STATUSES[:1],
                  EdiSettings(sender="4012345000009", recipient="3012345000017"))
    first_855 = write(led, "x12_855", STATUSES[:1])
    led.close()
    led = Ledger(path)
    try:
        three = write(led, "edifact_ordrsp_d96a", STATUSES[3:])
        second_855 = write(led, "x12_855", STATUSES[:1])
    finally:
        led.close()
    controls = [events(edifact, w.data)[0].interchange.control for w in (one, two, three)]
    assert controls == ["1", "2", "3"]
    # counted per recipient, each interchange's messages numbered from 1 again
    assert events(edifact, other.data)[0].interchange.control == "1"
    assert [events(edifact, w.data)[0].reference for w in (one, two, three)] == ["1"] * 3
    # X12's interchange and group numbers are counted apart from EDIFACT's and each other
    isa = [(events(x12, w.data)[0].interchange.control, events(x12, w.data)[0].group.control)
           for w in (first_855, second_855)]
    assert isa == [("000000001", "1"), ("000000002", "2")]


def test_nothing_to_write_takes_no_control_number(ledger: Ledger) -> None:
    out = write(ledger, "edifact_ordrsp_d96a", [])
    assert (out.data, out.count) == (b"", 0)
    assert events(edifact, write(ledger, "edifact_ordrsp_d96a", STATUSES[:1]).data
                  )[0].interchange.control == "1"


def test_an_unwritable_character_leaves_its_record_out_located(ledger: Ledger) -> None:
    records = [status("PO-1", 1, "accepted"),
               status("PO-1", 2, "blocked", reason_text="Товар снят"),
               status("PO-1", 3, "accepted")]
    out = write(ledger, "edifact_ordrsp_d96a", records)
    [(line, label, message, value)] = out.problems
    assert (line, label, value) == (3, "FTX04 (reason_text)", "Товар снят")
    assert "FTX" in message and "Т" in message
    [msg, end] = events(edifact, out.data)
    assert msg.ok and end.ok and out.count == 2
    assert [els for tag, els in body(msg) if tag == "LIN"] == [(("1",), ("5",)),
                                                              (("3",), ("5",))]
    # the whole order answered "not accepted" for its blocked line, even left out
    assert body(msg)[0] == ("BGM", (("231",), ("PO-1",), ("4",)))
    # UNOY (UTF-8) carries it
    utf8 = write(ledger, "edifact_ordrsp_d96a", records,
                 EdiSettings(sender="4012345000009", recipient="5412345000013", syntax="UNOY"))
    assert utf8.problems == [] and utf8.count == 3
    [msg, _end] = events(edifact, utf8.data)
    assert msg.interchange.syntax == "UNOY"
    assert ("FTX", (("AAI",), ("",), ("",), ("Товар снят",))) in body(msg)


def test_an_x12_separator_inside_a_value_is_refused_located(ledger: Ledger) -> None:
    products = [{"sku": "MUG-001", "name": {"en": "Mug"}, "active": True},
                {"sku": "MUG-002", "name": {"en": "Mug*2 ~ pack"}, "active": True}]
    out = write(ledger, "x12_832", products)
    [(line, label, _message, value)] = out.problems
    assert (line, label, value) == (3, "PID05 (name.en)", "Mug*2 ~ pack")
    [t, _group_end, end] = events(x12, out.data)
    assert end.ok and [els for tag, els in body(t) if tag == "LIN"] == [
        (("",), ("VP",), ("MUG-001",))]
    assert body(t)[-1] == ("CTT", (("1",),))


def test_a_value_a_transform_refuses_is_located(ledger: Ledger) -> None:
    out = write(ledger, "edifact_ordrsp_d96a", [status("PO-1", 1, "cancelled"),
                                                status("PO-1", 2, "accepted")])
    assert out.problems == [(2, "LIN02 (status)", "'cancelled' is not in the value map "
                             "(known: accepted, partial, blocked)", "cancelled")]
    [msg, _end] = events(edifact, out.data)
    assert [els for tag, els in body(msg) if tag == "LIN"] == [(("2",), ("5",))]


def test_a_message_level_value_refused_leaves_its_whole_message_out(ledger: Ledger) -> None:
    records = [status("PO-Ω", 1, "accepted"), status("PO-Ω", 2, "accepted"),
               status("PO-2", 1, "accepted")]
    out = write(ledger, "edifact_ordrsp_d96a", records)
    [(line, label, message, value)] = out.problems
    assert (line, label, value) == (2, "BGM02 (number)", "PO-Ω")
    assert message.endswith("; the message for number 'PO-Ω' (2 record(s)) is left out")
    [msg, _end] = events(edifact, out.data)
    assert (out.count, msg.reference, body(msg)[0][1][1]) == (1, "1", ("PO-2",))


def test_a_catalogue_past_what_unt_can_count_goes_on_in_a_next_message(
        ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ediwriter.MESSAGE_SEGMENTS, "edifact", 14)
    totals = [{"sku": f"SKU-{i}", "quantity": D(i)} for i in range(1, 6)]
    out = write(ledger, "edifact_invrpt_d96a", totals, chunks=2)
    *msgs, end = events(edifact, out.data)
    assert end.ok and out.count == 5 and all(m.ok for m in msgs)
    # UNH, BGM, DTM, NAD, then three segments per SKU, and UNT: 3 SKUs fit in 14
    assert [len(m.segments) for m in msgs] == [14, 11]
    assert [els for tag, els in body(msgs[1]) if tag in ("BGM", "LIN", "QTY")] == [
        (("35",), ("1",), ("9",)), (("1",),), (("145", "4"),), (("2",),), (("145", "5"),)]


def test_invrpt_and_846_report_the_projected_stock_rounded_down(ledger: Ledger) -> None:
    totals = [{"sku": "CAF-001", "quantity": D("15.500")}, {"sku": "JAR-010",
                                                             "quantity": D("0")}]
    [msg, _end] = events(edifact, write(ledger, "edifact_invrpt_d96a", totals).data)
    assert body(msg) == [
        ("BGM", (("35",), ("1",), ("9",))), ("DTM", (("137", "20261128", "102"),)),
        ("NAD", (("GY",), ("4012345000009", "", "9"))),
        ("LIN", (("1",),)), ("PIA", (("5",), ("CAF-001", "SA"))), ("QTY", (("145", "15"),)),
        ("LIN", (("2",),)), ("PIA", (("5",), ("JAR-010", "SA"))), ("QTY", (("145", "0"),))]
    [t, _g, _x] = events(x12, write(ledger, "x12_846", totals).data)
    assert body(t) == [
        ("BIA", (("00",), ("SI",), ("000000001",), ("20261128",))),
        ("LIN", (("",), ("VP",), ("CAF-001",))), ("QTY", (("33",), ("15",), ("EA",))),
        ("LIN", (("",), ("VP",), ("JAR-010",))), ("QTY", (("33",), ("0",), ("EA",))),
        ("CTT", (("2",),))]
