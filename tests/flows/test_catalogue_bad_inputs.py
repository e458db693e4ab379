"""Bad catalogue inputs: each gets a located error, the right ack, and nothing is lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Workspace
from tests.flows.test_catalogue_flows import ART_HEAD, CATS, HEAD, ack, article, csv, \
    errors, make, shop_file, shop_files

CONFIG = HEAD + """
[channels.erp_categories_in]
direction = "in"
endpoint = "erp_in"
pattern = "familles*.csv"
document = "categories"
mapping = "erp_categories_csv"
ack_endpoint = "erp_out"

[channels.erp_catalogue_in]
direction = "in"
endpoint = "erp_in"
pattern = "articles*.csv"
document = "catalogue"
mapping = "erp_catalogue_csv"
ack_endpoint = "erp_out"
accept_partial = {partial}

[channels.erp_catalogue_xml_in]
direction = "in"
endpoint = "erp_in"
pattern = "catalogue*.xml"
document = "catalogue"
mapping = "canonical_catalogue_in"
ack_endpoint = "erp_out"
accept_partial = {partial}

[channels.shop_products_csv]
direction = "out"
endpoint = "shop_out"
document = "catalogue"
mapping = "prestashop_products_csv"
filename = "products_{{exchange}}.csv"
"""


def workspace(root: Path, partial: bool = True) -> Workspace:
    ws = make(root, CONFIG.format(partial=str(partial).lower()))
    ws.drop("familles_1.csv", csv(*CATS))
    ws.run_once()
    return ws


def product(sku: str, *, weight: str = "0.850", extra: str = "") -> str:
    return (f"<product><sku>{sku}</sku><name lang=\"fr\">Cafetière</name>"
            f"<category>FAM06</category><tax_class>N20</tax_class>"
            f"<weight>{weight}</weight>{extra}<active>true</active></product>")


def xml(*products: str) -> bytes:
    return ("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<catalogue>\n"
            + "".join(p + "\n" for p in products) + "</catalogue>\n").encode()


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return workspace(tmp_path / "ws")


def test_wrong_column_count_is_located(ws: Workspace) -> None:
    ws.drop("articles_1.csv", csv(ART_HEAD, article("A-1"), article("A-2") + ";extra"))
    ws.run_once()
    root = ack(ws, "articles_1")
    assert root.findtext("result") == "partial"
    assert errors(root) == [("3", None, "expected 14 fields, found 15")]
    assert [r.split(";")[5] for r in shop_file(ws, "products_")[1:]] == ["A-1"]


def test_xml_catalogue_not_valid_names_the_elements_line(ws: Workspace) -> None:
    ws.drop("catalogue_1.xml", xml(product("A-1"), product("A-2", weight="-1"),
                                   product("A-3", weight="heavy"), product("A-4"),
                                   product("A-5", extra="<colour>red</colour>")))
    ws.run_once()
    root = ack(ws, "catalogue_1")
    assert root.findtext("result") == "partial"
    found = errors(root)
    assert [(line, field) for line, field, _ in found] == [
        ("4", "weight"), ("5", "weight"), ("7", "colour")]
    assert "less than the minimum value allowed" in found[0][2]
    assert found[1][2] == "not a number"
    assert found[2][2].startswith("This element is not expected.")
    assert [r.split(";")[5] for r in shop_file(ws, "products_")[1:]] == ["A-1", "A-4"]


def test_xml_catalogue_not_well_formed_is_rejected_with_its_line(ws: Workspace) -> None:
    data = xml(product("A-1"), product("A-2")).replace(b"</sku><name", b"</sku<name", 1)
    ws.drop("catalogue_1.xml", data)
    ws.run_once()
    root = ack(ws, "catalogue_1")
    assert root.findtext("result") == "rejected"
    [(line, _field, message)] = errors(root)
    assert line == "3" and message
    assert shop_files(ws, "products_") == []
    assert (ws.root / "archive").is_dir()  # the file is kept for the operator
    with_rejected = ws.ledger()
    try:
        [x] = [x for x in with_rejected.list_exchanges() if x.file_name == "catalogue_1.xml"]
        assert str(x.state) == "REJECTED"
    finally:
        with_rejected.close()


def test_all_or_nothing_channel_rejects_a_file_with_one_bad_product(tmp_path: Path) -> None:
    ws = workspace(tmp_path / "ws", partial=False)
    ws.drop("articles_1.csv", csv(ART_HEAD, article("A-1"), article("A-2", "FAM99")))
    ws.run_once()
    assert ack(ws, "articles_1").findtext("result") == "rejected"
    assert shop_files(ws, "products_") == []


def test_a_value_one_output_refuses_leaves_the_record_out_of_that_output_only(
        ws: Workspace) -> None:
    # FAM05 is in the tree but not in the shop's family → category lookup table
    cats = (*CATS, "FAM09;FAM01;Nouveau;New;9;O")
    ws.drop("familles_2.csv", csv(*cats))
    ws.run_once()
    ws.drop("articles_1.csv", csv(ART_HEAD, article("A-1"), article("A-2", "FAM09")))
    ws.run_once()
    root = ack(ws, "articles_1")
    assert root.findtext("result") == "partial"
    [(line, field, message)] = errors(root)
    assert (line, field) == ("3", "Categories (x,y,z...)")
    assert message.endswith("(left out of shop_products_csv)")
    assert [r.split(";")[5] for r in shop_file(ws, "products_")[1:]] == ["A-1"]
