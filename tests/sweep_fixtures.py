"""Hooks that sweep tests name in configs (as model.prepare) to kill a worker mid-point."""

from __future__ import annotations

import os
import signal
from pathlib import Path


def die_once() -> None:
    """SIGKILL this worker the first time (marker file in $NEUROEDGE_TEST_MARKERS), then pass."""
    marker = Path(os.environ["NEUROEDGE_TEST_MARKERS"]) / "died-once"
    if not marker.exists():
        marker.write_text("x")
        os.kill(os.getpid(), signal.SIGKILL)


def die_always() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
