"""Hypothesis profiles of the reader fuzz tests.

``ci`` (the default) keeps the whole folder within about 30 seconds and runs the same
examples every time, so that a red CI is a real regression and replays as it was.
``long`` (``GATEWAY_FUZZ=long``) is a campaign: many random examples, their failures kept
in an example database outside the work tree so that a rerun replays them first.
Neither has a per-example deadline (a shared machine makes timings flaky); a hang is
caught by the time guard of ``harness.guarded`` instead.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

# the examples a test runs at weight 1 (``harness.budget`` scales it per test)
CI_EXAMPLES = 120
LONG_EXAMPLES = int(os.environ.get("GATEWAY_FUZZ_EXAMPLES", "5000"))

_SLOW_INPUTS = [HealthCheck.too_slow, HealthCheck.data_too_large,
                HealthCheck.filter_too_much]

settings.register_profile(
    "ci", max_examples=CI_EXAMPLES, deadline=None, derandomize=True, database=None,
    suppress_health_check=_SLOW_INPUTS, print_blob=True)
settings.register_profile(
    "long", max_examples=LONG_EXAMPLES, deadline=None, print_blob=True,
    suppress_health_check=_SLOW_INPUTS,
    database=DirectoryBasedExampleDatabase(Path(os.environ.get(
        "GATEWAY_FUZZ_DB", Path(tempfile.gettempdir()) / "gateway-fuzz-examples"))))
settings.load_profile("long" if os.environ.get("GATEWAY_FUZZ") == "long" else "ci")
