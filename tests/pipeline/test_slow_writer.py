"""A partner that writes slowly under the final name (no temporary name, no done-file):
the gateway must not take the file while it grows, and must take it whole once done."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from gateway.model import Direction, ExchangeState
from gateway.pipeline.runner import Gateway
from gateway.store.archive import Archive

from tests.conftest import make_workspace, stock_csv

ROWS = 200
CHUNKS = 10
PAUSE = 0.1  # between chunks: longer than a poll, shorter than min_age


def test_growing_file_is_taken_only_when_complete(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", extra_in='min_age = "300ms"')
    data = stock_csv(*(f"SKU-{i:04d};MAIN;{i},000;28/11/2026 09:15" for i in range(ROWS)))
    step = -(-len(data) // CHUNKS)
    chunks = [data[i:i + step] for i in range(0, len(data), step)]
    assert len(chunks) == CHUNKS and b"".join(chunks) == data
    path = ws.inbox / "slow.csv"
    first_chunk = threading.Event()

    def writer() -> None:
        with open(path, "wb") as fh:
            for n, chunk in enumerate(chunks):
                if n:
                    time.sleep(PAUSE)
                fh.write(chunk)
                fh.flush()
                first_chunk.set()

    thread = threading.Thread(target=writer, daemon=True)
    with Gateway(ws.config()) as gw:
        thread.start()
        assert first_chunk.wait(2.0)
        cycles_while_growing = 0
        while True:
            growing = thread.is_alive()
            s = gw.cycle()
            if not growing:
                break
            cycles_while_growing += 1
            assert s.received == 0, "taken while still being written"
            assert gw.ctx.ledger.list_exchanges() == []
            assert gw.files_waiting()
            time.sleep(0.01)
        thread.join()
        assert cycles_while_growing >= 20  # the file was polled again and again as it grew
        deadline = time.monotonic() + 3.0
        while not gw.ctx.ledger.list_exchanges(direction=Direction.IN):
            assert time.monotonic() < deadline, "the complete file was never taken"
            gw.cycle()
            time.sleep(0.02)
        gw.run_once(settle_timeout=0.0)
    xs = ws.ledger().list_exchanges(direction=Direction.IN)
    assert len(xs) == 1
    x = xs[0]
    assert (x.file_name, x.size, x.state, x.result) == (
        "slow.csv", len(data), ExchangeState.PROCESSED, "accepted")
    assert (x.records_total, x.records_accepted, x.records_rejected) == (ROWS, ROWS, 0)
    with Archive.in_workspace(ws.root).open(x.sha256) as fh:
        assert fh.read() == data
    assert ws.files(ws.inbox) == []
    shop = (ws.shop_out / f"stock_{x.id:06d}.csv").read_text("utf-8").splitlines()
    assert len(shop) == ROWS + 1
    assert shop[1] == "SKU-0000;0" and shop[-1] == f"SKU-{ROWS - 1:04d};{ROWS - 1}"
