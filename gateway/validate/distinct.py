"""Batches of a large file checked against the XSD by their new values only.

When the document's record is a plain sequence of elements of simple types (its
required fields are known: ``xsd._required_fields``) and the schema has no identity
constraint (``streaming.plain_schema``), each element of a record is valid or not on
its own, whatever its neighbours. A field's text that passed once passes again: the
mapping is a pure function of the text, and so is the canonical XML of the value.

A batch read by column (``mapping/columns.py``) is checked this way: each text a field
has not seen pass yet is put in a probe record beside the texts of a record known to be
valid, and the probes are validated by libxml2 (in the worker process when there is
one). A batch all of whose texts are then known to pass is valid whole; its canonical
XML is joined from each value's fragment. Any other batch, and the first one (before a
valid record is known), is checked record by record as usual, so each problem is
located and worded the same.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain, repeat
from typing import Any

from ..mapping.columns import DISTINCT_KEPT, ColumnBatch
from .xsd import VALUES, CheckedChunk, ChunkValidator, value_schema

Ticket = Callable[[], CheckedChunk]


class DistinctChecker:
    def __init__(self, validator: ChunkValidator, fields: list[str], file_name: str
                 ) -> None:
        self.validator = validator
        # in the canonical record's order: a record's XML is its fragments joined
        self.fields = [f for f in validator.doc.fields if f in fields]
        self.file_name = file_name
        self.tag = validator.doc.record
        self.root = validator.doc.root
        self.passed: dict[str, set[Any]] = {f: set() for f in fields}
        # text → the value's canonical XML element (empty for a value left out)
        self.fragments: dict[str, dict[Any, str]] = {f: {} for f in fields}
        self.sample: dict[str, tuple[Any, str]] | None = None  # a valid record's texts
        # each field's value → its element, the step the canonical serialiser runs
        self.steps = {fname: _steps(memo.chain) for _c, fname, memo in validator.plan
                      if fname in fields}
        self.required = set(validator.required or ())
        # each value checked alone where the schema allows (else in a probe record)
        self.by_field = value_schema(validator.schema_path, self.tag) is not None

    def submit(self, batch: ColumnBatch) -> Ticket:
        """Start checking a batch; call the result to wait for it."""
        for f in self.fields:
            if len(self.passed[f]) > DISTINCT_KEPT:  # memory stays bounded: values are
                self.passed[f].clear()               # checked again, nothing else changes
            if len(self.fragments[f]) > DISTINCT_KEPT:
                self.fragments[f].clear()
        # each field's distinct texts and the value each maps to (one object per text)
        distinct = {f: dict(zip(batch.raw[f], batch.mapped[f], strict=True))
                    for f in self.fields}
        self._fragments(distinct)
        if self.sample is None and not self.by_field:
            return self._whole(batch)
        self._keep_fragments(batch, distinct)  # now: the next batch may forget them
        new = {f: list(distinct[f].keys() - self.passed[f]) for f in self.fields}
        if not any(new.values()):
            return lambda: CheckedChunk([], [], None, columns=batch)
        if self.by_field:
            return self._by_field(batch, new)
        count = max(len(v) for v in new.values())
        sample = self.sample
        texts = {f: v + [sample[f][0]] * (count - len(v)) for f, v in new.items()}
        for f in self.fields:
            self.fragments[f].setdefault(*sample[f])
        frags = [map(self.fragments[f].__getitem__, texts[f]) for f in self.fields]
        data = "".join(chain((f"<{self.root}>\n",), chain.from_iterable(
            zip(repeat(f"<{self.tag}>"), *frags, repeat(f"</{self.tag}>\n"))),
            (f"</{self.root}>\n",))).encode()
        wait = self.validator.check(data)

        def result() -> CheckedChunk:
            errors = wait()
            if errors is None:  # a text not allowed in XML: found record by record
                return self._whole(batch)()
            # a probe with an error teaches nothing: libxml2 may not have looked at the
            # rest of it
            refused = {line - 2 for line, _message in errors}
            for f, values in texts.items():
                self.passed[f].update(values if not refused else
                                      (v for i, v in enumerate(values) if i not in refused))
            if all(self.passed[f].issuperset(new[f]) for f in self.fields):
                return CheckedChunk([], [], None, columns=batch)
            return self._whole(batch)()
        return result

    def _by_field(self, batch: ColumnBatch, new: dict[str, list[Any]]) -> Ticket:
        """The new texts checked each alone, one element a line of a ``VALUES``
        document. A value left out (an empty element) passes where its field may be
        absent, and never where the record requires it."""
        probes: list[tuple[str, Any]] = []
        parts = [f"<{VALUES}>\n"]
        for f, texts in new.items():
            table = self.fragments[f]
            optional = f not in self.required
            for t in texts:
                element = table[t]
                if not element:
                    if optional:
                        self.passed[f].add(t)
                elif "\n" not in element:  # one line each: errors point back to it
                    probes.append((f, t))
                    parts.append(element + "\n")
        parts.append(f"</{VALUES}>\n")
        wait = self.validator.check("".join(parts).encode(), self.tag) if probes else None

        def result() -> CheckedChunk:
            errors = wait() if wait is not None else []
            if errors is None:  # a text not allowed in XML: found record by record
                return self._whole(batch)()
            refused = {line - 2 for line, _message in errors}
            for i, (f, t) in enumerate(probes):
                if i not in refused:
                    self.passed[f].add(t)
            if all(self.passed[f].issuperset(new[f]) for f in self.fields):
                return CheckedChunk([], [], None, columns=batch)
            return self._whole(batch)()
        return result

    def _fragments(self, distinct: dict[str, dict[Any, Any]]) -> None:
        """Each new text's canonical XML element, by the canonical writer's own step for
        its field (what ``serialise`` joins into a record)."""
        for f, values in distinct.items():
            known = self.fragments[f]
            step = self.steps[f]
            for text in values.keys() - known.keys():
                known[text] = step(values[text])

    def _fragment(self, f: str, value: Any) -> str:
        return self.steps[f](value)  # type: ignore[no-any-return]

    def _keep_fragments(self, batch: ColumnBatch, distinct: dict[str, dict[Any, Any]]
                        ) -> None:
        """Each distinct value's element, kept with the batch: its canonical XML is
        joined where it is written (``ColumnBatch.xml``), in the main process."""
        batch.tag = self.tag
        batch.elements = []
        for f, values in distinct.items():
            known = self.fragments[f]
            batch.elements.append((f, list(values.values()),
                                   [known[t].encode() for t in values]))

    def _whole(self, batch: ColumnBatch) -> Ticket:
        """Checked record by record; the texts of the records that pass are learnt."""
        chunk = list(zip(batch.lines, batch.records(), strict=True))
        wait = self.validator.submit(chunk, self.file_name)

        def result() -> CheckedChunk:
            checked = wait()
            ok = {id(rec) for _line, rec in checked.valid}
            for i, rec in enumerate(batch.records()):
                if id(rec) not in ok:
                    continue
                for f in self.fields:
                    self.passed[f].add(batch.raw[f][i])
                if self.sample is None:
                    self.sample = {f: (batch.raw[f][i], self._fragment(f, rec.get(f)))
                                   for f in self.fields}
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
