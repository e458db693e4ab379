"""EDI in the ledger: control numbers per partner that never repeat (restarts included,
rolled-back outputs give theirs back) and the interchanges received, for duplicates."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.model import Direction, ExchangeState
from gateway.store.ledger import CONTROL_MAX, Ledger


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "ledger.sqlite3"


@pytest.fixture
def ledger(path: Path) -> Iterator[Ledger]:
    led = Ledger(path)
    yield led
    led.close()


def add_input(ledger: Ledger, name: str = "orders.edi") -> int:
    with ledger.transaction():
        return ledger.add_exchange(direction=Direction.IN, channel="edi_in", endpoint="in",
                                   file_name=name, size=10, sha256="ab" * 32,
                                   state=ExchangeState.RECEIVED, reason="archived")


def test_control_numbers_count_from_one_per_partner_and_kind(ledger: Ledger) -> None:
    with ledger.transaction():
        got = [ledger.next_control_number("5412345000013", "interchange") for _ in range(3)]
        other = ledger.next_control_number("ACME", "interchange")
        group = ledger.next_control_number("5412345000013", "group")
    assert (got, other, group) == ([1, 2, 3], 1, 1)


def test_control_numbers_continue_after_reopening_the_ledger(path: Path) -> None:
    first = Ledger(path)
    with first.transaction():
        assert first.next_control_number("ACME", "interchange") == 1
        assert first.next_control_number("ACME", "interchange") == 2
    first.close()
    again = Ledger(path)
    try:
        with again.transaction():
            assert again.next_control_number("ACME", "interchange") == 3
            assert again.next_control_number("ACME", "group") == 1
    finally:
        again.close()


def test_a_rolled_back_output_gives_its_number_back(ledger: Ledger) -> None:
    with ledger.transaction():
        assert ledger.next_control_number("ACME", "interchange") == 1
    with pytest.raises(RuntimeError), ledger.transaction():
        assert ledger.next_control_number("ACME", "interchange") == 2
        raise RuntimeError("the output was not committed")
    with ledger.transaction():
        assert ledger.next_control_number("ACME", "interchange") == 2


def test_control_numbers_wrap_after_nine_digits(ledger: Ledger) -> None:
    with ledger.transaction():
        ledger.next_control_number("ACME", "interchange")
        ledger.db.execute("UPDATE edi_control SET last=? WHERE partner='ACME'",
                          (CONTROL_MAX - 1,))
        assert ledger.next_control_number("ACME", "interchange") == 999_999_999
        assert ledger.next_control_number("ACME", "interchange") == 1


def test_an_unknown_kind_is_refused(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="'message' is not one of interchange, group"):
        ledger.next_control_number("ACME", "message")


def test_interchanges_received_are_remembered_with_their_first_exchange(path: Path) -> None:
    led = Ledger(path)
    first, second = add_input(led, "a.edi"), add_input(led, "b.edi")
    with led.transaction():
        assert led.interchange_seen("edifact", "5412345000013", "42") is None
        led.record_interchange("edifact", "5412345000013", "42", first)
        led.record_interchange("edifact", "5412345000013", "42", second)  # sent again
    assert led.interchange_seen("edifact", "5412345000013", "42") == first
    # the same control number from another sender, or in the other standard, is another
    assert led.interchange_seen("edifact", "ACME", "42") is None
    assert led.interchange_seen("x12", "5412345000013", "42") is None
    led.close()
    again = Ledger(path)
    try:
        assert again.interchange_seen("edifact", "5412345000013", "42") == first
    finally:
        again.close()
