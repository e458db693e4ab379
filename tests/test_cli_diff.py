"""``gateway diff``: what a file would change in the shop, and no side effect at all."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from gateway.cli import app
from tests.flows.test_catalogue_flows import ART_HEAD, SECOND, article, csv, delta_run, \
    workspace

runner = CliRunner()


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_diff_lists_new_changed_withdrawn_with_old_and_new_values(tmp_path: Path) -> None:
    ws = delta_run(tmp_path)
    probe = tmp_path / "articles_2.csv"
    probe.write_bytes(SECOND)
    before = snapshot(ws.root)
    r = runner.invoke(app, ["--config", str(ws.config_path), "diff", str(probe),
                            "--channel", "erp_catalogue_in", "--json"])
    assert r.exit_code == 0, r.output
    assert snapshot(ws.root) == before  # ledger, archive, outboxes: untouched
    report = json.loads(r.stdout)
    [products] = [o for o in report["outputs"] if o["channel"] == "shop_products"]
    assert products["counts"] == {"new": 1, "changed": 1, "withdrawn": 1, "unchanged": 1}
    changes = {c["key"][0]: c for c in products["changes"]}
    assert changes["A-2"]["change"] == "changed"
    assert changes["A-2"]["fields"] == [["Name", "Cafetière EN", "Cafetière XL EN"]]
    assert changes["A-3"]["change"] == "withdrawn"
    assert changes["A-4"]["change"] == "new"

    table = runner.invoke(app, ["--config", str(ws.config_path), "diff", str(probe),
                                "--channel", "erp_catalogue_in"])
    assert table.exit_code == 0
    assert "shop_products (delta): 1 new, 1 changed, 1 withdrawn, 1 unchanged" in table.stdout
    assert "Cafetière XL EN" in table.stdout
    assert snapshot(ws.root) == before


def test_diff_of_a_bad_file_shows_located_errors_and_exits_1(tmp_path: Path) -> None:
    ws = workspace(tmp_path / "ws", partial=False)
    probe = tmp_path / "articles.csv"
    probe.write_bytes(csv(ART_HEAD, article("A-1", ean="123")))
    r = runner.invoke(app, ["--config", str(ws.config_path), "diff", str(probe),
                            "--channel", "erp_catalogue_in"])
    assert r.exit_code == 1
    assert (f"{probe}:2: EAN: not an EAN/GTIN: 8, 12, 13 or 14 digits expected (value '123')"
            in r.stdout)
    assert not (ws.root / "state").exists()  # no ledger was created


def test_diff_names_an_unknown_channel(tmp_path: Path) -> None:
    ws = workspace(tmp_path / "ws")
    probe = tmp_path / "x.csv"
    probe.write_bytes(b"x")
    r = runner.invoke(app, ["--config", str(ws.config_path), "diff", str(probe),
                            "--channel", "nope"])
    assert r.exit_code == 2
    assert "no input channel named 'nope'" in r.stderr
