"""Orders: grouped readers (one order from several CSV rows, or from an XML element and
its <line> children) and the multi-record writer (E, C, L, R, P lines per order)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from gateway.config import resource_dir
from gateway.errors import ConfigError, DataError
from gateway.mapping.loader import load_mapping_file
from gateway.mapping.reader import ProblemSink, read_records
from gateway.mapping.writer import RecordWriter

MAPPINGS = resource_dir("mappings")
SHOPIFY = load_mapping_file(MAPPINGS / "shopify_orders_csv.toml")
CANONICAL_IN = load_mapping_file(MAPPINGS / "canonical_orders_in.toml")
ERP = load_mapping_file(MAPPINGS / "erp_orders_csv.toml")
CET = timezone(timedelta(hours=1))

# a shop export cut down to what the grouped reader needs: one row per line item, the
# order's own columns on its first row only
READER = """\
[mapping]
direction = "read"
document = "orders"
format = "csv"

[csv]
delimiter = ","

[group]
by = "Order"

[fields.shop]
transforms = [{ constant = { value = "web" } }]

[fields.number]
column = "Order"
transforms = ["strip", "required"]

[fields.created_at]
column = "Date"
transforms = ["strip", "required", "iso_datetime"]

[fields.currency]
column = "Currency"

[fields.payment_status]
column = "Paid"

[fields.total]
column = "Total"
transforms = ["required", "decimal"]

[lines.line_number]
row_number = true

[lines.sku]
column_any = ["Sku", "SKU"]

[lines.quantity]
column = "Qty"
transforms = ["required", "decimal"]

[lines.unit_price]
column = "Price"
transforms = ["required", "decimal"]

[discounts]
rows = "first"

[discounts.code]
column = "Coupon"

[discounts.amount]
column = "Off"
transforms = ["decimal"]

[discounts.spread]
transforms = [{ constant = { value = false } }]
"""
HEAD = "Order,Date,Currency,Paid,Total,Sku,Qty,Price,Coupon,Off\n"
T = "2026-11-28T09:15:00+01:00"


def mapping(tmp_path: Path, text: str = READER) -> Any:
    path = tmp_path / "shop_orders.toml"
    path.write_text(text, encoding="utf-8")
    return load_mapping_file(path)


def read(m: Any, data: str | bytes) -> tuple[list[tuple[int, dict[str, Any]]], ProblemSink]:
    problems = ProblemSink()
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return list(read_records(m, io.BytesIO(raw), "orders.csv", problems)), problems


def test_one_order_from_its_rows_first_row_fields_and_numbered_lines(tmp_path: Path
                                                                      ) -> None:
    records, problems = read(mapping(tmp_path), HEAD
                             + f"#1,{T},EUR,paid,25.00,A-1,2,10.00,WELCOME,5.00\n"
                             "#1,,,,,B-2,1,10.00,,\n"
                             f"#2,{T},EUR,pending,8.00,C-3,1,8.00,,\n")
    assert not problems
    assert records == [
        (2, {"shop": "web", "number": "#1", "created_at": datetime(2026, 11, 28, 9, 15,
                                                                     tzinfo=CET),
             "currency": "EUR", "payment_status": "paid", "total": D("25.00"),
             "lines": ({"line_number": 1, "sku": "A-1", "quantity": D(2),
                        "unit_price": D("10.00")},
                       {"line_number": 2, "sku": "B-2", "quantity": D(1),
                        "unit_price": D("10.00")}),
             "discounts": ({"code": "WELCOME", "amount": D("5.00"), "spread": False},)}),
        (4, {"shop": "web", "number": "#2", "created_at": records[1][1]["created_at"],
             "currency": "EUR", "payment_status": "pending", "total": D("8.00"),
             "lines": ({"line_number": 1, "sku": "C-3", "quantity": D(1),
                        "unit_price": D("8.00")},),
             "discounts": ()})]


def test_a_bad_value_in_the_second_row_drops_the_whole_order(tmp_path: Path) -> None:
    records, problems = read(mapping(tmp_path), HEAD
                             + f"#1,{T},EUR,paid,25.00,A-1,2,10.00,,\n"
                             "#1,,,,,B-2,x,,,\n"
                             f"#2,{T},EUR,paid,8.00,C-3,1,8.00,,\n")
    assert [(line, rec["number"]) for line, rec in records] == [(4, "#2")]
    # each problem on its own line, the order counted rejected once
    assert [(p.line, p.field, p.value, p.message) for p in problems.items] == [
        (3, "Qty", "x", "not a number"), (3, "Price", "", "value is required")]
    assert problems.rows_rejected == 1


def test_a_bad_order_level_value_is_on_the_first_row(tmp_path: Path) -> None:
    records, problems = read(mapping(tmp_path), HEAD
                             + "#1,yesterday,EUR,paid,25.00,A-1,2,10.00,,\n"
                             "#1,,,,,B-2,1,10.00,,\n")
    assert records == []
    assert [(p.line, p.field) for p in problems.items] == [(2, "Date")]


def test_an_order_not_next_to_its_other_rows_is_refused_there(tmp_path: Path) -> None:
    records, problems = read(mapping(tmp_path), HEAD
                             + f"#1,{T},EUR,paid,20.00,A-1,2,10.00,,\n"
                             f"#2,{T},EUR,paid,8.00,C-3,1,8.00,,\n"
                             "#1,,,,,B-2,1,10.00,,\n"
                             "#1,,,,,B-3,1,10.00,,\n"
                             f"#3,{T},EUR,paid,8.00,C-3,1,8.00,,\n")
    assert [(line, rec["number"], len(rec["lines"])) for line, rec in records] == [
        (2, "#1", 1), (3, "#2", 1), (6, "#3", 1)]
    assert [(p.line, p.field, p.value, p.message) for p in problems.items] == [
        (4, "Order", "#1", "order #1 appears again on line 4, not next to its other lines")]
    assert problems.rows_rejected == 1


def test_a_row_naming_no_order_and_a_short_row(tmp_path: Path) -> None:
    records, problems = read(mapping(tmp_path), HEAD
                             + f",{T},EUR,paid,8.00,C-3,1,8.00,,\n"
                             f"#1,{T},EUR,paid,20.00,A-1,2,10.00,,\n"
                             "#1,,,,,B-2\n"
                             f"#2,{T},EUR,paid,8.00,C-3,1,8.00,,\n")
    assert [rec["number"] for _line, rec in records] == ["#2"]
    assert [(p.line, p.message) for p in problems.items] == [
        (2, "value is required: it says which order the row is part of"),
        (4, "expected 10 fields, found 6")]
    assert problems.rows_rejected == 2


def test_column_any_takes_the_name_the_header_has(tmp_path: Path) -> None:
    m = mapping(tmp_path)
    records, problems = read(m, HEAD.replace("Sku", "SKU")
                             + f"#1,{T},EUR,paid,8.00,C-3,z,8.00,,\n")
    assert records == []
    assert [(p.field, p.value) for p in problems.items] == [("Qty", "z")]
    records, _ = read(m, HEAD.replace("Sku", "SKU") + f"#1,{T},EUR,paid,8.00,C-3,1,8.00,,\n")
    assert records[0][1]["lines"][0]["sku"] == "C-3"
    with pytest.raises(DataError) as info:
        read(m, HEAD.replace("Sku", "Article") + f"#1,{T},EUR,paid,8.00,C-3,1,8.00,,\n")
    p = info.value.problem
    assert (p.line, p.field) == (1, "Sku")
    assert p.message.startswith("column 'Sku' or 'SKU' is missing from the header (found: ")
    assert p.message.endswith("; mapping shop_orders.toml, lines.sku)")


def test_shopify_newer_headers_and_its_discount_from_the_first_row() -> None:
    header = ("Name,Email,Financial Status,Paid at,Currency,Subtotal,Shipping,Taxes,Total,"
              "Discount Code,Discount Amount,Shipping Method,Created at,Lineitem quantity,"
              "Lineitem name,Lineitem price,Lineitem SKU,Lineitem discount,Billing Name,"
              "Billing Address1,Billing Address2,Billing Company,Billing City,Billing Zip,"
              "Billing Country,Billing Phone,Shipping Name,Shipping Address1,"
              "Shipping Address2,Shipping Company,Shipping City,Shipping Zip,"
              "Shipping Country,Shipping Phone,Canceled at,Id\n")
    first = ("#1001,a@example.com,Paid,2026-11-28 09:16:00 +0100,EUR,20.00,0.00,3.33,"
             "20.00,{code},{amount},,2026-11-28 09:15:00 +0100,2,Mug,12.50,MUG-1,2.50,"
             "Anne,1 rue,,,Paris,'75011,fr,,Anne,1 rue,,,Paris,'75011,FR,,,55\n")
    rest = "#1001,a@example.com,,,,,,,,,,,,1,Bol,0.00,BOL-1,0.00,,,,,,,,,,,,,,,,,,55\n"
    records, problems = read(SHOPIFY, header + first.format(code="WELCOME", amount="2.50")
                             + rest)
    assert not problems.items
    [(line, order)] = records
    assert (line, order["payment_status"], order["billing_zip"], order["billing_country"],
            order["cancelled_at"]) == (2, "paid", "75011", "FR", "")
    assert [(ln["line_number"], ln["sku"]) for ln in order["lines"]] == [(1, "MUG-1"),
                                                                         (2, "BOL-1")]
    assert order["discounts"] == ({"code": "WELCOME", "amount": D("2.50"), "spread": True},)
    # no discount: Shopify still writes Discount Amount 0.00, which makes no discount
    records, _ = read(SHOPIFY, header + first.format(code="", amount="0.00") + rest)
    assert records[0][1]["discounts"] == ()


CANONICAL = """\
<?xml version="1.0" encoding="utf-8"?>
<orders>
<order>
  <shop>web</shop><number>#1</number><created_at>2026-11-28T09:15:00Z</created_at>
  <currency>EUR</currency><payment_status>paid</payment_status><total>25.00</total>
  <line><line_number>1</line_number><sku>A-1</sku><quantity>2</quantity>
    <unit_price>10.00</unit_price></line>
  <line><line_number>2</line_number><sku>B-2</sku><quantity>{qty}</quantity>
    <unit_price>5.00</unit_price></line>
  <discount><code>WELCOME</code><amount>5.00</amount><spread>true</spread></discount>
</order>
<order>
  <shop>web</shop><number>#2</number><created_at>2026-11-28T09:15:00Z</created_at>
  <currency>EUR</currency><payment_status>paid</payment_status><total>8.00</total>
  <line><line_number>1</line_number><sku>C-3</sku><quantity>1</quantity>
    <unit_price>8.00</unit_price></line>
</order>
</orders>
"""


def test_xml_orders_with_their_line_and_discount_elements() -> None:
    records, problems = read(CANONICAL_IN, CANONICAL.format(qty="1"))
    assert not problems
    assert [line for line, _rec in records] == [3, 12]
    one = records[0][1]
    assert one["created_at"] == datetime(2026, 11, 28, 9, 15, tzinfo=UTC)
    assert one["lines"] == (
        {"line_number": 1, "sku": "A-1", "name": None, "quantity": D(2),
         "unit_price": D("10.00"), "tax_rate": None, "discount_amount": None,
         "discount_percent": None, "promotion_code": None},
        {"line_number": 2, "sku": "B-2", "name": None, "quantity": D(1),
         "unit_price": D("5.00"), "tax_rate": None, "discount_amount": None,
         "discount_percent": None, "promotion_code": None})
    assert one["discounts"] == ({"code": "WELCOME", "amount": D("5.00"), "spread": True},)
    assert records[1][1]["discounts"] == ()


def test_xml_a_bad_value_in_a_line_drops_the_order_located_on_that_line() -> None:
    records, problems = read(CANONICAL_IN, CANONICAL.format(qty="one"))
    assert [rec["number"] for _line, rec in records] == ["#2"]
    assert [(p.line, p.field, p.value) for p in problems.items] == [(8, "quantity", "one")]
    assert problems.rows_rejected == 1


ORDER = {
    "shop": "web", "number": "#1001", "created_at": datetime(2026, 11, 28, 23, 30,
                                                              tzinfo=UTC),
    "currency": "EUR", "payment_status": "paid", "customer_number": "C00042",
    "customer_status": "updated", "email": "anne@example.com", "customer_name": "Anne Dubœuf",
    "delivery_street": "3 impasse du Moulin; Bât. B", "delivery_zip": "69003",
    "delivery_city": "Lyon", "delivery_country": "FR", "shipping_method": "Colissimo",
    "shipping_amount": D("4.9"), "total": D("49.90"),
    "lines": ({"line_number": 1, "sku": "MUG-001", "name": "Mug « Café »", "quantity": D(2),
               "unit_price": D("12.50"), "tax_rate": D(20), "discount_amount": D("2.50"),
               "promotion_code": "WELCOME10"},
              {"line_number": 2, "sku": "TEE-002", "name": "T-shirt", "quantity": D(1),
               "unit_price": D("25.00"), "discount_percent": D("10")}),
    "discounts": ({"code": "WELCOME10", "amount": D("5.00"), "spread": True},),
}


def write(m: Any, records: list[dict[str, Any]], lines: list[int] | None = None
          ) -> tuple[bytes, list[tuple[Any, ...]], int]:
    sink = io.BytesIO()
    refused: list[tuple[Any, ...]] = []
    w = RecordWriter(m, sink, on_problem=lambda *a: refused.append(a))
    w.write(records, lines)
    w.close()
    return sink.getvalue(), refused, w.count


def test_the_erp_order_import_writes_each_record_type_in_its_order() -> None:
    bare = {"shop": "web", "number": "#1002", "created_at": datetime(2026, 11, 28, 9, 0,
                                                                      tzinfo=UTC),
            "currency": "EUR", "payment_status": "paid", "total": D(8),
            "lines": ({"line_number": 1, "sku": "C-3", "quantity": D(1),
                       "unit_price": D(8)},), "discounts": ()}
    data, refused, count = write(ERP, [ORDER, bare])
    assert (refused, count) == ([], 2)
    assert data == (
        "E;web;#1001;29/11/2026;EUR;C00042;paid;49,90\r\n"  # the date in Paris
        "C;C00042;updated;anne@example.com;Anne Dubœuf;;;;;;;;;;;;;\"3 impasse du Moulin; "
        "Bât. B\";;69003;Lyon;FR\r\n"
        "L;1;MUG-001;Mug « Café »;2,000;12,50;20,00;2,50;;WELCOME10\r\n"
        "L;2;TEE-002;T-shirt;1,000;25,00;;;10,00;\r\n"
        "R;WELCOME10;5,00;1\r\n"
        "P;Colissimo;4,90;\r\n"
        "E;web;#1002;28/11/2026;EUR;;paid;8,00\r\n"
        "C;;;;;;;;;;;;;;;;;;;;;\r\n"
        "L;1;C-3;;1,000;8,00;;;;\r\n").encode("cp1252")


def test_a_refused_value_leaves_the_whole_order_out_reported_with_its_line() -> None:
    polish = {**ORDER, "number": "#1003", "customer_name": "Łucja Wąs"}
    data, refused, count = write(ERP, [polish, ORDER], lines=[7, 9])
    assert count == 1
    assert data.startswith(b"E;web;#1001;") and b"#1003" not in data
    assert refused == [(7, "name", "'Ł' cannot be written in cp1252", "Łucja Wąs")]


def test_when_conditions_and_transforms_of_a_multi_record_writer(tmp_path: Path) -> None:
    path = tmp_path / "erp.toml"
    path.write_text("""\
[mapping]
direction = "write"
document = "orders"
format = "csv"
[csv]
header = false
line_terminator = "\\n"
[[records]]
type = "H"
[[records.columns]]
field = "number"
[[records]]
type = "X"
level = "lines"
when = { field = "lines.sku", in = ["B-2"] }
[[records.columns]]
field = "lines.sku"
[[records.columns]]
field = "lines.quantity"
transforms = [{ value_map = { map = { "1" = "one" } } }]
[[records]]
type = "N"
when = { field = "discounts", present = false }
""", encoding="utf-8")
    m = load_mapping_file(path)
    lines = ({"sku": "A-1", "quantity": D(5)}, {"sku": "B-2", "quantity": D(1)})
    data, refused, _ = write(m, [{"number": "#1", "lines": lines, "discounts": ()}])
    assert data == b"H;#1\nX;B-2;one\nN\n"
    lines = ({"sku": "B-2", "quantity": D(2)},)
    data, refused, _ = write(m, [{"number": "#2", "lines": lines}], lines=[4])
    assert data == b""
    assert refused == [(4, "X column 3 (lines.quantity)",
                        "'2' is not in the value map (known: 1)", "2")]


MULTI = """\
[mapping]
direction = "write"
document = "orders"
format = "csv"

[csv]
header = false

[[records]]
type = "E"
level = "record"
[[records.columns]]
field = "number"

[[records]]
type = "L"
level = "lines"
[[records.columns]]
field = "lines.sku"
"""


@pytest.mark.parametrize(("text", "key", "message"), [
    (MULTI.replace('level = "lines"', 'level = "line"'), "records[1].level",
     "unknown level 'line'"),
    (MULTI.replace('field = "lines.sku"', 'field = "lines.colour"'),
     "records[1].columns[0].field", "group 'lines' of document 'orders' has no field 'colour'"),
    (MULTI.replace('field = "number"', 'field = "lines.sku"'), "records[0].columns[0].field",
     "'lines.sku' is a field of each item of 'lines': only a record with level = 'lines' "
     "has one"),
    (MULTI.replace('field = "number"', 'field = "lines"'), "records[0].columns[0].field",
     "'lines' is a group: write its items from a [[records]] entry with level = 'lines', "
     "their fields as lines.NAME"),
    (MULTI.replace('field = "number"', 'field = "colour"'), "records[0].columns[0].field",
     "document 'orders' has no field 'colour'"),
    (MULTI.replace('format = "csv"', 'format = "xml"'), "records",
     "[[records]] (several record types per record) are for CSV writers"),
    (MULTI.replace("header = false", "header = true"), "csv.header",
     "a multi-record file has no line of column names: header = false"),
    (MULTI + '[[columns]]\nheader = "x"\n', "columns",
     "a multi-record writer takes its columns from [[records.columns]] entries"),
    (MULTI.replace('level = "lines"', 'level = "lines"\nwhen = { field = "x", present = 1 }'),
     "records[1].when.field", "document 'orders' has no field 'x'"),
    (MULTI.replace('level = "lines"', 'level = "lines"\nwhen = { field = "lines.sku" }'),
     "records[1].when", "give exactly one condition: present, equals or in"),
    (MULTI.replace('type = "L"', 'type = " L"'), "records[1].type",
     "a record type is its code as the file writes it, without spaces around it"),
])
def test_multi_record_writer_lint(tmp_path: Path, text: str, key: str, message: str) -> None:
    path = tmp_path / "erp.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_mapping_file(path)
    assert (info.value.key, str(info.value)) == (key, f"{path}: {key}: {message}")


@pytest.mark.parametrize(("old", "new", "key", "message"), [
    ("[lines.sku]", "[lines.colour]", "lines.colour",
     "group 'lines' of document 'orders' has no field 'colour'"),
    ("row_number = true", 'row_number = true\ncolumn = "Qty"', "lines.line_number.column",
     "row_number numbers the items; it takes no column"),
    ("row_number = true", "row_number = false", "lines.line_number.row_number",
     "expected true (or leave row_number out)"),
    ('rows = "first"', 'rows = "all"', "discounts.rows",
     "expected \"each\" or \"first\", found 'all'"),
    ('by = "Order"', "by = true", "group.by", "expected a column name or index, found True"),
    ('by = "Order"', 'by = "Order"\nkey = 1', "group.key", "unknown key 'key'"),
    ('by = "Order"', "by = -1", "group.by", "expected a column name or index, found -1"),
    ('column_any = ["Sku", "SKU"]', 'column_any = ["Sku", "Sku"]', "lines.sku.column_any",
     "a column name is listed twice"),
    ('column_any = ["Sku", "SKU"]', 'column_any = ["Sku"]\ncolumn = "SKU"',
     "lines.sku.column_any", "give one of column, index, columns or indexes, or column_any, "
     "not column and column_any"),
    ("[fields.total]", "[fields.lines]\ncolumn = \"L\"\n[fields.total]", "fields.lines",
     "'lines' is a group of 'orders': read its fields in [lines.NAME] tables"),
    ("[discounts]\n", '[discounts]\npath = "discount"\n', "discounts.path",
     "path is for XML readers; a CSV group reads columns"),
])
def test_grouped_reader_lint(tmp_path: Path, old: str, new: str, key: str, message: str
                             ) -> None:
    assert old in READER
    path = tmp_path / "shop.toml"
    path.write_text(READER.replace(old, new), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_mapping_file(path)
    assert (info.value.key, str(info.value)) == (key, f"{path}: {key}: {message}")


def test_groups_are_read_from_csv_or_xml_only(tmp_path: Path) -> None:
    path = tmp_path / "fixed.toml"
    path.write_text('[mapping]\ndirection = "read"\ndocument = "orders"\nformat = "fixed"\n'
                    "[fields.number]\nstart = 1\nlength = 5\n"
                    "[lines.sku]\nstart = 6\nlength = 5\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_mapping_file(path)
    assert str(info.value) == (f"{path}: lines: records in groups are read from CSV or XML "
                               "files, not fixed")
    path.write_text('[mapping]\ndirection = "read"\ndocument = "stock"\nformat = "csv"\n'
                    '[group]\nby = "SKU"\n[fields.sku]\ncolumn = "SKU"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_mapping_file(path)
    assert str(info.value) == (f"{path}: group: document 'stock' has no groups: each row is "
                               "one record")


def test_xml_grouped_reader_lint(tmp_path: Path) -> None:
    text = (MAPPINGS / "canonical_orders_in.toml").read_text(encoding="utf-8")
    for old, new, key, message in [
            ('[lines]\npath = "line"', '[lines]\npath = "line/@n"', "lines.path",
             "'line/@n' names an attribute; the items of a group are elements"),
            ('[xml]\nrecord = "order"', '[xml]\nrecord = "order"\n[group]\nby = "number"',
             "group", 'an XML record is one element: its items are its repeated children '
             '([lines] path = "line"); there is no [group] table'),
            ('[discounts.spread]\npath = "spread"',
             '[discounts.spread]\npath = "spread"\nall = true', "discounts.spread.all",
             "unknown key 'all'")]:
        assert old in text
        path = tmp_path / "orders_in.toml"
        path.write_text(text.replace(old, new), encoding="utf-8")
        with pytest.raises(ConfigError) as info:
            load_mapping_file(path)
        assert (info.value.key, str(info.value)) == (key, f"{path}: {key}: {message}")


def test_an_xsd_problem_in_an_order_line_names_the_senders_column(tmp_path: Path) -> None:
    """quantity 0 passes the mapping but not orders.xsd: the error names the Shopify column."""
    import csv

    from gateway.config import load
    from gateway.validate.check import check_file

    root = Path(__file__).resolve().parents[2]
    rows = list(csv.reader(io.StringIO(
        (root / "tests/mappings/shopify_orders_csv/input.csv").read_text(encoding="utf-8"))))
    rows[1][rows[0].index("Lineitem quantity")] = "0"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    src = tmp_path / "orders.csv"
    src.write_text(out.getvalue(), encoding="utf-8")
    (tmp_path / "in").mkdir()
    (tmp_path / "gateway.toml").write_text(
        '[endpoints.shop_in]\npath = "in"\n[channels.o]\ndirection = "in"\n'
        'endpoint = "shop_in"\ndocument = "orders"\nmapping = "shopify_orders_csv"\n',
        encoding="utf-8")
    report = check_file(load(tmp_path / "gateway.toml"), "o", src)
    assert [(p.line, p.field, p.message) for p in report.problems.sorted()] == [
        (2, "Lineitem quantity", "The value '0' must be greater than '0'.")]
