"""Helpers shared by the benchmarks: run a step in a child process, time it, read its RSS."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from gateway.demo import local_workspace  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _tree_rss_kb(pid: int) -> int:
    """Resident memory of a process and all its descendants (worker processes included)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo += [int(c) for c in fh.read().split()]
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


def run_child(code: str, *args: str) -> tuple[float, float]:
    """Run ``python -c code args``; return (seconds, peak RSS in MB of it and its workers).

    The peak is sampled every 20 ms over the whole process tree, and is at least the
    kernel's own peak for the child."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, *args], env=env)
    peak = 0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            break
        peak = max(peak, _tree_rss_kb(proc.pid))
        time.sleep(0.02)
    elapsed = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"benchmark step failed with status {status}")
    return elapsed, max(peak, usage.ru_maxrss) / 1024


def stock_export(path: Path, rows: int) -> None:
    """An ERP stock export as the ERP writes it: cp1252, ';', CRLF, decimal comma."""
    warehouses = ("MAGASIN", "ENTREPÔT", "NORD", "SUD")
    with open(path, "w", encoding="cp1252", newline="") as fh:
        fh.write("ARTICLE;DEPOT;QTE_VIRTUELLE;DATE_MAJ\r\n")
        lines = []
        for i in range(rows):
            sku = f"ART-{i // 4:07d}"
            wh = warehouses[i % 4]
            # mostly whole units, one line in ten a fraction (goods sold by weight)
            frac = f"{(i * 7) % 1000:03d}" if i % 10 == 0 else "000"
            qty = f"{(i * 37) % 500},{frac}"
            when = f"{1 + i % 28:02d}/11/2026 {8 + i % 10:02d}:{(i * 13) % 60:02d}"
            lines.append(f"{sku};{wh};{qty};{when}\r\n")
            if len(lines) >= 50_000:
                fh.write("".join(lines))
                lines = []
        fh.write("".join(lines))


FLOOR_CSV = """
import csv, sys
src, dst = sys.argv[1], sys.argv[2]
with open(src, encoding="cp1252", newline="") as fi, open(dst, "w", encoding="utf-8", newline="") as fo:
    w = csv.writer(fo, delimiter=";")
    for row in csv.reader(fi, delimiter=";"):
        w.writerow(row)
"""

def workspace(root: Path, batch: int = 200) -> Path:
    return local_workspace(root, poll_interval="50ms", pattern="*.csv", settle="delete",
                           batch_size=batch)


RUN_GATEWAY = """
import sys
from gateway.config import load
from gateway.pipeline.runner import Gateway
with Gateway(load(sys.argv[1])) as gw:
    s = gw.run_once(settle_timeout=10.0)
bad = [o for o in s.outcomes if o.result != "accepted"]
if bad or s.failures:
    raise SystemExit(f"unexpected outcome: {bad} {s.failures}")
print(f"  gateway: {s.received} file(s) received, {len(s.outcomes)} processed, "
      f"{s.delivered} output(s) delivered", flush=True)
"""
