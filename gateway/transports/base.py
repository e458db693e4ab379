"""The contract every endpoint implements (local folder, SFTP folder).

Intake: ``list`` → ``open`` → (archive, commit) → ``settle`` or ``quarantine``.
Delivery: ``stage`` (temporary name) → ``make_durable`` → (ledger STAGED) → ``publish``
(rename into place, in order) → (ledger DELIVERED). ``is_staged`` tells, after a crash,
whether a STAGED output was renamed already. Every method raises ``TransientError``
when the endpoint cannot be reached; data is never judged here.
"""

from __future__ import annotations

import re
from typing import BinaryIO, Protocol

from ..model import SettleMode
from .readiness import Entry


class Transport(Protocol):
    name: str

    def describe(self) -> str: ...
    def ensure(self) -> None: ...
    def list(self) -> list[Entry]: ...
    def open(self, name: str) -> BinaryIO: ...
    def stat(self, name: str) -> Entry | None: ...
    def settle(self, name: str, mode: SettleMode, *, tag: str,
               done_suffix: str | None) -> None: ...
    def quarantine(self, name: str, *, tag: str) -> None: ...
    def stage(self, name: str, src: BinaryIO, size: int) -> None: ...
    def make_durable(self, names: list[str]) -> None: ...
    def publish(self, names: list[str]) -> None: ...
    def discard(self, names: list[str]) -> None: ...
    def is_staged(self, name: str) -> bool: ...
    def exists(self, name: str) -> bool: ...


# characters that would let a file name rewrite a log line, a terminal or an ack: C0 and
# C1 controls (newline, escape…), DEL, and the Unicode line and paragraph separators
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text: str) -> str:
    """``text`` with its control characters written as escapes (``\\x1b``, ``\\u2028``):
    a file's name or a value quoted from it is shown to operators, never obeyed by
    their terminal."""
    return CONTROL.sub(_escape, text) if CONTROL.search(text) else text


def _escape(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def is_entry_name(name: str) -> bool:
    """A name that can only mean a file of the listed folder itself. A hostile server's
    listing may say ``../x``, ``/etc/x`` or ``a\0b``: such a name would lead the gateway
    to read, move or delete a file elsewhere, so it is never used."""
    return name not in ("", ".", "..") and "/" not in name and "\x00" not in name


def name_refusal(name: str) -> str | None:
    """Why a file is refused for its name alone (``None``: the name is fine). A name
    with control characters is refused unread: shown in logs, acks and the CLI it could
    forge lines or drive the operator's terminal."""
    if CONTROL.search(name):
        return "has control characters (shown escaped)"
    return None
