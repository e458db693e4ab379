"""When is an incoming file ready to take? (DESIGN §4)

A partner may still be writing. A file is taken when a ``.done`` companion says so, or
else when its size and mtime were the same on two polls *and* the gateway has seen them
unchanged for at least ``min_age`` by its own clock (a remote clock is never trusted).
Temporary names are never taken. A zero-byte file waits; after ``empty_grace`` it is taken
so that it is rejected and acknowledged rather than left there forever.
"""

from __future__ import annotations

import fnmatch
import time
from dataclasses import dataclass

TEMP_SUFFIXES = (".part", ".tmp", ".partial", ".filepart", "~")


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    size: int
    mtime: float


@dataclass(slots=True)
class _Seen:
    size: int
    mtime: float
    first_seen: float
    stable_polls: int = 0


def is_temporary(name: str) -> bool:
    return name.startswith(".") or name.endswith(TEMP_SUFFIXES)


class Readiness:
    def __init__(self, pattern: str, *, min_age: float, empty_grace: float,
                 done_suffix: str | None = None, clock=time.monotonic) -> None:
        self.pattern = pattern
        self.min_age = min_age
        self.empty_grace = empty_grace
        self.done_suffix = done_suffix
        self.clock = clock
        self._seen: dict[str, _Seen] = {}

    def matches(self, name: str) -> bool:
        if is_temporary(name):
            return False
        if self.done_suffix and name.endswith(self.done_suffix):
            return False
        return fnmatch.fnmatchcase(name, self.pattern)

    def observe(self, listing: list[Entry]) -> list[Entry]:
        """Record one poll; return the entries now ready, in listing order."""
        now = self.clock()
        names = {e.name for e in listing}
        ready = []
        present: set[str] = set()
        for e in listing:
            if not self.matches(e.name):
                continue
            present.add(e.name)
            if self.done_suffix:
                if e.name + self.done_suffix in names:
                    ready.append(e)
                continue
            seen = self._seen.get(e.name)
            if seen is None or (seen.size, seen.mtime) != (e.size, e.mtime):
                # age counts from the last change the gateway saw, not from the first sight:
                # a writer pausing between chunks longer than a poll must not lose its file
                self._seen[e.name] = _Seen(e.size, e.mtime, now)
                continue
            seen.stable_polls += 1
            age = now - seen.first_seen
            if e.size == 0:
                if age >= max(self.empty_grace, self.min_age):
                    ready.append(e)
            elif age >= self.min_age:
                ready.append(e)
        for gone in set(self._seen) - present:
            del self._seen[gone]
        return ready

    def waiting(self) -> int:
        """Files seen but not yet ready (still being written, or too young)."""
        return len(self._seen)

    def forget(self, name: str) -> None:
        self._seen.pop(name, None)
