"""When each input channel is polled: its cadence (``every``, ``cron``, ``watch``).

A channel is due when its cadence says so. A channel whose folder holds files still being
written is due again after the poll interval, whatever its cadence, so that a file is
taken as soon as it is stable, not one cadence later. A watched channel is also due as
soon as its folder changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from croniter import croniter

from ..config import Channel


class Schedule:
    def __init__(self, channels: list[Channel], poll_interval: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.poll_interval = poll_interval
        self.channels = {ch.name: ch for ch in channels}
        now = clock()
        # every channel is polled once at start: the start-up scan
        self._next: dict[str, float] = {ch.name: now for ch in channels}

    def due(self, now: float | None = None) -> list[str]:
        now = self.clock() if now is None else now
        return [name for name, at in self._next.items() if at <= now]

    def polled(self, name: str, *, settling: bool, now: float | None = None) -> None:
        """Plan the next poll of a channel that was just polled."""
        now = self.clock() if now is None else now
        ch = self.channels[name]
        if ch.cron:
            following = croniter(ch.cron, datetime.fromtimestamp(now).astimezone()
                                 ).get_next(datetime).timestamp()
        elif ch.every:
            following = now + ch.every
        else:
            following = now + self.poll_interval
        if settling:  # files still being written: look again once they may be stable
            following = min(following, now + min(self.poll_interval, max(0.25, ch.min_age)))
        self._next[name] = following

    def changed(self) -> None:
        """A watched folder changed: its channels are due now."""
        now = self.clock()
        for name, ch in self.channels.items():
            if ch.watch:
                self._next[name] = min(self._next[name], now)

    def seconds_to_next(self, now: float | None = None) -> float:
        now = self.clock() if now is None else now
        return max(0.0, min(self._next.values(), default=now + self.poll_interval) - now)

    def next_poll(self, name: str) -> float:
        return self._next[name]
