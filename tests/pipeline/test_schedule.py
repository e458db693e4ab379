"""Cadences per channel: every, cron, watch; files still settling are looked at again soon."""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

from gateway.config import Channel, load
from gateway.errors import ConfigError
from gateway.model import Direction
from gateway.pipeline.runner import Gateway
from gateway.pipeline.schedule import Schedule
from tests.conftest import make_workspace, stock_csv


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def channel(name: str, **kw: object) -> Channel:
    return Channel(name=name, direction=Direction.IN, endpoint="e", document="stock",
                   mapping="erp_stock_csv", **kw)  # type: ignore[arg-type]


def test_every_cron_and_watch_cadences() -> None:
    # Saturday 28 November 2026, 12:00 local time of the machine running the test
    start = datetime(2026, 11, 28, 12, 0).astimezone().timestamp()
    clock = Clock(start)
    s = Schedule([channel("prices", every=3600.0, watch=False),
                  channel("catalogue", cron="0 3 * * 1", watch=False),
                  channel("stock", watch=True, min_age=5.0)], poll_interval=30.0, clock=clock)
    assert s.due() == ["prices", "catalogue", "stock"]  # the start-up scan
    for name in ("prices", "catalogue", "stock"):
        s.polled(name, settling=False)
    assert s.due() == []
    assert s.next_poll("prices") == start + 3600
    monday_3am = datetime(2026, 11, 30, 3, 0).astimezone().timestamp()
    assert s.next_poll("catalogue") == monday_3am
    assert s.next_poll("stock") == start + 30  # watched: every poll interval as well
    s.changed()  # the watched folder changed: due now; the others keep their cadence
    assert s.due() == ["stock"]
    assert s.seconds_to_next() == 0
    clock.now = start + 3600
    assert s.due() == ["prices", "stock"]


def test_a_channel_with_files_still_settling_is_looked_at_again_soon() -> None:
    clock = Clock(1000.0)
    s = Schedule([channel("catalogue", cron="0 3 * * 1", watch=False, min_age=5.0)],
                 poll_interval=30.0, clock=clock)
    s.polled("catalogue", settling=True)
    assert s.next_poll("catalogue") == 1005.0  # not next Monday: the file is almost ready
    s.polled("catalogue", settling=False)
    assert s.next_poll("catalogue") > 1000.0 + 24 * 3600


@pytest.mark.parametrize(("keys", "key", "message"), [
    ('every = "5m"\ncron = "0 3 * * 1"', "cron", "give one cadence, not every and cron"),
    ('cron = "0 25 * * *"', "cron", "'0 25 * * *' is not a cron expression"),
    ('every = "0s"', "every", "must be more than 0"),
    ('every = "soon"', "every", "'soon' is not a duration"),
])
def test_bad_cadences_are_refused_with_their_key(tmp_path: Path, keys: str, key: str,
                                                 message: str) -> None:
    ws = make_workspace(tmp_path / "ws", extra_in=keys)
    with pytest.raises(ConfigError) as info:
        load(ws.config_path)
    assert f"channels.erp_stock_in.{key}: {message}" in str(info.value)


def test_run_polls_a_scheduled_channel_on_its_cadence_only(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", extra_in='every = "1h"')
    assert load(ws.config_path).channels["erp_stock_in"].watch is False
    stop = threading.Event()
    with Gateway(ws.config()) as gw:
        runner = threading.Thread(target=gw.serve, args=(stop,))
        runner.start()
        try:
            time.sleep(0.5)  # the start-up scan is done; the next poll is in an hour
            ws.drop("s1.csv", stock_csv("A-1;MAIN;1,000;28/11/2026 09:15"))
            time.sleep(1.5)
            assert ws.files(ws.inbox) == ["s1.csv"]  # no inotify wake-up for this channel
        finally:
            stop.set()
            runner.join(timeout=10)
    with Gateway(ws.config()) as gw:  # `run --once` polls every channel, whatever its cadence
        assert gw.run_once().received == 1


def test_files_are_taken_by_mtime_when_asked_and_the_batch_is_capped_after(tmp_path: Path
                                                                          ) -> None:
    ws = make_workspace(tmp_path / "ws", extra_in='order = "mtime"')
    ws.config_path.write_text(ws.config_path.read_text().replace("batch_size = 200",
                                                                 "batch_size = 2"))
    for name, mtime in (("a.csv", 3000), ("b.csv", 1000), ("c.csv", 2000)):
        path = ws.drop(name, stock_csv(f"{name[0].upper()}-1;MAIN;1,000;28/11/2026 09:15"))
        os.utime(path, (mtime, mtime))
    with Gateway(ws.config()) as gw:
        gw.cycle()  # first sight
        time.sleep(0.05)
        gw.cycle()  # the two oldest by mtime, not by name
        first = [x.file_name for x in gw.ctx.ledger.list_exchanges(direction=Direction.IN)]
    assert first == ["b.csv", "c.csv"]
