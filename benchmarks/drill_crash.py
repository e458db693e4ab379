"""The long crash drill: ``gateway run`` killed with SIGKILL at random moments, many
times, while files of every flow keep arriving; then every invariant is checked against
a gateway never killed (the driver is ``tests/drills/crashdrill.py``, which the CI-sized
``tests/drills/test_crash.py`` runs too).

    python benchmarks/drill_crash.py --files 500 --kills 100 [--seed N] [--keep DIR] [-v]

Exits 1 if anything was lost, duplicated, partial or different.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.drills.crashdrill import run_drill  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=500)
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--seed", type=int, default=None, help="replay a printed seed")
    ap.add_argument("--keep", type=Path, default=None,
                    help="run in this (new) folder and keep it, to look around after")
    ap.add_argument("-v", "--verbose", action="store_true", help="what each kill left")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    if args.keep:
        args.keep.mkdir(parents=True)
        report = run_drill(args.keep, files=args.files, kills=args.kills, seed=seed,
                           verbose=args.verbose)
    else:
        with tempfile.TemporaryDirectory(prefix="gateway-drill-") as d:
            report = run_drill(Path(d), files=args.files, kills=args.kills, seed=seed,
                               verbose=args.verbose)
    if not report.clean:
        print(report.problems())
        raise SystemExit(1)


if __name__ == "__main__":
    main()
