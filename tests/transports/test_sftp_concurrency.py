"""``gateway run`` works on each endpoint in its own thread: a frozen SFTP server delays
only its own deliveries, never the files of the other endpoints."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

from gateway.config import load
from gateway.model import Direction, ExchangeState
from gateway.pipeline.context import ledger_path
from gateway.pipeline.runner import Gateway
from gateway.store.ledger import Ledger
from tests.conftest import stock_csv
from tests.sshd import Keys, start_sshd
from tests.transports.test_sftp import keys, names  # noqa: F401


def test_a_frozen_shop_server_does_not_hold_up_the_erp_side(keys: Keys,  # noqa: F811
                                                            tmp_path: Path) -> None:
    shop = start_sshd(keys)
    assert shop.proc is not None
    shop_out = keys.folder(shop.home, "import")
    ws = tmp_path / "ws"
    for sub in ("inbox/erp", "outbox/erp"):
        (ws / sub).mkdir(parents=True)
    (ws / "gateway.toml").write_text(
        '[gateway]\nworkspace = "."\npoll_interval = "200ms"\nmin_age = "0s"\n\n'
        '[endpoints.erp_in]\npath = "inbox/erp"\n\n[endpoints.erp_out]\npath = "outbox/erp"\n\n'
        f'[endpoints.shop_out]\ntype = "sftp"\nhost = "127.0.0.1"\nport = {shop.port}\n'
        f'user = "gwtest"\nkey_file = "{keys.client_key}"\n'
        f'known_hosts = "{keys.known_hosts(shop.port)}"\npath = "{shop_out}"\n'
        'connect_timeout = "4s"\ntransfer_timeout = "30s"\n\n'
        '[channels.erp_stock_in]\ndirection = "in"\nendpoint = "erp_in"\npattern = "*.csv"\n'
        'document = "stock"\nmapping = "erp_stock_csv"\nack_endpoint = "erp_out"\n\n'
        '[channels.shop_stock_csv]\ndirection = "out"\nendpoint = "shop_out"\n'
        'document = "stock"\nmapping = "prestashop_stock_csv"\nfilename = "stock_{exchange}.csv"\n')
    cfg = load(ws / "gateway.toml")
    os.kill(shop.proc.pid, signal.SIGSTOP)  # accepts connections, never answers
    stop = threading.Event()
    try:
        with Gateway(cfg) as gw:
            runner = threading.Thread(target=gw.serve, args=(stop,))
            runner.start()
            try:
                waits = []
                for i in range(3):
                    tmp = ws / "inbox/erp" / f".s{i}.csv.part"
                    tmp.write_bytes(stock_csv(f"A-{i};MAIN;{i},000;28/11/2026 09:1{i}"))
                    tmp.rename(ws / "inbox/erp" / f"s{i}.csv")
                    start = time.monotonic()
                    while len(list((ws / "outbox/erp").glob("ACK_*"))) < i + 1:
                        assert time.monotonic() - start < 3.5, f"ack {i} held up"
                        time.sleep(0.05)
                    waits.append(time.monotonic() - start)
                # each ack came well before the shop's 4 s connect timeout could end
                assert max(waits) < 3.5
            finally:
                stop.set()
                os.kill(shop.proc.pid, signal.SIGCONT)
                runner.join(timeout=30)
        assert not runner.is_alive()
        ledger = Ledger(ledger_path(cfg))
        try:
            outs = ledger.list_exchanges(direction=Direction.OUT)
            acks = [o for o in outs if o.kind == "ack"]
            shop_files = [o for o in outs if o.channel == "shop_stock_csv"]
            assert [o.state for o in acks] == [ExchangeState.DELIVERED] * 3
            assert len(shop_files) == 3  # waiting for the shop, not lost
            assert {o.state for o in shop_files} <= {ExchangeState.PENDING,
                                                     ExchangeState.DELIVERED}
        finally:
            ledger.close()
    finally:
        shop.stop()
