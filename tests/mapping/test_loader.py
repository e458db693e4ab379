"""Mapping files are linted at load: every error names the mapping file and the key."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from gateway.config import resource_dir
from gateway.errors import ConfigError
from gateway.formats.csv import CsvOptions
from gateway.mapping.loader import load_mapping_file

READER = """\
[mapping]
direction = "read"
document = "stock"
format = "csv"
description = "test reader"

[csv]
delimiter = ";"
encoding = "cp1252"

[fields.sku]
column = "ARTICLE"
transforms = ["strip", "required"]

[fields.quantity]
column = "QTE"
transforms = [{ decimal = { decimal_separator = "," } }]
"""

WRITER = """\
[mapping]
direction = "write"
document = "stock"
format = "csv"

[[columns]]
header = "SKU"
field = "sku"

[[columns]]
header = "Qty"
field = "quantity"
transforms = [{ decimal_format = { places = 0 } }]
"""


def write(tmp_path: Path, text: str, name: str = "partner.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> tuple[ConfigError, Path]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_mapping_file(path)
    return info.value, path


def test_reader_mapping_loads(tmp_path: Path) -> None:
    m = load_mapping_file(write(tmp_path, READER))
    assert (m.name, m.direction, m.document, m.format, m.view) == (
        "partner", "read", "stock", "csv", "records")
    assert m.description == "test reader"
    assert m.csv == CsvOptions(delimiter=";", encoding="cp1252")
    assert [(f.name, f.column, f.index) for f in m.fields] == [
        ("sku", "ARTICLE", None), ("quantity", "QTE", None)]
    value = "12,5"
    for fn in m.fields[1].chain:
        value = fn(value)
    assert value == Decimal("12.5")


def test_writer_mapping_loads(tmp_path: Path) -> None:
    m = load_mapping_file(write(tmp_path, WRITER))
    assert m.direction == "write"
    assert [(c.name, c.field) for c in m.columns] == [("SKU", "sku"), ("Qty", "quantity")]
    assert m.fields == ()


@pytest.mark.parametrize("name", ["erp_stock_csv", "prestashop_stock_csv",
                                  "canonical_stock_xml"])
def test_shipped_mappings_load(name: str) -> None:
    m = load_mapping_file(resource_dir("mappings") / f"{name}.toml")
    assert m.name == name
    assert m.document == "stock"


def test_unknown_transform(tmp_path: Path) -> None:
    err, path = load_error(tmp_path, READER.replace('"required"]', '"requird"]'))
    assert err.file == str(path)
    assert str(err).startswith(f"{path}: fields.sku.transforms[1]: unknown transform "
                               "'requird' (known: ")


def test_bad_transform_argument(tmp_path: Path) -> None:
    err, path = load_error(tmp_path, READER.replace(
        '{ decimal = { decimal_separator = "," } }',
        '{ datetime = { format = "%d", timezone = "Nowhere/City" } }'))
    assert str(err) == (f"{path}: fields.quantity.transforms[0]: datetime: unknown time zone "
                        "'Nowhere/City'")


def test_unknown_document_field(tmp_path: Path) -> None:
    err, path = load_error(tmp_path, READER.replace("[fields.sku]", "[fields.colour]"))
    assert err.key == "fields.colour"
    assert str(err) == f"{path}: fields.colour: document 'stock' has no field 'colour'"
    assert err.hint == "fields: sku, warehouse, quantity, as_of"


def test_unknown_document_field_in_writer_column(tmp_path: Path) -> None:
    err, path = load_error(tmp_path, WRITER.replace('field = "quantity"', 'field = "qty"'))
    assert err.key == "columns[1].field"
    assert str(err) == f"{path}: columns[1].field: document 'stock' has no field 'qty'"


def test_unknown_document(tmp_path: Path) -> None:
    err, path = load_error(tmp_path, READER.replace('document = "stock"',
                                                    'document = "invoices"'))
    assert err.key == "mapping.document"
    assert str(err) == f"{path}: mapping.document: unknown document type 'invoices'"


@pytest.mark.parametrize(("old", "new", "key"), [
    ('column = "ARTICLE"', 'column = "ARTICLE"\nwidth = 3', "fields.sku.width"),
    ('encoding = "cp1252"', 'encoding = "cp1252"\nsep = ","', "csv.sep"),
    ('format = "csv"', 'format = "csv"\nversion = 2', "mapping.version"),
    ("[csv]", "[csvv]", "csvv"),
])
def test_unknown_key(tmp_path: Path, old: str, new: str, key: str) -> None:
    err, path = load_error(tmp_path, READER.replace(old, new))
    assert err.key == key
    assert str(err) == f"{path}: {key}: unknown key {key.rsplit('.', 1)[-1]!r}"


def test_missing_mapping_table(tmp_path: Path) -> None:
    text = READER.split("[csv]", 1)[1]
    err, path = load_error(tmp_path, "[csv]" + text)
    assert err.key == "mapping"
    assert str(err) == f"{path}: mapping: missing [mapping] table"


def test_mapping_that_is_not_a_table(tmp_path: Path) -> None:
    err, path = load_error(tmp_path, 'mapping = "erp"\n')
    assert str(err) == f"{path}: mapping: missing [mapping] table"


def test_missing_required_head_key(tmp_path: Path) -> None:
    err, path = load_error(tmp_path, READER.replace('format = "csv"\n', ""))
    assert err.key == "mapping.format"
    assert str(err) == f"{path}: mapping.format: missing required key"


def test_wrong_format_for_direction(tmp_path: Path) -> None:
    err, path = load_error(tmp_path, WRITER.replace('format = "csv"', 'format = "fixed"'))
    assert err.key == "mapping.format"
    assert str(err) == (f"{path}: mapping.format: format 'fixed' is not available for write "
                        "mappings")
    assert err.hint == "available: csv, xml, edifact, x12"


def test_bad_direction(tmp_path: Path) -> None:
    err, path = load_error(tmp_path, READER.replace('direction = "read"',
                                                    'direction = "both"'))
    assert err.key == "mapping.direction"
    assert str(err) == f"{path}: mapping.direction: 'both' is not 'read' or 'write'"


def test_unknown_view(tmp_path: Path) -> None:
    err, path = load_error(tmp_path, WRITER.replace('format = "csv"',
                                                    'format = "csv"\nview = "by_colour"'))
    assert err.key == "mapping.view"
    assert str(err) == f"{path}: mapping.view: document 'stock' has no view 'by_colour'"


def test_unknown_encoding(tmp_path: Path) -> None:
    err, path = load_error(tmp_path, READER.replace('"cp1252"', '"klingon"'))
    assert err.key == "csv.encoding"
    assert str(err) == f"{path}: csv.encoding: unknown encoding 'klingon'"


@pytest.mark.parametrize("delimiter", ['";;"', '""', '"\\t\\t"'])
def test_delimiter_must_be_one_character(tmp_path: Path, delimiter: str) -> None:
    err, path = load_error(tmp_path, READER.replace('delimiter = ";"',
                                                    f"delimiter = {delimiter}"))
    assert err.key == "csv.delimiter"
    assert str(err) == f"{path}: csv.delimiter: the delimiter must be one character"


def test_reader_needs_fields(tmp_path: Path) -> None:
    err, path = load_error(tmp_path, READER.split("[fields.sku]")[0])
    assert err.key == "fields"
    assert str(err) == f"{path}: fields: a reader mapping needs [fields.NAME] tables"


def test_writer_needs_columns(tmp_path: Path) -> None:
    err, path = load_error(tmp_path, WRITER.split("[[columns]]")[0])
    assert err.key == "columns"


def test_writer_column_needs_a_header(tmp_path: Path) -> None:
    err, path = load_error(tmp_path, WRITER.replace('header = "Qty"\n', ""))
    assert err.key == "columns[1]"
    assert str(err) == f"{path}: columns[1]: missing header"


def test_field_by_name_needs_a_header_line(tmp_path: Path) -> None:
    err, path = load_error(tmp_path, READER.replace('encoding = "cp1252"',
                                                    'encoding = "cp1252"\nheader = false'))
    assert err.key == "fields.sku.column"
    assert str(err) == f"{path}: fields.sku.column: columns by name need a header line; use index"


def test_field_without_source(tmp_path: Path) -> None:
    err, path = load_error(tmp_path, READER.replace(
        'column = "ARTICLE"\ntransforms = ["strip", "required"]\n', 'index = 0\n').replace(
        'column = "QTE"\ntransforms = [{ decimal = { decimal_separator = "," } }]\n', ""))
    assert err.key == "fields.quantity"
    assert str(err) == (f"{path}: fields.quantity: give a column name, an index or a constant "
                        "transform")


def test_invalid_toml(tmp_path: Path) -> None:
    err, path = load_error(tmp_path, READER + "oops =\n")
    assert str(err).startswith(f"{path}: not valid TOML: ")


@pytest.mark.parametrize(("old", "new", "key", "found"), [
    ('delimiter = ";"', "delimiter = 59", "csv.delimiter", "59"),
    ('encoding = "cp1252"', "encoding = 1252", "csv.encoding", "1252"),
    ('encoding = "cp1252"', 'encoding = "cp1252"\nquotechar = ["\'"]', "csv.quotechar",
     "[\"'\"]"),
])
def test_csv_option_of_wrong_type(tmp_path: Path, old: str, new: str, key: str, found: str
                                  ) -> None:
    err, path = load_error(tmp_path, READER.replace(old, new))
    assert err.key == key
    assert str(err) == f"{path}: {key}: expected a string, found {found}"


def test_quotechar_must_be_one_character(tmp_path: Path) -> None:
    err, path = load_error(tmp_path, READER.replace('encoding = "cp1252"',
                                                    'encoding = "cp1252"\nquotechar = "<>"'))
    assert err.key == "csv.quotechar"
    assert str(err) == f"{path}: csv.quotechar: the quote character must be one character"


def test_csv_header_must_be_a_boolean(tmp_path: Path) -> None:
    # bool("false") is True: a quoted "false" must not silently mean "there is a header"
    err, path = load_error(tmp_path, READER.replace('encoding = "cp1252"',
                                                    'encoding = "cp1252"\nheader = "false"'))
    assert err.key == "csv.header"
    assert str(err) == f"{path}: csv.header: expected true or false, found 'false'"
