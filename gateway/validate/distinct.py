"""Batches of a large file checked against the XSD by their new values only.

When the document's record is a plain sequence of elements of simple types (its
required fields are known: ``xsd._required_fields``) and the schema has no identity
constraint (``streaming.plain_schema``), each element of a record is valid or not on
its own, whatever its neighbours: a value's validity is its element's. An element that
passed once passes again.

A batch read by column (``mapping/columns.py``) is given each distinct value's canonical
XML element (``Elements``, by the canonical writer's own step for the field). It is then
checked by the elements not seen pass yet (``DistinctChecker``): each alone, as a line of
a document of field values whose schema is the canonical one plus that element
(``xsd.value_schema``), or, where the schema allows no such element, in probe records
beside the elements of a record known to be valid. A batch all of whose elements then
passed is valid whole; its canonical XML is joined from the elements. Any other batch
is checked record by record as usual, so each problem is located and worded the same.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain, repeat
from typing import Any

from ..mapping.columns import DISTINCT_KEPT, ColumnBatch
from .xsd import VALUES, CheckedChunk, ChunkValidator, value_schema

Ticket = Callable[[], CheckedChunk]


class Elements:
    """Each distinct value's canonical XML element, by the canonical writer's own step
    for its field (what ``ChunkValidator.serialise`` joins into a record), in UTF-8."""

    def __init__(self, validator: ChunkValidator, fields: list[str]) -> None:
        # in the canonical record's order: a record's XML is its elements joined
        self.fields = [f for f in validator.doc.fields if f in fields]
        self.tag = validator.doc.record
        self.known: dict[str, dict[Any, bytes]] = {f: {} for f in self.fields}
        self.steps = {fname: _steps(memo.chain) for _c, fname, memo in validator.plan
                      if fname in self.fields}

    def attach(self, batch: ColumnBatch) -> None:
        """Give the batch each field's distinct values and their elements."""
        batch.tag = self.tag
        batch.elements = []
        for f in self.fields:
            known = self.known[f]
            if len(known) > DISTINCT_KEPT:  # memory stays bounded
                known.clear()
            values = dict(zip(batch.raw[f], batch.mapped[f], strict=True))  # text: value
            step = self.steps[f]
            for text in values.keys() - known.keys():
                known[text] = step(values[text]).encode()
            batch.elements.append((f, list(values.values()),
                                   list(map(known.__getitem__, values))))


class DistinctChecker:
    """Batches with their elements (``Elements``) checked by the elements not seen pass
    yet: a value's validity is its element's, whatever the record around it."""

    def __init__(self, validator: ChunkValidator, file_name: str) -> None:
        self.validator = validator
        self.file_name = file_name
        self.tag = validator.doc.record
        self.root = validator.doc.root
        self.passed: dict[str, set[bytes]] = {}
        self.sample: dict[str, bytes] | None = None  # a valid record's elements
        self.required = set(validator.required or ())
        # each value checked alone where the schema allows (else in a probe record)
        self.by_field = value_schema(validator.schema_path, self.tag) is not None

    def submit(self, batch: ColumnBatch) -> Ticket:
        """Start checking a batch; call the result to wait for it."""
        assert batch.elements is not None
        if self.sample is None and not self.by_field:
            return self._whole(batch)
        new: dict[str, list[bytes]] = {}
        for f, _values, elements in batch.elements:
            passed = self.passed.setdefault(f, set())
            if len(passed) > DISTINCT_KEPT:  # memory stays bounded: values are checked
                passed.clear()               # again, nothing else changes
            new[f] = list(set(elements).difference(passed))
        if not any(new.values()):
            return lambda: CheckedChunk([], [], None, columns=batch)
        if self.by_field:
            return self._by_field(batch, new)
        sample = self.sample
        assert sample is not None
        count = max(len(v) for v in new.values())
        probes = {f: v + [sample[f]] * (count - len(v)) for f, v in new.items()}
        data = b"".join(chain((f"<{self.root}>\n".encode(),), chain.from_iterable(
            zip(repeat(f"<{self.tag}>".encode()), *probes.values(),
                repeat(f"</{self.tag}>\n".encode()))), (f"</{self.root}>\n".encode(),)))
        wait = self.validator.check(data)

        def result() -> CheckedChunk:
            errors = wait()
            if errors is None:  # a text not allowed in XML: found record by record
                return self._whole(batch)()
            # a probe with an error teaches nothing: libxml2 may not have looked at the
            # rest of it
            refused = {line - 2 for line, _message in errors}
            for f, elements in probes.items():
                self.passed[f].update(elements if not refused else
                                      (e for i, e in enumerate(elements) if i not in refused))
            return self._passed(batch, new)
        return result

    def _by_field(self, batch: ColumnBatch, new: dict[str, list[bytes]]) -> Ticket:
        """The new elements checked each alone, one a line of a ``VALUES`` document. A
        value left out (no element) passes where its field may be absent, and never
        where the record requires it."""
        probes: list[tuple[str, bytes]] = []
        parts = [f"<{VALUES}>\n".encode()]
        for f, elements in new.items():
            optional = f not in self.required
            for element in elements:
                if not element:
                    if optional:
                        self.passed[f].add(element)
                elif b"\n" not in element:  # one line each: errors point back to it
                    probes.append((f, element))
                    parts.append(element + b"\n")
        parts.append(f"</{VALUES}>\n".encode())
        wait = self.validator.check(b"".join(parts), self.tag) if probes else None

        def result() -> CheckedChunk:
            errors = wait() if wait is not None else []
            if errors is None:  # a text not allowed in XML: found record by record
                return self._whole(batch)()
            refused = {line - 2 for line, _message in errors}
            for i, (f, element) in enumerate(probes):
                if i not in refused:
                    self.passed[f].add(element)
            return self._passed(batch, new)
        return result

    def _passed(self, batch: ColumnBatch, new: dict[str, list[bytes]]) -> CheckedChunk:
        if all(self.passed[f].issuperset(elements) for f, elements in new.items()):
            return CheckedChunk([], [], None, columns=batch)
        return self._whole(batch)()

    def _whole(self, batch: ColumnBatch) -> Ticket:
        """Checked record by record; the elements of the records that pass are learnt."""
        chunk = list(zip(batch.lines, batch.records(), strict=True))
        wait = self.validator.submit(chunk, self.file_name)

        def result() -> CheckedChunk:
            checked = wait()
            ok = {id(rec) for _line, rec in checked.valid}
            assert batch.elements is not None
            rows = [i for i, rec in enumerate(batch.records()) if id(rec) in ok]
            sample: dict[str, bytes] | None = {} if rows and self.sample is None else None
            for f, values, elements in batch.elements:
                by_object = dict(zip(map(id, values), elements, strict=True))
                column = batch.mapped[f]
                learnt = [by_object[id(column[i])] for i in rows]
                self.passed.setdefault(f, set()).update(learnt)
                if sample is not None:
                    sample[f] = learnt[0]
            if sample is not None:
                self.sample = sample
            return checked
        return result


def _steps(funcs: tuple[Callable[[Any], Any], ...]) -> Callable[[Any], Any]:
    """A field's steps run in turn (each distinct value once: no memo to fill)."""
    if len(funcs) == 1:
        return funcs[0]

    def run(value: Any) -> Any:
        for step in funcs:
            value = step(value)
        return value
    return run
