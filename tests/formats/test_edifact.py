"""EDIFACT syntax: separators from the UNA or the defaults, escaping, repetitions, character
sets, several interchanges per file, and every count, reference and cut located."""

from __future__ import annotations

import io
import tracemalloc
from typing import Any

import pytest

from gateway.errors import DataError
from gateway.formats import edifact, edistream
from gateway.formats.edi import (GroupEnd, InterchangeEnd, Message, Separators, Tolerance,
                                 compile_path, compile_segments, message_tree)


def events(data: bytes, **kw: Any) -> list[Any]:
    return list(edifact.events(io.BytesIO(data), "in.edi", **kw))


def interchange(*messages: str, una: str = "", control: str = "77", syntax: str = "UNOC:3",
                count: int | None = None, sep: str = "\n") -> str:
    body = sep.join(messages)
    n = len(messages) if count is None else count
    return (f"{una}UNB+{syntax}+SENDER:14+RECIPIENT:14+261128:0915+{control}'{sep}"
            f"{body}{sep}UNZ+{n}+{control}'{sep}")


def message(ref: str, *segments: str, count: int | None = None, trailer_ref: str | None = None
            ) -> str:
    n = len(segments) + 2 if count is None else count
    return "\n".join([f"UNH+{ref}+ORDERS:D:96A:UN:EAN008'", *segments,
                      f"UNT+{n}+{trailer_ref or ref}'"])


ORDER = ("BGM+220+PO-1+9'", "NAD+BY+3012345000017::9++Caf L?'Arbre ?+ Co?:?? ?A'", "LIN+1++A:EN'",
         "QTY+21:24'")


def test_a_plain_interchange_reads_as_messages_with_lines_and_positions() -> None:
    data = interchange(message("1", *ORDER), message("2", "BGM+220+PO-2+9'")).encode()
    m1, m2, end = events(data)
    assert isinstance(m1, Message) and isinstance(end, InterchangeEnd)
    assert (m1.type, m1.version, m1.reference, m1.association, m1.index) == (
        "ORDERS", "D96A", "1", "EAN008", 1)
    assert [(s.tag, s.line, s.position) for s in m1.segments] == [
        ("UNH", 2, 1), ("BGM", 3, 2), ("NAD", 4, 3), ("LIN", 5, 4), ("QTY", 6, 5),
        ("UNT", 7, 6)]
    # the release character: ?' ?+ ?: ?? are the characters themselves; before another
    # character it is kept as it is
    assert m1.segments[2].value(4) == "Caf L'Arbre + Co:? ?A"
    assert m1.segments[3].value(3, 2) == "EN"
    assert m2.index == 2 and m1.ok and m2.ok
    ic = end.interchange
    assert (ic.sender, ic.sender_qualifier, ic.recipient, ic.control, ic.syntax,
            ic.syntax_version, ic.date, ic.time, ic.encoding) == (
        "SENDER", "14", "RECIPIENT", "77", "UNOC", "3", "261128", "0915", "latin-1")
    assert end.ok and end.complete and (end.messages, end.groups) == (2, 0)


def test_una_names_unusual_separators_and_several_interchanges_each_their_own() -> None:
    first = interchange(message("1", "BGM+220+PO-1+9'"))
    # component |, element #, decimal ",", release !, no repetition, terminator "~"
    second = ("UNA|#,! ~UNB#UNOC|3#S2|14#R2|14#261128|0915#78~"
              "UNH#9#ORDERS|D|96A|UN~BGM#220#PO!#9!~#9~FTX#AAI###a|b!|c~UNT#4#9~UNZ#1#78~")
    *msgs, end1, m3, end2 = events((first + second).encode())
    assert [m.reference for m in msgs] == ["1"] and m3.reference == "9"
    assert end1.interchange.control == "77" and end2.interchange.control == "78"
    assert end2.interchange.separators == Separators("|", "#", "~", "!", None, ",")
    assert m3.segments[1].value(2) == "PO#9~"
    assert m3.segments[2].elements[3] == (("a", "b|c"),)
    assert m3.ok and end2.ok


def test_repetition_separator_of_syntax_4() -> None:
    data = ("UNA:+.?*'UNB+UNOC:4+S+R+261128:0915+1'UNH+1+ORDERS:D:01B:UN'"
            "FTX+AAI+++one*two:2?*x'UNT+3+1'UNZ+1+1'").encode()
    [msg, end] = events(data)
    ftx = msg.segments[1]
    assert ftx.elements[3] == (("one",), ("two", "2*x"))
    assert ftx.value(4, 1, 2) == "two" and msg.version == "D01B" and end.ok
    # without a UNA, syntax 4's default repetition separator is "*"
    [msg, _] = events(data.replace(b"UNA:+.?*'", b""))
    assert msg.segments[1].elements[3] == (("one",), ("two", "2*x"))
    # and syntax 3 has none: the "*" is a character
    [msg, _] = events(data.replace(b"UNA:+.?*'", b"").replace(b"UNOC:4", b"UNOC:3"))
    assert msg.segments[1].value(4) == "one*two"


def test_unob_without_una_uses_the_information_separators() -> None:
    data = (b"UNB\x1dUNOB\x1f3\x1dS\x1dR\x1d261128\x1f0915\x1d5\x1c"
            b"UNH\x1d1\x1dORDERS\x1fD\x1f96A\x1fUN\x1cBGM\x1d220\x1dPO+1:'\x1c"
            b"UNT\x1d3\x1d1\x1cUNZ\x1d1\x1d5\x1c")
    [msg, end] = events(data)
    assert msg.segments[1].value(2) == "PO+1:'" and end.ok


def test_character_sets_decode_and_a_wrong_byte_is_located() -> None:
    latin = interchange(message("1", "FTX+AAI+++Thé à la menthe'")).encode("latin-1")
    [msg, end] = events(latin)
    assert msg.segments[1].value(4) == "Thé à la menthe" and msg.ok
    utf8 = interchange(message("1", "FTX+AAI+++Товар снят'"), syntax="UNOY:4").encode()
    [msg, end] = events(utf8)
    assert msg.segments[1].value(4) == "Товар снят" and end.interchange.encoding == "utf-8"
    # a Latin-1 byte in a UTF-8 interchange: that message refused, located
    bad = interchange(message("1", "FTX+AAI+++Thé'"), message("2", "BGM+220+X+9'"),
                      syntax="UNOY:4").encode("latin-1")
    m1, m2, _ = events(bad)
    assert [(p.code, p.line, p.level) for p in m1.problems] == [("21", 3, "segment")]
    assert m2.ok
    # an unknown syntax identifier is said, the texts read as Latin-1
    [_m, end] = events(interchange(message("1"), syntax="UNOZ:3").encode())
    assert [(p.code, p.segment, p.element, p.value) for p in end.problems] == [
        ("2", "UNB", 1, "UNOZ")]


def test_a_bom_crlf_and_lines_wrapped_at_80_columns_are_read() -> None:
    flat = interchange(message("1", *ORDER), sep="").replace("\n", "")
    wrapped = "\r\n".join(flat[i:i + 80] for i in range(0, len(flat), 80))
    plain = events(flat.encode())
    got = events(b"\xef\xbb\xbf" + wrapped.encode())
    assert [s.elements for s in got[0].segments] == [s.elements for s in plain[0].segments]
    assert got[0].ok and got[1].ok
    # each segment's line is where it starts in the wrapped file
    starts, at = [], 0
    for seg in plain[0].segments:
        at = flat.index(seg.tag + "+", at)
        starts.append(at // 80 + 1)
        at += 1
    assert [s.line for s in got[0].segments] == starts


def test_groups_are_counted_and_unz_counts_them() -> None:
    data = ("UNB+UNOC:3+S+R+261128:0915+5'\n"
            "UNG+ORDERS+S+R+261128:0915+G1+UN+D:96A'\n"
            + message("1", "BGM+220+A+9'") + "\n" + message("2", "BGM+220+B+9'") + "\n"
            "UNE+2+G1'\nUNZ+1+5'\n").encode()
    m1, m2, gend, end = events(data)
    assert isinstance(gend, GroupEnd) and gend.messages == 2 and not gend.problems
    assert (m1.group.id, m1.group.control, m1.group.version) == ("ORDERS", "G1", "D96A")
    assert (m1.index, m2.index) == (1, 2)
    assert end.ok and end.groups == 1
    wrong = events(data.replace(b"UNE+2+G1", b"UNE+3+G2").replace(b"UNZ+1+5", b"UNZ+2+5"))
    gend, end = wrong[2], wrong[3]
    assert [(p.code, p.element, p.value, p.line) for p in gend.problems] == [
        ("29", 1, "3", 9), ("28", 2, "G2", 9)]
    assert [(p.code, p.value) for p in end.problems] == [("29", "2")]


def test_wrong_counts_and_references_refuse_that_message_alone() -> None:
    data = interchange(message("1", *ORDER), message("2", *ORDER, count=9),
                       message("3", *ORDER, trailer_ref="4"), count=4, control="77").encode()
    m1, m2, m3, end = events(data)
    assert m1.ok
    [p] = m2.problems
    assert (p.code, p.level, p.segment, p.element, p.value, p.line, p.position) == (
        "29", "message", "UNT", 1, "9", 13, 6)
    assert "UNT says 9 but the message holds 6" == p.message
    assert [(p.code, p.element, p.value) for p in m3.problems] == [("28", 2, "4")]
    assert [(p.code, p.level, p.value) for p in end.problems] == [("29", "interchange", "4")]
    # a channel that tolerates counts hears nothing of them, references still checked
    m1, m2, m3, end = events(data, tolerance=Tolerance(counts=False))
    assert m2.ok and not m3.ok and end.ok


def test_a_cut_file_ends_its_message_and_interchange_with_located_problems() -> None:
    data = interchange(message("1", *ORDER), message("2", *ORDER)).encode()
    cut = data[:data.index(b"LIN+1++A", data.index(b"UNH+2")) + 5]
    m1, m2, end = events(cut)
    assert m1.ok
    assert [(p.code, p.segment, p.line) for p in m2.problems] == [
        ("13", "LIN", 11), ("13", "UNT", 11)]
    assert [s.tag for s in m2.segments] == ["UNH", "BGM", "NAD", "LIN"]
    assert not end.complete and [(p.code, p.segment) for p in end.problems] == [("13", "UNZ")]
    # a new UNB before the trailer: the first interchange ends there, the second is read
    two = data[:data.index(b"UNT+6+2")] + data
    *evs, = events(two)
    assert [type(e).__name__ for e in evs] == ["Message", "Message", "InterchangeEnd",
                                               "Message", "Message", "InterchangeEnd"]
    assert not evs[1].ok and not evs[2].complete and evs[5].ok


def test_junk_is_located_and_a_file_of_junk_is_no_interchange() -> None:
    good = interchange(message("1", "BGM+220+A+9'"))
    evs = events((good + "HELLO WORLD'\nmore junk'\n" + good.replace("77", "78")).encode())
    assert [type(e).__name__ for e in evs] == ["Message", "InterchangeEnd", "Message",
                                               "InterchangeEnd"]
    [p] = evs[1].problems
    assert (p.code, p.line) == ("18", 6) and "UNA or UNB expected" in p.message
    assert evs[3].ok
    with pytest.raises(DataError) as exc:
        events(b"\x00\x01PK\x03\x04 binary'")
    assert "no EDIFACT interchange" in str(exc.value)
    # a segment outside a message belongs to its interchange
    [_m, end] = events(interchange("DTM+137:20261128:102'", message("1")).replace(
        "UNZ+2", "UNZ+1").encode())
    assert [(p.code, p.segment, p.line) for p in end.problems] == [("15", "DTM", 2)]


def test_a_huge_segment_is_skipped_located_without_holding_it(monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    monkeypatch.setattr(edistream, "BLOCK", 4096)
    monkeypatch.setattr(edistream, "MAX_SEGMENT", 64_000)
    huge = "FTX+AAI+++" + "X" * 3_000_000 + "'"
    src = io.BytesIO(interchange(message("1", "BGM+220+A+9'", huge),
                                 message("2", "BGM+220+B+9'")).encode())
    tracemalloc.start()
    try:
        m1, m2, end = list(edifact.events(src, "in.edi"))
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000  # the 3 MB segment was never held
    assert [(p.code, p.level, p.line) for p in m1.problems] == [
        ("39", "segment", 4)]  # counted as the sender's UNT counts it: no count problem
    assert m1.problems[0].position == 3
    assert "longer than 64,000 bytes" in m1.problems[0].message
    assert m2.ok and end.ok


def test_message_tree_nests_groups_and_paths_find_texts_with_their_lines() -> None:
    data = interchange(message("1", "BGM+220+PO-1+9'", "NAD+BY+GLN::9'", "COM+a@b.c:EM'",
                               "COM+0478:TE'", "LIN+1++A:EN+1:SA'", "QTY+21:24'",
                               "LIN+2++B:EN'", "QTY+21:6'", "UNS+S'")).encode()
    [msg, _end] = events(data)
    tree = message_tree(msg, {"LIN": ("QTY",), "NAD": ("COM",)})
    lines = compile_segments("LIN")(tree)
    qty = compile_path("QTY[@q='21']/e1/c2")
    assert [qty(n) for n in lines] == [("24", 8), ("6", 10)]
    assert compile_path("QTY/e1/c2")(tree) == (None, None)  # only inside its LIN
    assert compile_path("NAD[@q='BY']/COM/e1[c2='TE']/c1")(tree) == ("0478", 6)
    assert compile_path("e4[c2='SA']/../e3/c2")(lines[0]) == ("EN", 7)
    assert compile_path("@sender")(tree) == ("SENDER", None)
    assert compile_path("BGM/@q")(tree) == ("220", 3)
    assert compile_path("LIN/e1", every=True)(tree) == (("1", "2"), 7)
    assert compile_path("BGM/e9")(tree) == (None, None)
    for bad in ("NAD[@q='BY']//e1", "*", "@sender/e1", "nad"):
        with pytest.raises(ValueError, match="is not a segment tag|last step"):
            compile_path(bad)


# ---- writing -------------------------------------------------------------------------------

def write(texts: list[str], **kw: Any) -> bytes:
    sink = io.BytesIO()
    w = edifact.EdifactWriter(sink, sender="S", recipient="R", control="12", date="261128",
                              time="0915", **kw)
    w.begin_message("ORDRSP", "1", "D96A", association="EAN005")
    for t in texts:
        w.segment("FTX", "AAI", "", "", (t, "x"))
    assert w.end_message() == len(texts) + 2
    w.close()
    return sink.getvalue()


def test_written_texts_read_back_unchanged_with_counts_right() -> None:
    texts = ["L'Arbre + Co: 50% ?", "Café crème", "a?'b", "??"]
    data = write(texts)
    assert not data.startswith(b"UNA")  # default separators, syntax 3: no UNA needed
    assert b"L?'Arbre ?+ Co?: 50% ??" in data
    [msg, end] = events(data)
    assert msg.ok and end.ok
    assert [s.value(4) for s in msg.segments[1:-1]] == texts
    assert (msg.type, msg.version, msg.association) == ("ORDRSP", "D96A", "EAN005")
    utf8 = write(["Товар снят", "日本"], syntax="UNOY")
    [msg, end] = events(utf8)
    assert end.interchange.syntax_version == "4" and msg.segments[1].value(4) == "Товар снят"


def test_una_written_when_the_separators_or_character_set_need_it() -> None:
    seps = Separators(component="|", element="#", segment="~", release="!", repetition=None)
    data = write(["a#b|c~d!e"], separators=seps)
    assert data.startswith(b"UNA|#.! ~")
    [msg, _end] = events(data)
    assert msg.segments[1].value(4) == "a#b|c~d!e"
    unob = write(["ABC"], syntax="UNOB")
    assert unob.startswith(b"UNA:+.? '") and events(unob)[0].ok


def test_a_text_the_character_set_cannot_carry_is_refused_naming_segment_and_character(
) -> None:
    with pytest.raises(ValueError, match=r"FTX: character 'Т' cannot be written in UNOC"):
        write(["Товар"])
    with pytest.raises(ValueError, match=r"FTX: character 'a' cannot be written in UNOA"):
        write(["abc"], syntax="UNOA")
    with pytest.raises(ValueError, match=r"character '\\n'"):
        write(["two\nlines"])
