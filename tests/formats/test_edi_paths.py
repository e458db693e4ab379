"""Element paths written out inline over the flat message index (``edi.flat_code``, as
the mapping reader does for mappings whose paths all have the common shapes) find what
the path functions find over the message tree (``compile_first``, ``compile_segments``):
the same text and line, for every shape, on messages with odd contents."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from gateway.formats import edifact, x12
from gateway.formats.edi import (Message, Nest, compile_first, compile_segments, flat_code,
                                 flat_inlinable, flat_prefixes, flat_segments, message_index,
                                 message_tree)

DATA = Path(__file__).resolve().parent.parent / "data"
NEST = {"NAD": ("RFF", "CTA", "COM", "DTM"), "LIN": ("PIA", "IMD", "QTY", "PRI", "ALC", "MOA",
                                                   "TAX", "NAD", "DTM"),
        "ALC": ("PCD", "MOA", "DTM"), "CTA": ("COM",)}
ODD = """UNB+UNOC:3+S+R+261128:0915+9'
UNH+1+ORDERS:D:96A:UN:EAN008'
BGM+220++9'
BGM+221+PO-2+'
DTM++20261128:102'
DTM+137:+x'
DTM+137:20261129:102'
RFF+CR'
RFF+CR:A*B'
NAD+BY+++'
RFF+VA:'
NAD+BY+GLN2::9++Name 2+Street:Door+City++75001+FR'
CTA+OC+:Ann'
COM+1:TE'
COM+a@b:EM+x:TE'
RFF+VA:FR1'
NAD+DP+GLN3::9++Depot'
NAD++GLN4'
CUX+2:EUR:9'
ALC+A+CODE1++1+TD'
MOA+204:1.00'
ALC+A+++1+DI'
PCD+3:5'
MOA+8:2.00'
LIN+1++A:EN'
PIA+5+X:SA+Y:SA'
PIA+1++Z:SA'
QTY+21:3'
QTY+21:4'
ALC+A+P++1+DI'
PCD+3:10'
MOA+204:0.50'
DTM+2:20261201:102'
LIN+2++B:EN+C:SA'
QTY+21'
PRI+AAA:1.00'
PRI+AAB:2.00'
TAX+7+VAT+++:::20'
NAD+ST+L2'
LIN+3+++'
UNS+S'
MOA+79:10.00'
MOA+86:12.00'
MOA+86:13.00'
UNT+43+1'
UNZ+1+9'
"""

PATHS = [
    "@sender", "@recipient", "@control", "@reference", "@type", "@nothing", "@q",
    "BGM/@q", "NAD/@q", "NAD[@q='BY']/@q", "LIN/@sender", "BGM/e2", "BGM/e3", "BGM/e1/c2",
    "BGM/e9", "DTM[@q='137']/e1/c2", "DTM/e1/c2", "DTM[@q='']/e1/c2", "DTM[@q='2']/e1/c2",
    "RFF[@q='CR']/e1/c2", "RFF/e1", "NAD[@q='BY']/e2", "NAD[@q='BY']/e4",
    "NAD[@q='BY']/e5/c2", "NAD[@q='BY']/CTA/e2/c2", "NAD[@q='BY']/RFF[@q='VA']/e1/c2",
    "NAD[@q='BY']/COM/e1[c2='EM']/c1", "NAD[@q='BY']/COM/e1[c2='TE']/c1",
    "NAD[@q='BY']/COM/e2[c2='TE']/c1", "NAD[@q='BY']/CTA/COM/e1", "NAD[@q='']/e2",
    "NAD[@q='DP']/e4", "NAD[@q='IV']/e4", "NAD/e2", "CUX[@q='2']/e1/c2",
    "ALC[@q='A']/MOA[@q='204']/e1/c2", "ALC[@q='A']/MOA[@q='8']/e1/c2",
    "ALC[@q='A']/PCD/e1/c2", "ALC[@q='A']/e2/c1", "ALC/e5", "ALC[@q='C']/MOA/e1/c2",
    "MOA[@q='86']/e1/c2", "MOA/e1", "LIN/e1", "LIN/QTY[@q='21']/e1/c2",
    "LIN/ALC/MOA/e1/c2", "LIN/NAD/e2", "LIN[@q='2']/e3[c2='SA']/c1",
    "BGM/QTY/e1", "UNS/MOA/e1", "QTY/e1",
    "BGM/e2[c1='']/../e3", "NAD/e1[c1='BY']/../e4", "NAD/e5[c2='Door']/../e6",
    "NAD/e2/../e9", "RFF/e1[c1='CR']/../e1/c2", "./BGM/./e2", "BGM/e2/.",
    # shapes read by the path functions only
    "BGM", "NAD/..", "BGM/e2/c1/..", "NAD[@q='BY']/CTA/..", "LIN/../BGM/e2",
]
ITEM_PATHS = [
    "e1", "e3", "e3[c2='EN']/c1", "e4[c2='SA']/c1", "PIA/e2[c2='SA']/c1",
    "PIA/e3[c2='SA']/c1", "QTY[@q='21']/e1/c2", "PRI[@q='AAB']/e1/c2",
    "TAX[@q='7']/e5/c4", "ALC[@q='A']/MOA[@q='204']/e1/c2", "ALC[@q='A']/PCD/e1/c2",
    "ALC[@q='A']/e2/c1", "@q", "@sender", "e2/c1", "e5", "MOA[@q='204']/e1/c2",
    "MOA/e1/c2", "PCD/e1", "NAD/e2", "e3[c2='EN']/../e1", "DTM/e1/c2",
]
ITEMS = ["LIN", "ALC[@q='A']", "NAD[@q='BY']", "NAD", "LIN/ALC", "MOA[@q='86']", "RFF",
         "NAD[@q='BY']/COM", "LIN[@q='2']"]


def messages() -> list[Message]:
    found = []
    for module, data in ((edifact, ODD.encode()),
                         (edifact, (DATA / "edifact" / "orders_d96a.edi").read_bytes()),
                         (edifact, (DATA / "edifact" / "orders_d01b.edi").read_bytes()),
                         (x12, (DATA / "x12" / "850.x12").read_bytes())):
        found += [e for e in module.events(io.BytesIO(data), "in.edi")
                  if isinstance(e, Message)]
    return found


def inline(path: str, root: bool, triggers: frozenset[str]) -> Any:
    """The path written out as the mapping reader writes it, as a function of a node."""
    prefixes: dict[tuple[str, str], str] = {}

    def prefix(tag: str, q: str) -> str:
        return prefixes.setdefault((tag, q), f"P{len(prefixes)}")

    code = flat_code(path, "node", root, triggers, prefix)
    lines = ["def find(node):", "    seg0, index0 = node[0], node[1]",
             *(["    msg = node[2]"] if root else []),
             *("    " + c for c in flat_prefixes(prefixes, triggers)),
             "    raw = at = None", *("    " + c for c in code),
             "    return None if raw is None else (raw, at)"]
    env: dict[str, Any] = {}
    exec("\n".join(lines), env)
    return env["find"]


@pytest.mark.parametrize("nest", [NEST, {"LIN": ("QTY", "ALC", "MOA", "PCD"),
                                         "ALC": ("MOA",)}, {}])
def test_inline_paths_find_what_the_path_functions_find(nest: dict[str, Any]) -> None:
    triggers = frozenset(nest)
    msgs = messages()
    for path in PATHS:
        expected = compile_first(path)
        if not flat_inlinable(path):
            assert path in PATHS[-5:], path
            continue
        find = inline(path, True, triggers)
        for msg in msgs:
            tree = message_tree(msg, nest)
            root = (None, message_index(msg, Nest(nest)), msg)
            assert find(root) == expected(tree), (path, msg.reference)


@pytest.mark.parametrize("nest", [NEST, {"LIN": ("QTY", "ALC", "MOA", "PCD"),
                                         "ALC": ("MOA", "PCD")}])
def test_items_and_their_paths_match(nest: dict[str, Any]) -> None:
    triggers = frozenset(nest)
    for msg in messages():
        tree = message_tree(msg, nest)
        root = (None, message_index(msg, Nest(nest)), msg)
        for items in ITEMS:
            nodes = compile_segments(items)(tree)
            flat = flat_segments(items, triggers)
            assert flat is not None
            flat_nodes = flat(root)
            assert [n.seg for n in nodes] == [n[0] for n in flat_nodes], items
            for path in ITEM_PATHS:
                assert flat_inlinable(path), path
                find, expected = inline(path, False, triggers), compile_first(path)
                assert [find(n) for n in flat_nodes] == [expected(n) for n in nodes], (
                    items, path)


def test_paths_not_of_a_common_shape_are_left_to_the_path_functions() -> None:
    for path in ("BGM", "NAD/..", "BGM/e2/c1/..", "LIN/../BGM/e2", "e1/c1/c2", "c1",
                 "e2/e3", "@q/e1" if False else "NAD/e2/c1/..", ".."):
        assert not flat_inlinable(path), path
    assert flat_segments("LIN/e1", frozenset()) is None
