"""A large flat CSV file read by column and checked by its new values (``mapping/columns``,
``validate/distinct``), by a worker process (``validate/csvstream``): the same records,
problems and refusals as row by row, record by record, whatever the file holds."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from gateway.config import resource_dir
from gateway.documents import document
from gateway.errors import DataError
from gateway.formats import csv as csv_format
from gateway.mapping.loader import load_mapping_file
from gateway.mapping.reader import ProblemSink
from gateway.pipeline import transform
from gateway.pipeline.transform import valid_chunks
from gateway.validate import csvstream, distinct
from gateway.validate.xsd import ChunkValidator
from tests.conftest import STOCK_HEADER, make_workspace, stock_csv
from tests.pipeline.test_crash import run_gateway
from tests.pipeline.test_streamed_xml import wait_until_no_worker_reads

WAREHOUSES = ["MAIN", "EAST", "ENTREPÔT", "NORD"]
# what an export may hold on a row, each fault worded by the row path
FAULTS = [
    lambda r, i: f"X-{i};MAIN;abc;01/11/2026 08:00",             # not a number
    lambda r, i: f"X-{i};MAIN;-3,000;01/11/2026 08:00",          # negative: the XSD
    lambda r, i: f";MAIN;3,000;01/11/2026 08:00",                # required, empty
    lambda r, i: f"X-{i};MAIN;3,000;31/02/2026 08:00",           # no such date
    lambda r, i: f"X-{i};MAIN;3,000",                            # a column missing
    lambda r, i: f"X-{i};MAIN;3,000;01/11/2026 08:00;extra",     # one too many
    lambda r, i: "",                                             # a blank line
    lambda r, i: f"{'L' * 70}{i};MAIN;1,000;01/11/2026 08:00",   # longer than Code's 64
    lambda r, i: f"X-{i};MAIN;1,1234567;01/11/2026 08:00",       # 7 decimals: the XSD
    lambda r, i: f"X\x01{i};MAIN;1,000;01/11/2026 08:00",        # not allowed in XML
    lambda r, i: f"A&B<{i}>;MAIN;1,000;01/11/2026 08:00",        # escaped, valid
    lambda r, i: f"X-{i};\"MAIN\";1,000;01/11/2026 08:00",       # quoted: row by row on
    lambda r, i: f" X-{i} ;MAIN ; 2,500 ;01/11/2026 08:00",      # spaces, stripped
    lambda r, i: f"X-{i};MAIN;1 000,000;01/11/2026 08:00",       # thousands separator
]


def export(rows: int, faults: dict[int, int], *, cut: bool = False) -> bytes:
    """A stock export of ``rows`` rows, with FAULTS[k] on row i for each i: k; ``cut``:
    the last line loses its end (and a character)."""
    lines = []
    for i in range(rows):
        if i in faults:
            lines.append(FAULTS[faults[i]](random, i))
            continue
        sku = f"ART-{i // 4:06d}"
        lines.append(f"{sku};{WAREHOUSES[i % 4]};{(i * 7) % 50},000;"
                     f"0{1 + i % 9}/11/2026 {8 + i % 12:02d}:{i % 60:02d}")
    text = STOCK_HEADER + "".join(line + "\r\n" for line in lines)
    if cut:
        text = text[:-3]
    return text.encode("cp1252", "replace")


def read(path: Path, how: str, mapping: Path | None = None) -> tuple[Any, ...]:
    """(records with their lines, problems sorted, refusal) of ``valid_chunks`` over the
    file: ``rows`` row by row, ``columns`` by column here, ``worker`` by the worker."""
    m = load_mapping_file(mapping or resource_dir("mappings") / "erp_stock_csv.toml")
    validator = ChunkValidator(document("stock"), resource_dir("schemas"))
    problems = ProblemSink()
    records: list[tuple[int, dict[str, Any]]] = []
    bodies: list[str] = []
    refused = None
    try:
        with open(path, "rb") as src, pytest.MonkeyPatch.context() as mp:
            if how == "columns":  # no worker: read here
                mp.setattr(transform, "open_csv_stream", lambda *a: None)
            for checked in valid_chunks(m, validator, src, path.name, problems,
                                        by_column=how != "rows"):
                if checked.columns is not None:
                    records += zip(checked.columns.lines, checked.columns.records(),
                                   strict=True)
                    bodies.append(checked.columns.xml().decode())
                else:
                    records += [(int(line), rec) for line, rec in checked.valid]
                    bodies.append(checked.body or validator.serialise(
                        rec for _l, rec in checked.valid)[0])
    except DataError as exc:
        refused = (exc.problem.line, exc.problem.message)
        # what was read and checked before the fault depends on how much a block or a
        # chunk holds; the file is refused whole either way
        records, bodies, problems = [], [], ProblemSink()
    found = sorted((p.line or 0, p.field or "", p.message, p.value or "")
                   for p in problems.items)
    return records, found, refused, problems.count, problems.rows_rejected, "".join(bodies)


def same(path: Path, how: str) -> None:
    assert read(path, how) == read(path, "rows")


@pytest.fixture(params=["by_field", "by_record"])
def small_blocks(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of a few dozen lines: a small file is read as many blocks. New values are
    checked each alone (``value_schema``), or in probe records (a schema without one)."""
    monkeypatch.setattr(csv_format, "BLOCK_CHARS", 1500)
    if request.param == "by_record":
        monkeypatch.setattr(distinct, "value_schema", lambda *a: None)


def test_a_clean_file_is_read_by_column_with_the_same_records(
        tmp_path: Path, small_blocks: None) -> None:
    path = tmp_path / "stock.csv"
    path.write_bytes(export(2000, {}))
    records, found, refused, *_ = read(path, "columns")
    assert len(records) == 2000 and not found and refused is None
    same(path, "columns")


@pytest.mark.parametrize("fault", range(len(FAULTS)))
def test_each_fault_is_found_and_worded_as_row_by_row(
        tmp_path: Path, small_blocks: None, fault: int) -> None:
    path = tmp_path / "stock.csv"
    path.write_bytes(export(1500, {3: fault, 700: fault, 1499: fault}))
    same(path, "columns")


@pytest.mark.parametrize("seed", range(12))
def test_random_faults_anywhere_give_what_row_by_row_gives(
        tmp_path: Path, small_blocks: None, seed: int) -> None:
    rnd = random.Random(seed)
    rows = rnd.randrange(50, 3000)
    faults = {rnd.randrange(rows): rnd.randrange(len(FAULTS))
              for _ in range(rnd.randrange(0, 12))}
    path = tmp_path / "stock.csv"
    path.write_bytes(export(rows, faults, cut=rnd.random() < 0.3))
    same(path, "columns")


def test_undecodable_byte_and_utf8_line_are_left_out_as_row_by_row(
        tmp_path: Path, small_blocks: None) -> None:
    data = bytearray(export(900, {}))
    at = data.index(b"ART-000100")
    data[at:at + 3] = b"A\x81T"  # undefined in cp1252
    path = tmp_path / "stock.csv"
    path.write_bytes(bytes(data))
    same(path, "columns")


def test_a_field_without_steps_and_a_constant_are_read_by_column_too(
        tmp_path: Path, small_blocks: None) -> None:
    """The warehouse taken as read (a leading space stays, and the XSD refuses it), the
    as-of time a constant: the same records and problems as row by row."""
    text = (resource_dir("mappings") / "erp_stock_csv.toml").read_text()
    text = text.replace('column = "DEPOT"\ntransforms = ["strip", "required"]',
                        'column = "DEPOT"\ntransforms = []')
    text = text.replace('transforms = ["strip", "required", { datetime',
                        'transforms = [{ constant = "01/11/2026 08:00" }, { datetime')
    mapping = tmp_path / "erp_stock_raw.toml"
    mapping.write_text(text)
    path = tmp_path / "stock.csv"
    data = export(1500, {5: 12, 800: 12})  # " X-5 ;MAIN ;…": a warehouse 'MAIN '
    path.write_bytes(data.replace(b"ART-000300;MAIN", b"ART-000300; MAIN"))  # refused
    rows = read(path, "rows", mapping)
    assert rows[1] and rows[0][0][1]["as_of"].day == 1
    assert read(path, "columns", mapping) == rows


def test_values_seen_valid_are_not_checked_again(tmp_path: Path, small_blocks: None,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """After the first block, libxml2 sees one probe per new SKU, not the records."""
    checked: list[int] = []
    real = ChunkValidator.check

    def spy(self: ChunkValidator, data: bytes, record: str | None = None) -> Any:
        checked.append(data.count(b"\n") - 2 if record else data.count(b"<item>"))
        return real(self, data, record)
    monkeypatch.setattr(ChunkValidator, "check", spy)
    path = tmp_path / "stock.csv"
    path.write_bytes(export(4000, {}))
    records, found, *_ = read(path, "columns")
    assert len(records) == 4000 and not found
    # 1,000 SKUs of 4 warehouses: a block's probes are as many as its most varied
    # field has new values (its SKUs, or its times), far fewer than its rows
    assert sum(checked) < 4000 // 3, checked


def test_a_refused_file_is_refused_at_the_same_line(tmp_path: Path,
                                                    small_blocks: None) -> None:
    data = export(800, {}) + ("L" * 1_100_000 + "\r\n").encode()  # over max_line
    path = tmp_path / "stock.csv"
    path.write_bytes(data)
    assert read(path, "columns")[2] is not None
    same(path, "columns")
    path.write_bytes(b"")
    assert read(path, "columns")[2] == read(path, "rows")[2] == (1, "file is empty: "
                                                                 "no header line")
    for header_only in (b"A", STOCK_HEADER.encode()):  # found by tests/fuzz: a header
        path.write_bytes(header_only)                  # alone is still checked
        same(path, "columns")
    assert read(path, "columns")[2] is None
    path.write_bytes(b"A")
    assert "column 'ARTICLE' is missing" in read(path, "columns")[2][1]


# the worker: a spawned process does not see the test's small blocks, so these files
# are a few real blocks (1 MB each) long
def big_export(faults: dict[int, int], rows: int = 90_000) -> bytes:
    return export(rows, faults)


def test_the_worker_gives_the_same_records_problems_and_xml(tmp_path: Path) -> None:
    path = tmp_path / "stock.csv"
    path.write_bytes(big_export({5: 0, 30_000: 1, 30_001: 11, 60_000: 2, 89_999: 7}))
    seen = read(path, "worker")
    assert len(seen[0]) == 90_000 - 4 and seen[1]
    assert seen == read(path, "rows")


def test_a_worker_that_dies_hands_over_from_the_batch_it_did_not_send(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "stock.csv"
    path.write_bytes(big_export({45_000: 0, 180_000: 8}, rows=200_000))
    real = csvstream.CsvStream.batches
    streams: list[csvstream.CsvStream] = []

    def dies(self: csvstream.CsvStream, problems: ProblemSink, checker: Any) -> Any:
        streams.append(self)
        for n, item in enumerate(real(self, problems, checker)):
            yield item
            if n == 0:  # killed (out of memory, kill -9) with most of the file to read
                self._proc.kill()
    monkeypatch.setattr(csvstream.CsvStream, "batches", dies)
    seen = read(path, "worker")
    [stream] = streams
    assert stream.fallback_from is not None and stream.fallback_from >= 1
    assert len(seen[0]) == 200_000 - 2
    assert seen == read(path, "rows")


def both_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes,
              before: bytes | None = None) -> tuple[Any, Any]:
    """(shop files, ack from its result on) of ``data`` processed by column, then row by
    row; ``before``: a small file processed first."""
    seen = []
    for name, threshold in (("by_column", 0), ("row_by_row", 1 << 40)):
        monkeypatch.setattr(transform, "PARALLEL_FROM_BYTES", threshold)
        ws = make_workspace(tmp_path / name)
        if before is not None:
            ws.drop("stock_0.csv", before)
            ws.run_once()
        ws.drop("stock_1.csv", data)
        ws.run_once()
        [ack] = [f for f in ws.files(ws.erp_out) if f.startswith("ACK_stock_1_")]
        text = (ws.erp_out / ack).read_text()
        seen.append(([(ws.shop_out / f).read_bytes() for f in ws.files(ws.shop_out)],
                     text[text.index("<result>"):]))
    return seen[0], seen[1]


def test_a_large_stock_file_through_the_gateway_gives_the_same_outputs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    by_column, row_by_row = both_ways(tmp_path, monkeypatch, big_export({10: 1, 50_000: 3}))
    assert by_column == row_by_row
    assert "<result>partial</result>" in by_column[1] and 'rejected="2"' in by_column[1]


def test_rows_older_than_what_is_held_are_left_out_as_row_by_row(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Positions set by a newer file first: the large file's rows for them are ignored
    (and said so), the others applied, the same way both ways."""
    newer = stock_csv("ART-000010;MAIN;99,000;28/11/2026 09:15",
                      "ART-020000;EAST;5,000;28/11/2026 09:15")
    by_column, row_by_row = both_ways(tmp_path, monkeypatch, big_export({}), newer)
    assert by_column == row_by_row
    assert "2 record(s) older than the quantity already applied" in by_column[1]
    xml = [f for f in by_column[0] if f.count(b"<item>") > 1000]
    assert len(xml) == 1 and xml[0].count(b"<item>") == 90_000 - 2


def test_a_gateway_killed_while_its_worker_reads_a_csv_leaves_no_worker(
        tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    data = export(110_000, {})  # over 4 MB: read by the worker, at the real threshold
    assert len(data) >= transform.PARALLEL_FROM_BYTES
    ws.drop("stock_1.csv", data)
    killed = run_gateway(ws, "transform.streamed_batch", after=2)
    assert killed.returncode == 137, killed.stderr
    wait_until_no_worker_reads(ws, data)
    assert run_gateway(ws).returncode == 0
    ack = (ws.erp_out / "ACK_stock_1_000001.xml").read_text()
    assert "<result>accepted</result>" in ack and 'accepted="110000"' in ack
    [shop] = [f for f in ws.files(ws.shop_out) if f.endswith(".csv")]
    assert len((ws.shop_out / shop).read_text().splitlines()) == 110_000 // 4 + 1
