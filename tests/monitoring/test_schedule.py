"""The foreground scheduler (fake clock and sleep) and the CLI commands."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest

from segmint.errors import ConfigError, WarehouseError
from segmint.monitoring import parse_interval, run_schedule

from .conftest import subprocess_env


def test_parse_interval():
    assert parse_interval("30m") == dt.timedelta(minutes=30)
    assert parse_interval("6h") == dt.timedelta(hours=6)
    assert parse_interval("1d") == dt.timedelta(days=1)
    for bad in ("", "0h", "5", "1w", "-1d"):
        with pytest.raises(ConfigError, match="--every"):
            parse_interval(bad)


def test_schedule_waits_the_rest_of_the_interval_and_survives_failures():
    now = [0.0]
    waits: list[float] = []
    calls = []

    def cycle():
        calls.append(now[0])
        now[0] += 100.0  # each cycle takes 100 s
        if len(calls) == 2:
            raise WarehouseError("source unavailable")
        return len(calls)

    def sleep(s):
        waits.append(s)
        now[0] += s

    got = run_schedule(
        cycle, dt.timedelta(hours=1), max_cycles=3, sleep=sleep, clock=lambda: now[0]
    )
    assert got == [1, None, 3]
    assert waits == [3500.0, 3500.0]  # start to start: one hour
    assert calls == [0.0, 3600.0, 7200.0]


def test_a_bug_stops_the_schedule():
    def cycle():
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError):
        run_schedule(cycle, dt.timedelta(seconds=1), max_cycles=3, sleep=lambda s: None)


def _cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "segmint.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=300,
        env=subprocess_env(),
    )


@pytest.mark.slow
def test_cli_update_history_and_schedule(bank):
    cfg = str(bank.root / "segmint.yaml")
    end = bank.default_as_of()
    first = _cli("update", "-p", cfg, "--as-of", str(end - dt.timedelta(days=7)), "--no-ingest")
    assert first.returncode == 0, first.stderr
    assert "no alerts" in first.stdout or "warning" in first.stdout or "critical" in first.stdout
    sched = _cli("schedule", "-p", cfg, "--every", "1s", "--max-cycles", "2", "--no-ingest")
    assert sched.returncode == 0, sched.stderr
    assert sched.stderr.count("scheduled cycle") == 2
    assert f"cycle {end}" in sched.stderr
    hist = _cli("history", "C00000001", "-p", cfg)
    assert hist.returncode == 0 and "behaviour" in hist.stdout and "current" in hist.stdout
    back = _cli("update", "-p", cfg, "--as-of", str(end - dt.timedelta(days=14)), "--no-ingest")
    assert back.returncode != 0 and "cycles run forward" in back.stderr
    assert "Traceback" not in back.stderr
