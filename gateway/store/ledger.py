"""The ledger: every SQL statement of the gateway lives in this module.

SQLite in WAL mode is the embedded default; keeping all SQL here is what lets a
PostgreSQL backend be added for several gateway nodes. The transition table is
append-only (enforced by triggers): it is the audit trail of every state change.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..errors import Problem, TransientError
from ..model import Direction, ExchangeState
from .atomic import FILE_MODE

MIGRATIONS: list[str] = [
    # 1: exchanges, transitions, problems
    """
    CREATE TABLE exchanges (
        id INTEGER PRIMARY KEY,
        direction TEXT NOT NULL,
        channel TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        file_name TEXT NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        state TEXT NOT NULL,
        kind TEXT,
        document TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        settled_at TEXT,
        source_id INTEGER REFERENCES exchanges(id),
        parent_id INTEGER REFERENCES exchanges(id),
        result TEXT,
        records_total INTEGER,
        records_accepted INTEGER,
        records_rejected INTEGER,
        note TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT
    );
    CREATE INDEX exchanges_channel_sha ON exchanges(channel, sha256);
    CREATE INDEX exchanges_state ON exchanges(direction, state);
    CREATE INDEX exchanges_source ON exchanges(source_id);
    CREATE TABLE transitions (
        id INTEGER PRIMARY KEY,
        exchange_id INTEGER NOT NULL REFERENCES exchanges(id),
        from_state TEXT,
        to_state TEXT NOT NULL,
        at TEXT NOT NULL,
        reason TEXT NOT NULL
    );
    CREATE INDEX transitions_exchange ON transitions(exchange_id);
    CREATE TRIGGER transitions_append_only_u BEFORE UPDATE ON transitions
        BEGIN SELECT RAISE(ABORT, 'transitions are append-only'); END;
    CREATE TRIGGER transitions_append_only_d BEFORE DELETE ON transitions
        BEGIN SELECT RAISE(ABORT, 'transitions are append-only'); END;
    CREATE TABLE problems (
        id INTEGER PRIMARY KEY,
        exchange_id INTEGER NOT NULL REFERENCES exchanges(id),
        line INTEGER,
        field TEXT,
        value TEXT,
        message TEXT NOT NULL
    );
    CREATE INDEX problems_exchange ON problems(exchange_id);
    """,
    # 2: stock positions per SKU and warehouse; quantities in millionths (exact integers,
    #    so that SQLite sums them exactly: the XSD allows six decimal places)
    """
    CREATE TABLE stock_positions (
        sku TEXT NOT NULL,
        warehouse TEXT NOT NULL,
        quantity INTEGER NOT NULL,
        as_of TEXT NOT NULL,
        exchange_id INTEGER NOT NULL,
        PRIMARY KEY (sku, warehouse)
    ) WITHOUT ROWID;
    """,
    # 3: health of each endpoint as the runner last saw it, for `gateway status`
    """
    CREATE TABLE endpoint_health (
        endpoint TEXT PRIMARY KEY,
        up INTEGER NOT NULL,
        since TEXT NOT NULL,
        last_error TEXT,
        checked_at TEXT NOT NULL
    );
    """,
    # 4: the category tree the ERP last sent (names per language as JSON), the as-of of
    #    each price applied (older never overwrites newer), and what each output channel
    #    last published per record key (delta publishing, `gateway diff`)
    """
    CREATE TABLE categories (
        id TEXT PRIMARY KEY,
        parent_id TEXT,
        names TEXT NOT NULL,
        position INTEGER,
        active INTEGER NOT NULL,
        exchange_id INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE price_positions (
        sku TEXT NOT NULL,
        price_list TEXT NOT NULL,
        as_of TEXT NOT NULL,
        exchange_id INTEGER NOT NULL,
        PRIMARY KEY (sku, price_list)
    ) WITHOUT ROWID;
    CREATE TABLE published (
        channel TEXT NOT NULL,
        key TEXT NOT NULL,
        row TEXT NOT NULL,
        exchange_id INTEGER NOT NULL,
        PRIMARY KEY (channel, key)
    ) WITHOUT ROWID;
    """,
    # 5: orders. The registry of orders seen per shop (forwarded once, changes reported,
    #    unpaid ones waiting), their lines (the projected stock's in-flight quantities and
    #    the ERP's status per line), the ERP customer master and the shop → ERP customer
    #    cross-reference, delivery addresses known per customer, each product's reorder
    #    point and which SKUs are below it (one replenishment request per crossing)
    """
    CREATE TABLE orders (
        shop TEXT NOT NULL,
        number TEXT NOT NULL,
        state TEXT NOT NULL,
        digest TEXT NOT NULL,
        content TEXT NOT NULL,
        payment_status TEXT,
        exchange_id INTEGER NOT NULL,
        forwarded_at TEXT,
        PRIMARY KEY (shop, number)
    ) WITHOUT ROWID;
    CREATE TABLE order_changes (
        id INTEGER PRIMARY KEY,
        shop TEXT NOT NULL,
        number TEXT NOT NULL,
        exchange_id INTEGER NOT NULL,
        at TEXT NOT NULL,
        summary TEXT NOT NULL
    );
    CREATE TABLE order_lines (
        shop TEXT NOT NULL,
        number TEXT NOT NULL,
        line_number INTEGER NOT NULL,
        sku TEXT,
        quantity INTEGER NOT NULL,
        forwarded_at TEXT NOT NULL,
        status TEXT,
        quantity_confirmed INTEGER,
        quantity_backordered INTEGER,
        status_at TEXT,
        PRIMARY KEY (shop, number, line_number)
    ) WITHOUT ROWID;
    CREATE INDEX order_lines_sku ON order_lines(sku, forwarded_at);
    CREATE TABLE customers (
        number TEXT PRIMARY KEY,
        email TEXT,
        vat_id TEXT,
        exchange_id INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX customers_email ON customers(email);
    CREATE INDEX customers_vat ON customers(vat_id);
    CREATE TABLE customer_xref (
        shop TEXT NOT NULL,
        customer_id TEXT NOT NULL,
        number TEXT NOT NULL,
        PRIMARY KEY (shop, customer_id)
    ) WITHOUT ROWID;
    CREATE TABLE customer_addresses (
        number TEXT NOT NULL,
        digest TEXT NOT NULL,
        PRIMARY KEY (number, digest)
    ) WITHOUT ROWID;
    CREATE TABLE products (
        sku TEXT PRIMARY KEY,
        reorder_point INTEGER,
        exchange_id INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE replenishment (
        sku TEXT PRIMARY KEY,
        below INTEGER NOT NULL,
        at TEXT NOT NULL
    ) WITHOUT ROWID;
    """,
    # 6: EDI. The last control number given per partner (the recipient's id) and kind
    #    (interchange: UNB 0020 / ISA13; group: GS06), so numbers never repeat across
    #    restarts; and every interchange received per standard, sender and control number,
    #    so that one sent twice is recognised
    """
    CREATE TABLE edi_control (
        partner TEXT NOT NULL,
        kind TEXT NOT NULL,
        last INTEGER NOT NULL,
        PRIMARY KEY (partner, kind)
    ) WITHOUT ROWID;
    CREATE TABLE edi_received (
        standard TEXT NOT NULL,
        sender TEXT NOT NULL,
        control TEXT NOT NULL,
        exchange_id INTEGER NOT NULL REFERENCES exchanges(id),
        received_at TEXT NOT NULL,
        PRIMARY KEY (standard, sender, control)
    ) WITHOUT ROWID;
    """,
]

# EDI control numbers run from 1 to this, then start at 1 again: ISA13 has nine digits
# (and GS06 at most nine; EDIFACT's 0020 holds fourteen characters, so nine fit there too)
CONTROL_MAX = 999_999_999
CONTROL_KINDS = ("interchange", "group")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True, slots=True)
class Exchange:
    id: int
    direction: Direction
    channel: str
    endpoint: str
    file_name: str
    size: int
    sha256: str
    state: ExchangeState
    kind: str | None
    document: str | None
    created_at: str
    updated_at: str
    settled_at: str | None
    source_id: int | None
    parent_id: int | None
    result: str | None
    records_total: int | None
    records_accepted: int | None
    records_rejected: int | None
    note: str | None
    attempts: int
    last_error: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Exchange:
        d = dict(row)
        d["direction"] = Direction(d["direction"])
        d["state"] = ExchangeState(d["state"])
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class Transition:
    from_state: str | None
    to_state: str
    at: str
    reason: str


class Ledger:
    """SQLite ledger. One connection per process; transactions are explicit."""

    def __init__(self, path: Path, *, synchronous: str = "FULL") -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        if str(path) != ":memory:" and not path.exists():
            # created private: SQLite gives its -wal and -shm files the same mode
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, FILE_MODE))
        try:
            self.db = sqlite3.connect(path, isolation_level=None, timeout=5.0,
                                      check_same_thread=False)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(f"PRAGMA synchronous={synchronous}")
            self.db.execute("PRAGMA cache_size=-16000")  # 16 MB: large stock files apply in order
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.OperationalError as exc:
            raise TransientError(f"ledger {path} unavailable: {exc}") from exc
        self._depth = 0

    def close(self) -> None:
        self.db.close()

    # -- schema -----------------------------------------------------------------------------
    def _migrate(self) -> None:
        self.db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = self.db.execute("SELECT MAX(version) FROM schema_version").fetchone()
        current = row[0] or 0
        for version, script in enumerate(MIGRATIONS, start=1):
            if version <= current:
                continue
            self.db.execute("BEGIN IMMEDIATE")
            try:
                for stmt in _split_sql(script):
                    self.db.execute(stmt)
                self.db.execute("INSERT INTO schema_version(version) VALUES (?)", (version,))
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    @property
    def schema_version(self) -> int:
        return self.db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]

    # -- transactions -----------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE … COMMIT; nested calls become savepoints."""
        if self._depth:
            name = f"sp{self._depth}"
            self.db.execute(f"SAVEPOINT {name}")
            self._depth += 1
            try:
                yield
            except BaseException:
                self.db.execute(f"ROLLBACK TO {name}")
                self.db.execute(f"RELEASE {name}")
                raise
            else:
                self.db.execute(f"RELEASE {name}")
            finally:
                self._depth -= 1
            return
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise TransientError(f"ledger is locked: {exc}",
                                 hint="another process holds the ledger; retrying") from exc
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self.db.execute("ROLLBACK")
            raise
        self._depth = 0
        try:
            self.db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            self.db.execute("ROLLBACK")
            raise TransientError(f"ledger commit failed: {exc}") from exc

    # -- exchanges --------------------------------------------------------------------------
    def add_exchange(self, *, direction: Direction, channel: str, endpoint: str, file_name: str,
                     size: int, sha256: str, state: ExchangeState, reason: str,
                     kind: str | None = None, document: str | None = None,
                     source_id: int | None = None, parent_id: int | None = None) -> int:
        at = now()
        cur = self.db.execute(
            "INSERT INTO exchanges(direction, channel, endpoint, file_name, size, sha256, state,"
            " kind, document, created_at, updated_at, source_id, parent_id)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (str(direction), channel, endpoint, file_name, size, sha256, str(state), kind,
             document, at, at, source_id, parent_id))
        xid = cur.lastrowid
        assert xid is not None
        self.db.execute(
            "INSERT INTO transitions(exchange_id, from_state, to_state, at, reason)"
            " VALUES (?,?,?,?,?)", (xid, None, str(state), at, reason))
        return xid

    def set_state(self, xid: int, state: ExchangeState, reason: str, **fields: Any) -> None:
        at = now()
        row = self.db.execute("SELECT state FROM exchanges WHERE id=?", (xid,)).fetchone()
        sets = ["state=?", "updated_at=?"]
        values: list[Any] = [str(state), at]
        for key, value in fields.items():
            if key not in _UPDATABLE:
                raise ValueError(f"field {key} cannot be updated")
            sets.append(f"{key}=?")
            values.append(value)
        self.db.execute(f"UPDATE exchanges SET {', '.join(sets)} WHERE id=?", (*values, xid))
        self.db.execute(
            "INSERT INTO transitions(exchange_id, from_state, to_state, at, reason)"
            " VALUES (?,?,?,?,?)", (xid, row["state"], str(state), at, reason))

    def set_states(self, xids: list[int], state: ExchangeState, reason: str, *,
                   expected: ExchangeState, **fields: Any) -> None:
        """Move many exchanges from ``expected`` to ``state`` with one reason: two statements
        for a whole delivery batch instead of three per file."""
        if not xids:
            return
        at = now()
        for key in fields:
            if key not in _UPDATABLE:
                raise ValueError(f"field {key} cannot be updated")
        sets = "".join(f", {k}=?" for k in fields)
        self.db.executemany(
            f"UPDATE exchanges SET state=?, updated_at=?{sets} WHERE id=? AND state=?",
            [(str(state), at, *fields.values(), xid, str(expected)) for xid in xids])
        self.db.executemany(
            "INSERT INTO transitions(exchange_id, from_state, to_state, at, reason)"
            " VALUES (?,?,?,?,?)", [(xid, str(expected), str(state), at, reason) for xid in xids])

    def update(self, xid: int, **fields: Any) -> None:
        """Update bookkeeping fields that are not a state change (attempts, last error)."""
        for key in fields:
            if key not in _UPDATABLE:
                raise ValueError(f"field {key} cannot be updated")
        sets = ", ".join(f"{k}=?" for k in fields)
        self.db.execute(f"UPDATE exchanges SET {sets}, updated_at=? WHERE id=?",
                        (*fields.values(), now(), xid))

    def mark_settled(self, xid: int) -> None:
        self.db.execute("UPDATE exchanges SET settled_at=? WHERE id=?", (now(), xid))

    def get(self, xid: int) -> Exchange | None:
        row = self.db.execute("SELECT * FROM exchanges WHERE id=?", (xid,)).fetchone()
        return Exchange.from_row(row) if row else None

    def find_identity(self, channel: str, file_name: str, size: int, sha256: str
                      ) -> Exchange | None:
        """The newest input with this identity (channel + name + size + sha256)."""
        row = self.db.execute(
            "SELECT * FROM exchanges WHERE direction='in' AND channel=? AND sha256=?"
            " AND file_name=? AND size=? ORDER BY id DESC LIMIT 1",
            (channel, sha256, file_name, size)).fetchone()
        return Exchange.from_row(row) if row else None

    def find_same_content(self, channel: str, sha256: str) -> Exchange | None:
        """The first input of this channel with the same bytes, if any was kept."""
        row = self.db.execute(
            "SELECT * FROM exchanges WHERE direction='in' AND channel=? AND sha256=?"
            " AND state != ? ORDER BY id LIMIT 1",
            (channel, sha256, str(ExchangeState.DUPLICATE))).fetchone()
        return Exchange.from_row(row) if row else None

    def unsettled(self) -> list[Exchange]:
        rows = self.db.execute(
            "SELECT * FROM exchanges WHERE direction='in' AND settled_at IS NULL"
            " AND parent_id IS NULL ORDER BY id").fetchall()
        return [Exchange.from_row(r) for r in rows]

    def inputs_in_state(self, state: ExchangeState, limit: int | None = None, *,
                        max_attempts: int | None = None) -> list[Exchange]:
        """Inputs in a state, oldest first; ``max_attempts`` leaves out those that failed
        that often (a bug, not data: shown by ``gateway status``, not retried forever)."""
        sql = "SELECT * FROM exchanges WHERE direction='in' AND state=?"
        args: list[Any] = [str(state)]
        if max_attempts is not None:
            sql += " AND attempts < ?"
            args.append(max_attempts)
        sql += " ORDER BY id"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [Exchange.from_row(r) for r in self.db.execute(sql, args)]

    def undelivered(self) -> list[Exchange]:
        """Outputs not yet delivered, oldest first (deliveries keep their order)."""
        rows = self.db.execute(
            "SELECT * FROM exchanges WHERE direction='out' AND state IN (?, ?) ORDER BY id",
            (str(ExchangeState.PENDING), str(ExchangeState.STAGED))).fetchall()
        return [Exchange.from_row(r) for r in rows]

    def outputs_of(self, xid: int) -> list[Exchange]:
        rows = self.db.execute("SELECT * FROM exchanges WHERE source_id=? ORDER BY id", (xid,))
        return [Exchange.from_row(r) for r in rows]

    def attempts_of(self, xid: int) -> list[Exchange]:
        rows = self.db.execute("SELECT * FROM exchanges WHERE parent_id=? ORDER BY id", (xid,))
        return [Exchange.from_row(r) for r in rows]

    def transitions(self, xid: int) -> list[Transition]:
        rows = self.db.execute(
            "SELECT from_state, to_state, at, reason FROM transitions WHERE exchange_id=?"
            " ORDER BY id", (xid,))
        return [Transition(*r) for r in rows]

    def list_exchanges(self, *, channel: str | None = None, since: str | None = None,
                       state: str | None = None, direction: Direction | None = None,
                       limit: int | None = None) -> list[Exchange]:
        sql = "SELECT * FROM exchanges WHERE 1=1"
        args: list[Any] = []
        if channel:
            sql += " AND channel=?"
            args.append(channel)
        if since:
            sql += " AND created_at>=?"
            args.append(since)
        if state:
            sql += " AND state=?"
            args.append(state)
        if direction:
            sql += " AND direction=?"
            args.append(str(direction))
        sql += " ORDER BY id"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [Exchange.from_row(r) for r in self.db.execute(sql, args)]

    def all_sha256(self) -> Iterator[str]:
        for (sha,) in self.db.execute("SELECT DISTINCT sha256 FROM exchanges"):
            yield sha

    # -- problems ---------------------------------------------------------------------------
    def add_problems(self, xid: int, problems: Iterable[Problem]) -> None:
        self.db.executemany(
            "INSERT INTO problems(exchange_id, line, field, value, message) VALUES (?,?,?,?,?)",
            ((xid, p.line, p.field, p.value, p.message) for p in problems))

    def problems(self, xid: int, limit: int | None = None) -> list[Problem]:
        sql = "SELECT line, field, value, message FROM problems WHERE exchange_id=? ORDER BY id"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [Problem(message=r["message"], line=r["line"], field=r["field"],
                        value=r["value"], exchange_id=xid)
                for r in self.db.execute(sql, (xid,))]

    def problem_count(self, xid: int) -> int:
        return self.db.execute("SELECT COUNT(*) FROM problems WHERE exchange_id=?",
                               (xid,)).fetchone()[0]

    # -- status ---------------------------------------------------------------------------
    def channel_stats(self, channel: str) -> dict[str, Any]:
        """Last file, counts by state and the newest error of one channel."""
        last = self.db.execute(
            "SELECT file_name, state, updated_at FROM exchanges WHERE channel=? AND"
            " (direction='in' OR kind='document') ORDER BY id DESC LIMIT 1",
            (channel,)).fetchone()
        counts = dict(self.db.execute(
            "SELECT state, COUNT(*) FROM exchanges WHERE channel=? GROUP BY state",
            (channel,)).fetchall())
        error = self.db.execute(
            "SELECT last_error, updated_at FROM exchanges WHERE channel=? AND last_error IS NOT"
            " NULL AND state IN (?, ?, ?) ORDER BY updated_at DESC LIMIT 1",
            (channel, str(ExchangeState.RECEIVED), str(ExchangeState.PENDING),
             str(ExchangeState.STAGED))).fetchone()
        return {
            "last_file": last["file_name"] if last else None,
            "last_state": last["state"] if last else None,
            "last_time": last["updated_at"] if last else None,
            "counts": counts,
            "last_error": error["last_error"] if error else None,
        }

    # -- endpoint health ------------------------------------------------------------------
    def endpoint_seen(self, endpoint: str, *, error: str | None = None) -> None:
        """Record that an endpoint answered (``error`` None) or failed; ``since`` moves only
        when it goes up or down."""
        at = now()
        up = 0 if error else 1
        self.db.execute(
            "INSERT INTO endpoint_health(endpoint, up, since, last_error, checked_at)"
            " VALUES (?,?,?,?,?) ON CONFLICT(endpoint) DO UPDATE SET"
            " since=CASE WHEN endpoint_health.up = excluded.up THEN endpoint_health.since"
            " ELSE excluded.since END, up=excluded.up,"
            " last_error=COALESCE(excluded.last_error, endpoint_health.last_error),"
            " checked_at=excluded.checked_at", (endpoint, up, at, error, at))

    def endpoint_health(self) -> dict[str, dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM endpoint_health ORDER BY endpoint")
        return {r["endpoint"]: {"up": bool(r["up"]), "since": r["since"],
                                "last_error": r["last_error"], "checked_at": r["checked_at"]}
                for r in rows}

    # -- stock positions --------------------------------------------------------------------
    def upsert_positions(self, rows: list[tuple[str, str, Decimal, str]], xid: int) -> int:
        """Apply (sku, warehouse, quantity, as_of UTC ISO text) rows; older never overwrites
        newer. Returns how many rows changed a position; the rest were older than held.
        """
        micro: dict[Decimal, int] = {}
        params = []
        for sku, warehouse, quantity, as_of in rows:
            m = micro.get(quantity)
            if m is None:
                m = micro[quantity] = to_micro(quantity)
            params.append((sku, warehouse, m, as_of))
        return self.apply_positions(params, xid)

    def apply_positions(self, rows: list[tuple[str, str, int, str]], xid: int) -> int:
        """``upsert_positions`` for quantities already in millionths (the rows are bound
        as they are: the exchange id is written into the statement, an int)."""
        before = self.db.total_changes
        self.db.executemany(
            "INSERT INTO stock_positions(sku, warehouse, quantity, as_of, exchange_id)"
            f" VALUES (?,?,?,?,{int(xid)}) ON CONFLICT(sku, warehouse) DO UPDATE SET"
            " quantity=excluded.quantity, as_of=excluded.as_of,"
            " exchange_id=excluded.exchange_id WHERE excluded.as_of >= stock_positions.as_of",
            rows)
        return self.db.total_changes - before

    def positions_held_by(self, xid: int, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these (sku, warehouse) positions this exchange set (the others were
        newer already)."""
        held: set[tuple[str, str]] = set()
        for i in range(0, len(keys), 400):
            part = keys[i:i + 400]
            marks = ",".join("(?,?)" for _ in part)
            rows = self.db.execute(
                "SELECT sku, warehouse FROM stock_positions WHERE exchange_id=? AND"
                f" (sku, warehouse) IN (VALUES {marks})",
                (xid, *(v for key in part for v in key)))
            held.update((sku, warehouse) for sku, warehouse in rows)
        return held

    def stock_totals_touched_by(self, xid: int, skus: Iterable[str] | None = None
                                ) -> Iterator[tuple[str, Decimal]]:
        """(sku, quantity over all warehouses) of each SKU this exchange changed, by SKU.

        With ``skus`` (a small file) only those SKUs are read; without, one aggregate
        scan in key order finds them: no index on the exchange to maintain per row, which
        would double the cost of applying a large file.
        """
        if skus is not None:
            wanted = sorted(set(skus))
            for i in range(0, len(wanted), 500):
                part = wanted[i:i + 500]
                marks = ",".join("?" * len(part))
                rows = self.db.execute(
                    "SELECT sku, SUM(quantity) FROM stock_positions"
                    f" WHERE sku IN ({marks}) GROUP BY sku HAVING MAX(exchange_id = ?)"
                    " ORDER BY sku", (*part, xid))
                yield from ((sku, from_micro(total)) for sku, total in rows)
            return
        rows = self.db.execute(
            "SELECT sku, SUM(quantity) FROM stock_positions GROUP BY sku"
            " HAVING MAX(exchange_id = ?) ORDER BY sku", (xid,))
        decimals: dict[int, Decimal] = {}  # totals repeat: each converted once
        for sku, total in rows:
            d = decimals.get(total)
            if d is None:
                if len(decimals) > 100_000:
                    decimals.clear()
                d = decimals[total] = from_micro(total)
            yield sku, d

    # -- category tree ----------------------------------------------------------------------
    def categories(self) -> dict[str, tuple[str | None, dict[str, str], int | None, bool]]:
        """The held tree: id → (parent id, names per language, position, active)."""
        rows = self.db.execute("SELECT id, parent_id, names, position, active FROM categories")
        return {r[0]: (r[1], json.loads(r[2]), r[3], bool(r[4])) for r in rows}

    def replace_categories(self, rows: Iterable[tuple[str, str | None, dict[str, str],
                                                        int | None, bool]], xid: int) -> None:
        """A categories file is the whole tree: it replaces the held one."""
        self.db.execute("DELETE FROM categories")
        self.db.executemany(
            "INSERT INTO categories(id, parent_id, names, position, active, exchange_id)"
            " VALUES (?,?,?,?,?,?)",
            ((cid, parent, json.dumps(names, sort_keys=True), pos, int(active), xid)
             for cid, parent, names, pos, active in rows))

    # -- prices -----------------------------------------------------------------------------
    def apply_price_times(self, rows: list[tuple[str, str, str]], xid: int) -> set[int]:
        """Record (sku, price list, as-of UTC ISO) for each row; return the indexes of the
        rows older than the price already applied (they must not be published)."""
        older: set[int] = set()
        for i in range(0, len(rows), 400):
            part = rows[i:i + 400]
            marks = ",".join("(?,?)" for _ in part)
            held = dict(((sku, pl), at) for sku, pl, at in self.db.execute(
                "SELECT sku, price_list, as_of FROM price_positions WHERE (sku, price_list)"
                f" IN (VALUES {marks})", [v for r in part for v in r[:2]]))
            for j, (sku, pl, at) in enumerate(part):
                h = held.get((sku, pl))
                if h is not None and at < h:
                    older.add(i + j)
        self.db.executemany(
            "INSERT INTO price_positions(sku, price_list, as_of, exchange_id) VALUES (?,?,?,?)"
            " ON CONFLICT(sku, price_list) DO UPDATE SET as_of=excluded.as_of,"
            " exchange_id=excluded.exchange_id WHERE excluded.as_of >= price_positions.as_of",
            ((sku, pl, at, xid) for k, (sku, pl, at) in enumerate(rows) if k not in older))
        return older

    # -- what each output channel last published --------------------------------------------
    def published_rows(self, channel: str, keys: list[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for i in range(0, len(keys), 500):
            part = keys[i:i + 500]
            marks = ",".join("?" * len(part))
            out.update(self.db.execute(
                f"SELECT key, row FROM published WHERE channel=? AND key IN ({marks})",
                (channel, *part)).fetchall())
        return out

    def publish_rows(self, channel: str, rows: Iterable[tuple[str, str]], xid: int) -> None:
        self.db.executemany(
            "INSERT INTO published(channel, key, row, exchange_id) VALUES (?,?,?,?)"
            " ON CONFLICT(channel, key) DO UPDATE SET row=excluded.row,"
            " exchange_id=excluded.exchange_id", ((channel, k, r, xid) for k, r in rows))

    def mark_published_seen(self, channel: str, keys: list[str], xid: int) -> None:
        """Unchanged records of a full export: still there, so not withdrawn."""
        for i in range(0, len(keys), 500):
            part = keys[i:i + 500]
            marks = ",".join("?" * len(part))
            self.db.execute(f"UPDATE published SET exchange_id=? WHERE channel=? AND key IN"
                            f" ({marks})", (xid, channel, *part))

    def published_not_seen(self, channel: str, xid: int) -> Iterator[tuple[str, str]]:
        """Keys published before and absent from this full export: withdrawn."""
        yield from self.db.execute(
            "SELECT key, row FROM published WHERE channel=? AND exchange_id<>? ORDER BY key",
            (channel, xid)).fetchall()

    def unpublish(self, channel: str, keys: list[str]) -> None:
        self.db.executemany("DELETE FROM published WHERE channel=? AND key=?",
                            ((channel, k) for k in keys))

    # -- orders -----------------------------------------------------------------------------
    def order(self, shop: str, number: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM orders WHERE shop=? AND number=?",
                              (shop, number)).fetchone()
        return dict(row) if row else None

    def put_order(self, shop: str, number: str, *, state: str, digest: str, content: str,
                  payment_status: str | None, xid: int, forwarded_at: str | None) -> None:
        self.db.execute(
            "INSERT INTO orders(shop, number, state, digest, content, payment_status,"
            " exchange_id, forwarded_at) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(shop, number)"
            " DO UPDATE SET state=excluded.state, digest=excluded.digest,"
            " content=excluded.content, payment_status=excluded.payment_status,"
            " exchange_id=excluded.exchange_id,"
            " forwarded_at=COALESCE(orders.forwarded_at, excluded.forwarded_at)",
            (shop, number, state, digest, content, payment_status, xid, forwarded_at))

    def add_order_change(self, shop: str, number: str, xid: int, summary: str) -> None:
        self.db.execute("INSERT INTO order_changes(shop, number, exchange_id, at, summary)"
                        " VALUES (?,?,?,?,?)", (shop, number, xid, now(), summary))

    def order_changes(self, limit: int = 1000) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute(
            "SELECT c.*, e.file_name FROM order_changes c JOIN exchanges e"
            " ON e.id = c.exchange_id ORDER BY c.id DESC LIMIT ?", (limit,))]

    def add_order_lines(self, shop: str, number: str,
                        lines: list[tuple[int, str | None, Decimal]], at: str) -> None:
        self.db.executemany(
            "INSERT OR IGNORE INTO order_lines(shop, number, line_number, sku, quantity,"
            " forwarded_at) VALUES (?,?,?,?,?,?)",
            ((shop, number, n, sku, to_micro(q), at) for n, sku, q in lines))

    def order_line(self, shop: str, number: str, line_number: int) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM order_lines WHERE shop=? AND number=? AND"
                              " line_number=?", (shop, number, line_number)).fetchone()
        if row is None:
            return None
        d = dict(row)
        d["quantity"] = from_micro(d["quantity"]).normalize()
        return d

    def set_line_status(self, shop: str, number: str, line_number: int, status: str,
                        confirmed: Decimal | None, backordered: Decimal | None, at: str
                        ) -> bool:
        """Record the ERP's status of a line unless a later one is held; False if older."""
        cur = self.db.execute(
            "UPDATE order_lines SET status=?, quantity_confirmed=?, quantity_backordered=?,"
            " status_at=? WHERE shop=? AND number=? AND line_number=? AND"
            " (status_at IS NULL OR status_at <= ?)",
            (status, None if confirmed is None else to_micro(confirmed),
             None if backordered is None else to_micro(backordered), at, shop, number,
             line_number, at))
        return cur.rowcount > 0

    def in_flight(self, skus: Iterable[str] | None, since: str
                  ) -> dict[str, list[dict[str, Any]]]:
        """Order lines forwarded after ``since`` and not blocked, per SKU (the projected
        stock decides which of them the ERP's stock already reflects)."""
        sql = ("SELECT shop, number, line_number, sku, quantity, forwarded_at, status,"
               " quantity_confirmed, status_at FROM order_lines WHERE forwarded_at > ?"
               " AND sku IS NOT NULL AND (status IS NULL OR status <> 'blocked')")
        out: dict[str, list[dict[str, Any]]] = {}
        if skus is None:
            rows = self.db.execute(sql + " ORDER BY sku, forwarded_at", (since,)).fetchall()
        else:
            wanted = sorted(set(skus))
            rows = []
            for i in range(0, len(wanted), 500):
                part = wanted[i:i + 500]
                rows += self.db.execute(
                    sql + f" AND sku IN ({','.join('?' * len(part))})"
                    " ORDER BY sku, forwarded_at", (since, *part)).fetchall()
        for r in rows:
            d = dict(r)
            d["quantity"] = from_micro(d["quantity"]).normalize()
            if d["quantity_confirmed"] is not None:
                d["quantity_confirmed"] = from_micro(d["quantity_confirmed"]).normalize()
            out.setdefault(d["sku"], []).append(d)
        return out

    def stock_of(self, sku: str) -> list[tuple[str, Decimal, str, int]]:
        """(warehouse, quantity, as_of, exchange) of each position of a SKU."""
        return [(w, from_micro(q), at, xid) for w, q, at, xid in self.db.execute(
            "SELECT warehouse, quantity, as_of, exchange_id FROM stock_positions WHERE sku=?"
            " ORDER BY warehouse", (sku,))]

    def stock_totals(self, skus: Iterable[str]) -> dict[str, tuple[Decimal, str]]:
        """(quantity over all warehouses, oldest as-of) per SKU held."""
        out: dict[str, tuple[Decimal, str]] = {}
        wanted = sorted(set(skus))
        for i in range(0, len(wanted), 500):
            part = wanted[i:i + 500]
            for sku, q, at in self.db.execute(
                    "SELECT sku, SUM(quantity), MIN(as_of) FROM stock_positions WHERE sku IN"
                    f" ({','.join('?' * len(part))}) GROUP BY sku", part):
                out[sku] = (from_micro(q), at)
        return out

    # -- customers --------------------------------------------------------------------------
    def put_customer(self, number: str, email: str | None, vat_id: str | None, xid: int
                     ) -> None:
        self.db.execute(
            "INSERT INTO customers(number, email, vat_id, exchange_id) VALUES (?,?,?,?)"
            " ON CONFLICT(number) DO UPDATE SET email=excluded.email,"
            " vat_id=excluded.vat_id, exchange_id=excluded.exchange_id",
            (number, email.lower() if email else None, vat_id, xid))

    def find_customer(self, shop: str, customer_id: str | None, email: str | None,
                      vat_id: str | None) -> tuple[str, str] | None:
        """(ERP number, matched by) — by the shop's customer id, else email, else VAT id."""
        if customer_id:
            row = self.db.execute("SELECT number FROM customer_xref WHERE shop=? AND"
                                  " customer_id=?", (shop, customer_id)).fetchone()
            if row:
                return row[0], "shop customer id"
        if email:
            row = self.db.execute("SELECT number FROM customers WHERE email=? ORDER BY number"
                                  " LIMIT 1", (email.lower(),)).fetchone()
            if row:
                return row[0], "email"
        if vat_id:
            row = self.db.execute("SELECT number FROM customers WHERE vat_id=? ORDER BY"
                                  " number LIMIT 1", (vat_id,)).fetchone()
            if row:
                return row[0], "VAT id"
        return None

    def link_customer(self, shop: str, customer_id: str, number: str) -> None:
        self.db.execute("INSERT INTO customer_xref(shop, customer_id, number) VALUES (?,?,?)"
                        " ON CONFLICT(shop, customer_id) DO UPDATE SET number=excluded.number",
                        (shop, customer_id, number))

    def add_address(self, number: str, digest: str) -> bool:
        """Remember a delivery address of a customer; False when it was known."""
        cur = self.db.execute("INSERT OR IGNORE INTO customer_addresses(number, digest)"
                              " VALUES (?,?)", (number, digest))
        return cur.rowcount > 0

    # -- products and replenishment ---------------------------------------------------------
    def put_reorder_points(self, rows: Iterable[tuple[str, Decimal | None]], xid: int) -> None:
        micro: dict[Any, int | None] = {None: None, "": None}  # a catalogue repeats a few
        params = []
        for sku, rp in rows:
            m = micro.get(rp, MISSING)
            if m is MISSING:
                m = micro[rp] = to_micro(rp)
            params.append((sku, m, xid))
        self.db.executemany(
            "INSERT INTO products(sku, reorder_point, exchange_id) VALUES (?,?,?)"
            " ON CONFLICT(sku) DO UPDATE SET reorder_point=excluded.reorder_point,"
            " exchange_id=excluded.exchange_id", params)

    def reorder_points(self, skus: Iterable[str]) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        wanted = sorted(set(skus))
        for i in range(0, len(wanted), 500):
            part = wanted[i:i + 500]
            for sku, rp in self.db.execute(
                    "SELECT sku, reorder_point FROM products WHERE reorder_point IS NOT NULL"
                    f" AND sku IN ({','.join('?' * len(part))})", part):
                out[sku] = from_micro(rp)
        return out

    def below_reorder(self, sku: str) -> bool:
        row = self.db.execute("SELECT below FROM replenishment WHERE sku=?", (sku,)).fetchone()
        return bool(row and row[0])

    def set_below_reorder(self, sku: str, below: bool) -> None:
        self.db.execute("INSERT INTO replenishment(sku, below, at) VALUES (?,?,?)"
                        " ON CONFLICT(sku) DO UPDATE SET below=excluded.below, at=excluded.at",
                        (sku, int(below), now()))

    # -- EDI control numbers and interchanges received --------------------------------------
    def next_control_number(self, partner: str, kind: str) -> int:
        """The next control number for ``partner`` (``standard:recipient id``) and ``kind``
        (``interchange`` or ``group``), from 1.

        Called inside the transaction that records the output, so that the number and the
        file commit together: a rolled-back output gives its number back, a committed one
        never gets it again, restarts included. After 999,999,999 the count starts again
        at 1 (ISA13 is nine digits); partners look for duplicates over days, not over a
        billion interchanges."""
        if kind not in CONTROL_KINDS:
            raise ValueError(f"control number kind {kind!r} is not one of "
                             + ", ".join(CONTROL_KINDS))
        row = self.db.execute(
            "INSERT INTO edi_control(partner, kind, last) VALUES (?,?,1)"
            " ON CONFLICT(partner, kind) DO UPDATE SET"
            " last = CASE WHEN last >= ? THEN 1 ELSE last + 1 END"
            " RETURNING last", (partner, kind, CONTROL_MAX)).fetchone()
        return int(row[0])

    def interchange_seen(self, standard: str, sender: str, control: str) -> int | None:
        """The exchange that first received this interchange (standard, sender and control
        number), or None: a partner that sends an interchange twice is told so."""
        row = self.db.execute("SELECT exchange_id FROM edi_received WHERE standard=? AND"
                              " sender=? AND control=?", (standard, sender, control)
                              ).fetchone()
        return None if row is None else int(row[0])

    def record_interchange(self, standard: str, sender: str, control: str,
                           exchange_id: int) -> None:
        """Remember an interchange received; the first exchange that had it stays."""
        self.db.execute("INSERT OR IGNORE INTO edi_received(standard, sender, control,"
                        " exchange_id, received_at) VALUES (?,?,?,?,?)",
                        (standard, sender, control, exchange_id, now()))


MICRO = 6


MISSING = object()


def to_micro(quantity: Decimal) -> int:
    """Exact millionths; a quantity with more decimals than the schema allows is refused."""
    scaled = quantity.scaleb(MICRO)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"quantity {quantity} has more than {MICRO} decimal places")
    return int(scaled)


def from_micro(value: int) -> Decimal:
    return Decimal(value).scaleb(-MICRO)


_UPDATABLE = frozenset({"result", "records_total", "records_accepted", "records_rejected",
                        "note", "attempts", "last_error", "settled_at", "file_name"})


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies whole."""
    statements, buf = [], []
    for line in script.strip().splitlines():
        buf.append(line)
        text = "\n".join(buf).strip()
        if text.endswith(";") and (not text.upper().startswith("CREATE TRIGGER")
                                   or text.upper().endswith("END;")):
            statements.append(text)
            buf = []
    if "\n".join(buf).strip():
        statements.append("\n".join(buf).strip())
    return statements
