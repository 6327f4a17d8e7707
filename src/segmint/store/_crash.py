"""A test hook shared by the stages that promise crash safety."""

from __future__ import annotations

import os
import signal

KILL_AT_ENV = "SEGMINT_TEST_KILL_AT"


def crash_point(name: str) -> None:
    """Kill the process here (SIGKILL) when ``SEGMINT_TEST_KILL_AT=<name>``.

    Tests run a stage in a subprocess with the variable set and check that the
    warehouse is left as it was; in normal runs this is one dictionary lookup.
    """
    if os.environ.get(KILL_AT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
