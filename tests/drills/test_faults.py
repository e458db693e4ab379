"""Disk and permission faults: an outbox that cannot be written, an archive disk that is
full, a ledger locked by another process. Each is a transient error: retried, shown by
``gateway status``, and once it clears every file goes through exactly once."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.config import load
from gateway.demo import local_workspace
from gateway.model import ExchangeState
from gateway.pipeline.context import ledger_path
from gateway.pipeline.intake import intake
from gateway.pipeline.runner import Gateway
from gateway.store import archive as archive_mod
from tests.conftest import Workspace, make_workspace, stock_csv

GOOD = stock_csv("A-1;MAIN;12,000;28/11/2026 09:00", "B-2;MAIN;3,000;28/11/2026 09:00")
LATER = stock_csv("A-1;MAIN;7,000;28/11/2026 10:00")


def status(ws: Workspace) -> dict:
    r = CliRunner().invoke(app, ["--config", str(ws.config_path), "status", "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def shop_lines(ws: Workspace) -> list[str]:
    """Every stock line the shop received, over every delivered CSV."""
    return [line for p in sorted(ws.shop_out.glob("*.csv"))
            for line in p.read_text(encoding="utf-8").splitlines()[1:]]


def final_states(ws: Workspace) -> dict[str, ExchangeState]:
    return {x.file_name: x.state for x in ws.ledger().list_exchanges()
            if x.file_name.endswith(".csv") and x.channel == "erp_stock_in"}


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return make_workspace(tmp_path / "ws")


def test_outbox_not_writable_is_retried_then_delivered_once(ws: Workspace) -> None:
    ws.shop_out.rmdir()
    ws.shop_out.write_bytes(b"")  # a file where the shop's folder should be
    ws.drop("good.csv", GOOD)
    s = ws.run_once()
    assert "shop_out" in s.failures
    assert final_states(ws) == {"good.csv": ExchangeState.PROCESSED}
    data = status(ws)["shop_stock_csv"]
    assert (data["endpoint_up"], data["undelivered"]) == (False, 1)
    assert "cannot write" in data["last_error"]
    assert (ws.erp_out / "ACK_good_000001.xml").exists()  # the other endpoint still served

    ws.shop_out.unlink()
    ws.shop_out.mkdir()
    for _ in range(2):  # the retry, then a run with nothing left to do
        ws.run_once()
    assert sorted(p.name for p in ws.shop_out.iterdir()) == [
        "stock_000001.csv", "stock_000001.xml"]
    assert shop_lines(ws) == ["A-1;12", "B-2;3"]
    assert status(ws)["shop_stock_csv"]["endpoint_up"] is True


class _FullDisk:
    """A file on a disk with no space left: every write fails with ENOSPC."""

    def __init__(self, fh: Any) -> None:
        self._fh = fh

    def write(self, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)


def _disk_full(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """The archive's files fail every write while the switch is on."""
    full = [True]

    def opener(*args: Any, **kwargs: Any) -> Any:
        fh = open(*args, **kwargs)  # noqa: SIM115 - the archive closes it
        return _FullDisk(fh) if full[0] else fh

    monkeypatch.setattr(archive_mod, "open", opener, raising=False)
    return full


def test_archive_disk_full_at_pickup_leaves_the_file_in_the_inbox(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    full = _disk_full(monkeypatch)
    ws.drop("good.csv", GOOD)
    s = ws.run_once()
    assert "No space left on device" in s.failures["erp_in"]
    assert (ws.inbox / "good.csv").read_bytes() == GOOD  # not taken, not lost
    assert final_states(ws) == {}
    assert not list((ws.root / "archive" / "tmp").iterdir())  # no partial blob left
    assert "No space left" in status(ws)["erp_stock_in"]["last_error"]

    full[0] = False
    ws.run_once()
    assert final_states(ws) == {"good.csv": ExchangeState.PROCESSED}
    assert not (ws.inbox / "good.csv").exists()
    assert shop_lines(ws) == ["A-1;12", "B-2;3"]


def test_archive_disk_full_while_processing_is_retried_not_counted_as_a_bug(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    ws.drop("good.csv", GOOD)
    ws.run_once()
    ws.drop("later.csv", LATER)
    with Gateway(ws.config()) as gw:
        lane = gw.lanes["erp_in"]
        (ch,) = lane.channels
        deadline = time.monotonic() + 5  # taken and archived, not processed yet
        while not intake(gw.ctx, ch, lane.readiness[ch.name]) and time.monotonic() < deadline:
            time.sleep(0.05)
        full = _disk_full(monkeypatch)  # now the outputs cannot be written
        for _ in range(5):  # more than the attempts a real bug is given
            s = gw.cycle()
            assert "No space left on device" in s.failures["transform"]
        x = next(x for x in gw.ctx.ledger.list_exchanges() if x.file_name == "later.csv")
        assert (x.state, x.attempts) == (ExchangeState.RECEIVED, 0)
        data = status(ws)["erp_stock_in"]
        assert "No space left on device" in data["processing_error"]
        assert data["processing_since"]
        full[0] = False
        gw.cycle()
        gw.cycle()
    assert final_states(ws) == {"good.csv": ExchangeState.PROCESSED,
                                "later.csv": ExchangeState.PROCESSED}
    assert status(ws)["erp_stock_in"]["processing_error"] is None
    assert shop_lines(ws) == ["A-1;12", "B-2;3", "A-1;7"]
    assert len(list(ws.shop_out.glob("*.csv"))) == 2


HOLD = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
"""


def test_ledger_locked_by_another_process_is_retried(ws: Workspace) -> None:
    ws.run_once()  # the ledger exists, migrated
    ws.drop("good.csv", GOOD)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(ledger_path(ws.config())),
                               "10"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with Gateway(ws.config()) as gw:
            s = gw.cycle()  # each ledger write waits for the lock, then gives up
            assert holder.poll() is None  # the lock was held all along
            data = status(ws)["erp_stock_in"]  # a reader is not blocked (WAL)
            assert "locked" in data["processing_error"], data
            assert (ws.inbox / "good.csv").exists()  # not taken: nothing recorded
            assert data["backlog"] == 1
    finally:
        holder.wait(timeout=30)
    ws.run_once()
    ws.run_once()
    assert final_states(ws) == {"good.csv": ExchangeState.PROCESSED}
    assert shop_lines(ws) == ["A-1;12", "B-2;3"]
    assert status(ws)["erp_stock_in"]["processing_error"] is None  # cleared once it worked


def test_an_endpoint_down_counts_one_failure_per_pass_not_one_per_channel(
        tmp_path: Path) -> None:
    """Six channels read the ERP's folder: its being down must not back off 2**6 times."""
    cfg = load(local_workspace(tmp_path / "ws", catalogue=True))
    inbox = tmp_path / "ws" / "inbox/erp"
    with Gateway(cfg) as gw:
        inbox.rmdir()
        inbox.write_bytes(b"")  # the folder is gone: every listing fails
        lane = gw.lanes["erp_in"]
        assert len(lane.channels) == 6
        s = gw.cycle()
        assert "erp_in" in s.failures
        assert lane.backoff._fails == {"erp_in": 1}
