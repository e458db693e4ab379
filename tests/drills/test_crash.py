"""Random SIGKILL crash drill, CI size: ``gateway run`` killed at random moments while
files of every flow keep arriving, then compared with a run never killed
(``tests/drills/crashdrill.py``; ``benchmarks/drill_crash.py`` is the long run).

``DRILL_SEED=n`` replays the files and kill delays of a printed seed.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from tests.drills.crashdrill import run_drill

FILES = 80
KILLS = 12


def test_killed_at_random_moments_nothing_lost_nothing_twice_nothing_partial(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed = int(os.environ.get("DRILL_SEED") or random.randrange(1 << 32))
    with capsys.disabled():
        print()
        report = run_drill(tmp_path, files=FILES, kills=KILLS, seed=seed)
    assert report.kills == KILLS
    assert report.interrupted > 0, "no kill caught the gateway with work in flight"
    assert report.clean, f"seed {seed}:\n{report.problems()}"
    assert sum(report.outcomes.values()) == FILES
    assert report.outputs > FILES  # an ack per file and the documents: compared, not none
