"""Run the update cycle at a fixed interval in the foreground (for users without an
orchestrator; see docs/monitoring.md for cron, Airflow and Dagster)."""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from segmint.errors import ConfigError, SegmintError

log = logging.getLogger("segmint.monitoring")

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(text: str) -> dt.timedelta:
    """``30m``, ``6h``, ``1d`` (also ``s``) as a timedelta."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", text)
    if not m or float(m.group(1)) <= 0:
        raise ConfigError(f"--every {text!r}: expected a positive number and a unit, like 30m, 6h or 1d")
    return dt.timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])


def run_schedule(
    cycle: Callable[[], Any],
    every: dt.timedelta,
    *,
    max_cycles: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[Any]:
    """Call ``cycle()`` every ``every`` (start to start) until ``max_cycles`` ran.

    A cycle that raises a :class:`SegmintError` is logged and the schedule goes on (the
    next cycle retries); any other exception stops it. Returns the cycles' results
    (``None`` for failed ones).
    """
    results: list[Any] = []
    n = 0
    while max_cycles is None or n < max_cycles:
        start = clock()
        n += 1
        log.info("scheduled cycle %d starting", n)
        try:
            results.append(cycle())
        except SegmintError as exc:
            log.error("scheduled cycle %d failed: %s", n, exc)
            results.append(None)
        if max_cycles is not None and n >= max_cycles:
            break
        wait = every.total_seconds() - (clock() - start)
        log.info("next cycle in %.0f s", max(wait, 0.0))
        if wait > 0:
            sleep(wait)
    return results
