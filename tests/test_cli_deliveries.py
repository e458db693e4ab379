"""``gateway deliveries``: see, retry and resend what the gateway produced."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from gateway.cli import app
from gateway.model import Direction, ExchangeState
from tests.conftest import Workspace, stock_csv

runner = CliRunner()


def gw(ws: Workspace, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["--config", str(ws.config_path), *args])


def test_list_retry_and_resend(ws: Workspace) -> None:
    ws.drop("s1.csv", stock_csv("A-1;MAIN;1,000;28/11/2026 09:15"))
    blocker = ws.shop_out / ".stock_000001.csv.part"
    blocker.mkdir()  # the temp name is taken: the shop endpoint refuses the output
    ws.run_once()
    r = gw(ws, "deliveries", "list", "--waiting", "--json")
    assert r.exit_code == 0
    waiting = json.loads(r.stdout)
    assert [(d["id"], d["file_name"], d["state"], d["attempts"]) for d in waiting] == [
        (2, "stock_000001.csv", "PENDING", 1), (3, "stock_000001.xml", "PENDING", 0)]
    assert waiting[0]["last_error"].startswith("endpoint shop_out: cannot write")
    blocker.rmdir()
    r = gw(ws, "deliveries", "retry", "2")
    assert (r.exit_code, r.stdout) == (0, "output 2 (stock_000001.csv): DELIVERED\n")
    assert ws.files(ws.shop_out) == ["stock_000001.csv", "stock_000001.xml"]
    r = gw(ws, "deliveries", "retry", "2")
    assert r.exit_code == 2
    assert "output 2 is DELIVERED; only waiting outputs are retried" in r.stderr
    # the shop lost its files: send every output of input 1 again
    for name in ws.files(ws.shop_out):
        (ws.shop_out / name).unlink()
    r = gw(ws, "deliveries", "resend", "1")
    assert r.exit_code == 0
    assert r.stdout.splitlines() == [
        "output 5 (stock_000001.csv, resend of 2): DELIVERED",
        "output 6 (stock_000001.xml, resend of 3): DELIVERED",
        "output 7 (ACK_s1_000001.xml, resend of 4): DELIVERED"]
    assert ws.files(ws.shop_out) == ["stock_000001.csv", "stock_000001.xml"]
    ledger = ws.ledger()
    outputs = ledger.list_exchanges(direction=Direction.OUT)
    assert [(o.id, o.parent_id, o.state) for o in outputs] == [
        (2, None, ExchangeState.DELIVERED), (3, None, ExchangeState.DELIVERED),
        (4, None, ExchangeState.DELIVERED), (5, 2, ExchangeState.DELIVERED),
        (6, 3, ExchangeState.DELIVERED), (7, 4, ExchangeState.DELIVERED)]
    r = gw(ws, "deliveries", "resend", "99")
    assert (r.exit_code, r.stderr.splitlines()[0]) == (2, "Error: no exchange with id 99")
