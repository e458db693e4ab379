"""X12 syntax: delimiters found in the ISA (a newline or an odd byte as terminator), several
interchanges per file, every count and control number checked and located, and the
writer's fixed-width ISA and refusals."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest

from gateway.errors import DataError
from gateway.formats import x12
from gateway.formats.edi import GroupEnd, InterchangeEnd, Message, Separators, Tolerance


def events(data: bytes, **kw: Any) -> list[Any]:
    return list(x12.events(io.BytesIO(data), "in.x12", **kw))


def isa(control: str = "000000451", version: str = "00401", e: str = "*", c: str = ">",
        t: str = "~", rep: str = "U", sender: str = "BUYERCO") -> str:
    return e.join(["ISA", "00", " " * 10, "00", " " * 10, "ZZ", sender.ljust(15), "ZZ",
                   "SUPPLIERCO".ljust(15), "261128", "0915", rep, version, control, "0", "P",
                   c]) + t


def po(ref: str, *lines: str, count: int | None = None, trailer: str | None = None) -> list[str]:
    body = ["BEG*00*SA*PO-1**20261128", *lines]
    return [f"ST*850*{ref}", *body, f"SE*{len(body) + 2 if count is None else count}*"
            f"{trailer or ref}"]


def interchange(*sets: list[str], gs_count: int | None = None, iea_count: int = 1,
                control: str = "000000451", t: str = "~\n") -> str:
    segs = [isa(control, t="~")[:-1], "GS*PO*BUYERCO*SUPPLIERCO*20261128*0915*451*X*004010"]
    for s in sets:
        segs += s
    segs += [f"GE*{len(sets) if gs_count is None else gs_count}*451",
             f"IEA*{iea_count}*{control}"]
    return t.join(segs) + t


LINES = ("PO1*1*24*EA*4.00**VP*CAF-001", "PID*F****Ground coffee")


def test_an_interchange_reads_with_its_delimiters_groups_and_lines() -> None:
    data = interchange(po("0001", *LINES), po("0002", *LINES)).encode()
    s1, s2, gend, end = events(data)
    assert isinstance(s1, Message) and isinstance(gend, GroupEnd)
    assert isinstance(end, InterchangeEnd)
    assert (s1.type, s1.reference, s1.version, s1.index, s2.index) == (
        "850", "0001", "004010", 1, 2)
    assert [(s.tag, s.line, s.position) for s in s1.segments] == [
        ("ST", 3, 1), ("BEG", 4, 2), ("PO1", 5, 3), ("PID", 6, 4), ("SE", 7, 5)]
    assert s1.segments[2].value(7) == "CAF-001"
    ic = end.interchange
    assert (ic.sender, ic.sender_qualifier, ic.recipient, ic.control, ic.syntax, ic.test) == (
        "BUYERCO", "ZZ", "SUPPLIERCO", "000000451", "00401", False)
    assert ic.separators == Separators(">", "*", "~", None, None)
    assert (s1.group.id, s1.group.control, s1.group.version) == ("PO", "451", "004010")
    assert gend.messages == 2 and not gend.problems and end.ok and end.groups == 1


@pytest.mark.parametrize("e,c,t", [("|", ":", "\n"), ("*", ">", "\x85"), ("\x1d", "\x1f", "\x1c"),
                                   ("^", "!", "\r")])
def test_unusual_delimiters_including_a_newline_terminator(e: str, c: str, t: str) -> None:
    text = interchange(po("0001", *LINES), t=t).replace("*", e).replace(">", c)
    text = text.replace("~", "")
    [s1, _gend, end] = events(text.encode("latin-1"))
    assert end.ok and s1.ok
    assert s1.segments[2].value(7) == "CAF-001"
    assert end.interchange.separators.segment == t


def test_repetition_separator_from_00402_and_a_bom() -> None:
    head = isa(version="00501", rep="^")
    data = ("\ufeff" + head + "\nGS*PO*B*S*20261128*0915*1*X*005010~\n"
            "ST*850*0001~\nREF*ZZ*one^two>x~\nSE*3*0001~\nGE*1*1~\nIEA*1*000000451~\n")
    [s, _g, end] = events(data.encode())
    assert s.segments[1].elements[1] == (("one",), ("two", "x")) and end.ok
    assert end.interchange.separators.repetition == "^"
    # in 00401 ISA11 is the standards identifier: no repetitions
    data401 = data.replace("00501", "00401").replace("*^*", "*U*")
    [s, _g, _end] = events(data401.encode())
    assert s.segments[1].value(2) == "one^two"


def test_several_interchanges_in_one_file() -> None:
    two = interchange(po("0001", *LINES)) + interchange(po("0001", *LINES),
                                                        control="000000452")
    evs = events(two.encode())
    assert [type(e).__name__ for e in evs] == ["Message", "GroupEnd", "InterchangeEnd"] * 2
    assert [evs[2].interchange.control, evs[5].interchange.control] == ["000000451",
                                                                        "000000452"]
    assert evs[3].line == 12


def test_wrong_counts_and_control_numbers_are_located_with_997_codes() -> None:
    data = interchange(po("0001", *LINES, count=9), po("0002", *LINES, trailer="0003"),
                       gs_count=3, iea_count=2).encode()
    s1, s2, gend, end = events(data)
    [p] = s1.problems
    assert (p.code, p.level, p.segment, p.element, p.value, p.line, p.position) == (
        "4", "message", "SE", 1, "9", 7, 5)
    assert [(p.code, p.value) for p in s2.problems] == [("3", "0003")]
    assert [(p.code, p.level, p.line) for p in gend.problems] == [("5", "group", 13)]
    assert [(p.code, p.level) for p in end.problems] == [("021", "interchange")]
    _s1, s2, gend, end = events(data, tolerance=Tolerance(counts=False))
    assert _s1.ok and not s2.ok and not gend.problems and end.ok


def test_a_cut_file_and_a_set_outside_a_group() -> None:
    data = interchange(po("0001", *LINES), po("0002", *LINES)).encode()
    cut = data[:data.index(b"PO1", data.index(b"ST*850*0002")) + 6]
    s1, s2, gend, end = events(cut)
    assert s1.ok
    assert [(p.code, p.segment) for p in s2.problems] == [("8", "PO1"), ("2", "SE")]
    assert [(p.code, p.segment) for p in gend.problems] == [("3", "GE")]
    assert not end.complete and [(p.code, p.segment) for p in end.problems] == [("023", "IEA")]
    loose = (isa() + "\nST*850*0001~\nBEG*00~\nSE*3*0001~\nIEA*0*000000451~\n").encode()
    [s, end] = events(loose)
    assert s.group is None and [(p.code, p.level, p.line) for p in end.problems] == [
        ("1", "group", 2)]


def test_an_unpadded_isa_is_read_and_said() -> None:
    data = ("ISA*00**00**ZZ*BUYERCO*ZZ*SUPPLIERCO*261128*0915*U*00401*451*0*P*>~"
            "GS*PO*B*S*20261128*0915*1*X*004010~ST*850*1~SE*2*1~GE*1*1~IEA*1*451~").encode()
    [s, _g, end] = events(data)
    assert s.ok and end.interchange.sender == "BUYERCO"
    assert [(p.code, p.segment) for p in end.problems] == [("020", "ISA")]


def test_junk_and_a_file_without_an_interchange() -> None:
    good = interchange(po("0001", *LINES))
    evs = events((good + "garbage~here~" + good).encode())
    assert [(p.code, p.line) for p in evs[2].problems] == [("024", 10)]
    assert evs[5].ok
    with pytest.raises(DataError, match="no X12 interchange"):
        events(b"ISA is not here~just text~")


# ---- writing -------------------------------------------------------------------------------

def write(values: list[str], **kw: Any) -> bytes:
    sink = io.BytesIO()
    w = x12.X12Writer(sink, sender="GATEWAY", recipient="BUYER", control="7", date="261128",
                      time="0915", **kw)
    w.begin_group("PR", "3", "004010")
    w.begin_message("855", "0001")
    for v in values:
        w.segment("PID", "F", "", "", "", v)
    assert w.end_message() == len(values) + 2
    w.end_group()
    w.close()
    return sink.getvalue()


def test_the_writer_writes_a_fixed_width_isa_and_counts_that_read_back() -> None:
    data = write(["Ground coffee 250 g", "Café crème"], test=True)
    first = data.split(b"\n")[0]
    assert len(first) == 106 and first.endswith(b"*>~")
    assert b"*000000007*0*T*" in first
    [s, gend, end] = events(data)
    assert s.ok and not gend.problems and end.ok
    assert [seg.value(5) for seg in s.segments[1:-1]] == ["Ground coffee 250 g", "Café crème"]
    assert (s.group.control, s.group.version, end.interchange.control,
            end.interchange.test) == ("3", "004010", "000000007", True)


def test_a_delimiter_or_control_character_in_a_value_is_refused_naming_it() -> None:
    for bad, ch in (("Mug*2", "*"), ("a~b", "~"), ("x>y", ">"), ("two\nlines", "\n")):
        with pytest.raises(ValueError, match="PID: .* holds " + re.escape(repr(ch))):
            write([bad])
    with pytest.raises(ValueError, match="longer than 15"):
        x12.X12Writer(io.BytesIO(), sender="X" * 16, recipient="B", control="1",
                      date="261128", time="0915")


def test_a_ta1_before_the_first_group_is_written_and_read_as_the_interchanges() -> None:
    sink = io.BytesIO()
    w = x12.X12Writer(sink, sender="GATEWAY", recipient="BUYER", control="8", date="261128",
                      time="0915")
    w.interchange_segment("TA1", "000000451", "261128", "0915", "E", "021")
    w.begin_group("FA", "4", "004010")
    w.begin_message("997", "0001")
    w.segment("AK1", "PO", "451")
    w.end_message()
    w.end_group()
    with pytest.raises(ValueError, match="before the interchange's first group"):
        w.interchange_segment("TA1", "x")
    w.close()
    [s, gend, end] = events(sink.getvalue())
    assert s.ok and not gend.problems and end.ok  # no "segment outside a message"
    assert b"~\nTA1*000000451*261128*0915*E*021~\nGS*FA*" in sink.getvalue()


def test_delimiters_the_isa_cannot_hold_are_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="X12 delimiters are ASCII characters"):
        x12.X12Writer(io.BytesIO(), sender="A", recipient="B", control="1", date="261128",
                      time="0915", separators=Separators(">", "*", "\x85", None, None))
