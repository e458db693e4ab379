"""A long fuzzing campaign over every reader: the fuzz tests run again and again under the
``long`` Hypothesis profile (random examples, failures kept in the example database) until
the time asked for has passed, and the examples each reader ran and what failed are
summed up.

    python -m tests.fuzz.campaign --minutes 30 --examples 3000 --out /tmp/campaign

Each round is one ``pytest`` run of ``test_fuzz_readers.py`` and ``test_fuzz_edi.py`` with
``GATEWAY_FUZZ=long GATEWAY_FUZZ_EXAMPLES=<examples>`` (a test runs its weight's share of
them, see ``harness.budget``), each drawing new random examples; its output is kept in
``<out>/round-N.log`` and the summary in ``<out>/summary.json``. A failure is shrunk by
Hypothesis and printed with its minimal input in the round's log; the example database
(``GATEWAY_FUZZ_DB``, else ``$TMPDIR/gateway-fuzz-examples``) replays it first in the next
round and in any later ``GATEWAY_FUZZ=long`` run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FILES = ("tests/fuzz/test_fuzz_readers.py", "tests/fuzz/test_fuzz_edi.py")

# reader of a parametrised test, by its parameter
KINDS = {
    "csv": ("erp_stock_csv", "erp_catalogue_csv", "erp_categories_csv", "erp_customers_csv",
            "erp_order_status_csv", "erp_prices_csv", "shopify_orders_csv",
            "headerless_stock_csv"),
    "fixed width": ("fixed_prices",),
    "multi-record": ("erp_prices_fixed", "multirecord_prices_csv"),
    "xml": ("canonical_stock_in", "canonical_prices_in", "canonical_catalogue_in",
            "canonical_categories_in", "canonical_customers_in",
            "canonical_order_status_in", "canonical_orders_in"),
    "edifact": ("edifact", "edifact_orders_d96a", "edifact_orders_d01b"),
    "x12": ("x12", "x12_850"),
}
# reader of a test without a reader parameter, by its name
NAMED = (("test_fixed_width", "fixed width"), ("_csv_", "csv"), ("test_xml", "xml"),
         ("edifact", "edifact"), ("x12", "x12"), ("isa", "x12"))

STAT = re.compile(r"^(tests/fuzz/\S+::\S+):$")
PHASE = re.compile(r"- during (\w+) phase \(([\d.]+) seconds\)")
COUNTS = re.compile(r"(\d+) passing, (\d+) failing, and (\d+) invalid")


def kind_of(test_id: str) -> str:
    params = re.search(r"\[(.*)\]$", test_id)
    for part in (params.group(1).split("-") if params else ()):
        for kind, names in KINDS.items():
            if part in names:
                return kind
    name = test_id.split("::")[-1].lower()
    for needle, kind in NAMED:
        if needle in name:
            return kind
    return "other"


def parse(log: str) -> dict[str, dict[str, float]]:
    """Per test: examples generated, passing, failing, invalid, and seconds spent."""
    out: dict[str, dict[str, float]] = {}
    current = None
    phase = ""
    for line in log.splitlines():
        line = line.strip()
        m = STAT.match(line)
        if m:
            current = m.group(1)
            out[current] = {"generated": 0, "passing": 0, "failing": 0, "invalid": 0,
                            "seconds": 0.0}
            continue
        if current is None:
            continue
        m = PHASE.search(line)
        if m:
            phase = m.group(1)
            out[current]["seconds"] += float(m.group(2))
            continue
        m = COUNTS.search(line)
        if m:
            passing, failing, invalid = map(int, m.groups())
            s = out[current]
            s["passing"] += passing
            s["failing"] += failing
            s["invalid"] += invalid
            if phase in ("generate", "reuse", "explicit"):
                s["generated"] += passing + failing
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--examples", type=int, default=3000,
                    help="GATEWAY_FUZZ_EXAMPLES of each round")
    ap.add_argument("--out", type=Path, default=Path("/tmp/gateway-fuzz-campaign"))
    ap.add_argument("--db", type=Path, default=None, help="GATEWAY_FUZZ_DB")
    ap.add_argument("--tests", nargs="+", default=list(FILES),
                    help="test files or ids to run (default: every reader's)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, GATEWAY_FUZZ="long", GATEWAY_FUZZ_EXAMPLES=str(args.examples))
    if args.db is not None:
        env["GATEWAY_FUZZ_DB"] = str(args.db)
    started = time.time()
    rounds = []
    per_test: dict[str, Counter[str]] = {}
    known: set[str] = set()   # tests marked as broken by a known gateway bug (xfail)
    while time.time() - started < args.minutes * 60:
        n = len(rounds) + 1
        t0 = time.time()
        proc = subprocess.run(
            # no --hypothesis-seed: a seeded run neither reads nor writes the database
            [sys.executable, "-m", "pytest", *args.tests, "-q", "-p", "no:cacheprovider",
             "--hypothesis-show-statistics", "-rfExX"],
            cwd=ROOT, env=env, capture_output=True, text=True)
        log = proc.stdout + proc.stderr
        (args.out / f"round-{n}.log").write_text(log, encoding="utf-8")
        stats = parse(log)
        for test, s in stats.items():
            per_test.setdefault(test, Counter()).update(s)
        failed = sorted(set(re.findall(r"^FAILED (\S+)", log, re.M)))
        xpassed = sorted(set(re.findall(r"^XPASS (\S+)", log, re.M)))
        known.update(re.findall(r"^XFAIL (\S+)", log, re.M))
        tail = log.strip().splitlines()[-1] if log.strip() else ""
        rounds.append({"round": n, "seconds": round(time.time() - t0, 1),
                       "exit": proc.returncode, "failed": failed, "xpassed": xpassed,
                       "result": tail})
        print(f"round {n}: {rounds[-1]['seconds']} s, exit {proc.returncode}, {tail}",
              flush=True)
        summary = {
            "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
            "seconds": round(time.time() - started, 1), "examples_setting": args.examples,
            "tests": args.tests,
            "rounds": rounds, "known_bug_tests": sorted(known),
            "per_reader": {}, "per_test": {t: dict(c) for t, c in sorted(per_test.items())}}
        readers: dict[str, Counter[str]] = {}
        for test, c in per_test.items():
            c = Counter(c)
            if test in known:  # its failures are a known bug's, counted apart
                c["known_bug_failing"] = c.pop("failing", 0)
            readers.setdefault(kind_of(test), Counter()).update(c)
        summary["per_reader"] = {k: dict(v) for k, v in sorted(readers.items())}
        (args.out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return 0 if all(r["exit"] == 0 for r in rounds) else 1


if __name__ == "__main__":
    sys.exit(main())
