"""The crash drill: ``gateway run`` as a child process over files of every flow, killed
with SIGKILL at random moments and restarted, while the partners keep dropping files and
taking what is delivered. At the end its results are compared with those of a gateway
that was never killed, fed the same files in the same order.

Shared by ``tests/drills/test_crash.py`` (CI size) and ``benchmarks/drill_crash.py``
(the long run). The seed fixes the files and the kill delays; the interleaving of kills,
arrivals and the gateway's work is left to the machine, as a real crash would.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

from gateway import demo
from gateway.config import load
from gateway.pipeline.runner import Gateway
from gateway.transports.readiness import is_temporary

ROOT = Path(__file__).resolve().parents[2]
FINAL = ("PROCESSED", "REJECTED", "DUPLICATE")
INBOXES = {"erp_in": "inbox/erp", "shop_in": "inbox/shop", "buyer_in": "inbox/buyer"}
OUTBOXES = {"erp_out": "outbox/erp", "shop_out": "outbox/shop", "buyer_out": "outbox/buyer"}
T0 = datetime(2026, 11, 28, 6, 0)


def workspace(root: Path) -> Path:
    """The demo's workspace (every flow, the B2B buyer's EANCOM channels included)."""
    return demo.local_workspace(root, poll_interval="100ms", min_age="0s", catalogue=True,
                                edi=True)


# -- the files the partners send ---------------------------------------------------------------
@dataclass(frozen=True)
class Input:
    endpoint: str  # erp_in, shop_in or buyer_in
    name: str
    data: bytes


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    price: Decimal  # gross, for the shop's orders
    family: str
    ean: str = ""


PRODUCTS = [
    Product("CHAISE-ÉTÉ-01", "Chaise d'été", Decimal("89.90"), "FAM04", "3760123450010"),
    Product("TABLE-CHÊNE-180", "Table en chêne 180 cm", Decimal("899.00"), "FAM05", "96385074"),
    Product("LAMPE-LAITON", "Lampe en laiton", Decimal("124.90"), "FAM03", "036000291452"),
    *(Product(f"ART-{k:03d}", f"Article {k}", Decimal(10 * k) + Decimal("0.90"),
              f"FAM0{2 + k % 4}") for k in range(1, 9)),
]
WAREHOUSES = ("MAGASIN", "ENTREPÔT")
CATEGORY_TREE = [("FAM01", "", "Maison", "Home"), ("FAM02", "FAM01", "Mobilier", "Furniture"),
                 ("FAM03", "FAM01", "Luminaires", "Lighting"),
                 ("FAM04", "FAM02", "Chaises", "Chairs"), ("FAM05", "FAM02", "Tables", "Tables")]
CUSTOMERS_HEADER = demo.CUSTOMERS.split("\r\n", 1)[0] + "\r\n"
PRICES_HEADER = demo.PRICES.split("\r\n", 1)[0] + "\r\n"
CATALOGUE_HEADER = demo.CATALOGUE.split("\r\n", 1)[0] + "\r\n"
CATEGORIES_HEADER = demo.CATEGORIES.split("\r\n", 1)[0] + "\r\n"
STATUS_HEADER = demo.STATUS.split("\r\n", 1)[0] + "\r\n"
CENT = Decimal("0.01")


def _fr(q: Decimal, places: int = 3) -> str:
    """A quantity or an amount as the ERP writes it: ``12,500``."""
    return f"{q:.{places}f}".replace(".", ",")


def _when(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).strftime("%d/%m/%Y %H:%M")


@dataclass
class _Order:
    shop: str
    number: str
    lines: list[tuple[Product, int]]  # (product, quantity)
    paid: bool


class InputMaker:
    """A stream of distinct files of every flow, as partners send them: master data first,
    then stock exports (some with bad lines, some with the wrong columns, some sent twice),
    overlapping Shopify order exports (repeated, changed, unpaid, not adding up), order
    statuses (accepted, partial, blocked, for unknown orders), price lists (some older than
    what is held), full catalogue and category exports, the buyer's EANCOM orders (some
    interchanges sent again)."""

    KINDS = {"stock": 30, "orders": 22, "status": 10, "prices": 10, "edi": 8,
             "catalogue": 6, "categories": 5, "customers": 3, "stock_again": 3, "edi_again": 3}

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.seq = 0
        self.minute = 0
        self.orders: list[_Order] = []
        self.sent: dict[str, list[bytes]] = {"stock": [], "edi": []}
        self.customers = 0
        self.interchanges = 0

    def make(self, count: int) -> list[Input]:
        first = ["customers", "categories", "catalogue", "prices"]
        kinds, weights = zip(*self.KINDS.items(), strict=True)
        out = []
        for i in range(count):
            kind = first[i] if i < len(first) else self.rng.choices(kinds, weights)[0]
            if kind.endswith("_again") and not self.sent[kind[:-6]]:
                kind = kind[:-6]
            self.seq += 1
            self.minute += self.rng.randint(1, 3)
            out.append(getattr(self, f"_{kind}")())
        return out

    def _name(self, prefix: str, ext: str = "csv") -> str:
        return f"{prefix}_{self.seq:05d}.{ext}"

    def _erp(self, prefix: str, text: str) -> Input:
        return Input("erp_in", self._name(prefix), text.encode("cp1252"))

    # ERP → gateway
    def _stock(self) -> Input:
        rng = self.rng
        at = self.minute - (rng.randint(10, 60) if rng.random() < 0.1 else 0)  # older
        rows = [f"{p.sku};{wh};{_fr(Decimal(rng.randint(0, 60000)) / 1000)};{_when(at)}"
                for p in rng.sample(PRODUCTS, rng.randint(1, 5))
                for wh in WAREHOUSES if rng.random() < 0.7]
        rows = rows or [f"{PRODUCTS[0].sku};MAGASIN;{rng.randint(0, 50)},000;{_when(at)}"]
        if rng.random() < 0.1:  # a bad line: the file is partly accepted
            rows.insert(rng.randrange(len(rows) + 1), f"ART-001;MAGASIN;douze;{_when(at)}")
        header = demo.HEADER
        if rng.random() < 0.05:  # the wrong columns: rejected whole
            header = "ARTICLE;DEPOT;QUANTITE;DATE_MAJ\r\n"
        text = header + "".join(r + "\r\n" for r in rows)
        self.sent["stock"].append(text.encode("cp1252"))
        return self._erp("stock", text)

    def _stock_again(self) -> Input:
        """An export sent again under another name: a duplicate."""
        return Input("erp_in", self._name("stock"), self.rng.choice(self.sent["stock"]))

    def _prices(self) -> Input:
        rng = self.rng
        rows = []
        for p in rng.sample(PRODUCTS, rng.randint(1, 4)):
            gross = (p.price * Decimal(rng.randint(90, 110)) / 100).quantize(CENT)
            net = (gross / Decimal("1.2")).quantize(CENT)
            at = self.minute - (rng.randint(10, 60) if rng.random() < 0.1 else 0)
            start, end = "01/01/2026", ""
            if rng.random() < 0.08:  # ends before it starts: that line refused
                start, end = "01/12/2026", "30/11/2026"
            price_list = rng.choice(("GÉNÉRAL", "GÉNÉRAL", "PRO"))
            rows.append(f"{p.sku};{price_list};EUR;{_fr(net, 2)};{_fr(gross, 2)};{start};{end};"
                        f";;;{_when(at)}")
        return self._erp("prices", PRICES_HEADER + "".join(r + "\r\n" for r in rows))

    def _catalogue(self) -> Input:
        """A full export: a product left out is withdrawn; one in an unknown family is
        refused alone."""
        rng = self.rng
        rows = []
        for p in PRODUCTS:
            if rng.random() < 0.1:
                continue
            family = "FAM09" if rng.random() < 0.05 else p.family
            weight = _fr(Decimal(rng.randint(500, 40000)) / 1000)
            rows.append(f"{p.sku};{p.ean};{p.name};{p.name} (en);;{p.name}, version "
                        f"{rng.randint(1, 3)}.;;Atelier Dupré;{family};N20;{weight};kg;O;"
                        f"{rng.choice(('', '3', '5', '10'))}")
        return self._erp("catalogue", CATALOGUE_HEADER + "".join(r + "\r\n" for r in rows))

    def _categories(self) -> Input:
        """The whole tree, sometimes renamed, sometimes without the lighting family."""
        rng = self.rng
        version = rng.randint(1, 3)
        drop = "FAM03" if rng.random() < 0.15 else None
        rows = [f"{cid};{parent};{fr if version == 1 else f'{fr} ({version})'};"
                f"{en if parent else f'{en} (edition {self.seq})'};{i};O"
                for i, (cid, parent, fr, en) in enumerate(CATEGORY_TREE, 1) if cid != drop]
        return self._erp("categories", CATEGORIES_HEADER + "".join(r + "\r\n" for r in rows))

    def _customers(self) -> Input:
        self.customers += self.rng.randint(1, 2)
        rows = [demo.CUSTOMERS.split("\r\n")[1]]
        rows += [f"C{9000 + k};client{k}@example.com;;Client {k};;;{k} rue Haute;;75001;Paris;"
                 f"FR;Client {k};{k} rue Haute;;75001;Paris;FR" for k in range(self.customers)]
        return self._erp("customers", CUSTOMERS_HEADER + "".join(r + "\r\n" for r in rows))

    def _status(self) -> Input:
        """Statuses of orders sent earlier (accepted, partial or blocked), now and then one
        for an order the gateway never saw."""
        rng = self.rng
        rows = []
        paid = [o for o in self.orders if o.paid]
        for o in rng.sample(paid, min(len(paid), rng.randint(1, 3))):
            for n, (p, qty) in enumerate(o.lines, 1):
                state = rng.choice(("ACCEPTEE", "ACCEPTEE", "PARTIELLE", "BLOQUEE"))
                confirmed = {"ACCEPTEE": qty, "PARTIELLE": qty - 1 if qty > 1 else 0,
                             "BLOQUEE": 0}[state]
                later = "" if state == "ACCEPTEE" else "12/12/2026"
                reason = ";" if state == "ACCEPTEE" else "STOCK;Stock insuffisant"
                rows.append(f"{o.shop};{o.number};{n};{p.sku};{state};{confirmed};"
                            f"{qty - confirmed};{later};{reason};{_when(self.minute)}")
        if not rows or rng.random() < 0.1:
            rows.append(f"shopify;#9{self.seq:04d};1;ART-001;ACCEPTEE;1;0;;;;"
                        f"{_when(self.minute)}")
        return self._erp("status", STATUS_HEADER + "".join(r + "\r\n" for r in rows))

    # shop → gateway
    def _new_order(self) -> _Order:
        rng = self.rng
        lines = [(p, rng.randint(1, 3)) for p in rng.sample(PRODUCTS, rng.randint(1, 2))]
        order = _Order("shopify", f"#{3000 + len(self.orders)}", lines, rng.random() < 0.85)
        self.orders.append(order)
        return order

    def _shopify_row(self, o: _Order, *, paid: bool, wrong_total: bool = False
                     ) -> tuple[dict[str, str], list[tuple[str, str, str, str, str]]]:
        k = int(o.number[1:]) % 7
        email = "anne.martin@example.com" if k == 0 else f"client{k}@example.com"
        shipping = Decimal("4.90") if k % 2 else Decimal("0.00")
        total = sum((p.price * q for p, q in o.lines), Decimal(0)) + shipping
        if wrong_total:
            total += Decimal("1.00")
        fields = demo._order(o.number, email, "paid" if paid else "pending", f"{total:.2f}",
                             f"{shipping:.2f}", f"Client {k}", f"{k} avenue du Parc",
                             "69003", "Lyon")
        return fields, [(str(q), p.name, f"{p.price:.2f}", p.sku, "0.00") for p, q in o.lines]

    def _orders(self) -> Input:
        """An export window: new orders, often one from the previous window again (the
        same, paid since, or changed), now and then one that does not add up."""
        rng = self.rng
        rows = []
        earlier = [o for o in self.orders if o.shop == "shopify"][-6:]
        if earlier and rng.random() < 0.5:
            old = rng.choice(earlier)
            if rng.random() < 0.25 and old.paid:  # changed after it was forwarded
                p, q = old.lines[0]
                changed = _Order(old.shop, old.number, [(p, q + 1)] + old.lines[1:], True)
                rows.append(self._shopify_row(changed, paid=True))
            else:
                old.paid = old.paid or rng.random() < 0.7  # an unpaid order gets paid
                rows.append(self._shopify_row(old, paid=old.paid))
        for _ in range(rng.randint(1, 2)):
            o = self._new_order()
            rows.append(self._shopify_row(o, paid=o.paid, wrong_total=rng.random() < 0.05))
        return Input("shop_in", self._name("orders"), demo._shopify(*rows).encode("utf-8"))

    # the B2B buyer → gateway
    def _edi(self) -> Input:
        """The buyer's EANCOM ORDERS: a new interchange, its own quantities and totals."""
        rng = self.rng
        self.interchanges += 1
        n = self.interchanges
        chairs, lamps = rng.randint(1, 3), rng.randint(1, 2)
        total = Decimal("74.92") * chairs + Decimal("104.08") * lamps
        chair_qty, lamp_qty = "CHAISE-ÉTÉ-01:SA'\r\nQTY+21:", "LAMPE-LAITON:SA'\r\nQTY+21:"
        text = (demo.BUYER_ORDERS.replace("BUY000117", f"BUY{n:06d}")
                .replace("PO-2026-0117", f"PO-2026-{n:04d}")
                .replace(f"{chair_qty}2'", f"{chair_qty}{chairs}'")
                .replace(f"{lamp_qty}1'", f"{lamp_qty}{lamps}'")
                .replace("253.92", f"{total:.2f}"))
        chair, lamp = PRODUCTS[0], PRODUCTS[2]
        self.orders.append(_Order(demo.BUYER, f"PO-2026-{n:04d}",
                                  [(chair, chairs), (lamp, lamps)], True))
        data = text.encode("latin-1")
        self.sent["edi"].append(data)
        return Input("buyer_in", self._name("orders", "edi"), data)

    def _edi_again(self) -> Input:
        """An interchange sent again under another name: its orders are not applied twice."""
        return Input("buyer_in", self._name("orders", "edi"), self.rng.choice(self.sent["edi"]))


def make_inputs(seed: int, count: int) -> list[Input]:
    return InputMaker(random.Random(seed)).make(count)


# -- the partners: one drops files, the other takes what is delivered ---------------------------
def drop(ws: Path, item: Input) -> None:
    """As a well-behaved partner: a temporary name, then the final one."""
    folder = ws / INBOXES[item.endpoint]
    tmp = folder / f".{item.name}.part"
    tmp.write_bytes(item.data)
    tmp.rename(folder / item.name)


class Partners:
    """Drops the inputs at random moments in a thread, and takes every file delivered
    under a final name as soon as it appears (as an ERP importing its folder would), so
    that a file delivered twice under the same name is seen twice."""

    def __init__(self, ws: Path, inputs: list[Input], rng: random.Random, gap: float) -> None:
        self.ws = ws
        self.todo = list(inputs)
        self.rng = rng
        self.gap = gap
        self.taken = ws.parent / (ws.name + "-taken")
        for endpoint in OUTBOXES:
            (self.taken / endpoint).mkdir(parents=True, exist_ok=True)
        self.count = 0
        self.dropped = 0
        self._lock = threading.Lock()
        self._rush = threading.Event()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._feed, daemon=True),
                         threading.Thread(target=self._take, daemon=True)]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def _feed(self) -> None:
        while self.todo and not self._stop.is_set():
            if not self._rush.is_set():
                self._rush.wait(self.rng.expovariate(1 / self.gap))
            self.burst(1 if self.rng.random() < 0.7 else self.rng.randint(2, 6))

    def burst(self, count: int) -> None:
        """Drop the next ``count`` files now."""
        with self._lock:
            for _ in range(count):
                if self.todo:
                    drop(self.ws, self.todo.pop(0))
                    self.dropped += 1

    def _take(self) -> None:
        while not self._stop.wait(0.02):
            self.sweep()

    def sweep(self) -> None:
        for endpoint, folder in OUTBOXES.items():
            try:
                names = sorted(os.listdir(self.ws / folder))
            except FileNotFoundError:
                continue
            for name in names:
                if is_temporary(name):
                    continue
                self.count += 1
                try:
                    os.rename(self.ws / folder / name,
                              self.taken / endpoint / f"{self.count:06d}#{name}")
                except FileNotFoundError:
                    pass

    def finish_dropping(self) -> None:
        """Drop what is left at once."""
        self._rush.set()
        self._threads[0].join()

    def stop(self) -> None:
        self._stop.set()
        self._rush.set()
        for t in self._threads:
            t.join()
        self.sweep()

    def received(self) -> dict[str, list[tuple[str, bytes]]]:
        """Per endpoint, every file taken: (name, bytes), in the order taken."""
        out: dict[str, list[tuple[str, bytes]]] = {}
        for endpoint in OUTBOXES:
            for p in sorted((self.taken / endpoint).iterdir()):
                out.setdefault(endpoint, []).append((p.name.split("#", 1)[1], p.read_bytes()))
        return out


# -- the gateway as a child process -------------------------------------------------------------
def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep)
    return env


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """One ``gateway`` command, to its end."""
    return subprocess.run([sys.executable, "-m", "gateway", "--config", str(config), *args],
                          env=_env(), capture_output=True, text=True, cwd=ROOT, timeout=300)


class Served:
    """``gateway run`` in a child process; ``working`` is set when it first reports a
    file received (its output unbuffered, copied to the drill's log)."""

    def __init__(self, config: Path, log: BinaryIO) -> None:
        self.working = threading.Event()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "--config", str(config), "run"],
            env={**_env(), "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE, stderr=log,
            cwd=ROOT)
        self._reader = threading.Thread(target=self._read, args=(log,), daemon=True)
        self._reader.start()

    def _read(self, log: BinaryIO) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            log.write(line)
            if b" received" in line:
                self.working.set()

    def kill(self) -> int:
        self.proc.send_signal(signal.SIGKILL)
        code = self.proc.wait()
        self._reader.join()
        return code


def _ledger_file(ws: Path) -> Path:
    return ws / "state" / "ledger.sqlite3"


def in_flight(ws: Path) -> Counter[str]:
    """What a kill interrupted, read while the gateway is down: archive temp files,
    inputs committed but not settled or not processed, outputs not yet delivered, and
    staged temporary files in the outboxes."""
    found: Counter[str] = Counter()
    tmp = ws / "archive" / "tmp"
    found["archive temp files"] = len(os.listdir(tmp)) if tmp.exists() else 0
    found["staged temp files"] = sum(1 for folder in OUTBOXES.values()
                                     for n in os.listdir(ws / folder) if is_temporary(n))
    if _ledger_file(ws).exists():
        # read only: a reader that closes last would checkpoint the WAL the kill left
        db = sqlite3.connect(f"file:{_ledger_file(ws)}?mode=ro", uri=True, timeout=10)
        try:
            for what, sql in (
                    ("inputs not settled", "SELECT COUNT(*) FROM exchanges WHERE"
                     " direction='in' AND settled_at IS NULL"),
                    ("inputs not processed", "SELECT COUNT(*) FROM exchanges WHERE"
                     " direction='in' AND state='RECEIVED'"),
                    ("outputs not delivered", "SELECT COUNT(*) FROM exchanges WHERE"
                     " direction='out' AND state IN ('PENDING', 'STAGED')")):
                found[what] = db.execute(sql).fetchone()[0]
        except sqlite3.OperationalError:
            pass  # killed before its first migration
        finally:
            db.close()
    return +found


# -- comparing with a gateway that was never killed ---------------------------------------------
def exchanges(config: Path) -> list[dict[str, Any]]:
    """Every exchange, as ``gateway archive list --json`` shows it."""
    r = cli(config, "archive", "list", "--json")
    if r.returncode != 0:
        raise AssertionError(f"gateway archive list failed: {r.stderr}")
    return json.loads(r.stdout)  # type: ignore[no-any-return]


def processing_order(ws: Path) -> list[int]:
    """Input exchange ids in the order they reached their final state."""
    db = sqlite3.connect(_ledger_file(ws))
    try:
        rows = db.execute(
            "SELECT t.exchange_id FROM transitions t JOIN exchanges e ON e.id = t.exchange_id"
            " WHERE e.direction = 'in' AND t.to_state IN (?, ?, ?) ORDER BY t.id", FINAL)
        return [r[0] for r in rows]
    finally:
        db.close()


def replay(ws: Path, inputs: list[Input], channels: list[str], batch_size: int) -> None:
    """Feed a fresh workspace, never killed, the inputs in the given order: a run per
    group of consecutive files of one channel whose names sort in that order (a poll
    takes the ready files of a channel by name)."""
    config = workspace(ws)
    groups: list[list[Input]] = []
    last: tuple[str, str] | None = None
    for item, channel in zip(inputs, channels, strict=True):
        if (last is None or last[0] != channel or item.name <= last[1]
                or len(groups[-1]) >= batch_size):
            groups.append([])
        groups[-1].append(item)
        last = (channel, item.name)
    with Gateway(load(config)) as gw:
        for group in groups:
            for item in group:
                drop(ws, item)
            gw.run_once(settle_timeout=5.0)


class Normaliser:
    """What may differ between two runs of the same files, and nothing else: exchange ids
    (given as they are created, and a killed gateway creates them in another rhythm) are
    replaced by the name of the input they stand for; the time an input was received
    (quoted in its acknowledgement, and the date of the EDI interchanges made from it) by
    a placeholder."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.inputs = {r["id"]: r for r in rows if r["direction"] == "in"}
        self.by_name = {(r["endpoint"], r["file_name"]): r for r in rows
                        if r["direction"] == "out"}

    def _input_name(self, m: re.Match[bytes]) -> bytes:
        x = self.inputs.get(int(m.group(2)))
        name = f"<{x['file_name']}>" if x else f"<unknown {m.group(2).decode()}>"
        return m.group(1) + name.encode() + m.group(3)

    def output(self, endpoint: str, name: str, data: bytes) -> tuple[str, str, bytes]:
        out = self.by_name.get((endpoint, name))
        if out is None:
            return endpoint, f"<not in the ledger> {name}", data
        src = self.inputs[out["source_id"]]
        name = name.replace(f"{src['id']:06d}", f"<{src['file_name']}>")
        data = re.sub(rb'(exchange=")(\d+)(")', self._input_name, data)
        data = re.sub(rb"(<duplicateOf>)(\d+)(</duplicateOf>)", self._input_name, data)
        data = re.sub(rb"(exchange )(\d+)(\b)", self._input_name, data)
        data = data.replace(f'received="{src["created_at"]}"'.encode(), b'received="<T>"')
        if data.startswith((b"UNA", b"UNB", b"ISA")):  # EDI: dated when its source came
            at = datetime.fromisoformat(src["created_at"])
            for fmt in ("%y%m%d:%H%M", "%Y%m%d:%H%M", "%Y%m%d%H%M", "%Y%m%d"):
                data = data.replace(at.strftime(fmt).encode(), f"<{fmt}>".encode())
        return endpoint, name, data


# -- the drill ----------------------------------------------------------------------------------
@dataclass
class Report:
    seed: int
    files: int
    kills: int = 0
    interrupted: int = 0  # kills that left work in flight
    in_flight: Counter[str] = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    partial: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    ledger_vs_disk: list[str] = field(default_factory=list)
    verify: str = ""
    outcomes: Counter[str] = field(default_factory=Counter)
    outputs: int = 0
    seconds: float = 0.0
    drill_seconds: float = 0.0

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated or self.partial or self.mismatched
                    or self.ledger_vs_disk or self.verify)

    def figures(self) -> str:
        states = ", ".join(f"{n} {s.lower()}" for s, n in sorted(self.outcomes.items()))
        left = ", ".join(f"{n} {what}" for what, n in sorted(self.in_flight.items()))
        return (f"crash drill (seed {self.seed}): {self.files} files ({states}), "
                f"{self.outputs} outputs delivered, {self.kills} kills "
                f"({self.interrupted} with work in flight: {left or 'none'}); "
                f"lost {len(self.lost)}, duplicated {len(self.duplicated)}, "
                f"partial {len(self.partial)}, mismatched {len(self.mismatched)}, "
                f"ledger vs disk {len(self.ledger_vs_disk)}; "
                f"{self.seconds:.0f} s ({self.drill_seconds:.0f} s under kills)")

    def problems(self) -> str:
        parts = []
        for what in ("lost", "duplicated", "partial", "mismatched", "ledger_vs_disk"):
            items = getattr(self, what)
            if items:
                parts.append(f"{what}: " + "; ".join(items[:20]))
        if self.verify:
            parts.append(f"archive verify: {self.verify}")
        return "\n".join(parts)


def run_drill(root: Path, *, files: int, kills: int, seed: int, up: tuple[float, float]
              = (0.2, 1.5), say: Callable[[str], None] = print, verbose: bool = False
              ) -> Report:
    """Kill the gateway ``kills`` times while ``files`` files arrive, finish with
    ``gateway run --once``, then check every invariant against a run never killed."""
    start = time.monotonic()
    report = Report(seed, files)
    say(f"crash drill: seed {seed}, {files} files, {kills} kills")
    inputs = make_inputs(seed, files)
    rng = random.Random(f"{seed}/kills")
    ws = root / "drilled"
    config = workspace(ws)
    # about half the files arrive while the gateway is down, half while it runs (in
    # groups of 1.9 files on average)
    burst = files // (2 * max(kills, 1))
    partners = Partners(ws, inputs, random.Random(f"{seed}/arrivals"),
                        gap=kills * sum(up) / 2 * 1.9 / max(files - burst * kills, 1))
    partners.start()
    with open(root / "gateway.log", "ab") as log:
        try:
            for k in range(kills):
                served = Served(config, log)
                if rng.random() < 0.4:  # any moment: starting, recovering, idle or busy
                    time.sleep(rng.uniform(*up))
                else:  # a moment while it works on files it has just taken
                    served.working.wait(up[1])
                    time.sleep(rng.uniform(0.0, 0.2))
                if served.kill() != -signal.SIGKILL:
                    raise AssertionError(f"the gateway ended by itself before kill {k + 1}: "
                                         f"see {root / 'gateway.log'}")
                report.kills += 1
                left = in_flight(ws)
                report.interrupted += bool(left)
                report.in_flight.update(left)
                if verbose:
                    say(f"kill {k + 1}: {', '.join(f'{n} {w}' for w, n in left.items())}")
                partners.burst(rng.randint(0, 2 * burst))  # arriving while it is down
            report.drill_seconds = time.monotonic() - start
            partners.finish_dropping()
            _finish(config, ws, inputs, log)
        finally:
            partners.stop()
    _check(root, ws, config, inputs, partners, report)
    report.seconds = time.monotonic() - start
    say(report.figures())
    return report


def _finish(config: Path, ws: Path, inputs: list[Input], log: BinaryIO) -> None:
    """``gateway run --once`` until no input waits in an inbox and every exchange is
    final (an input lost on the way is then counted by the checks, not waited for)."""
    for _ in range(20):
        r = cli(config, "run", "--once")
        log.write(r.stdout.encode() + r.stderr.encode())
        if r.returncode not in (0, 1):
            raise AssertionError(f"gateway run --once exited {r.returncode}: {r.stderr}")
        waiting = [i.name for i in inputs if (ws / INBOXES[i.endpoint] / i.name).exists()]
        busy = [(x["id"], x["file_name"], x["state"]) for x in exchanges(config)
                if x["state"] in ("RECEIVED", "PENDING", "STAGED")]
        if not waiting and not busy:
            return
    raise AssertionError(f"not idle after 20 runs: {waiting[:5]} waiting, {busy[:5]}")


def _check(root: Path, ws: Path, config: Path, inputs: list[Input], partners: Partners,
           report: Report) -> None:
    rows = exchanges(config)
    ins = [r for r in rows if r["direction"] == "in"]
    outs = [r for r in rows if r["direction"] == "out"]

    # each input: exactly one exchange, in a final state, its source settled
    per_name = Counter((r["endpoint"], r["file_name"]) for r in ins)
    for item in inputs:
        n = per_name[(item.endpoint, item.name)]
        if n == 0:
            report.lost.append(f"input {item.name}: no exchange")
        elif n > 1:
            report.duplicated.append(f"input {item.name}: {n} exchanges")
    for r in ins:
        report.outcomes[r["state"]] += 1
        if r["state"] not in FINAL or not r["settled_at"]:
            report.lost.append(f"input {r['file_name']}: {r['state']}, settled "
                               f"{r['settled_at']}")
    dropped = {(i.endpoint, i.name) for i in inputs}
    for endpoint, name in per_name.keys() - dropped:
        report.duplicated.append(f"input {endpoint}/{name}: an exchange for no file sent")

    # the same files, in the same order, through a gateway never killed
    by_name = {(i.endpoint, i.name): i for i in inputs}
    rank = {xid: n for n, xid in enumerate(processing_order(ws))}
    ordered = sorted((r for r in ins if (r["endpoint"], r["file_name"]) in by_name),
                     key=lambda r: (rank.get(r["id"], len(rank)), r["id"]))
    ref_ws = root / "reference"
    replay(ref_ws, [by_name[(r["endpoint"], r["file_name"])] for r in ordered],
           [r["channel"] for r in ordered], load(config).batch_size)
    ref_rows = exchanges(ref_ws / "gateway.toml")
    ref_states = {r["file_name"]: r["state"] for r in ref_rows if r["direction"] == "in"}
    for r in ins:
        if ref_states.get(r["file_name"]) != r["state"]:
            report.mismatched.append(f"input {r['file_name']}: {r['state']}, never killed: "
                                     f"{ref_states.get(r['file_name'])}")
    ref_norm = Normaliser(ref_rows)
    expected = {(e, n): d for e, n, d in (
        ref_norm.output(endpoint, p.name, p.read_bytes())
        for endpoint, folder in OUTBOXES.items()
        for p in sorted((ref_ws / folder).iterdir()) if p.is_file())}
    norm = Normaliser(rows)
    got: dict[tuple[str, str], list[bytes]] = {}
    received = partners.received()
    for endpoint, files in received.items():
        for name, data in files:
            e, n, d = norm.output(endpoint, name, data)
            got.setdefault((e, n), []).append(d)
    report.outputs = sum(len(v) for v in got.values())

    # each expected output exactly once, whole, with the content the unkilled run gave
    for key, data in expected.items():
        if key not in got:
            report.lost.append(f"output {key[0]}/{key[1]}")
    for key, copies in got.items():
        if key not in expected:
            report.duplicated.append(f"unexpected output {key[0]}/{key[1]}")
            continue
        if len(copies) > 1:
            report.duplicated.append(f"output {key[0]}/{key[1]} delivered {len(copies)} times")
        for d in copies:
            if d != expected[key]:
                (report.partial if expected[key].startswith(d) else report.mismatched).append(
                    f"output {key[0]}/{key[1]}: {len(d)} bytes, never killed: "
                    f"{len(expected[key])} bytes{_first_difference(d, expected[key])}")

    # nothing temporary left visible; the archive sound
    for folder in (*OUTBOXES.values(), *INBOXES.values()):
        for p in (ws / folder).rglob("*"):
            if p.is_file() and is_temporary(p.name):
                report.partial.append(f"temporary file left: {p.relative_to(ws)}")
    leftovers = list((ws / "archive" / "tmp").iterdir())
    if leftovers:
        report.partial.append(f"{len(leftovers)} temporary files left in archive/tmp")
    verify = cli(config, "archive", "verify")
    if verify.returncode != 0:
        report.verify = (verify.stdout + verify.stderr).strip()[-2000:]

    # ledger rows against files on disk
    blobs = {p.parent.name + p.name for p in (ws / "archive" / "sha256").glob("*/*")}
    referenced = {r["sha256"] for r in rows if r["sha256"]}
    for what, digests in (("archived but in no exchange", blobs - referenced),
                          ("in the ledger but not archived", referenced - blobs)):
        if digests:
            report.ledger_vs_disk.append(f"{len(digests)} blob(s) {what}: "
                                         f"{sorted(digests)[:3]}")
    for endpoint in OUTBOXES:
        delivered = sorted(r["file_name"] for r in outs if r["endpoint"] == endpoint
                           and r["state"] == "DELIVERED")
        on_disk = sorted(n for n, _ in received.get(endpoint, []))
        if delivered != on_disk:
            report.ledger_vs_disk.append(
                f"{endpoint}: {len(delivered)} outputs delivered in the ledger, "
                f"{len(on_disk)} files received")
    for endpoint, folder in INBOXES.items():
        settled = sum(1 for r in ins if r["endpoint"] == endpoint and r["sha256"])
        moved = sum(1 for p in (ws / folder / "processed").glob("*")) \
            if (ws / folder / "processed").exists() else 0
        visible = [n for n in os.listdir(ws / folder) if (ws / folder / n).is_file()]
        if settled != moved or visible:
            report.ledger_vs_disk.append(f"{endpoint}: {settled} inputs in the ledger, "
                                         f"{moved} in processed/, {visible[:5]} left")


def _first_difference(a: bytes, b: bytes) -> str:
    i = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return f"; first difference at byte {i}: {a[max(0, i - 40):i + 40]!r} vs " \
           f"{b[max(0, i - 40):i + 40]!r}"
