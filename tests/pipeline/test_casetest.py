"""Every shipped mapping has a case, every case passes, and a broken case says how."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from gateway.cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_every_shipped_mapping_passes_its_case() -> None:
    r = runner.invoke(app, ["--config", str(ROOT / "gateway.toml"), "mappings", "test"])
    assert r.exit_code == 0, r.stdout
    shipped = sorted(p.stem for p in (ROOT / "mappings").glob("*.toml")
                     if not (p.stem.startswith("canonical_") and p.stem.endswith("_in")))
    assert [line.split()[1] for line in r.stdout.splitlines() if line.startswith("ok")] \
        == shipped
    assert r.stdout.splitlines()[-1] == f"{len(shipped)} passed, 0 failed, 0 without a case"


def test_a_broken_expectation_fails_with_a_readable_diff(tmp_path: Path) -> None:
    cases = tmp_path / "cases"
    shutil.copytree(ROOT / "tests/mappings/erp_stock_csv", cases / "erp_stock_csv")
    expected = cases / "erp_stock_csv/expected.xml"
    text = expected.read_text(encoding="utf-8")
    first_qty = text.split("<quantity>", 1)[1].split("<", 1)[0]
    expected.write_text(text.replace(f"<quantity>{first_qty}<", "<quantity>999<", 1),
                        encoding="utf-8")
    r = runner.invoke(app, ["--config", str(ROOT / "gateway.toml"), "mappings", "test",
                            "erp_stock_csv", "--cases", str(cases)])
    assert r.exit_code == 1
    out = r.stdout.splitlines()
    assert out[0] == "FAIL erp_stock_csv"
    assert any(line.strip().startswith("-") and "<quantity>999<" in line for line in out)
    assert any(line.strip().startswith("+") and f"<quantity>{first_qty}<" in line
               for line in out)
    assert out[-1] == "0 passed, 1 failed, 0 without a case"


def test_a_case_whose_input_has_errors_fails_with_the_located_errors(tmp_path: Path) -> None:
    cases = tmp_path / "cases"
    shutil.copytree(ROOT / "tests/mappings/erp_stock_csv", cases / "erp_stock_csv")
    src = next((cases / "erp_stock_csv").glob("input.*"))
    lines = src.read_bytes().split(b"\r\n")
    lines[1] = lines[1].replace(b";", b";x", 2)
    src.write_bytes(b"\r\n".join(lines))
    r = runner.invoke(app, ["--config", str(ROOT / "gateway.toml"), "mappings", "test",
                            "--cases", str(cases), "--json"])
    assert r.exit_code == 1
    assert '"ok": false' in r.stdout
    assert f"{src.name}:2: " in r.stdout
