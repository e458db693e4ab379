"""Categories, catalogue and prices end to end: ERP CSV in, shop files and acks out."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from tests.conftest import Workspace

HEAD = """\
[gateway]
workspace = "."
poll_interval = "50ms"
min_age = "0s"

[endpoints.erp_in]
path = "inbox/erp"
[endpoints.erp_out]
path = "outbox/erp"
[endpoints.shop_out]
path = "outbox/shop"
"""

CONFIG = HEAD + """
[channels.erp_categories_in]
direction = "in"
endpoint = "erp_in"
pattern = "familles*.csv"
document = "categories"
mapping = "erp_categories_csv"
ack_endpoint = "erp_out"
export = "full"
accept_partial = {partial}

[channels.erp_catalogue_in]
direction = "in"
endpoint = "erp_in"
pattern = "articles*.csv"
document = "catalogue"
mapping = "erp_catalogue_csv"
ack_endpoint = "erp_out"
export = "full"
accept_partial = {partial}

[channels.erp_prices_in]
direction = "in"
endpoint = "erp_in"
pattern = "tarifs*.csv"
document = "prices"
mapping = "erp_prices_csv"
ack_endpoint = "erp_out"
accept_partial = {partial}

[channels.shop_categories]
direction = "out"
endpoint = "shop_out"
document = "categories"
mapping = "prestashop_categories_csv"
filename = "categories_{{exchange}}.csv"

[channels.shop_products]
direction = "out"
endpoint = "shop_out"
document = "catalogue"
mapping = "woocommerce_products_csv"
filename = "products_{{exchange}}.csv"
publish = "{publish}"

[channels.shop_prices]
direction = "out"
endpoint = "shop_out"
document = "prices"
mapping = "magento_prices_csv"
filename = "prices_{{exchange}}.csv"
publish = "{publish}"
"""

CATS = ("CODE_FAMILLE;CODE_PARENT;LIBELLE_FR;LIBELLE_EN;ORDRE;ACTIF",
        "FAM01;;Cuisine;Kitchen;1;O",
        "FAM02;FAM01;Arts de la table;Tableware;1;O",
        "FAM03;FAM01;Électroménager;Appliances;2;O",
        "FAM06;FAM03;Cafetières;Coffee makers;1;O")
ART_HEAD = ("ARTICLE;EAN;DESIGNATION_FR;DESIGNATION_EN;RESUME_FR;DESCRIPTION_FR;"
            "DESCRIPTION_EN;MARQUE;FAMILLES;CODE_TVA;POIDS;UNITE_POIDS;ACTIF;SEUIL_REAPPRO")
PRICE_HEAD = ("ARTICLE;TARIF;DEVISE;PRIX_HT;PRIX_TTC;DEBUT;FIN;PRIX_PROMO;DEBUT_PROMO;"
              "FIN_PROMO;DATE_MAJ")


def article(sku: str, families: str = "FAM06", name: str = "Cafetière", ean: str = "",
            active: str = "O") -> str:
    return f"{sku};{ean};{name};{name} EN;;;;Dupré;{families};N20;0,850;kg;{active};5"


def price(sku: str, gross: str = "49,90", start: str = "", end: str = "",
          at: str = "28/11/2026 09:15") -> str:
    return f"{sku};GENERAL;EUR;;{gross};{start};{end};;;;{at}"


def csv(*lines: str) -> bytes:
    return "".join(line + "\r\n" for line in lines).encode("cp1252")


def make(root: Path, config: str) -> Workspace:
    """A workspace on the ERP's and the shop's local folders with this configuration."""
    for sub in ("inbox/erp", "outbox/erp", "outbox/shop"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    cfg = root / "gateway.toml"
    cfg.write_text(config, encoding="utf-8")
    return Workspace(root, cfg)


def workspace(root: Path, *, publish: str = "full", partial: bool = True) -> Workspace:
    return make(root, CONFIG.format(publish=publish, partial=str(partial).lower()))


def ack(ws: Workspace, stem: str) -> etree._Element:
    [path] = [p for p in ws.erp_out.iterdir() if p.name.startswith(f"ACK_{stem}_")]
    return etree.parse(str(path)).getroot()


def errors(root: etree._Element) -> list[tuple[str | None, str | None, str]]:
    return [(e.get("line"), e.get("field"), e.findtext("message") or "")
            for e in root.iter("error")]


def shop_files(ws: Workspace, prefix: str) -> list[Path]:
    return sorted(p for p in ws.shop_out.iterdir() if p.name.startswith(prefix))


def shop_file(ws: Workspace, prefix: str) -> list[str]:
    """The newest shop file of that kind (names carry the source exchange id)."""
    return shop_files(ws, prefix)[-1].read_text(encoding="utf-8").splitlines()


@pytest.fixture
def cws(tmp_path: Path) -> Workspace:
    return workspace(tmp_path / "ws")


def test_products_get_category_paths_from_the_tree_the_erp_sent(cws: Workspace) -> None:
    cws.drop("familles_1.csv", csv(*CATS))
    cws.drop("articles_1.csv", csv(ART_HEAD, article("CAF-001", "FAM06,FAM02")))
    cws.run_once()
    assert ack(cws, "familles_1").findtext("result") == "accepted"
    assert ack(cws, "articles_1").findtext("result") == "accepted"
    rows = shop_file(cws, "products_")
    assert rows[1].endswith(',"Kitchen > Appliances > Coffee makers, Kitchen > Tableware"')
    cats = shop_file(cws, "categories_")
    # parents first, as a shop import needs them
    assert [r.split(";")[2] for r in cats[1:]] == [
        "Cuisine", "Arts de la table", "Électroménager", "Cafetières"]


def test_product_in_an_unknown_category_is_refused_alone(cws: Workspace) -> None:
    cws.drop("familles_1.csv", csv(*CATS))
    cws.drop("articles_1.csv", csv(ART_HEAD, article("CAF-001"), article("CAF-009", "FAM99"),
                                   article("CAF-002")))
    cws.run_once()
    root = ack(cws, "articles_1")
    assert root.findtext("result") == "partial"
    assert errors(root) == [("3", "category", "unknown category 'FAM99': not in the "
                             "category tree the gateway holds")]
    assert [r.split(",")[2] for r in shop_file(cws, "products_")[1:]] == ["CAF-001",
                                                                           "CAF-002"]


@pytest.mark.parametrize("rows, expected", [
    ((*CATS, "FAM02;FAM01;Doublon;Dup;3;O"),
     [("6", "id", "duplicate category id 'FAM02' (first on line 3)")]),
    ((*CATS, "FAM07;FAM42;Orphelin;Orphan;1;O", "FAM08;FAM07;Petit;Child;1;O"),
     [("6", "parent_id", "unknown parent category 'FAM42'"),
      ("7", "parent_id", "parent category 'FAM07' was refused")]),
    ((*CATS, "FAM10;FAM11;A;A;1;O", "FAM11;FAM10;B;B;1;O"),
     [("6", "parent_id", "category cycle: FAM10 → FAM11 → FAM10"),
      ("7", "parent_id", "category cycle: FAM11 → FAM10 → FAM11")]),
])
def test_category_tree_rules_are_located(cws: Workspace, rows: tuple[str, ...],
                                         expected: list[tuple[str, str, str]]) -> None:
    cws.drop("familles_1.csv", csv(*rows))
    cws.run_once()
    root = ack(cws, "familles_1")
    assert root.findtext("result") == "partial"
    assert errors(root) == expected
    assert len(shop_file(cws, "categories_")) == 1 + 4  # the good tree still goes


def test_all_or_nothing_rejects_the_whole_tree(tmp_path: Path) -> None:
    ws = workspace(tmp_path / "ws", partial=False)
    ws.drop("familles_1.csv", csv(*CATS, "FAM07;FAM42;Orphelin;Orphan;1;O"))
    ws.run_once()
    assert ack(ws, "familles_1").findtext("result") == "rejected"
    assert ws.files(ws.shop_out) == []
    ledger = ws.ledger()
    try:
        assert ledger.categories() == {}
    finally:
        ledger.close()


@pytest.mark.parametrize("line, field, message", [
    (price("CAF-001", start="01/12/2026", end="30/11/2026"), "valid_to",
     "valid_to 2026-11-30 is before valid_from 2026-12-01"),
    (price("CAF-001", gross="-4,00"), "PRIX_TTC",
     "The value '-4.00' is less than the minimum value allowed ('0')."),
    (price("CAF-001", gross="abc"), "PRIX_TTC", "not a number"),
    (price("CAF-001", gross=""), "net", "a price needs a net or a gross amount"),
])
def test_bad_prices_are_located(cws: Workspace, line: str, field: str, message: str) -> None:
    cws.drop("tarifs_1.csv", csv(PRICE_HEAD, price("CAF-002"), line))
    cws.run_once()
    root = ack(cws, "tarifs_1")
    assert root.findtext("result") == "partial"
    assert errors(root) == [("3", field, message)]
    assert [r.split(",")[0] for r in shop_file(cws, "prices_")[1:]] == ["CAF-002"]


def test_an_older_price_never_overwrites_a_newer_one(cws: Workspace) -> None:
    cws.drop("tarifs_1.csv", csv(PRICE_HEAD, price("CAF-001", "49,90", at="28/11/2026 10:00")))
    cws.run_once()
    cws.drop("tarifs_2.csv", csv(PRICE_HEAD, price("CAF-001", "45,00", at="28/11/2026 09:00"),
                                 price("CAF-002", "8,00", at="28/11/2026 09:00")))
    cws.run_once()
    root = ack(cws, "tarifs_2")
    assert root.findtext("result") == "accepted"
    assert "1 price(s) older than the price already applied" in (root.findtext("note") or "")
    files = sorted(p.name for p in cws.shop_out.iterdir())
    second = (cws.shop_out / files[-1]).read_text(encoding="utf-8").splitlines()
    assert [r.split(",")[:2] for r in second[1:]] == [["CAF-002", "8.00"]]


def test_bad_ean_is_located(cws: Workspace) -> None:
    cws.drop("familles_1.csv", csv(*CATS))
    cws.drop("articles_1.csv", csv(ART_HEAD, article("CAF-001", ean="3760123450013"),
                                   article("CAF-002", ean="3760123450010")))
    cws.run_once()
    assert errors(ack(cws, "articles_1")) == [
        ("2", "EAN", "EAN/GTIN check digit is wrong: expected 0, found 3")]


def delta_run(tmp_path: Path) -> Workspace:
    ws = workspace(tmp_path / "ws", publish="delta")
    ws.drop("familles_1.csv", csv(*CATS))
    ws.drop("articles_1.csv", csv(ART_HEAD, article("A-1"), article("A-2"), article("A-3")))
    ws.run_once()
    return ws


SECOND = csv(ART_HEAD, article("A-1"), article("A-2", name="Cafetière XL"), article("A-4"))


def test_delta_sends_only_new_changed_and_withdrawn(tmp_path: Path) -> None:
    ws = delta_run(tmp_path)
    assert [r.split(",")[2] for r in shop_file(ws, "products_")[1:]] == ["A-1", "A-2", "A-3"]
    ws.drop("articles_2.csv", SECOND)
    ws.run_once()
    rows = [r.split(",") for r in shop_file(ws, "products_")[1:]]
    # changed and new in file order, then the withdrawn one, published as a draft
    assert [(r[2], r[4], r[5]) for r in rows] == [
        ("A-2", "Cafetière XL EN", "1"), ("A-4", "Cafetière EN", "1"), ("A-3", "", "-1")]
    assert ack(ws, "articles_2").findtext("note") == (
        "shop_products (delta): 1 new, 1 changed, 1 withdrawn, 1 unchanged")
    ws.drop("articles_3.csv", SECOND.replace(b"\r\n", b"\n"))  # same records, other bytes
    ws.run_once()
    assert ack(ws, "articles_3").findtext("note") == (
        "shop_products (delta): 0 new, 0 changed, 0 withdrawn, 3 unchanged")
    assert len(shop_files(ws, "products_")) == 2  # nothing new: no file for the shop


def test_rejected_file_publishes_nothing_and_forgets_nothing(tmp_path: Path) -> None:
    ws = delta_run(tmp_path)
    cfg = ws.config_path.read_text().replace('accept_partial = true', 'accept_partial = false')
    ws.config_path.write_text(cfg)
    ws.drop("articles_2.csv", csv(ART_HEAD, article("A-1", name="Neuf"), article("A-9", "X")))
    ws.run_once()
    assert ack(ws, "articles_2").findtext("result") == "rejected"
    ws.drop("articles_3.csv", csv(ART_HEAD, article("A-1", name="Neuf"), article("A-2"),
                                  article("A-3")))
    ws.run_once()
    assert len(shop_files(ws, "products_")) == 2
    assert [r.split(",")[2] for r in shop_file(ws, "products_")[1:]] == ["A-1"]
