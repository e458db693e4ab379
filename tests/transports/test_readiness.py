"""Readiness of incoming files, driven by a fake clock (DESIGN §4)."""

from __future__ import annotations

import pytest

from gateway.transports.readiness import Entry, Readiness, is_temporary


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def readiness(clock: FakeClock, pattern: str = "*.csv", *, min_age: float = 5.0,
              empty_grace: float = 60.0, done_suffix: str | None = None) -> Readiness:
    return Readiness(pattern, min_age=min_age, empty_grace=empty_grace,
                     done_suffix=done_suffix, clock=clock)


def names(entries: list[Entry]) -> list[str]:
    return [e.name for e in entries]


@pytest.mark.parametrize("name", [".x", "x.part", "x.tmp", ".stock.csv.part", "x.partial",
                                  "x.filepart", "x~"])
def test_temporary_names_are_never_ready(name: str) -> None:
    clock = FakeClock()
    r = readiness(clock, "*", min_age=0.0)
    entry = Entry(name, 100, 1.0)
    for _ in range(4):
        assert r.observe([entry]) == []
        clock.advance(100)
    assert is_temporary(name)
    assert r.waiting() == 0


def test_ready_after_two_stable_polls_and_min_age_since_first_sight() -> None:
    clock = FakeClock()
    r = readiness(clock, min_age=5.0)
    e = Entry("stock.csv", 100, 1.0)
    assert r.observe([e]) == []          # first sight at t=1000
    assert r.waiting() == 1
    clock.advance(1)
    assert r.observe([e]) == []          # stable, but only 1 s old
    clock.advance(3.9)
    assert r.observe([e]) == []          # 4.9 s
    clock.advance(0.1)
    assert r.observe([e]) == [e]         # 5.0 s and stable


def test_one_poll_is_not_enough_even_when_old() -> None:
    clock = FakeClock()
    r = readiness(clock, min_age=0.0)
    e = Entry("stock.csv", 100, 1.0)
    assert r.observe([e]) == []
    assert r.observe([e]) == [e]


def test_an_mtime_change_alone_restarts_stability() -> None:
    clock = FakeClock()
    r = readiness(clock, min_age=5.0)
    assert r.observe([Entry("stock.csv", 100, 1.0)]) == []
    clock.advance(10)
    touched = Entry("stock.csv", 100, 2.0)
    assert r.observe([touched]) == []
    clock.advance(1)
    # the age counts from the last change the gateway saw: a writer that paused is
    # not taken until the file has stayed unchanged for min_age
    assert r.observe([touched]) == []
    clock.advance(4)
    assert r.observe([touched]) == [touched]


def test_a_growing_file_is_never_ready_while_it_grows() -> None:
    clock = FakeClock()
    r = readiness(clock, min_age=5.0)
    for size in range(1, 30):
        assert r.observe([Entry("stock.csv", size * 1000, float(size))]) == []
        clock.advance(10)
    final = Entry("stock.csv", 29_000, 29.0)
    assert r.observe([final]) == [final]


def test_zero_byte_file_waits_until_empty_grace() -> None:
    clock = FakeClock()
    r = readiness(clock, min_age=5.0, empty_grace=60.0)
    empty = Entry("stock.csv", 0, 1.0)
    assert r.observe([empty]) == []
    clock.advance(10)
    assert r.observe([empty]) == []
    clock.advance(49.9)
    assert r.observe([empty]) == []
    clock.advance(0.1)
    assert r.observe([empty]) == [empty]


def test_zero_byte_file_that_gets_content_follows_the_normal_rule() -> None:
    clock = FakeClock()
    r = readiness(clock, min_age=5.0, empty_grace=60.0)
    assert r.observe([Entry("stock.csv", 0, 1.0)]) == []
    clock.advance(10)
    full = Entry("stock.csv", 500, 2.0)
    assert r.observe([full]) == []
    clock.advance(1)
    assert r.observe([full]) == []  # unchanged for 1 s only
    clock.advance(4)
    assert r.observe([full]) == [full]


def test_done_file_mode_is_ready_only_when_the_companion_exists() -> None:
    clock = FakeClock()
    r = readiness(clock, done_suffix=".done", min_age=5.0)
    data = Entry("stock.csv", 100, 1.0)
    for _ in range(3):
        assert r.observe([data]) == []
        clock.advance(1000)
    done = Entry("stock.csv.done", 0, 1.0)
    # the companion decides at once, whatever the age; the .done file itself is not taken
    assert r.observe([data, done]) == [data]


def test_done_file_without_its_data_file_is_nothing() -> None:
    clock = FakeClock()
    r = readiness(clock, "*", done_suffix=".done", min_age=0.0)
    done = Entry("stock.csv.done", 0, 1.0)
    assert r.observe([done]) == []
    assert r.observe([done]) == []
    assert r.matches("stock.csv.done") is False


def test_pattern_matching() -> None:
    r = readiness(FakeClock(), "STK_*.csv")
    assert r.matches("STK_2026.csv") is True
    assert r.matches("STK_.csv") is True
    assert r.matches("PRC_2026.csv") is False
    assert r.matches("STK_2026.txt") is False
    assert r.matches(".STK_2026.csv") is False
    assert r.matches("STK_2026.csv.part") is False


def test_only_matching_files_are_observed_and_returned_in_listing_order() -> None:
    clock = FakeClock()
    r = readiness(clock, min_age=0.0)
    listing = [Entry("a.csv", 1, 1.0), Entry("b.txt", 1, 1.0), Entry("c.csv", 1, 1.0)]
    assert r.observe(listing) == []
    assert r.waiting() == 2
    assert names(r.observe(listing)) == ["a.csv", "c.csv"]


def test_vanished_files_are_forgotten_and_start_over_when_back() -> None:
    clock = FakeClock()
    r = readiness(clock, min_age=5.0)
    e = Entry("stock.csv", 100, 1.0)
    assert r.observe([e]) == []
    clock.advance(10)
    assert r.observe([]) == []
    assert r.waiting() == 0
    assert r.observe([e]) == []   # first sight again: age restarts
    clock.advance(1)
    assert r.observe([e]) == []
    clock.advance(4)
    assert r.observe([e]) == [e]


def test_forget() -> None:
    clock = FakeClock()
    r = readiness(clock, min_age=0.0)
    e = Entry("stock.csv", 100, 1.0)
    r.observe([e])
    r.forget("stock.csv")
    r.forget("never-seen.csv")
    assert r.waiting() == 0
    assert r.observe([e]) == []
