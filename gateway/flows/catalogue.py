"""Catalogue: products from the ERP, each checked against the category tree held.

A product in a category the gateway does not know is refused alone (the others go on).
Each product gets its category paths (names from the root, per language), which shops
that import paths rather than ids need (``Gear > Bags``).
"""

from __future__ import annotations

from typing import Any

from . import Flow, FlowRun, Record
from .categories import paths_of


class CatalogueFlow(Flow):
    def __init__(self, run: FlowRun) -> None:
        super().__init__(run)
        held = run.ledger.categories()
        self.tree = {cid: (parent, names) for cid, (parent, names, _p, _a) in held.items()}
        self._paths: dict[str, dict[str, tuple[str, ...]]] = {}
        # per tuple of category ids (a catalogue repeats a few hundred of them): the
        # unknown id to refuse, or the paths every product of those ids gets a copy of
        self._by_ids: dict[tuple[str, ...], tuple[str | None, dict[str, Any] | None]] = {}

    def _category_paths(self, ids: tuple[str, ...]) -> dict[str, tuple[tuple[str, ...], ...]]:
        per_lang: dict[str, list[tuple[str, ...]]] = {}
        for cid in ids:
            paths = self._paths.get(cid)
            if paths is None:
                paths = self._paths[cid] = paths_of(self.tree, cid)
            for lang, path in paths.items():
                per_lang.setdefault(lang, []).append(path)
        return {lang: tuple(p) for lang, p in per_lang.items()}

    def apply(self, records: list[Record], lines: list[int]) -> list[Record]:
        # each product's reorder point, for replenishment requests
        self.run.ledger.put_reorder_points(
            ((r["sku"], r.get("reorder_point")) for r in records), self.run.exchange_id)
        tree = self.tree
        if not tree:
            return records  # no tree held yet: ids cannot be checked (said in the note)
        kept = []
        by_ids = self._by_ids
        for rec, line in zip(records, lines, strict=True):
            ids = rec.get("category") or ()
            if not ids:
                kept.append(rec)
                continue
            if ids.__class__ is not tuple:
                ids = tuple(ids)
            known = by_ids.get(ids)
            if known is None:
                if len(by_ids) >= 20_000:
                    by_ids.clear()
                unknown = [c for c in ids if c not in tree]
                known = by_ids[ids] = ((unknown[0], None) if unknown
                                       else (None, self._category_paths(ids)))
            unknown_id, paths = known
            if unknown_id is not None:
                self.refuse(line, f"unknown category {unknown_id!r}: not in the category "
                            "tree the gateway holds", "category", unknown_id)
                continue
            rec["category_path"] = dict(paths)  # type: ignore[arg-type]
            kept.append(rec)
        return records if len(kept) == len(records) else kept

    def note(self) -> str | None:
        if not self.tree:
            return "no category tree held yet: category ids were not checked"
        return None
