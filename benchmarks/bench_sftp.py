"""SFTP endpoint throughput against a local OpenSSH server started here, and the time to
the first file processed in a folder of 50,000 files.

Download: ``SftpTransport.open()`` streamed to a local file. Upload: ``stage`` +
``make_durable`` + ``publish``. Floor, in the same run, against the same server: the
OpenSSH ``sftp`` client in batch mode doing the same get and put. Each side is timed from
before its connection to the file closed (the gateway in a child process, its interpreter
start left out); the median of ``--repeat`` runs is kept. Targets: gateway/client >= 0.5
both ways; first file of a 50,000-file folder processed through ``Gateway.run_once``
(batch_size 200) within 10 s of the gateway's start.

Needs root and /usr/sbin/sshd (apt-get install -y openssh-server). The server, its keys and
every file are removed at the end; sshd is stopped by its own PID.

    python benchmarks/bench_sftp.py [--mib 200] [--files 50000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT

sys.path.insert(0, str(ROOT))
from tests.sshd import Keys, Sshd, cleanup, make_keys, start_sshd  # noqa: E402

MiB = 1024 * 1024

SETTINGS = """
import sys, time
from pathlib import Path
from gateway.config import SftpSettings
from gateway.transports.sftp import SftpTransport
port, key, known, folder = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
s = SftpSettings(host="127.0.0.1", port=port, user="gwtest", path=folder, key_file=key,
                 known_hosts=known, connect_timeout=10.0, transfer_timeout=600.0)
"""

GATEWAY_GET = SETTINGS + """
local = sys.argv[5]
start = time.perf_counter()
t = SftpTransport("bench", s)
with t.open("src.bin") as fh, open(local, "wb") as out:
    while chunk := fh.read(1 << 20):
        out.write(chunk)
elapsed = time.perf_counter() - start
print(f"SECONDS {elapsed:.6f} CIPHER {t._ssh.local_cipher}")
t.close()
"""

GATEWAY_PUT = SETTINGS + """
local = Path(sys.argv[5])
size = local.stat().st_size
start = time.perf_counter()
t = SftpTransport("bench", s)
with open(local, "rb") as src:
    t.stage("up_gateway.bin", src, size)
t.make_durable(["up_gateway.bin"])
t.publish(["up_gateway.bin"])
elapsed = time.perf_counter() - start
print(f"SECONDS {elapsed:.6f} CIPHER {t._ssh.local_cipher}")
t.close()
"""

FIRST_FILE = """
import sys, time
from gateway.config import load
from gateway.pipeline.runner import CycleSummary, Gateway
from gateway.transports.sftp import SftpTransport

class FirstBatch(Gateway):
    # stops run_once after the first cycle that processed files (the rest would take minutes)
    first = None
    def cycle(self, *, scheduled=False):
        if self.first is not None:
            return CycleSummary()
        s = super().cycle(scheduled=scheduled)
        if s.outcomes:
            self.first = (time.perf_counter(), s)
        return s
    def files_waiting(self):
        return self.first is None and super().files_waiting()

cfg = load(sys.argv[1])
start = time.perf_counter()
with FirstBatch(cfg) as gw:
    gw.run_once(settle_timeout=600.0)
    done, s = gw.first
    t = gw.ctx.transport("erp_in")
    t0 = time.perf_counter()
    n = len(t.list())
    listed = time.perf_counter() - t0
bad = [o for o in s.outcomes if o.result != "accepted"]
if bad or s.failures:
    raise SystemExit(f"unexpected outcome: {bad} {s.failures}")
print(f"SECONDS {done - start:.6f} PROCESSED {len(s.outcomes)} LISTED {n} LIST_S {listed:.3f}")
"""


def child(code: str, *args: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True,
                       text=True)
    if r.returncode != 0:
        raise SystemExit(f"benchmark step failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("SECONDS ")][-1].split()
    return dict(zip(line[::2], line[1::2], strict=True))


def openssh_sftp(keys: Keys, server: Sshd, known: Path, batch: Path) -> float:
    """``sftp -b``: the whole client process, connection included."""
    cmd = ["sftp", "-q", "-b", str(batch), "-i", str(keys.client_key), "-P", str(server.port),
           "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known}",
           "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "gwtest@127.0.0.1"]
    start = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if r.returncode != 0:
        raise SystemExit(f"sftp failed ({r.returncode}): {r.stdout}{r.stderr}")
    return elapsed


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(8 * MiB):
            h.update(chunk)
    return h.hexdigest()


def first_file_config(keys: Keys, server: Sshd, ws: Path, folder: Path) -> Path:
    for sub in ("outbox/erp", "outbox/shop"):
        (ws / sub).mkdir(parents=True, exist_ok=True)
    cfg = ws / "gateway.toml"
    cfg.write_text(
        '[gateway]\nworkspace = "."\npoll_interval = "50ms"\nmin_age = "0s"\nbatch_size = 200\n\n'
        f'[endpoints.erp_in]\ntype = "sftp"\nhost = "127.0.0.1"\nport = {server.port}\n'
        f'user = "gwtest"\nkey_file = "{keys.client_key}"\n'
        f'known_hosts = "{keys.known_hosts(server.port)}"\npath = "{folder}"\n\n'
        '[endpoints.erp_out]\npath = "outbox/erp"\n\n'
        '[endpoints.shop_out]\npath = "outbox/shop"\n\n'
        '[channels.erp_stock_in]\ndirection = "in"\nendpoint = "erp_in"\npattern = "*.csv"\n'
        'document = "stock"\nmapping = "erp_stock_csv"\nack_endpoint = "erp_out"\n'
        'settle = "move"\n\n'
        '[channels.shop_stock_csv]\ndirection = "out"\nendpoint = "shop_out"\n'
        'document = "stock"\nmapping = "prestashop_stock_csv"\nfilename = "stock_{exchange}.csv"\n')
    return cfg


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=200)
    ap.add_argument("--files", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if os.geteuid() != 0 or not Path("/usr/sbin/sshd").exists() or not shutil.which("sftp"):
        raise SystemExit("needs root, /usr/sbin/sshd and the sftp client "
                         "(apt-get install -y openssh-server openssh-client)")
    keys = make_keys()
    server: Sshd | None = None
    local = Path(tempfile.mkdtemp(prefix="gateway-bench-sftp-"))
    try:
        server = start_sshd(keys)
        known = keys.known_hosts(server.port)
        home = keys.folder(server.home, "data")
        size = args.mib * MiB
        src = keys.put(home / "src.bin", b"")
        with open(src, "wb") as fh:  # random: nothing compresses it on the way
            for _ in range(args.mib):
                fh.write(os.urandom(MiB))
        up_src = local / "up.bin"
        shutil.copyfile(src, up_src)
        want = sha256(src)
        get_batch, put_batch = local / "get.batch", local / "put.batch"
        get_batch.write_text(f"get {home}/src.bin {local}/got_client.bin\n")
        put_batch.write_text(f"put {up_src} {home}/up_client.bin\n")
        base = [str(server.port), str(keys.client_key), str(known), str(home)]

        times: dict[str, list[float]] = {"gw_get": [], "gw_put": [], "cl_get": [],
                                         "cl_put": []}
        cipher = ""
        for _ in range(args.repeat):  # interleaved, so that noise falls on both sides
            r = child(GATEWAY_GET, *base, str(local / "got_gateway.bin"))
            times["gw_get"].append(float(r["SECONDS"]))
            cipher = r["CIPHER"]
            times["cl_get"].append(openssh_sftp(keys, server, known, get_batch))
            r = child(GATEWAY_PUT, *base, str(up_src))
            times["gw_put"].append(float(r["SECONDS"]))
            times["cl_put"].append(openssh_sftp(keys, server, known, put_batch))
            for path in (local / "got_gateway.bin", local / "got_client.bin",
                         home / "up_gateway.bin", home / "up_client.bin"):
                if sha256(path) != want:
                    raise SystemExit(f"{path}: the bytes differ from the source")
                path.unlink()
        rate = {k: size / MiB / statistics.median(v) for k, v in times.items()}
        print(f"{args.mib} MiB over loopback, median of {args.repeat} "
              f"(gateway: paramiko, {cipher}; client: OpenSSH sftp, its default cipher):")
        for way, g, c in (("download", "gw_get", "cl_get"), ("upload", "gw_put", "cl_put")):
            ratio = rate[g] / rate[c]
            print(f"  {way:8}: gateway {rate[g]:6.1f} MiB/s "
                  f"({', '.join(f'{s:.2f}' for s in times[g])} s), sftp client {rate[c]:6.1f} "
                  f"MiB/s ({', '.join(f'{s:.2f}' for s in times[c])} s); "
                  f"ratio {ratio:.2f} (target >= 0.5)")
        src.unlink()
        up_src.unlink()

        n = args.files
        many = keys.folder(server.home, "many")
        header = b"ARTICLE;DEPOT;QTE_VIRTUELLE;DATE_MAJ\r\n"
        start = time.perf_counter()
        for i in range(n):
            with open(many / f"stock_{i:05d}.csv", "wb") as fh:
                fh.write(header + f"ART-{i:05d};MAIN;{i % 90},000;28/11/2026 09:15\r\n"
                         .encode())
        made = time.perf_counter() - start
        cfg = first_file_config(keys, server, local / "ws", many)
        r = child(FIRST_FILE, str(cfg))
        first = float(r["SECONDS"])
        print(f"{n} files in an SFTP folder (made in {made:.1f} s): first file processed "
              f"{first:.2f} s after the gateway started ({r['PROCESSED']} in the first batch; "
              f"one listing of {r['LISTED']} entries: {float(r['LIST_S']):.2f} s); "
              f"target <= 10 s")
    finally:
        if server is not None:
            server.stop()
        cleanup(keys)
        shutil.rmtree(local, ignore_errors=True)


if __name__ == "__main__":
    main()
