"""A 20 MB EANCOM ORDERS interchange: tokenized and parsed to canonical orders by the
gateway, against pydifact parsing the same file, in the same run.

Three steps, each in a child process of its own (time and peak RSS of that process):
the gateway's syntax reader alone (segments and envelopes, every count checked), the
gateway's whole read (syntax reader, message trees, the shipped ``edifact_orders_d96a``
mapping to canonical order records), and pydifact's ``Interchange.from_file`` with its
messages walked. pydifact only tokenizes, so the whole read is the fair comparison and the
syntax-only step shows what the mapping costs. Target: the whole read >= 10x pydifact's
throughput, peak RSS <= 100 MB.

    pip install pydifact     # the benchmark's own dependency, not the gateway's
    python benchmarks/bench_edifact.py [--mb 20] [--repeated]
"""

from __future__ import annotations

import argparse
import random
import re
import tempfile
from pathlib import Path

from _common import ROOT, run_child

SAMPLE = ROOT / "tests" / "data" / "edifact" / "orders_d96a.edi"

SYNTAX = """
import sys
from gateway.formats import edifact
from gateway.formats.edi import Message
n = 0
with open(sys.argv[1], "rb") as src:
    for ev in edifact.events(src, "orders.edi"):
        if isinstance(ev, Message):
            assert ev.ok, ev.problems
            n += 1
print(f"  gateway syntax: {n} messages", flush=True)
"""

WHOLE = """
import sys
from gateway.config import resource_dir
from gateway.mapping.loader import load_mapping_file
from gateway.mapping.reader import ProblemSink, read_records
m = load_mapping_file(resource_dir("mappings") / "edifact_orders_d96a.toml")
sink = ProblemSink()
n = lines = 0
with open(sys.argv[1], "rb") as src:
    for _line, rec in read_records(m, src, "orders.edi", sink):
        n += 1
        lines += len(rec["lines"])
assert not sink, sink.items[:3]
print(f"  gateway orders: {n} orders, {lines} lines", flush=True)
"""

PYDIFACT = """
import sys
from pydifact.segmentcollection import Interchange
ic = Interchange.from_file(sys.argv[1], encoding="iso8859-1")
n = sum(1 for _ in ic.get_messages())
print(f"  pydifact: {n} messages", flush=True)
"""


def generate(path: Path, mb: float, varied: bool = True) -> int:
    """One interchange of the sample's messages repeated up to ``mb`` megabytes, each
    with its own reference and order number and, ``varied``, its own values as a real
    buyer's orders have them (articles out of 5,000, quantities, prices, names, dates): a
    reader that caches what it has seen gains nothing from repetition. The number of
    messages."""
    data = SAMPLE.read_bytes()
    head, rest = data.split(b"UNH+", 1)
    body = b"UNH+" + rest[:rest.rindex(b"UNZ+")]
    messages = [b"UNH+" + m for m in body.split(b"UNH+")[1:]]
    rnd = random.Random(20261128)

    def sku(_m: re.Match[bytes]) -> bytes:
        return b"PIA+5+ART-%05d:SA'" % rnd.randrange(5000)

    def qty(_m: re.Match[bytes]) -> bytes:
        return b"QTY+21:%d'" % rnd.randrange(1, 500)

    def price(m: re.Match[bytes]) -> bytes:
        return b"%s:%d.%02d'" % (m.group(1), rnd.randrange(1, 900), rnd.randrange(100))

    def day(m: re.Match[bytes]) -> bytes:
        return b"%s:2026%02d%02d" % (m.group(1), rnd.randrange(1, 13), rnd.randrange(1, 29))

    def name(m: re.Match[bytes]) -> bytes:
        return m.group(1) + b" %d" % rnd.randrange(100_000)

    target = int(mb * 1_000_000)
    n = size = 0
    with open(path, "wb") as out:
        out.write(head)
        while size < target:
            for m in messages:
                n += 1
                text = re.sub(rb"UNH\+\d+\+", b"UNH+%d+" % n, m)
                text = re.sub(rb"UNT\+(\d+)\+\d+'", rb"UNT+\1+%d'" % n, text)
                text = re.sub(rb"PO-2026-\d+", b"PO-%09d" % n, text)
                if varied:
                    text = re.sub(rb"PIA\+5\+[^:']+:SA'", sku, text)
                    text = re.sub(rb"QTY\+21:\d+'", qty, text)
                    text = re.sub(rb"(PRI\+AA[AB]|MOA\+20[34]):[\d.]+'", price, text)
                    text = re.sub(rb"(DTM\+137):\d{8}", day, text)
                    text = re.sub(rb"(IMD\+F\+\+:::[^']+)", name, text)
                    text = re.sub(rb"(CTA\+OC\+:[^']+)", name, text)
                out.write(text)
                size += len(text)
        control = re.search(rb"UNB\+[^']*?\+[^+']*\+[^+']*\+[^+']*\+([^+']+)", head)
        assert control is not None
        out.write(b"UNZ+%d+%s'\r\n" % (n, control.group(1)))
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, default=20.0)
    ap.add_argument("--repeated", action="store_true",
                    help="the sample's values repeated instead of varied ones")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "orders.edi"
        n = generate(path, args.mb, varied=not args.repeated)
        mb = path.stat().st_size / 1e6
        print(f"{mb:.1f} MB, {n} ORDERS messages")
        runs = {}
        for name, code in (("syntax", SYNTAX), ("whole", WHOLE), ("pydifact", PYDIFACT)):
            runs[name] = run_child(code, str(path))
        for name, (secs, rss) in runs.items():
            print(f"{name:9s} {secs:7.2f} s  {mb / secs:6.2f} MB/s  peak RSS {rss:6.1f} MB")
        floor = runs["pydifact"][0]
        print(f"throughput vs pydifact: syntax {floor / runs['syntax'][0]:.1f}x, "
              f"whole read {floor / runs['whole'][0]:.1f}x (target >= 10x); "
              f"peak RSS of the whole read {runs['whole'][1]:.0f} MB (target <= 100 MB)")


if __name__ == "__main__":
    main()
