"""``gateway endpoints check`` says, step by step, what works and what does not."""

from __future__ import annotations

from typer.testing import CliRunner

from gateway.cli import app
from tests.conftest import Workspace

runner = CliRunner()


def test_check_passes_on_writable_folders_and_leaves_nothing_behind(ws: Workspace) -> None:
    r = runner.invoke(app, ["--config", str(ws.config_path), "endpoints", "check"])
    assert r.exit_code == 0, r.output
    out = r.stdout.splitlines()
    assert [line for line in out if not line.startswith("  ")] == [
        "erp_in: ok", "erp_out: ok", "shop_out: ok"]
    assert out[1] == f"  ok     connect and list: {ws.inbox}: 0 file(s)"
    assert out[3] == "  ok     read back: same bytes"
    for folder in (ws.inbox, ws.erp_out, ws.shop_out):
        assert list(folder.iterdir()) == []


def test_check_says_what_failed(ws: Workspace) -> None:
    ws.shop_out.rmdir()
    ws.shop_out.write_text("a file where the folder should be")
    r = runner.invoke(app, ["--config", str(ws.config_path), "endpoints", "check",
                            "shop_out"])
    assert r.exit_code == 1
    out = r.stdout.splitlines()
    assert out[0] == "shop_out: FAILED"
    assert out[1].startswith(f"  FAILED connect and list: endpoint shop_out: cannot list "
                             f"{ws.shop_out}: ")
    assert len(out) == 2  # the first failure stops the check
    r = runner.invoke(app, ["--config", str(ws.config_path), "endpoints", "check", "nope"])
    assert (r.exit_code, r.stderr.splitlines()[0]) == (2, "Error: no endpoint named 'nope'")
