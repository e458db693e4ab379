"""XML readers: one record per repeating element, streamed, every problem on the record's
line; hostile documents (entity expansion, external entities) are refused."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gateway.documents import DOCUMENTS
from gateway.errors import DataError
from gateway.formats import xml as xml_format
from gateway.mapping.loader import Mapping, canonical_mapping, load_mapping_file
from gateway.mapping.reader import ProblemSink, read_records
from gateway.mapping.writer import RecordWriter

CATALOGUE = """\
[mapping]
direction = "read"
document = "catalogue"
format = "xml"

[xml]
record = "export/products/product"

[fields.sku]
path = "@id"

[fields.ean]
path = "codes/ean"

[fields."name.fr"]
path = "name[@lang='fr']"
transforms = ["strip"]

[fields.description]
path = "text"
by = "xml:lang"

[fields.brand]
path = "brand/@code"

[fields.category]
path = "category"
all = true

[fields.weight]
path = "weight"
transforms = ["decimal"]

[fields.active]
transforms = [{ constant = { value = "true" } }]
"""

DOCUMENT = b"""\
<?xml version="1.0" encoding="UTF-8"?>
<export>
  <products>
    <product id="P1">
      <codes><ean>4006381333931</ean></codes>
      <name lang="de">Stuhl</name>
      <name lang="fr"> Chaise </name>
      <text xml:lang="fr">Une chaise</text>
      <text xml:lang="de">Ein Stuhl</text>
      <brand code="ACME">Acme Corp</brand>
      <category>C1</category>
      <category>C2</category>
      <weight>1.500</weight>
    </product>
    <product id="P2">
      <weight>heavy</weight>
    </product>
    <product id="P3"/>
  </products>
</export>
"""

EMPTY = {"ean": None, "name": None, "description": None, "brand": None, "category": None,
         "weight": None, "active": "true"}


def load(tmp_path: Path, text: str = CATALOGUE) -> Mapping:
    path = tmp_path / "catalogue_xml.toml"
    path.write_text(text, encoding="utf-8")
    return load_mapping_file(path)


def read(mapping: Mapping, data: bytes) -> tuple[list[tuple[int, dict[str, Any]]],
                                                 ProblemSink]:
    problems = ProblemSink()
    return list(read_records(mapping, io.BytesIO(data), "cat.xml", problems)), problems


def test_records_paths_attributes_lists_and_languages(tmp_path: Path) -> None:
    records, problems = read(load(tmp_path), DOCUMENT)
    assert records == [
        (4, {"sku": "P1", "ean": "4006381333931", "name": {"fr": "Chaise"},
             "description": {"fr": "Une chaise", "de": "Ein Stuhl"}, "brand": "ACME",
             "category": ("C1", "C2"), "weight": Decimal("1.500"), "active": "true"}),
        (18, {**EMPTY, "sku": "P3"})]
    assert [(p.line, p.field, p.value, p.message) for p in problems.items] == [
        (15, "weight", "heavy", "not a number")]


def test_a_whole_localized_field_needs_each_language_once(tmp_path: Path) -> None:
    records, problems = read(load(tmp_path), b"""<export><products>
<product id="A"><text>no language</text></product>
<product id="B"><text xml:lang="fr">un</text><text xml:lang="fr">deux</text></product>
<product id="C"><text xml:lang="fr"></text></product>
</products></export>""")
    assert records == [(4, {**EMPTY, "sku": "C"})]
    assert [(p.line, p.field, p.value, p.message) for p in problems.items] == [
        (2, "text", "None=no language", "a text element has no xml:lang attribute"),
        (3, "text", "fr=un | fr=deux", "two text elements with xml:lang='fr'")]


def test_a_gateway_canonical_catalogue_reads_back(tmp_path: Path) -> None:
    records = [{"sku": f"S{i}", "name": {"fr": f"Nom {i}", "de": f"Name {i}"},
                "category": ("C1", f"C{i}"), "active": True} for i in range(3)]
    out = io.BytesIO()
    writer = RecordWriter(canonical_mapping(DOCUMENTS["catalogue"]), out)
    writer.write(records)
    writer.close()
    mapping = load(tmp_path, """\
[mapping]
direction = "read"
document = "catalogue"
format = "xml"

[fields.sku]
path = "sku"

[fields.name]
path = "name"
by = "lang"

[fields.category]
path = "category"
all = true
""")
    got, problems = read(mapping, out.getvalue())
    assert [rec for _, rec in got] == [
        {"sku": r["sku"], "name": r["name"], "category": r["category"]} for r in records]
    assert [line for line, _ in got] == [3, 4, 5]
    assert not problems


def test_not_well_formed_xml_is_a_file_problem_with_its_line(tmp_path: Path) -> None:
    problems = ProblemSink()
    seen = []
    data = b"<export><products>\n<product id='A'/>\n<product id='B'>\n</products></export>"
    with pytest.raises(DataError) as info:
        for line, rec in read_records(load(tmp_path), io.BytesIO(data), "cat.xml", problems):
            seen.append((line, rec["sku"]))
    assert seen == [(2, "A")]
    p = info.value.problem
    assert (p.line, p.file) == (4, "cat.xml")
    assert p.message.startswith("not well-formed XML: Opening and ending tag mismatch")


def test_a_csv_file_sent_to_an_xml_channel(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        read(load(tmp_path), b"ARTICLE;DEPOT\r\nA;B\r\n")
    assert info.value.problem.line == 1
    assert info.value.problem.message.startswith("not well-formed XML: ")


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE export [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<export><products><product id="&lol9;"><weight>&lol9;</weight></product></products></export>
"""


def test_billion_laughs_is_refused_with_a_located_error(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        read(load(tmp_path), BILLION_LAUGHS)
    p = info.value.problem
    assert p.line is not None and p.file == "cat.xml"
    assert p.message.startswith("not well-formed XML: ")
    assert "lollol" not in str(p)


@pytest.mark.parametrize("place", ["text", "attribute", "parameter"])
def test_an_external_entity_never_reads_the_local_file(tmp_path: Path, place: str) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET", encoding="utf-8")
    url = secret.as_uri()
    doctype = {"text": f'<!ENTITY xxe SYSTEM "{url}">',
               "attribute": f'<!ENTITY xxe SYSTEM "{url}">',
               "parameter": f'<!ENTITY % xxe SYSTEM "{url}"> %xxe;'}[place]
    use = {"text": "<weight>&xxe;</weight>", "attribute": "", "parameter": ""}[place]
    sku = "&xxe;" if place == "attribute" else "A"
    data = (f'<?xml version="1.0"?>\n<!DOCTYPE export [{doctype}]>\n'
            f'<export><products><product id="{sku}">{use}</product></products></export>\n'
            ).encode()
    problems = ProblemSink()
    seen: list[Any] = []
    with pytest.raises(DataError) as info:
        for item in read_records(load(tmp_path), io.BytesIO(data), "cat.xml", problems):
            seen.append(item)
    assert seen == []
    assert info.value.problem.line == 3
    assert "TOPSECRET" not in str(info.value) + repr(problems.items)


def test_an_internal_entity_is_refused_not_read_cut_short(tmp_path: Path) -> None:
    data = (b'<?xml version="1.0"?>\n<!DOCTYPE export [<!ENTITY kg "1.5">]>\n'
            b'<export><products><product id="A"><weight>&kg;</weight></product></products>'
            b"</export>\n")
    with pytest.raises(DataError) as info:
        read(load(tmp_path), data)
    assert info.value.problem.line == 3
    assert info.value.problem.message == ("the DOCTYPE declares entities (kg); they are never "
                                          "expanded, so the file is refused")


def test_each_record_is_freed_once_the_next_is_read() -> None:
    n = 20_000
    data = b"<export><products>" + b"".join(
        b"<product id='%d'><w>%d</w></product><!-- c -->" % (i, i) for i in range(n)
    ) + b"</products></export>"
    held = 0
    count = 0
    for line, el, terminated in xml_format.records(io.BytesIO(data), "products/product",
                                                   "x.xml"):
        assert (line, terminated) == (1, True)
        assert el.findtext("w") == el.get("id") == str(count)
        before = el.getprevious()  # of the records read, only the last is left, emptied
        assert before is None or (len(before) == 0 and before.getprevious() is None)
        held = max(held, len(el.getparent()))  # the rest: what the parser read ahead
        count += 1
    assert count == n
    assert held < n // 4


def test_an_empty_document_has_no_records(tmp_path: Path) -> None:
    records, problems = read(load(tmp_path), b"<?xml version='1.0'?>\n<export/>\n")
    assert records == []
    assert not problems


def test_xml_lang_in_predicates_and_attributes_of_every_match(tmp_path: Path) -> None:
    mapping = load(tmp_path, """\
[mapping]
direction = "read"
document = "catalogue"
format = "xml"

[fields.sku]
path = "a/b"

[fields."name.fr"]
path = "name[@xml:lang='fr']"

[fields."name.de"]
path = "t/name[@xml:lang='de']"

[fields.category]
path = "cats/c/@id"
all = true
""")
    records, problems = read(mapping, b"""<catalogue><product><a><b>S</b></a>
<name xml:lang="fr">F</name><t><name xml:lang="de">D</name></t>
<cats><c id="1"/><c/><c id="3"/></cats></product></catalogue>""")
    assert records == [(1, {"sku": "S", "name": {"fr": "F", "de": "D"},
                            "category": ("1", "3")})]
    assert not problems
