"""Shared fixtures: a throw-away workspace with local drop folders and the shipped mappings."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.config import Config, load
from gateway.demo import local_workspace
from gateway.pipeline.context import ledger_path
from gateway.pipeline.runner import CycleSummary, Gateway
from gateway.store.ledger import Ledger

STOCK_HEADER = "ARTICLE;DEPOT;QTE_VIRTUELLE;DATE_MAJ\r\n"

def stock_csv(*rows: str, header: str = STOCK_HEADER, encoding: str = "cp1252") -> bytes:
    """An ERP stock export: rows like ``"SKU1;MAIN;12,000;28/11/2026 09:15"``, CRLF ends."""
    return (header + "".join(r + "\r\n" for r in rows)).encode(encoding)


@dataclass
class Workspace:
    root: Path
    config_path: Path

    @property
    def inbox(self) -> Path:
        return self.root / "inbox/erp"

    @property
    def erp_out(self) -> Path:
        return self.root / "outbox/erp"

    @property
    def shop_out(self) -> Path:
        return self.root / "outbox/shop"

    def config(self) -> Config:
        return load(self.config_path)

    def drop(self, name: str, data: bytes) -> Path:
        """Drop a file the way a well-behaved partner does: temp name, then rename."""
        tmp = self.inbox / f".{name}.part"
        tmp.write_bytes(data)
        final = self.inbox / name
        tmp.rename(final)
        return final

    def run_once(self) -> CycleSummary:
        with Gateway(self.config()) as gw:
            return gw.run_once(settle_timeout=2.0)

    def ledger(self) -> Ledger:
        return Ledger(ledger_path(self.config()))

    def files(self, folder: Path) -> list[str]:
        return sorted(p.name for p in folder.iterdir() if p.is_file())


def make_workspace(root: Path, *, settle: str = "delete", extra_in: str = "") -> Workspace:
    cfg = local_workspace(root, poll_interval="50ms", pattern="*.csv", settle=settle,
                          extra_in=extra_in)
    return Workspace(root, cfg)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """A CLI call installs a handler on the runner's stderr, closed after the call: put
    the old handlers back so that later log records do not go to a closed stream."""
    logger = logging.getLogger("gateway")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return make_workspace(tmp_path / "ws")
