"""A file that makes the code fail (a bug, not bad data) is kept, retried a few times,
shown with its error, and never holds up the files behind it."""

from __future__ import annotations

import pytest

from gateway.model import Direction, ExchangeState
from gateway.pipeline import transform
from gateway.pipeline.runner import Gateway
from tests.conftest import Workspace, stock_csv


def test_a_failing_file_is_retried_then_set_aside_without_blocking_others(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    ws.config_path.write_text(ws.config_path.read_text().replace("batch_size = 200",
                                                                 "batch_size = 1"))
    real = transform.process

    def failing(ctx, x, batch, **kw):  # type: ignore[no-untyped-def]
        if x.file_name == "a_boom.csv":
            raise RuntimeError("boom")
        return real(ctx, x, batch, **kw)

    monkeypatch.setattr(transform, "process", failing)
    ws.drop("a_boom.csv", stock_csv("A-1;MAIN;1,000;28/11/2026 09:15"))
    ws.drop("b_good.csv", stock_csv("B-2;MAIN;2,000;28/11/2026 09:15"))
    ws.drop("c_good.csv", stock_csv("C-3;MAIN;3,000;28/11/2026 09:15"))
    with Gateway(ws.config()) as gw:
        for _ in range(6):
            gw.cycle()
    ledger = ws.ledger()
    inputs = {x.file_name: x for x in ledger.list_exchanges(direction=Direction.IN)}
    boom = inputs["a_boom.csv"]
    assert (boom.state, boom.attempts, boom.last_error) == (
        ExchangeState.RECEIVED, transform.MAX_ATTEMPTS, "RuntimeError: boom")
    assert inputs["b_good.csv"].state is ExchangeState.PROCESSED
    assert inputs["c_good.csv"].state is ExchangeState.PROCESSED
    assert ws.files(ws.inbox) == []  # its bytes are archived: nothing is lost
