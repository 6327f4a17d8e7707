"""`segmint experiment ...` end to end on a generated bank with campaigns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import segmint
from segmint import Project
from segmint.cli import app
from segmint.datasets import generate_bank


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    data = generate_bank(tmp_path_factory.mktemp("cli"), n_clients=2000, seed=3, campaigns=2)
    text = data.config.read_text().replace("experiments:\n", "experiments:\n  holdout: {share: 0.05}\n")
    data.config.write_text(text)
    Project.from_yaml(data.config).ingest()
    return data


def run(*args):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_analyze_json(project):
    res = run("experiment", "analyze", "cmp01", "--by", "region", "--json", "-p", str(project.config))
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["metric"] == "product_opened" and out["binary"] is True
    segs = {s["segment"]: s for s in out["segments"]}
    assert "(all)" in segs and len(segs) > 3
    total = segs["(all)"]
    assert total["n_control"] + total["n_treatment"] == sum(
        s["n_control"] + s["n_treatment"] for k, s in segs.items() if k != "(all)"
    )
    assert total["lift_low"] < total["lift"] < total["lift_high"]
    # planted: the average effect over personas is positive (about +4 points by email)
    assert total["lift"] > 0


def test_analyze_table_and_unknown_campaign(project):
    res = run("experiment", "analyze", "cmp02", "-p", str(project.config))
    assert res.exit_code == 0 and "lift" in res.output
    # a user error is one line and exit code 2, never a traceback
    src = Path(segmint.__file__).parents[1]
    proc = subprocess.run(
        [sys.executable, "-m", "segmint.cli", "experiment", "analyze", "nope", "-p", str(project.config)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(src)},
    )
    assert proc.returncode == 2
    assert "no exposures of campaign 'nope'" in proc.stderr and "Traceback" not in proc.stderr


def test_plan_json(project):
    res = run("experiment", "plan", "--mde", "0.02", "--baseline", "0.05", "--json", "-p", str(project.config))
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["segments"][0]["clients"] >= 2000
    assert out["smallest_measurable"] > 0


def test_assign_and_balance(project):
    res = run("experiment", "assign", "-p", str(project.config))
    assert res.exit_code == 0, res.output
    assert "holdout global_holdout: control" in res.output
    res = run("experiment", "balance", "cmp01", "-p", str(project.config))
    assert res.exit_code == 0, res.output
    assert "sample-ratio" in res.output


def test_report_writes_html(project, tmp_path):
    out = tmp_path / "exp.html"
    res = run("experiment", "report", "cmp01", "--by", "region", "--budget", "50", "--no-uplift",
              "-o", str(out), "-p", str(project.config))
    assert res.exit_code == 0, res.output
    page = out.read_text()
    assert "Experiment: cmp01" in page and "Budget allocation" in page and "cycle by cycle" in page


def test_analyze_suppresses_small_arms(project):
    """Five exposed clients flagged: their arms' counts (and a complement) are withheld."""
    proj = Project.from_yaml(project.config)
    with proj.warehouse() as wh:
        wh.con.execute("ALTER TABLE clients ADD COLUMN IF NOT EXISTS pilot VARCHAR")
        wh.con.execute("UPDATE clients SET pilot = CASE WHEN client_id IN (SELECT client_id FROM "
                       "campaigns WHERE campaign = 'cmp01' ORDER BY client_id LIMIT 5) "
                       "THEN 'yes' ELSE 'no' END")
    try:
        res = run("experiment", "analyze", "cmp01", "--by", "pilot", "--json", "-p", str(project.config))
        assert res.exit_code == 0, res.output
        segs = {s["segment"]: s for s in json.loads(res.output)["segments"]}
        assert segs["yes"]["suppressed"] and segs["yes"]["lift"] is None
        counts = [s[k] for s in segs.values() for k in ("n_control", "n_treatment")]
        assert all(c is None or c == 0 or c >= 10 for c in counts)
        # 'no' = (all) - 'yes' per arm: the small arm's complement goes too
        assert any(segs["no"][k] is None for k in ("n_control", "n_treatment"))
        table = run("experiment", "analyze", "cmp01", "--by", "pilot", "-p", str(project.config))
        assert "suppressed" in table.output
    finally:
        with proj.warehouse() as wh:
            wh.con.execute("ALTER TABLE clients DROP COLUMN pilot")
