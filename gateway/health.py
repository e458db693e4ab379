"""Transient failures of the gateway itself (archive disk full, ledger locked by another
process), kept in a small file beside the ledger rather than in it: a locked or
unavailable ledger must be reported too. ``gateway status`` shows them; each is cleared
as soon as the part that failed (the processing, an endpoint's bookkeeping) succeeds."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import TransientError
from .model import HEALTH_FILE
from .store.atomic import write_atomic

log = logging.getLogger("gateway.health")


class ProcessingHealth:
    """One failure per part (``transform``, an endpoint's name); the file is rewritten only
    when a failure starts, changes or clears, so a retry loop does not rewrite it."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / HEALTH_FILE
        self._lock = threading.Lock()  # the endpoints' threads report here too
        self._failures: dict[str, dict[str, str]] = read(state_dir)

    def failed(self, part: str, error: str) -> None:
        with self._lock:
            if self._failures.get(part, {}).get("error") == error:
                return
            self._failures[part] = {"error": error, "since": datetime.now(UTC).isoformat()}
            self._save()

    def ok(self, part: str) -> None:
        with self._lock:
            if self._failures.pop(part, None) is not None:
                self._save()

    def _save(self) -> None:
        try:
            if self._failures:
                write_atomic(self.path, json.dumps(self._failures).encode())
            else:
                self.path.unlink(missing_ok=True)
        except (OSError, TransientError) as exc:  # the state disk failing: logged only
            log.warning("cannot record the gateway's failures: %s", exc)


def read(state_dir: Path) -> dict[str, dict[str, str]]:
    """``{part: {"error": …, "since": …}}`` for the parts failing now."""
    try:
        data: Any = json.loads((state_dir / HEALTH_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict) and v.get("error")}
