"""Many small stock files dropped at once, each processed durably.

Each file is archived (sha256, durable), committed to the ledger, mapped, validated,
applied, and produces a PrestaShop CSV, a canonical XML and an acknowledgement, all
delivered write-then-rename. Floor: writing + fsyncing + renaming three 2 KB files per
input, one at a time, in the same run. Target: >= 300 files/s.

    python benchmarks/bench_small_files.py [--files 2000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from _common import RUN_GATEWAY, run_child, workspace

FLOOR = """
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
data = b"x" * 2048
for i in range(n * 3):
    tmp, final = f"{d}/.f{i}.part", f"{d}/f{i}"
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.rename(tmp, final)
fd = os.open(d, os.O_RDONLY)
os.fsync(fd)
os.close(fd)
"""


def small_file(i: int) -> bytes:
    rows = "".join(f"ART-{i:05d}-{k};MAGASIN;{(i + k) % 90},000;28/11/2026 09:{k:02d}\r\n"
                   for k in range(5))
    return ("ARTICLE;DEPOT;QTE_VIRTUELLE;DATE_MAJ\r\n" + rows).encode("cp1252")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=2000)
    args = ap.parse_args()
    n = args.files
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as d:
        tmp = Path(d)
        floor_dir = tmp / "floor"
        floor_dir.mkdir()
        floor_s, _ = run_child(FLOOR, str(floor_dir), str(n))
        ws = tmp / "ws"
        cfg = workspace(ws, batch=200)
        inbox = ws / "inbox/erp"
        for i in range(n):
            (inbox / f".stock_{i:05d}.csv.part").write_bytes(small_file(i))
        for i in range(n):  # dropped at once: renamed in, as partners should
            os.rename(inbox / f".stock_{i:05d}.csv.part", inbox / f"stock_{i:05d}.csv")
        os.sync()
        start = time.perf_counter()
        gw_s, gw_rss = run_child(RUN_GATEWAY, str(cfg))
        assert time.perf_counter() - start >= gw_s * 0.99
        produced = len(list((ws / "outbox/shop").iterdir()))
        acks = len(list((ws / "outbox/erp").iterdir()))
        floor_rate = n / floor_s
        rate = n / gw_s
        print(f"{n} files: gateway {gw_s:.2f} s = {rate:.0f} files/s ({gw_rss:.0f} MB), "
              f"{produced} outputs + {acks} acks; floor (3 durable writes per file) "
              f"{floor_s:.2f} s = {floor_rate:.0f} files/s")
        print(f"files/s: {rate:.0f} (target >= 300); ratio to floor: {rate / floor_rate:.2f}")


if __name__ == "__main__":
    main()
