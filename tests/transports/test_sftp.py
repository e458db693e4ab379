"""SFTP endpoints against a real OpenSSH server on 127.0.0.1 (see tests/sshd.py).

Files a partner leaves are written straight into the server's folder (the test runs as
root); what the gateway writes is read back from there, so every check is on real bytes.
"""

from __future__ import annotations

import io
import logging
import os
import re
import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest
from lxml import etree

from gateway.config import SftpSettings, load
from gateway.errors import HostKeyError, TransientError
from gateway.model import ExchangeState, SettleMode
from gateway.pipeline.context import Context, ledger_path
from gateway.pipeline.runner import Gateway
from gateway.store.ledger import Ledger
from gateway.transports.readiness import Entry, Readiness
from gateway.transports.sftp import SftpTransport

from tests.conftest import stock_csv
from tests.sshd import Keys, Sshd, cleanup, make_keys, require_sshd, start_sshd


@pytest.fixture(scope="session")
def keys():  # type: ignore[no-untyped-def]
    require_sshd()
    k = make_keys()
    yield k
    cleanup(k)


@pytest.fixture(scope="session")
def server(keys: Keys):  # type: ignore[no-untyped-def]
    s = start_sshd(keys)
    yield s
    s.stop()


@pytest.fixture
def remote(server: Sshd, keys: Keys, request: pytest.FixtureRequest) -> Path:
    """This test's own folder on the server."""
    return keys.folder(server.home, re.sub(r"\W+", "_", request.node.name)[:60])


def settings(keys: Keys, server: Sshd, folder: Path, **changes: object) -> SftpSettings:
    base = SftpSettings(host="127.0.0.1", port=server.port, user="gwtest", path=str(folder),
                        key_file=keys.client_key, known_hosts=keys.known_hosts(server.port),
                        connect_timeout=2.0, transfer_timeout=5.0)
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def sftp(keys: Keys, server: Sshd, remote: Path):  # type: ignore[no-untyped-def]
    t = SftpTransport("erp_sftp", settings(keys, server, remote))
    yield t
    t.close()


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- intake: list, open, stat, settle --------------------------------------------------------
def test_list_open_settle_round_trip(sftp: SftpTransport, keys: Keys, remote: Path) -> None:
    keys.put(remote / "b.csv", b"12345")
    keys.put(remote / "a.csv", b"")
    keys.put(remote / "a.csv.done", b"")
    keys.folder(remote, "sub.csv")                      # a folder is not a file
    (remote / "link.csv").symlink_to(remote / "b.csv")  # nor is a symlink
    os.utime(remote / "b.csv", (1_700_000_000, 1_700_000_000))
    a_mtime = float(int((remote / "a.csv").stat().st_mtime))
    assert sftp.list() == [Entry("a.csv", 0, a_mtime), Entry("a.csv.done", 0, a_mtime),
                           Entry("b.csv", 5, 1_700_000_000.0)]
    with sftp.open("b.csv") as fh:
        assert fh.read() == b"12345"
    assert sftp.stat("b.csv") == Entry("b.csv", 5, 1_700_000_000.0)
    assert sftp.stat("missing.csv") is None
    assert sftp.exists("b.csv") and not sftp.exists("missing.csv")

    sftp.settle("a.csv", SettleMode.DELETE, tag="000001", done_suffix=".done")
    assert names(remote) == ["b.csv", "link.csv", "sub.csv"]
    sftp.settle("b.csv", SettleMode.MOVE, tag="000002", done_suffix=None)  # processed/ made
    keys.put(remote / "b.csv", b"again")
    sftp.settle("b.csv", SettleMode.MOVE, tag="000003", done_suffix=None)  # name taken: tag
    assert names(remote / "processed") == ["b.csv", "b.csv.000003"]
    assert (remote / "processed" / "b.csv").read_bytes() == b"12345"
    assert (remote / "processed" / "b.csv.000003").read_bytes() == b"again"
    for mode in SettleMode:  # a source already gone (settled before a crash) is fine
        sftp.settle("b.csv", mode, tag="000004", done_suffix=".done")
    keys.put(remote / "bad.csv", b"x")
    sftp.quarantine("bad.csv", tag="000005")
    assert names(remote / "quarantine") == ["bad.csv.000005"]
    assert names(remote) == ["link.csv", "processed", "quarantine", "sub.csv"]
    assert sftp.describe() == f"sftp://gwtest@127.0.0.1:{sftp.settings.port}{remote}"


def test_a_large_file_streams_whole_with_prefetch(sftp: SftpTransport, keys: Keys,
                                                  remote: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    keys.put(remote / "big.bin", data)
    got = bytearray()
    with sftp.open("big.bin") as fh:
        while chunk := fh.read(1 << 20):
            got += chunk
    assert bytes(got) == data


def test_list_of_a_missing_folder_is_empty_and_ensure_creates_it(
        keys: Keys, server: Sshd, remote: Path) -> None:
    t = SftpTransport("erp_sftp", settings(keys, server, remote / "not" / "yet"))
    try:
        assert t.list() == []
        t.ensure()
        assert (remote / "not" / "yet").is_dir()
        t.ensure()  # already there: fine
    finally:
        t.close()


def test_a_name_that_is_not_utf8_is_moved_to_quarantine(sftp: SftpTransport, keys: Keys,
                                                        remote: Path,
                                                        caplog: pytest.LogCaptureFixture
                                                        ) -> None:
    raw = b"stock_\xe9t\xe9.csv"  # latin-1 bytes, as an old ERP writes them
    fd = os.open(bytes(remote) + b"/" + raw, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"abc")
    os.close(fd)
    keys.put(remote / "ok.csv", b"fine")
    with caplog.at_level(logging.WARNING, "gateway.sftp"):
        assert [e.name for e in sftp.list()] == ["ok.csv"]
    assert sorted(os.listdir(bytes(remote))) == [b"ok.csv", b"quarantine"]
    assert os.listdir(bytes(remote / "quarantine")) == [raw]
    assert caplog.messages == [
        "endpoint erp_sftp: file name stock_\\xe9t\\xe9.csv is not UTF-8; moved to quarantine/"]


def test_a_name_that_is_not_utf8_and_cannot_be_moved_is_skipped(
        sftp: SftpTransport, keys: Keys, remote: Path, caplog: pytest.LogCaptureFixture
) -> None:
    raw = b"\xff.csv"
    fd = os.open(bytes(remote) + b"/" + raw, os.O_WRONLY | os.O_CREAT, 0o644)
    os.close(fd)
    (remote / "quarantine").mkdir(mode=0o755)  # root's: the test user cannot write in it
    keys.put(remote / "ok.csv", b"fine")
    with caplog.at_level(logging.WARNING, "gateway.sftp"):
        assert [e.name for e in sftp.list()] == ["ok.csv"]
        assert [e.name for e in sftp.list()] == ["ok.csv"]  # and again: never stuck
    assert sorted(os.listdir(bytes(remote))) == [b"ok.csv", b"quarantine", raw]
    assert caplog.messages == 2 * [
        "endpoint erp_sftp: file name \\xff.csv is not UTF-8 and could not be moved to "
        f"quarantine/: endpoint erp_sftp ({sftp.describe()}): cannot quarantine \\xff.csv: "
        "[Errno 13] Permission denied; skipped"]


# -- delivery: stage, make durable, publish ------------------------------------------------
def test_stage_make_durable_publish(sftp: SftpTransport, remote: Path) -> None:
    data = b"Reference #;Quantity\nA-1;15\n"
    out = remote / "outbox"  # created on stage
    t = SftpTransport("shop_out", replace(sftp.settings, path=str(out)))
    try:
        t.stage("stock_000001.csv", io.BytesIO(data), len(data))
        assert names(out) == [".stock_000001.csv.part"]
        assert t.is_staged("stock_000001.csv") and not t.exists("stock_000001.csv")
        t.make_durable(["stock_000001.csv"])
        assert names(out) == [".stock_000001.csv.part"]
        t.publish(["stock_000001.csv"])
        assert names(out) == ["stock_000001.csv"]
        assert (out / "stock_000001.csv").read_bytes() == data
        assert not t.is_staged("stock_000001.csv") and t.exists("stock_000001.csv")
        t.publish(["stock_000001.csv"])  # a repeat after a crash: nothing to do
        assert (out / "stock_000001.csv").read_bytes() == data
        # the same name again replaces the old file in one step (posix-rename)
        t.stage("stock_000001.csv", io.BytesIO(b"new"), 3)
        t.make_durable(["stock_000001.csv"])
        t.publish(["stock_000001.csv"])
        assert names(out) == ["stock_000001.csv"]
        assert (out / "stock_000001.csv").read_bytes() == b"new"
        t.stage("gone.csv", io.BytesIO(b"x"), 1)
        t.discard(["gone.csv", "never.csv"])
        assert names(out) == ["stock_000001.csv"]
    finally:
        t.close()


def test_make_durable_refuses_a_short_temp_file_and_removes_it(sftp: SftpTransport,
                                                               remote: Path) -> None:
    data = b"x" * 1000
    sftp.stage("a.csv", io.BytesIO(data), len(data))
    os.truncate(remote / ".a.csv.part", 400)  # the server lost the end of it
    with pytest.raises(TransientError) as err:
        sftp.make_durable(["a.csv"])
    assert str(err.value) == (
        f"endpoint erp_sftp ({sftp.describe()}): {remote}/.a.csv.part has 400 bytes on the "
        "server, 1000 bytes were uploaded; removed, will be sent again")
    assert names(remote) == []


# -- host keys ----------------------------------------------------------------------------
def test_unknown_host_key_is_refused_with_the_line_to_pin_it(keys: Keys, server: Sshd,
                                                              remote: Path) -> None:
    empty = keys.dir / "known_hosts_empty"
    empty.write_text("")
    t = SftpTransport("erp_sftp", settings(keys, server, remote, known_hosts=empty))
    keys.put(remote / "a.csv", b"x")
    with pytest.raises(HostKeyError) as err:
        t.list()
    fp = keys.host_fingerprint()
    msg = str(err.value)
    assert msg.startswith(f"endpoint erp_sftp: the host key of 127.0.0.1:{server.port} is "
                          f"UNKNOWN: it is not in {empty}; the server offered ssh-ed25519 {fp}; "
                          "the connection was refused.")
    assert (f'pin the key: add host_key_fingerprint = "{fp}" to [endpoints.erp_sftp] in '
            "gateway.toml") in msg
    pub = Path(str(keys.host_key) + ".pub").read_text().split()[1]
    assert msg.endswith(f"add this line to {empty}: [127.0.0.1]:{server.port} ssh-ed25519 {pub}")
    assert err.value.exit_code == 2
    assert t._ssh is None  # nothing kept open to an unchecked server
    assert names(remote) == ["a.csv"]


@pytest.mark.parametrize("how", ["known_hosts", "fingerprint"])
def test_changed_host_key_is_refused(keys: Keys, server: Sshd, remote: Path, how: str) -> None:
    other = keys.other_key_pub()
    other_fp = keys.fingerprint(other)
    if how == "known_hosts":
        kh = keys.known_hosts(server.port, other)
        s = settings(keys, server, remote, known_hosts=kh)
        expected = f"{kh} has ssh-ed25519 {other_fp}"
    else:
        s = settings(keys, server, remote, known_hosts=None, host_key_fingerprint=other_fp)
        expected = f"the configuration pins {other_fp}"
    t = SftpTransport("erp_sftp", s)
    with pytest.raises(HostKeyError) as err:
        t.exists("a.csv")
    fp = keys.host_fingerprint()
    msg = str(err.value)
    assert msg.startswith(f"endpoint erp_sftp: the host key of 127.0.0.1:{server.port} has "
                          f"CHANGED: the server offered ssh-ed25519 {fp}, {expected}; the "
                          "connection was refused")
    assert f'add host_key_fingerprint = "{fp}" to [endpoints.erp_sftp]' in msg
    assert err.value.exit_code == 2 and err.value.hint is None  # all of it in the message


def test_pinned_fingerprint_is_accepted(keys: Keys, server: Sshd, remote: Path) -> None:
    fp = keys.host_fingerprint()  # from OpenSSH's own ssh-keygen
    t = SftpTransport("erp_sftp", settings(keys, server, remote, known_hosts=None,
                                           host_key_fingerprint=fp))
    keys.put(remote / "a.csv", b"abc")
    try:
        assert [e.name for e in t.list()] == ["a.csv"]
    finally:
        t.close()


def test_encrypted_key_with_its_passphrase_from_the_environment(
        keys: Keys, server: Sshd, remote: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERP_KEY_PASSPHRASE", keys.passphrase)
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(f"""
[endpoints.erp_sftp]
type = "sftp"
host = "127.0.0.1"
port = {server.port}
user = "gwtest"
key_file = "{keys.encrypted_client_key}"
key_passphrase = "${{ERP_KEY_PASSPHRASE}}"
host_key_fingerprint = "{keys.host_fingerprint()}"
path = "{remote}"
[channels]
""")
    ctx = Context.open(load(cfg))
    try:
        keys.put(remote / "a.csv", b"abc")
        t = ctx.transport("erp_sftp")
        assert isinstance(t, SftpTransport)
        assert [e.name for e in t.list()] == ["a.csv"]
        assert t._ssh is not None
    finally:
        ctx.close()
    assert t._ssh is None  # Context.close closed the connection


# -- failures: server down, rename refused, frozen server -----------------------------------
def test_server_down_is_transient_and_the_next_call_reconnects(keys: Keys, remote: Path
                                                               ) -> None:
    own = start_sshd(keys)
    folder = keys.folder(own.home, "in")
    keys.put(folder / "a.csv", b"abc")
    t = SftpTransport("erp_sftp", settings(keys, own, folder))
    try:
        assert [e.name for e in t.list()] == ["a.csv"]
        own.stop()  # the listener and the open session
        ssh = t._ssh
        assert ssh is not None
        deadline = time.monotonic() + 2
        while ssh.is_active() and time.monotonic() < deadline:
            time.sleep(0.01)
        for call in (t.list, lambda: t.stat("a.csv")):
            with pytest.raises(TransientError) as err:
                call()
            assert str(err.value) == (f"endpoint erp_sftp: cannot connect to gwtest@127.0.0.1:"
                                      f"{own.port}: [Errno 111] Connection refused")
            assert t._ssh is None
        own.start()
        assert t.stat("a.csv") == Entry("a.csv", 3, float(int((folder / "a.csv").stat(
        ).st_mtime)))
    finally:
        t.close()
        own.stop()


def test_refused_rename_is_transient_and_nothing_shows_under_the_final_name(keys: Keys
                                                                            ) -> None:
    strict = start_sshd(keys, sftp_flags="-P rename,posix-rename")
    out = keys.folder(strict.home, "out")
    t = SftpTransport("shop_out", settings(keys, strict, out))
    try:
        t.stage("stock_000001.csv", io.BytesIO(b"A-1;15\n"), 7)
        t.make_durable(["stock_000001.csv"])
        with pytest.raises(TransientError) as err:
            t.publish(["stock_000001.csv"])
        assert str(err.value) == (
            f"endpoint shop_out ({t.describe()}): cannot rename {out}/.stock_000001.csv.part "
            "to stock_000001.csv: [Errno 13] Permission denied")
        assert names(out) == [".stock_000001.csv.part"]  # kept for the next round
        assert t.is_staged("stock_000001.csv") and not t.exists("stock_000001.csv")
    finally:
        t.close()
        strict.stop()


def test_a_frozen_server_is_cut_at_the_transfer_deadline(keys: Keys, server: Sshd,
                                                         remote: Path) -> None:
    keys.put(remote / "a.csv", b"abc" * 1000)
    t = SftpTransport("erp_sftp", settings(keys, server, remote, connect_timeout=30.0,
                                           transfer_timeout=0.5))
    try:
        assert t.exists("a.csv")  # connected
        before = set(server.sessions())
        server.signal_sessions(signal.SIGSTOP)
        start = time.monotonic()
        try:
            with pytest.raises(TransientError) as err:
                with t.open("a.csv") as fh:
                    fh.read()
        finally:
            for pid in before:
                os.kill(pid, signal.SIGCONT)
        assert 0.4 < time.monotonic() - start < 3.0
        assert str(err.value) == (f"endpoint erp_sftp ({t.describe()}): cannot read a.csv: "
                                  "no end after the transfer deadline of 0.5s; the connection "
                                  "was cut")
        assert t._ssh is None
        t.settings = replace(t.settings, transfer_timeout=30.0)  # a machine under load
        with t.open("a.csv") as fh:  # a new connection, a new deadline
            assert fh.read() == b"abc" * 1000
    finally:
        t.close()


def test_a_file_still_being_written_is_not_taken(sftp: SftpTransport, keys: Keys,
                                                 remote: Path) -> None:
    now = [0.0]
    r = Readiness("*.csv", min_age=1.0, empty_grace=60.0, clock=lambda: now[0])
    keys.put(remote / ".stock.csv.part", b"temp name")
    keys.put(remote / "stock.csv", b"A;")
    assert r.observe(sftp.list()) == []
    now[0] = 2.0
    with open(remote / "stock.csv", "ab") as fh:
        fh.write(b"B;C\r\n")
    os.utime(remote / "stock.csv", (1_700_000_100, 1_700_000_100))
    assert r.observe(sftp.list()) == []  # it grew: the age counts again from now
    now[0] = 2.5
    assert r.observe(sftp.list()) == []  # stable, but too young
    now[0] = 3.0
    assert r.observe(sftp.list()) == [Entry("stock.csv", 7, 1_700_000_100.0)]


# -- the whole gateway over SFTP ------------------------------------------------------------
STOCK_CHANNELS = ('[channels.erp_stock_in]\ndirection = "in"\nendpoint = "erp_in"\n'
                  'pattern = "*.csv"\ndocument = "stock"\nmapping = "erp_stock_csv"\n'
                  'ack_endpoint = "erp_out"\nsettle = "move"\n\n'
                  '[channels.shop_stock_csv]\ndirection = "out"\nendpoint = "shop_out"\n'
                  'document = "stock"\nmapping = "prestashop_stock_csv"\n'
                  'filename = "stock_{exchange}.csv"\n')


def gateway_toml(keys: Keys, shop: Sshd, erp: Path, shop_out: Path, *,
                 erp_server: Sshd) -> str:
    def endpoint(name: str, server: Sshd, path: Path) -> str:
        return (f'[endpoints.{name}]\ntype = "sftp"\nhost = "127.0.0.1"\nport = {server.port}\n'
                f'user = "gwtest"\nkey_file = "{keys.client_key}"\n'
                f'known_hosts = "{keys.known_hosts(server.port)}"\npath = "{path}"\n'
                'connect_timeout = "2s"\ntransfer_timeout = "30s"\n\n')

    return ('[gateway]\nworkspace = "."\npoll_interval = "50ms"\nmin_age = "0s"\n\n'
            + endpoint("erp_in", erp_server, erp / "in")
            + endpoint("erp_out", erp_server, erp / "out")
            + endpoint("shop_out", shop, shop_out)
            + STOCK_CHANNELS)


def test_gateway_round_trip_over_sftp_and_a_shop_server_that_comes_back(
        keys: Keys, server: Sshd, remote: Path, tmp_path: Path) -> None:
    shop = start_sshd(keys)
    try:
        shop_out = keys.folder(shop.home, "import")
        erp = keys.folder(remote, "erp")
        cfg_path = tmp_path / "gateway.toml"
        cfg_path.write_text(gateway_toml(keys, shop, erp, shop_out, erp_server=server))
        cfg = load(cfg_path)
        erp_in = SftpTransport("erp_partner", settings(keys, server, erp / "in"))
        erp_in.ensure()  # the ERP drops its export the way it should: temp name, rename
        data = stock_csv("A-1;MAIN;12,000;28/11/2026 09:15", "A-1;EAST;3,500;28/11/2026 09:15",
                         "B-2;MAIN;0,000;28/11/2026 09:15")
        erp_in.stage("stock1.csv", io.BytesIO(data), len(data))
        erp_in.make_durable(["stock1.csv"])
        erp_in.publish(["stock1.csv"])
        erp_in.close()

        shop.stop()  # the shop's server is down: intake and the ack go on
        with Gateway(cfg) as gw:
            s = gw.run_once(settle_timeout=2.0)
        assert s.received == 1
        assert list(s.failures) == ["shop_out"]
        assert s.failures["shop_out"].startswith(
            f"endpoint shop_out: cannot connect to gwtest@127.0.0.1:{shop.port}: ")
        assert names(erp / "in") == ["processed"]
        assert names(erp / "in" / "processed") == ["stock1.csv"]
        assert (erp / "in" / "processed" / "stock1.csv").read_bytes() == data
        assert names(erp / "out") == ["ACK_stock1_000001.xml"]
        ack = etree.parse(str(erp / "out" / "ACK_stock1_000001.xml"))
        assert ack.findtext("result") == "accepted"
        assert ack.find("records").attrib == {"total": "3", "accepted": "3", "rejected": "0"}
        ledger = Ledger(ledger_path(cfg))
        try:
            outputs = {o.file_name: o for o in ledger.outputs_of(1)}
            assert outputs["stock_000001.csv"].state is ExchangeState.PENDING
            assert outputs["stock_000001.csv"].attempts == 1
            assert outputs["ACK_stock1_000001.xml"].state is ExchangeState.DELIVERED
        finally:
            ledger.close()
        assert names(shop_out) == []

        shop.start()  # back on the same port: the waiting output goes now
        with Gateway(cfg) as gw:
            s = gw.run_once(settle_timeout=0.5)
        assert (s.received, s.delivered, s.failures) == (0, 1, {})
        assert names(shop_out) == ["stock_000001.csv"]
        assert (shop_out / "stock_000001.csv").read_text("utf-8") == (
            "Reference #;Quantity\nA-1;15\nB-2;0\n")
        ledger = Ledger(ledger_path(cfg))
        try:
            assert {o.file_name: o.state for o in ledger.outputs_of(1)} == {
                "stock_000001.csv": ExchangeState.DELIVERED,
                "ACK_stock1_000001.xml": ExchangeState.DELIVERED}
            x = ledger.get(1)
            assert x is not None and x.state is ExchangeState.PROCESSED
            assert x.file_name == "stock1.csv"
        finally:
            ledger.close()
    finally:
        shop.stop()


def test_cli_endpoints_check_and_a_refused_host_key(keys: Keys, server: Sshd, remote: Path,
                                                    tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gateway.cli import app

    erp = keys.folder(remote, "erp")
    cfg_path = tmp_path / "gateway.toml"
    cfg_path.write_text(gateway_toml(keys, server, erp, keys.folder(remote, "shop"),
                                     erp_server=server))
    runner = CliRunner()
    r = runner.invoke(app, ["--config", str(cfg_path), "endpoints", "check", "shop_out"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == "shop_out: ok"
    assert lines[1] == f"  ok     connect and list: sftp://gwtest@127.0.0.1:{server.port}" \
                       f"{remote}/shop: 0 file(s)"
    assert [line.split(":")[0].strip() for line in lines[2:]] == [
        "ok     write", "ok     read back", "ok     remove"]
    assert names(remote / "shop") == []

    empty = keys.dir / "known_hosts_empty_cli"
    empty.write_text("")
    cfg_path.write_text(cfg_path.read_text().replace(str(keys.known_hosts(server.port)),
                                                     str(empty)))
    r = runner.invoke(app, ["--config", str(cfg_path), "run", "--once"])
    assert r.exit_code == 2
    fp = keys.host_fingerprint()
    errors = [line for line in r.stderr.splitlines() if line.startswith("Error: ")]
    assert errors[0].startswith(f"Error: endpoint erp_in: the host key of 127.0.0.1:"
                                f"{server.port} is UNKNOWN")
    assert f'add host_key_fingerprint = "{fp}" to [endpoints.erp_in]' in r.stderr
    assert names(erp) == []  # nothing was created on a server that was not checked


def test_without_posix_rename_an_existing_target_is_removed_then_renamed(
        sftp: SftpTransport, keys: Keys, remote: Path) -> None:
    from gateway.transports.sftp import POSIX_RENAME

    keys.put(remote / "a.csv", b"old")
    client = sftp._client()
    assert POSIX_RENAME in client.extensions  # OpenSSH offers it…
    del client.extensions[POSIX_RENAME]       # …a server that does not: plain SFTP rename
    sftp.stage("a.csv", io.BytesIO(b"new"), 3)
    sftp.make_durable(["a.csv"])
    sftp.publish(["a.csv"])
    assert names(remote) == ["a.csv"]
    assert (remote / "a.csv").read_bytes() == b"new"


def test_a_frozen_listener_fails_the_connection_at_connect_timeout(keys: Keys) -> None:
    own = start_sshd(keys)
    assert own.proc is not None
    t = SftpTransport("erp_sftp", settings(keys, own, own.home, connect_timeout=0.5))
    os.kill(own.proc.pid, signal.SIGSTOP)  # accepts TCP (the kernel does), never answers
    start = time.monotonic()
    try:
        with pytest.raises(TransientError) as err:
            t.list()
    finally:
        os.kill(own.proc.pid, signal.SIGCONT)
        own.stop()
    assert 0.4 < time.monotonic() - start < 2.5
    assert str(err.value).startswith(f"endpoint erp_sftp: cannot connect to gwtest@127.0.0.1:"
                                     f"{own.port}: ")
    assert t._ssh is None


def test_refused_credentials_are_transient_and_say_which(keys: Keys, server: Sshd,
                                                         remote: Path) -> None:
    wrong_key = keys.dir / "other_host"  # a valid key, just not an authorized one
    keys.other_key_pub()
    t = SftpTransport("erp_sftp", settings(keys, server, remote, key_file=wrong_key))
    with pytest.raises(TransientError) as err:
        t.list()
    assert str(err.value) == (f"endpoint erp_sftp: the server refused key {wrong_key} for "
                              "user gwtest: Authentication failed.")
    t = SftpTransport("erp_sftp", settings(keys, server, remote, key_file=None,
                                           password="secret"))
    with pytest.raises(TransientError) as err:  # this server takes keys only
        t.list()
    assert str(err.value).startswith("endpoint erp_sftp: the server refused the password of "
                                     "user gwtest: Bad authentication type")
    missing = keys.dir / "no_such_key"
    t = SftpTransport("erp_sftp", settings(keys, server, remote, key_file=missing))
    with pytest.raises(TransientError) as err:
        t.list()
    assert str(err.value) == (f"endpoint erp_sftp: cannot load key_file {missing}: [Errno 2] "
                              f"No such file or directory: '{missing}'")


def test_an_upload_to_a_frozen_server_is_cut_at_the_transfer_deadline(
        keys: Keys, server: Sshd, remote: Path) -> None:
    t = SftpTransport("shop_out", settings(keys, server, remote, connect_timeout=30.0,
                                           transfer_timeout=0.5))
    data = os.urandom(8 * 1024 * 1024)  # more than the SSH window: the writer must wait
    try:
        assert not t.exists("big.bin")  # connected
        before = set(server.sessions())
        server.signal_sessions(signal.SIGSTOP)
        start = time.monotonic()
        try:
            with pytest.raises(TransientError) as err:
                t.stage("big.bin", io.BytesIO(data), len(data))
        finally:
            for pid in before:
                os.kill(pid, signal.SIGCONT)
        assert 0.4 < time.monotonic() - start < 3.0
        assert str(err.value) == (f"endpoint shop_out ({t.describe()}): cannot write "
                                  f"{remote}/.big.bin.part: no end after the transfer deadline "
                                  "of 0.5s; the connection was cut")
        assert not t.exists("big.bin")  # a new connection; nothing under the final name
        t.settings = replace(t.settings, transfer_timeout=30.0)  # a machine under load
        t.stage("big.bin", io.BytesIO(data), len(data))  # the next round starts afresh
        t.make_durable(["big.bin"])
        t.publish(["big.bin"])
        assert (remote / "big.bin").read_bytes() == data
    finally:
        t.close()
