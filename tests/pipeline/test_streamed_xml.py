"""A large canonical XML file read by the worker that validates it whole as it streams.

Each file goes through two workspaces: one where every file counts as large (the worker
reads it: ``validate/streaming.py``) and one where none does (records read and checked
in the main process). The shop's file and the acknowledgement's errors must be the same;
the worker's batches are kept small so that a file spans many of them.
"""

from __future__ import annotations

import gc
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from gateway.config import resource_dir
from gateway.documents import document
from gateway.errors import DataError
from gateway.mapping.loader import load_mapping_file
from gateway.mapping.reader import ProblemSink
from gateway.pipeline import transform
from gateway.pipeline.transform import valid_chunks
from gateway.validate import streaming
from gateway.validate.xsd import ChunkValidator
from tests.conftest import Workspace
from tests.flows.test_catalogue_bad_inputs import product, workspace, xml
from tests.flows.test_catalogue_flows import ack, errors, shop_file, shop_files
from tests.pipeline.test_crash import run_gateway

BATCH = 7


@pytest.fixture
def streams(monkeypatch: pytest.MonkeyPatch) -> list[streaming.ValidatedStream]:
    """The workers started, to see how far each read before handing over."""
    started: list[streaming.ValidatedStream] = []
    real = streaming.ValidatedStream.__init__

    def spy(self: streaming.ValidatedStream, *args: Any, **kwargs: Any) -> None:
        real(self, *args, **kwargs)
        self.gc_threshold = gc.get_threshold()  # type: ignore[attr-defined]
        started.append(self)
    monkeypatch.setattr(streaming.ValidatedStream, "__init__", spy)
    monkeypatch.setattr(streaming, "BATCH", BATCH)
    return started


def both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes
         ) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """(result, errors, shop rows) of ``data`` read by the worker, then in-process."""
    seen = []
    for name, threshold in (("streamed", 0), ("in_process", 1 << 40)):
        monkeypatch.setattr(transform, "PARALLEL_FROM_BYTES", threshold)
        ws = workspace(tmp_path / name)
        ws.drop("catalogue_1.xml", data)
        ws.run_once()
        root = ack(ws, "catalogue_1")
        result = root.findtext("result")
        # a file refused whole counts the records read before its fault, so many as
        # were read in a batch: not compared
        accepted = root.find("records").get("accepted") if result != "rejected" else None
        rows = shop_file(ws, "products_") if result != "rejected" else []
        seen.append((result, accepted, errors(root), rows))
    return seen[0], seen[1]


def catalogue(n: int, bad: dict[int, str] | None = None) -> list[str]:
    """``n`` products with names that need escaping; ``bad``: position → a product
    replaced by another text."""
    out = []
    for i in range(n):
        extra = ("<description lang=\"fr\">Grès &amp; émail</description>" if i % 3 == 0
                 else "") + ("<brand>Dupré &amp; Fils</brand>" if i % 2 else "")
        out.append(product(f"A-{i:03d}", weight=f"{i % 9}.{i % 1000:03d}")
                   .replace("<category>", extra + "<category>", 1))
    for i, text in (bad or {}).items():
        out[i] = text
    return out


def test_valid_file_is_read_whole_by_the_worker_with_the_same_result(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        streams: list[streaming.ValidatedStream]) -> None:
    streamed, in_process = both(tmp_path, monkeypatch, xml(*catalogue(60)))
    assert streamed == in_process
    assert streamed[0] == "accepted" and len(streamed[3]) == 61  # header + 60 products
    [stream] = streams
    assert stream.fallback_from is None and stream.received == 60
    # fewer collections of short-lived records while a large file is read, then as before
    assert stream.gc_threshold[0] == transform.YOUNG_COLLECTION  # type: ignore[attr-defined]
    assert gc.get_threshold()[0] != transform.YOUNG_COLLECTION


@pytest.mark.parametrize("at", [0, 6, 7, 30, 59])
def test_an_invalid_product_anywhere_is_found_and_worded_as_in_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        streams: list[streaming.ValidatedStream], at: int) -> None:
    data = xml(*catalogue(60, {at: product(f"A-{at:03d}", weight="-1")}))
    streamed, in_process = both(tmp_path, monkeypatch, data)
    assert streamed == in_process
    assert streamed[0] == "partial" and streamed[1] == "59"
    [(line, field, _message)] = streamed[2]
    assert (line, field) == (str(at + 3), "weight")
    [stream] = streams
    # nothing from the batch holding the bad product on was taken from the worker
    assert stream.fallback_from is not None and stream.fallback_from <= at
    assert stream.fallback_from % BATCH == 0 and stream.received == stream.fallback_from


def test_a_fault_after_batches_handed_over_is_found_as_in_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        streams: list[streaming.ValidatedStream]) -> None:
    """In a file larger than libxml2's read blocks the worker hands over the batches
    before the fault, and the main process reads on from there: each product once."""
    data = xml(*catalogue(1500, {700: product("A-700", extra="<colour>red</colour>"),
                                 1200: product("A-1200", weight="-1")}))
    streamed, in_process = both(tmp_path, monkeypatch, data)
    assert streamed == in_process
    assert [(line, field) for line, field, _m in streamed[2]] == [("703", "colour"),
                                                                   ("1203", "weight")]
    assert streamed[1] == "1498" and len(streamed[3]) == 1499
    [stream] = streams
    assert stream.fallback_from is not None and 0 < stream.fallback_from <= 700


def test_a_required_element_left_empty_is_checked_mapped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        streams: list[streaming.ValidatedStream]) -> None:
    empty_name = product("A-020").replace("Cafetière", "")  # valid XML, no name once mapped
    streamed, in_process = both(tmp_path, monkeypatch, xml(*catalogue(40, {20: empty_name})))
    assert streamed == in_process
    assert streamed[0] == "partial" and [e[0] for e in streamed[2]] == ["23"]
    assert "A-020" not in "".join(streamed[3])
    [stream] = streams
    assert stream.fallback_from is None  # the document itself is valid


def test_a_language_given_twice_is_refused_as_in_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        streams: list[streaming.ValidatedStream]) -> None:
    twice = product("A-010").replace('<name lang="fr">Cafetière</name>',
                                     '<name lang="fr">Cafetière</name><name lang="fr"></name>')
    blank = product("A-011").replace('<name lang="fr">Cafetière</name>',
                                     '<name lang="fr">Cafetière</name><name lang="en"></name>')
    streamed, in_process = both(tmp_path, monkeypatch,
                                xml(*catalogue(20, {10: twice, 11: blank})))
    assert streamed == in_process
    assert streamed[2] == [("13", "name", "two name elements with lang='fr'")]
    assert streams[0].fallback_from is None  # valid XML: the reader refuses it


@pytest.mark.parametrize("case", ["cut", "unknown element after the products", "entities"])
def test_a_bad_document_is_handled_as_in_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        streams: list[streaming.ValidatedStream], case: str) -> None:
    data = xml(*catalogue(30))
    if case == "cut":
        data = data[:data.index(b"<sku>A-025")]
    elif case == "unknown element after the products":
        data = data.replace(b"</catalogue>", b"<trailer>30</trailer></catalogue>")
    else:
        data = data.replace(b"<catalogue>", b'<!DOCTYPE catalogue [<!ENTITY e "x">]>\n'
                            b"<catalogue>", 1)
    streamed, in_process = both(tmp_path, monkeypatch, data)
    assert streamed == in_process
    [stream] = streams
    assert stream.fallback_from is not None and stream.received == stream.fallback_from
    if case == "unknown element after the products":
        assert streamed[0] == "accepted"  # records are what is checked, as in-process


def plan(path: Path, batch: int) -> streaming.Plan:
    shipped = Path(transform.__file__).parents[2] / "schemas/catalogue.xsd"
    return streaming.Plan(str(path), "product", "catalogue", path.name, str(shipped),
                          (("sku", False, None), ("name", False, "lang")), batch)


@pytest.mark.parametrize("fault", [b"<weight>-1</weight>", b"<weight>1</weight",
                                   b"<weight>1\x01</weight>"])
def test_the_worker_hands_over_only_records_before_a_fault(tmp_path: Path,
                                                           fault: bytes) -> None:
    """In a file larger than libxml2's read blocks, batches before the fault come from
    the worker; none from the fault on."""
    path = tmp_path / "catalogue.xml"
    path.write_bytes(xml(*catalogue(3000)).replace(
        b"<weight>7.500</weight>", fault, 1))  # product 2500's (its weight alone)
    with streaming.ValidatedStream(plan(path, 100), mapper=None) as stream:
        rows = [row for _pos, batch in stream.batches() for row in batch]
    assert stream.fallback_from is not None and 0 < stream.fallback_from <= 2500
    assert len(rows) == stream.fallback_from and rows[-1][1][0] == f"A-{len(rows) - 1:03d}"
    assert rows[0][1] == ("A-000", {"fr": "Cafetière"}) and rows[0][0] == 3


def test_a_file_cut_short_is_never_taken_whole(tmp_path: Path) -> None:
    data = xml(*catalogue(3000))
    for cut in (data.index(b"<sku>A-2999"), len(data) - 5, len(data) - 2):
        path = tmp_path / f"cut_{cut}.xml"
        path.write_bytes(data[:cut])
        with streaming.ValidatedStream(plan(path, 100), mapper=None) as stream:
            n = sum(len(batch) for _pos, batch in stream.batches())
        # handed over up to the cut, the main process reads on and finds it
        assert stream.fallback_from == n == (2900 if cut < len(data) - 20 else 3000)


def test_a_worker_that_dies_hands_the_file_over(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.xml"
    path.write_bytes(xml(*catalogue(5)))
    plan = streaming.Plan(str(path), "product", "catalogue", "catalogue.xml",
                          str(tmp_path / "missing.xsd"), (("sku", False, None),), 2)
    with streaming.ValidatedStream(plan, mapper=None) as stream:
        assert list(stream.batches()) == []
    assert stream.fallback_from == 0


def test_only_schemas_valid_element_by_element_are_streamed(tmp_path: Path) -> None:
    head = '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
    (tmp_path / "keyed.xsd").write_text(
        head + '<xs:element name="r"><xs:complexType><xs:sequence>'
        '<xs:element name="p" type="xs:string" maxOccurs="unbounded"/>'
        '</xs:sequence></xs:complexType><xs:unique name="u"><xs:selector xpath="p"/>'
        '<xs:field xpath="."/></xs:unique></xs:element></xs:schema>')
    (tmp_path / "includes.xsd").write_text(head + '<xs:include schemaLocation="keyed.xsd"/>'
                                           "</xs:schema>")
    (tmp_path / "remote.xsd").write_text(
        head + '<xs:include schemaLocation="http://example.com/a.xsd"/></xs:schema>')
    assert not streaming.plain_schema(tmp_path / "keyed.xsd")
    assert not streaming.plain_schema(tmp_path / "includes.xsd")
    assert not streaming.plain_schema(tmp_path / "remote.xsd")
    shipped = Path(transform.__file__).parents[2] / "schemas"
    assert streaming.plain_schema(shipped / "catalogue.xsd")  # includes common.xsd


def test_a_gateway_killed_while_its_worker_reads_leaves_no_worker_and_loses_nothing(
        tmp_path: Path) -> None:
    """Killed (as by ``kill -9``) in the middle of a large file read by the worker: the
    worker, left without a reader, ends by itself; the next run processes the file once."""
    ws = workspace(tmp_path / "ws")
    n = 24_000  # over 4 MB: read by the worker, at the real threshold
    data = xml(*catalogue(n))
    assert len(data) >= transform.PARALLEL_FROM_BYTES
    ws.drop("catalogue_1.xml", data)
    killed = run_gateway(ws, "transform.streamed_batch", after=2)
    assert killed.returncode == 137, killed.stderr
    wait_until_no_worker_reads(ws, data)
    assert run_gateway(ws).returncode == 0
    assert ack(ws, "catalogue_1").findtext("result") == "accepted"
    [rows] = [shop_file(ws, "products_")]
    assert len(rows) == n + 1 and len({r.split(";")[5] for r in rows[1:]}) == n


def wait_until_no_worker_reads(ws: Workspace, data: bytes) -> None:
    """The archived copy of ``data`` is soon held open by no process: the reading worker
    of a gateway killed mid-file ends by itself."""
    [blob] = [p for p in (ws.root / "archive").rglob("*") if p.is_file()
              and p.stat().st_size == len(data)]
    deadline = time.monotonic() + 20
    while _open_by_any_process(blob):
        assert time.monotonic() < deadline, "the reading worker outlived its gateway"
        time.sleep(0.1)


def _open_by_any_process(path: Path) -> bool:
    target = str(path.resolve())
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            for fd in fd_dir.iterdir():
                if os.readlink(fd) == target:
                    return True
        except OSError:  # a process that ended, or not ours to look at
            continue
    return False


def read(path: Path, streamed: bool, reader: str = "canonical_catalogue_in",
         doc: str = "catalogue", workers: list[streaming.ValidatedStream] | None = None
         ) -> tuple[Any, ...]:
    """What ``valid_chunks`` gives for a file, read by the worker (``streamed``: it is
    appended to ``workers``) or record by record: (records with their lines, problems
    sorted, the problem a refused file gives)."""
    m = load_mapping_file(resource_dir("mappings") / f"{reader}.toml")
    pool = ThreadPoolExecutor(1) if streamed else None
    validator = ChunkValidator(document(doc), resource_dir("schemas"), pool)
    opened: list[streaming.ValidatedStream | None] = []
    real_stream = validator.stream

    def stream(*args: Any) -> streaming.ValidatedStream | None:
        opened.append(real_stream(*args))
        return opened[-1]
    validator.stream = stream  # type: ignore[method-assign]
    problems = ProblemSink()
    records: list[tuple[int, dict[str, Any]]] = []
    refused = None
    try:
        with open(path, "rb") as src:
            for checked in valid_chunks(m, validator, src, path.name, problems):
                records += [(int(line), rec) for line, rec in checked.valid]
    except DataError as exc:
        refused = (exc.problem.line, exc.problem.message)
        # what was read before the fault depends on how much a batch or chunk holds
        records, problems = [], ProblemSink()
    finally:
        if pool is not None:
            pool.shutdown()
    if streamed:  # the worker read it, whole or up to a fault
        [worker] = opened
        assert worker is not None
        if workers is not None:
            workers.append(worker)
    found = sorted((p.line or 0, p.field or "", p.message, p.value or "")
                   for p in problems.items)
    return records, found, refused


# the flat canonical readers (a record of child elements named as its fields) and their
# documents: each is read by the worker when its file is large
FLAT_READERS = [("canonical_stock_in", "stock"), ("canonical_prices_in", "prices"),
                ("canonical_catalogue_in", "catalogue"),
                ("canonical_categories_in", "categories"),
                ("canonical_customers_in", "customers"),
                ("canonical_order_status_in", "order_status")]


@pytest.mark.parametrize(("reader", "doc"), FLAT_READERS)
def test_every_flat_canonical_reader_gives_the_same_records_through_the_worker(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reader: str, doc: str) -> None:
    """The records of the reader's own mapping case, repeated past libxml2's read blocks;
    then with an unknown element in one record of the middle."""
    root, record = document(doc).root, document(doc).record
    case = (Path(__file__).parents[1] / "mappings" / reader.replace("_in", "_xml")
            / "expected.xml").read_bytes()
    body = case[case.index(f"<{record}>".encode()):case.rindex(f"</{root}>".encode())]
    assert body.count(f"<{record}>".encode()) >= 2
    copies = [body] * 400
    clean = b"<?xml version='1.0' encoding='UTF-8'?>\n<%s>\n%s</%s>\n" % (
        root.encode(), b"".join(copies), root.encode())
    copies[250] = body.replace(f"<{record}>".encode(), f"<{record}><bogus/>".encode(), 1)
    faulty = clean.replace(b"".join([body] * 400), b"".join(copies))
    monkeypatch.setattr(streaming, "BATCH", 40)
    for name, data in (("clean", clean), ("faulty", faulty)):
        path = tmp_path / f"{name}.xml"
        path.write_bytes(data)
        workers: list[streaming.ValidatedStream] = []
        streamed = read(path, True, reader, doc, workers)
        assert streamed == read(path, False, reader, doc)
        records, problems, refused = streamed
        assert refused is None and len(records) >= 400
        [worker] = workers
        if name == "clean":
            assert problems == [] and worker.fallback_from is None
        else:
            assert [field for _line, field, _m, _v in problems] == ["bogus"]
            assert 0 < worker.fallback_from < worker.received + 1 < len(records)
