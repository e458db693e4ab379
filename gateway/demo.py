"""``gateway demo``: a workspace with a configuration and realistic files, run once.

Shows every outcome an operator meets: a clean stock export, one with bad lines
(partly accepted), one the ERP sent with the wrong columns (rejected), and the same
export sent twice (duplicate). Every flow added to the gateway joins this demo.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from .config import Config, load
from .errors import UsageError
from .pipeline.runner import CycleSummary, Gateway

MARKER = ".gateway-demo"

CONFIG_TEMPLATE = """\
# Workspace of the ERP <-> shop gateway on local drop folders.
[gateway]
workspace = "."
poll_interval = "{poll_interval}"
min_age = "{min_age}"
batch_size = {batch_size}

[endpoints.erp_in]
path = "inbox/erp"

[endpoints.erp_out]
path = "outbox/erp"

[endpoints.shop_out]
path = "outbox/shop"
{catalogue}
# ERP stock export -> canonical stock; acknowledgements go back to the ERP.
[channels.erp_stock_in]
direction = "in"
endpoint = "erp_in"
pattern = "{pattern}"
document = "stock"
mapping = "erp_stock_csv"
ack_endpoint = "erp_out"
settle = "{settle}"
{extra_in}

# canonical stock -> PrestaShop stock import, summed over warehouses
[channels.shop_stock_csv]
direction = "out"
endpoint = "shop_out"
document = "stock"
mapping = "prestashop_stock_csv"
filename = "stock_{{exchange}}.csv"

# canonical stock -> canonical XML for shops with an XML import module
[channels.shop_stock_xml]
direction = "out"
endpoint = "shop_out"
document = "stock"
mapping = "canonical_stock_xml"
filename = "stock_{{exchange}}.xml"
"""

# Channels of one endpoint are taken in this order: the category tree before the products
# that refer to it.
CATALOGUE_CHANNELS = """
# ERP families -> the category tree (a full export: absent categories are withdrawn)
[channels.erp_categories_in]
direction = "in"
endpoint = "erp_in"
pattern = "categories_*.csv"
document = "categories"
mapping = "erp_categories_csv"
ack_endpoint = "erp_out"
export = "full"
settle = "move"

# ERP articles -> catalogue, each product checked against the category tree
[channels.erp_catalogue_in]
direction = "in"
endpoint = "erp_in"
pattern = "catalogue_*.csv"
document = "catalogue"
mapping = "erp_catalogue_csv"
ack_endpoint = "erp_out"
export = "full"
settle = "move"

# ERP price lists -> prices (older never overwrites newer)
[channels.erp_prices_in]
direction = "in"
endpoint = "erp_in"
pattern = "prices_*.csv"
document = "prices"
mapping = "erp_prices_csv"
ack_endpoint = "erp_out"
settle = "move"

[channels.shop_categories_csv]
direction = "out"
endpoint = "shop_out"
document = "categories"
mapping = "prestashop_categories_csv"
filename = "categories_{{exchange}}.csv"

# only new, changed and withdrawn products reach the shop
[channels.shop_products_csv]
direction = "out"
endpoint = "shop_out"
document = "catalogue"
mapping = "prestashop_products_csv"
filename = "products_{{exchange}}.csv"
publish = "delta"

[channels.shop_prices_csv]
direction = "out"
endpoint = "shop_out"
document = "prices"
mapping = "prestashop_prices_csv"
filename = "prices_{{exchange}}.csv"
publish = "delta"
"""

# Orders: the shop's exports in, the ERP's order import, customer updates, replenishment
# requests and order statuses, back-orders out. Taken after the catalogue and before
# the stock, so the stock file (which lags behind these orders) is projected.
ORDERS_CHANNELS = """
[endpoints.shop_in]
path = "inbox/shop"

# ERP customer master -> the customers orders are matched to
[channels.erp_customers_in]
direction = "in"
endpoint = "erp_in"
pattern = "customers_*.csv"
document = "customers"
mapping = "erp_customers_csv"
ack_endpoint = "erp_out"
settle = "move"

# Shopify order export (overlapping windows) -> only new, paid orders
[channels.shop_orders_in]
direction = "in"
endpoint = "shop_in"
pattern = "orders_*.csv"
document = "orders"
mapping = "shopify_orders_csv"
ack_endpoint = "shop_out"
settle = "move"
payment = "paid"

# ERP order status -> back-orders for the shop
[channels.erp_status_in]
direction = "in"
endpoint = "erp_in"
pattern = "status_*.csv"
document = "order_status"
mapping = "erp_order_status_csv"
ack_endpoint = "erp_out"
settle = "move"

[channels.erp_orders_txt]
direction = "out"
endpoint = "erp_out"
document = "orders"
mapping = "erp_orders_csv"
filename = "orders_{{exchange}}.txt"

[channels.erp_customer_updates_csv]
direction = "out"
endpoint = "erp_out"
document = "orders"
mapping = "erp_customer_updates_csv"
filename = "customer_updates_{{exchange}}.csv"

[channels.erp_replenishment_csv]
direction = "out"
endpoint = "erp_out"
document = "replenishment"
mapping = "erp_replenishment_csv"
filename = "replenishment_{{exchange}}.csv"
reorder_point = 5

[channels.shop_backorders_csv]
direction = "out"
endpoint = "shop_out"
document = "backorders"
mapping = "backorders_csv"
filename = "backorders_{{exchange}}.csv"
"""

# A B2B buyer that orders by EANCOM: its orders go through the same rules as the shop's,
# it gets an order response (ORDRSP) for them and a report of the stock it may order
# (INVRPT). Its responses are the statuses of its own orders only (where).
BUYER = "3012345000017"
US = "3098765000004"
EDI_CHANNELS = f"""
[endpoints.buyer_in]
path = "inbox/buyer"

[endpoints.buyer_out]
path = "outbox/buyer"

# EANCOM ORDERS of a B2B buyer: on account, net prices
[channels.buyer_orders_in]
direction = "in"
endpoint = "buyer_in"
pattern = "*.edi"
document = "orders"
mapping = "edifact_orders_d96a"
ack_endpoint = "buyer_out"
settle = "move"
payment = "any"
prices_include_tax = false

[channels.buyer_orders_in.edi]
ack = "contrl"     # a CONTRL for each interchange, beside the XML ack
aperak = true      # an APERAK for an order refused for its content

[channels.buyer_ordrsp]
direction = "out"
endpoint = "buyer_out"
document = "order_status"
mapping = "edifact_ordrsp_d96a"
where = {{{{ shop = "{BUYER}" }}}}   # this buyer's orders only
filename = "ORDRSP_{{{{exchange}}}}.edi"

[channels.buyer_ordrsp.edi]
sender = "{US}"
recipient = "{BUYER}"

[channels.buyer_invrpt]
direction = "out"
endpoint = "buyer_out"
document = "stock"
mapping = "edifact_invrpt_d96a"
filename = "INVRPT_{{{{exchange}}}}.edi"

[channels.buyer_invrpt.edi]
sender = "{US}"
recipient = "{BUYER}"
"""

FOLDERS = ("inbox/erp", "inbox/shop", "outbox/erp", "outbox/shop")
EDI_FOLDERS = ("inbox/buyer", "outbox/buyer")


def local_workspace(root: Path, *, poll_interval: str = "200ms", min_age: str = "0s",
                    batch_size: int = 200, pattern: str = "stock_*.csv", settle: str = "move",
                    extra_in: str = "", catalogue: bool = False, edi: bool = False) -> Path:
    """Write a stock workspace (folders and ``gateway.toml``); the demo, the tests and the
    benchmarks all start from it. ``extra_in`` adds keys to the stock input channel;
    ``catalogue`` adds the categories, catalogue, prices and orders channels, ``edi`` the
    B2B buyer's EANCOM channels."""
    for sub in FOLDERS + (EDI_FOLDERS if edi else ()):
        (root / sub).mkdir(parents=True, exist_ok=True)
    more = (CATALOGUE_CHANNELS + ORDERS_CHANNELS).format() if catalogue else ""
    if edi:
        more += EDI_CHANNELS.format()
    config = root / "gateway.toml"
    config.write_text(CONFIG_TEMPLATE.format(
        poll_interval=poll_interval, min_age=min_age, batch_size=batch_size, pattern=pattern,
        settle=settle, extra_in=extra_in, catalogue=more), encoding="utf-8")
    return config


HEADER = "ARTICLE;DEPOT;QTE_VIRTUELLE;DATE_MAJ\r\n"

GOOD = HEADER + (
    "CHAISE-ÉTÉ-01;MAGASIN;12,000;28/11/2026 09:00\r\n"
    "CHAISE-ÉTÉ-01;ENTREPÔT;30,000;28/11/2026 09:00\r\n"
    "TABLE-CHÊNE-180;MAGASIN;2,000;28/11/2026 09:00\r\n"
    "TABLE-CHÊNE-180;ENTREPÔT;0,000;28/11/2026 09:00\r\n"
    "LAMPE-LAITON;ENTREPÔT;1 250,500;28/11/2026 09:00\r\n"
)
PARTIAL = HEADER + (
    "CHAISE-ÉTÉ-01;MAGASIN;11,000;28/11/2026 09:15\r\n"
    "TABLE-CHÊNE-180;MAGASIN;deux;28/11/2026 09:15\r\n"
    "LAMPE-LAITON;ENTREPÔT;-4,000;28/11/2026 09:15\r\n"
    "TAPIS-LAINE;MAGASIN;7,000;31/11/2026 09:15\r\n"
    "COUSSIN-LIN;ENTREPÔT;40,000;28/11/2026 09:15\r\n"
)
CATEGORIES = (
    "CODE_FAMILLE;CODE_PARENT;LIBELLE_FR;LIBELLE_EN;ORDRE;ACTIF\r\n"
    "FAM01;;Maison;Home;1;O\r\n"
    "FAM02;FAM01;Mobilier;Furniture;1;O\r\n"
    "FAM03;FAM01;Luminaires;Lighting;2;O\r\n"
    "FAM04;FAM02;Chaises;Chairs;1;O\r\n"
    "FAM05;FAM02;Tables;Tables;2;O\r\n"
)
CATALOGUE = (
    "ARTICLE;EAN;DESIGNATION_FR;DESIGNATION_EN;RESUME_FR;DESCRIPTION_FR;DESCRIPTION_EN;"
    "MARQUE;FAMILLES;CODE_TVA;POIDS;UNITE_POIDS;ACTIF;SEUIL_REAPPRO\r\n"
    "CHAISE-ÉTÉ-01;3760123450010;Chaise d'été;Summer chair;Chêne massif;"
    "Chaise en chêne massif, assise tressée.;Solid oak chair, woven seat.;Atelier Dupré;"
    "FAM04;N20;4,500;kg;O;10\r\n"
    "TABLE-CHÊNE-180;96385074;Table en chêne 180 cm;Oak table 180 cm;;"
    "Plateau huilé.;Oiled top.;Atelier Dupré;FAM05;N20;38,000;kg;O;3\r\n"
    "LAMPE-LAITON;036000291452;Lampe en laiton;Brass lamp;;Abat-jour lin.;Linen shade.;"
    "Lumen;FAM03;N20;1,200;kg;O;5\r\n"
    "TAPIS-LAINE;;Tapis en laine;Wool rug;;;;Lumen;FAM09;N20;6,000;kg;O;\r\n"
)
PRICES = (
    "ARTICLE;TARIF;DEVISE;PRIX_HT;PRIX_TTC;DEBUT;FIN;PRIX_PROMO;DEBUT_PROMO;FIN_PROMO;"
    "DATE_MAJ\r\n"
    "CHAISE-ÉTÉ-01;GÉNÉRAL;EUR;74,92;89,90;01/01/2026;;79,90;20/11/2026;30/11/2026;"
    "28/11/2026 08:00\r\n"
    "TABLE-CHÊNE-180;GÉNÉRAL;EUR;749,17;899,00;;;;;;28/11/2026 08:00\r\n"
    "LAMPE-LAITON;GÉNÉRAL;EUR;104,08;124,90;01/12/2026;30/11/2026;;;;28/11/2026 08:00\r\n"
)
CUSTOMERS = (
    "NUM_CLIENT;EMAIL;NUM_TVA;NOM;SOCIETE;TELEPHONE;FACT_ADRESSE1;FACT_ADRESSE2;FACT_CP;"
    "FACT_VILLE;FACT_PAYS;LIVR_NOM;LIVR_ADRESSE1;LIVR_ADRESSE2;LIVR_CP;LIVR_VILLE;LIVR_PAYS\r\n"
    "C00042;anne.martin@example.com;;Anne Martin;;+33 6 12 34 56 78;12 rue des Lilas;;"
    "75011;Paris;FR;Anne Martin;12 rue des Lilas;;75011;Paris;FR\r\n"
)
SHOPIFY_HEADER = (
    "Name,Email,Financial Status,Paid at,Fulfillment Status,Fulfilled at,Accepts Marketing,"
    "Currency,Subtotal,Shipping,Taxes,Total,Discount Code,Discount Amount,Shipping Method,"
    "Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem compare at price,"
    "Lineitem sku,Lineitem requires shipping,Lineitem taxable,Lineitem fulfillment status,"
    "Billing Name,Billing Street,Billing Address1,Billing Address2,Billing Company,"
    "Billing City,Billing Zip,Billing Province,Billing Country,Billing Phone,Shipping Name,"
    "Shipping Street,Shipping Address1,Shipping Address2,Shipping Company,Shipping City,"
    "Shipping Zip,Shipping Province,Shipping Country,Shipping Phone,Notes,Note Attributes,"
    "Cancelled at,Payment Method,Payment Reference,Refunded Amount,Vendor,Id,Tags,"
    "Risk Level,Source,Lineitem discount")


def _shopify(*orders: tuple[dict[str, str], list[tuple[str, str, str, str, str]]]) -> str:
    """A Shopify order export: one row per line item, order fields on the first only."""
    import csv
    import io

    cols = SHOPIFY_HEADER.split(",")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for fields, lines in orders:
        for i, (qty, name, price, sku, discount) in enumerate(lines):
            row = {"Name": fields["Name"], "Email": fields["Email"],
                   "Lineitem quantity": qty, "Lineitem name": name, "Lineitem price": price,
                   "Lineitem sku": sku, "Lineitem discount": discount,
                   **(fields if i == 0 else {})}
            w.writerow([row.get(c, "") for c in cols])
    return buf.getvalue()


def _order(name: str, email: str, status: str, total: str, shipping: str,
           who: str, street: str, zip_code: str, city: str, code: str = "",
           amount: str = "0.00") -> dict[str, str]:
    return {"Name": name, "Email": email, "Financial Status": status,
            "Paid at": "2026-11-28 10:05:00 +0100" if status == "paid" else "",
            "Currency": "EUR", "Shipping": shipping, "Total": total, "Discount Code": code,
            "Discount Amount": amount, "Shipping Method": "Colissimo",
            "Created at": "2026-11-28 10:00:00 +0100", "Billing Name": who,
            "Billing Address1": street, "Billing City": city, "Billing Zip": zip_code,
            "Billing Country": "FR", "Shipping Name": who, "Shipping Address1": street,
            "Shipping City": city, "Shipping Zip": zip_code, "Shipping Country": "FR"}


# Anne (a known customer) now delivers to Lyon: a customer update; Paul is new, his table
# will be blocked by the ERP; Marc has not paid yet. The second export overlaps the first.
ORDERS_1000 = _shopify(
    (_order("#1001", "anne.martin@example.com", "paid", "314.60", "9.90", "Anne Martin",
            "3 impasse du Moulin", "69003", "Lyon"),
     [("2", "Chaise d'été", "89.90", "CHAISE-ÉTÉ-01", "0.00"),
      ("1", "Lampe en laiton", "124.90", "LAMPE-LAITON", "0.00")]),
    (_order("#1002", "paul.durand@example.com", "paid", "849.00", "0.00", "Paul Durand",
            "5 quai Rambaud", "69002", "Lyon", "BIENVENUE", "50.00"),
     [("1", "Table en chêne 180 cm", "899.00", "TABLE-CHÊNE-180", "50.00")]),
)
ORDERS_1015 = _shopify(
    (_order("#1002", "paul.durand@example.com", "paid", "849.00", "0.00", "Paul Durand",
            "5 quai Rambaud", "69002", "Lyon", "BIENVENUE", "50.00"),
     [("1", "Table en chêne 180 cm", "899.00", "TABLE-CHÊNE-180", "50.00")]),
    (_order("#1003", "marc.petit@example.com", "pending", "94.80", "4.90", "Marc Petit",
            "9 rue Neuve", "21000", "Dijon"),
     [("1", "Chaise d'été", "89.90", "CHAISE-ÉTÉ-01", "0.00")]),
)
# The buyer's EANCOM order: two chairs and a lamp, at net prices.
BUYER_ORDERS = (
    "UNA:+.? '\r\n"
    f"UNB+UNOC:3+{BUYER}:14+{US}:14+261128:1020+BUY000117'\r\n"
    "UNH+1+ORDERS:D:96A:UN:EAN008'\r\n"
    "BGM+220+PO-2026-0117+9'\r\n"
    "DTM+137:20261128:102'\r\n"
    f"NAD+BY+{BUYER}::9++Hôtel L?'Escale+2 place du Port+Marseille++13002+FR'\r\n"
    "RFF+VA:FR55123456789'\r\n"
    "CTA+OC+:Léa Garnier'\r\n"
    "COM+achats@hotel-escale.example:EM'\r\n"
    f"NAD+SU+{US}::9'\r\n"
    "CUX+2:EUR:9'\r\n"
    "LIN+1++3760123450010:EN'\r\n"
    "PIA+5+CHAISE-ÉTÉ-01:SA'\r\n"
    "QTY+21:2'\r\n"
    "PRI+AAA:74.92'\r\n"
    "LIN+2++036000291452:EN'\r\n"
    "PIA+5+LAMPE-LAITON:SA'\r\n"
    "QTY+21:1'\r\n"
    "PRI+AAA:104.08'\r\n"
    "UNS+S'\r\n"
    "MOA+79:253.92'\r\n"
    "MOA+86:253.92'\r\n"
    "CNT+2:2'\r\n"
    "UNT+22+1'\r\n"
    "UNZ+1+BUY000117'\r\n"
)
STATUS = (
    "BOUTIQUE;COMMANDE;LIGNE;ARTICLE;STATUT;QTE_CONFIRMEE;QTE_RELIQUAT;DATE_PREVUE;"
    "CODE_MOTIF;MOTIF;DATE_MAJ\r\n"
    f"{BUYER};PO-2026-0117;1;CHAISE-ÉTÉ-01;ACCEPTEE;2;0;;;;28/11/2026 10:30\r\n"
    f"{BUYER};PO-2026-0117;2;LAMPE-LAITON;ACCEPTEE;1;0;;;;28/11/2026 10:30\r\n"
    "shopify;#1001;1;CHAISE-ÉTÉ-01;ACCEPTEE;2;0;;;;28/11/2026 10:30\r\n"
    "shopify;#1001;2;LAMPE-LAITON;ACCEPTEE;1;0;;;;28/11/2026 10:30\r\n"
    "shopify;#1002;1;TABLE-CHÊNE-180;BLOQUEE;0;1;12/12/2026;STOCK;Stock insuffisant;"
    "28/11/2026 10:31\r\n"
)
WRONG_COLUMNS = "ARTICLE;DEPOT;QUANTITE;DATE_MAJ\r\nCHAISE-ÉTÉ-01;MAGASIN;9,000;28/11/2026 09:30\r\n"


@dataclass
class DemoRun:
    workspace: Path
    config: Config
    summary: CycleSummary


def create_workspace(target: Path) -> Path:
    """A demo workspace with the files of the first round: the ERP's master data and
    the shop's two overlapping order exports."""
    if target.exists() and any(target.iterdir()):
        if not (target / MARKER).exists():
            raise UsageError(f"{target} exists and is not a demo workspace",
                             hint="give an empty or new folder: gateway demo DIR")
        shutil.rmtree(target)
    target.mkdir(parents=True, exist_ok=True)
    (target / MARKER).write_text("created by 'gateway demo'; safe to delete\n")
    local_workspace(target, catalogue=True, edi=True)
    (target / "inbox/buyer" / "orders_20261128.edi").write_bytes(BUYER_ORDERS.encode("latin-1"))
    shop = target / "inbox/shop"
    (shop / "orders_20261128_1000.csv").write_text(ORDERS_1000, encoding="utf-8")
    (shop / "orders_20261128_1015.csv").write_text(ORDERS_1015, encoding="utf-8")
    _drop(target, {"customers_20261128.csv": CUSTOMERS, "categories_20261128.csv": CATEGORIES,
                   "catalogue_20261128.csv": CATALOGUE, "prices_20261128.csv": PRICES})
    return target


def _drop(target: Path, files: dict[str, str]) -> None:
    erp = target / "inbox/erp"
    for name, text in files.items():
        (erp / name).write_bytes(text.encode("cp1252"))


# The second round: the ERP's statuses for the orders it received, and its stock exports,
# which still predate those orders (the shop is shown the projection).
SECOND_ROUND = {"status_20261128.csv": STATUS, "stock_20261128_0900.csv": GOOD,
                "stock_20261128_0915.csv": PARTIAL, "stock_20261128_0930.csv": WRONG_COLUMNS,
                "stock_20261128_0900_resent.csv": GOOD}


def run_demo(target: Path) -> DemoRun:
    workspace = create_workspace(target)
    cfg = load(workspace / "gateway.toml")
    with Gateway(cfg) as gw:
        summary = gw.run_once()
        _drop(workspace, SECOND_ROUND)
        summary.add(gw.run_once())
    return DemoRun(workspace, cfg, summary)
