"""SFTP endpoints under faults, against a real OpenSSH server (see tests/sshd.py).

A connection cut in the middle of a download or an upload, a folder the server user cannot
write, a folder of 50,000 files, a shop server that goes away in the middle of a run and
comes back. Faults are made on the real server: its session processes are killed, the
folder is chmodded, the listener is stopped and started again on the same port.
"""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.config import load
from gateway.errors import TransientError
from gateway.model import ExchangeState
from gateway.pipeline.context import Context, ledger_path
from gateway.pipeline.intake import intake
from gateway.pipeline.runner import CycleSummary, Gateway
from gateway.store.archive import Archive
from gateway.store.atomic import DurableBatch
from gateway.store.ledger import Ledger
from gateway.transports.readiness import Readiness
from gateway.transports.sftp import SftpTransport

from tests.conftest import stock_csv
from tests.sshd import Keys, Sshd, cleanup, make_keys, require_sshd, start_sshd
from tests.transports.test_sftp import STOCK_CHANNELS, names, settings

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def keys() -> Iterator[Keys]:
    require_sshd()
    k = make_keys()
    yield k
    cleanup(k)


@pytest.fixture
def server(keys: Keys) -> Iterator[Sshd]:
    """A server of this test's own: its sessions are killed, it is stopped and restarted."""
    s = start_sshd(keys)
    yield s
    s.stop()


def kill_sessions(server: Sshd) -> list[int]:
    """Cut every open connection the hard way (the listener stays up)."""
    pids = server.sessions()
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids


def wait_until(cond: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


def wait_inactive(t: SftpTransport) -> None:
    """The client has seen the connection go (else the next call fails on the dead one)."""
    ssh = t._ssh
    assert ssh is not None
    assert wait_until(lambda: not ssh.is_active(), 5.0)


def workspace_toml(keys: Keys, server: Sshd, ws: Path, *, sftp_in: Path | None = None,
                   sftp_shop: Path | None = None, batch_size: int = 200) -> Path:
    """A workspace whose ERP input and/or shop output is an SFTP folder, the rest local."""
    def sftp(name: str, path: Path) -> str:
        return (f'[endpoints.{name}]\ntype = "sftp"\nhost = "127.0.0.1"\nport = {server.port}\n'
                f'user = "gwtest"\nkey_file = "{keys.client_key}"\n'
                f'known_hosts = "{keys.known_hosts(server.port)}"\npath = "{path}"\n'
                'connect_timeout = "2s"\ntransfer_timeout = "30s"\n\n')

    def local(name: str, path: str) -> str:
        (ws / path).mkdir(parents=True, exist_ok=True)
        return f'[endpoints.{name}]\npath = "{path}"\n\n'

    ws.mkdir(parents=True, exist_ok=True)
    text = (f'[gateway]\nworkspace = "."\npoll_interval = "50ms"\nmin_age = "0s"\n'
            f'batch_size = {batch_size}\n\n'
            + (sftp("erp_in", sftp_in) if sftp_in else local("erp_in", "inbox/erp"))
            + local("erp_out", "outbox/erp")
            + (sftp("shop_out", sftp_shop) if sftp_shop else local("shop_out", "outbox/shop"))
            + STOCK_CHANNELS)
    path = ws / "gateway.toml"
    path.write_text(text)
    return path


def blobs(archive_root: Path) -> list[Path]:
    """What is archived under a final (content) name."""
    return sorted(p for p in (archive_root / "sha256").rglob("*") if p.is_file())


# paramiko's prefetch thread dies with an unhandled EOFError when the connection is cut
# under it (paramiko's, not the gateway's: the reader gets its error as it should)
CUT_PREFETCH = pytest.mark.filterwarnings(
    "ignore::pytest.PytestUnhandledThreadExceptionWarning")


# -- (a) the connection cut in the middle of a download ---------------------------------------
@CUT_PREFETCH
def test_connection_killed_mid_download_is_transient_and_the_next_attempt_reads_it_all(
        keys: Keys, server: Sshd, tmp_path: Path) -> None:
    folder = keys.folder(server.home, "in")
    data = os.urandom(20 * MiB + 7)
    keys.put(folder / "big.bin", data)
    archive = Archive(tmp_path / "archive")
    t = SftpTransport("erp_sftp", settings(keys, server, folder, transfer_timeout=30.0))
    try:
        batch = DurableBatch()
        w = archive.writer(batch)
        got, killed = 0, []
        with pytest.raises(TransientError) as err:
            with t.open("big.bin") as fh:
                while chunk := fh.read(64 * 1024):
                    w.write(chunk)
                    got += len(chunk)
                    if not killed:  # the first bytes are in: cut the connection now
                        killed = kill_sessions(server)
        w.abort()
        assert len(killed) >= 2  # the session's privileged monitor and its sftp child
        assert 0 < got < len(data)
        assert str(err.value) == (f"endpoint erp_sftp ({t.describe()}): cannot read big.bin: "
                                  "Server connection dropped: ")
        assert t._ssh is None  # dropped: the next call connects again
        assert blobs(archive.root) == [] and list(archive.tmp_dir.iterdir()) == []
        assert len(batch) == 0

        with t.open("big.bin") as fh:  # a new connection, the whole file
            blob = archive.put_stream(fh, batch, expected_size=len(data))
        batch.flush()
        batch.publish()
        assert blobs(archive.root) == [archive.path(blob.sha256)]
        assert archive.path(blob.sha256).read_bytes() == data
    finally:
        t.close()


def _kill_when_growing(server: Sshd, folder: Path, at_least: int, seen: dict[str, bool],
                       final: Path | None = None) -> threading.Thread:
    """Kill the server's sessions once a file under ``folder`` has ``at_least`` bytes;
    meanwhile record whether ``final`` ever existed."""
    def watch() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if final is not None and final.exists():
                seen["final"] = True
            sizes = [p.stat().st_size for p in folder.iterdir() if p.is_file()] \
                if folder.exists() else []
            if any(s >= at_least for s in sizes):
                seen["killed"] = bool(kill_sessions(server))
                return
            time.sleep(0.001)

    th = threading.Thread(target=watch, daemon=True)
    th.start()
    return th


@CUT_PREFETCH
def test_connection_killed_mid_intake_archives_nothing_and_the_next_run_takes_it_whole(
        keys: Keys, server: Sshd, tmp_path: Path) -> None:
    folder = keys.folder(server.home, "erp_in")
    data = os.urandom(20 * MiB + 3)
    keys.put(folder / "big.csv", data)
    cfg = load(workspace_toml(keys, server, tmp_path / "ws", sftp_in=folder))
    ctx = Context.open(cfg)
    try:
        channel = cfg.channel("erp_stock_in")
        readiness = Readiness(channel.pattern, min_age=0.0, empty_grace=60.0)
        assert intake(ctx, channel, readiness) == []  # first sight: not ready yet
        seen: dict[str, bool] = {}
        watcher = _kill_when_growing(server, ctx.archive.tmp_dir, 2 * MiB, seen)
        assert intake(ctx, channel, readiness) == []  # the download failed: will retry
        watcher.join()
        assert seen == {"killed": True}
        assert blobs(ctx.archive.root) == []  # nothing under a final name
        assert ctx.ledger.list_exchanges() == []
        assert names(folder) == ["big.csv"]  # the source stays where it was
        assert (folder / "big.csv").read_bytes() == data

        assert intake(ctx, channel, readiness) == []  # seen again (it was forgotten)
        assert intake(ctx, channel, readiness) == [1]  # reconnected: read whole
        x = ctx.ledger.get(1)
        assert x is not None and (x.file_name, x.size) == ("big.csv", len(data))
        assert x.state is ExchangeState.RECEIVED
        assert blobs(ctx.archive.root) == [ctx.archive.path(x.sha256)]
        assert ctx.archive.path(x.sha256).read_bytes() == data
        assert names(folder) == ["processed"]
        assert names(folder / "processed") == ["big.csv"]
    finally:
        ctx.close()


@CUT_PREFETCH
def test_a_download_cut_leaves_no_temporary_blob_behind(keys: Keys, server: Sshd,
                                                        tmp_path: Path) -> None:
    folder = keys.folder(server.home, "erp_in")
    keys.put(folder / "big.csv", os.urandom(20 * MiB))
    cfg = load(workspace_toml(keys, server, tmp_path / "ws", sftp_in=folder))
    ctx = Context.open(cfg)
    try:
        channel = cfg.channel("erp_stock_in")
        readiness = Readiness(channel.pattern, min_age=0.0, empty_grace=60.0)
        intake(ctx, channel, readiness)
        seen: dict[str, bool] = {}
        watcher = _kill_when_growing(server, ctx.archive.tmp_dir, 2 * MiB, seen)
        assert intake(ctx, channel, readiness) == []
        watcher.join()
        assert seen == {"killed": True}
        assert list(ctx.archive.tmp_dir.iterdir()) == []
    finally:
        ctx.close()


# -- (b) the connection cut in the middle of an upload ----------------------------------------
def test_connection_killed_mid_upload_never_shows_the_final_name(keys: Keys, server: Sshd
                                                                 ) -> None:
    out = keys.folder(server.home, "out")
    data = os.urandom(20 * MiB + 11)
    t = SftpTransport("shop_out", settings(keys, server, out, transfer_timeout=30.0))
    try:
        assert not t.exists("big.bin")  # connected
        seen = {"final": False}
        watcher = _kill_when_growing(server, out, 2 * MiB, seen, final=out / "big.bin")
        with pytest.raises(TransientError) as err:
            t.stage("big.bin", io.BytesIO(data), len(data))
        watcher.join()
        assert seen == {"final": False, "killed": True}
        # which of paramiko's three errors surfaces depends on where the writer was when the
        # connection went (all three were seen, in about equal numbers)
        prefix = f"endpoint shop_out ({t.describe()}): cannot write {out}/.big.bin.part: "
        assert str(err.value) in (prefix + "Socket is closed",
                                  prefix + "Server connection dropped: ",
                                  prefix + "EOFError")
        assert t._ssh is None
        partial = (out / ".big.bin.part").stat().st_size
        assert names(out) == [".big.bin.part"]  # the partial upload, never the final name
        assert 2 * MiB <= partial < len(data)
        assert not t.exists("big.bin") and t.is_staged("big.bin")
        with pytest.raises(TransientError) as err:  # never published as it is
            t.make_durable(["big.bin"])
        assert str(err.value) == (f"endpoint shop_out ({t.describe()}): {out}/.big.bin.part "
                                  f"has {partial} bytes on the server, None bytes were "
                                  "uploaded; removed, will be sent again")
        assert names(out) == []

        t.stage("big.bin", io.BytesIO(data), len(data))  # the next round starts afresh
        t.make_durable(["big.bin"])
        t.publish(["big.bin"])
        assert names(out) == ["big.bin"]
        assert (out / "big.bin").read_bytes() == data
    finally:
        t.close()


# -- (c) a folder the server user cannot write -----------------------------------------------
def test_permission_denied_on_the_write_folder(keys: Keys, server: Sshd, tmp_path: Path
                                               ) -> None:
    out = server.home / "readonly"
    out.mkdir(mode=0o555)  # root's, r-x for everyone: gwtest cannot write in it
    os.chmod(out, 0o555)
    assert (out.stat().st_uid, out.stat().st_mode & 0o777) == (0, 0o555)
    t = SftpTransport("shop_out", settings(keys, server, out))
    try:
        with pytest.raises(TransientError) as err:
            t.stage("stock_000001.csv", io.BytesIO(b"A-1;15\n"), 7)
        assert str(err.value) == (
            f"endpoint shop_out (sftp://gwtest@127.0.0.1:{server.port}{out}): cannot write "
            f"{out}/.stock_000001.csv.part: [Errno 13] Permission denied")
        assert names(out) == []
        t.ensure()  # the folder is there: nothing to create, no error
        assert t.list() == []
    finally:
        t.close()

    # and through the gateway: the output waits, the failure names the endpoint
    cfg = load(workspace_toml(keys, server, tmp_path / "ws", sftp_shop=out))
    (tmp_path / "ws/inbox/erp/stock1.csv").write_bytes(
        stock_csv("A-1;MAIN;12,000;28/11/2026 09:15"))
    with Gateway(cfg) as gw:
        s = gw.run_once(settle_timeout=2.0)
    assert (s.received, len(s.outcomes), s.delivered) == (1, 1, 1)  # the ack, locally
    assert s.failures == {"shop_out": (
        f"endpoint shop_out (sftp://gwtest@127.0.0.1:{server.port}{out}): cannot write "
        f"{out}/.stock_000001.csv.part: [Errno 13] Permission denied")}
    ledger = Ledger(ledger_path(cfg))
    try:
        out_x = {o.file_name: o for o in ledger.outputs_of(1)}["stock_000001.csv"]
        assert (out_x.state, out_x.attempts) == (ExchangeState.PENDING, 1)
        assert out_x.last_error == s.failures["shop_out"]
    finally:
        ledger.close()
    assert names(out) == []


# -- (d) a folder of 50,000 files --------------------------------------------------------------
class _FirstBatchGateway(Gateway):
    """Stops ``run_once`` after the first cycle that processed files (the rest would take
    minutes) and notes when that was."""

    first: tuple[float, CycleSummary] | None = None

    def cycle(self, *, scheduled: bool = False) -> CycleSummary:
        if self.first is not None:
            return CycleSummary()
        s = super().cycle(scheduled=scheduled)
        if s.outcomes:
            self.first = (time.monotonic(), s)
        return s

    def files_waiting(self) -> bool:
        return self.first is None and super().files_waiting()


def test_a_folder_of_50000_files(keys: Keys, server: Sshd, tmp_path: Path) -> None:
    n = 50_000
    folder = keys.folder(server.home, "many")
    header = b"ARTICLE;DEPOT;QTE_VIRTUELLE;DATE_MAJ\r\n"
    start = time.monotonic()
    expected = []
    for i in range(n):  # root's files, 0644, in gwtest's folder: readable and movable
        name = f"stock_{i:05d}.csv"
        with open(folder / name, "wb") as fh:
            fh.write(header + f"ART-{i:05d};MAIN;{i % 90},000;28/11/2026 09:15\r\n".encode())
        expected.append(name)
    made = time.monotonic() - start

    t = SftpTransport("erp_sftp", settings(keys, server, folder))
    try:
        start = time.monotonic()
        listing = t.list()
        listed = time.monotonic() - start
    finally:
        t.close()
    assert len(listing) == n
    assert [e.name for e in listing] == expected  # sorted by name
    assert listing[0].size == len(header) + len(b"ART-00000;MAIN;0,000;28/11/2026 09:15\r\n")

    cfg = load(workspace_toml(keys, server, tmp_path / "ws", sftp_in=folder, batch_size=200))
    start = time.monotonic()
    with _FirstBatchGateway(cfg) as gw:
        s = gw.run_once(settle_timeout=60.0)
        assert gw.first is not None
        first = gw.first[0] - start
    print(f"\n50,000 files: created in {made:.1f} s, listed in {listed:.2f} s, first file "
          f"processed {first:.2f} s after the gateway started")
    assert s.received == 200 and len(s.outcomes) == 200 and s.failures == {}
    assert len(s.outcomes) >= 1
    assert first <= 30.0
    left = os.listdir(folder)
    assert len(left) == n - 200 + 1  # 200 moved into processed/
    assert sorted(os.listdir(folder / "processed")) == expected[:200]
    assert sorted((tmp_path / "ws/outbox/shop").iterdir())[0].name == "stock_000001.csv"


# -- (e) the shop server stops in the middle of a run, then comes back ------------------------
def test_outputs_wait_while_the_shop_server_is_down_then_go_once_in_order(
        keys: Keys, server: Sshd, tmp_path: Path) -> None:
    shop_out = keys.folder(server.home, "import")
    ws = tmp_path / "ws"
    cfg = load(workspace_toml(keys, server, ws, sftp_shop=shop_out))
    inbox = ws / "inbox/erp"
    refused = (f"endpoint shop_out: cannot connect to gwtest@127.0.0.1:{server.port}: "
               "[Errno 111] Connection refused")

    def drop(name: str, sku: str) -> None:
        (inbox / f".{name}.part").write_bytes(stock_csv(f"{sku};MAIN;5,000;28/11/2026 09:15"))
        os.rename(inbox / f".{name}.part", inbox / name)

    drop("s1.csv", "A-1")
    with Gateway(cfg) as gw:  # all up: delivered at once
        s = gw.run_once(settle_timeout=2.0)
    assert (s.received, s.delivered, s.failures) == (1, 2, {})
    assert names(shop_out) == ["stock_000001.csv"]

    def stop_in_the_middle(x: object) -> None:
        """Called as the exchange is processed: after intake, before delivery."""
        if server.proc is not None:
            t = gw.ctx.transport("shop_out")
            assert isinstance(t, SftpTransport) and t._ssh is not None  # connected (ensure)
            server.stop()
            wait_inactive(t)
        return None

    drop("s2.csv", "B-2")
    with Gateway(cfg, progress_for=stop_in_the_middle) as gw:
        s = gw.run_once(settle_timeout=2.0)
    assert server.proc is None
    assert (s.received, len(s.outcomes), s.delivered) == (1, 1, 1)  # its ack went (local)
    assert s.failures == {"shop_out": refused}

    drop("s3.csv", "C-3")
    drop("s4.csv", "D-4")
    with Gateway(cfg) as gw:  # still down: the queue grows, nothing is lost
        s = gw.run_once(settle_timeout=2.0)
    assert (s.received, len(s.outcomes), s.delivered) == (2, 2, 2)
    assert s.failures == {"shop_out": refused}
    assert names(shop_out) == ["stock_000001.csv"]

    ledger = Ledger(ledger_path(cfg))
    try:
        waiting = [(x.file_name, x.state, x.attempts) for x in ledger.undelivered()]
        # named by their input's id (s3 and s4 came in one intake: 7 and 8); only the head
        # of the queue was tried, once per run
        assert waiting == [("stock_000004.csv", ExchangeState.PENDING, 2),
                           ("stock_000007.csv", ExchangeState.PENDING, 0),
                           ("stock_000008.csv", ExchangeState.PENDING, 0)]
        health = ledger.endpoint_health()["shop_out"]
        assert (health["up"], health["last_error"]) == (False, refused)
    finally:
        ledger.close()

    server.start()  # back on the same port
    with Gateway(cfg) as gw:
        s = gw.run_once(settle_timeout=2.0)
    assert (s.received, len(s.outcomes), s.delivered, s.failures) == (0, 0, 3, {})
    wanted = ["stock_000001.csv", "stock_000004.csv", "stock_000007.csv", "stock_000008.csv"]
    assert names(shop_out) == wanted  # once each, no temporary file left
    for name, sku in zip(wanted, ["A-1", "B-2", "C-3", "D-4"], strict=True):
        assert (shop_out / name).read_text("utf-8") == f"Reference #;Quantity\n{sku};5\n"
    stamps = [(shop_out / n).stat().st_mtime_ns for n in wanted]
    assert stamps == sorted(stamps)  # written in that order too
    ledger = Ledger(ledger_path(cfg))
    try:
        assert ledger.endpoint_health()["shop_out"]["up"] is True
    finally:
        ledger.close()

    with Gateway(cfg) as gw:  # nothing left to send: nothing sent twice
        s = gw.run_once(settle_timeout=0.5)
    assert (s.received, s.delivered, s.failures) == (0, 0, {})
    assert names(shop_out) == wanted

    db = sqlite3.connect(ledger_path(cfg))
    try:
        rows = db.execute(
            "SELECT e.file_name, e.id FROM transitions t JOIN exchanges e ON e.id = t.exchange_id"
            " WHERE t.to_state = 'DELIVERED' AND e.endpoint = 'shop_out' ORDER BY t.id"
        ).fetchall()
    finally:
        db.close()
    assert [r[0] for r in rows] == wanted  # each delivered once, in order
    ids = [r[1] for r in rows]
    assert ids == sorted(ids) and len(set(ids)) == 4
