"""What every pipeline step needs: configuration, ledger, archive, endpoints."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Channel, Config, Endpoint
from ..formats.csv import LINE_LIMIT
from ..formats.edi import TOLERANCE, Tolerance
from ..model import LEDGER_FILE
from ..store.archive import Archive
from ..store.ledger import Ledger
from ..transports.base import Transport
from ..transports.local import LocalTransport


@dataclass
class Context:
    config: Config
    ledger: Ledger
    archive: Archive
    transports: dict[str, Transport] = field(default_factory=dict)

    @classmethod
    def open(cls, config: Config) -> Context:
        ledger = Ledger(ledger_path(config))
        archive = Archive.in_workspace(config.workspace)
        transports = {name: open_transport(ep) for name, ep in config.endpoints.items()}
        return cls(config, ledger, archive, transports)

    def transport(self, endpoint: str) -> Transport:
        return self.transports[endpoint]

    def close(self) -> None:
        """Close the ledger and every transport that holds a connection (SFTP)."""
        try:
            for t in self.transports.values():
                close = getattr(t, "close", None)
                if close is not None:
                    close()
        finally:
            self.ledger.close()


def ledger_path(config: Config) -> Path:
    return config.state_dir / LEDGER_FILE


def open_transport(endpoint: Endpoint) -> Transport:
    """The transport of an endpoint, by its type (connections are made lazily)."""
    if endpoint.type == "sftp" and endpoint.sftp is not None:
        from ..transports.sftp import SftpTransport

        return SftpTransport(endpoint.name, endpoint.sftp)
    return LocalTransport(endpoint.name, Path(endpoint.path))


@contextmanager
def reading_limits(channel: Channel) -> Iterator[None]:
    """While a file of ``channel`` is read: its line-length limit and EDI tolerance, which
    the format readers take from context rather than from every call between."""
    line_limit = LINE_LIMIT.set(channel.max_line)
    tolerance = TOLERANCE.set(Tolerance(**dict(channel.edi.tolerance)) if channel.edi
                              else Tolerance())
    try:
        yield
    finally:
        LINE_LIMIT.reset(line_limit)
        TOLERANCE.reset(tolerance)
