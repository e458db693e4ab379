"""Delta publishing: what an output channel sent before, per record key, and what changed.

An output channel with ``publish = "delta"`` sends only the records whose output row
differs from the row it last published for the same key (new or changed), and, when the
input file is a full export, the records it published before that the file no longer
holds (withdrawn). The rows are kept in the ledger, in the exchange's transaction, so a
rejected or crashed exchange publishes nothing and changes nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..documents import DocumentType, to_text
from ..model import ChangeKind
from ..store.ledger import Ledger

SEP = "\x1f"  # joins key parts and row columns: a unit separator never appears in data


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    key: tuple[str, ...]
    old: tuple[str, ...] | None
    new: tuple[str, ...] | None


class Publisher:
    """Filters one output channel's rows against what it published before."""

    def __init__(self, ledger: Ledger, channel: str, doc: DocumentType, view: str,
                 exchange_id: int, *, full_export: bool, keep_changes: int = 0) -> None:
        self.ledger = ledger
        self.channel = channel
        self.key_fields = doc.key_of(view)
        self.xid = exchange_id
        self.full_export = full_export
        self.counts: Counter[ChangeKind] = Counter()
        self.keep_changes = keep_changes
        self.changes: list[Change] = []
        self.withdraw_patch = dict(doc.withdrawn) if doc.withdrawn is not None else None

    def key(self, rec: dict[str, Any]) -> str:
        return SEP.join(to_text(rec.get(f)) for f in self.key_fields)

    def keys(self, records: list[dict[str, Any]]) -> list[str]:
        """``key`` of each record; a key of one text field (a SKU) is that text."""
        if len(self.key_fields) == 1:
            f = self.key_fields[0]
            return [v if (v := r.get(f)).__class__ is str else to_text(v) for r in records]
        return [self.key(r) for r in records]

    def filter(self, records: list[dict[str, Any]], rows: list[list[str]]) -> list[int]:
        """Indexes of the records to send; remembers their rows as published."""
        keys = self.keys(records)
        texts = [SEP.join(row) for row in rows]
        held = self.ledger.published_rows(self.channel, keys)
        send: list[int] = []
        changed: dict[str, str] = {}
        seen: list[str] = []
        for i, (k, t) in enumerate(zip(keys, texts, strict=True)):
            old = changed.get(k, held.get(k))
            if old == t:
                self.counts[ChangeKind.UNCHANGED] += 1
                seen.append(k)
                continue
            kind = ChangeKind.NEW if old is None else ChangeKind.CHANGED
            self.counts[kind] += 1
            self._remember(kind, k, old, t)
            changed[k] = t
            send.append(i)
        self.ledger.publish_rows(self.channel, changed.items(), self.xid)
        if self.full_export and seen:
            self.ledger.mark_published_seen(self.channel, seen, self.xid)
        return send

    def withdrawn(self) -> Iterator[dict[str, Any]]:
        """After a full export: the records to publish as withdrawn (none when the
        document has no withdrawn form: they are counted and forgotten)."""
        if not self.full_export:
            return
        gone = list(self.ledger.published_not_seen(self.channel, self.xid))
        self.ledger.unpublish(self.channel, [k for k, _ in gone])
        for k, old in gone:
            self.counts[ChangeKind.WITHDRAWN] += 1
            self._remember(ChangeKind.WITHDRAWN, k, old, None)
            if self.withdraw_patch is not None:
                rec: dict[str, Any] = dict(zip(self.key_fields, k.split(SEP), strict=True))
                rec.update(self.withdraw_patch)
                yield rec

    def _remember(self, kind: ChangeKind, key: str, old: str | None, new: str | None) -> None:
        if len(self.changes) < self.keep_changes:
            self.changes.append(Change(kind, tuple(key.split(SEP)),
                                       None if old is None else tuple(old.split(SEP)),
                                       None if new is None else tuple(new.split(SEP))))

    def summary(self) -> str:
        c = self.counts
        return (f"{c[ChangeKind.NEW]} new, {c[ChangeKind.CHANGED]} changed, "
                f"{c[ChangeKind.WITHDRAWN]} withdrawn, {c[ChangeKind.UNCHANGED]} unchanged")
