"""Fuzzing of the EDI readers (EDIFACT, X12): whatever bytes a partner sends, the syntax
reader yields messages, group ends and interchange ends with located problems (a
``DataError`` only for a file holding no interchange), never another exception and never
a hang; the same events whatever the scanner's read block; and the shipped order mappings
give records or located problems on the same inputs. The writers' texts read back as
they were written, and a text X12 cannot carry is refused.

Inputs: the EDI samples of the tests mutated where EDI readers decide things (separators
swapped, UNA and ISA with odd delimiters, a newline as terminator, segments duplicated,
dropped or moved, cuts at every kind of place, release characters at boundaries, huge
segments, byte-order marks between and inside segments, junk between interchanges), the
byte mutations every reader gets, and raw bytes.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gateway.formats.edi import Message, Separators, Tolerance

from .edi_harness import (edi_mutated, edi_seeds, edifact_write, read_events, reseparated,
                          scanner_sizes, swapped, texts_read, wrapped, x12_write)
from .harness import budget, guarded, mapping, mutated, read_all, seeds

STANDARDS = ("edifact", "x12")
# the shipped mappings reading EDI → their standard and order samples
EDI_MAPPINGS = {"edifact_orders_d96a": ("edifact", "data/edifact/orders_d96a.edi"),
                "edifact_orders_d01b": ("edifact", "data/edifact/orders_d01b.edi"),
                "x12_850": ("x12", "data/x12/850.x12")}

tolerances = st.sampled_from((Tolerance(),) * 3 + (Tolerance(counts=False),
                                                   Tolerance(counts=False, references=False)))
# the scanner's read block: tiny ones put block ends everywhere
blocks = st.integers(1, 7)
# the longest segment the scanner holds: small, so that a mutation makes one too long
max_segments = st.sampled_from((None, None, 160, 700))


def known_bug(regression: str) -> pytest.MarkDecorator:
    """A property a gateway bug still breaks: its failing example is kept as the plain
    test ``regression`` of test_regressions.py. Remove the mark (and the test's
    ``shrink=False``) once that test passes: the property then shows as XPASS."""
    return pytest.mark.xfail(raises=AssertionError, strict=False,
                             reason=f"gateway bug: test_regressions.py::{regression}")


def samples_for(standard: str) -> list[bytes]:
    return edi_seeds(standard)


def orders_samples(name: str) -> list[bytes]:
    """The mapping's own order sample, mostly, else any interchange of its standard (of
    another message type or version: refused, message by message)."""
    standard, sample = EDI_MAPPINGS[name]
    own = seeds(sample)[0]
    return [own] * 4 + [s for s in samples_for(standard) if s != own]


@pytest.mark.parametrize("standard", STANDARDS)
def test_every_sample_reads_cleanly(standard: str) -> None:
    """A mutation is only worth its examples if the samples themselves read cleanly."""
    for data in samples_for(standard):
        out = read_events(standard, data)
        assert out.error is None and all(getattr(e, "ok", True) and not e.problems
                                         for e in out.events), out.events


@pytest.mark.parametrize("name", EDI_MAPPINGS)
def test_the_order_samples_read_into_records(name: str) -> None:
    _standard, sample = EDI_MAPPINGS[name]
    out = read_all(mapping(name), seeds(sample)[0], "orders.edi")
    assert out.records and not out.problems, out.problems[:3]


# ---- the syntax readers ------------------------------------------------------------------

@pytest.mark.parametrize("standard", STANDARDS)
@budget(0.75)
@given(data=st.data())
@guarded
def test_mutated_interchanges_give_events_with_located_problems(standard: str, data: Any
                                                                 ) -> None:
    file = data.draw(edi_mutated(standard, samples_for(standard)), label="file")
    with scanner_sizes(max_segment=data.draw(max_segments, label="max_segment")):
        read_events(standard, file, tolerance=data.draw(tolerances, label="tolerance"),
                    max_message_segments=data.draw(st.sampled_from((None, None, 3)),
                                                   label="max_message_segments"))


@pytest.mark.parametrize("standard", STANDARDS)
@budget(0.25)
@given(data=st.data())
@guarded
def test_byte_mutations_give_events_with_located_problems(standard: str, data: Any) -> None:
    read_events(standard, data.draw(mutated(samples_for(standard)), label="file"))


PREFIXES = (b"", b"\xef\xbb\xbf", b"UNA", b"UNA:+.? '", b"UNA:+.? 'UNB+", b"UNB+UNOC:3+",
            b"UNB\x1dUNOB\x1f3\x1d", b"ISA", b"ISA*", b"ISA*00*          *00*          *",
            b"\xef\xbb\xbfISA|", b"\n\n", b"UNA\n+.? \n")


@pytest.mark.parametrize("standard", STANDARDS)
@budget(0.25)
@given(raw=st.tuples(st.sampled_from(PREFIXES), st.binary(max_size=300)).map(b"".join))
@guarded
def test_raw_bytes_give_events_or_no_interchange(standard: str, raw: bytes) -> None:
    read_events(standard, raw)


@st.composite
def any_isa(draw: st.DrawFn) -> bytes:
    """An ISA of any delimiters (incl. a newline, NUL, a Latin-1 byte as terminator),
    padded or not, then the sample's body with the same delimiters or a cut of it."""
    body = edi_seeds("x12")[0]
    file = draw(swapped("x12", body))
    if draw(st.booleans()):  # elements not padded to their widths
        head, rest = file[:106], file[106:]
        e = bytes([head[3]])
        parts = [x.strip(b" ") for x in head[:-3].split(e)]
        file = e.join(parts) + e + head[-2:] + rest
    return file


@budget(0.25)
@given(file=any_isa(), data=st.data())
@guarded
def test_any_isa_delimiters_read(file: bytes, data: Any) -> None:
    read_events("x12", file)


# ---- the same events whatever the read block ------------------------------------------------

@pytest.mark.parametrize("standard", STANDARDS)
@budget(0.5)
@given(data=st.data())
@guarded
def test_events_do_not_depend_on_the_read_block(standard: str, data: Any) -> None:
    """The scanner reads a block at a time: messages, their segments and lines, problems
    and refusals must be the same wherever a block ends (here every 1 to 7 bytes)."""
    file = data.draw(st.one_of(edi_mutated(standard, samples_for(standard)),
                               st.sampled_from(samples_for(standard))), label="file")
    block = data.draw(blocks, label="block")
    whole = read_events(standard, file)
    with scanner_sizes(block=block):
        small = read_events(standard, file)
    assert small.key() == whole.key()


@pytest.mark.parametrize("standard", STANDARDS)
@budget(0.25)
@given(data=st.data())
@guarded
def test_segments_are_on_the_line_they_start_on(standard: str, data: Any) -> None:
    """However a file's lines end (no break, LF, CRLF after a terminator) and however its
    segments are wrapped, each segment of a message is said to be on the line its first
    byte is on (released terminators inside texts included), whatever the read block."""
    sample = data.draw(st.sampled_from(samples_for(standard)), label="sample")
    file, expected = data.draw(wrapped(standard, sample), label="file")
    block = data.draw(st.sampled_from((None, None, 1, 2, 5)), label="block")
    with scanner_sizes(block=block):
        out = read_events(standard, file)
    got = [(s.tag, s.line) for e in out.events if isinstance(e, Message) for s in e.segments]
    assert got == expected


@pytest.mark.parametrize("standard", STANDARDS)
@budget(0.25)
@given(data=st.data())
@guarded
def test_a_message_reads_the_same_whatever_follows_it(standard: str, data: Any) -> None:
    """A file cut anywhere gives, for each message before the cut, the message the whole
    file gives (its segments, lines, problems): nothing read later reaches back into a
    message already handed over. The last message of the cut file may be the cut one."""
    file = data.draw(edi_mutated(standard, samples_for(standard)), label="file")
    cut = data.draw(st.integers(0, len(file)), label="cut at")
    whole = [e for e in read_events(standard, file).events if isinstance(e, Message)]
    head = [e for e in read_events(standard, file[:cut]).events if isinstance(e, Message)]
    assert head[:-1] == whole[:max(len(head) - 1, 0)]


@pytest.mark.parametrize("standard", STANDARDS)
@budget(0.25)
@given(data=st.data())
@guarded
def test_a_huge_segment_is_skipped_the_same_whatever_the_read_block(standard: str,
                                                                     data: Any) -> None:
    """Which segments are too long to read depends on their length only: not on where the
    file's read blocks end."""
    file = data.draw(edi_mutated(standard, samples_for(standard)), label="file")
    limit = data.draw(st.sampled_from((160, 700)), label="max_segment")
    block = data.draw(st.integers(1, 7), label="block")
    with scanner_sizes(max_segment=limit):
        whole = read_events(standard, file)
    with scanner_sizes(block=block, max_segment=limit):
        small = read_events(standard, file)
    assert small.key() == whole.key()


# ---- the order mappings over the syntax readers ----------------------------------------

@pytest.mark.parametrize("name", EDI_MAPPINGS)
@budget(0.4)
@given(data=st.data())
@guarded
def test_mutated_orders_give_records_or_located_problems(name: str, data: Any) -> None:
    read_all(mapping(name), data.draw(edi_mutated(EDI_MAPPINGS[name][0], orders_samples(name)),
                                      label="file"), "orders.edi")


@pytest.mark.parametrize("name", EDI_MAPPINGS)
@budget(0.15)
@given(raw=st.tuples(st.sampled_from(PREFIXES), st.binary(max_size=300)).map(b"".join))
@guarded
def test_raw_bytes_through_the_order_mappings(name: str, raw: bytes) -> None:
    read_all(mapping(name), raw, "orders.edi")


# separators an interchange may name without changing what it says: punctuation and the
# information separators (for X12, not a byte its texts hold: it cannot escape them), and
# a line end as the terminator
PLAIN_SEPARATORS = b"!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\x1c\x1d\x1f"


@pytest.mark.parametrize("terminator", ["punctuation", "newline"])
@pytest.mark.parametrize("name", EDI_MAPPINGS)
@budget(0.15)
@given(data=st.data())
@guarded
def test_orders_read_the_same_whatever_the_separators(name: str, terminator: str, data: Any
                                                      ) -> None:
    """Separators swapped for others (a newline as terminator included) change nothing in
    the records, their lines or their problems."""
    standard, sample = EDI_MAPPINGS[name]
    original = seeds(sample)[0]
    size = 4 if standard == "edifact" else 3
    new = data.draw(st.lists(st.sampled_from(list(PLAIN_SEPARATORS)), min_size=size - 1,
                             max_size=size - 1, unique=True), label="separators")
    term = ord("\n") if terminator == "newline" else data.draw(
        st.sampled_from([b for b in PLAIN_SEPARATORS if b not in new]), label="terminator")
    if standard == "x12":
        assume(not any(b in original for b in (*new, term) if b not in b"*>~\n"))
    file = reseparated(standard, original, bytes([*new, term]))
    m = mapping(name)
    before, after = read_all(m, original, "orders.edi"), read_all(m, file, "orders.edi")
    assert after.records == before.records
    assert [(p.line, p.message) for p in after.problems] == [
        (p.line, p.message) for p in before.problems]


# ---- the writers round-trip -------------------------------------------------------------

# texts with the EDIFACT separators, the release and repetition characters, accents
edi_text = st.text(st.one_of(st.sampled_from("'+:?*~^>|!#,. éÉçàœ€日"), st.characters()),
                   max_size=30)
latin1_text = st.text(st.one_of(st.sampled_from("'+:?*. éÉçàÿ"),
                                st.characters(codec="latin-1")), max_size=30)
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
C1 = re.compile(r"[\x80-\x9f]")

# separators a UNA may name: any distinct punctuation
una_chars = st.lists(st.sampled_from(list("!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~")), min_size=5,
                     max_size=5, unique=True)


@budget(0.5)
@given(texts=st.lists(edi_text, min_size=1, max_size=4), newline=st.booleans(),
       seps=st.one_of(st.none(), una_chars))
@guarded
def test_edifact_unoy_texts_read_back_unchanged(texts: list[str], newline: bool,
                                               seps: list[str] | None) -> None:
    """Any text (separators, release, repetition, accents, any script) written as a
    component in UNOY is read back unchanged; one with a control character is refused
    with ValueError before it is written."""
    separators = None if seps is None else Separators(
        component=seps[0], element=seps[1], segment=seps[2], release=seps[3],
        repetition=seps[4])
    if any(CONTROL.search(t) or re.search(r"[\ud800-\udfff]", t) for t in texts):
        with pytest.raises(ValueError):
            edifact_write(texts, "UNOY", separators, newline)
        return
    data = edifact_write(texts, "UNOY", separators, newline)
    out = read_events("edifact", data)
    assert texts_read(out.events, 4) == texts


@budget(0.5)
@given(texts=st.lists(latin1_text, min_size=1, max_size=4), newline=st.booleans())
@guarded
def test_edifact_unoc_latin1_texts_read_back_unchanged(texts: list[str], newline: bool
                                                       ) -> None:
    if any(CONTROL.search(t) or C1.search(t) for t in texts):
        with pytest.raises(ValueError):
            edifact_write(texts, "UNOC", newline=newline)
        return
    data = edifact_write(texts, "UNOC", newline=newline)
    out = read_events("edifact", data)
    assert texts_read(out.events, 4) == texts


x12_delims = st.lists(st.sampled_from(list("!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~")),
                      min_size=4, max_size=4, unique=True)


@budget(0.5)
@given(texts=st.lists(edi_text, min_size=1, max_size=4), delims=x12_delims,
       version=st.sampled_from(("00401", "00501")), newline=st.booleans())
@guarded
def test_x12_texts_read_back_unchanged_or_are_refused(texts: list[str], delims: list[str],
                                                      version: str, newline: bool) -> None:
    """A text without a delimiter or a control character is read back unchanged (as an
    element and as a component); one with any is refused with ValueError (X12 cannot
    escape)."""
    rep = delims[3] if version >= "00402" else None
    seps = Separators(component=delims[0], element=delims[1], segment=delims[2],
                      release=None, repetition=rep)
    special = {c for c in delims[:3]} | ({rep} if rep else set())
    refused = any(CONTROL.search(t) or special & set(t) or re.search(r"[\ud800-\udfff]", t)
                  for t in texts)
    if refused:
        with pytest.raises(ValueError):
            x12_write(texts, seps, version, newline)
        return
    data = x12_write(texts, seps, version, newline)
    out = read_events("x12", data)
    assert texts_read(out.events, 5) == texts
    assert texts_read(out.events, 4, 2) == texts
