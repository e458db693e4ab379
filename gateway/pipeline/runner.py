"""The runner: recover, then intake → transform → deliver, once or until stopped.

One runner per workspace (an exclusive lock on ``state/gateway.lock``). Transient errors
of one endpoint back off that endpoint only; data errors never stop the loop.
"""

from __future__ import annotations

import fcntl
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

from ..config import Config
from ..errors import GatewayError, HostKeyError, TransientError
from ..model import AckResult
from ..store.ledger import Exchange
from ..transports.readiness import Readiness
from .context import Context
from .deliver import deliver_pending
from .intake import intake, recover
from .schedule import Schedule
from .transform import Outcome, ProgressFn, transform_pending

log = logging.getLogger("gateway.runner")


@dataclass
class CycleSummary:
    received: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    delivered: int = 0
    failures: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)  # endpoint → host key problem

    def add(self, other: CycleSummary) -> None:
        self.received += other.received
        self.outcomes += other.outcomes
        self.delivered += other.delivered
        self.failures.update(other.failures)
        self.refused.update(other.refused)

    def count(self, result: AckResult) -> int:
        return sum(1 for o in self.outcomes if o.result is result)

    @property
    def idle(self) -> bool:
        return not (self.received or self.outcomes or self.delivered)


class Backoff:
    """Exponential backoff with jitter per endpoint, so a dead endpoint is not hammered."""

    def __init__(self, base: float, cap: float = 300.0) -> None:
        self.base, self.cap = base, cap
        self._fails: dict[str, int] = {}
        self._until: dict[str, float] = {}

    def failed(self, key: str) -> None:
        n = self._fails.get(key, 0) + 1
        self._fails[key] = n
        delay = min(self.cap, self.base * 2 ** (n - 1))
        self._until[key] = time.monotonic() + delay * (0.5 + random.random() / 2)

    def ok(self, key: str) -> None:
        self._fails.pop(key, None)
        self._until.pop(key, None)

    def waiting(self) -> set[str]:
        now = time.monotonic()
        return {k for k, t in self._until.items() if t > now}


class Gateway:
    def __init__(self, config: Config, *, progress_for: Callable[[Exchange], ProgressFn | None]
                 | None = None) -> None:
        self.config = config
        self.progress_for = progress_for
        config.state_dir.mkdir(parents=True, exist_ok=True)
        self._lock: IO[str] | None = open(config.state_dir / "gateway.lock", "w")  # noqa: SIM115
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            self._lock = None
            raise GatewayError("another gateway process is running on this workspace",
                               hint=f"stop it first (lock: {config.state_dir / 'gateway.lock'})"
                               ) from None
        self.ctx = Context.open(config)
        try:
            for t in self.ctx.transports.values():
                try:
                    t.ensure()
                except (TransientError, HostKeyError) as exc:  # one endpoint never stops
                    log.warning("%s", exc)                      # the others
            self.readiness = {
                ch.name: Readiness(ch.pattern, min_age=ch.min_age, empty_grace=ch.empty_grace,
                                   done_suffix=ch.done_suffix)
                for ch in config.inputs()}
            self.backoff = Backoff(base=max(config.poll_interval, 1.0))
            self._health: dict[str, tuple[str | None, float]] = {}
            self.schedule = Schedule(config.inputs(), config.poll_interval)
            self.recovered = recover(self.ctx)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self.ctx.close()
        if self._lock:
            self._lock.close()
            self._lock = None

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def cycle(self, *, scheduled: bool = False) -> CycleSummary:
        """One pass: take ready files, process what was received, deliver what is pending.

        ``scheduled``: poll only the channels whose cadence is due (``gateway run``);
        otherwise every channel (``gateway run --once``)."""
        s = CycleSummary()
        waiting = self.backoff.waiting()
        due = set(self.schedule.due()) if scheduled else None
        for ch in self.config.inputs():
            if ch.endpoint in waiting or (due is not None and ch.name not in due):
                continue
            try:
                s.received += len(intake(self.ctx, ch, self.readiness[ch.name]))
                self.backoff.ok(ch.endpoint)
            except TransientError as exc:
                s.failures[ch.endpoint] = str(exc)
                self.backoff.failed(ch.endpoint)
                log.warning("channel %s: %s", ch.name, exc)
            except HostKeyError as exc:  # refused until an operator pins the key
                s.failures[ch.endpoint] = s.refused[ch.endpoint] = str(exc)
                self.backoff.failed(ch.endpoint)
                log.error("channel %s: %s", ch.name, exc)
            self.schedule.polled(ch.name, settling=self.readiness[ch.name].waiting() > 0)
        while True:
            try:
                outcomes = transform_pending(self.ctx, progress_for=self.progress_for)
            except TransientError as exc:
                s.failures["transform"] = str(exc)
                log.warning("transform: %s", exc)
                break
            if not outcomes:
                break
            s.outcomes += outcomes
        report = deliver_pending(self.ctx, skip=waiting)
        s.delivered += len(report.delivered)
        for endpoint, err in report.failed.items():
            s.failures[endpoint] = err
            self.backoff.failed(endpoint)
        s.refused.update(report.refused)
        self._record_health(s, report.reached)
        return s

    def _record_health(self, s: CycleSummary, reached: set[str]) -> None:
        """Keep each endpoint's up/down state in the ledger for ``gateway status``."""
        polled = {ch.endpoint for ch in self.config.inputs()} - self.backoff.waiting()
        now = time.monotonic()
        changes = {}
        for endpoint in polled | reached | set(s.failures):
            if endpoint not in self.config.endpoints:
                continue
            error = s.failures.get(endpoint)
            last = self._health.get(endpoint)
            # written when it changes, else once a minute: not a commit per poll
            if last is None or last[0] != error or now - last[1] > 60:
                changes[endpoint] = error
        if not changes:
            return
        try:
            with self.ctx.ledger.transaction():
                for endpoint, error in sorted(changes.items()):
                    self.ctx.ledger.endpoint_seen(endpoint, error=error)
        except TransientError as exc:
            log.warning("cannot record endpoint health: %s", exc)
            return
        for endpoint, error in changes.items():
            self._health[endpoint] = (error, now)

    def files_waiting(self) -> bool:
        return any(r.waiting() for r in self.readiness.values())

    def run_once(self, *, settle_timeout: float | None = None) -> CycleSummary:
        """Process what is ready now; wait while files are still settling, then return."""
        total = CycleSummary()
        limit = settle_timeout
        if limit is None:
            ages = [ch.min_age for ch in self.config.inputs()] or [0.0]
            limit = max(ages) + 2 * self.config.poll_interval + 1.0
        deadline = time.monotonic() + limit
        while True:
            s = self.cycle()
            total.add(s)
            if not self.files_waiting() or time.monotonic() >= deadline:
                if s.idle:
                    break
                continue
            time.sleep(min(0.2, max(self.config.poll_interval, 0.05)))
        return total

    def serve(self, stop: threading.Event, on_cycle: Callable[[CycleSummary], None] | None
              = None) -> None:
        """Run until ``stop`` is set; watchdog events wake the loop before the poll interval."""
        from ..transports.local import Watcher

        wake = threading.Event()
        folders = [path for ch in self.config.inputs() if ch.watch
                   and (path := getattr(self.ctx.transport(ch.endpoint), "watch_path", None))]
        watcher = Watcher(sorted(set(folders)), wake)
        watcher.start()
        try:
            while not stop.is_set():
                if wake.is_set():
                    wake.clear()
                    self.schedule.changed()
                s = self.cycle(scheduled=True)
                if on_cycle and not s.idle:
                    on_cycle(s)
                # sleep until a channel is due, and at most a poll interval (deliveries wait)
                pause = min(self.schedule.seconds_to_next(), self.config.poll_interval)
                deadline = time.monotonic() + pause
                while not stop.is_set() and not wake.is_set() and time.monotonic() < deadline:
                    wake.wait(min(0.1, max(deadline - time.monotonic(), 0.0)))
        finally:
            watcher.stop()
