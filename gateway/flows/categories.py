"""Categories: the ERP's category tree, checked whole, then held as the shop's tree.

A categories file is the whole tree, so its rules need the whole file: a duplicate id,
a parent the file does not define, a cycle. Each refused category is a located problem
and so is every descendant of it (it would hang from nothing). The accepted categories
replace the held tree, from which products get their category paths, and are published
parents first, as shop imports need.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from . import Flow, FlowRun, Record

if TYPE_CHECKING:
    from ..config import Channel


def paths_of(tree: dict[str, tuple[str | None, dict[str, str]]], cid: str
             ) -> dict[str, tuple[str, ...]]:
    """Names from the root down to ``cid``, per language (a name missing in a language
    falls back to the category's first name)."""
    chain: list[dict[str, str]] = []
    seen: set[str] = set()
    cur: str | None = cid
    while cur is not None and cur in tree and cur not in seen:
        seen.add(cur)
        parent, names = tree[cur]
        chain.append(names)
        cur = parent
    chain.reverse()
    langs = sorted({lang for names in chain for lang in names})
    return {lang: tuple(names.get(lang) or next(iter(names.values()), "") for names in chain)
            for lang in langs}


class CategoriesFlow(Flow):
    streaming_views = ()

    def __init__(self, run: FlowRun) -> None:
        super().__init__(run)
        self._items: dict[str, tuple[int, Record]] = {}
        self._accepted: list[Record] = []

    def apply(self, records: list[Record], lines: list[int]) -> list[Record]:
        for rec, line in zip(records, lines, strict=True):
            cid = rec["id"]
            if cid in self._items:
                self.refuse(line, f"duplicate category id {cid!r} (first on line "
                            f"{self._items[cid][0]})", "id", cid)
                continue
            self._items[cid] = (line, rec)
        return []

    def finish(self) -> None:
        items = self._items
        bad: dict[str, str] = {}
        for cid, (line, rec) in items.items():
            parent = rec.get("parent_id") or None
            if parent is not None and parent not in items:
                bad[cid] = f"unknown parent category {parent!r}"
                self.refuse(line, bad[cid], "parent_id", parent)
        for cid, (line, _rec) in items.items():  # cycles: walk up, at most len(items) steps
            if cid in bad:
                continue
            path, cur = [cid], items[cid][1].get("parent_id") or None
            while cur is not None and cur != cid and len(path) <= len(items):
                path.append(cur)
                cur = items[cur][1].get("parent_id") or None if cur in items else None
            if cur == cid:
                bad[cid] = "category cycle: " + " → ".join([*path, cid])
                self.refuse(line, bad[cid], "parent_id", items[cid][1].get("parent_id"))
        changed = True
        while changed:  # descendants of a refused category hang from nothing
            changed = False
            for cid, (line, rec) in items.items():
                parent = rec.get("parent_id") or None
                if cid not in bad and parent in bad:
                    bad[cid] = f"parent category {parent!r} was refused"
                    self.refuse(line, bad[cid], "parent_id", parent)
                    changed = True
        kept = {cid: rec for cid, (_l, rec) in items.items() if cid not in bad}
        tree = {cid: (rec.get("parent_id") or None, rec.get("name") or {})
                for cid, rec in kept.items()}
        depth = {cid: len(next(iter(paths_of(tree, cid).values()), ())) for cid in kept}
        for cid, rec in kept.items():
            rec["path"] = paths_of(tree, cid)
            rec["is_root"] = not rec.get("parent_id")
        self._accepted = sorted(kept.values(), key=lambda r: (
            depth[r["id"]], r.get("position") if r.get("position") is not None else 1 << 62,
            r["id"]))
        self.run.ledger.replace_categories(
            ((r["id"], r.get("parent_id") or None, r.get("name") or {}, r.get("position"),
              bool(r.get("active", True))) for r in self._accepted), self.run.exchange_id)

    def view(self, name: str, out: Channel) -> Iterator[Record]:
        if name != "records":
            raise ValueError(f"categories have no view {name!r}")
        yield from self._accepted

    def note(self) -> str | None:
        return f"category tree of {len(self._accepted)} categories held" if self._accepted \
            else None
