"""Load and lint mapping files (TOML); every error names the mapping file and key."""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..documents import DocumentType, document
from ..errors import ConfigError
from ..formats.csv import CsvOptions
from .transforms import Transform, build_chain

if TYPE_CHECKING:
    from ..config import Config

FORMATS = {"read": ("csv",), "write": ("csv", "xml")}


@dataclass(frozen=True)
class FieldSpec:
    """Reader side: one canonical field taken from a column (by name or index)."""

    name: str
    column: str | None
    index: int | None
    chain: tuple[Transform, ...]


@dataclass(frozen=True)
class ColumnSpec:
    """Writer side: one output column or element taken from a canonical field."""

    name: str          # CSV header or XML element path
    field: str | None
    chain: tuple[Transform, ...]


@dataclass(frozen=True)
class XmlOptions:
    root: str
    record: str
    encoding: str = "utf-8"


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
    fields: tuple[FieldSpec, ...] = ()
    columns: tuple[ColumnSpec, ...] = ()
    # compiled forms (plans, generated loops), built once per mapping and kept with it
    compiled: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def extension(self) -> str:
        return self.format


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
        return tuple(build_chain(steps, f"{keypath}.transforms"))
    except ValueError as exc:
        raise ConfigError(str(exc), file=file) from None


def _build(path: Path, raw: dict[str, Any]) -> Mapping:
    file = str(path)
    _known(raw, {"mapping", "csv", "xml", "fields", "columns"}, "", file)
    head = raw.get("mapping")
    if not isinstance(head, dict):
        raise ConfigError("missing [mapping] table", key="mapping", file=file)
    _known(head, {"direction", "document", "format", "description", "view"}, "mapping", file)
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
                   "line_terminator"}, "csv", file)
        for k in ("delimiter", "quotechar", "encoding", "line_terminator"):
            if k in c and not isinstance(c[k], str):
                raise ConfigError(f"expected a string, found {c[k]!r}", key=f"csv.{k}",
                                  file=file)
        for k in ("header", "strict_columns"):  # bool("false") would be True
            if k in c and not isinstance(c[k], bool):
                raise ConfigError(f"expected true or false, found {c[k]!r}", key=f"csv.{k}",
                                  file=file)
        csv_opts = CsvOptions(
            delimiter=c.get("delimiter", ";"), quotechar=c.get("quotechar", '"'),
            encoding=c.get("encoding", "utf-8"), header=bool(c.get("header", True)),
            strict_columns=bool(c.get("strict_columns", False)),
            line_terminator=c.get("line_terminator", "\r\n"))
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
    if fmt == "xml":
        x = raw.get("xml", {})
        _known(x, {"root", "record", "encoding"}, "xml", file)
        xml_opts = XmlOptions(root=x.get("root", doc.root), record=x.get("record", doc.record),
                              encoding=x.get("encoding", "utf-8"))

    fields: list[FieldSpec] = []
    columns: list[ColumnSpec] = []
    if direction == "read":
        table = raw.get("fields")
        if not isinstance(table, dict) or not table:
            raise ConfigError("a reader mapping needs [fields.NAME] tables", key="fields",
                              file=file)
        for name, spec in table.items():
            kp = f"fields.{name}"
            if name not in doc.fields:
                raise ConfigError(f"document {doc.name!r} has no field {name!r}", key=kp,
                                  file=file, hint="fields: " + ", ".join(doc.fields))
            _known(spec, {"column", "index", "transforms"}, kp, file)
            column, index = spec.get("column"), spec.get("index")
            if column is None and index is None and not spec.get("transforms"):
                raise ConfigError("give a column name, an index or a constant transform",
                                  key=kp, file=file)
            if column is not None and not csv_opts.header:
                raise ConfigError("columns by name need a header line; use index",
                                  key=f"{kp}.column", file=file)
            fields.append(FieldSpec(name, column, index, _chain(spec, kp, file)))
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
                   csv=csv_opts, xml=xml_opts, fields=tuple(fields), columns=tuple(columns))


@functools.cache
def canonical_mapping(doc: DocumentType) -> Mapping:
    """The identity writer of a document: its canonical XML, as its XSD defines it."""
    return Mapping(name=f"canonical_{doc.name}", path=Path("<canonical>"), direction="write",
                   document=doc.name, doc=doc, format="xml",
                   xml=XmlOptions(root=doc.root, record=doc.record),
                   columns=tuple(ColumnSpec(f, f, ()) for f in doc.fields))
