"""Reprocessing rejected files from the archive, several at once, with the current mappings."""

from __future__ import annotations

from gateway.config import resource_dir
from gateway.model import ExchangeState
from gateway.pipeline.reprocess import reprocess
from gateway.pipeline.runner import Gateway
from tests.conftest import Workspace, stock_csv

RENAMED = "ARTICLE;DEPOT;QTE;DATE_MAJ\r\n"  # this ERP renamed a column


def test_reprocess_of_several_files_reports_progress_and_takes_nothing_new(ws: Workspace
                                                                          ) -> None:
    ws.drop("s1.csv", stock_csv("A-1;MAIN;1,000;28/11/2026 09:15", header=RENAMED))
    ws.drop("s2.csv", stock_csv("B-2;MAIN;2,000;28/11/2026 09:15", header=RENAMED))
    ws.run_once()
    ledger = ws.ledger()
    rejected = [x.id for x in ledger.list_exchanges(state="REJECTED")]
    assert len(rejected) == 2
    # the operator adapts the mapping in the workspace; a new file waits in the inbox
    (ws.root / "mappings").mkdir()
    shipped = (resource_dir("mappings") / "erp_stock_csv.toml").read_text()
    (ws.root / "mappings" / "erp_stock_csv.toml").write_text(
        shipped.replace('column = "QTE_VIRTUELLE"', 'column = "QTE"'))
    ws.drop("s3.csv", stock_csv("C-3;MAIN;3,000;28/11/2026 09:15", header=RENAMED))
    seen: list[int] = []
    with Gateway(ws.config()) as gw:
        outcomes = reprocess(gw, rejected, progress=seen.append)
    assert [str(o.result) for o in outcomes] == ["accepted", "accepted"]
    assert seen[-1] == 2
    assert ws.files(ws.inbox) == ["s3.csv"]  # reprocess takes no new file
    ledger = ws.ledger()
    assert [ledger.get(x).state for x in rejected] == [ExchangeState.REPROCESSED] * 2
    attempts = [ledger.attempts_of(x)[0] for x in rejected]
    assert [a.state for a in attempts] == [ExchangeState.PROCESSED] * 2
    assert {o.state for a in attempts for o in ledger.outputs_of(a.id)} == {
        ExchangeState.DELIVERED}
    assert (ws.shop_out / f"stock_{attempts[1].id:06d}.csv").read_text() == (
        "Reference #;Quantity\nB-2;2\n")
