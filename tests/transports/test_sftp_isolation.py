"""One SFTP endpoint whose host key is refused never stops the others."""

from __future__ import annotations

from pathlib import Path

from gateway.config import load
from gateway.model import ExchangeState
from gateway.pipeline.context import ledger_path
from gateway.pipeline.runner import Gateway
from gateway.store.ledger import Ledger
from tests.conftest import stock_csv
from tests.sshd import Keys, Sshd
from tests.transports.test_sftp import gateway_toml, keys, names, remote, server  # noqa: F401


def test_a_refused_host_key_stops_only_its_endpoint(keys: Keys, server: Sshd,  # noqa: F811
                                                     remote: Path, tmp_path: Path  # noqa: F811
                                                     ) -> None:
    erp = keys.folder(remote, "erp")
    shop_out = keys.folder(remote, "shop")
    empty = tmp_path / "known_hosts_empty"
    empty.write_text("")
    text = gateway_toml(keys, server, erp, shop_out, erp_server=server)
    # the shop's section alone gets a known_hosts file that does not know the server
    head, shop_section = text.split("[endpoints.shop_out]")
    shop_section = shop_section.replace(str(keys.known_hosts(server.port)), str(empty))
    cfg_path = tmp_path / "gateway.toml"
    cfg_path.write_text(head + "[endpoints.shop_out]" + shop_section)
    keys.folder(remote, "erp", "in")
    keys.put(erp / "in" / "stock1.csv", stock_csv("A-1;MAIN;1,000;28/11/2026 09:15"))
    cfg = load(cfg_path)
    with Gateway(cfg) as gw:
        s = gw.run_once(settle_timeout=2.0)
    assert s.received == 1
    assert list(s.refused) == ["shop_out"]
    assert "the host key of 127.0.0.1" in s.refused["shop_out"]
    assert names(erp / "out") == ["ACK_stock1_000001.xml"]  # the ERP side went on
    assert names(shop_out) == []
    ledger = Ledger(ledger_path(cfg))
    try:
        states = {o.file_name: o.state for o in ledger.outputs_of(1)}
        assert states == {"stock_000001.csv": ExchangeState.PENDING,
                          "ACK_stock1_000001.xml": ExchangeState.DELIVERED}
        health = ledger.endpoint_health()
        assert (health["erp_in"]["up"], health["shop_out"]["up"]) == (True, False)
        assert "host key" in (health["shop_out"]["last_error"] or "")
    finally:
        ledger.close()
