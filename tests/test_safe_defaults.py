"""Safe defaults: what protects the gateway and its partners without any configuration —
limits per channel, XML parsed without its dangerous features, formula cells made text in
the CSV files it writes, private file modes, secrets never shown."""

from __future__ import annotations

import csv
import io
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.config import load, resource_dir
from gateway.errors import ConfigError, DataError
from gateway.formats.csv import (LINE_LIMIT, CsvOptions, CsvRowReader, CsvRowWriter,
                                 neutralise)
from gateway.formats.fixed_width import FixedLineReader, FixedOptions
from gateway.formats.xml import records as xml_records
from gateway.mapping.loader import load_mapping_file
from gateway.mapping.reader import ProblemSink, read_records
from gateway.model import ExchangeState
from gateway.pipeline.context import ledger_path
from gateway.store.archive import Archive
from gateway.store.atomic import DurableBatch, write_atomic
from gateway.store.ledger import Ledger

from tests.conftest import Workspace, make_workspace, stock_csv
from tests.pipeline.test_bad_inputs import GOOD, GOOD_NAME, assert_good_file_processed, \
    problems, read_ack
from tests.sshd import Keys, Sshd
from tests.transports.test_sftp import keys, server  # noqa: F401 - the real sshd fixtures

T = "28/11/2026 09:15"


# -- limits per channel ---------------------------------------------------------------------
def _config(tmp_path: Path, extra: str) -> Path:
    ws = make_workspace(tmp_path / "ws", extra_in=extra)
    return ws.config_path


def test_limits_have_sane_defaults_and_take_sizes_and_counts(tmp_path: Path) -> None:
    ch = load(_config(tmp_path, "")).channels["erp_stock_in"]
    assert (ch.max_size, ch.max_line, ch.max_records) == (2 * 1024**3, 1024**2, 5_000_000)
    ch = load(_config(tmp_path / "b", 'max_line = "64KB"\nmax_records = 1_000')
              ).channels["erp_stock_in"]
    assert (ch.max_line, ch.max_records) == (64 * 1024, 1000)


@pytest.mark.parametrize(("extra", "key", "message"), [
    ("max_line = 0", "max_line", "0 is not a limit: give 1 or more"),
    ('max_line = "lots"', "max_line", "'lots' is not a size"),
    ("max_records = 0", "max_records", "0 is not a limit: give 1 or more"),
    ('max_records = "5MB"', "max_records", "expected int, found str '5MB'"),
    ("max_records = true", "max_records", "expected int, found bool True"),
])
def test_a_wrong_limit_stops_the_start_with_its_key(tmp_path: Path, extra: str, key: str,
                                                    message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(_config(tmp_path, extra))
    assert err.value.key == f"channels.erp_stock_in.{key}"
    assert str(err.value).endswith(f"channels.erp_stock_in.{key}: {message}")


class _Endless(io.RawIOBase):
    """A line that never ends: what a reader without a line limit would read forever."""

    def __init__(self) -> None:
        self.served = 0  # bytes handed out, over every read
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        self.pos = pos if whence == 0 else self.pos + pos
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        n = len(buffer)
        buffer[:n] = b"A" * n
        self.served += n
        self.pos += n
        return n


@pytest.mark.parametrize("fixed", [False, True], ids=["csv", "fixed width"])
def test_a_line_over_the_limit_is_refused_after_reading_little_more_than_it(
        fixed: bool) -> None:
    src = _Endless()
    stream = io.BufferedReader(src)
    token = LINE_LIMIT.set(1000)
    try:
        reader = (FixedLineReader(stream, FixedOptions(encoding="cp1252"), "prices.txt")
                  if fixed else CsvRowReader(stream, CsvOptions(encoding="cp1252"), "s.csv"))
        with pytest.raises(DataError) as err:
            list(reader.rows())
    finally:
        LINE_LIMIT.reset(token)
    p = err.value.problem
    assert (p.line, p.file, p.message, p.value) == (
        1, "prices.txt" if fixed else "s.csv",
        "line is longer than 1000 characters, this channel's max_line; the file is refused",
        "A" * 40)
    assert src.served < 2 * 1024 * 1024  # one block and the limit, not the endless line


def test_lines_up_to_the_limit_are_read(tmp_path: Path) -> None:
    data = b"h\r\n" + b"x" * 998 + b"\r\n" + b"y\r\n"  # 1000 characters with its line end
    token = LINE_LIMIT.set(1000)
    try:
        rows = list(CsvRowReader(io.BytesIO(data), CsvOptions(), "s.csv").rows())
    finally:
        LINE_LIMIT.reset(token)
    assert [(r[0], r[1][0][:3]) for r in rows] == [(2, "xxx"), (3, "y")]


def test_the_channel_line_limit_refuses_the_file_and_the_next_file_goes(tmp_path: Path
                                                                         ) -> None:
    ws = make_workspace(tmp_path / "ws", extra_in="max_line = 100")
    bad = stock_csv(f"A-1;MAIN;1,000;{T}", "B" * 120 + f";MAIN;2,000;{T}")
    ws.drop("bad.csv", bad)
    ws.drop(GOOD_NAME, GOOD)
    ws.run_once()
    x = ws.ledger().get(1)
    assert x is not None and (x.state, x.result) == (ExchangeState.REJECTED, "rejected")
    message = "line is longer than 100 characters, this channel's max_line; the file is refused"
    assert problems(ws, 1) == [(3, None, "B" * 40, message)]
    assert read_ack(ws.erp_out / "ACK_bad_000001.xml").errors == [(3, None, "B" * 40, message)]
    assert_good_file_processed(ws)


@pytest.mark.parametrize(("limit", "rows", "refused_at"), [
    (3, 4, 5), (3, 3, None), (2000, 2001, 2002), (2500, 2501, 2502), (2000, 2000, None)])
def test_the_record_limit_refuses_the_file_at_the_first_record_over_it(
        tmp_path: Path, limit: int, rows: int, refused_at: int | None) -> None:
    ws = make_workspace(tmp_path / "ws", extra_in=f"max_records = {limit}")
    ws.drop("big.csv", stock_csv(*(f"R-{i};MAIN;1,000;{T}" for i in range(rows))))
    ws.run_once()
    x = ws.ledger().get(1)
    assert x is not None
    if refused_at is None:
        assert (x.state, x.records_accepted) == (ExchangeState.PROCESSED, rows)
    else:
        assert x.state is ExchangeState.REJECTED
        assert problems(ws, 1) == [(refused_at, None, None, f"file has more than {limit} "
                                    "records, this channel's max_records; the file is refused")]
        assert ws.files(ws.shop_out) == []  # nothing of it applied or sent


# -- XML: no DTD, no entities, no network, no huge trees --------------------------------------
def _xml_error(data: bytes) -> DataError:
    with pytest.raises(DataError) as err:
        for _line, el, _ in xml_records(io.BytesIO(data), "stock/item", "stock.xml"):
            el.findtext("sku")
    return err.value


def test_a_deeply_nested_document_is_refused_with_its_line() -> None:
    depth = 300  # libxml2 stops at 256 levels unless huge_tree is on
    p = _xml_error(b'<?xml version="1.0"?>\n<stock>\n' + b"<item>" * depth
                   + b"</item>" * depth + b"</stock>").problem
    assert p.line == 3 and p.file == "stock.xml"
    assert p.message.startswith("not well-formed XML: ") and "depth" in p.message.lower()


def test_a_text_node_over_libxml2s_limit_is_refused() -> None:
    text = b"A" * (10_000_000 + 1)  # 10 MB: libxml2's bound on one text node, huge_tree off
    p = _xml_error(b"<stock>\n<item><sku>" + text + b"</sku></item></stock>").problem
    assert p.message.startswith("not well-formed XML: ") and p.line == 2


# -- formula cells in the CSV files the gateway writes ----------------------------------------
def _written(rows: list[list[str]], **options: object) -> list[list[str]]:
    sink = io.BytesIO()
    w = CsvRowWriter(sink, CsvOptions(**options))  # type: ignore[arg-type]
    w.write(["Reference #", "Name"])
    w.write_many(rows)
    w.close()
    return list(csv.reader(io.StringIO(sink.getvalue().decode()), delimiter=";"))


FORMULAS = [["=cmd|' /C calc'!A0", "+SUM(1+1)"], ["-2+3+cmd|' /C calc'!A0", "@SUM(A1)"],
            ["\t=1+1", "\r=1+1"], ["- a bullet", "=HYPERLINK(\"http://x\",\"y\")"]]
NUMBERS = [["-5", "+1.5"], ["-1E+30", "1e30"], ["+33 6 12 34 56 78", "-0,25"],
           ["", "plain text = fine"], ["+", "-(1)"]]


def test_formula_cells_are_written_as_text_and_numbers_stay_numbers() -> None:
    got = _written(FORMULAS + NUMBERS)
    assert got[1:5] == [["'" + c for c in row] for row in FORMULAS]
    assert got[5:] == NUMBERS
    assert neutralise("=1") == "'=1" and neutralise("-7") == "-7"


def test_a_formula_in_the_header_row_or_alone_is_neutralised_too() -> None:
    sink = io.BytesIO()
    w = CsvRowWriter(sink, CsvOptions())
    w.write(["=bad header"])
    w.write_many([["@x"]])
    w.close()
    assert sink.getvalue() == b"'=bad header\r\n'@x\r\n"


def test_a_writer_mapping_may_turn_neutralising_off(tmp_path: Path) -> None:
    assert _written(FORMULAS, neutralise_formulas=False)[1:] == FORMULAS
    path = tmp_path / "raw_stock_csv.toml"
    path.write_text('[mapping]\ndirection = "write"\ndocument = "stock"\nformat = "csv"\n'
                    '[csv]\nneutralise_formulas = false\n'
                    '[[columns]]\nheader = "sku"\nfield = "sku"\n', encoding="utf-8")
    assert load_mapping_file(path).csv.neutralise_formulas is False
    path.write_text(path.read_text().replace("neutralise_formulas = false\n", ""))
    assert load_mapping_file(path).csv.neutralise_formulas is True


@pytest.mark.parametrize(("head", "value", "message"), [
    ('direction = "write"\ndocument = "stock"\nformat = "csv"', '"no"',
     "csv.neutralise_formulas: expected true or false, found 'no'"),
    ('direction = "read"\ndocument = "stock"\nformat = "csv"', "false",
     "csv.neutralise_formulas: neutralise_formulas is for writer mappings"),
])
def test_neutralise_formulas_is_checked_when_the_mapping_loads(tmp_path: Path, head: str,
                                                               value: str, message: str) -> None:
    path = tmp_path / "m.toml"
    path.write_text(f"[mapping]\n{head}\n[csv]\nneutralise_formulas = {value}\n"
                    '[fields.sku]\ncolumn = "SKU"\n[[columns]]\nheader = "sku"\nfield = "sku"\n',
                    encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_mapping_file(path)
    assert message in str(err.value)


def test_a_header_of_ten_thousand_columns_is_named_in_a_short_message() -> None:
    mapping = load_mapping_file(resource_dir("mappings") / "erp_stock_csv.toml")
    header = ";".join(f"C{i}" for i in range(10_000))
    with pytest.raises(DataError) as err:
        list(read_records(mapping, io.BytesIO(f"{header}\r\n".encode()), "s.csv",
                          ProblemSink()))
    message = err.value.problem.message
    assert message.startswith("column 'ARTICLE' is missing from the header (found: C0, C1,")
    assert "C49 … and 9,950 more; mapping erp_stock_csv.toml" in message
    assert len(message) < 500


# -- mixed encodings ---------------------------------------------------------------------------
def test_a_utf8_line_in_a_cp1252_file_is_located_and_left_out() -> None:
    data = ("h\r\nÉTÉ «ÉTÉ» 100 °C\r\n".encode("cp1252") + "ÉTÉ\r\n".encode("utf-8")
            + "CAFÉ\r\n".encode("cp1252"))
    reader = CsvRowReader(io.BytesIO(data), CsvOptions(encoding="cp1252"), "s.csv")
    assert [(r[0], r[1]) for r in reader.rows()] == [(2, ["ÉTÉ «ÉTÉ» 100 °C"]),
                                                      (4, ["CAFÉ"])]
    assert [(p.line, p.message) for p in reader.problems] == [
        (3, "line is UTF-8 encoded, the file cp1252 (mixed encodings); it would be read "
            "garbled")]


def test_a_byte_order_mark_in_a_cp1252_file_is_reported_as_such() -> None:
    data = b"h\r\nA\r\n\xef\xbb\xbfh\r\nB\r\n"
    reader = CsvRowReader(io.BytesIO(data), CsvOptions(encoding="cp1252"), "s.csv")
    assert [r[1] for r in reader.rows()] == [["A"], ["B"]]
    assert [(p.line, p.message) for p in reader.problems] == [
        (3, "byte order mark in the middle of the file (two files joined?)")]


# -- file modes ----------------------------------------------------------------------------------
@pytest.fixture
def umask() -> Iterator[None]:
    """No umask: the modes seen are the ones the gateway asks for."""
    old = os.umask(0)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("umask")
def test_files_the_gateway_writes_are_private_and_the_archive_read_only(
        ws: Workspace) -> None:
    ws.drop("stock.csv", stock_csv(f"A-1;MAIN;1,000;{T}"))
    ws.run_once()
    outputs = sorted(ws.shop_out.iterdir()) + sorted(ws.erp_out.iterdir())
    assert [p.name for p in outputs] == ["stock_000001.csv", "stock_000001.xml",
                                         "ACK_stock_000001.xml"]
    assert {p.name: _mode(p) for p in outputs} == {p.name: 0o640 for p in outputs}
    blobs = [p for _d, p in Archive.in_workspace(ws.root).iter_blobs()]
    assert len(blobs) == 4  # the input, two outputs, the ack
    assert {_mode(p) for p in blobs} == {0o440}
    write_atomic(ws.root / "state" / "health.json", b"{}")
    assert _mode(ws.root / "state" / "health.json") == 0o640
    # the ledger too, and the write-ahead files SQLite makes beside it while it is open
    assert _mode(ws.root / "state" / "ledger.sqlite3") == 0o640
    fresh = Ledger(ws.root / "state" / "other.sqlite3")
    try:
        with fresh.transaction():
            fresh.next_control_number("edifact:X", "interchange")
        files = sorted((ws.root / "state").glob("other.sqlite3*"))
        assert {p.name: _mode(p) for p in files} == {
            n: 0o640 for n in ("other.sqlite3", "other.sqlite3-shm", "other.sqlite3-wal")}
    finally:
        fresh.close()


def test_a_stricter_umask_makes_them_stricter_still(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        archive = Archive(tmp_path / "archive")
        batch = DurableBatch()
        blob = archive.put_stream(io.BytesIO(b"data"), batch)
        batch.flush()
        batch.publish()
        write_atomic(tmp_path / "f", b"x")
    finally:
        os.umask(old)
    assert (_mode(archive.path(blob.sha256)), _mode(tmp_path / "f")) == (0o400, 0o600)


# -- secrets -------------------------------------------------------------------------------------
PASSWORD = "pw-Zq81-never-shown"
WRONG_PASSPHRASE = "pp-Xk27-never-shown"


def test_secrets_from_the_environment_are_never_logged_nor_shown(
        keys: Keys, server: Sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A password the server refuses, a passphrase that opens the key and one that does
    not: every command an operator runs, every log line (paramiko's debug included) and
    every error kept in the ledger is searched for them."""
    monkeypatch.setenv("GW_SFTP_PASSWORD", PASSWORD)
    monkeypatch.setenv("GW_KEY_PASSPHRASE", keys.passphrase)
    monkeypatch.setenv("GW_WRONG_PASSPHRASE", WRONG_PASSPHRASE)
    home = keys.folder(server.home, "secrets")
    for sub in ("a", "b", "c"):
        keys.put(keys.folder(home, sub) / "stock.csv", stock_csv(f"S-{sub};MAIN;1,000;{T}"))

    def endpoint(name: str, sub: str, auth: str) -> str:
        return (f'[endpoints.{name}]\ntype = "sftp"\nhost = "127.0.0.1"\nport = {server.port}\n'
                f'user = "gwtest"\n{auth}\nknown_hosts = "{keys.known_hosts(server.port)}"\n'
                f'path = "{home / sub}"\nconnect_timeout = "2s"\n\n')

    def channel(name: str, ep: str) -> str:
        return (f'[channels.{name}]\ndirection = "in"\nendpoint = "{ep}"\ndocument = "stock"\n'
                'mapping = "erp_stock_csv"\nack_endpoint = "out"\nevery = "1m"\n\n')

    cfg = tmp_path / "gateway.toml"
    cfg.write_text(
        '[gateway]\nworkspace = "."\nmin_age = "0s"\n\n[endpoints.out]\npath = "out"\n\n'
        + endpoint("by_password", "a", 'password = "${GW_SFTP_PASSWORD}"')
        + endpoint("by_key", "b", f'key_file = "{keys.encrypted_client_key}"\n'
                   'key_passphrase = "${GW_KEY_PASSPHRASE}"')
        + endpoint("by_bad_key", "c", f'key_file = "{keys.encrypted_client_key}"\n'
                   'key_passphrase = "${GW_WRONG_PASSPHRASE}"')
        + channel("a_in", "by_password") + channel("b_in", "by_key")
        + channel("c_in", "by_bad_key"), encoding="utf-8")
    seen: list[str] = [repr(load(cfg))]

    class Everything(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(self.format(record))

    handler = Everything(logging.DEBUG)
    loggers = [logging.getLogger(n) for n in ("gateway", "paramiko")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    try:
        cli = CliRunner()
        for args in (["run", "--once"], ["status"], ["status", "--json"],
                     ["endpoints", "check"], ["archive", "list"]):
            r = cli.invoke(app, ["--config", str(cfg), *args])
            seen += [r.output, str(r.exception or "")]
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)
    ledger = Ledger(ledger_path(load(cfg)))
    try:
        seen += [x.last_error or "" for x in ledger.list_exchanges()]
        seen += [h["last_error"] or "" for h in ledger.endpoint_health().values()]
        received = {x.channel for x in ledger.list_exchanges()}
    finally:
        ledger.close()
    # the run did reach the server with each: the key that opens worked, the others failed
    assert "b_in" in received and not {"a_in", "c_in"} & received
    text = "\n".join(seen)
    assert "the server refused the password of user gwtest" in text
    assert "cannot load key_file" in text
    for secret in (PASSWORD, keys.passphrase, WRONG_PASSPHRASE):
        assert secret not in text
