"""The reader side of the mapping language: languages and column tuples in records, field
labels in problems, and every new key linted with its file and key path."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.config import resource_dir
from gateway.errors import ConfigError, DataError
from gateway.mapping.compiled import show
from gateway.mapping.loader import FORMATS, Mapping, load_mapping_file
from gateway.mapping.reader import ProblemSink, read_records
from gateway.pipeline.transform import valid_chunks
from gateway.validate.xsd import ChunkValidator

CSV = """\
[mapping]
direction = "read"
document = "catalogue"
format = "csv"

[fields.sku]
column = "SKU"

[fields."name.fr"]
column = "NOM_FR"
transforms = ["strip"]

[fields."name.de"]
column = "NOM_DE"
transforms = ["strip"]

[fields.category]
columns = ["FAMILLE", "SOUS_FAMILLE"]

[fields.brand]
indexes = [5, 0]
"""

FIXED = """\
[mapping]
direction = "read"
document = "stock"
format = "fixed"

[fields.sku]
start = 1
length = 10
transforms = ["strip"]
"""

XML = """\
[mapping]
direction = "read"
document = "catalogue"
format = "xml"

[fields.sku]
path = "sku"

[fields.category]
path = "category"
all = true
"""

RECORDS = """\
[mapping]
direction = "read"
document = "prices"
format = "csv"

[records]
type = { index = 0 }

[records.H]
role = "header"

[records.H.fields.price_list]
index = 1

[records.L]
role = "detail"

[records.L.fields.sku]
index = 1

[records.T]
role = "trailer"
count = { index = 1 }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "partner.toml"
    path.write_text(text, encoding="utf-8")
    return path


def read(mapping: Mapping, data: bytes) -> tuple[list[tuple[int, dict[str, object]]],
                                                 ProblemSink]:
    problems = ProblemSink()
    return list(read_records(mapping, io.BytesIO(data), "in.csv", problems)), problems


def test_reader_formats() -> None:
    assert FORMATS["read"] == ("csv", "fixed", "xml", "edifact", "x12")


def test_languages_merge_and_several_columns_make_a_tuple(tmp_path: Path) -> None:
    mapping = load_mapping_file(write(tmp_path, CSV))
    records, problems = read(mapping, "SKU;NOM_FR;NOM_DE;FAMILLE;SOUS_FAMILLE;MARQUE\r\n"
                                      "P1; Chaise ;Stuhl;F1;F11;Acme\r\n"
                                      "P2;Table;;F2;;Ikea\r\n"
                                      "P3;;  ;;;\r\n".encode())
    assert records == [
        (2, {"sku": "P1", "name": {"fr": "Chaise", "de": "Stuhl"}, "category": ("F1", "F11"),
             "brand": ("Acme", "P1")}),
        (3, {"sku": "P2", "name": {"fr": "Table"}, "category": ("F2", ""),
             "brand": ("Ikea", "P2")}),
        (4, {"sku": "P3", "name": None, "category": ("", ""), "brand": ("", "P3")})]
    assert not problems


def test_labels_name_the_senders_columns(tmp_path: Path) -> None:
    labels = [(f.key, f.label) for f in load_mapping_file(write(tmp_path, CSV)).fields]
    assert labels == [("sku", "SKU"), ("name.fr", "NOM_FR"), ("name.de", "NOM_DE"),
                      ("category", "FAMILLE, SOUS_FAMILLE"), ("brand", "columns 6, 1")]
    fixed = FIXED + '\n[fields.warehouse]\nstart = 11\nlength = 1\n'
    assert [f.label for f in load_mapping_file(write(tmp_path, fixed)).fields] == [
        "columns 1-10", "column 11"]
    assert [f.label for f in load_mapping_file(write(tmp_path, XML)).fields] == [
        "sku", "category"]
    m = load_mapping_file(write(tmp_path, RECORDS))
    assert [f.label for f in m.fields] == ["H column 2", "L column 2"]
    assert m.records is not None and m.records.type.label == "column 1"
    assert m.csv.header is False


def test_a_missing_column_of_a_tuple_is_a_file_problem(tmp_path: Path) -> None:
    mapping = load_mapping_file(write(tmp_path, CSV))
    with pytest.raises(DataError) as info:
        read(mapping, b"SKU;NOM_FR;NOM_DE;FAMILLE;MARQUE\r\nP1;a;b;c;d\r\n")
    assert info.value.problem.field == "SOUS_FAMILLE"
    assert info.value.problem.line == 1


def test_tuples_and_languages_are_shown_joined_in_problems() -> None:
    assert show(("F1", "F11")) == "F1 | F11"
    assert show((("fr", "Chaise"), ("de", "Stuhl"))) == "fr=Chaise | de=Stuhl"
    assert show("x") == "x"
    assert show(None) is None


def test_schema_problems_name_the_fixed_width_columns(tmp_path: Path) -> None:
    mapping = load_mapping_file(write(tmp_path, FIXED + """
[fields.warehouse]
start = 11
length = 4

[fields.quantity]
start = 15
length = 5
transforms = ["strip", "decimal"]

[fields.as_of]
transforms = [{ constant = { value = 2026-11-28T09:15:00Z } }]
"""))
    validator = ChunkValidator(mapping.doc, resource_dir("schemas"))
    problems = ProblemSink()
    # 7.25: the canonical writer's memo is shared by the process, and Decimal("12") equals
    # Decimal("12.000"): a common value here would change another test's output text
    data = b"A-1       MAIN 7.25\nB-2       MAIN   -3\n"
    chunks = list(valid_chunks(mapping, validator, io.BytesIO(data), "stock.txt", problems))
    assert [rec for c in chunks for _, rec in c.valid] == [
        {"sku": "A-1", "warehouse": "MAIN", "quantity": Decimal("7.25"),
         "as_of": datetime(2026, 11, 28, 9, 15, tzinfo=UTC)}]
    assert [(p.line, p.field, p.value) for p in problems.items] == [(2, "columns 15-19", "-3")]


@pytest.mark.parametrize(("base", "old", "new", "key", "message"), [
    (CSV, '[fields."name.de"]', '[fields."category_path.de"]', "fields.category_path.de",
     "'category_path' is derived by the gateway; a reader cannot set it"),
    (CSV, '[fields."name.de"]', "[fields.name]", "fields.name",
     "'name' is localized: name one language (name.fr)"),
    (CSV, '[fields."name.de"]', '[fields."name.de_CH"]', "fields.name.de_CH",
     "'de_CH' is not a language tag like fr or fr-CH"),
    (CSV, '[fields."name.de"]', '[fields."sku.de"]', "fields.sku.de",
     "document 'catalogue' has no field 'sku.de'"),
    (CSV, 'columns = ["FAMILLE", "SOUS_FAMILLE"]', 'column = "F"\ncolumns = ["F", "S"]',
     "fields.category.columns", "give one of column, index, columns or indexes, not column "
     "and columns"),
    (CSV, "indexes = [5, 0]", "indexes = []", "fields.brand.indexes",
     "expected a list of column indexes from 0, found []"),
    (CSV, "indexes = [5, 0]", "indexes = [5, true]", "fields.brand.indexes",
     "expected a list of column indexes from 0, found [5, True]"),
    (CSV, 'format = "csv"', 'format = "csv"\n[csv]\nheader = false', "fields.sku.column",
     "columns by name need a header line; use index"),
    (CSV, '[fields.sku]\ncolumn = "SKU"', '[fields.sku]\nindex = 0\n[xml]\nrecord = "p"',
     "xml", "a [xml] table does not apply to csv mappings"),
    (FIXED, "start = 1", "start = 0", "fields.sku.start",
     "expected a column position from 1 (the first column is 1), found 0"),
    (FIXED, "length = 10\n", "", "fields.sku.length", "missing required key"),
    (FIXED, "start = 1", 'start = 1\ncolumn = "SKU"', "fields.sku.column",
     "unknown key 'column'"),
    (FIXED, 'format = "fixed"', 'format = "fixed"\n[csv]\ndelimiter = ";"', "csv",
     "a [csv] table does not apply to fixed mappings"),
    (FIXED, 'format = "fixed"', 'format = "fixed"\n[fixed]\nskip_lines = -1',
     "fixed.skip_lines", "expected a number of lines (0 or more), found -1"),
    (FIXED, 'format = "fixed"', 'format = "fixed"\n[fixed]\nencoding = "klingon"',
     "fixed.encoding", "unknown encoding 'klingon'"),
    (FIXED, 'format = "fixed"', 'format = "fixed"\n[fixed]\nline_length = 80',
     "fixed.line_length", "unknown key 'line_length'"),
    (FIXED, 'start = 1\nlength = 10\ntransforms = ["strip"]\n', "", "fields.sku",
     "give start and length, or a constant transform"),
    (XML, 'format = "xml"', 'format = "xml"\n[records]\ntype = { index = 0 }', "records",
     "a [records] table does not apply to xml mappings"),
    (XML, 'path = "sku"', 'path = "sku["', "fields.sku.path",
     "'sku[' is not a valid element path: invalid path"),
    (XML, 'path = "sku"', 'path = "a/@x/b"', "fields.sku.path",
     "'a/@x/b': an attribute can only be the last step (a/@x)"),
    (XML, 'path = "sku"', 'path = "sku"\nby = "lang"', "fields.sku.by",
     "by reads every language of a localized field: name it without a language "
     "(description, name, short_description)"),
    (XML, 'path = "category"\n', "", "fields.category.all", "all needs a path"),
    (XML, "all = true", 'all = "yes"', "fields.category.all",
     "expected true or false, found 'yes'"),
    (XML, 'format = "xml"', 'format = "xml"\n[xml]\nrecord = "p/@id"', "xml.record",
     "'p/@id' is not a path of element names like 'catalogue/product'"),
    (XML, 'format = "xml"', 'format = "xml"\n[xml]\nroot = "catalogue"', "xml.root",
     "unknown key 'root'"),
    (XML, '[fields.sku]\npath = "sku"', '[fields.name]\npath = "name/@lang"\nby = "lang"',
     "fields.name.path", "'name/@lang' names an attribute; with by, the path names elements"),
    (XML, '[fields.sku]\npath = "sku"', '[fields.name]\npath = "name"',
     "fields.name", "'name' is localized: name one language (name.fr) or read them all "
     'with by = "lang"'),
    (XML, '[fields.sku]\npath = "sku"', '[fields.name]\npath = "name"\nby = "lang"\n'
     '[fields."name.fr"]\npath = "title"', "fields.name.fr",
     "'name' is already read with all its languages (by)"),
    (RECORDS, 'format = "csv"', 'format = "csv"\n[csv]\nheader = true', "csv.header",
     "a multi-record file has no line of column names: header = false"),
    (RECORDS, 'role = "trailer"', 'role = "footer"', "records.T.role",
     "'footer' is not a record role"),
    (RECORDS, 'role = "trailer"\ncount = { index = 1 }', 'role = "header"', "records.T.role",
     "a file has one header record type (H already is)"),
    (RECORDS, "[records.L.fields.sku]", "count = { index = 2 }\n[records.L.fields.sku]",
     "records.L.count", "only a trailer record has a count"),
    (RECORDS, "type = { index = 0 }\n", "", "records.type", "missing required key"),
    (RECORDS, "type = { index = 0 }", 'type = { column = "T" }', "records.type.column",
     "unknown key 'column'"),
    (RECORDS, "[records.L.fields.sku]\nindex = 1\n", "", "records.L.fields",
     "a detail record needs [records.L.fields.NAME] tables"),
    (RECORDS, "[records.L.fields.sku]", "[records.L.fields.price_list]\nindex = 2\n"
     "[records.L.fields.sku]", "records.L.fields.price_list",
     "'price_list' is already read from the header record H"),
    (RECORDS, "count = { index = 1 }", "count = { index = 1 }\n[records.T.fields.sku]\n"
     "index = 2", "records.T.fields", "a trailer record has no fields"),
    (RECORDS, "[records]", "[fields.sku]\nindex = 0\n[records]", "fields",
     "a multi-record mapping takes its fields from [records.TYPE.fields.NAME] tables"),
    (RECORDS, "[records.L]\nrole", '[records."L "]\nrole', "records.L ",
     "a record type is its code as the file writes it, without spaces around it"),
    (RECORDS.replace('format = "csv"', 'format = "fixed"').replace(
        "{ index = 0 }", "{ start = 1, length = 1 }").replace(
        "index = 1\n", "start = 2\nlength = 6\n").replace(
        "count = { index = 1 }", "count = { start = 2, length = 4 }"),
     "[records.L]", "[records.LIN]", "records.LIN",
     "record type 'LIN' is longer than the 1 character(s) records.type reads"),
])
def test_lint_names_the_file_and_the_key(tmp_path: Path, base: str, old: str, new: str,
                                         key: str, message: str) -> None:
    assert old in base
    path = write(tmp_path, base.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_mapping_file(path)
    assert (info.value.key, info.value.file) == (key, str(path))
    assert str(info.value) == f"{path}: {key}: {message}"


@pytest.mark.parametrize("text", [CSV, FIXED, XML, RECORDS])
def test_the_examples_load(tmp_path: Path, text: str) -> None:
    assert load_mapping_file(write(tmp_path, text)).direction == "read"
