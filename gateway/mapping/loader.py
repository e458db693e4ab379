"""Load and lint mapping files (TOML); every error names the mapping file and key."""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..documents import DocumentType, document
from ..errors import ConfigError
from ..formats import xml as xml_format
from ..formats.csv import CsvOptions
from ..formats.fixed_width import FixedOptions, span_label
from ..formats.multirecord import DETAIL, HEADER, ROLES, TRAILER
from .transforms import Transform, build_chain

if TYPE_CHECKING:
    from ..config import Channel, Config

FORMATS = {"read": ("csv", "fixed", "xml"), "write": ("csv", "xml")}
# where a reader field's value is, per format
_SOURCE_KEYS = {"csv": {"column", "column_any", "index", "columns", "indexes"},
                "fixed": {"start", "length"}, "xml": {"path", "all", "by"}}
# grouped readers: rows = "each" (one item per row of the record) or "first" (one item from
# the record's first row, when any of its columns has a value)
_GROUP_ROWS = ("each", "first")
# EDI readers (EDIFACT, X12): one record per message of the mapping's type, its fields read
# with element paths from the message as an element tree (formats/edi.py); path_any takes
# the first of several paths that finds a value (the supplier's article number, else the
# GTIN)
EDI_READ = ("edifact", "x12")
FORMATS["read"] = (*FORMATS["read"], *EDI_READ)
_SOURCE_KEYS.update({fmt: {"path", "path_any", "all"} for fmt in EDI_READ})
# EDI writers: the messages of one interchange, segment by segment ([edi], [[segments]])
EDI_WRITE = ("edifact", "x12")
FORMATS["write"] = (*FORMATS["write"], *EDI_WRITE)
_EDI_WRITE_TABLES = {"write": {"segments"}}  # top-level tables only writers have


@dataclass(frozen=True)
class FieldSpec:
    """Reader side: one canonical field and where its value is in the partner's file."""

    name: str                       # the canonical field (a localized one: see lang)
    column: str | None
    index: int | None
    chain: tuple[Transform, ...]
    lang: str | None = None         # ``name.fr``: one language of a localized field
    columns: tuple[str, ...] = ()   # several columns: the value is the tuple of their texts
    indexes: tuple[int, ...] = ()
    start: int | None = None        # fixed width: first column (1-based, as layouts say)
    length: int | None = None
    path: str | None = None         # XML: ElementPath from the record element
    all: bool = False               # XML: the tuple of every match's text
    by: str | None = None           # XML: {this attribute of each match: its text}
    record: str | None = None       # multi-record files: the record type it is read from
    column_any: tuple[str, ...] = ()  # CSV: the first of these names the header has
    group: str | None = None        # a field of each item of this group (``lines``)
    row_number: bool = False        # a group field: the item's number in its record, from 1
    paths: tuple[str, ...] = ()     # EDI: path_any, the first of these paths with a value

    @property
    def key(self) -> str:
        """The field as the mapping names it: ``sku``, ``name.fr``."""
        return f"{self.name}.{self.lang}" if self.lang else self.name

    @property
    def where(self) -> str:
        """Its table in the mapping file: ``fields.sku``, ``lines.sku``."""
        return f"{self.group}.{self.name}" if self.group else f"fields.{self.key}"

    @property
    def label(self) -> str:
        """What problems call the field: the sender's name for the place of its value."""
        if self.column is not None:
            text = self.column
        elif self.column_any:
            text = " or ".join(self.column_any)
        elif self.row_number:
            return "row number"
        elif self.columns:
            text = ", ".join(self.columns)
        elif self.index is not None:
            text = f"column {self.index + 1}"
        elif self.indexes:
            text = "columns " + ", ".join(str(i + 1) for i in self.indexes)
        elif self.start is not None and self.length is not None:
            text = span_label(self.start, self.length)
        elif self.path is not None:
            text = self.path
        elif self.paths:
            text = " or ".join(self.paths)
        else:
            return self.key  # a constant
        return f"{self.record} {text}" if self.record else text


@dataclass(frozen=True)
class RecordType:
    """Multi-record files: one record type (``H``, ``L``…), its role and its fields."""

    code: str
    role: str                       # header, detail, trailer or ignore
    fields: tuple[FieldSpec, ...] = ()
    count: FieldSpec | None = None  # trailer: where its count of detail records is


@dataclass(frozen=True)
class RecordsSpec:
    type: FieldSpec                 # where each line says its record type
    types: tuple[RecordType, ...]


@dataclass(frozen=True)
class GroupSpec:
    """Grouped readers: one group of the document (an order's ``lines``) and its fields."""

    name: str
    fields: tuple[FieldSpec, ...]
    path: str | None = None         # XML: the repeated element, from the record element
    first_row: bool = False         # CSV: one item from the record's first row (rows = "first")


@dataclass(frozen=True)
class ColumnSpec:
    """Writer side: one output column or element taken from a canonical field."""

    name: str          # CSV header or XML element path
    field: str | None
    chain: tuple[Transform, ...]


@dataclass(frozen=True)
class RecordLayout:
    """Multi-record writers: one record type, written once per canonical record (level
    ``record``) or once per item of one of its groups (level ``lines``)."""

    type: str                        # written as the first column
    level: str                       # "record" or a group of the document
    columns: tuple[ColumnSpec, ...]  # fields: order fields, or ``lines.sku`` at that level
    # write it only when: (field, "present", True/False) or (field, "in", canonical texts)
    when: tuple[str, str, Any] | None = None


@dataclass(frozen=True)
class XmlOptions:
    root: str
    record: str
    encoding: str = "utf-8"


@dataclass(frozen=True)
class EdiReadOptions:
    """EDI readers (``[edi]``): which messages are records and how their segment groups
    nest, so that a line's segments are found under its ``LIN`` or ``PO1``."""

    message: str                                  # ORDERS, 850
    versions: tuple[str, ...] = ()                # D96A, 004010…; empty: any version
    nest: tuple[tuple[str, tuple[str, ...]], ...] = ()  # trigger tag → tags its group holds


@dataclass(frozen=True)
class Mapping:
    name: str
    path: Path
    direction: str
    document: str
    doc: DocumentType
    format: str
    description: str = ""
    view: str = "records"
    csv: CsvOptions = field(default_factory=CsvOptions)
    xml: XmlOptions | None = None
    fixed: FixedOptions | None = None
    records: RecordsSpec | None = None   # a multi-record file; fields: all of its types'
    fields: tuple[FieldSpec, ...] = ()
    columns: tuple[ColumnSpec, ...] = ()
    # writers: only records whose fields have these canonical texts (one price list…)
    where: tuple[tuple[str, str], ...] = ()
    # grouped readers: the column whose value, the same on consecutive rows, makes them
    # one record (``[group] by``); the groups' fields (``[lines.sku]``)
    group_by: FieldSpec | None = None
    groups: tuple[GroupSpec, ...] = ()
    # multi-record writers (``[[records]]``): the record types written per record
    layouts: tuple[RecordLayout, ...] = ()
    # EDI readers: the message type read and its segment groups (``[edi]``)
    edi_read: EdiReadOptions | None = None
    # EDI writers: the message written and its segments (``[edi]``, ``[[segments]]``)
    edi_write: EdiWriteOptions | None = None
    # compiled forms (plans, generated loops), built once per mapping and kept with it
    compiled: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def extension(self) -> str:
        return "edi" if self.format == "edifact" else self.format


def find_mapping(dirs: tuple[Path, ...], name: str) -> Path | None:
    for d in dirs:
        candidate = d / f"{name}.toml"
        if candidate.is_file():
            return candidate
    return None


_cache: dict[tuple[Path, float], Mapping] = {}


def load_mapping(cfg: Config, name: str, *, key: str = "mapping") -> Mapping:
    path = find_mapping(cfg.mappings_dirs, name)
    if path is None:
        raise ConfigError(f"mapping {name!r} not found", key=key, file=str(cfg.path),
                          hint="looked for " + ", ".join(str(d / f"{name}.toml")
                                                          for d in cfg.mappings_dirs))
    return load_mapping_file(path)


def load_output_mapping(cfg: Config, channel: Channel) -> Mapping:
    """An output channel's mapping, with the channel's ``where`` added to its own."""
    m = load_mapping(cfg, channel.mapping)
    return replace(m, where=m.where + channel.where) if channel.where else m


def load_mapping_file(path: Path) -> Mapping:
    stamp = (path, path.stat().st_mtime)
    if stamp in _cache:
        return _cache[stamp]
    file = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=file) from None
    m = _build(path, raw)
    _cache[stamp] = m
    return m


def _req(table: dict[str, Any], key: str, keypath: str, file: str, typ: type = str) -> Any:
    if key not in table:
        raise ConfigError("missing required key", key=f"{keypath}.{key}", file=file)
    value = table[key]
    if not isinstance(value, typ):
        raise ConfigError(f"expected {typ.__name__}, found {value!r}", key=f"{keypath}.{key}",
                          file=file)
    return value


def _known(table: dict[str, Any], allowed: set[str], keypath: str, file: str) -> None:
    for k in table:
        if k not in allowed:
            raise ConfigError(f"unknown key {k!r}", key=f"{keypath}.{k}" if keypath else k,
                              file=file, hint="known keys: " + ", ".join(sorted(allowed)))


def _chain(spec: dict[str, Any], keypath: str, file: str) -> tuple[Transform, ...]:
    steps = spec.get("transforms", [])
    if not isinstance(steps, list):
        raise ConfigError("expected a list of transforms", key=f"{keypath}.transforms",
                          file=file)
    try:
        # files a step names (lookup tables) are relative to the mapping file
        return tuple(build_chain(steps, f"{keypath}.transforms", base_dir=Path(file).parent))
    except ValueError as exc:
        raise ConfigError(str(exc), file=file) from None


def _build(path: Path, raw: dict[str, Any]) -> Mapping:
    file = str(path)
    head = raw.get("mapping")
    if not isinstance(head, dict):
        raise ConfigError("missing [mapping] table", key="mapping", file=file)
    groups_here: set[str] = set()  # a reader's [lines.NAME] tables, named after the groups
    if head.get("direction") == "read" and isinstance(head.get("document"), str):
        try:
            groups_here = {g for g, _i, _f in document(head["document"]).groups}
        except ConfigError:
            pass  # reported below, with its key
    _known(raw, {"mapping", "csv", "fixed", "xml", "records", "fields", "columns", "group",
                 "edi"} | groups_here | _EDI_WRITE_TABLES.get(head.get("direction"), set()),
           "", file)
    _known(head, {"direction", "document", "format", "description", "view", "where"}, "mapping",
           file)
    direction = _req(head, "direction", "mapping", file)
    if direction not in FORMATS:
        raise ConfigError(f"{direction!r} is not 'read' or 'write'", key="mapping.direction",
                          file=file)
    doc = document(_req(head, "document", "mapping", file), key="mapping.document", file=file)
    fmt = _req(head, "format", "mapping", file)
    if fmt not in FORMATS[direction]:
        raise ConfigError(f"format {fmt!r} is not available for {direction} mappings",
                          key="mapping.format", file=file,
                          hint="available: " + ", ".join(FORMATS[direction]))
    view = head.get("view", "records")
    if view not in doc.views:
        raise ConfigError(f"document {doc.name!r} has no view {view!r}", key="mapping.view",
                          file=file, hint="views: " + ", ".join(doc.views))

    csv_opts = CsvOptions()
    if "csv" in raw:
        c = raw["csv"]
        _known(c, {"delimiter", "quotechar", "encoding", "header", "strict_columns",
                   "line_terminator", "neutralise_formulas"}, "csv", file)
        for k in ("delimiter", "quotechar", "encoding", "line_terminator"):
            if k in c and not isinstance(c[k], str):
                raise ConfigError(f"expected a string, found {c[k]!r}", key=f"csv.{k}",
                                  file=file)
        for k in ("header", "strict_columns", "neutralise_formulas"):  # bool("false") is True
            if k in c and not isinstance(c[k], bool):
                raise ConfigError(f"expected true or false, found {c[k]!r}", key=f"csv.{k}",
                                  file=file)
        csv_opts = CsvOptions(
            delimiter=c.get("delimiter", ";"), quotechar=c.get("quotechar", '"'),
            encoding=c.get("encoding", "utf-8"), header=bool(c.get("header", True)),
            strict_columns=bool(c.get("strict_columns", False)),
            line_terminator=c.get("line_terminator", "\r\n"),
            neutralise_formulas=c.get("neutralise_formulas", True))
        if "neutralise_formulas" in c and direction != "write":
            raise ConfigError("neutralise_formulas is for writer mappings: it protects the "
                              "files the gateway writes", key="csv.neutralise_formulas",
                              file=file)
        try:
            "".encode(csv_opts.encoding)
        except LookupError:
            raise ConfigError(f"unknown encoding {csv_opts.encoding!r}", key="csv.encoding",
                              file=file) from None
        if len(csv_opts.delimiter) != 1:
            raise ConfigError("the delimiter must be one character", key="csv.delimiter",
                              file=file)
        if len(csv_opts.quotechar) != 1:
            raise ConfigError("the quote character must be one character",
                              key="csv.quotechar", file=file)
    xml_opts = None
    fixed_opts: FixedOptions | None = None
    records: RecordsSpec | None = None
    if fmt == "xml" and direction == "write":
        x = raw.get("xml", {})
        _known(x, {"root", "record", "encoding"}, "xml", file)
        xml_opts = XmlOptions(root=x.get("root", doc.root), record=x.get("record", doc.record),
                              encoding=x.get("encoding", "utf-8"))

    fields: list[FieldSpec] = []
    columns: list[ColumnSpec] = []
    group_by: FieldSpec | None = None
    groups: tuple[GroupSpec, ...] = ()
    layouts: tuple[RecordLayout, ...] = ()
    for name in ("fixed", "records", "group"):
        if name in raw and direction == "write" and not (
                name == "records" and isinstance(raw[name], list)):
            raise ConfigError(f"a [{name}] table is for reader mappings", key=name, file=file,
                              hint="a writer of several record types per record has "
                              "[[records]] entries" if name == "records" else None)
    edi_read = edi_write = None
    if direction == "read":
        edi_read = _edi_read_options(raw, fmt, file)
        fields, csv_opts, fixed_opts, xml_opts, records = _reader(raw, doc, fmt, csv_opts, file)
        group_by, groups = _grouping(raw, doc, fmt, csv_opts.header, records, file)
        if edi_read is not None:
            _edi_check_nesting(edi_read, fields, groups, file)
    elif fmt in EDI_WRITE or {"edi", "segments"} & raw.keys():
        edi_write = _edi_writer(raw, doc, fmt, file)
    elif "records" in raw:
        layouts, csv_opts = _layouts(raw, doc, fmt, csv_opts, file)
    else:
        table = raw.get("columns")
        if not isinstance(table, list) or not table:
            raise ConfigError("a writer mapping needs [[columns]] entries", key="columns",
                              file=file)
        for i, spec in enumerate(table):
            kp = f"columns[{i}]"
            _known(spec, {"header", "element", "field", "transforms"}, kp, file)
            name = spec.get("header" if fmt == "csv" else "element")
            if not name:
                raise ConfigError(f"missing {'header' if fmt == 'csv' else 'element'}",
                                  key=kp, file=file)
            fname = spec.get("field")
            if fname is not None and not doc.has_field(fname):
                raise ConfigError(f"document {doc.name!r} has no field {fname!r}",
                                  key=f"{kp}.field", file=file,
                                  hint="fields: " + ", ".join(doc.writable)
                                  + (" (a localized field takes a language: name.fr)"
                                     if doc.localized else ""))
            columns.append(ColumnSpec(name, fname, _chain(spec, kp, file)))
    return Mapping(name=path.stem, path=path, direction=direction, document=doc.name, doc=doc,
                   format=fmt, description=head.get("description", ""), view=view,
                   csv=csv_opts, xml=xml_opts, fixed=fixed_opts, records=records,
                   fields=tuple(fields), columns=tuple(columns),
                   where=_where(head, direction, doc, file), group_by=group_by,
                   groups=groups, layouts=layouts, edi_read=edi_read,
                   edi_write=edi_write)


def _where(head: dict[str, Any], direction: str, doc: DocumentType, file: str
           ) -> tuple[tuple[str, str], ...]:
    """``where = { price_list = "RETAIL" }``: a writer for one price list, currency…"""
    raw = head.get("where")
    if raw is None:
        return ()
    if direction != "write" or not isinstance(raw, dict) or not raw:
        raise ConfigError("where is a table of field = value, for writer mappings",
                          key="mapping.where", file=file)
    out = []
    for fname, value in raw.items():
        if fname not in doc.fields or fname in doc.localized or fname in doc.lists:
            raise ConfigError(f"document {doc.name!r} has no single-valued field {fname!r}",
                              key=f"mapping.where.{fname}", file=file)
        if not isinstance(value, str | bool | int):
            raise ConfigError(f"expected a text, found {value!r}",
                              key=f"mapping.where.{fname}", file=file)
        out.append((fname, "true" if value is True else "false" if value is False
                    else str(value)))
    return tuple(out)


def _grouping(raw: dict[str, Any], doc: DocumentType, fmt: str, header: bool,
              records: RecordsSpec | None, file: str
              ) -> tuple[FieldSpec | None, tuple[GroupSpec, ...]]:
    """Grouped readers: ``[group] by`` (CSV: consecutive rows with the same value are one
    record) and one ``[lines.NAME]`` table per field of each item of a document's group."""
    names = [g for g, _item, _fields in doc.groups if g in raw]
    if "group" not in raw and not names:
        return None, ()
    first_key = "group" if "group" in raw else names[0]
    if fmt not in ("csv", "xml", *EDI_READ):
        raise ConfigError(f"records in groups are read from CSV or XML files, not {fmt}",
                          key=first_key, file=file)
    if records is not None:
        raise ConfigError("a multi-record file is read one detail record per line, not in "
                          "groups", key=first_key, file=file)
    by: FieldSpec | None = None
    if "group" in raw:
        if not doc.groups:
            raise ConfigError(f"document {doc.name!r} has no groups: each row is one record",
                              key="group", file=file)
        if fmt == "xml":
            raise ConfigError("an XML record is one element: its items are its repeated "
                              "children ([lines] path = \"line\"); there is no [group] table",
                              key="group", file=file)
        if fmt in EDI_READ:
            raise ConfigError("an EDI record is one message: its items are its repeated "
                              "segment groups ([lines] path = \"LIN\"); there is no [group] "
                              "table", key="group", file=file)
        g = _table(raw, "group", "group", file)
        _known(g, {"by"}, "group", file)
        if "by" not in g:
            raise ConfigError("missing required key: the column whose value makes "
                              "consecutive rows one record", key="group.by", file=file)
        value = g["by"]
        if isinstance(value, str) and value:
            if not header:
                raise ConfigError("a column by name needs a header line; use its index",
                                  key="group.by", file=file)
            by = FieldSpec("by", value, None, ())
        elif type(value) is int and value >= 0:
            by = FieldSpec("by", None, value, ())
        else:
            raise ConfigError(f"expected a column name or index, found {value!r}",
                              key="group.by", file=file)
    specs = []
    for gname in names:
        table = raw[gname]
        if not isinstance(table, dict):
            raise ConfigError(f"expected a table [{gname}], found {table!r}", key=gname,
                              file=file)
        item = (doc.group(gname) or ("", ()))[0]
        path = None
        if fmt in EDI_READ:
            path = _edi_group_path(table, gname, file)
        elif fmt == "xml":
            path = _get(table, "path", gname, file, str, "an element path", bool) or item
            try:
                xml_format.check_path(path)
            except ValueError as exc:
                raise ConfigError(str(exc), key=f"{gname}.path", file=file) from None
            if xml_format.is_attribute(path):
                raise ConfigError(f"{path!r} names an attribute; the items of a group are "
                                  "elements", key=f"{gname}.path", file=file)
        elif "path" in table:
            raise ConfigError("path is for XML readers; a CSV group reads columns",
                              key=f"{gname}.path", file=file)
        first = False
        if "rows" in table:
            if fmt != "csv":
                raise ConfigError("rows is for CSV readers; an XML group has one item per "
                                  "element", key=f"{gname}.rows", file=file)
            if table["rows"] not in _GROUP_ROWS:
                raise ConfigError(f"expected \"each\" or \"first\", found {table['rows']!r}",
                                  key=f"{gname}.rows", file=file,
                                  hint="each: one item per row of the record; first: one item "
                                  "from its first row, when any of its columns has a value")
            first = table["rows"] == "first"
        fields = [_field(name, spec, f"{gname}.{name}", doc, fmt, header, file, None, gname)
                  for name, spec in table.items() if name not in ("path", "rows")]
        if not fields:
            raise ConfigError(f"a group needs [{gname}.NAME] tables, one per field of its "
                              "items", key=gname, file=file)
        specs.append(GroupSpec(gname, tuple(fields), path, first))
    return by, tuple(specs)


def _layouts(raw: dict[str, Any], doc: DocumentType, fmt: str, csv_opts: CsvOptions,
             file: str) -> tuple[tuple[RecordLayout, ...], CsvOptions]:
    """Multi-record writers: ``[[records]]`` entries, each a record type written once per
    record (level ``record``) or once per item of a group (level ``lines``)."""
    table = raw["records"]
    if fmt != "csv":
        raise ConfigError("[[records]] (several record types per record) are for CSV "
                          "writers", key="records", file=file)
    if "columns" in raw:
        raise ConfigError("a multi-record writer takes its columns from "
                          "[[records.columns]] entries", key="columns", file=file)
    if not table:
        raise ConfigError("expected [[records]] entries", key="records", file=file)
    if raw.get("csv", {}).get("header") is True:
        raise ConfigError("a multi-record file has no line of column names: header = false",
                          key="csv.header", file=file)
    levels = ("record", *(g for g, _item, _fields in doc.groups))
    out = []
    for i, spec in enumerate(table):
        kp = f"records[{i}]"
        if not isinstance(spec, dict):
            raise ConfigError(f"expected a table, found {spec!r}", key=kp, file=file)
        _known(spec, {"type", "level", "when", "columns"}, kp, file)
        code = _req(spec, "type", kp, file)
        if not code or code != code.strip():
            raise ConfigError("a record type is its code as the file writes it, without "
                              "spaces around it", key=f"{kp}.type", file=file)
        level = spec.get("level", "record")
        if level not in levels:
            raise ConfigError(f"unknown level {level!r}", key=f"{kp}.level", file=file,
                              hint="levels: record (once per record), or a group of "
                              f"{doc.name!r} (once per item): " + ", ".join(levels))
        cols = spec.get("columns", [])
        if not isinstance(cols, list):
            raise ConfigError("expected [[records.columns]] entries", key=f"{kp}.columns",
                              file=file)
        columns = []
        for j, col in enumerate(cols):
            ckp = f"{kp}.columns[{j}]"
            if not isinstance(col, dict):
                raise ConfigError(f"expected a table, found {col!r}", key=ckp, file=file)
            _known(col, {"header", "field", "transforms"}, ckp, file)
            fname = _get(col, "field", ckp, file, str, "a field name", bool)
            if fname is not None:
                _layout_field(fname, level, doc, f"{ckp}.field", file)
            label = _get(col, "header", ckp, file, str, "a column title", bool)
            columns.append(ColumnSpec(label or f"{code} column {j + 2}"
                                      + (f" ({fname})" if fname else ""), fname,
                                      _chain(col, ckp, file)))
        when = _layout_when(spec["when"], level, doc, f"{kp}.when", file) \
            if "when" in spec else None
        out.append(RecordLayout(code, level, tuple(columns), when))
    return tuple(out), replace(csv_opts, header=False)


def _layout_field(fname: str, level: str, doc: DocumentType, kp: str, file: str,
                  whole_group: bool = False) -> None:
    """A field a record type writes: the record's (``number``, ``name.fr``) or, at the level
    of a group, its item's (``lines.sku``)."""
    base, _, sub = fname.partition(".")
    grp = doc.group(base)
    if grp is not None:
        if not sub:
            if whole_group:
                return
            raise ConfigError(f"{base!r} is a group: write its items from a [[records]] "
                              f"entry with level = {base!r}, their fields as {base}.NAME",
                              key=kp, file=file)
        if level != base:
            raise ConfigError(f"{fname!r} is a field of each item of {base!r}: only a "
                              f"record with level = {base!r} has one", key=kp, file=file)
        if sub not in grp[1]:
            raise ConfigError(f"group {base!r} of document {doc.name!r} has no field "
                              f"{sub!r}", key=kp, file=file, hint="fields: " + ", ".join(grp[1]))
        return
    if not doc.has_field(fname):
        raise ConfigError(f"document {doc.name!r} has no field {fname!r}", key=kp, file=file,
                          hint="fields: " + ", ".join(doc.writable) + "; at a group's "
                          "level, its items' fields as " + ", ".join(
                              f"{g}.NAME" for g, _i, _f in doc.groups))


_CONDITIONS = ("present", "equals", "in")


def _layout_when(raw: Any, level: str, doc: DocumentType, kp: str, file: str
                 ) -> tuple[str, str, Any]:
    """``when = { field = "discounts", present = true }``: write the record type only when
    the condition holds (``equals = "paid"``, ``in = ["paid", "refunded"]``)."""
    if not isinstance(raw, dict):
        raise ConfigError('expected a table like { field = "discounts", present = true }',
                          key=kp, file=file)
    _known(raw, {"field", *_CONDITIONS}, kp, file)
    fname = _req(raw, "field", kp, file)
    _layout_field(fname, level, doc, f"{kp}.field", file, whole_group=True)
    given = [c for c in _CONDITIONS if c in raw]
    if len(given) != 1:
        raise ConfigError("give exactly one condition: present, equals or in", key=kp,
                          file=file)
    cond, value = given[0], raw[given[0]]
    if cond == "present":
        if not isinstance(value, bool):
            raise ConfigError(f"expected true or false, found {value!r}",
                              key=f"{kp}.present", file=file)
        return fname, cond, value
    values = value if cond == "in" else [value]
    if not isinstance(values, list) or not values or not all(
            isinstance(v, str | bool | int) for v in values):
        raise ConfigError(f"expected {'a list of texts' if cond == 'in' else 'a text'}, "
                          f"found {value!r}", key=f"{kp}.{cond}", file=file)
    return fname, "in", frozenset("true" if v is True else "false" if v is False else str(v)
                                  for v in values)


_LANG = re.compile(r"[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*\Z")  # xs:language
_START = "a column position from 1 (the first column is 1)"
_ReaderParts = tuple[list[FieldSpec], CsvOptions, FixedOptions | None, XmlOptions | None,
                     RecordsSpec | None]


def _reader(raw: dict[str, Any], doc: DocumentType, fmt: str, csv_opts: CsvOptions,
            file: str) -> _ReaderParts:
    """The reader side of a mapping: its fields and the options of its format."""
    for name, formats in (("csv", ("csv",)), ("fixed", ("fixed",)), ("xml", ("xml",)),
                          ("records", ("csv", "fixed"))):
        if name in raw and fmt not in formats:
            raise ConfigError(f"a [{name}] table does not apply to {fmt} mappings", key=name,
                              file=file, hint=f"[{name}] is for {' or '.join(formats)} files"
                              + ("; an XML reader names its record element in [xml]"
                                 if name == "records" else ""))
    fixed_opts = xml_opts = None
    if fmt == "fixed":
        f = _table(raw, "fixed", "fixed", file)
        _known(f, {"encoding", "skip_lines"}, "fixed", file)
        encoding = _get(f, "encoding", "fixed", file, str, "an encoding name") or "utf-8"
        try:
            "".encode(encoding)
        except LookupError:
            raise ConfigError(f"unknown encoding {encoding!r}", key="fixed.encoding",
                              file=file) from None
        skip = _get(f, "skip_lines", "fixed", file, int, "a number of lines (0 or more)",
                    lambda v: v >= 0)
        fixed_opts = FixedOptions(encoding=encoding, skip_lines=skip or 0)
    elif fmt == "xml":
        x = _table(raw, "xml", "xml", file)
        _known(x, {"record"}, "xml", file)
        record = _get(x, "record", "xml", file, str, "an element path") or doc.record
        try:
            xml_format.check_record(record)
        except ValueError as exc:
            raise ConfigError(str(exc), key="xml.record", file=file) from None
        xml_opts = XmlOptions(root=doc.root, record=record)
    if "records" not in raw:
        table = raw.get("fields")
        if not isinstance(table, dict) or not table:
            raise ConfigError("a reader mapping needs [fields.NAME] tables", key="fields",
                              file=file)
        fields = _fields(table, "fields", doc, fmt, csv_opts.header, file)
        return fields, csv_opts, fixed_opts, xml_opts, None
    if "fields" in raw:
        raise ConfigError("a multi-record mapping takes its fields from "
                          "[records.TYPE.fields.NAME] tables", key="fields", file=file)
    if raw.get("csv", {}).get("header") is True:
        raise ConfigError("a multi-record file has no line of column names: header = false",
                          key="csv.header", file=file)
    records = _records(raw["records"], doc, fmt, file)
    fields = [f for t in records.types for f in t.fields]
    return fields, replace(csv_opts, header=False), fixed_opts, xml_opts, records


def _table(raw: dict[str, Any], key: str, keypath: str, file: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"expected a table, found {value!r}", key=keypath, file=file)
    return value


def _positive(value: int) -> bool:
    return value >= 1


def _get(spec: dict[str, Any], key: str, keypath: str, file: str, typ: type, what: str,
         ok: Any = None) -> Any:
    """An optional key of the given type (``true`` is not an index) passing ``ok``."""
    if key not in spec:
        return None
    value = spec[key]
    if (not isinstance(value, typ) or (typ is int and isinstance(value, bool))
            or (ok is not None and not ok(value))):
        raise ConfigError(f"expected {what}, found {value!r}", key=f"{keypath}.{key}",
                          file=file)
    return value


def _fields(table: dict[str, Any], keypath: str, doc: DocumentType, fmt: str, header: bool,
            file: str, record: str | None = None) -> list[FieldSpec]:
    fields = [_field(name, spec, f"{keypath}.{name}", doc, fmt, header, file, record)
              for name, spec in table.items()]
    whole = {f.name for f in fields if f.lang is None}
    for f in fields:
        if f.lang is not None and f.name in whole:
            raise ConfigError(f"{f.name!r} is already read with all its languages (by)",
                              key=f"{keypath}.{f.key}", file=file)
    return fields


def _field(name: str, spec: Any, kp: str, doc: DocumentType, fmt: str, header: bool,
           file: str, record: str | None, group: str | None = None) -> FieldSpec:
    """One reader field: the canonical field it sets, where its value is, its transforms.
    ``group``: a field of each item of that group of the document (``lines.sku``)."""
    base, _, lang = name.partition(".")
    if group is not None:
        item_fields = (doc.group(group) or ("", ()))[1]
        if name not in item_fields:
            raise ConfigError(f"group {group!r} of document {doc.name!r} has no field "
                              f"{name!r}", key=kp, file=file,
                              hint="fields: " + ", ".join(item_fields))
        base, lang = name, ""
    elif (grp := doc.group(base)) is not None:
        raise ConfigError(f"{base!r} is a group of {doc.name!r}: read its fields in "
                          f"[{base}.NAME] tables", key=kp, file=file,
                          hint=f"fields of each item: {', '.join(grp[1])}")
    if group is None and base in doc.derived:
        raise ConfigError(f"{base!r} is derived by the gateway; a reader cannot set it",
                          key=kp, file=file)
    if group is None and not doc.has_field(name):
        raise ConfigError(f"document {doc.name!r} has no field {name!r}", key=kp, file=file,
                          hint="fields: " + ", ".join(doc.fields)
                          + (" (a localized field takes a language: name.fr)"
                             if doc.localized else ""))
    if lang and not _LANG.match(lang):
        raise ConfigError(f"{lang!r} is not a language tag like fr or fr-CH", key=kp,
                          file=file)
    if not isinstance(spec, dict):
        raise ConfigError(f"expected a table, found {spec!r}", key=kp, file=file)
    allowed = _SOURCE_KEYS[fmt] | {"transforms"}
    if group is not None:  # an item's field is one value: no lists, no languages
        allowed = (allowed - {"all", "by"}) | {"row_number"}
    _known(spec, allowed, kp, file)
    row_number = _get(spec, "row_number", kp, file, bool, "true")
    if row_number is False:
        raise ConfigError("expected true (or leave row_number out)", key=f"{kp}.row_number",
                          file=file)
    column_any = _get(spec, "column_any", kp, file, list, "a list of column names",
                      lambda v: v and all(isinstance(c, str) and c for c in v))
    column = _get(spec, "column", kp, file, str, "a column name", bool)
    index = _get(spec, "index", kp, file, int, "a column index from 0", lambda v: v >= 0)
    columns = _get(spec, "columns", kp, file, list, "a list of column names",
                   lambda v: v and all(isinstance(c, str) and c for c in v))
    indexes = _get(spec, "indexes", kp, file, list, "a list of column indexes from 0",
                   lambda v: v and all(type(i) is int and i >= 0 for i in v))
    start = _get(spec, "start", kp, file, int, _START, _positive)
    length = _get(spec, "length", kp, file, int, "a length of 1 or more", _positive)
    path = _get(spec, "path", kp, file, str, "an element path", bool)
    all_ = _get(spec, "all", kp, file, bool, "true or false")
    by = _get(spec, "by", kp, file, str, "an attribute name", bool)
    paths = _edi_paths(spec, kp, file)
    given = [k for k in ("column", "index", "columns", "indexes", "column_any") if k in spec]
    if len(given) > 1:
        raise ConfigError(f"give one of column, index, columns or indexes"
                          f"{', or column_any' if 'column_any' in given else ''}, not "
                          f"{given[0]} and {given[1]}", key=f"{kp}.{given[1]}", file=file)
    placed = [k for k in (*given, "start", "path", "path_any") if k in spec]
    if row_number and placed:
        raise ConfigError(f"row_number numbers the items; it takes no {placed[0]}",
                          key=f"{kp}.{placed[0]}", file=file)
    by_name = [k for k in ("column", "column_any", "columns") if k in spec]
    if by_name and not header:
        raise ConfigError("columns by name need a header line; use index",
                          key=f"{kp}.{by_name[0]}", file=file)
    if column_any is not None and len(set(column_any)) != len(column_any):
        raise ConfigError("a column name is listed twice", key=f"{kp}.column_any", file=file)
    if (start is None) != (length is None):
        raise ConfigError("missing required key", file=file,
                          key=f"{kp}.{'length' if length is None else 'start'}")
    for key, value in (("all", all_), ("by", by)):
        if value is not None and path is None:
            raise ConfigError(f"{key} needs a path", key=f"{kp}.{key}", file=file)
    if by is not None and (lang or base not in doc.localized):
        raise ConfigError(f"by reads every language of a localized field: name it without "
                          f"a language ({', '.join(sorted(doc.localized - set(doc.derived)))})",
                          key=f"{kp}.by", file=file)
    if by is not None and all_:
        raise ConfigError("by already reads every match; leave out all", key=f"{kp}.all",
                          file=file)
    for key, check in (("by", xml_format.check_attribute),
                       ("path", _check_edi_path if fmt in EDI_READ else xml_format.check_path)):
        try:
            if spec.get(key) is not None:
                check(spec[key])
        except ValueError as exc:
            raise ConfigError(str(exc), key=f"{kp}.{key}", file=file) from None
    if path is not None and by is not None and xml_format.is_attribute(path):
        raise ConfigError(f"{path!r} names an attribute; with by, the path names elements",
                          key=f"{kp}.path", file=file)
    if group is None and base in doc.localized and not lang and by is None:
        raise ConfigError(f"{base!r} is localized: name one language ({base}.fr)"
                          + (' or read them all with by = "lang"' if fmt == "xml" else ""),
                          key=kp, file=file)
    if not (given or start or path or paths or row_number or spec.get("transforms")):
        raise ConfigError({"csv": "give a column name, an index or a constant transform",
                           "fixed": "give start and length, or a constant transform",
                           "xml": "give a path or a constant transform"}.get(
                              fmt, "give a path, path_any or a constant transform")
                          + (", or row_number = true" if group is not None else ""),
                          key=kp, file=file)
    return FieldSpec(base, column, index, _chain(spec, kp, file), lang=lang or None,
                     columns=tuple(columns or ()), indexes=tuple(indexes or ()), start=start,
                     length=length, path=path, all=bool(all_), by=by, record=record,
                     column_any=tuple(column_any or ()), group=group,
                     row_number=bool(row_number), paths=paths)


# ---- EDI readers ------------------------------------------------------------------------

_SEGMENT_TAG = re.compile(r"[A-Z][A-Z0-9]{1,2}\Z")   # LIN, NAD; X12 N1, PO1
_MESSAGE_TYPE = re.compile(r"[A-Z0-9]{3,6}\Z")       # ORDERS, 850


def _edi_read_options(raw: dict[str, Any], fmt: str, file: str) -> EdiReadOptions | None:
    """``[edi]`` of an EDIFACT or X12 reader: the message type it reads (any other is a
    located problem, never a silent skip), the versions it accepts, and the segment groups
    that nest (without them a line's QTY is not found under its LIN)."""
    if fmt not in EDI_READ:
        if "edi" in raw:
            raise ConfigError(f"an [edi] table does not apply to {fmt} reader mappings",
                              key="edi", file=file, hint='[edi] is for format = "edifact" '
                              'or "x12"')
        return None
    if "edi" not in raw:
        raise ConfigError('an EDI reader names the message it reads: [edi] message = '
                          '"ORDERS" (or "850")', key="edi", file=file)
    e = _table(raw, "edi", "edi", file)
    _known(e, {"message", "versions", "nest"}, "edi", file)
    message = _req(e, "message", "edi", file)
    if not _MESSAGE_TYPE.match(message):
        raise ConfigError(f"{message!r} is not a message type like ORDERS or 850",
                          key="edi.message", file=file)
    versions = _get(e, "versions", "edi", file, list, 'a list of versions like ["D96A"]',
                    lambda v: v and all(isinstance(x, str) and x and x == x.strip()
                                        for x in v))
    table = _get(e, "nest", "edi", file, dict, "a table of segment tags, each with the "
                 'list of the tags its group holds: { LIN = ["QTY", "PRI"] }') or {}
    nest = []
    for tag, members in table.items():
        kp = f"edi.nest.{tag}"
        if not _SEGMENT_TAG.match(tag):
            raise ConfigError(f"{tag!r} is not a segment tag like LIN or PO1", key=kp,
                              file=file)
        if (not isinstance(members, list) or not members
                or not all(isinstance(m, str) and _SEGMENT_TAG.match(m) for m in members)):
            raise ConfigError(f"expected a list of segment tags, found {members!r}", key=kp,
                              file=file)
        if tag in members:
            raise ConfigError(f"{tag} starts its group: another {tag} starts the next one, "
                              "so it is not one of its members", key=kp, file=file)
        nest.append((tag, tuple(members)))
    return EdiReadOptions(message, tuple(versions or ()), tuple(nest))


def _edi_paths(spec: dict[str, Any], kp: str, file: str) -> tuple[str, ...]:
    """``path_any``: several element paths, the first that finds a value is read."""
    if "path_any" not in spec:
        return ()
    value = spec["path_any"]
    if (not isinstance(value, list) or len(value) < 2
            or not all(isinstance(p, str) and p for p in value)):
        raise ConfigError(f"expected a list of two or more element paths, found {value!r}",
                          key=f"{kp}.path_any", file=file, hint="one path: path = \"…\"")
    if "path" in spec:
        raise ConfigError("give path or path_any, not both", key=f"{kp}.path_any", file=file)
    for i, p in enumerate(value):
        try:
            _check_edi_path(p)
        except ValueError as exc:
            raise ConfigError(str(exc), key=f"{kp}.path_any[{i}]", file=file) from None
    return tuple(value)


def _check_edi_path(path: str) -> None:
    """An EDI mapping's path, compiled as the reader will (``ValueError`` if it cannot)."""
    from ..formats.edi import compile_path

    compile_path(path)


def _edi_group_path(table: dict[str, Any], gname: str, file: str) -> str:
    """An EDI group's items: the segment that starts each of its groups (``LIN``)."""
    path = _get(table, "path", gname, file, str, "an element path", bool)
    if path is None:
        raise ConfigError('missing required key: the segment that starts each item\'s '
                          'group (path = "LIN")', key=f"{gname}.path", file=file)
    try:
        _check_edi_path(path)
    except ValueError as exc:
        raise ConfigError(str(exc), key=f"{gname}.path", file=file) from None
    if xml_format.is_attribute(path):
        raise ConfigError(f"{path!r} names an attribute; the items of a group are "
                          "segments", key=f"{gname}.path", file=file)
    return str(path)


def _path_steps(path: str) -> list[str]:
    """``NAD[@q='BY']/COM/e1`` → ``["NAD", "COM", "e1"]``: each step's name, predicates
    left out."""
    from ..formats.edi import path_steps

    return [step.split("[", 1)[0] for step in path_steps(path)]


def _edi_check_nesting(opts: EdiReadOptions, fields: list[FieldSpec],
                       groups: tuple[GroupSpec, ...], file: str) -> None:
    """A segment read inside another (``QTY`` in each ``LIN``, ``COM`` in ``NAD``) must be
    one its group holds per ``[edi] nest``: else it is never found there, and every
    message would be refused for a value that is in the file."""
    nest = dict(opts.nest)

    def walk(path: str, start: str | None, key: str) -> None:
        holder = start
        for step in _path_steps(path):
            if step in ("", "."):
                continue
            if not _SEGMENT_TAG.match(step):
                return  # e1, c2, @q: the segment's own elements from here on
            if holder is not None and step not in nest.get(holder, ()):
                members = ", ".join(f'"{t}"' for t in (*nest.get(holder, ()), step))
                raise ConfigError(f"{step} is read inside {holder}, but [edi] nest does "
                                  f"not put it in {holder}'s group", key=key, file=file,
                                  hint=f"nest = {{ {holder} = [{members}] }}")
            holder = step

    def check(f: FieldSpec, start: str | None) -> None:
        if f.path is not None:
            walk(f.path, start, f"{f.where}.path")
        for i, p in enumerate(f.paths):
            walk(p, start, f"{f.where}.path_any[{i}]")
    for f in fields:
        check(f, None)
    for g in groups:
        start = _path_steps(g.path or "")[-1]
        for f in g.fields:
            check(f, start if _SEGMENT_TAG.match(start) else None)


def _position(spec: Any, kp: str, fmt: str, file: str, name: str, record: str | None = None
              ) -> FieldSpec:
    """Where a multi-record line holds its type or a trailer its count: a CSV index, or
    start and length."""
    if not isinstance(spec, dict):
        raise ConfigError("expected a table like { index = 0 }" if fmt == "csv" else
                          "expected a table like { start = 1, length = 1 }", key=kp, file=file)
    keys = ("index",) if fmt == "csv" else ("start", "length")
    _known(spec, set(keys), kp, file)
    for key in keys:
        _req(spec, key, kp, file, int)
    index = _get(spec, "index", kp, file, int, "a column index from 0", lambda v: v >= 0)
    start = _get(spec, "start", kp, file, int, _START, _positive)
    length = _get(spec, "length", kp, file, int, "a length of 1 or more", _positive)
    return FieldSpec(name, None, index, (), start=start, length=length, record=record)


def _records(table: Any, doc: DocumentType, fmt: str, file: str) -> RecordsSpec:
    """``[records]``: where the type is, and per type its role, fields or count."""
    if not isinstance(table, dict):
        raise ConfigError(f"expected a table, found {table!r}", key="records", file=file)
    if "type" not in table:
        raise ConfigError("missing required key", key="records.type", file=file)
    where = _position(table["type"], "records.type", fmt, file, "record type")
    types: list[RecordType] = []
    for code, spec in table.items():
        if code == "type":
            continue
        kp = f"records.{code}"
        if not isinstance(spec, dict):
            raise ConfigError(f"expected a table [records.{code}], found {spec!r}", key=kp,
                              file=file)
        if not code or code != code.strip():
            raise ConfigError("a record type is its code as the file writes it, without "
                              "spaces around it", key=kp, file=file)
        if where.length is not None and len(code) > where.length:
            raise ConfigError(f"record type {code!r} is longer than the {where.length} "
                              "character(s) records.type reads", key=kp, file=file)
        _known(spec, {"role", "fields", "count"}, kp, file)
        role = _req(spec, "role", kp, file)
        if role not in ROLES:
            raise ConfigError(f"{role!r} is not a record role", key=f"{kp}.role", file=file,
                              hint="roles: " + ", ".join(ROLES))
        fields: list[FieldSpec] = []
        if "fields" in spec:
            if role not in (HEADER, DETAIL):
                raise ConfigError(f"a {role} record has no fields", key=f"{kp}.fields",
                                  file=file)
            fields = _fields(_table(spec, "fields", f"{kp}.fields", file), f"{kp}.fields",
                             doc, fmt, False, file, code)
        if role == DETAIL and not fields:
            raise ConfigError(f"a detail record needs [records.{code}.fields.NAME] tables",
                              key=f"{kp}.fields", file=file)
        count = None
        if "count" in spec:
            if role != TRAILER:
                raise ConfigError("only a trailer record has a count", key=f"{kp}.count",
                                  file=file)
            count = _position(spec["count"], f"{kp}.count", fmt, file, "count", code)
        types.append(RecordType(code, role, tuple(fields), count))
    for role in (HEADER, TRAILER):
        codes = [t.code for t in types if t.role == role]
        if len(codes) > 1:
            raise ConfigError(f"a file has one {role} record type ({codes[0]} already is)",
                              key=f"records.{codes[1]}.role", file=file)
    if not any(t.role == DETAIL for t in types):
        raise ConfigError('declare a detail record type: [records.L] role = "detail"',
                          key="records", file=file)
    header = {f.name: t.code for t in types if t.role == HEADER for f in t.fields}
    for t in types:
        for f in t.fields:
            if t.role == DETAIL and f.name in header:
                raise ConfigError(f"{f.name!r} is already read from the header record "
                                  f"{header[f.name]}", key=f"records.{t.code}.fields.{f.key}",
                                  file=file)
    return RecordsSpec(where, tuple(types))


@functools.cache
def canonical_mapping(doc: DocumentType) -> Mapping:
    """The identity writer of a document: its canonical XML, as its XSD defines it."""
    return Mapping(name=f"canonical_{doc.name}", path=Path("<canonical>"), direction="write",
                   document=doc.name, doc=doc, format="xml",
                   xml=XmlOptions(root=doc.root, record=doc.record),
                   columns=tuple(ColumnSpec(f, f, ()) for f in doc.fields))


# ---- EDI writers ------------------------------------------------------------------------

EDI_LEVELS = ("message", "record", "end")
# values the writer itself knows, named in elements like fields: the records of the
# message so far (at a record, its number in the message: LIN 1082; at the end, their
# count: CNT, CTT), the interchange's control number (a document number for messages
# that have none of their own), its date (CCYYMMDD) and time (HHMM), and the channel's
# ids (NAD+SU, NAD+BY)
EDI_COUNTERS = ("records", "items", "control", "date", "time", "sender", "recipient")
_REF = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)?)\}\Z")
_ENVELOPE = frozenset({"UNA", "UNB", "UNG", "UNH", "UNT", "UNE", "UNZ", "ISA", "GS", "ST",
                       "SE", "GE", "IEA"})
# X12 functional identifier code (GS01) of the transaction sets a group may hold
_X12_GROUPS = {"810": "IN", "832": "SC", "846": "IB", "850": "PO", "855": "PR",
               "856": "SH", "997": "FA"}
_EDIFACT_TYPE = re.compile(r"[A-Z]{6}\Z")            # ORDRSP
_X12_TYPE = re.compile(r"\d{3}\Z")                   # 855
_EDIFACT_VERSION = re.compile(r"[A-Z]\d{2}[A-Z]\Z")  # D96A: 0052 D, 0054 96A
_X12_VERSION = re.compile(r"\d{6}[A-Z0-9]{0,6}\Z")   # 004010, 004010VICS


@dataclass(frozen=True)
class EdiValue:
    """One component of a segment: a literal text, a canonical field through its
    transforms, or a value the writer knows (``counter``)."""

    label: str                       # what problems name: "QTY01-2 (quantity_confirmed)"
    text: str | None = None          # a literal
    field: str | None = None         # a field of the record (``name.fr``: one language)
    chain: tuple[Transform, ...] = ()
    counter: str | None = None       # one of EDI_COUNTERS
    distinct: bool = False           # the field's distinct texts over the message's records


@dataclass(frozen=True)
class EdiSegment:
    """One ``[[segments]]`` entry: written once at a message's start (``message``, from
    its first record), once per record, or once before its trailer (``end``)."""

    tag: str
    level: str
    elements: tuple[tuple[EdiValue, ...], ...]  # per data element, its components
    when: tuple[str, str, Any] | None = None    # as [[records]] have it
    key: str = ""                               # "segments[3]"
    group: str | None = None                    # once per item of this group (lines)


@dataclass(frozen=True)
class EdiWriteOptions:
    """``[edi]`` of an EDI writer: the message written, its version and how records make
    messages (``per``: None, one message for the file; else a field whose change starts
    the next message)."""

    message: str                     # UNH 0065 / ST01
    version: str                     # D96A (UNH 0052 + 0054) / 004010 (GS08)
    association: str = ""            # UNH 0057 (EAN005…)
    functional_group: str | None = None  # X12 GS01
    per: str | None = None
    segments: tuple[EdiSegment, ...] = ()

    @property
    def buffered(self) -> bool:
        """A message's records are held until it ends (one order's lines) when a
        message-level value needs all of them (``distinct``)."""
        return any(v.distinct for s in self.segments for e in s.elements for v in e)


def _edi_writer(raw: dict[str, Any], doc: DocumentType, fmt: str, file: str
                ) -> EdiWriteOptions:
    """``[edi]`` and ``[[segments]]`` of an EDIFACT or X12 writer, checked whole: an
    unknown field, level or transform stops the load with its key."""
    if fmt not in EDI_WRITE:
        key = "edi" if "edi" in raw else "segments"
        raise ConfigError(f"[{key}] is for EDIFACT and X12 writers, not {fmt}", key=key,
                          file=file, hint='format = "edifact" or "x12"')
    for name in ("csv", "xml", "columns", "records"):
        if name in raw:
            raise ConfigError(f"an EDI writer writes [[segments]]; [{name}] does not apply",
                              key=name, file=file)
    x12 = fmt == "x12"
    if "edi" not in raw:
        raise ConfigError("an EDI writer names the message it writes: [edi] message = "
                          + ('"855"' if x12 else '"ORDRSP"'), key="edi", file=file)
    e = _table(raw, "edi", "edi", file)
    _known(e, {"message", "version", "association", "functional_group", "per"}, "edi", file)
    message = _req(e, "message", "edi", file)
    if not (_X12_TYPE if x12 else _EDIFACT_TYPE).match(message):
        raise ConfigError(f"{message!r} is not " + ("an X12 transaction set like 855" if x12
                                                     else "an EDIFACT message type like "
                                                     "ORDRSP"), key="edi.message", file=file)
    version = _req(e, "version", "edi", file)
    if not (_X12_VERSION if x12 else _EDIFACT_VERSION).match(version):
        raise ConfigError(f"{version!r} is not a version like "
                          + ('"004010" (GS08)' if x12 else '"D96A" (UNH 0052 and 0054)'),
                          key="edi.version", file=file)
    association = _get(e, "association", "edi", file, str, "an association code like "
                       "EAN005", lambda v: 0 < len(v) <= 6 and v.isalnum()) or ""
    group = _get(e, "functional_group", "edi", file, str, "a functional identifier code "
                 "like PR", lambda v: 2 == len(v) and v.isalpha() and v.isupper())
    if x12:
        if association:
            raise ConfigError("association is EDIFACT's (UNH 0057); X12 has none",
                              key="edi.association", file=file)
        want = _X12_GROUPS.get(message)
        if group is None:
            raise ConfigError("missing required key: the functional group (GS01) of "
                              f"{message} transaction sets", key="edi.functional_group",
                              file=file, hint=f'functional_group = "{want or "PR"}"')
        if want is not None and group != want:
            raise ConfigError(f"{message} transaction sets go in {want} groups, not {group}",
                              key="edi.functional_group", file=file,
                              hint=f'functional_group = "{want}"')
    elif group is not None:
        raise ConfigError("functional_group is X12's (GS01); EDIFACT messages are written "
                          "without UNG groups", key="edi.functional_group", file=file)
    per = e.get("per", "file")
    if per == "file":
        per = None
    elif (not isinstance(per, str) or per not in doc.fields or per in doc.localized
          or per in doc.lists or doc.group(per) is not None):
        raise ConfigError(f"expected \"file\" (one message for all the records) or a "
                          f"single-valued field of {doc.name!r}, found {per!r}",
                          key="edi.per", file=file,
                          hint="a field whose change starts the next message, e.g. per = "
                          '"number": one message per order')
    table = raw.get("segments")
    if not isinstance(table, list) or not table:
        raise ConfigError("an EDI writer needs [[segments]] entries, in message order",
                          key="segments", file=file)
    segments = tuple(_edi_segment(spec, f"segments[{i}]", doc, fmt, per, file)
                     for i, spec in enumerate(table))
    _edi_level_order(segments, file)
    return EdiWriteOptions(message, version, association, group, per, segments)


def _edi_level_order(segments: tuple[EdiSegment, ...], file: str) -> None:
    """Message-level segments first, then the record's, then the end's: written in any
    other order they would not come out in the order the mapping shows."""
    rank = {level: i for i, level in enumerate(EDI_LEVELS)}
    highest = segments[0]
    for seg in segments[1:]:
        if rank[seg.level] < rank[highest.level]:
            raise ConfigError(f"a {seg.level}-level {seg.tag} after the {highest.level}-"
                              f"level {highest.tag} ({highest.key}) would be written before "
                              "it", key=f"{seg.key}.level", file=file,
                              hint="list the segments in message order: message level, "
                              "then record, then end")
        if rank[seg.level] > rank[highest.level]:
            highest = seg
    if not any(s.level == "record" for s in segments):
        raise ConfigError('no segment has level = "record": no record would be written',
                          key="segments", file=file)


def _edi_segment(spec: Any, kp: str, doc: DocumentType, fmt: str, per: str | None,
                 file: str) -> EdiSegment:
    if not isinstance(spec, dict):
        raise ConfigError(f"expected a table, found {spec!r}", key=kp, file=file)
    _known(spec, {"tag", "level", "elements", "when", "group"}, kp, file)
    tag = _req(spec, "tag", kp, file)
    if not _SEGMENT_TAG.match(tag):
        raise ConfigError(f"{tag!r} is not a segment tag like LIN or PO1", key=f"{kp}.tag",
                          file=file)
    if tag in _ENVELOPE:
        raise ConfigError(f"{tag} is part of the envelope, which the writer writes itself "
                          "(with its counts and control numbers)", key=f"{kp}.tag", file=file)
    level = spec.get("level", "record")
    if level not in EDI_LEVELS:
        raise ConfigError(f"unknown level {level!r}", key=f"{kp}.level", file=file,
                          hint="levels: message (once at a message's start, from its first "
                          "record), record (once per record), end (once before the trailer)")
    group = spec.get("group")
    items: tuple[str, ...] = ()
    if group is not None:
        found = doc.group(group) if isinstance(group, str) else None
        if found is None:
            raise ConfigError(f"{group!r} is not a group of {doc.name!r}", key=f"{kp}.group",
                              file=file, hint="groups: " + (", ".join(
                                  g for g, _i, _f in doc.groups) or "none"))
        if level != "record":
            raise ConfigError("a group's segments are written for each item of a record: "
                              'level = "record"', key=f"{kp}.level", file=file)
        items = found[1]
    raw = spec.get("elements")
    if not isinstance(raw, list) or not raw:
        raise ConfigError("expected a list with one entry per data element: a text, "
                          '"{field}", a table { field = "…", transforms = […] }, or a list '
                          "of components", key=f"{kp}.elements", file=file)
    elements = []
    for i, element in enumerate(raw, 1):
        ekp = f"{kp}.elements[{i - 1}]"
        if isinstance(element, list):
            if not element:
                raise ConfigError("a composite element needs its components", key=ekp,
                                  file=file)
            elements.append(tuple(
                _edi_value(c, f"{ekp}[{j - 1}]", f"{tag}{i:02d}-{j}", doc, level, per, file,
                           items)
                for j, c in enumerate(element, 1)))
        else:
            elements.append((_edi_value(element, ekp, f"{tag}{i:02d}", doc, level, per,
                                        file, items),))
    when = None
    if "when" in spec:
        cond = spec["when"]
        item_field = isinstance(cond, dict) and cond.get("field") in items
        # an item's field is checked against the group's fields, as its values are
        when = (_layout_when(cond, "record", doc, f"{kp}.when", file) if not item_field
                else _layout_when({**cond, "field": f"{group}.{cond['field']}"}, str(group),
                                  doc, f"{kp}.when", file))
        if item_field:
            when = (cond["field"], *when[1:])
    return EdiSegment(tag, level, tuple(elements), when, kp, group)


def _edi_value(raw: Any, kp: str, label: str, doc: DocumentType, level: str,
               per: str | None, file: str, items: tuple[str, ...] = ()) -> EdiValue:
    """A literal, ``"{field}"`` or ``{ field = "…", transforms = […], distinct = true }``."""
    if isinstance(raw, str):
        m = _REF.match(raw)
        if m is None:
            return EdiValue(label, text=raw)
        return _edi_ref(m.group(1), (), False, kp, label, doc, level, per, file, items)
    if isinstance(raw, dict):
        _known(raw, {"field", "transforms", "distinct"}, kp, file)
        name = _req(raw, "field", kp, file)
        distinct = _get(raw, "distinct", kp, file, bool, "true or false") or False
        return _edi_ref(name, _chain(raw, kp, file), distinct, kp, label, doc, level, per,
                        file, items)
    if isinstance(raw, list):
        raise ConfigError("a component is a text, \"{field}\" or a table; components do "
                          "not nest", key=kp, file=file)
    raise ConfigError(f"expected a text, \"{{field}}\", a table or a list of components, "
                      f"found {raw!r}", key=kp, file=file,
                      hint='numbers as texts: "21", not 21')


def _edi_ref(name: str, chain: tuple[Transform, ...], distinct: bool, kp: str, label: str,
             doc: DocumentType, level: str, per: str | None, file: str,
             items: tuple[str, ...] = ()) -> EdiValue:
    """A field, of the record or (in a group's segment) of the item; or a counter."""
    if name == "items" and level != "end":
        raise ConfigError("{items} counts the group items written in a message: at its "
                          'end (level = "end")', key=kp, file=file)
    if name in items and not distinct:
        return EdiValue(f"{label} ({name})", field=name, chain=chain)
    if name in EDI_COUNTERS:
        if distinct:
            raise ConfigError(f"{name} is the writer's own value, not a field of the "
                              "records", key=f"{kp}.distinct", file=file)
        if name == "records" and level == "message":
            raise ConfigError("{records} counts the records of a message: a record's number "
                              '(level = "record") or their count (level = "end"), not known '
                              "at its start", key=kp, file=file)
        return EdiValue(f"{label} ({name})", field=None, chain=chain, counter=name)
    base, _, sub = name.partition(".")
    if doc.group(base) is not None:
        raise ConfigError(f"{base!r} is a group of {doc.name!r}: EDI writers write "
                          "records field by field", key=kp, file=file)
    if not doc.has_field(name):
        raise ConfigError(f"document {doc.name!r} has no field {name!r}", key=kp, file=file,
                          hint="fields: " + ", ".join(doc.writable) + "; the writer's own "
                          "values: " + ", ".join("{" + c + "}" for c in EDI_COUNTERS))
    if not sub and base in doc.localized:
        raise ConfigError(f"{base!r} is localized: name one language ({base}.fr)", key=kp,
                          file=file)
    if distinct:
        if level == "record":
            raise ConfigError("distinct gathers a field over a message's records: for "
                              'level = "message" or "end"', key=f"{kp}.distinct", file=file)
        if per is None:
            raise ConfigError("distinct needs messages of bounded size: [edi] per = a "
                              "field (one order's lines), not one message per file",
                              key=f"{kp}.distinct", file=file)
    return EdiValue(f"{label} ({name})", field=name, chain=chain, distinct=distinct)
