"""Outage drill against real OpenSSH servers: the ERP's and the shop's SFTP servers are
stopped and started again while ``gateway run`` serves and files keep arriving on both
sides. At the end every output was delivered exactly once, in order per endpoint, and
the shop was never shown more stock than the ERP's minus the orders still in flight."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from gateway import demo
from gateway.config import load
from gateway.model import Direction, ExchangeState
from gateway.pipeline.context import ledger_path
from gateway.pipeline.runner import Gateway
from gateway.store.ledger import Ledger
from tests.sshd import Keys, Sshd, cleanup, make_keys, require_sshd, start_sshd

FINAL = {ExchangeState.PROCESSED, ExchangeState.REJECTED, ExchangeState.DUPLICATE}
CHAIR = "CHAISE-ÉTÉ-01"
ERP_CHAIRS = Decimal(42)  # 12 + 30 over two warehouses, in every stock export below


@pytest.fixture(scope="module")
def keys() -> Iterator[Keys]:
    require_sshd()
    k = make_keys()
    yield k
    cleanup(k)


def sftp_endpoint(keys: Keys, server: Sshd, folder: Path) -> str:
    return (f'type = "sftp"\nhost = "127.0.0.1"\nport = {server.port}\nuser = "gwtest"\n'
            f'key_file = "{keys.client_key}"\nknown_hosts = "{keys.known_hosts(server.port)}"\n'
            f'path = "{folder}"\nconnect_timeout = "1s"\ntransfer_timeout = "10s"\n')


def stock(minute: int) -> bytes:
    """The ERP's stock export (as the demo's), stamped a minute later each time."""
    return demo.GOOD.replace("09:00", f"09:{minute:02d}").encode("cp1252")


def order(n: int) -> bytes:
    """A paid Shopify order for one chair."""
    return demo._shopify((demo._order(f"#{2000 + n}", f"client{n}@example.com", "paid",
                                      "89.90", "0.00", f"Client {n}", f"{n} rue Haute",
                                      "75001", "Paris"),
                          [("1", "Chaise d'été", "89.90", CHAIR, "0.00")])).encode("utf-8")


def wait_for(cond: Callable[[], bool], timeout: float, what: str,
             state: Callable[[], object] = lambda: None) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}: {state()}")
        time.sleep(0.1)


def chairs_at_shop(path: Path) -> Decimal:
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        sku, qty = line.split(";")
        if sku == CHAIR:
            return Decimal(qty)
    raise AssertionError(f"{path.name} has no {CHAIR}")


def test_both_servers_stop_and_return_while_files_keep_coming(keys: Keys, tmp_path: Path
                                                              ) -> None:
    erp, shop = start_sshd(keys), start_sshd(keys)
    try:
        folders = {"erp_in": keys.folder(erp.home, "export"),
                   "erp_out": keys.folder(erp.home, "import"),
                   "shop_in": keys.folder(shop.home, "orders"),
                   "shop_out": keys.folder(shop.home, "import")}
        servers = {"erp_in": erp, "erp_out": erp, "shop_in": shop, "shop_out": shop}
        ws = tmp_path / "ws"
        cfg_path = demo.local_workspace(ws, poll_interval="100ms", catalogue=True)
        text = cfg_path.read_text(encoding="utf-8")
        for name, folder in folders.items():
            text, n = re.subn(rf'\[endpoints\.{name}\]\npath = "[^"]*"\n',
                              f"[endpoints.{name}]\n"
                              + sftp_endpoint(keys, servers[name], folder), text)
            assert n == 1, name
        cfg_path.write_text(text, encoding="utf-8")
        cfg = load(cfg_path)

        def put(endpoint: str, name: str, data: bytes) -> None:
            """A partner writes on its server's disk: a temporary name, then the final."""
            tmp = keys.put(folders[endpoint] / f".{name}.part", data)
            tmp.rename(folders[endpoint] / name)

        for name, text_ in {"customers_20261128.csv": demo.CUSTOMERS,
                            "categories_20261128.csv": demo.CATEGORIES,
                            "catalogue_20261128.csv": demo.CATALOGUE}.items():
            put("erp_in", name, text_.encode("cp1252"))

        stop = threading.Event()
        with Gateway(cfg) as gw:
            runner = threading.Thread(target=gw.serve, args=(stop,), daemon=True)
            runner.start()
            watch = Ledger(ledger_path(cfg))
            try:

                def seen_down(endpoint: str) -> Callable[[], bool]:
                    """The gateway tried it while it was down: an output waits for it."""
                    return lambda: "Connection refused" in (
                        watch.endpoint_health().get(endpoint, {}).get("last_error") or "")

                # a server comes back only once the gateway has had to wait for it, so
                # that each side's outputs are held through an outage however slow the
                # machine is
                outages = {1: (erp.stop, None), 3: (shop.stop, (erp.start, "erp_out")),
                           5: (None, (shop.start, "shop_out"))}
                for k in range(7):
                    down, up = outages.get(k, (None, None))
                    if down:
                        down()
                    if up:
                        start, endpoint = up
                        wait_for(seen_down(endpoint), 60, f"{endpoint} tried while down",
                                 watch.endpoint_health)
                        start()
                    put("erp_in", f"stock_20261128_09{k:02d}.csv", stock(k))
                    put("shop_in", f"orders_{k}.csv", order(k))
                    time.sleep(0.8)
                ledger = Ledger(ledger_path(cfg))
                try:
                    def settled(inputs: int) -> Callable[[], bool]:
                        def check() -> bool:
                            ins = [x for x in ledger.list_exchanges()
                                   if x.direction is Direction.IN]
                            return (len(ins) == inputs and all(x.state in FINAL for x in ins)
                                    and not ledger.undelivered())
                        return check
                    def state() -> object:
                        ins = [x for x in ledger.list_exchanges()
                               if x.direction is Direction.IN]
                        return (len(ins), Counter(x.channel for x in ins),
                                [(x.id, x.file_name, str(x.state), x.last_error)
                                 for x in ledger.list_exchanges() if x.state not in FINAL
                                 and x.state is not ExchangeState.DELIVERED],
                                ledger.endpoint_health(), sorted(
                                    p.name for p in folders["erp_in"].iterdir()))
                    wait_for(settled(3 + 7 + 7), 90,
                             "every input final and every output delivered", state)
                    # after every order: one more stock export must show them all
                    put("erp_in", "stock_20261128_0959.csv", stock(59))
                    wait_for(settled(18), 60, "the last stock export delivered", state)
                finally:
                    ledger.close()
            finally:
                stop.set()
                runner.join(timeout=60)
                watch.close()

        ledger = Ledger(ledger_path(cfg))
        try:
            # each endpoint was seen down (and is up again)
            health = ledger.endpoint_health()
            for endpoint in folders:
                assert health[endpoint]["up"] is True
                assert "Connection refused" in health[endpoint]["last_error"], endpoint
            ins = [x for x in ledger.list_exchanges() if x.direction is Direction.IN]
            assert Counter(x.state for x in ins) == {ExchangeState.PROCESSED: 18}, [
                (x.file_name, x.state, x.last_error) for x in ins if x.state
                is not ExchangeState.PROCESSED]
            outs = [x for x in ledger.list_exchanges() if x.direction is Direction.OUT]
            for endpoint, folder in folders.items():
                if endpoint.endswith("_in"):
                    continue
                mine = [x for x in outs if x.endpoint == endpoint]
                assert {x.state for x in mine} == {ExchangeState.DELIVERED}
                # exactly the outputs, once each, and nothing half-written left visible
                assert sorted(p.name for p in folder.iterdir()) == sorted(
                    x.file_name for x in mine)
                # in order: delivered in the order they were produced
                delivered = [row[0] for row in ledger.db.execute(
                    "SELECT t.exchange_id FROM transitions t JOIN exchanges e"
                    " ON e.id = t.exchange_id WHERE t.to_state = 'DELIVERED'"
                    " AND e.endpoint = ? ORDER BY t.id", (endpoint,))]
                assert delivered == sorted(x.id for x in mine)
        finally:
            ledger.close()

        # every order reached the ERP exactly once
        sent = Counter(m for p in folders["erp_out"].glob("orders_*.txt")
                       for m in re.findall(r"#20\d\d", p.read_text(encoding="cp1252")))
        assert sent == {f"#{2000 + k}": 1 for k in range(7)}, sent
        # the shop was never shown more than the ERP's stock, and the last export shows
        # the ERP's stock less every order in flight
        shown = {p.name: chairs_at_shop(p) for p in folders["shop_out"].glob("stock_*.csv")}
        assert len(shown) == 8
        assert all(ERP_CHAIRS - 7 <= q <= ERP_CHAIRS for q in shown.values()), shown
        last = max(shown, key=lambda n: int(re.findall(r"\d+", n)[-1]))
        assert shown[last] == ERP_CHAIRS - 7
    finally:
        erp.stop()
        shop.stop()
