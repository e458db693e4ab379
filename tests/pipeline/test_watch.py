"""``gateway run`` as an operator runs it: a long-lived process woken by inotify,
stopped by SIGTERM or SIGINT without losing the work in hand."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway.model import Direction, ExchangeState
from tests.conftest import Workspace, make_workspace, stock_csv

ROOT = Path(__file__).resolve().parents[2]


def start(ws: Workspace) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    return subprocess.Popen([sys.executable, "-m", "gateway", "--config", str(ws.config_path),
                             "run"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for(predicate, timeout: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_run_picks_up_files_as_they_land_and_stops_cleanly(tmp_path: Path, sig: int) -> None:
    # a long poll interval: only the inotify wake-up can make the gateway this quick
    ws = make_workspace(tmp_path / "ws")
    ws.config_path.write_text(ws.config_path.read_text().replace(
        'poll_interval = "50ms"', 'poll_interval = "30s"'))
    proc = start(ws)
    try:
        time.sleep(1.0)  # let it start and watch
        for i in range(3):
            ws.drop(f"stock{i}.csv", stock_csv(f"A-{i};MAIN;{i},000;28/11/2026 09:1{i}"))
            if not wait_for(lambda i=i: len(list(ws.shop_out.glob("*.csv"))) == i + 1,
                            timeout=5.0):
                proc.kill()
                pytest.fail(f"file {i} not processed: {proc.communicate()}")
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopping after the current step" in err
    ledger = ws.ledger()
    states = [x.state for x in ledger.list_exchanges(direction=Direction.IN)]
    assert states == [ExchangeState.PROCESSED] * 3
    assert {x.state for x in ledger.list_exchanges(direction=Direction.OUT)} == {
        ExchangeState.DELIVERED}
    # each endpoint reports on its own (`gateway run` works on them concurrently)
    assert [line for line in out.splitlines() if line.startswith("exchange ")] == [
        f"exchange {x}: accepted (1 accepted, 0 rejected)" for x in (1, 5, 9)]
    lines = out.splitlines()
    assert lines.count("erp_in: 1 received") == 3
    assert lines.count("erp_out: 1 delivered") == 3  # one ack a file
    assert lines.count("shop_out: 2 delivered") == 3  # the CSV and the XML


def test_a_second_runner_on_the_same_workspace_is_refused(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    proc = start(ws)
    try:
        assert wait_for(lambda: (ws.root / "state" / "ledger.sqlite3").exists())
        time.sleep(0.3)
        second = subprocess.run([sys.executable, "-m", "gateway", "--config",
                                 str(ws.config_path), "run", "--once"], cwd=ROOT,
                                capture_output=True, text=True, timeout=30)
        assert second.returncode == 1
        assert "Error: another gateway process is running on this workspace" in second.stderr
    finally:
        proc.terminate()
        proc.communicate(timeout=15)
