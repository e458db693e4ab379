"""Stock published as a delta: only SKUs whose shop quantity changed are sent again."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import make_workspace, stock_csv


def test_only_changed_stock_lines_are_sent(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    cfg = ws.config_path.read_text().replace(
        '[channels.shop_stock_csv]', '[channels.shop_stock_csv]\npublish = "delta"')
    ws.config_path.write_text(cfg)
    ws.drop("stock_1.csv", stock_csv("A-1;MAIN;5,000;28/11/2026 09:00",
                                     "B-2;MAIN;7,000;28/11/2026 09:00"))
    ws.run_once()
    ws.drop("stock_2.csv", stock_csv("A-1;MAIN;5,000;28/11/2026 09:15",
                                     "B-2;MAIN;6,000;28/11/2026 09:15"))
    ws.run_once()
    ws.drop("stock_3.csv", stock_csv("A-1;MAIN;5,000;28/11/2026 09:30"))
    ws.run_once()
    csvs = sorted(p for p in ws.shop_out.iterdir() if p.suffix == ".csv")
    assert [p.read_text(encoding="utf-8").splitlines() for p in csvs] == [
        ["Reference #;Quantity", "A-1;5", "B-2;7"],
        ["Reference #;Quantity", "B-2;6"]]  # the third changed nothing: no file
    acks = sorted(p.name for p in ws.erp_out.iterdir())
    note = (ws.erp_out / acks[-1]).read_text(encoding="utf-8")
    assert "shop_stock_csv (delta): 0 new, 0 changed, 0 withdrawn, 1 unchanged" in note
