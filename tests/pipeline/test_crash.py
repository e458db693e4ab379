"""Kill the gateway hard at each named point between pick-up and delivery, restart it,
and check that nothing was lost, nothing was produced twice and no half file is visible.

The process is killed by the test-only hook ``GATEWAY_CRASH_AT`` (``os._exit``: no
cleanup, no flush, as a power cut or ``kill -9`` would leave it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from gateway.model import Direction, ExchangeState
from gateway.store.archive import Archive
from tests.conftest import Workspace, make_workspace, stock_csv

GOOD = stock_csv("A-1;MAIN;12,000;28/11/2026 09:15", "A-1;EAST;3,000;28/11/2026 09:15",
                 "B-2;MAIN;5,000;28/11/2026 09:15")
PARTIAL = stock_csv("C-3;MAIN;7,000;28/11/2026 09:20", "D-4;MAIN;x;28/11/2026 09:20")
BAD = stock_csv("E-5;MAIN;1,000;28/11/2026 09:25",
                header="ARTICLE;DEPOT;QTY;DATE_MAJ\r\n")
NEWER = stock_csv("A-1;MAIN;10,000;28/11/2026 10:00")
INPUTS = {"s1_good.csv": GOOD, "s2_partial.csv": PARTIAL, "s3_bad.csv": BAD,
          "s4_again.csv": GOOD, "s5_newer.csv": NEWER}

POINTS = [
    ("intake.archived", 0),
    ("intake.committed", 0),
    ("intake.settled_one", 2),
    ("transform.processed_one", 1),
    ("transform.published", 0),
    ("transform.committed", 0),
    ("deliver.staged_one", 3),
    ("deliver.staged", 0),
    ("batch.renamed_one", 4),
    ("deliver.renamed", 0),
]


def run_gateway(ws: Workspace, crash_at: str | None = None, after: int = 0
                ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    if crash_at:
        env["GATEWAY_CRASH_AT"] = crash_at
        env["GATEWAY_CRASH_AFTER"] = str(after)
    return subprocess.run([sys.executable, "-m", "gateway", "--config", str(ws.config_path),
                           "run", "--once"], env=env, capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).resolve().parents[2])


def drop_all(ws: Workspace) -> None:
    for name, data in INPUTS.items():
        ws.drop(name, data)


def visible(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def ack_summary(data: bytes) -> tuple[str, str | None, dict[str, str], list[tuple[str, str]]]:
    """An ack without its times: what must be the same however often the gateway died."""
    root = etree.fromstring(data)
    errors = [(e.get("line", ""), e.findtext("message") or "") for e in root.iter("error")]
    return (root.findtext("result") or "", root.find("file").get("name"),
            dict(root.find("records").attrib), errors)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """What an uninterrupted run produces."""
    ws = make_workspace(tmp_path_factory.mktemp("reference") / "ws")
    drop_all(ws)
    assert run_gateway(ws).returncode == 1  # one file rejected, one partial
    return {"shop": visible(ws.shop_out),
            "acks": sorted(ack_summary(d) for d in visible(ws.erp_out).values())}


@pytest.mark.parametrize(("point", "after"), POINTS, ids=[p for p, _ in POINTS])
def test_crash_and_restart_loses_nothing_and_duplicates_nothing(
        tmp_path: Path, reference: dict[str, object], point: str, after: int) -> None:
    ws = make_workspace(tmp_path / "ws")
    drop_all(ws)
    crashed = run_gateway(ws, point, after)
    assert crashed.returncode == 137, crashed.stderr  # the point was reached

    # Rule 1: a source is gone only if its bytes are archived and its exchange committed
    ledger = ws.ledger()
    archive = Archive.in_workspace(ws.root)
    committed = {x.file_name: x for x in ledger.list_exchanges(direction=Direction.IN)}
    for name, data in INPUTS.items():
        if not (ws.inbox / name).exists():
            assert name in committed, f"{name} left the inbox before its commit"
            with archive.open(committed[name].sha256) as fh:
                assert fh.read() == data
    ledger.close()

    restarted = run_gateway(ws)
    assert restarted.returncode in (0, 1), restarted.stderr

    # every input has exactly one final state, the same as without a crash
    ledger = ws.ledger()
    inputs = ledger.list_exchanges(direction=Direction.IN)
    assert sorted(x.file_name for x in inputs) == sorted(INPUTS)
    assert {x.file_name: x.state for x in inputs} == {
        "s1_good.csv": ExchangeState.PROCESSED, "s2_partial.csv": ExchangeState.PROCESSED,
        "s3_bad.csv": ExchangeState.REJECTED, "s4_again.csv": ExchangeState.DUPLICATE,
        "s5_newer.csv": ExchangeState.PROCESSED}
    assert all(x.settled_at for x in inputs)
    assert ws.files(ws.inbox) == []
    # every output exactly once, complete, delivered; nothing half written is visible
    outputs = ledger.list_exchanges(direction=Direction.OUT)
    assert {x.state for x in outputs} == {ExchangeState.DELIVERED}
    assert len(outputs) == 3 * 3 + 2  # 3 processed x (2 documents + ack) + 2 acks
    assert visible(ws.shop_out) == reference["shop"]
    assert sorted(ack_summary(d) for d in visible(ws.erp_out).values()) == reference["acks"]
    for folder in (ws.shop_out, ws.erp_out, ws.inbox):
        assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []
    assert list((ws.root / "archive" / "tmp").glob("*")) == []
    assert Archive.in_workspace(ws.root).verify(s for s in ledger.all_sha256() if s) == []
    ledger.close()


def test_a_second_run_after_a_clean_run_changes_nothing(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    drop_all(ws)
    run_gateway(ws)
    before = (visible(ws.shop_out), visible(ws.erp_out))
    assert run_gateway(ws).returncode == 0
    assert (visible(ws.shop_out), visible(ws.erp_out)) == before


def test_a_file_refused_for_its_name_is_recorded_and_acknowledged_once_across_a_crash(
        tmp_path: Path) -> None:
    """Its ledger name is escaped (``s6\\x0aforged.csv``), so recovery cannot find it by
    that name: the next pick-up finds its exchange instead of making a second one."""
    ws = make_workspace(tmp_path / "ws")
    ws.drop("s6\nforged.csv", GOOD)
    assert run_gateway(ws, "intake.committed").returncode == 137
    assert run_gateway(ws).returncode == 1
    ledger = ws.ledger()
    try:
        [x] = ledger.list_exchanges(direction=Direction.IN)
        assert (x.file_name, x.state, x.sha256) == ("s6\\x0aforged.csv",
                                                    ExchangeState.REJECTED, "")
        assert x.settled_at is not None
    finally:
        ledger.close()
    assert ws.files(ws.inbox) == []
    [ack] = visible(ws.erp_out).values()
    assert b"has control characters" in ack
    assert run_gateway(ws).returncode == 0  # and nothing more on the next run
    assert len(visible(ws.erp_out)) == 1
