"""A cycle killed part-way (SIGKILL) leaves the previous state; running it again gives
the same state as an uninterrupted cycle."""

from __future__ import annotations

import datetime as dt
import math
import shutil
import subprocess
import sys
import textwrap

import pytest

from segmint import Project
from segmint.monitoring._tables import DDL
from segmint.store import KILL_AT_ENV

from .conftest import subprocess_env

TABLES = [*DDL, "segment_assignments", "segment_models"]
VOLATILE = {"started_at", "finished_at", "created_at"}


def _copy(template, target) -> Project:
    shutil.copytree(template, target)
    return Project.from_yaml(target / "segmint.yaml")


def _state(project: Project) -> dict[str, list]:
    out = {}
    with project.warehouse(read_only=True) as wh:
        for t in TABLES:
            if not wh.has_table(t):
                out[t] = None
                continue
            # parallel sums are not bit-reproducible in DuckDB (two uninterrupted runs
            # differ in the 16th digit): doubles are compared to 1e-9 relative (see
            # _same), a refit's JSON parameters through the segments and assignments
            cols = ", ".join(
                name if kind == "DOUBLE"
                else "json_extract(params, '$.segments')" if name == "params"
                else f"CAST({name} AS VARCHAR)"
                for name, kind, *_ in wh.con.execute(f"DESCRIBE {t}").fetchall()
                if name not in VOLATILE | {"evidence"}
            )
            out[t] = wh.con.execute(f"SELECT {cols} FROM {t} ORDER BY ALL").fetchall()
    return out


def _update_in_subprocess(project: Project, as_of: dt.date, refit: bool, kill_at: str | None):
    code = textwrap.dedent(
        f"""
        from segmint import Project
        Project.from_yaml({str(project.root / 'segmint.yaml')!r}).update(
            {as_of.isoformat()!r}, refit={refit}, ingest=False
        )
        """
    )
    env = subprocess_env()
    env.pop(KILL_AT_ENV, None)
    if kill_at:
        env[KILL_AT_ENV] = kill_at
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kill_at", "refit"),
    [("update:before_commit", False), ("update:after_segment", True)],
)
def test_killed_cycle_reruns_to_the_uninterrupted_state(bank_template, tmp_path, kill_at, refit):
    killed = _copy(bank_template, tmp_path / "killed")
    clean = _copy(bank_template, tmp_path / "clean")
    end = killed.default_as_of()
    for p in (killed, clean):
        p.update(end - dt.timedelta(days=7), ingest=False)
    before = _state(killed)

    run = _update_in_subprocess(killed, end, refit, kill_at)
    assert run.returncode == -9, run.stderr.decode()[-2000:]
    after_kill = _state(killed)
    for t in DDL:  # no monitoring row of the killed cycle survived
        assert after_kill[t] == before[t], t

    rerun = _update_in_subprocess(killed, end, refit, None)
    assert rerun.returncode == 0, rerun.stderr.decode()[-2000:]
    clean.update(end, refit=refit, ingest=False)
    got, want = _state(killed), _state(clean)
    assert got.keys() == want.keys()
    for t in got:
        assert _same(got[t], want[t]), (t, _diff(got[t], want[t]))


def _close(u, v) -> bool:
    if isinstance(u, float) and isinstance(v, float):
        return math.isclose(u, v, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(u) and math.isnan(v))
    return u == v


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return len(a) == len(b) and all(
        len(x) == len(y) and all(_close(u, v) for u, v in zip(x, y, strict=True))
        for x, y in zip(a, b, strict=True)
    )


def _diff(a, b):
    for x, y in zip(a or [], b or [], strict=False):
        bad = [(i, u, v) for i, (u, v) in enumerate(zip(x, y, strict=True)) if not _close(u, v)]
        if bad:
            return bad
    return None
