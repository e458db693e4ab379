"""EDI writer mappings are linted at load: every error names the mapping file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.mapping.loader import EdiValue, load_mapping_file

ORDRSP = """\
[mapping]
direction = "write"
document = "order_status"
format = "edifact"

[edi]
message = "ORDRSP"
version = "D96A"
association = "EAN005"
per = "number"

[[segments]]
tag = "BGM"
level = "message"
elements = ["231", "{number}", { field = "status", distinct = true, transforms = [
    { value_map = { map = { accepted = "29" }, default = "4" } }] }]

[[segments]]
tag = "LIN"
elements = ["{line_number}", ["{sku}", "SA"]]

[[segments]]
tag = "CNT"
level = "end"
elements = [["2", "{records}"]]
"""

X12 = """\
[mapping]
direction = "write"
document = "stock"
format = "x12"
view = "sku_totals"

[edi]
message = "846"
version = "004010"
functional_group = "IB"

[[segments]]
tag = "LIN"
elements = ["", "VP", "{sku}"]
"""


def load(tmp_path: Path, text: str, name: str = "edi_out.toml") -> object:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_mapping_file(path)


def error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    message = str(info.value)
    assert message.startswith(str(tmp_path / "edi_out.toml") + ": ")
    return message.split(": ", 1)[1]


def test_an_edi_writer_loads_its_message_and_segments(tmp_path: Path) -> None:
    m = load(tmp_path, ORDRSP)
    opts = m.edi_write  # type: ignore[attr-defined]
    assert (opts.message, opts.version, opts.association, opts.per, opts.functional_group) \
        == ("ORDRSP", "D96A", "EAN005", "number", None)
    assert [(s.tag, s.level) for s in opts.segments] == [
        ("BGM", "message"), ("LIN", "record"), ("CNT", "end")]
    bgm, lin, cnt = opts.segments
    assert bgm.elements[0] == (EdiValue("BGM01", text="231"),)
    assert bgm.elements[2][0].distinct and bgm.elements[2][0].field == "status"
    assert [v.label for v in lin.elements[1]] == ["LIN02-1 (sku)", "LIN02-2"]
    assert cnt.elements[0][1].counter == "records"
    assert opts.buffered  # distinct: an order's lines are held until the order ends
    assert m.extension == "edi"  # type: ignore[attr-defined]
    x12 = load(tmp_path, X12, "x12.toml")
    assert x12.edi_write.per is None and not x12.edi_write.buffered  # type: ignore
    assert x12.extension == "x12"  # type: ignore[attr-defined]


@pytest.mark.parametrize(("old", "new", "want"), [
    ('elements = ["{line_number}"', 'elements = ["{line}"',
     "segments[1].elements[0]: document 'order_status' has no field 'line'"),
    ('tag = "LIN"\n', 'tag = "LIN"\nlevel = "line"\n',
     "segments[1].level: unknown level 'line'"),
    ('default = "4"', 'defaultt = "4"',
     "segments[0].elements[2].transforms[0]: value_map: unknown option 'defaultt'"),
    ('tag = "LIN"', 'tag = "UNT"',
     "segments[1].tag: UNT is part of the envelope, which the writer writes itself"),
    ('tag = "LIN"', 'tag = "lin"', "segments[1].tag: 'lin' is not a segment tag"),
    ('["2", "{records}"]', '["2", 2]', "segments[2].elements[0][1]: expected a text"),
    ('["{sku}", "SA"]', '["{sku}", ["SA"]]',
     "segments[1].elements[1][1]: a component is a text"),
    ('level = "end"\n', 'level = "message"\n',
     "segments[2].elements[0][1]: {records} counts the records of a message"),
    ('per = "number"', 'per = "file"',
     "segments[0].elements[2].distinct: distinct needs messages of bounded size"),
    ('per = "number"', 'per = "lines"', "edi.per: expected \"file\""),
    ('version = "D96A"', 'version = "96A"', "edi.version: '96A' is not a version"),
    ('message = "ORDRSP"', 'message = "855"', "edi.message: '855' is not an EDIFACT"),
    ('association = "EAN005"', 'functional_group = "PR"',
     "edi.functional_group: functional_group is X12's (GS01)"),
    ('per = "number"', 'per = "number"\nversions = ["D96A"]', "edi.versions: unknown key"),
    ('[[segments]]\ntag = "LIN"', '[[segments]]\ntag = "QTY"\nlevel = "end"\nelements = '
     '["1"]\n\n[[segments]]\ntag = "LIN"',
     "segments[2].level: a record-level LIN after the end-level QTY (segments[1]) would be "
     "written before it"),
    ('tag = "LIN"\n', 'tag = "LIN"\nwhen = { field = "sku", present = "yes" }\n',
     "segments[1].when.present: expected true or false"),
    ('elements = ["{line_number}", ["{sku}", "SA"]]', 'elements = []',
     "segments[1].elements: expected a list with one entry per data element"),
    ('{ field = "status", distinct', '{ field = "name", distinct',
     "segments[0].elements[2]: document 'order_status' has no field 'name'"),
])
def test_a_wrong_edifact_writer_is_refused_with_its_key(tmp_path: Path, old: str, new: str,
                                                        want: str) -> None:
    assert old in ORDRSP
    assert error(tmp_path, ORDRSP.replace(old, new, 1)).startswith(want)


@pytest.mark.parametrize(("old", "new", "want"), [
    ('functional_group = "IB"\n', '', "edi.functional_group: missing required key"),
    ('functional_group = "IB"', 'functional_group = "PR"',
     "edi.functional_group: 846 transaction sets go in IB groups, not PR"),
    ('message = "846"', 'message = "INVRPT"', "edi.message: 'INVRPT' is not an X12"),
    ('version = "004010"', 'version = "D96A"', "edi.version: 'D96A' is not a version"),
    ('[edi]', '[edi]\nassociation = "EAN004"', "edi.association: association is EDIFACT's"),
])
def test_a_wrong_x12_writer_is_refused_with_its_key(tmp_path: Path, old: str, new: str,
                                                    want: str) -> None:
    assert old in X12
    assert error(tmp_path, X12.replace(old, new, 1)).startswith(want)


def test_a_writer_without_record_segments_writes_nothing_and_is_refused(tmp_path: Path
                                                                        ) -> None:
    text = X12.replace('tag = "LIN"', 'tag = "BIA"\nlevel = "message"')
    assert error(tmp_path, text).startswith('segments: no segment has level = "record"')


def test_edi_tables_belong_to_edi_writers(tmp_path: Path) -> None:
    csv_writer = ('[mapping]\ndirection = "write"\ndocument = "stock"\nformat = "csv"\n\n'
                  '[edi]\nmessage = "INVRPT"\n\n[[columns]]\nheader = "SKU"\nfield = "sku"\n')
    assert error(tmp_path, csv_writer).startswith("edi: [edi] is for EDIFACT and X12 "
                                                  "writers, not csv")
    with_columns = X12 + '\n[[columns]]\nheader = "SKU"\nfield = "sku"\n'
    assert error(tmp_path, with_columns).startswith("columns: an EDI writer writes "
                                                    "[[segments]]; [columns] does not apply")
    no_edi = X12.split("[edi]")[0] + X12.split("IB\"\n")[1]
    assert error(tmp_path, no_edi).startswith('edi: an EDI writer names the message it '
                                              'writes: [edi] message = "855"')
    reader = ('[mapping]\ndirection = "read"\ndocument = "stock"\nformat = "csv"\n\n'
              '[fields.sku]\ncolumn = "SKU"\n\n[[segments]]\ntag = "LIN"\n')
    assert error(tmp_path, reader).startswith("segments: unknown key 'segments'")
