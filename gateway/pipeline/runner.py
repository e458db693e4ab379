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
from ..health import ProcessingHealth
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
    endpoint: str | None = None  # set when one endpoint's thread reports (`gateway run`)

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


class Lane:
    """One endpoint's share of the work: polling its input channels and delivering its
    outputs, with its own ledger connection and transports, so that in ``gateway run`` a
    slow or frozen endpoint delays only itself. Its own cadence, readiness and backoff."""

    def __init__(self, config: Config, endpoint: str, health: ProcessingHealth) -> None:
        self.config = config
        self.endpoint = endpoint
        self.health = health
        self.ctx = Context.open(config)
        self.channels = [ch for ch in config.inputs() if ch.endpoint == endpoint]
        self.readiness = {
            ch.name: Readiness(ch.pattern, min_age=ch.min_age, empty_grace=ch.empty_grace,
                               done_suffix=ch.done_suffix)
            for ch in self.channels}
        self.schedule = Schedule(self.channels, config.poll_interval)
        self.backoff = Backoff(base=max(config.poll_interval, 1.0))
        self.watches = any(ch.watch for ch in self.channels)
        self.wake = threading.Event()  # its folder changed, or outputs wait for it
        self._health: tuple[str | None, float] | None = None

    def close(self) -> None:
        self.ctx.close()

    def settling(self) -> bool:
        return any(r.waiting() for r in self.readiness.values())

    def poll(self, s: CycleSummary, *, scheduled: bool) -> None:
        """Take the ready files of this endpoint's channels (the due ones if ``scheduled``)."""
        if self.endpoint in self.backoff.waiting():
            return
        due = set(self.schedule.due()) if scheduled else None
        for ch in self.channels:
            if due is not None and ch.name not in due:
                continue
            try:
                s.received += len(intake(self.ctx, ch, self.readiness[ch.name]))
                self.backoff.ok(self.endpoint)
            except TransientError as exc:
                s.failures[self.endpoint] = str(exc)
                self.backoff.failed(self.endpoint)
                log.warning("channel %s: %s", ch.name, exc)
            except HostKeyError as exc:  # refused until an operator pins the key
                s.failures[self.endpoint] = s.refused[self.endpoint] = str(exc)
                self.backoff.failed(self.endpoint)
                log.error("channel %s: %s", ch.name, exc)
            self.schedule.polled(ch.name, settling=self.readiness[ch.name].waiting() > 0)
            if self.endpoint in s.failures:
                break  # the endpoint is down: one failure per pass, not one per channel

    def deliver(self, s: CycleSummary) -> None:
        """Deliver this endpoint's waiting outputs, in order; record its health."""
        reached = False
        if self.endpoint not in self.backoff.waiting():
            report = deliver_pending(self.ctx, only=self.endpoint)
            s.delivered += len(report.delivered)
            reached = self.endpoint in report.reached
            if reached and self.endpoint not in report.failed:
                self.backoff.ok(self.endpoint)
            for endpoint, err in report.failed.items():
                s.failures[endpoint] = err
                self.backoff.failed(endpoint)
            s.refused.update(report.refused)
        polled = bool(self.channels) and self.endpoint not in self.backoff.waiting()
        if polled or reached or self.endpoint in s.failures:
            self._record_health(s.failures.get(self.endpoint))

    def _record_health(self, error: str | None) -> None:
        """Keep the endpoint's up/down state in the ledger for ``gateway status``: written
        when it changes, else once a minute, not a commit per poll."""
        now = time.monotonic()
        if self._health is not None and self._health[0] == error and now - self._health[1] < 60:
            return
        try:
            with self.ctx.ledger.transaction():
                self.ctx.ledger.endpoint_seen(self.endpoint, error=error)
        except TransientError as exc:
            log.warning("cannot record the health of %s: %s", self.endpoint, exc)
            self.health.failed(self.endpoint, str(exc))
            return
        self.health.ok(self.endpoint)
        self._health = (error, now)

    def run(self, stop: threading.Event, received: threading.Event,
            report: Callable[[CycleSummary], None] | None) -> None:
        """``gateway run``: poll when due, deliver when woken, until ``stop``."""
        while not stop.is_set():
            s = CycleSummary(endpoint=self.endpoint)
            try:
                self.poll(s, scheduled=True)
                if s.received:
                    received.set()
                self.deliver(s)
            except Exception:  # a bug must not silently end this endpoint's thread
                log.exception("endpoint %s: unexpected error; going on", self.endpoint)
            if report and (not s.idle or s.failures):
                report(s)
            pause = min(self.schedule.seconds_to_next(), self.config.poll_interval)
            self.wake.wait(pause)
            self.wake.clear()


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
        self.health = ProcessingHealth(config.state_dir)
        self.lanes: dict[str, Lane] = {}
        try:
            for t in self.ctx.transports.values():
                try:
                    t.ensure()
                except (TransientError, HostKeyError) as exc:  # one endpoint never stops
                    log.warning("%s", exc)                      # the others
            self.lanes = {name: Lane(config, name, self.health) for name in config.endpoints}
            self.recovered = recover(self.ctx)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for lane in self.lanes.values():
            lane.close()
        self.ctx.close()
        if self._lock:
            self._lock.close()
            self._lock = None

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def transform(self, s: CycleSummary) -> None:
        """Process every received exchange, a batch (one commit) at a time."""
        while True:
            try:
                outcomes = transform_pending(self.ctx, progress_for=self.progress_for)
            except TransientError as exc:
                s.failures["transform"] = str(exc)
                log.warning("transform: %s", exc)
                self.health.failed("transform", str(exc))
                return
            self.health.ok("transform")
            if not outcomes:
                return
            s.outcomes += outcomes

    def cycle(self, *, scheduled: bool = False) -> CycleSummary:
        """One pass, endpoint after endpoint: take ready files, process what was received,
        deliver what is pending. ``scheduled``: poll only the channels whose cadence is due;
        otherwise every channel (``gateway run --once``)."""
        s = CycleSummary()
        for lane in self.lanes.values():
            lane.poll(s, scheduled=scheduled)
        self.transform(s)
        for lane in self.lanes.values():
            lane.deliver(s)
        return s

    def files_waiting(self) -> bool:
        return any(lane.settling() for lane in self.lanes.values())

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
        """Run until ``stop`` is set: each endpoint in a thread of its own, the processing
        here. Watchdog events wake the endpoints whose folders changed."""
        from ..transports.local import Watcher

        wake = threading.Event()
        received = threading.Event()
        folders = [path for ch in self.config.inputs() if ch.watch
                   and (path := getattr(self.ctx.transport(ch.endpoint), "watch_path", None))]
        watcher = Watcher(sorted(set(folders)), wake)
        watcher.start()
        lock = threading.Lock()

        def report(s: CycleSummary) -> None:
            if on_cycle:
                with lock:
                    on_cycle(s)

        threads = [threading.Thread(target=lane.run, args=(stop, received, report),
                                    name=f"endpoint-{name}", daemon=True)
                   for name, lane in self.lanes.items()]
        for t in threads:
            t.start()
        try:
            while not stop.is_set():
                if wake.is_set():
                    wake.clear()
                    for lane in self.lanes.values():
                        if lane.watches:
                            lane.schedule.changed()
                            lane.wake.set()
                received.clear()
                s = CycleSummary()
                self.transform(s)
                if s.outcomes:
                    for lane in self.lanes.values():  # outputs and acks wait for them
                        lane.wake.set()
                if not s.idle or s.failures:
                    report(s)
                deadline = time.monotonic() + self.config.poll_interval
                while (not stop.is_set() and not wake.is_set() and not received.is_set()
                       and time.monotonic() < deadline):
                    received.wait(min(0.1, max(deadline - time.monotonic(), 0.0)))
        finally:
            stop.set()
            for lane in self.lanes.values():
                lane.wake.set()
            for t in threads:
                t.join(timeout=60)
            watcher.stop()
