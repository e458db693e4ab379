"""Canonical documents: the field list and XML shape each XSD in ``schemas/`` defines.

Everything inside the gateway speaks these documents; readers map partner formats into
them and writers map them out. The XML element names here are the XSD's.

A record is a flat ``dict``. Two kinds of field hold more than one value:

- *localized* fields (a product's name per language) hold ``{language: text}`` and are
  written ``<name lang="fr">…</name>``; a mapping names one language as ``name.fr``;
- *list* fields (a product's category ids) hold a tuple and repeat their element.

*Derived* fields are added by a flow after validation (a product's category paths, built
from the category tree the gateway holds): writers may use them, the XSD never sees them.
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
    localized: frozenset[str] = frozenset()
    lists: frozenset[str] = frozenset()
    derived: tuple[str, ...] = ()
    # the fields that identify a record of each view (delta publishing, diffs)
    keys: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # what a withdrawn record (held before, absent from a full export) is published as;
    # None: withdrawals are reported, never written (a shop cannot have "no price")
    withdrawn: tuple[tuple[str, object], ...] | None = None
    # repeated sub-records (an order's lines): field → (item element, its fields); the
    # record holds a tuple of dicts, written <line>…</line> per item inside the record
    groups: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    # documents its flow produces besides its own views (a stock file or an order can
    # take a SKU below its reorder point: a replenishment request)
    emits: tuple[str, ...] = ()

    def schema_path(self, schemas_dir: Path) -> Path:
        return schemas_dir / self.schema

    def group(self, name: str) -> tuple[str, tuple[str, ...]] | None:
        for gname, item, fields in self.groups:
            if gname == name:
                return item, fields
        return None

    def key_of(self, view: str) -> tuple[str, ...]:
        return dict(self.keys).get(view, ())

    def has_field(self, path: str) -> bool:
        """``name``, ``name.fr`` for a localized field, ``lines.sku`` for a group's field."""
        base, _, lang = path.partition(".")
        grp = self.group(base)
        if grp is not None:
            return not lang or lang in grp[1]
        if lang:
            return base in self.localized or base in self.derived_localized
        return base in self.fields or base in self.derived

    @property
    def derived_localized(self) -> frozenset[str]:
        return frozenset(f for f in self.derived if f in self.localized)

    @property
    def writable(self) -> tuple[str, ...]:
        return self.fields + self.derived


DOCUMENTS: dict[str, DocumentType] = {
    "stock": DocumentType(
        name="stock", schema="stock.xsd", root="stock", record="item",
        fields=("sku", "warehouse", "quantity", "as_of"),
        views=("records", "sku_totals"),
        keys=(("records", ("sku", "warehouse")), ("sku_totals", ("sku",))),
        emits=("replenishment",),
        withdrawn=(("quantity", Decimal(0)),),
    ),
    "catalogue": DocumentType(
        name="catalogue", schema="catalogue.xsd", root="catalogue", record="product",
        fields=("sku", "ean", "name", "short_description", "description", "brand",
                "category", "tax_class", "weight", "weight_unit", "active",
                "reorder_point"),
        localized=frozenset({"name", "short_description", "description", "category_path"}),
        lists=frozenset({"category"}),
        derived=("category_path",),
        keys=(("records", ("sku",)),),
        withdrawn=(("active", False),),
    ),
    "categories": DocumentType(
        name="categories", schema="categories.xsd", root="categories", record="category",
        fields=("id", "parent_id", "name", "position", "active"),
        localized=frozenset({"name", "path"}),
        derived=("path", "is_root"),
        keys=(("records", ("id",)),),
        withdrawn=(("active", False),),
    ),
    "prices": DocumentType(
        name="prices", schema="prices.xsd", root="prices", record="price",
        fields=("sku", "price_list", "currency", "net", "gross", "valid_from", "valid_to",
                "promo_price", "promo_from", "promo_to", "as_of"),
        keys=(("records", ("sku", "price_list")),),
        withdrawn=None,
    ),
}


_ADDRESS = ("name", "company", "street", "street2", "zip", "city", "country", "phone")
_CUSTOMER = ("customer_id", "customer_number", "email", "customer_name", "company", "vat_id",
             "phone")

DOCUMENTS.update({
    # shop → ERP: one record per order, its lines and order-level discounts inside
    "orders": DocumentType(
        name="orders", schema="orders.xsd", root="orders", record="order",
        fields=("shop", "number", "shop_order_id", "created_at", "paid_at", "cancelled_at",
                "currency", "payment_status", *_CUSTOMER,
                *(f"billing_{a}" for a in _ADDRESS), *(f"delivery_{a}" for a in _ADDRESS),
                "shipping_method", "shipping_amount", "shipping_tax", "subtotal", "tax_total",
                "total", "lines", "discounts"),
        groups=(("lines", "line", ("line_number", "sku", "name", "quantity", "unit_price",
                                   "tax_rate", "discount_amount", "discount_percent",
                                   "promotion_code")),
                ("discounts", "discount", ("code", "amount", "spread"))),
        derived=("customer_status",),
        views=("records", "customer_updates"),
        keys=(("records", ("shop", "number")),),
        emits=("replenishment",),
    ),
    # ERP → gateway: the customer master, to match shop customers
    "customers": DocumentType(
        name="customers", schema="customers.xsd", root="customers", record="customer",
        fields=("number", "email", "vat_id", "name", "company", "phone",
                *(f"billing_{a}" for a in _ADDRESS), *(f"delivery_{a}" for a in _ADDRESS)),
        keys=(("records", ("number",)),),
    ),
    # ERP → gateway: what the ERP did with each order line
    "order_status": DocumentType(
        name="order_status", schema="order_status.xsd", root="order_status",
        record="status",
        fields=("shop", "number", "line_number", "sku", "status", "quantity_confirmed",
                "quantity_backordered", "expected_date", "reason_code", "reason_text",
                "as_of"),
        keys=(("records", ("shop", "number", "line_number")),),
        emits=("backorders",),
    ),
    # gateway → shop: per order line that cannot ship now (from the ERP's order status)
    "backorders": DocumentType(
        name="backorders", schema="backorders.xsd", root="backorders", record="backorder",
        fields=("shop", "number", "line_number", "sku", "status", "quantity_ordered",
                "quantity_confirmed", "quantity_backordered", "expected_date",
                "reason_code", "reason_text"),
        keys=(("records", ("shop", "number", "line_number")),),
    ),
    # gateway → ERP: a SKU whose projected stock fell below its reorder point
    "replenishment": DocumentType(
        name="replenishment", schema="replenishment.xsd", root="replenishment",
        record="request",
        fields=("sku", "projected", "reorder_point", "target", "quantity", "reason", "at"),
    ),
})


def document(name: str, *, key: str = "document", file: str | None = None) -> DocumentType:
    try:
        return DOCUMENTS[name]
    except KeyError:
        raise ConfigError(f"unknown document type {name!r}", key=key, file=file,
                          hint="known documents: " + ", ".join(sorted(DOCUMENTS))) from None


def to_text(value: object) -> str:
    """Canonical text of a value: exact decimals, ISO dates with offset, true/false."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
