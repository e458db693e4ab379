"""Error classes, classified where they are raised so the runner only looks at the class.

* ``DataError`` (terminal): the input is wrong; the file is rejected once and waits for an
  operator. Never retried.
* ``TransientError``: an endpoint, disk or lock is unavailable; retried with backoff.
* ``ConfigError``: the configuration or a mapping is wrong; the gateway refuses to start.
* ``HostKeyError``: an SFTP server's host key is unknown or changed; the gateway refuses it
  until an operator pins the key (never retried, never accepted automatically).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Problem:
    """One located error in a file: what an operator needs to find and fix it."""

    message: str
    line: int | None = None
    field: str | None = None
    value: str | None = None
    file: str | None = None
    exchange_id: int | None = None
    column: int | None = None

    def render(self) -> str:
        """``file:line:col: field: message (value 'x')`` — the form editors can jump to."""
        where = self.file or "<input>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        text = f"{where}: "
        if self.field:
            text += f"{self.field}: "
        text += self.message
        if self.value is not None:
            shown = self.value if len(self.value) <= 60 else self.value[:57] + "..."
            text += f" (value {shown!r})"
        if self.exchange_id is not None:
            text += f" [exchange {self.exchange_id}]"
        return text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""

    hint: str | None = None
    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint


class ConfigError(GatewayError):
    """Invalid configuration or mapping: the gateway refuses to start (exit code 2)."""

    exit_code = 2

    def __init__(self, message: str, *, key: str | None = None, file: str | None = None,
                 hint: str | None = None) -> None:
        where = ""
        if file:
            where += f"{file}: "
        if key:
            where += f"{key}: "
        super().__init__(where + message, hint=hint)
        self.key = key
        self.file = file


class UsageError(GatewayError):
    """The command was called wrongly (unknown id, bad option value)."""

    exit_code = 2


class TerminalError(GatewayError):
    """An error that retrying cannot fix."""


class DataError(TerminalError):
    """The input file itself is wrong; carries the located problem."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.render())
        self.problem = problem


class TransientError(GatewayError):
    """An endpoint, disk or lock is unavailable for now; the work is retried later."""


class StorageError(TransientError):
    """The gateway's own disk (the archive) failed: full, read-only, gone. Nothing can be
    taken or produced until it is fixed, so it stops the whole pass, not one file."""


class HostKeyError(GatewayError):
    """An SFTP server offered a host key that is unknown or not the expected one. Retrying
    cannot fix it and must not: the key is checked by an operator, then pinned (exit code 2).
    """

    exit_code = 2
