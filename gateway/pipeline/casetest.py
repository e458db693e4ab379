"""Mapping tests as data: ``tests/mappings/<mapping>/`` holds an input and its expected
output, and ``gateway mappings test`` runs each through the real pipeline.

A reader mapping's case is ``input.*`` (the partner's file) and ``expected.xml`` (the
canonical document). A writer mapping's case is ``input.xml`` (a canonical document: the writer's own, or
one whose flow produces the writer's, e.g. order statuses for a back-order writer) and
``expected.*`` (the partner's file); an EDI writer's interchange goes from ``CASE_EDI``'s
sender to its recipient, control number 1, dated 2000-01-01 (``transform.UNDATED``). Canonical documents in ``context/`` are taken first
(e.g. the category tree a product file's category paths are built from). The run is the
one ``gateway run`` makes — mapping, XSD, flow, writer — on an in-memory ledger, so a
case tests what production does, and touches nothing.
"""

from __future__ import annotations

import difflib
import io
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from ..config import Channel, Config, EdiSettings, Endpoint, PaymentRule
from ..documents import DOCUMENTS
from ..errors import ConfigError
from ..mapping.loader import find_mapping, load_mapping_file
from ..model import AckResult, Direction
from ..store.ledger import Ledger
from .diff import dry_run

CANONICAL_READER = "canonical_{doc}_in"
CANONICAL_WRITER = "canonical_{doc}_xml"
# the ids of the interchanges EDI writer cases write (GLNs of the EANCOM examples' kind)
CASE_EDI = EdiSettings(sender="4012345000009", recipient="5412345000013")


@dataclass
class CaseResult:
    mapping: str
    case_dir: Path
    ok: bool
    detail: list[str] = field(default_factory=list)  # problems, or a unified diff


class _Capture(io.BytesIO):
    def abort(self) -> None:
        pass

    def finish(self) -> None:
        return None


def _document_of(path: Path) -> str:
    """The canonical document of an XML file, by its root element."""
    for _event, elem in etree.iterparse(str(path), events=("start",), no_network=True,
                                        resolve_entities=False, load_dtd=False):
        for doc in DOCUMENTS.values():
            if elem.tag == doc.root:
                return doc.name
        break
    raise ConfigError("not a canonical document (unknown root element)", file=str(path))


def _one(case_dir: Path, stem: str) -> Path:
    found = sorted(p for p in case_dir.glob(f"{stem}.*") if p.is_file())
    if len(found) != 1:
        raise ConfigError(f"a case needs exactly one {stem}.* file, found "
                          f"{len(found)}", file=str(case_dir))
    return found[0]


def run_case(mappings_dirs: tuple[Path, ...], schemas_dir: Path, case_dir: Path
             ) -> CaseResult:
    name = case_dir.name
    path = find_mapping(mappings_dirs, name)
    if path is None:
        return CaseResult(name, case_dir, False, [f"no mapping named {name!r}"])
    m = load_mapping_file(path)
    doc = m.doc.name
    source, expected = _one(case_dir, "input"), _one(case_dir, "expected")
    if m.direction == "read":
        in_doc, reader, writer = doc, name, CANONICAL_WRITER.format(doc=doc)
    else:  # a writer of a document another flow emits (back-orders) reads that one
        in_doc = _document_of(source)
        reader, writer = CANONICAL_READER.format(doc=in_doc), name
    ep = {"case": Endpoint("case", "local", case_dir)}
    channels = {
        # orders of any payment status: the case tests the mapping, not the payment rule
        "case_in": Channel("case_in", Direction.IN, "case", in_doc, reader,
                           payment=PaymentRule.ANY),
        "case_out": Channel("case_out", Direction.OUT, "case", doc, writer,
                            sources=("case_in",),
                            edi=CASE_EDI if m.edi_write is not None else None),
    }
    context = sorted((case_dir / "context").glob("*.xml"))
    for i, ctx_file in enumerate(context):
        cdoc = _document_of(ctx_file)
        channels[f"context_{i}"] = Channel(f"context_{i}", Direction.IN, "case", cdoc,
                                           CANONICAL_READER.format(doc=cdoc))
    cfg = Config(path=case_dir, workspace=case_dir, mappings_dirs=mappings_dirs,
                 schemas_dir=schemas_dir, poll_interval=1.0, batch_size=1, endpoints=ep,
                 channels=channels)
    ledger = Ledger(Path(":memory:"))
    try:
        for i, ctx_file in enumerate(context):
            out = dry_run(cfg, ledger, channels[f"context_{i}"], ctx_file, commit=True)
            if out.problems:
                return CaseResult(name, case_dir, False, [
                    f"context/{ctx_file.name}:{p.line}: {p.field or ''}: {p.message}"
                    for p in out.problems.sorted()])
        captured: list[_Capture] = []

        def sink() -> _Capture:
            captured.append(_Capture())
            return captured[-1]
        outcome = dry_run(cfg, ledger, channels["case_in"], source, sink_factory=sink,
                          provenance=False)
    finally:
        ledger.close()
    if outcome.problems or outcome.result is AckResult.REJECTED:
        return CaseResult(name, case_dir, False, [
            f"{source.name}:{p.line}: {p.field or ''}: {p.message}"
            + (f" (value {p.value!r})" if p.value is not None else "")
            for p in outcome.problems.sorted()] or [f"{outcome.result}"])
    got = captured[0].getvalue() if captured else b""
    want = expected.read_bytes()
    if got == want:
        return CaseResult(name, case_dir, True)
    enc = (m.csv.encoding if m.direction == "write" and m.format == "csv" else "utf-8")
    diff = difflib.unified_diff(
        want.decode(enc, "replace").splitlines(keepends=True),
        got.decode(enc, "replace").splitlines(keepends=True),
        fromfile=str(expected), tofile=f"{name} output")
    return CaseResult(name, case_dir, False,
                      [line.rstrip("\n").replace("\r", "\\r") for line in diff]
                      or ["outputs differ in line endings or encoding only"])


def run_cases(cfg: Config, cases_dir: Path, only: list[str] | None = None
              ) -> list[CaseResult]:
    if not cases_dir.is_dir():
        raise ConfigError(f"no mapping cases folder at {cases_dir}",
                          hint="give one with --cases DIR")
    dirs = sorted(d for d in cases_dir.iterdir() if d.is_dir()
                  and (not only or d.name in only))
    results = []
    for d in dirs:
        try:
            results.append(run_case(cfg.mappings_dirs, cfg.schemas_dir, d))
        except (ConfigError, OSError) as exc:
            results.append(CaseResult(d.name, d, False, [str(exc)]))
        except Exception as exc:  # a bug in the gateway: say which case, keep going
            results.append(CaseResult(d.name, d, False, [f"{type(exc).__name__}: {exc}"]))
    return results


def untested(cfg: Config, cases_dir: Path) -> list[str]:
    """Mappings without a case (shipped and workspace ones alike)."""
    have = {d.name for d in cases_dir.iterdir() if d.is_dir()} if cases_dir.is_dir() else set()
    names = {p.stem for d in cfg.mappings_dirs for p in d.glob("*.toml")}
    # canonical readers are exercised by every writer case
    return sorted(n for n in names - have
                  if not (n.startswith("canonical_") and n.endswith("_in")))
