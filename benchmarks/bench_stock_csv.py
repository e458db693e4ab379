"""A large ERP stock export through the real pipeline, against the floor of csv in/out.

Pipeline: pickup, archive (sha256, durable), ledger, reader mapping, XSD validation with
lxml, stock positions, PrestaShop CSV and canonical XML writers, ack, delivery.
Floor: the same file read with csv.reader and written with csv.writer.
Targets: ratio <= 4, peak RSS <= 150 MB, RSS at 4M rows <= 1.2 x RSS at 1M rows.

    python benchmarks/bench_stock_csv.py [--rows 1000000] [--large 4000000]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from _common import FLOOR_CSV, RUN_GATEWAY, run_child, stock_export, workspace


def measure(tmp: Path, rows: int) -> tuple[float, float, float, float]:
    src = tmp / f"stock_{rows}.csv"
    stock_export(src, rows)
    size_mb = src.stat().st_size / 1e6
    floor_s, floor_rss = run_child(FLOOR_CSV, str(src), str(tmp / "floor_out.csv"))
    ws = tmp / f"ws_{rows}"
    cfg = workspace(ws)
    shutil.copy(src, ws / "inbox/erp" / src.name)
    gw_s, gw_rss = run_child(RUN_GATEWAY, str(cfg))
    print(f"{rows:>9,} rows ({size_mb:.0f} MB): floor {floor_s:6.2f} s ({floor_rss:5.0f} MB)"
          f"  gateway {gw_s:6.2f} s ({gw_rss:5.0f} MB)  ratio {gw_s / floor_s:4.2f}")
    shutil.rmtree(ws)
    src.unlink()
    return floor_s, gw_s, floor_rss, gw_rss


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--large", type=int, default=4_000_000, help="0 to skip")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as d:
        tmp = Path(d)
        f1, g1, _, rss1 = measure(tmp, args.rows)
        if args.large:
            _, _, _, rss4 = measure(tmp, args.large)
            print(f"RSS at {args.large:,} rows / RSS at {args.rows:,} rows: {rss4 / rss1:.2f}"
                  " (target <= 1.2)")
        print(f"ratio at {args.rows:,} rows: {g1 / f1:.2f} (target <= 4); peak RSS "
              f"{rss1:.0f} MB (target <= 150)")

if __name__ == "__main__":
    main()
