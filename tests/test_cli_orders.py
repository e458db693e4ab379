"""``gateway orders changes`` and ``gateway stock SKU`` read what the flows recorded."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from gateway.cli import app
from gateway.pipeline.context import ledger_path
from gateway.store.ledger import Ledger
from tests.conftest import make_workspace
from tests.flows.test_orders import T0, Run, order, status, stock

runner = CliRunner()


def workspace_ledger(tmp_path: Path) -> tuple[Path, Ledger]:
    ws = make_workspace(tmp_path / "ws")
    cfg = ws.config_path.read_text().replace("[channels.shop_stock_csv]",
                                             "[channels.shop_stock_csv]\nsafety_buffer = 1")
    ws.config_path.write_text(cfg)
    return ws.config_path, Ledger(ledger_path(ws.config()))


def test_stock_explains_the_projection(tmp_path: Path) -> None:
    config, ledger = workspace_ledger(tmp_path)
    try:
        stock(ledger, "SKU-1", "10", T0)
        Run(ledger, "orders", [order("#1", ("SKU-1", "3", "10.00", "")),
                               order("#2", ("SKU-1", "2", "10.00", ""))])
        Run(ledger, "order_status", [status("#2", 1, "accepted", T0 - timedelta(minutes=1))])
    finally:
        ledger.close()
    r = runner.invoke(app, ["--config", str(config), "stock", "SKU-1"])
    assert r.exit_code == 0, r.output
    out = r.stdout.splitlines()
    assert out[0] == "SKU-1: ERP quantity 10.000000 (as of 2026-11-28T09:00:00+00:00)"
    assert out[1].startswith("  warehouse MAIN: 10.000000 as of 2026-11-28T09:00:00+00:00")
    assert out[2].startswith("  - 3 order #1 line 1 (shop webshop), forwarded ")
    assert out[2].endswith("not yet confirmed by the ERP")
    assert out[3].startswith("  (order #2 line 1: confirmed 2026-11-28T08:59:00")
    assert out[4:] == ["  = 7.000000 available",
                       "  shop_stock_csv: − buffer 1 → shop shown 6.000000",
                       "  shop_stock_xml: − buffer 0 → shop shown 7.000000"]
    j = json.loads(runner.invoke(app, ["--config", str(config), "stock", "SKU-1",
                                       "--json"]).stdout)
    assert j["available"] == "7.000000"
    assert [ln["number"] for ln in j["in_flight"]] == ["#1"]
    assert j["channels"]["shop_stock_csv"] == {"safety_buffer": "1", "shown": "6.000000"}


def test_orders_changes_lists_what_changed(tmp_path: Path) -> None:
    config, ledger = workspace_ledger(tmp_path)
    try:
        Run(ledger, "orders", [order("#1", ("SKU-1", "1", "10.00", ""))])
        Run(ledger, "orders", [order("#1", ("SKU-1", "1", "12.00", ""))])
    finally:
        ledger.close()
    r = runner.invoke(app, ["--config", str(config), "orders", "changes", "--json"])
    assert r.exit_code == 0, r.output
    [change] = json.loads(r.stdout)
    assert (change["number"], change["file_name"]) == ("#1", "orders.csv")
    assert change["summary"] == ("lines[1].unit_price: 10.00 → 12.00; "
                                 "total: 15.00 → 17.00")
    table = runner.invoke(app, ["--config", str(config), "orders", "changes"])
    assert "lines[1].unit_price: 10.00 → 12.00" in table.stdout
