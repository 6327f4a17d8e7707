"""The readiness report: what the loaded data supports, warnings, and strict mode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from segmint import Project
from segmint.cli import app
from segmint.errors import ReadinessError
from telecom_project import write_telecom


def test_measures_of_two_months_of_data(tiny_project):
    project = Project.from_yaml(tiny_project)
    project.ingest()
    ready = project.readiness()
    months = ready.get("history_months", "transactions")
    # valid transactions: 2024-01-05 .. 2024-03-04, 59 days
    assert months.value == round(59 / 30.4375, 2) and months.short
    repeat = ready.get("repeat_clients", "transactions")
    assert (repeat.value, repeat.minimum, repeat.short) == (2, 500, True)  # c1 and c2
    n_clients = ready.get("clients", "clients").value
    assert ready.get("repeat_share", "transactions").value == round(2 / n_clients, 4)
    assert ready.get("attribute_completeness", "attribute region").value == 1.0
    assert [w.split(":")[1].strip() for w in ready.warnings] == ["transactions", "transactions"]
    with project.warehouse(read_only=True) as wh:
        stored = wh.con.execute(
            "SELECT check_name, short FROM data_readiness WHERE entity = 'transactions' ORDER BY 1"
        ).fetchall()
    assert stored == [("history_months", True), ("repeat_clients", True), ("repeat_share", False)]


def test_two_months_warn_in_the_summary_and_strict_refuses(tiny_project, capsys):
    result = CliRunner().invoke(app, ["run", "-p", str(tiny_project)])
    assert result.exit_code == 0, result.output
    # the console may write to the process's stdout rather than the runner's; rich wraps
    out = " ".join((result.output + capsys.readouterr().out).split())
    assert "note: readiness: transactions: months of history" in out
    assert "below the minimum 12 (readiness.min_transaction_months)" in out
    assert "below the minimum 500 (readiness.min_repeat_clients)" in out
    report = (tiny_project.parent / "report.html").read_text()
    assert "2 readiness minimum(s) not met" in report
    assert "skipped feature group engagement: no engagement data" in report
    strict = CliRunner().invoke(app, ["run", "-p", str(tiny_project), "--strict"])
    assert strict.exit_code != 0 and isinstance(strict.exception, ReadinessError)
    message = str(strict.exception)
    assert "readiness.min_transaction_months" in message and "readiness.min_repeat_clients" in message


def test_strict_exits_with_one_line_naming_what_is_short(tiny_project):
    src = str(Path(__file__).resolve().parents[2] / "src")  # this checkout's segmint
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "segmint.cli", "run", "-p", str(tiny_project), "--strict"],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "not ready to segment" in done.stderr and "min_transaction_months" in done.stderr


@pytest.mark.parametrize("months", [1, 24])
def test_minimums_are_configurable(tiny_project, months):
    text = tiny_project.read_text() + f"readiness: {{min_transaction_months: {months}, min_repeat_clients: 2}}\n"
    tiny_project.write_text(text)
    project = Project.from_yaml(tiny_project)
    project.ingest()
    if months == 1:
        assert project.readiness(strict=True).short == []
    else:
        with pytest.raises(ReadinessError, match="min_transaction_months"):
            project.readiness(strict=True)


def test_without_transactions_no_transaction_minimum_applies(tmp_path):
    project = Project.from_yaml(write_telecom(tmp_path))
    project.ingest()
    ready = project.readiness(strict=True)
    assert ready.short == []
    assert ready.get("label_clients", "label churn").value == 60
    assert ready.get("attribute_completeness", "attribute contract").value == 1.0
