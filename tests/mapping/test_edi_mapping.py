"""EDI reader mappings (EDIFACT, X12): linted at load with the file and key, and read one
record per message through the grouped assembly, every problem located.

The reading tests feed hand-made syntax events (``formats/edi.py``'s model) so that what
the mapping side does with a refused message, a message of another type or a trailer's
problem is tested on its own; the shipped samples go through the real syntax readers in
``tests/flows/test_edi_orders.py``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gateway.config import resource_dir
from gateway.errors import ConfigError, Problem
from gateway.formats.edi import (
    EdiProblem,
    Group,
    GroupEnd,
    Interchange,
    InterchangeEnd,
    Message,
    Segment,
    Separators,
)
from gateway.mapping import reader
from gateway.mapping.loader import Mapping, load_mapping_file
from gateway.mapping.reader import ProblemSink, read_records

ORDERS = """\
[mapping]
direction = "read"
document = "orders"
format = "edifact"

[edi]
message = "ORDERS"
versions = ["D96A"]

[edi.nest]
LIN = ["PIA", "QTY", "PRI"]

[fields.shop]
path = "@sender"

[fields.number]
path = "BGM/e2"
transforms = ["strip", "required"]

[fields.created_at]
path = "DTM[@q='137']/e1/c2"
transforms = [{ datetime = { format = "%Y%m%d" } }]

[fields.currency]
transforms = [{ constant = { value = "EUR" } }]

[fields.payment_status]
transforms = [{ constant = { value = "on_account" } }]

[fields.total]
path = "MOA[@q='86']/e1/c2"
transforms = ["decimal"]

[lines]
path = "LIN"

[lines.line_number]
path = "e1"
transforms = ["integer"]

[lines.sku]
path_any = ["PIA/e2[c2='SA']/c1", "e3[c2='EN']/c1"]

[lines.quantity]
path = "QTY[@q='21']/e1/c2"
transforms = ["required", "decimal"]

[lines.unit_price]
path = "PRI[@q='AAA']/e1/c2"
transforms = ["decimal"]
"""


def write(tmp_path: Path, text: str, name: str = "partner_orders.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> tuple[ConfigError, Path]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_mapping_file(path)
    return info.value, path


# ---- lint --------------------------------------------------------------------------------

def test_an_edi_reader_loads_with_its_message_versions_and_groups(tmp_path: Path) -> None:
    m = load_mapping_file(write(tmp_path, ORDERS))
    assert m.format == "edifact"
    assert m.edi_read is not None
    assert (m.edi_read.message, m.edi_read.versions) == ("ORDERS", ("D96A",))
    assert m.edi_read.nest == (("LIN", ("PIA", "QTY", "PRI")),)
    [lines] = [g for g in m.groups if g.name == "lines"]
    assert lines.path == "LIN"
    [sku] = [f for f in lines.fields if f.name == "sku"]
    assert sku.paths == ("PIA/e2[c2='SA']/c1", "e3[c2='EN']/c1")
    assert sku.label == "PIA/e2[c2='SA']/c1 or e3[c2='EN']/c1"


@pytest.mark.parametrize("name", ["edifact_orders_d96a", "edifact_orders_d01b", "x12_850"])
def test_shipped_edi_mappings_load(name: str) -> None:
    m = load_mapping_file(resource_dir("mappings") / f"{name}.toml")
    assert (m.document, m.direction) == ("orders", "read")
    assert m.edi_read is not None
    assert {g.name: g.path for g in m.groups}["lines"] in ("LIN", "PO1")


@pytest.mark.parametrize(("old", "new", "key", "message"), [
    ('versions = ["D96A"]', 'versions = ["D96A"]\nsegments = 3', "edi.segments",
     "unknown key 'segments'"),
    ('message = "ORDERS"\n', "", "edi.message", "missing required key"),
    ('message = "ORDERS"', 'message = "ORDERS D96A"', "edi.message",
     "'ORDERS D96A' is not a message type like ORDERS or 850"),
    ('versions = ["D96A"]', 'versions = "D96A"', "edi.versions",
     "expected a list of versions like [\"D96A\"], found 'D96A'"),
    ('[edi.nest]\nLIN = ["PIA", "QTY", "PRI"]', 'nest = ["LIN"]', "edi.nest",
     "expected a table of segment tags, each with the list of the tags its group holds: "
     "{ LIN = [\"QTY\", \"PRI\"] }, found ['LIN']"),
    ('LIN = ["PIA", "QTY", "PRI"]', 'LIN = "QTY"', "edi.nest.LIN",
     "expected a list of segment tags, found 'QTY'"),
    ('LIN = ["PIA", "QTY", "PRI"]', 'LIN = ["PIA", "qty"]', "edi.nest.LIN",
     "expected a list of segment tags, found ['PIA', 'qty']"),
    ('LIN = ["PIA", "QTY", "PRI"]', 'LINE = ["PIA"]', "edi.nest.LINE",
     "'LINE' is not a segment tag like LIN or PO1"),
    ('LIN = ["PIA", "QTY", "PRI"]', 'LIN = ["PIA", "QTY", "PRI", "LIN"]', "edi.nest.LIN",
     "LIN starts its group: another LIN starts the next one, so it is not one of its "
     "members"),
])
def test_edi_table_errors_name_the_key(tmp_path: Path, old: str, new: str, key: str,
                                       message: str) -> None:
    assert old in ORDERS
    err, path = load_error(tmp_path, ORDERS.replace(old, new))
    assert err.key == key
    assert str(err) == f"{path}: {key}: {message}"


def test_an_edi_reader_needs_its_message_type(tmp_path: Path) -> None:
    text = ORDERS.replace('[edi]\nmessage = "ORDERS"\nversions = ["D96A"]\n\n[edi.nest]\n'
                          'LIN = ["PIA", "QTY", "PRI"]\n', "")
    err, path = load_error(tmp_path, text)
    assert err.key == "edi"
    assert str(err) == (f"{path}: edi: an EDI reader names the message it reads: [edi] "
                        'message = "ORDERS" (or "850")')


def test_an_edi_table_in_a_csv_reader_is_refused(tmp_path: Path) -> None:
    text = ('[mapping]\ndirection = "read"\ndocument = "stock"\nformat = "csv"\n\n'
            '[edi]\nmessage = "INVRPT"\n\n[fields.sku]\ncolumn = "SKU"\n')
    err, path = load_error(tmp_path, text)
    assert err.key == "edi"
    assert str(err) == f"{path}: edi: an [edi] table does not apply to csv reader mappings"


@pytest.mark.parametrize(("old", "new", "key", "message"), [
    ('path = "BGM/e2"', 'path = "BGM/e2[@q="', "fields.number.path",
     "'BGM/e2[@q=' is not a valid element path"),
    ('path_any = ["PIA/e2[c2=\'SA\']/c1", "e3[c2=\'EN\']/c1"]',
     'path_any = ["PIA/e2[c2=\'SA\']/c1", "e3[[c2]"]', "lines.sku.path_any[1]",
     "'e3[[c2]' is not a valid element path"),
    ('path_any = ["PIA/e2[c2=\'SA\']/c1", "e3[c2=\'EN\']/c1"]',
     'path_any = ["PIA/e2[c2=\'SA\']/c1"]', "lines.sku.path_any",
     "expected a list of two or more element paths, found [\"PIA/e2[c2='SA']/c1\"]"),
    ('path_any = ["PIA/e2[c2=\'SA\']/c1", "e3[c2=\'EN\']/c1"]',
     'path = "e3/c1"\npath_any = ["PIA/e2/c1", "e3/c1"]', "lines.sku.path_any",
     "give path or path_any, not both"),
    ('path = "LIN"', 'path = "@q"', "lines.path",
     "'@q' names an attribute; the items of a group are segments"),
    ('[lines]\npath = "LIN"', '[lines]', "lines.path",
     "missing required key: the segment that starts each item's group (path = \"LIN\")"),
    ('[lines]\npath = "LIN"', '[group]\nby = "BGM"\n\n[lines]\npath = "LIN"', "group",
     "an EDI record is one message: its items are its repeated segment groups ([lines] "
     "path = \"LIN\"); there is no [group] table"),
    ('[lines.quantity]\npath = "QTY', '[lines.quantity]\ncolumn = "QTY', "lines.quantity.column",
     "unknown key 'column'"),
])
def test_path_errors_name_the_key(tmp_path: Path, old: str, new: str, key: str,
                                  message: str) -> None:
    assert old in ORDERS
    err, path = load_error(tmp_path, ORDERS.replace(old, new))
    assert err.key == key
    assert str(err).startswith(f"{path}: {key}: {message}")


def test_a_segment_read_inside_a_group_must_be_nested_there(tmp_path: Path) -> None:
    err, path = load_error(tmp_path, ORDERS.replace('LIN = ["PIA", "QTY", "PRI"]',
                                                    'LIN = ["PIA", "PRI"]'))
    assert err.key == "lines.quantity.path"
    assert str(err) == (f"{path}: lines.quantity.path: QTY is read inside LIN, but [edi] "
                        "nest does not put it in LIN's group")
    assert err.hint == 'nest = { LIN = ["PIA", "PRI", "QTY"] }'
    # the same for a record-level path through a party's group
    text = ORDERS + '\n[fields.email]\npath = "NAD[@q=\'BY\']/COM/e1[c2=\'EM\']/c1"\n'
    err, path = load_error(tmp_path, text)
    assert (err.key, err.hint) == ("fields.email.path", 'nest = { NAD = ["COM"] }')


def test_path_any_is_for_edi_readers(tmp_path: Path) -> None:
    text = ('[mapping]\ndirection = "read"\ndocument = "stock"\nformat = "xml"\n\n'
            '[fields.sku]\npath_any = ["sku", "ref"]\n')
    err, _path = load_error(tmp_path, text)
    assert err.key == "fields.sku.path_any"
    assert "unknown key 'path_any'" in str(err)


def test_a_csv_table_does_not_apply_to_an_edi_reader(tmp_path: Path) -> None:
    err, path = load_error(tmp_path, ORDERS.replace("[edi]\n", '[csv]\ndelimiter = ";"\n\n'
                                                    "[edi]\n"))
    assert err.key == "csv"
    assert str(err) == f"{path}: csv: a [csv] table does not apply to edifact mappings"


# ---- reading, with hand-made syntax events ---------------------------------------------

INTERCHANGE = Interchange(
    "edifact", "3012345000017", "14", "3098765000004", "14", "CI1", "UNOC", "3", "261128",
    "0915", False, Separators(":", "+", "'", "?", None),
    Segment("UNB", (), 2))


def segment(text: str, line: int, position: int = 0) -> Segment:
    """``QTY+21:12`` as the syntax readers give it (no release characters here)."""
    tag, *elements = text.split("+")
    return Segment(tag, tuple((tuple(e.split(":")),) for e in elements), line, position)


def message(first_line: int, *texts: str, type: str = "ORDERS", version: str = "D96A",
            problems: list[EdiProblem] | None = None) -> Message:
    """A message of consecutive lines, UNH first (its reference the line number)."""
    segs = tuple(segment(t, first_line + i, i + 1)
                 for i, t in enumerate((f"UNH+{first_line}+{type}:D:96A:UN", *texts,
                                        f"UNT+{len(texts) + 2}+{first_line}")))
    return Message(INTERCHANGE, None, type, version, str(first_line), segs,
                   problems=problems or [])


def order(first_line: int, number: str, *lines: tuple[str, str], **kw: Any) -> Message:
    body = [f"BGM+220+{number}+9", "DTM+137:20261128:102"]
    for i, (sku, qty) in enumerate(lines, 1):
        body += [f"LIN+{i}++3098765000103:EN", *([f"PIA+5+{sku}:SA"] if sku else []),
                 f"QTY+21:{qty}", "PRI+AAA:4.00"]
    return message(first_line, *body, "UNS+S", "MOA+86:96.00", **kw)


def read(events: list[Any], monkeypatch: pytest.MonkeyPatch, text: str = ORDERS,
         tmp_path: Path | None = None) -> tuple[list[tuple[int, dict[str, Any]]], ProblemSink]:
    assert tmp_path is not None
    m: Mapping = load_mapping_file(write(tmp_path, text))

    def events_of(_src: Any, _name: str, **_kw: Any) -> Iterator[Any]:
        yield from events
    monkeypatch.setattr(reader, "_edi_events", lambda _fmt: events_of)
    sink = ProblemSink()
    got = list(read_records(m, io.BytesIO(b""), "orders.edi", sink))
    return got, sink


def test_each_message_is_one_order_its_lins_the_lines(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    got, sink = read([order(3, "PO-1", ("CAF-001", "24"), ("", "6")), order(20, "PO-2")],
                     monkeypatch, tmp_path=tmp_path)
    assert not sink
    assert [line for line, _rec in got] == [3, 20]
    rec = got[0][1]
    assert (rec["shop"], rec["number"], rec["total"]) == ("3012345000017", "PO-1",
                                                         Decimal("96.00"))
    assert rec["created_at"].isoformat() == "2026-11-28T00:00:00+00:00"
    # path_any: the supplier's article number, else the GTIN of the LIN
    assert [(ln["line_number"], ln["sku"], ln["quantity"]) for ln in rec["lines"]] == [
        (1, "CAF-001", Decimal("24")), (2, "3098765000103", Decimal("6"))]
    assert got[1][1]["lines"] == ()


def test_a_bad_value_is_located_on_its_segment_line(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    bad = order(20, "PO-2", ("CAF-001", "douze"))
    got, sink = read([order(3, "PO-1", ("CAF-001", "1")), bad], monkeypatch,
                     tmp_path=tmp_path)
    assert [rec["number"] for _line, rec in got] == ["PO-1"]
    qty_line = next(s.line for s in bad.segments if s.tag == "QTY")
    assert sink.items == [Problem("not a number", line=qty_line,
                                  field="QTY[@q='21']/e1/c2", value="douze",
                                  file="orders.edi")]
    assert sink.rows_rejected == 1
    # a required value the message lacks: on the line of the group that lacks it
    got, sink = read([order(3, "PO-1", ("CAF-001", "1"))], monkeypatch,
                     ORDERS.replace('transforms = ["strip", "required"]',
                                    'transforms = ["strip", "required"]\n\n'
                                    '[fields.customer_id]\npath = "NAD/e2"\n'
                                    'transforms = ["required"]'), tmp_path)
    assert [(p.line, p.field, p.message) for p in sink.items] == [
        (3, "NAD/e2", "value is required")]


def test_a_message_with_syntax_problems_is_refused_alone(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    problems = [EdiProblem("number of segments 9 does not match UNT 8", "message", "29",
                           line=30, segment="UNT", position=9, element=1, value="8"),
                EdiProblem("UNT reference 21 is not UNH's 20", "message", "28")]
    got, sink = read([order(3, "PO-1", ("A", "1")),
                      order(20, "PO-2", ("B", "1"), problems=problems),
                      order(40, "PO-3", ("C", "1"))], monkeypatch, tmp_path=tmp_path)
    assert [rec["number"] for _line, rec in got] == ["PO-1", "PO-3"]
    assert sink.items == [
        Problem("number of segments 9 does not match UNT 8", line=30, field="UNT01",
                value="8", file="orders.edi"),
        # a problem without a segment of its own: on the message's first line
        Problem("UNT reference 21 is not UNH's 20", line=20, file="orders.edi")]
    assert sink.rows_rejected == 1


def test_a_message_of_another_type_or_version_is_refused_on_its_line(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    got, sink = read([order(3, "PO-1", ("A", "1")),
                      message(20, "BGM+380+INV-1+9", type="INVOIC"),
                      order(30, "PO-3", ("C", "1"), version="D01B")], monkeypatch,
                     tmp_path=tmp_path)
    assert [rec["number"] for _line, rec in got] == ["PO-1"]
    assert sink.items == [
        Problem("message type INVOIC is not read by mapping partner_orders (it reads "
                "ORDERS)", line=20, field="UNH02", value="INVOIC", file="orders.edi"),
        Problem("ORDERS version D01B is not read by mapping partner_orders (it reads D96A)",
                line=30, field="UNH02", value="D01B", file="orders.edi")]
    assert sink.rows_rejected == 2


def test_trailer_problems_are_the_files(monkeypatch: pytest.MonkeyPatch,
                                        tmp_path: Path) -> None:
    group = Group("ORDERS", "7", "D96A", "A", "B", Segment("UNG", (), 3))
    got, sink = read([
        order(4, "PO-1", ("A", "1")),
        GroupEnd(group, 1, [EdiProblem("UNE counts 2 messages, the group has 1", "group",
                                       "29", line=15, segment="UNE", element=1,
                                       value="2")]),
        InterchangeEnd(INTERCHANGE, 1, 1,
                       [EdiProblem("the interchange has no UNZ", "interchange", "35")],
                       complete=False)], monkeypatch, tmp_path=tmp_path)
    assert [rec["number"] for _line, rec in got] == ["PO-1"]
    assert sink.sorted() == [
        Problem("the interchange has no UNZ", line=2, file="orders.edi"),
        Problem("UNE counts 2 messages, the group has 1", line=15, field="UNE01",
                value="2", file="orders.edi")]
    assert sink.rows_rejected == 0


def test_a_flat_document_reads_one_record_per_message(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    text = ('[mapping]\ndirection = "read"\ndocument = "stock"\nformat = "edifact"\n\n'
            '[edi]\nmessage = "INVRPT"\n\n'
            '[fields.sku]\npath = "LIN/e3/c1"\n\n'
            '[fields.warehouse]\npath = "NAD[@q=\'WH\']/e2"\n\n'
            '[fields.quantity]\npath = "QTY[@q=\'145\']/e1/c2"\ntransforms = ["decimal"]\n\n'
            '[fields.as_of]\npath = "DTM[@q=\'366\']/e1/c2"\n'
            'transforms = [{ datetime = { format = "%Y%m%d%H%M" } }]\n')
    msgs = [message(3 + 10 * i, "BGM+35+INV-1+9", "DTM+366:202611280900:203",
                    "NAD+WH+MAIN", f"LIN+1++SKU-{i}:EN", f"QTY+145:{i}", type="INVRPT")
            for i in (1, 2)]
    got, sink = read(msgs, monkeypatch, text, tmp_path)
    assert not sink
    assert [(rec["sku"], rec["warehouse"], rec["quantity"]) for _line, rec in got] == [
        ("SKU-1", "MAIN", Decimal("1")), ("SKU-2", "MAIN", Decimal("2"))]
