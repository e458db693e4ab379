"""Canonical documents: the field list and XML shape each XSD in ``schemas/`` defines.

Everything inside the gateway speaks these documents; readers map partner formats into
them and writers map them out. The XML element names here are the XSD's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from .errors import ConfigError


@dataclass(frozen=True, eq=False)
class DocumentType:
    name: str
    schema: str          # file name in schemas/
    root: str            # root element of the canonical XML
    record: str          # element of one record
    fields: tuple[str, ...]
    views: tuple[str, ...] = ("records",)

    def schema_path(self, schemas_dir: Path) -> Path:
        return schemas_dir / self.schema


DOCUMENTS: dict[str, DocumentType] = {
    "stock": DocumentType(
        name="stock", schema="stock.xsd", root="stock", record="item",
        fields=("sku", "warehouse", "quantity", "as_of"),
        views=("records", "sku_totals"),
    ),
}


def document(name: str, *, key: str = "document", file: str | None = None) -> DocumentType:
    try:
        return DOCUMENTS[name]
    except KeyError:
        raise ConfigError(f"unknown document type {name!r}", key=key, file=file,
                          hint="known documents: " + ", ".join(sorted(DOCUMENTS))) from None


def to_text(value: object) -> str:
    """Canonical text of a value: exact decimals, ISO dates with offset."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        text = format(value, "f")
        return text
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
