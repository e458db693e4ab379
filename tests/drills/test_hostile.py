"""Hostile inputs: every file of tests/data/hostile/MANIFEST.toml dropped at once, beside
good files, on every kind of channel, in one run of the gateway. Each gets its located
error or its refusal and its acknowledgement; nothing crashes, nothing is lost, nothing
reaches the network or the disk outside the gateway's folders, and the good files are
delivered as if the hostile ones were not there."""

from __future__ import annotations

import csv
import hashlib
import http.server
import io
import logging
import os
import re
import threading
import tomllib
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from typer.testing import CliRunner

from gateway.cli import app
from gateway.config import load
from gateway.demo import CATEGORIES, _order, _shopify
from gateway.model import Direction, ExchangeState
from gateway.pipeline.context import ledger_path
from gateway.pipeline.runner import Gateway
from gateway.store.archive import Archive
from gateway.store.ledger import Exchange, Ledger
from gateway.transports.local import LocalTransport
from gateway.transports.sftp import _Client

from tests.pipeline.test_bad_inputs import read_ack
from tests.sshd import Keys, Sshd
from tests.transports.test_sftp import keys, server  # noqa: F401 - the real sshd fixtures

HOSTILE = Path(__file__).resolve().parent.parent / "data" / "hostile"
MANIFEST: list[dict[str, Any]] = tomllib.loads(
    (HOSTILE / "MANIFEST.toml").read_text("utf-8"))["file"]
ENTRY_IDS = [e["name"].encode("ascii", "backslashreplace").decode() for e in MANIFEST]

CONFIG = """\
[gateway]
workspace = "."
poll_interval = "50ms"
min_age = "0s"

[endpoints.erp_in]
path = "inbox/erp"
[endpoints.shop_in]
path = "inbox/shop"
[endpoints.erp_out]
path = "outbox/erp"
[endpoints.shop_out]
path = "outbox/shop"

[channels.erp_categories_in]
direction = "in"
endpoint = "erp_in"
pattern = "categories_*.csv"
document = "categories"
mapping = "erp_categories_csv"
ack_endpoint = "erp_out"

[channels.erp_catalogue_in]
direction = "in"
endpoint = "erp_in"
pattern = "catalogue_*.csv"
document = "catalogue"
mapping = "erp_catalogue_csv"
ack_endpoint = "erp_out"

[channels.erp_prices_in]
direction = "in"
endpoint = "erp_in"
pattern = "prices_*.csv"
document = "prices"
mapping = "erp_prices_csv"
ack_endpoint = "erp_out"

[channels.erp_prices_fixed_in]
direction = "in"
endpoint = "erp_in"
pattern = "prices_*.txt"
document = "prices"
mapping = "erp_prices_fixed"
ack_endpoint = "erp_out"

[channels.erp_stock_in]
direction = "in"
endpoint = "erp_in"
pattern = "stock_*.csv"
document = "stock"
mapping = "erp_stock_csv"
ack_endpoint = "erp_out"
empty_grace = "0s"
max_size = "512MB"
max_records = 100

[channels.xml_stock_in]
direction = "in"
endpoint = "erp_in"
pattern = "stock_*.xml"
document = "stock"
mapping = "canonical_stock_in"
ack_endpoint = "erp_out"

[channels.shop_orders_in]
direction = "in"
endpoint = "shop_in"
pattern = "orders_*.csv"
document = "orders"
mapping = "shopify_orders_csv"
ack_endpoint = "shop_out"

[channels.shop_categories_csv]
direction = "out"
endpoint = "shop_out"
document = "categories"
mapping = "prestashop_categories_csv"
filename = "categories_{exchange}.csv"

[channels.shop_products_csv]
direction = "out"
endpoint = "shop_out"
document = "catalogue"
mapping = "prestashop_products_csv"
filename = "products_{exchange}.csv"

[channels.shop_prices_csv]
direction = "out"
endpoint = "shop_out"
document = "prices"
mapping = "prestashop_prices_csv"
filename = "prices_{exchange}.csv"

[channels.shop_stock_csv]
direction = "out"
endpoint = "shop_out"
document = "stock"
mapping = "prestashop_stock_csv"
filename = "stock_{exchange}.csv"

[channels.shop_stock_xml]
direction = "out"
endpoint = "shop_out"
document = "stock"
mapping = "canonical_stock_xml"
filename = "stock_{exchange}.xml"

[channels.erp_orders_txt]
direction = "out"
endpoint = "erp_out"
document = "orders"
mapping = "erp_orders_csv"
filename = "orders_{exchange}.txt"
"""

# EDI purchase orders from buyers (EANCOM, X12 850), dropped in the same inbox folder
CONFIG += """
[channels.edifact_orders_in]
direction = "in"
endpoint = "erp_in"
pattern = "orders_*.edi"
document = "orders"
mapping = "edifact_orders_d96a"
ack_endpoint = "erp_out"
payment = "any"
prices_include_tax = false

[channels.x12_orders_in]
direction = "in"
endpoint = "erp_in"
pattern = "orders_*.x12"
document = "orders"
mapping = "x12_850"
ack_endpoint = "erp_out"
payment = "any"
prices_include_tax = false
"""

T = "28/11/2026 09:15"
STOCK_HEADER = "ARTICLE;DEPOT;QTE_VIRTUELLE;DATE_MAJ\r\n"


def stock(*rows: str) -> bytes:
    return (STOCK_HEADER + "".join(r + "\r\n" for r in rows)).encode("cp1252")


def _fixed_line(sku: str) -> str:
    return f"L{sku:<20}000004158000004990" + "20260101" + "0" * 8 + " " * 9 + "0" * 16


# Good files dropped beside the hostile ones, one per kind of channel: each must come out
# as if it were alone. Name → (inbox, bytes).
GOOD: dict[str, tuple[str, bytes]] = {
    "categories_good.csv": ("erp", CATEGORIES.encode("cp1252")),
    "stock_good.csv": ("erp", stock(f"GOOD-1;MAIN;5,000;{T}", f"GOOD-2;MAIN;2,500;{T}")),
    "stock_good.xml": ("erp", b'<?xml version="1.0" encoding="UTF-8"?>\n<stock><item>'
                       b"<sku>GOOD-X</sku><warehouse>MAIN</warehouse><quantity>7</quantity>"
                       b"<as_of>2026-11-28T09:15:00+01:00</as_of></item></stock>\n"),
    "prices_good.txt": ("erp", ("HGÉNÉRAL   EUR20261128091500\r\n" + _fixed_line("GOOD-F")
                                + "\r\nT000001\r\n").encode("cp1252")),
    "orders_good.csv": ("shop", _shopify(
        (_order("#G1", "g1@example.com", "paid", "24.90", "4.90", "Anne Martin",
                "3 rue Neuve", "69003", "Lyon"), [("1", "Mug", "20.00", "MUG-001", "0.00")])
    ).encode("utf-8")),
}


# -- files too big to commit, or with names no checkout can hold -------------------------
def _ten_thousand_columns(path: Path) -> None:
    path.write_bytes((";".join(f"C{i}" for i in range(10_000)) + "\r\n"
                      + ";".join("x" for _ in range(10_000)) + "\r\n").encode("ascii"))


def _ten_mb_line(path: Path) -> None:
    path.write_bytes(stock(f"L10-A;MAIN;1,000;{T}", "A" * (10 * 1024 * 1024) + f";MAIN;1,000;{T}"))


def _long_field(path: Path) -> None:
    path.write_bytes(stock(f"L20-A;MAIN;1,000;{T}", "B" * (200 * 1024) + f";MAIN;1,000;{T}",
                           f"L20-C;MAIN;1,000;{T}"))


def _sparse_1gb(path: Path) -> None:
    path.write_bytes(b"")
    os.truncate(path, 1 << 30)  # sparse: no disk used


def _deep_nesting(path: Path) -> None:
    depth = 100_000
    path.write_bytes(b'<?xml version="1.0"?>\n<stock>' + b"<item>" * depth
                     + b"</item>" * depth + b"</stock>\n")


def _named(raw_name: bytes, sku: str) -> Callable[[Path], Path]:
    """A file whose name is given as raw bytes (newline, escape, a Latin-1 byte)."""
    def make(folder: Path) -> Path:
        path = os.fsencode(folder) + b"/" + raw_name
        with open(path, "wb") as fh:
            fh.write(stock(f"{sku};MAIN;1,000;{T}"))
        return Path(os.fsdecode(path))
    return make


GENERATED: dict[str, Callable[[Path], None]] = {
    "ten_thousand_columns": _ten_thousand_columns, "ten_mb_line": _ten_mb_line,
    "long_field": _long_field, "sparse_1gb": _sparse_1gb, "deep_nesting": _deep_nesting}
EDI_SAMPLES = Path(__file__).resolve().parent.parent / "data"


def edi_orders(sample: str, tag: str) -> bytes:
    """An EDI order sample with order numbers and control references of its own."""
    data = (EDI_SAMPLES / sample).read_bytes()
    return (data.replace(b"PO-2026-000", f"PO-{tag}-".encode())
            .replace(b"CI000451", f"CI{tag}".encode())
            .replace(b"PO-US-100", f"PO-{tag}-".encode()))


HUGE_SEGMENT = 5 * 1024 * 1024


def _edi_huge_segment(path: Path) -> None:
    """EANCOM orders whose second message has a 5 MB IMD (item description) segment."""
    data = edi_orders("edifact/orders_d96a.edi", "H3")
    imd = b"IMD+F++:::T-shirt"
    at = data.index(imd)
    path.write_bytes(data[:at] + b"IMD+F++:::" + b"A" * HUGE_SEGMENT
                     + data[at + len(imd):])


GENERATED["edi_huge_segment"] = _edi_huge_segment
GOOD["orders_good.edi"] = ("erp", edi_orders("edifact/orders_d96a.edi", "G1"))
GOOD["orders_good.x12"] = ("erp", edi_orders("x12/850.x12", "G2"))

NAMED: dict[str, Callable[[Path], Path]] = {
    "newline_name": _named(b"stock_new\nline.csv", "N-1"),
    "escape_name": _named(b"stock_\x1b[2Jescape.csv", "N-2"),
    "latin1_name": _named(b"stock_lat\xe9.csv", "N-3")}


@dataclass
class Run:
    root: Path
    ledger: Ledger
    dropped: dict[str, tuple[Path, bytes | None]]   # ledger name → (path, content or None)
    opened: list[str]                                # names the gateway read from inboxes
    logs: list[str]
    http_requests: list[str]
    exchanges: dict[str, Exchange] = field(default_factory=dict)

    def ack(self, x: Exchange) -> Path:
        acks = [o for o in self.ledger.outputs_of(x.id) if o.kind == "ack"]
        assert len(acks) == 1, acks
        folder = "outbox/shop" if x.channel == "shop_orders_in" else "outbox/erp"
        return self.root / folder / acks[0].file_name

    def output(self, x: Exchange, channel: str) -> Path:
        """What ``channel`` made of ``x``: delivered, once."""
        (out,) = [o for o in self.ledger.outputs_of(x.id)
                  if o.kind == "document" and o.channel == channel]
        assert out.state is ExchangeState.DELIVERED
        folder = "outbox/erp" if channel.startswith("erp_") else "outbox/shop"
        return self.root / folder / out.file_name


class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        self.lines.append(text)
        if record.levelno >= logging.ERROR:
            self.errors.append(text)


@pytest.fixture(scope="module")
def http_server() -> Iterator[tuple[int, list[str]]]:
    """A server that would hand out a DTD or an entity's text: it must never be asked."""
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the standard library's name
            requests.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'<!ENTITY leak "LEAKED-FROM-THE-NETWORK">')

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1], requests
    httpd.shutdown()
    thread.join()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, http_server: tuple[int, list[str]]
        ) -> Iterator[Run]:
    port, requests = http_server
    root = tmp_path_factory.mktemp("hostile")
    for sub in ("inbox/erp", "inbox/shop", "outbox/erp", "outbox/shop"):
        (root / sub).mkdir(parents=True)
    (root / "gateway.toml").write_text(CONFIG, encoding="utf-8")
    dropped: dict[str, tuple[Path, bytes | None]] = {}
    for name, (box, data) in GOOD.items():
        (root / "inbox" / box / name).write_bytes(data)
        dropped[name] = (root / "inbox" / box / name, data)
    for e in MANIFEST:
        box = root / "inbox" / ("shop" if e["channel"] == "shop_orders_in" else "erp")
        how = e.get("generate")
        if how in NAMED:
            path = NAMED[how](box)
        else:
            path = box / e["name"]
            if how is not None:
                GENERATED[how](path)
            else:
                data = (HOSTILE / e["name"]).read_bytes()
                path.write_bytes(data.replace(b"{PORT}", str(port).encode()))
        # the sparse file is never read, not even by the test
        dropped[e["name"]] = (path, None if how == "sparse_1gb" else path.read_bytes())
    opened: list[str] = []
    real_open = LocalTransport.open

    def recording_open(self: LocalTransport, name: str) -> Any:
        opened.append(name)
        return real_open(self, name)

    recorder = _Recorder()
    logger = logging.getLogger("gateway")
    saved_level = logger.level
    logger.addHandler(recorder)
    logger.setLevel(logging.DEBUG)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(LocalTransport, "open", recording_open)
            with Gateway(load(root / "gateway.toml")) as gw:
                gw.run_once(settle_timeout=2.0)
    finally:
        logger.removeHandler(recorder)
        logger.setLevel(saved_level)
    assert recorder.errors == []  # no file made the gateway fail (a bug, not bad data)
    ledger = Ledger(ledger_path(load(root / "gateway.toml")))
    r = Run(root, ledger, dropped, opened, recorder.lines, requests)
    for x in ledger.list_exchanges(direction=Direction.IN):
        assert x.file_name not in r.exchanges, f"{x.file_name} was taken twice"
        r.exchanges[x.file_name] = x
    yield r
    ledger.close()


def test_every_file_dropped_has_exactly_one_exchange_and_none_is_left(run: Run) -> None:
    assert sorted(run.exchanges) == sorted(run.dropped)
    assert [(n, x.attempts, x.last_error) for n, x in run.exchanges.items()
            if x.state is ExchangeState.RECEIVED or x.attempts or x.last_error] == []
    # the inboxes hold nothing but the quarantine folder
    for box in ("erp", "shop"):
        left = sorted(p.name for p in (run.root / "inbox" / box).iterdir())
        assert left in ([], ["quarantine"]), left


@pytest.mark.parametrize("entry", MANIFEST, ids=ENTRY_IDS)
def test_hostile_file_is_located_refused_and_acknowledged(run: Run, entry: dict[str, Any]
                                                          ) -> None:
    x = run.exchanges[entry["name"]]
    outcome = entry["outcome"]
    result = "rejected" if outcome == "quarantined" else outcome
    state = (ExchangeState.PROCESSED if outcome in ("accepted", "partial")
             else ExchangeState.REJECTED)
    assert (x.channel, x.state, x.result) == (entry["channel"], state, result)
    ack = read_ack(run.ack(x))
    assert ack.result == result
    assert ack.file["name"] == entry["name"]
    if "records" in entry:
        total, accepted, rejected = entry["records"]
        assert (ack.records["total"], ack.records["accepted"], ack.records["rejected"]) == (
            str(total), str(accepted), str(rejected))
        assert (x.records_total, x.records_accepted, x.records_rejected) == (
            total, accepted, rejected)
    if outcome in ("accepted",):
        assert ack.errors == []
    else:
        assert ack.errors, "a refused or partial file says why"
    for want in entry.get("errors", []):
        found = [e for e in ack.errors  # no line given: libxml2 decides where it stopped
                 if e[0] == want.get("line", e[0]) and e[1] == want.get("field")
                 and (want["message"] in e[3] if "message" in want
                      else re.search(want["pattern"], e[3]))]
        assert found, f"{want} not among {ack.errors}"
    path, data = run.dropped[entry["name"]]
    archive = Archive.in_workspace(run.root)
    if outcome == "quarantined":  # refused unread: moved aside whole, never archived
        assert x.sha256 == ""
        assert [e[0] for e in ack.errors] == [None]  # a file not read has no line
        assert path.name not in run.opened
        kept = path.parent / "quarantine" / f"{path.name}.{x.id}"
        assert kept.stat().st_size == x.size == (path.stat().st_size if path.exists()
                                                 else kept.stat().st_size)
        if data is not None:
            assert kept.read_bytes() == data
    else:  # read once, archived as received: nothing that arrived is lost
        assert data is not None and x.sha256 == hashlib.sha256(data).hexdigest()
        with archive.open(x.sha256) as fh:
            assert fh.read() == data


def test_the_good_files_beside_them_are_delivered(run: Run) -> None:
    for name in GOOD:
        x = run.exchanges[name]
        assert (x.state, x.result) == (ExchangeState.PROCESSED, "accepted"), name
        assert read_ack(run.ack(x)).result == "accepted"
    assert run.output(run.exchanges["stock_good.csv"], "shop_stock_csv").read_text("utf-8") == (
        "Reference #;Quantity\nGOOD-1;5\nGOOD-2;2\n")
    assert "GOOD-X;7" in run.output(run.exchanges["stock_good.xml"], "shop_stock_csv").read_text()
    assert "GOOD-F;41.58;49.90" in run.output(run.exchanges["prices_good.txt"],
                                              "shop_prices_csv").read_text("utf-8")
    assert "E;shopify;#G1;" in run.output(run.exchanges["orders_good.csv"],
                                          "erp_orders_txt").read_text("cp1252")
    assert "Chaises" in run.output(run.exchanges["categories_good.csv"],
                                   "shop_categories_csv").read_text("utf-8")


def _cells(path: Path, delimiter: str = ";", encoding: str = "utf-8") -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding)), delimiter=delimiter))


def test_formula_cells_reach_the_shop_and_the_erp_as_text(run: Run) -> None:
    x = run.exchanges["stock_formula_cells.csv"]
    assert _cells(run.output(x, "shop_stock_csv"))[1:] == [
        ["'+SUM(1+1)*cmd|' /C calc'!A0", "2"], ["'-2+3+cmd|' /C calc'!A0", "3"],
        ["'=cmd|' /C calc'!A0", "1"], ["'@SUM(1+1)*cmd|' /C calc'!A0", "4"],
        ["S13-PLAIN", "5"]]
    # the canonical XML is no spreadsheet: it keeps the SKU as received
    xml = etree.parse(str(run.output(x, "shop_stock_xml")))
    assert "=cmd|' /C calc'!A0" in xml.xpath("//sku/text()")

    products = _cells(run.output(run.exchanges["catalogue_formula_cells.csv"], "shop_products_csv"))
    header = products[0]
    rows = {r[header.index("Reference #")]: dict(zip(header, r, strict=True))
            for r in products[1:]}
    assert {k: rows["C01-A"][k] for k in ("Name *", "Manufacturer", "Summary", "Description")
            } == {"Name *": "'=cmd|' /C calc'!A0",
                  "Manufacturer": "'+HYPERLINK(\"http://x.invalid\",\"x\")",
                  "Summary": "'@SUM(1+1)", "Description": "'-1+cmd|' /C calc'!A0"}
    # numbers and phone numbers stay as they are
    assert (rows["C01-B"]["Name *"], rows["C01-B"]["Manufacturer"]) == (
        "-5", "+33 1 23 45 67 89")

    prices = _cells(run.output(run.exchanges["prices_formula_cells.csv"], "shop_prices_csv"))
    assert prices[1][0] == "'=cmd|' /C calc'!A0"

    erp = _cells(run.output(run.exchanges["orders_formula_cells.csv"], "erp_orders_txt"),
                 encoding="cp1252")
    customer = next(r for r in erp if r[0] == "C")
    line = next(r for r in erp if r[0] == "L")
    assert customer[4] == "'=cmd|' /C calc'!A0"
    assert line[3] == "'@SUM(1+1)*cmd|' /C calc'!A0"
    # no cell of any delivered CSV starts with what a spreadsheet would run
    for folder in ("outbox/shop", "outbox/erp"):
        for path in (run.root / folder).iterdir():
            if path.suffix in (".csv", ".txt"):
                for row in _cells(path, encoding="cp1252" if folder == "outbox/erp"
                                  else "utf-8"):
                    assert [c for c in row if c and c[0] in "=@\t\r"] == [], (path.name, row)


def _everything_written(run: Run) -> list[str]:
    """Every output, ack, log line and ledger text of the run."""
    texts = [p.read_bytes().decode("utf-8", "replace")
             for folder in ("outbox/shop", "outbox/erp") for p in (run.root / folder).iterdir()]
    texts += run.logs
    for x in run.exchanges.values():
        texts += [p.message + (p.value or "") for p in run.ledger.problems(x.id)]
        texts += [x.note or "", x.last_error or ""]
    return texts


def test_entities_and_dtds_are_never_fetched_nor_expanded(run: Run) -> None:
    assert run.http_requests == []
    first_line = Path("/etc/passwd").read_text().splitlines()[0]
    assert first_line
    leaks = [t for t in _everything_written(run)
             if first_line in t or "LEAKED-FROM-THE-NETWORK" in t]
    assert leaks == []


def test_hostile_names_are_shown_escaped_everywhere(run: Run) -> None:
    control = re.compile("[\x00-\x08\x0b-\x1f\x7f]")  # no escape, no BEL: tab/newline aside
    for x in run.exchanges.values():
        assert not control.search(x.file_name) and "\n" not in x.file_name
    for folder in ("outbox/shop", "outbox/erp"):
        for p in (run.root / folder).iterdir():
            assert re.fullmatch(r"[A-Za-z0-9_.-]+", p.name), p.name
    assert [line for line in run.logs if control.search(line)] == []
    assert [line for line in run.logs if "stock_new\nline" in line] == []
    cli = CliRunner()
    for args in (["archive", "list"], ["rejected", "list"], ["rejected", "list", "--json"]):
        r = cli.invoke(app, ["--config", str(run.root / "gateway.toml"), *args])
        assert r.exit_code == 0, r.output
        assert not control.search(r.stdout), args
        assert "stock_new\\x0aline.csv" in r.stdout.replace("\\\\", "\\")


def test_the_oversize_file_was_refused_before_a_byte_was_read(run: Run) -> None:
    x = run.exchanges["stock_sparse_1gb.csv"]
    assert (x.size, x.sha256) == (1 << 30, "")
    assert "stock_sparse_1gb.csv" not in run.opened
    assert "stock_good.csv" in run.opened  # the recording saw what was read
    kept = run.root / "inbox/erp/quarantine" / f"stock_sparse_1gb.csv.{x.id}"
    assert kept.stat().st_size == 1 << 30  # moved aside whole, for an operator to look at


# -- names from a remote listing ----------------------------------------------------------
OUTSIDE = stock(f"OUTSIDE-1;MAIN;9,000;{T}")


def test_a_remote_listing_never_leads_outside_its_folder(
        keys: Keys, server: Sshd, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A hostile SFTP server lists names that point elsewhere: ``../x``, an absolute path,
    ``a/../../x``, a NUL. None is read, moved or deleted, nor becomes a local path; a real
    name with a newline is refused unread and acknowledged; the good file goes through."""
    home = keys.folder(server.home, "hostile_listing")
    inbox = keys.folder(home, "in")
    outside = keys.put(home / "outside.csv", OUTSIDE)
    good = stock(f"SFTP-1;MAIN;3,000;{T}")
    keys.put(inbox / "stock_ok.csv", good)
    keys.put(inbox / "stock_new\nline.csv", stock(f"SFTP-2;MAIN;4,000;{T}"))
    hostile = [b"../outside.csv", os.fsencode(outside), b"in/../outside.csv",
               b"stock_\x00outside.csv", b"..", b"."]
    real_listdir = _Client.listdir_raw
    attrs: list[Any] = []  # a regular file's attributes, lent to the names made up

    def listing(self: _Client, path: str, read_aheads: int = 8) -> list[tuple[bytes, Any]]:
        rows = real_listdir(self, path, read_aheads)
        attrs.extend(a for raw, a in rows if raw == b"stock_ok.csv")
        return rows + [(raw, attrs[0]) for raw in hostile]

    (tmp_path / "out").mkdir()
    (tmp_path / "gateway.toml").write_text(
        '[gateway]\nworkspace = "."\npoll_interval = "50ms"\nmin_age = "0s"\n\n'
        f'[endpoints.erp_in]\ntype = "sftp"\nhost = "127.0.0.1"\nport = {server.port}\n'
        f'user = "gwtest"\nkey_file = "{keys.client_key}"\n'
        f'known_hosts = "{keys.known_hosts(server.port)}"\npath = "{inbox}"\n'
        'connect_timeout = "2s"\ntransfer_timeout = "30s"\n\n'
        '[endpoints.out]\npath = "out"\n\n'
        '[channels.erp_stock_in]\ndirection = "in"\nendpoint = "erp_in"\npattern = "*"\n'
        'document = "stock"\nmapping = "erp_stock_csv"\nack_endpoint = "out"\n\n'
        '[channels.shop_stock_csv]\ndirection = "out"\nendpoint = "out"\ndocument = "stock"\n'
        'mapping = "prestashop_stock_csv"\nfilename = "stock_{exchange}.csv"\n',
        encoding="utf-8")
    cfg = load(tmp_path / "gateway.toml")
    with pytest.MonkeyPatch.context() as mp, caplog.at_level(logging.WARNING, "gateway"):
        mp.setattr(_Client, "listdir_raw", listing)
        with Gateway(cfg) as gw:
            gw.run_once(settle_timeout=2.0)
    assert outside.read_bytes() == OUTSIDE  # neither read, moved nor deleted
    assert not Archive.in_workspace(tmp_path).exists(hashlib.sha256(OUTSIDE).hexdigest())
    ledger = Ledger(ledger_path(cfg))
    try:
        got = {x.file_name: x for x in ledger.list_exchanges(direction=Direction.IN)}
        assert sorted(got) == ["stock_new\\x0aline.csv", "stock_ok.csv"]
        ok, bad = got["stock_ok.csv"], got["stock_new\\x0aline.csv"]
        assert (ok.state, bad.state, bad.sha256) == (
            ExchangeState.PROCESSED, ExchangeState.REJECTED, "")
        assert [p.message for p in ledger.problems(bad.id)] == [
            "file name 'stock_new\\x0aline.csv' has control characters (shown escaped); it "
            "was not read and is kept in the endpoint's quarantine folder"]
    finally:
        ledger.close()
    assert sorted(os.listdir(inbox / "quarantine")) == [f"stock_new\nline.csv.{bad.id}"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        f"ACK_stock_new_x0aline_{bad.id:06d}.xml", f"ACK_stock_ok_{ok.id:06d}.xml",
        f"stock_{ok.id:06d}.csv"]
    assert read_ack(tmp_path / "out" / f"ACK_stock_new_x0aline_{bad.id:06d}.xml").result == (
        "rejected")
    assert (tmp_path / "out" / f"stock_{ok.id:06d}.csv").read_text() == (
        "Reference #;Quantity\nSFTP-1;3\n")
    ignored = [m for m in caplog.messages if "which is not a file name of" in m]
    assert ignored == [
        f"endpoint erp_in: the server listed {shown}, which is not a file name of {inbox}; "
        "ignored" for shown in ("../outside.csv", str(outside), "in/../outside.csv",
                                "stock_\\x00outside.csv", "..", ".")]


# -- EDI ---------------------------------------------------------------------------------

def _erp_order_numbers(run: Run, name: str) -> list[str]:
    """The order numbers an EDI file sent on to the ERP."""
    x = run.exchanges[name]
    return [r[2] for r in _cells(run.output(x, "erp_orders_txt"), encoding="cp1252")
            if r[0] == "E"]


def test_edi_messages_beside_a_refused_one_reach_the_erp(run: Run) -> None:
    assert _erp_order_numbers(run, "orders_good.edi") == ["PO-G1-1", "PO-G1-2", "PO-G1-3"]
    assert _erp_order_numbers(run, "orders_good.x12") == ["PO-G2-1", "PO-G2-2"]
    # the refused message (miscounted, huge segment, cut short) is left out, alone
    assert _erp_order_numbers(run, "orders_wrong_unt_count.edi") == ["PO-H1-1", "PO-H1-3"]
    assert _erp_order_numbers(run, "orders_wrong_se_count.x12") == ["PO-H2-1"]
    assert _erp_order_numbers(run, "orders_huge_segment.edi") == ["PO-H3-1", "PO-H3-3"]
    assert _erp_order_numbers(run, "orders_truncated.edi") == ["PO-H4-1"]
    # both interchanges around the junk
    assert _erp_order_numbers(run, "orders_junk_between_interchanges.edi") == [
        "PO-H6-1", "PO-H6-3"]
    x = run.exchanges["orders_binary_junk.edi"]
    assert [o for o in run.ledger.outputs_of(x.id) if o.kind == "document"] == []


def test_a_huge_edi_segment_is_never_held_whole(run: Run) -> None:
    """The 5 MB segment is skipped as it streams past: reading the file takes no more
    memory than reading one whose segment is four times longer (20 MB), and that is
    less than half of it (the scanner holds a few read blocks, whatever the segment's
    length)."""
    from gateway.formats import edifact

    _path, data = run.dropped["orders_huge_segment.edi"]
    assert data is not None and len(data) > HUGE_SEGMENT
    longer = data.replace(b"A" * HUGE_SEGMENT, b"A" * (4 * HUGE_SEGMENT))

    def peak(src: bytes) -> int:
        stream = io.BytesIO(src)  # shares the bytes: not counted below
        tracemalloc.start()
        try:
            events = list(edifact.events(stream, "orders_huge_segment.edi"))
            used = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert len(events) == 4  # three messages and the interchange's end
        return used

    small, big = peak(data), peak(longer)
    assert big < 2 * HUGE_SEGMENT, (small, big)  # not even half the 20 MB segment
    assert big < small + 512 * 1024, (small, big)  # the same as for the 5 MB one
