"""The ``gateway`` command through typer's CliRunner, on real workspaces, exact output."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from gateway.cli import app
from gateway.config import resource_dir
from gateway.model import Direction, ExchangeState
from gateway.store.archive import Archive
from gateway.store.ledger import Ledger

from tests.conftest import Workspace, make_workspace, stock_csv

runner = CliRunner()

GOOD = stock_csv("CHAISE-ÉTÉ-01;MAGASIN;12,000;28/11/2026 09:00",
                 "CHAISE-ÉTÉ-01;ENTREPÔT;30,000;28/11/2026 09:00",
                 "LAMPE;MAGASIN;1 250,500;28/11/2026 09:00")
BAD_HEADER = stock_csv("TAPIS;MAGASIN;7,000;28/11/2026 09:00",
                       header="ARTICLE;DEPOT;QTE;DATE_MAJ\r\n")
PARTIAL = stock_csv("A-1;MAIN;1,000;28/11/2026 09:15",
                    "B-2;MAIN;deux;28/11/2026 09:15")
MISSING_QTE = ("column 'QTE_VIRTUELLE' is missing from the header "
               "(found: ARTICLE, DEPOT, QTE, DATE_MAJ; mapping erp_stock_csv.toml, "
               "fields.quantity)")


def gw(ws: Workspace, *args: str) -> Result:
    return runner.invoke(app, ["--config", str(ws.config_path), *args])


def lines(text: str) -> list[str]:
    return text.splitlines()


def table(text: str) -> tuple[list[str], list[list[str]]]:
    """Header and body cells of a rich table; a cell wrapped over lines is joined again."""
    header: list[str] = []
    rows: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith("┃"):
            header = [c.strip() for c in line.strip("┃").split("┃")]
        elif line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            if rows and cells[0] == "":  # continuation of the row above
                rows[-1] = [f"{a} {b}" if b else a for a, b in zip(rows[-1], cells,
                                                                     strict=True)]
            else:
                rows.append(cells)
    return header, rows


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def snapshot(ledger: Ledger) -> list[tuple[Any, ...]]:
    """Every exchange with its state and its number of transitions and problems."""
    return [(x.id, x.state, x.parent_id, len(ledger.transitions(x.id)),
             ledger.problem_count(x.id)) for x in ledger.list_exchanges()]


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def done(ws: Workspace) -> Workspace:
    """bad.csv (wrong header) is exchange 1, good.csv exchange 2; both processed."""
    ws.drop("good.csv", GOOD)
    ws.drop("bad.csv", BAD_HEADER)
    s = ws.run_once()
    assert [(o.exchange_id, str(o.result)) for o in s.outcomes] == [(1, "rejected"),
                                                                     (2, "accepted")]
    return ws


# -- run ---------------------------------------------------------------------------------------
def test_run_once_on_clean_files_exits_0(ws: Workspace) -> None:
    ws.drop("a.csv", stock_csv("A-1;MAIN;12,000;28/11/2026 09:15"))
    ws.drop("b.csv", GOOD)
    r = gw(ws, "run", "--once")
    assert r.exit_code == 0, r.output
    assert lines(r.stdout) == ["exchange 1: accepted (1 accepted, 0 rejected)",
                               "exchange 2: accepted (3 accepted, 0 rejected)",
                               "received 2, processed 2, rejected 0, delivered 6"]
    assert r.stderr == ""
    assert ws.files(ws.inbox) == []
    assert ws.files(ws.shop_out) == ["stock_000001.csv", "stock_000001.xml",
                                     "stock_000002.csv", "stock_000002.xml"]
    assert (ws.shop_out / "stock_000002.csv").read_text("utf-8") == (
        "Reference #;Quantity\nCHAISE-ÉTÉ-01;42\nLAMPE;1250\n")


def test_run_once_exits_1_when_a_file_is_rejected(ws: Workspace) -> None:
    ws.drop("bad.csv", BAD_HEADER)
    ws.drop("good.csv", GOOD)
    r = gw(ws, "run", "--once")
    assert r.exit_code == 1
    assert lines(r.stdout) == ["exchange 1: rejected (0 accepted, 0 rejected)",
                               "exchange 2: accepted (3 accepted, 0 rejected)",
                               "received 2, processed 2, rejected 1, delivered 4"]
    assert r.stderr == ""


def test_run_once_exits_1_when_a_file_is_partly_accepted(ws: Workspace) -> None:
    ws.drop("partial.csv", PARTIAL)
    r = gw(ws, "run", "--once")
    assert r.exit_code == 1
    assert lines(r.stdout) == ["exchange 1: partial (1 accepted, 1 rejected)",
                               "received 1, processed 1, rejected 0, delivered 3"]


def test_run_once_with_nothing_to_do(ws: Workspace) -> None:
    r = gw(ws, "run", "--once")
    assert r.exit_code == 0
    assert lines(r.stdout) == ["received 0, processed 0, rejected 0, delivered 0"]


# -- validate ----------------------------------------------------------------------------------
def test_validate_reports_every_error_located_and_has_no_side_effect(ws: Workspace) -> None:
    data = stock_csv("A-1;MAIN;1,000;28/11/2026 09:15",
                     "B-2;MAIN;deux;28/11/2026 09:15",
                     "C-3;MAIN;-4,000;28/11/2026 09:15",
                     "D-4;MAIN;2,000;31/11/2026 09:15",
                     "E-5;MAIN;2,000")
    path = ws.inbox / "check.csv"
    path.write_bytes(data)
    r = gw(ws, "validate", str(path), "--channel", "erp_stock_in")
    assert r.exit_code == 1
    assert lines(r.stdout) == [
        f"{path}:3: QTE_VIRTUELLE: not a number (value 'deux')",
        f"{path}:4: QTE_VIRTUELLE: The value '-4.000' is less than the minimum value "
        "allowed ('0'). (value '-4.000')",
        f"{path}:5: DATE_MAJ: not a date/time in the form '%d/%m/%Y %H:%M' "
        "(value '31/11/2026 09:15')",
        f"{path}:6: expected 4 fields, found 3",
        f"{path}: invalid: 1 record(s) valid, 4 error(s)"]
    # nothing taken, recorded, archived or produced
    assert path.read_bytes() == data
    assert ws.files(ws.inbox) == ["check.csv"]
    assert sorted(p.name for p in ws.root.iterdir()) == ["gateway.toml", "inbox", "outbox"]
    assert ws.files(ws.erp_out) == [] and ws.files(ws.shop_out) == []


def test_validate_wrong_header_is_one_located_error(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(BAD_HEADER)
    r = gw(ws, "validate", str(path), "--channel", "erp_stock_in")
    assert r.exit_code == 1
    assert lines(r.stdout) == [f"{path}:1: QTE_VIRTUELLE: {MISSING_QTE}",
                               f"{path}: invalid: 0 record(s) valid, 1 error(s)"]
    assert r.stderr == ""


def test_validate_good_file_exits_0(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "good.csv"
    path.write_bytes(GOOD)
    r = gw(ws, "validate", str(path), "--channel", "erp_stock_in")
    assert r.exit_code == 0
    assert lines(r.stdout) == [f"{path}: valid: 3 record(s) valid, 0 error(s)"]
    assert not (ws.root / "state").exists()
    assert not (ws.root / "archive").exists()


def test_validate_applies_the_channels_limits_as_the_gateway_would(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", extra_in='max_records = 2\nmax_line = "60B"')
    path = tmp_path / "good.csv"
    path.write_bytes(GOOD)  # three records: one over the limit
    r = gw(ws, "validate", str(path), "--channel", "erp_stock_in")
    assert r.exit_code == 1
    assert lines(r.stdout)[0] == (f"{path}:4: file has more than 2 records, this channel's "
                                  "max_records; the file is refused")
    long = tmp_path / "long.csv"
    long.write_bytes(GOOD.splitlines(keepends=True)[0] + b"X" * 100 + b";MAIN;1,000;"
                     b"28/11/2026 09:00\r\n")
    r = gw(ws, "validate", str(long), "--channel", "erp_stock_in")
    assert r.exit_code == 1
    assert lines(r.stdout)[0].startswith(f"{long}:2: line is longer than 60 characters, "
                                         "this channel's max_line; the file is refused")
    big = make_workspace(tmp_path / "big", extra_in='max_size = "10B"')
    r = gw(big, "validate", str(path), "--channel", "erp_stock_in")
    assert r.exit_code == 1
    assert f"file is {len(GOOD)} bytes, over this channel's limit of 10 bytes" in r.stdout


def test_validate_with_an_output_channel_is_a_usage_error(ws: Workspace, tmp_path: Path
                                                          ) -> None:
    path = tmp_path / "good.csv"
    path.write_bytes(GOOD)
    r = gw(ws, "validate", str(path), "--channel", "shop_stock_csv")
    assert r.exit_code == 2
    assert r.stdout == ""
    assert lines(r.stderr) == ["Error: channel 'shop_stock_csv' is an output channel; "
                               "validate reads files with an input channel's reader mapping"]


def test_validate_with_an_unknown_channel_is_a_usage_error(ws: Workspace, tmp_path: Path
                                                           ) -> None:
    path = tmp_path / "good.csv"
    path.write_bytes(GOOD)
    r = gw(ws, "validate", str(path), "--channel", "nope")
    assert r.exit_code == 2
    assert r.stdout == ""
    assert lines(r.stderr) == [
        "Error: channels: no channel named 'nope'",
        "Hint: known channels: erp_stock_in, shop_stock_csv, shop_stock_xml"]


def test_validate_missing_file(ws: Workspace, tmp_path: Path) -> None:
    r = gw(ws, "validate", str(tmp_path / "none.csv"), "--channel", "erp_stock_in")
    assert r.exit_code == 2
    assert lines(r.stderr) == [f"Error: {tmp_path / 'none.csv'}: no such file"]


# -- rejected ----------------------------------------------------------------------------------
def test_rejected_list_table(done: Workspace) -> None:
    x = done.ledger().get(1)
    assert x is not None
    r = gw(done, "rejected", "list")
    assert r.exit_code == 0
    header, rows = table(r.stdout)
    assert header == ["id", "channel", "file", "received", "errors", "first error"]
    assert rows == [["1", "erp_stock_in", "bad.csv", x.created_at[:19], "1",
                     f"bad.csv:1: QTE_VIRTUELLE: {MISSING_QTE}"]]


def test_rejected_list_json(done: Workspace) -> None:
    x = done.ledger().get(1)
    assert x is not None
    r = gw(done, "rejected", "list", "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout) == [{
        "id": 1, "channel": "erp_stock_in", "file": "bad.csv", "state": "REJECTED",
        "received": x.created_at, "sha256": sha(BAD_HEADER),
        "errors": [{"line": 1, "field": "QTE_VIRTUELLE", "value": None,
                    "message": MISSING_QTE}]}]


def test_rejected_list_when_none(ws: Workspace) -> None:
    ws.drop("good.csv", GOOD)
    ws.run_once()
    r = gw(ws, "rejected", "list")
    assert (r.exit_code, lines(r.stdout)) == (0, ["no rejected files"])
    r = gw(ws, "rejected", "list", "--json")
    assert (r.exit_code, json.loads(r.stdout)) == (0, [])


def test_rejected_list_before_any_run_says_how_to_start(ws: Workspace) -> None:
    r = gw(ws, "rejected", "list")
    assert r.exit_code == 2
    assert lines(r.stderr) == [f"Error: no ledger yet at {ws.root / 'state/ledger.sqlite3'}",
                               "Hint: run 'gateway run --once' first"]


def test_rejected_show(done: Workspace) -> None:
    x = done.ledger().get(1)
    assert x is not None
    r = gw(done, "rejected", "show", "1")
    assert r.exit_code == 0
    assert lines(r.stdout) == [
        "Exchange 1: bad.csv on channel erp_stock_in",
        "  state:    REJECTED",
        "  result:   rejected",
        f"  received: {x.created_at}",
        f"  sha256:   {sha(BAD_HEADER)}",
        "  records:  0 total, 0 accepted, 0 rejected",
        "  errors:   1",
        f"    bad.csv:1: QTE_VIRTUELLE: {MISSING_QTE}"]


def test_rejected_show_json(done: Workspace) -> None:
    x = done.ledger().get(1)
    assert x is not None
    r = gw(done, "rejected", "show", "1", "--json")
    assert r.exit_code == 0
    data = json.loads(r.stdout)
    assert data == {**x.to_dict(), "errors": [
        {"line": 1, "field": "QTE_VIRTUELLE", "value": None, "message": MISSING_QTE}]}
    assert (data["id"], data["state"], data["file_name"], data["size"]) == (
        1, "REJECTED", "bad.csv", len(BAD_HEADER))


def test_rejected_show_unknown_id(done: Workspace) -> None:
    r = gw(done, "rejected", "show", "99")
    assert r.exit_code == 2
    assert lines(r.stderr) == ["Error: no exchange with id 99",
                               "Hint: 'gateway archive list' shows ids"]


def test_reprocess_dry_run_changes_nothing(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", extra_in="accept_partial = false")
    ws.drop("p.csv", PARTIAL)
    assert gw(ws, "run", "--once").exit_code == 1
    ledger = ws.ledger()
    assert ledger.get(1).state is ExchangeState.REJECTED  # type: ignore[union-attr]
    before = snapshot(ledger)
    archived = tree(ws.root / "archive")
    outboxes = (tree(ws.erp_out), tree(ws.shop_out))
    make_workspace(ws.root, extra_in="accept_partial = true")  # the operator relents
    r = gw(ws, "rejected", "reprocess", "1", "--dry-run")
    assert r.exit_code == 1  # partial
    assert lines(r.stdout) == [
        "exchange 1: would be partial: 1 record(s) accepted, 1 rejected",
        "  p.csv:3: QTE_VIRTUELLE: not a number (value 'deux')",
        "  would write stock_000003.csv for shop_stock_csv (27 bytes)",
        "  would write stock_000003.xml for shop_stock_xml (205 bytes)"]
    assert snapshot(ws.ledger()) == before
    assert tree(ws.root / "archive") == archived
    assert (tree(ws.erp_out), tree(ws.shop_out)) == outboxes
    assert ws.ledger().db.execute("SELECT COUNT(*) FROM stock_positions").fetchone()[0] == 0


def test_reprocess_after_accept_partial_is_allowed(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", extra_in="accept_partial = false")
    ws.drop("p.csv", PARTIAL)
    assert gw(ws, "run", "--once").exit_code == 1
    assert ws.files(ws.shop_out) == []
    make_workspace(ws.root, extra_in="accept_partial = true")
    r = gw(ws, "rejected", "reprocess", "1")
    assert r.exit_code == 1  # partly accepted is still worth a non-zero exit
    assert lines(r.stdout) == [
        "exchange 1: is partial: 1 record(s) accepted, 1 rejected",
        "  p.csv:3: QTE_VIRTUELLE: not a number (value 'deux')",
        "  wrote stock_000003.csv for shop_stock_csv (27 bytes)",
        "  wrote stock_000003.xml for shop_stock_xml (205 bytes)"]
    ledger = ws.ledger()
    first, attempt = ledger.get(1), ledger.get(3)
    assert first is not None and attempt is not None
    assert first.state is ExchangeState.REPROCESSED
    assert (attempt.parent_id, attempt.state, attempt.result, attempt.sha256) == (
        1, ExchangeState.PROCESSED, "partial", sha(PARTIAL))
    assert [a.id for a in ledger.attempts_of(1)] == [3]
    assert [t.to_state for t in ledger.transitions(1)] == ["RECEIVED", "REJECTED",
                                                          "REPROCESSED"]
    assert ws.files(ws.shop_out) == ["stock_000003.csv", "stock_000003.xml"]
    assert (ws.shop_out / "stock_000003.csv").read_text("utf-8") == (
        "Reference #;Quantity\nA-1;1\n")
    assert [(ws.shop_out / n).stat().st_size for n in ws.files(ws.shop_out)] == [27, 205]
    assert ws.files(ws.erp_out) == ["ACK_p_000001.xml", "ACK_p_000003.xml"]
    assert lines(gw(ws, "rejected", "list").stdout) == ["no rejected files"]
    # reprocessing it again is refused: it is no longer waiting
    r = gw(ws, "rejected", "reprocess", "1")
    assert r.exit_code == 2
    assert lines(r.stderr) == ["Error: exchange 1 is REPROCESSED, not REJECTED; only "
                               "rejected files are reprocessed"]


def test_reprocess_with_a_corrected_mapping_in_the_workspace(done: Workspace) -> None:
    ws = done
    shipped = (resource_dir("mappings") / "erp_stock_csv.toml").read_text("utf-8")
    (ws.root / "mappings").mkdir()
    (ws.root / "mappings/erp_stock_csv.toml").write_text(
        shipped.replace('column = "QTE_VIRTUELLE"', 'column = "QTE"'), "utf-8")
    r = gw(ws, "rejected", "reprocess", "1")
    assert r.exit_code == 0, r.output
    # outputs of good.csv (exchange 2) are 4, 5, 6; the new attempt is 7
    assert lines(r.stdout) == [
        "exchange 1: is accepted: 1 record(s) accepted, 0 rejected",
        "  wrote stock_000007.csv for shop_stock_csv (29 bytes)",
        "  wrote stock_000007.xml for shop_stock_xml (212 bytes)"]
    ledger = ws.ledger()
    attempt = ledger.get(7)
    assert attempt is not None
    assert (attempt.parent_id, attempt.state, attempt.result, attempt.records_accepted) == (
        1, ExchangeState.PROCESSED, "accepted", 1)
    assert ledger.get(1).state is ExchangeState.REPROCESSED  # type: ignore[union-attr]
    assert [(o.file_name, o.state) for o in ledger.outputs_of(7)] == [
        ("stock_000007.csv", ExchangeState.DELIVERED),
        ("stock_000007.xml", ExchangeState.DELIVERED),
        ("ACK_bad_000007.xml", ExchangeState.DELIVERED)]
    assert (ws.shop_out / "stock_000007.csv").read_text("utf-8") == (
        "Reference #;Quantity\nTAPIS;7\n")
    assert (ws.shop_out / "stock_000007.xml").stat().st_size == 212
    assert "ACK_bad_000007.xml" in ws.files(ws.erp_out)


def test_reprocess_of_a_file_that_is_not_rejected(done: Workspace) -> None:
    before = snapshot(done.ledger())
    r = gw(done, "rejected", "reprocess", "2")
    assert r.exit_code == 2
    assert r.stdout == ""
    assert lines(r.stderr) == ["Error: exchange 2 is PROCESSED, not REJECTED; only rejected "
                               "files are reprocessed"]
    r = gw(done, "rejected", "reprocess", "3", "--dry-run")  # an ack, not an input
    assert r.exit_code == 2
    assert lines(r.stderr) == ["Error: no incoming exchange with id 3",
                               "Hint: 'gateway rejected list' shows the ids"]
    assert snapshot(done.ledger()) == before


# -- archive -----------------------------------------------------------------------------------
def test_archive_list_table_and_filters(done: Workspace) -> None:
    xs = {x.id: x for x in done.ledger().list_exchanges()}
    t = {i: x.created_at[:19] for i, x in xs.items()}
    r = gw(done, "archive", "list")
    assert r.exit_code == 0
    header, rows = table(r.stdout)
    assert header == ["id", "dir", "channel", "file", "state", "size", "time", "from"]
    ack1, ack2 = (done.erp_out / "ACK_bad_000001.xml", done.erp_out / "ACK_good_000002.xml")
    csv2, xml2 = done.shop_out / "stock_000002.csv", done.shop_out / "stock_000002.xml"
    assert rows == [
        ["1", "in", "erp_stock_in", "bad.csv", "REJECTED", str(len(BAD_HEADER)), t[1], ""],
        ["2", "in", "erp_stock_in", "good.csv", "PROCESSED", str(len(GOOD)), t[2], ""],
        ["3", "out", "erp_stock_in", "ACK_bad_000001.xml", "DELIVERED",
         str(ack1.stat().st_size), t[3], "1"],
        ["4", "out", "shop_stock_csv", "stock_000002.csv", "DELIVERED",
         str(csv2.stat().st_size), t[4], "2"],
        ["5", "out", "shop_stock_xml", "stock_000002.xml", "DELIVERED",
         str(xml2.stat().st_size), t[5], "2"],
        ["6", "out", "erp_stock_in", "ACK_good_000002.xml", "DELIVERED",
         str(ack2.stat().st_size), t[6], "2"]]
    r = gw(done, "archive", "list", "--channel", "shop_stock_csv")
    assert (r.exit_code, [row[0] for row in table(r.stdout)[1]]) == (0, ["4"])
    r = gw(done, "archive", "list", "--state", "rejected")
    assert (r.exit_code, [row[0] for row in table(r.stdout)[1]]) == (0, ["1"])
    r = gw(done, "archive", "list", "--channel", "erp_stock_in", "--state", "DELIVERED")
    assert (r.exit_code, [row[0] for row in table(r.stdout)[1]]) == (0, ["3", "6"])


def test_archive_list_json(done: Workspace) -> None:
    r = gw(done, "archive", "list", "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout) == [x.to_dict() for x in done.ledger().list_exchanges()]
    r = gw(done, "archive", "list", "--json", "--channel", "erp_stock_in", "--state",
           "processed")
    data = json.loads(r.stdout)
    assert [(d["id"], d["direction"], d["file_name"], d["state"], d["sha256"]) for d in data
            ] == [(2, "in", "good.csv", "PROCESSED", sha(GOOD))]


def test_archive_list_unknown_state(done: Workspace) -> None:
    r = gw(done, "archive", "list", "--state", "lost")
    assert r.exit_code == 2
    assert lines(r.stderr) == [
        "Error: unknown state 'lost'",
        "Hint: states: RECEIVED, PROCESSED, REJECTED, DUPLICATE, REPROCESSED, PENDING, "
        "STAGED, DELIVERED"]


def test_archive_show_lists_transitions_and_outputs(done: Workspace) -> None:
    ledger = done.ledger()
    x = ledger.get(2)
    assert x is not None
    ts = ledger.transitions(2)
    r = gw(done, "archive", "show", "2")
    assert r.exit_code == 0
    assert lines(r.stdout) == [
        "id:               2",
        "direction:        in",
        "channel:          erp_stock_in",
        "endpoint:         erp_in",
        "file_name:        good.csv",
        f"size:             {len(GOOD)}",
        f"sha256:           {sha(GOOD)}",
        "state:            PROCESSED",
        "document:         stock",
        f"created_at:       {x.created_at}",
        f"updated_at:       {x.updated_at}",
        f"settled_at:       {x.settled_at}",
        "result:           accepted",
        "records_total:    3",
        "records_accepted: 3",
        "records_rejected: 0",
        "attempts:         0",
        "transitions:",
        f"  {ts[0].at}            - -> RECEIVED    picked up from {done.inbox}",
        f"  {ts[1].at}     RECEIVED -> PROCESSED   accepted: 3 record(s) accepted",
        "outputs:",
        "  4  document shop_stock_csv       stock_000002.csv  DELIVERED",
        "  5  document shop_stock_xml       stock_000002.xml  DELIVERED",
        "  6  ack      erp_stock_in         ACK_good_000002.xml  DELIVERED"]


def test_archive_show_of_a_rejected_then_reprocessed_file(done: Workspace) -> None:
    shipped = (resource_dir("mappings") / "erp_stock_csv.toml").read_text("utf-8")
    (done.root / "mappings").mkdir()
    (done.root / "mappings/erp_stock_csv.toml").write_text(
        shipped.replace('column = "QTE_VIRTUELLE"', 'column = "QTE"'), "utf-8")
    assert gw(done, "rejected", "reprocess", "1").exit_code == 0
    ts = done.ledger().transitions(1)
    r = gw(done, "archive", "show", "1")
    assert r.exit_code == 0
    out = lines(r.stdout)
    assert out[out.index("transitions:"):] == [
        "transitions:",
        f"  {ts[0].at}            - -> RECEIVED    picked up from {done.inbox}",
        f"  {ts[1].at}     RECEIVED -> REJECTED    rejected: 0 record(s) accepted, 1 error(s)",
        f"  {ts[2].at}     REJECTED -> REPROCESSED replaced by attempt 7 (accepted)",
        "outputs:",
        "  3  ack      erp_stock_in         ACK_bad_000001.xml  DELIVERED",
        "reprocessed as: 7",
        "errors: 1 (gateway rejected show 1)"]
    data = json.loads(gw(done, "archive", "show", "7", "--json").stdout)
    assert (data["id"], data["parent_id"], data["state"]) == (7, 1, "PROCESSED")


def test_archive_show_json(done: Workspace) -> None:
    ledger = done.ledger()
    x = ledger.get(1)
    assert x is not None
    ts = ledger.transitions(1)
    r = gw(done, "archive", "show", "1", "--json")
    assert r.exit_code == 0
    data = json.loads(r.stdout)
    assert data == {
        **x.to_dict(),
        "transitions": [
            {"from": None, "to": "RECEIVED", "at": ts[0].at,
             "reason": f"picked up from {done.inbox}"},
            {"from": "RECEIVED", "to": "REJECTED", "at": ts[1].at,
             "reason": "rejected: 0 record(s) accepted, 1 error(s)"}],
        "outputs": [o.to_dict() for o in ledger.outputs_of(1)],
        "reprocessed_as": [],
        "errors": [{"line": 1, "field": "QTE_VIRTUELLE", "value": None,
                    "message": MISSING_QTE}]}
    assert [(o["id"], o["kind"], o["file_name"], o["state"]) for o in data["outputs"]] == [
        (3, "ack", "ACK_bad_000001.xml", "DELIVERED")]
    assert data["attempts"] == 0  # the retry count of the exchange, not its reprocessings


def test_archive_cat_prints_the_exact_original_bytes(done: Workspace) -> None:
    r = gw(done, "archive", "cat", "2")
    assert r.exit_code == 0
    assert r.stdout_bytes == GOOD  # cp1252, CRLF, untouched
    r = gw(done, "archive", "cat", "1")
    assert r.stdout_bytes == BAD_HEADER


def test_archive_cat_of_a_file_refused_before_reading(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", extra_in="max_size = 10")
    ws.drop("big.csv", GOOD)
    ws.run_once()
    r = gw(ws, "archive", "cat", "1")
    assert r.exit_code == 2
    assert r.stdout_bytes == b""
    assert lines(r.stderr) == ["Error: exchange 1 was refused before reading; nothing was "
                               "archived"]


def test_archive_verify_then_corrupt_one_blob(done: Workspace) -> None:
    r = gw(done, "archive", "verify")
    assert r.exit_code == 0
    blobs = sorted(Archive.in_workspace(done.root).iter_blobs())
    assert len(blobs) == 6  # 2 inputs, 2 shop outputs, 2 acks
    assert lines(r.stdout) == ["6 archived file(s) checked, 0 problem(s)"]
    blob = Archive.in_workspace(done.root).path(sha(GOOD))
    blob.write_bytes(GOOD.replace(b"12,000", b"99,000"))
    r = gw(done, "archive", "verify")
    assert r.exit_code == 1
    assert lines(r.stdout) == [
        f"{blob}: content hashes to {sha(GOOD.replace(b'12,000', b'99,000'))}, "
        f"stored as {sha(GOOD)}",
        "6 archived file(s) checked, 1 problem(s)"]


def test_archive_verify_reports_a_missing_blob(done: Workspace) -> None:
    Archive.in_workspace(done.root).path(sha(BAD_HEADER)).unlink()
    r = gw(done, "archive", "verify")
    assert r.exit_code == 1
    assert lines(r.stdout) == [f"missing blob {sha(BAD_HEADER)} referenced by the ledger",
                               "5 archived file(s) checked, 1 problem(s)"]


# -- status ------------------------------------------------------------------------------------
def _block_delivery(ws: Workspace, name: str) -> None:
    """A directory where the temporary file must go: the endpoint cannot be written."""
    (ws.shop_out / f".{name}.part").mkdir()


def test_status_json_and_table(done: Workspace) -> None:
    ws = done
    _block_delivery(ws, "stock_000007.csv")  # the shop endpoint refuses the next output
    ws.drop("later.csv", stock_csv("Z-9;MAIN;1,000;28/11/2026 10:00"))  # exchange 7
    ws.drop("resent.csv", GOOD)  # exchange 8: same content as good.csv
    ws.run_once()
    ledger = ws.ledger()
    assert [(x.id, x.file_name, x.state) for x in ledger.list_exchanges(direction=Direction.IN)
            ] == [(1, "bad.csv", ExchangeState.REJECTED), (2, "good.csv", ExchangeState.PROCESSED),
                  (7, "later.csv", ExchangeState.PROCESSED),
                  (8, "resent.csv", ExchangeState.DUPLICATE)]
    ws.drop("new.csv", GOOD.replace(b"09:00", b"11:00"))  # arrived after the run: backlog
    csv_out, xml_out = ledger.get(9), ledger.get(10)
    assert csv_out is not None and xml_out is not None
    assert (csv_out.file_name, csv_out.state, xml_out.file_name, xml_out.state) == (
        "stock_000007.csv", ExchangeState.PENDING, "stock_000007.xml", ExchangeState.PENDING)
    err = csv_out.last_error
    assert err is not None and err.startswith(
        f"endpoint shop_out: cannot write {ws.shop_out / '.stock_000007.csv.part'}: ")
    health = ledger.endpoint_health()
    assert {name: h["up"] for name, h in health.items()} == {
        "erp_in": True, "erp_out": True, "shop_out": False}
    r = gw(ws, "status", "--json")
    assert r.exit_code == 0
    data = json.loads(r.stdout)
    assert list(data) == ["erp_stock_in", "shop_stock_csv", "shop_stock_xml"]
    assert {ch: (d["backlog"], d["rejected"], d["undelivered"]) for ch, d in data.items()} == {
        "erp_stock_in": (1, 1, 0), "shop_stock_csv": (1, 0, 1), "shop_stock_xml": (1, 0, 1)}
    assert data["erp_stock_in"] == {
        "direction": "in", "endpoint": "erp_in", "document": "stock",
        "last_file": "resent.csv", "last_state": "DUPLICATE",
        "last_time": ledger.get(8).updated_at,  # type: ignore[union-attr]
        "backlog": 1, "received": 4, "rejected": 1, "duplicates": 1, "undelivered": 0,
        "delivered": 4, "last_error": None,
        "endpoint_up": True, "endpoint_since": health["erp_in"]["since"],
        "endpoint_last_error": None, "processing_error": None, "processing_since": None}
    assert data["shop_stock_csv"] == {
        "direction": "out", "endpoint": "shop_out", "document": "stock",
        "last_file": "stock_000007.csv", "last_state": "PENDING",
        "last_time": csv_out.updated_at,
        "backlog": 1, "received": 0, "rejected": 0, "duplicates": 0, "undelivered": 1,
        "delivered": 1, "last_error": err,
        "endpoint_up": False, "endpoint_since": health["shop_out"]["since"],
        "endpoint_last_error": err, "processing_error": None, "processing_since": None}
    # the XML output waits behind the CSV (order kept): the endpoint's error explains it
    assert (data["shop_stock_xml"]["endpoint_up"], data["shop_stock_xml"]["last_error"]) == (
        False, err)
    r = gw(ws, "status")
    assert r.exit_code == 0
    header, rows = table(r.stdout)
    assert header == ["channel", "dir", "endpoint", "endpoint state", "last file",
                      "last state", "waiting", "rejected", "undelivered", "last error"]
    up = f"up since {health['erp_in']['since'][:19]}"
    down = f"DOWN since {health['shop_out']['since'][:19]}"
    assert rows == [
        ["erp_stock_in", "in", "erp_in", up, "resent.csv", "DUPLICATE", "1", "1", "0", ""],
        ["shop_stock_csv", "out", "shop_out", down, "stock_000007.csv", "PENDING", "1", "0",
         "1", err],
        ["shop_stock_xml", "out", "shop_out", down, "stock_000007.xml", "PENDING", "1", "0",
         "1", err]]


# -- demo --------------------------------------------------------------------------------------
def test_demo_creates_a_workspace_and_summarises(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    r = runner.invoke(app, ["demo", str(target)])
    assert r.exit_code == 0, r.output
    out = lines(r.stdout)
    summary = ("received 12, produced 15, rejected 1, duplicates 1, acknowledged 13, "
               "delivered 28")
    assert out[-2:] == [summary,
                        f"next: cd {target} && gateway rejected list && gateway status"]
    header, rows = table(r.stdout)
    assert header == ["id", "file received", "result", "accepted", "rejected", "produced",
                      "ack"]
    assert [row[1:5] for row in rows] == [
        ["categories_20261128.csv", "accepted", "5", "0"],
        ["catalogue_20261128.csv", "partial", "3", "1"],
        ["prices_20261128.csv", "partial", "2", "1"],
        ["customers_20261128.csv", "accepted", "1", "0"],
        ["orders_20261128_1000.csv", "accepted", "2", "0"],
        ["orders_20261128_1015.csv", "accepted", "2", "0"],
        ["orders_20261128.edi", "accepted", "1", "0"],
        ["status_20261128.csv", "accepted", "5", "0"],
        ["stock_20261128_0900.csv", "accepted", "5", "0"],
        ["stock_20261128_0900_resent.csv", "duplicate", "0", "0"],
        ["stock_20261128_0915.csv", "partial", "2", "3"],
        ["stock_20261128_0930.csv", "rejected", "0", "0"]]
    assert (target / "gateway.toml").is_file() and (target / ".gateway-demo").is_file()
    shop, erp = target / "outbox/shop", target / "outbox/erp"
    files = sorted(p.name for p in shop.iterdir() if not p.name.startswith("ACK_"))
    assert [f.rsplit("_", 1)[0] for f in files] == [
        "backorders", "categories", "prices", "products", "stock", "stock", "stock", "stock"]

    def read(folder: Path, prefix: str, encoding: str = "utf-8") -> list[str]:
        [path] = [p for p in folder.iterdir() if p.name.startswith(prefix)]
        return path.read_text(encoding=encoding).splitlines()
    # files a shop imports: the tree parents first, products with the shop's category and
    # tax ids, prices; the product in an unknown family and the price ending before it
    # starts are left out, and said so in the ERP's acknowledgements
    assert [r.split(";")[:4] for r in read(shop, "categories_")[1:]] == [
        ["3", "1", "Maison", ""], ["4", "1", "Mobilier", "3"], ["5", "1", "Luminaires", "3"],
        ["6", "1", "Chaises", "4"], ["7", "1", "Tables", "4"]]
    assert [r.split(";")[3:6] for r in read(shop, "products_")[1:]] == [
        ["6", "1", "CHAISE-ÉTÉ-01"], ["7", "1", "TABLE-CHÊNE-180"],
        ["5", "1", "LAMPE-LAITON"]]
    assert read(shop, "prices_")[1:] == ["CHAISE-ÉTÉ-01;74.92;89.90",
                                         "TABLE-CHÊNE-180;749.17;899.00"]
    # orders: each new one forwarded once, the returning customer's new address sent as an
    # update, the unpaid one waiting; the blocked table comes back as a back-order
    erp_orders = read(erp, "orders_000005", "cp1252")
    assert [r.split(";")[:3] for r in erp_orders if r.startswith("E;")] == [
        ["E", "shopify", "#1001"], ["E", "shopify", "#1002"]]
    assert [r.split(";")[1:3] for r in erp_orders if r.startswith("C;")] == [
        ["C00042", "updated"], ["", "new"]]
    assert read(erp, "customer_updates_", "cp1252") == [
        "C00042;anne.martin@example.com;Anne Martin;;;Anne Martin;;3 impasse du Moulin;;"
        "69003;Lyon;FR;#1001"]
    ack = (shop / "ACK_orders_20261128_1015_000006.xml").read_text(encoding="utf-8")
    assert '<order number="#1002" status="duplicate">' in ack
    assert '<order number="#1003" status="waiting payment">' in ack
    assert read(shop, "backorders_")[1:] == [
        "#1002,1,TABLE-CHÊNE-180,blocked,1,0,1,2026-12-12,STOCK,Stock insuffisant"]
    # the ERP's 09:00 stock predates the orders: the shop is shown what is left after them
    # (42 chairs − 2, 1,250.5 lamps − 1 rounded down; the blocked table does not count)
    assert sorted(read(shop, "stock_000023.csv")[1:]) == [
        "CHAISE-ÉTÉ-01;38", "LAMPE-LAITON;1248", "TABLE-CHÊNE-180;2"]
    # the B2B buyer's EANCOM order went through the same rules to the ERP; the buyer got
    # an order response for it alone and the stock it may order, by EDI
    buyer = target / "outbox/buyer"
    assert [r.split(";")[:3] for r in read(erp, "orders_000007", "cp1252")
            if r.startswith("E;")] == [["E", "3012345000017", "PO-2026-0117"]]
    ordrsp = read(buyer, "ORDRSP_", "latin-1")
    assert "BGM+231+PO-2026-0117+29'" in ordrsp and "PIA+5+CHAISE-ÉTÉ-01:SA'" in ordrsp
    assert not any("#100" in seg for seg in ordrsp)  # the shop's orders are not the buyer's
    assert "QTY+145:38'" in read(buyer, "INVRPT_000023", "latin-1")
    # and a CONTRL: its interchange acknowledged (UCI 7), the message too (UCM 7)
    contrl = read(buyer, "CONTRL_orders_20261128_", "latin-1")
    assert "UCI+BUY000117+3012345000017:14+3098765000004:14+7'" in contrl
    assert "UCM+1+ORDERS:D:96A:UN:EAN008+7'" in contrl
    assert read(erp, "replenishment_", "cp1252") == [
        "TABLE-CHÊNE-180;4,000;2,000;3,000;6,000;projected stock 2 fell below the reorder "
        "point 3"]
    # the workspace it made is a working one
    r = runner.invoke(app, ["--config", str(target / "gateway.toml"), "rejected", "list",
                            "--json"])
    assert [d["file"] for d in json.loads(r.stdout)] == ["stock_20261128_0930.csv"]
    # run again in the same place: recreated, same summary
    r = runner.invoke(app, ["demo", str(target)])
    assert r.exit_code == 0
    assert lines(r.stdout)[-2] == summary


def test_demo_refuses_a_folder_that_is_not_a_demo(tmp_path: Path) -> None:
    target = tmp_path / "mine"
    target.mkdir()
    (target / "keep.txt").write_text("precious")
    r = runner.invoke(app, ["demo", str(target)])
    assert r.exit_code == 2
    assert lines(r.stderr) == [f"Error: {target} exists and is not a demo workspace",
                               "Hint: give an empty or new folder: gateway demo DIR"]
    assert (target / "keep.txt").read_text() == "precious"


# -- configuration and logging ------------------------------------------------------------------
def test_broken_config_names_the_key(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", extra_in='colour = "blue"')
    ws.drop("good.csv", GOOD)
    for args in (["run", "--once"], ["status"], ["validate", str(ws.inbox / "good.csv"),
                                                  "--channel", "erp_stock_in"]):
        r = gw(ws, *args)
        assert r.exit_code == 2, args
        assert r.stdout == ""
        assert lines(r.stderr) == [
            f"Error: {ws.config_path}: channels.erp_stock_in.colour: unknown key 'colour'",
            "Hint: known keys here: accept_partial, ack_endpoint, ack_filename, cron, "
            "direction, document, done_suffix, edi, empty_grace, endpoint, every, export, "
            "filename, mapping, max_line, max_records, max_size, min_age, order, pattern, "
            "payment, "
            "prices_include_tax, publish, reorder_point, reorder_target, safety_buffer, "
            "settle, sources, watch, where"], args
    assert ws.files(ws.inbox) == ["good.csv"]
    assert not (ws.root / "state").exists()


def test_missing_config_file(tmp_path: Path) -> None:
    r = runner.invoke(app, ["--config", str(tmp_path / "none.toml"), "status"])
    assert r.exit_code == 2
    assert lines(r.stderr) == [
        f"Error: {tmp_path / 'none.toml'}: configuration file not found",
        "Hint: pass --config PATH, or run 'gateway demo' for a sample"]


def test_log_format_json_puts_json_lines_on_stderr(ws: Workspace) -> None:
    ws.drop("good.csv", GOOD)
    _block_delivery(ws, "stock_000001.csv")
    r = runner.invoke(app, ["--config", str(ws.config_path), "--log-format", "json",
                            "run", "--once"])
    assert r.exit_code == 0
    assert lines(r.stdout) == ["exchange 1: accepted (3 accepted, 0 rejected)",
                               "received 1, processed 1, rejected 0, delivered 1"]
    err = ws.ledger().get(2).last_error  # type: ignore[union-attr]
    records = [json.loads(line) for line in lines(r.stderr)]
    assert [(d["level"], d["logger"], d["message"]) for d in records] == [
        ("warning", "gateway.deliver", f"endpoint shop_out: {err}; will retry")]
    assert set(records[0]) == {"time", "level", "logger", "message"}


def test_log_format_text_is_the_default(ws: Workspace) -> None:
    ws.drop("good.csv", GOOD)
    _block_delivery(ws, "stock_000001.csv")
    r = gw(ws, "run", "--once")
    err = ws.ledger().get(2).last_error  # type: ignore[union-attr]
    assert r.exit_code == 0
    out = lines(r.stderr)
    assert len(out) == 2
    assert out[0].endswith(f" WARNING gateway.deliver: endpoint shop_out: {err}; will retry")
    assert out[1] == f"warning: shop_out: {err}"


def test_bad_log_format_is_a_usage_error(ws: Workspace) -> None:
    r = runner.invoke(app, ["--config", str(ws.config_path), "--log-format", "xml",
                            "status"])
    assert r.exit_code == 2
    assert r.stdout == ""
    assert "│ Invalid value for --log-format: text or json " in lines(r.stderr)[3]
