"""vaegan: helpers shared by the course notebooks and capstones (data, devices, plots, notebook loading)."""
from __future__ import annotations

import os

__version__ = "0.1.0"


def fast_mode() -> bool:
    """True when ``COURSE_FAST=1``: notebooks shrink their schedules to run in seconds on a CPU."""
    return os.environ.get("COURSE_FAST", "") not in ("", "0", "false", "no")


def pick(normal, fast):
    """``fast`` in fast mode, ``normal`` otherwise (``steps = pick(2300, 20)``)."""
    return fast if fast_mode() else normal
