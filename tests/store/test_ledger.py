"""The SQLite ledger: migrations, append-only transitions, savepoints, stock positions."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.errors import TransientError
from gateway.model import Direction, ExchangeState
from gateway.store.ledger import MIGRATIONS, Ledger, Transition


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    led = Ledger(tmp_path / "state" / "ledger.sqlite3")
    yield led
    led.close()


def add_input(ledger: Ledger, name: str = "stock1.csv", sha: str = "aa" * 32) -> int:
    with ledger.transaction():
        return ledger.add_exchange(direction=Direction.IN, channel="erp_stock_in",
                                   endpoint="erp_in", file_name=name, size=10, sha256=sha,
                                   state=ExchangeState.RECEIVED, reason="archived")


def add_input_raw(ledger: Ledger, name: str) -> int:
    return ledger.add_exchange(direction=Direction.IN, channel="erp_stock_in",
                               endpoint="erp_in", file_name=name, size=1, sha256="cc" * 32,
                               state=ExchangeState.RECEIVED, reason="archived")


def test_migrations_create_the_schema_version(ledger: Ledger) -> None:
    assert ledger.schema_version == len(MIGRATIONS) == 6
    tables = {r[0] for r in ledger.db.execute(
        "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"exchanges", "transitions", "problems", "stock_positions", "endpoint_health",
            "schema_version"} <= tables
    assert ledger.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reopening_does_not_rerun_migrations(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    first = Ledger(path)
    xid = add_input(first)
    first.close()
    again = Ledger(path)
    try:
        assert again.schema_version == len(MIGRATIONS)
        versions = [r[0] for r in again.db.execute(
            "SELECT version FROM schema_version ORDER BY version")]
        assert versions == list(range(1, len(MIGRATIONS) + 1))
        x = again.get(xid)
        assert x is not None and x.file_name == "stock1.csv"
    finally:
        again.close()


def test_add_exchange_records_the_first_transition(ledger: Ledger) -> None:
    xid = add_input(ledger)
    x = ledger.get(xid)
    assert x is not None
    assert (x.id, x.direction, x.channel, x.state, x.size, x.attempts) == (
        1, Direction.IN, "erp_stock_in", ExchangeState.RECEIVED, 10, 0)
    [t] = ledger.transitions(xid)
    assert (t.from_state, t.to_state, t.reason) == (None, "RECEIVED", "archived")
    assert ledger.get(999) is None


def test_set_state_appends_a_transition_with_from_to_and_reason(ledger: Ledger) -> None:
    xid = add_input(ledger)
    with ledger.transaction():
        ledger.set_state(xid, ExchangeState.REJECTED, "3 bad lines", records_total=5,
                         records_rejected=3)
    with ledger.transaction():
        ledger.set_state(xid, ExchangeState.REPROCESSED, "replaced by exchange 2")
    x = ledger.get(xid)
    assert x is not None
    assert x.state is ExchangeState.REPROCESSED
    assert (x.records_total, x.records_rejected) == (5, 3)
    assert [(t.from_state, t.to_state, t.reason) for t in ledger.transitions(xid)] == [
        (None, "RECEIVED", "archived"),
        ("RECEIVED", "REJECTED", "3 bad lines"),
        ("REJECTED", "REPROCESSED", "replaced by exchange 2"),
    ]
    assert all(isinstance(t, Transition) and t.at for t in ledger.transitions(xid))


def test_set_state_refuses_fields_that_are_not_updatable(ledger: Ledger) -> None:
    xid = add_input(ledger)
    with pytest.raises(ValueError, match="field sha256 cannot be updated"):
        ledger.set_state(xid, ExchangeState.PROCESSED, "x", sha256="bb" * 32)


def test_transitions_are_append_only(ledger: Ledger) -> None:
    xid = add_input(ledger)
    with pytest.raises(sqlite3.IntegrityError, match="transitions are append-only"):
        ledger.db.execute("UPDATE transitions SET reason='rewritten' WHERE exchange_id=?",
                          (xid,))
    with pytest.raises(sqlite3.IntegrityError, match="transitions are append-only"):
        ledger.db.execute("DELETE FROM transitions")
    assert [t.reason for t in ledger.transitions(xid)] == ["archived"]


def test_transaction_commits_for_other_connections(ledger: Ledger) -> None:
    xid = add_input(ledger)
    other = sqlite3.connect(ledger.path)
    try:
        assert other.execute("SELECT file_name FROM exchanges WHERE id=?",
                             (xid,)).fetchone() == ("stock1.csv",)
    finally:
        other.close()


def test_transaction_rolls_back_on_error(ledger: Ledger) -> None:
    with pytest.raises(RuntimeError), ledger.transaction():
        add_input_raw(ledger, "lost.csv")
        raise RuntimeError("boom")
    assert ledger.list_exchanges() == []
    assert ledger.db.in_transaction is False


def test_nested_transaction_rolls_back_only_the_savepoint(ledger: Ledger) -> None:
    with ledger.transaction():
        add_input_raw(ledger, "kept-before.csv")
        with pytest.raises(RuntimeError), ledger.transaction():
            add_input_raw(ledger, "lost.csv")
            raise RuntimeError("inner failure")
        add_input_raw(ledger, "kept-after.csv")
    assert [x.file_name for x in ledger.list_exchanges()] == ["kept-before.csv",
                                                              "kept-after.csv"]
    assert ledger.db.in_transaction is False


def test_nested_transaction_commits_with_the_outer_one(ledger: Ledger) -> None:
    with pytest.raises(RuntimeError), ledger.transaction():
        with ledger.transaction():
            add_input_raw(ledger, "inner.csv")
        raise RuntimeError("outer failure")
    assert ledger.list_exchanges() == []


def test_locked_ledger_makes_transaction_transient(ledger: Ledger) -> None:
    ledger.db.execute("PRAGMA busy_timeout=100")
    other = sqlite3.connect(ledger.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(TransientError) as info, ledger.transaction():
            pass
        assert str(info.value).startswith("ledger is locked: database is locked")
        assert info.value.hint == "another process holds the ledger; retrying"
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert add_input(ledger) == 1  # usable again once the lock is gone


def positions(ledger: Ledger) -> list[tuple[str, str, str, str, int]]:
    return [tuple(r) for r in ledger.db.execute(
        "SELECT sku, warehouse, quantity, as_of, exchange_id FROM stock_positions"
        " ORDER BY sku, warehouse")]


T1 = "2026-11-28T08:15:00+00:00"
T2 = "2026-11-29T08:15:00+00:00"
T0 = "2026-11-27T08:15:00+00:00"
D = Decimal


def test_upsert_positions_inserts_and_counts(ledger: Ledger) -> None:
    with ledger.transaction():
        changed = ledger.upsert_positions([("A-1", "MAIN", D("12.000"), T1),
                                           ("A-1", "EAST", D("3.5"), T1)], 1)
    assert changed == 2
    # stored in exact millionths so that SQLite sums them exactly
    assert positions(ledger) == [("A-1", "EAST", 3_500_000, T1, 1),
                                 ("A-1", "MAIN", 12_000_000, T1, 1)]


def test_quantity_with_more_than_six_decimals_is_refused(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="more than 6 decimal places"), ledger.transaction():
        ledger.upsert_positions([("A-1", "MAIN", D("0.0000001"), T1)], 1)
    assert positions(ledger) == []


def test_older_as_of_never_overwrites_newer(ledger: Ledger) -> None:
    with ledger.transaction():
        ledger.upsert_positions([("A-1", "MAIN", D(12), T1), ("B-2", "MAIN", D(5), T1)], 1)
    with ledger.transaction():
        changed = ledger.upsert_positions([("A-1", "MAIN", D(99), T0),   # older: ignored
                                           ("B-2", "MAIN", D(7), T2),    # newer: applied
                                           ("C-3", "MAIN", D(1), T0)],   # new SKU: inserted
                                          2)
    assert changed == 2
    assert positions(ledger) == [("A-1", "MAIN", 12_000_000, T1, 1),
                                 ("B-2", "MAIN", 7_000_000, T2, 2),
                                 ("C-3", "MAIN", 1_000_000, T0, 2)]


def test_same_as_of_is_applied(ledger: Ledger) -> None:
    with ledger.transaction():
        ledger.upsert_positions([("A-1", "MAIN", D(12), T1)], 1)
    with ledger.transaction():
        assert ledger.upsert_positions([("A-1", "MAIN", D(10), T1)], 2) == 1
    assert positions(ledger) == [("A-1", "MAIN", 10_000_000, T1, 2)]


def test_all_older_rows_change_nothing(ledger: Ledger) -> None:
    with ledger.transaction():
        ledger.upsert_positions([("A-1", "MAIN", D(12), T2), ("A-1", "EAST", D(1), T2)], 1)
    with ledger.transaction():
        assert ledger.upsert_positions([("A-1", "MAIN", D(0), T1),
                                        ("A-1", "EAST", D(0), T0)], 2) == 0
    assert positions(ledger) == [("A-1", "EAST", 1_000_000, T2, 1),
                                 ("A-1", "MAIN", 12_000_000, T2, 1)]


@pytest.mark.parametrize("by_sku", [False, True], ids=["scan", "sku-list"])
def test_totals_cover_all_warehouses_of_touched_skus_only(ledger: Ledger, by_sku: bool
                                                          ) -> None:
    with ledger.transaction():
        ledger.upsert_positions([("A-1", "MAIN", D("12.000"), T1), ("A-1", "EAST", D("3.5"), T1),
                                 ("B-2", "MAIN", D(4), T1), ("Z-9", "MAIN", D(100), T1)], 1)
    with ledger.transaction():
        ledger.upsert_positions([("B-2", "EAST", D("2.5"), T2),
                                 ("A-1", "MAIN", D("10.000"), T2),
                                 ("Z-9", "MAIN", D(1), T0)], 2)  # older: not touched
    skus = ["B-2", "A-1", "Z-9"] if by_sku else None
    assert list(ledger.stock_totals_touched_by(2, skus)) == [("A-1", D("13.5")),
                                                             ("B-2", D("6.5"))]
    assert list(ledger.stock_totals_touched_by(3, skus)) == []


def test_endpoint_health_moves_since_only_when_up_or_down_changes(ledger: Ledger) -> None:
    with ledger.transaction():
        ledger.endpoint_seen("erp_in")
    first = ledger.endpoint_health()["erp_in"]
    assert (first["up"], first["last_error"]) == (True, None)
    with ledger.transaction():
        ledger.endpoint_seen("erp_in")
    assert ledger.endpoint_health()["erp_in"]["since"] == first["since"]
    with ledger.transaction():
        ledger.endpoint_seen("erp_in", error="connection refused")
    down = ledger.endpoint_health()["erp_in"]
    assert (down["up"], down["last_error"]) == (False, "connection refused")
    assert down["since"] > first["since"]
    with ledger.transaction():
        ledger.endpoint_seen("erp_in")
    back = ledger.endpoint_health()["erp_in"]
    # up again since now; the last error stays on record for the operator
    assert (back["up"], back["last_error"]) == (True, "connection refused")
    assert back["since"] > down["since"]
