"""The EDI syntax readers read a read block at a time (the whole segments a block holds
decoded at once, cut at their terminators, made and placed in their messages in one
loop) and fall back to a segment at a time where a block cannot be read so. Both ways
must give the same events, wherever the blocks end: the segment-at-a-time reading (the
scanner's ``chunk`` turned off) is the reference here."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from gateway.formats import edifact, edistream, x12
from gateway.formats.edi import Message

DATA = Path(__file__).resolve().parent.parent / "data"
EDIFACT_SAMPLE = (DATA / "edifact" / "orders_d96a.edi").read_bytes()
X12_SAMPLE = (DATA / "x12" / "850.x12").read_bytes()


def read(module: Any, data: bytes, **kw: Any) -> list[Any]:
    return list(module.events(io.BytesIO(data), "in.edi", **kw))


def reference(module: Any, data: bytes, monkeypatch: pytest.MonkeyPatch, **kw: Any
              ) -> list[Any]:
    """A segment at a time, as the scanner's ``segment`` and the syntax's ``make`` read."""
    with monkeypatch.context() as m:
        m.setattr(edistream.Scanner, "chunk", lambda self, term, release: None)
        return read(module, data, **kw)


def same_every_way(module: Any, data: bytes, monkeypatch: pytest.MonkeyPatch,
                   blocks: tuple[int, ...] = (1, 2, 3, 5, 7, 64), **kw: Any) -> list[Any]:
    expected = reference(module, data, monkeypatch, **kw)
    assert read(module, data, **kw) == expected
    for block in blocks:
        with monkeypatch.context() as m:
            m.setattr(edistream, "BLOCK", block)
            assert read(module, data, **kw) == expected, block
    return expected


def layouts(data: bytes, term: bytes) -> dict[str, bytes]:
    """The sample with other line layouts: none, LF, CRLF, blank lines and spaces
    between segments, wrapped at 80 and at 7 columns."""
    flat = data.replace(b"\r\n", b"").replace(b"\n", b"")
    head, body = (flat[:9], flat[9:]) if flat.startswith(b"UNA") else (b"", flat)

    def after_terminators(what: bytes) -> bytes:  # not after a released one
        return head + body.replace(b"?" + term, b"\x00").replace(term, term + what).replace(
            b"\x00", b"?" + term)

    def wrapped(width: int, newline: bytes) -> bytes:
        return head + newline.join(body[i:i + width] for i in range(0, len(body), width))
    return {"as is": data, "flat": flat, "lf": after_terminators(b"\n"),
            "crlf": after_terminators(b"\r\n"), "blank lines": after_terminators(b"\n \t\n"),
            "wrapped 80": wrapped(80, b"\r\n"), "wrapped 7": wrapped(7, b"\n")}


@pytest.mark.parametrize("layout", list(layouts(EDIFACT_SAMPLE, b"'")))
def test_edifact_layouts_read_the_same_every_way(layout: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    data = layouts(EDIFACT_SAMPLE, b"'")[layout]
    evs = same_every_way(edifact, data, monkeypatch)
    messages = [e for e in evs if isinstance(e, Message)]
    if layout == "wrapped 7":  # a line break between ? and ' : the ' is a terminator
        # the rest of that segment is one more, without a tag: UNT counts one too few
        assert [p.code for m in messages for p in m.problems] == ["22", "29"]
        return
    assert messages and all(m.ok for m in messages) and evs[-1].ok
    # the released terminator of L?'Arbre is in its text, not a segment's end
    assert "Épicerie L'Arbre à Café" in [s.value(4) for m in messages for s in m.segments]


@pytest.mark.parametrize("layout", list(layouts(X12_SAMPLE, b"~")))
def test_x12_layouts_read_the_same_every_way(layout: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    data = layouts(X12_SAMPLE, b"~")[layout]
    evs = same_every_way(x12, data, monkeypatch)
    assert [e for e in evs if isinstance(e, Message)]


def test_released_terminators_and_releases_at_segment_ends(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """?' is a released terminator, ??' a released release then the terminator, ???' a
    released release and a released terminator; a line break after a released
    terminator is inside its segment."""
    body = ("UNH+1+ORDERS:D:96A:UN'\r\nFTX+AAI+++a?'\r\nb'\r\nFTX+AAI+++c??'\r\n"
            "FTX+AAI+++d???'e'\nFTX+AAI+++??'FTX+AAI+++?''UNT+7+1'")
    data = ("UNB+UNOC:3+S+R+261128:0915+1'\n" + body + "\nUNZ+1+1'\n").encode()
    [msg, end] = same_every_way(edifact, data, monkeypatch)
    assert [s.value(4) for s in msg.segments[1:-1]] == ["a'b", "c?", "d?'e", "?", "'"]
    assert [s.line for s in msg.segments] == [2, 3, 5, 6, 7, 7, 7]
    assert msg.ok and end.ok


def test_repetitions_utf8_and_a_byte_that_is_not_utf8(monkeypatch: pytest.MonkeyPatch
                                                      ) -> None:
    good = ("UNA:+.?*'UNB+UNOY:4+S+R+261128:0915+1'\nUNH+1+ORDERS:D:01B:UN'\n"
            "FTX+AAI+++one*two:2?*x'\nFTX+AAI+++Товар снят'\nUNT+4+1'\n").encode()
    bad = "UNH+2+ORDERS:D:01B:UN'\nFTX+AAI+++Thé'\nUNT+3+2'\n".encode("latin-1")
    data = good + bad + b"UNZ+2+1'\n"
    m1, m2, end = same_every_way(edifact, data, monkeypatch)
    assert m1.segments[1].elements[3] == (("one",), ("two", "2*x"))
    assert m1.segments[2].value(4) == "Товар снят" and m1.ok
    assert [(p.code, p.line) for p in m2.problems] == [("21", 7)]
    assert end.ok


@pytest.mark.parametrize("terminator", [b"\n", b"\r", b"\xa7"])
def test_unusual_terminators(terminator: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """A line end or a Latin-1 byte as the terminator (the latter cut as bytes)."""
    flat = EDIFACT_SAMPLE[9:].replace(b"\r\n", b"").replace(b"\n", b"")
    data = b"UNA:+.? " + terminator + flat.replace(b"?'", b"\x00").replace(
        b"'", terminator).replace(b"\x00", b"?'")
    evs = same_every_way(edifact, data, monkeypatch)
    messages = [e for e in evs if isinstance(e, Message)]
    assert messages and all(m.ok for m in messages) and evs[-1].ok
    if terminator == b"\n":  # each segment on its own line, the terminator a line break
        assert [s.line for s in messages[0].segments][:3] == [3, 4, 5]


def test_x12_odd_terminators_and_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    for term in (b"\n", b"\x85"):
        data = X12_SAMPLE.replace(b"~\n", term).replace(b">~", b">" + term)
        evs = same_every_way(x12, data, monkeypatch)
        assert all(e.ok for e in evs if isinstance(e, Message))
    latin = X12_SAMPLE.replace(b"Corner Coffee Co*", b"Caf\xe9 Co*")
    evs = same_every_way(x12, latin, monkeypatch)
    assert "Café Co" in [s.value(2) for e in evs if isinstance(e, Message)
                         for s in e.segments]


def test_interchanges_junk_and_cuts_within_one_block(monkeypatch: pytest.MonkeyPatch
                                                     ) -> None:
    """The next interchange, junk after a trailer, a header where a trailer was due and
    segments outside messages, all inside one read block: the scanner is put back where
    the interchange ended."""
    one = EDIFACT_SAMPLE
    no_unz = one[:one.rindex(b"UNZ+")]
    cut = one[:one.index(b"LIN+", one.index(b"UNH+2"))]
    for data in (one + one, one + b"JUNK'\nmore'\n" + one, no_unz + one,
                 cut + b"\r\n" + one, one.replace(b"UNH+2+", b"DTM+2'\nUNH+2+", 1), cut):
        same_every_way(edifact, data, monkeypatch)
    x = X12_SAMPLE
    for data in (x + x, x[:x.rindex(b"IEA*")] + x, x + b"JUNK~\n" + x):
        same_every_way(x12, data, monkeypatch)


def test_a_message_over_its_segment_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    evs = same_every_way(edifact, EDIFACT_SAMPLE, monkeypatch, max_message_segments=5)
    assert all(len(e.segments) == 5 and not e.ok for e in evs if isinstance(e, Message))


@pytest.mark.parametrize("limit", [30, 64, 100])
def test_segments_too_long_are_skipped_by_their_length_only(
        limit: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(edistream, "MAX_SEGMENT", limit)
    long = "FTX+AAI+++" + "X?'" * 30 + "??"
    body = f"UNH+1+ORDERS:D:96A:UN'\r\n{long}'\r\nBGM+220+A+9'\r\nUNT+4+1'"
    data = f"UNB+UNOC:3+S+R+261128:0915+1'\r\n{body}\r\nUNZ+1+1'\r\n".encode()
    [msg, end] = same_every_way(edifact, data, monkeypatch)
    skipped = [p for p in msg.problems if p.code == "39"]
    assert len(skipped) == (1 if len(long) > limit else 0)
    if skipped:
        assert skipped[0].line == 3 and [s.tag for s in msg.segments] == ["UNH", "BGM", "UNT"]
    assert end.ok


@pytest.mark.parametrize("text", [
    "NAD+BY+1::9++L?'Arbre:x+b", "FTX+AAI+++?'?'", "FTX+AAI+++a?'b?'c:d?'", "BGM+2?'20",
    "B?'GM+1", "FTX+AAI+++??'", "FTX+AAI+++?+?:?'", "FTX+AAI+++a*b?'"])
def test_a_segment_with_released_terminators_only_splits_as_any_released_one(text: str
                                                                              ) -> None:
    for seps in (edifact.DEFAULT, edifact.DEFAULT_4):
        assert edistream.split(text, seps) == edistream._split_released(text, seps)


@pytest.mark.parametrize("text, cut", [
    ("\r\nA+1'\r\nB+2", (2, ["A+1", "B+2"])), ("A+1'\r\nB+2", (0, ["A+1", "B+2"])),
    ("A+x?'y'\r\nB+2", (0, ["A+x?'y", "B+2"])), ("A+1'B+2", None), ("A+1'\nB+2", None),
    ("A+1'\r\n B+2", None), ("A+1??'\r\nB+2", None), ("A+1?'\r\nB+2", None),
    ("A+1'\r\n\r\nB+2", None), ("A\r\n+1'\r\nB", None), ("", None)])
def test_one_segment_a_line_is_cut_at_once(text: str, cut: Any) -> None:
    assert edistream._one_a_line(text, "'", "?") == cut
