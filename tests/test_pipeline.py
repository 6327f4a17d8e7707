"""The whole pipeline on generated and real data: the acceptance criteria that span stages.

- behaviour segments recover the generator's planted segments (ARI >= 0.9) and the
  k-selection picks the planted number;
- the behaviour rule set reproduces the model with fidelity >= 0.9 in <= 4 conditions, and
  its SQL export run in DuckDB gives exactly the rule-based assignment;
- `segmint demo` (bank and CDNOW) runs, and its report renders in headless Chromium.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score
from typer.testing import CliRunner

from browser import CHROMIUM, check_renders
from segmint import Project
from segmint.cli import app
from segmint.datasets import generate_bank

PLANTED_K = 6


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    """20,000 generated clients (the demo's default size) run through every stage."""
    data = generate_bank(tmp_path_factory.mktemp("bank"), n_clients=20_000, seed=0)
    project = Project.from_yaml(data.config)
    run = project.run()
    return data, project, run


def _truth_at(data, as_of: dt.date) -> pd.Series:
    truth = pd.read_parquet(data.out_dir / "truth" / "segments.parquet")
    ts = pd.Timestamp(as_of)
    valid = (pd.to_datetime(truth["valid_from"]) <= ts) & (
        truth["valid_to"].isna() | (pd.to_datetime(truth["valid_to"]) > ts)
    )
    return truth[valid].set_index("client_id")["segment"]


@pytest.mark.slow
def test_behaviour_recovers_the_planted_segments(bank):
    data, project, run = bank
    with project.warehouse(read_only=True) as wh:
        got = wh.con.execute(
            "SELECT client_id, segment_id FROM segment_assignments WHERE dimension = 'behaviour'"
        ).df().set_index("client_id")["segment_id"]
    truth = _truth_at(data, run.as_of)
    both = truth.index.intersection(got.index)
    assert len(both) == len(truth) == 20_000
    ari = adjusted_rand_score(truth[both], got[both])
    assert ari >= 0.9, f"ARI {ari:.3f}"
    behaviour = run.segmentation.models["behaviour"]
    assert behaviour.k == PLANTED_K
    evidence = run.catalog.dimension("behaviour").evidence
    assert evidence.chosen_k == PLANTED_K and len(evidence.table) >= 5  # the whole sweep is kept


def check_names_are_backed(catalog) -> None:
    """Every term of every generated name rests on a profile fact that holds; no two
    segments of a dimension share a name."""
    from segmint.profiles import profile_value

    for d in catalog.dimensions:
        names = [s.name.lower() for s in d.segments]
        assert len(set(names)) == len(names), (d.dimension, names)
        for s in d.segments:
            if s.name_source != "generated":
                continue
            for t in s.name_terms:
                value = profile_value(s.profile, t.metric)
                assert value is not None and value == pytest.approx(t.value), (s.name, t)
                assert (value >= t.threshold) if t.op == ">=" else (value <= t.threshold), (s.name, t)
                assert t.term.lower() in s.name.lower(), (s.name, t)
            qualifier = s.name.split()[0]
            if qualifier not in ("Mainstream",):
                assert any(t.term == qualifier or t.term.startswith(qualifier) for t in s.name_terms), (
                    s.name, s.name_terms)


@pytest.mark.slow
def test_bank_names_are_backed_by_the_profiles(bank):
    _, _, run = bank
    check_names_are_backed(run.catalog)


@pytest.mark.slow
def test_behaviour_rules_are_faithful_short_and_exported_exactly(bank):
    _, project, run = bank
    dim = run.catalog.dimension("behaviour")
    assert dim.rules.fidelity >= 0.9, f"fidelity {dim.rules.fidelity:.3f}"
    assert all(len(s.rule.conditions) <= 4 for s in dim.segments if s.rule is not None)
    from segmint.profiles import apply_rules

    with project.warehouse(read_only=True) as wh:
        features = wh.con.execute(
            "SELECT * FROM features WHERE as_of = ? ORDER BY client_id", [run.as_of]
        ).df()
        by_sql = wh.con.execute(
            f"SELECT client_id, {dim.rules.sql} AS segment_id FROM features "
            "WHERE as_of = ? ORDER BY client_id",
            [run.as_of],
        ).df()
    rules = [seg.rule for seg in dim.segments if seg.rule is not None]
    by_python = apply_rules(rules, dim.rules.fallback, features)
    assert list(by_sql["segment_id"]) == list(by_python)


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_bank_report_renders(bank, tmp_path):
    _, _, run = bank
    check_renders(run.report.read_text(), tmp_path, "report-bank.png")


@pytest.mark.slow
def test_demo_command_runs_end_to_end(tmp_path):
    result = CliRunner().invoke(app, ["demo", "--dir", str(tmp_path / "d"), "--clients", "3000"])
    assert result.exit_code == 0, result.output
    assert "Segments as of 2025-12-31" in result.output
    assert (tmp_path / "d" / "report.html").stat().st_size > 1_000_000


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_cdnow_demo_runs_and_its_report_renders(tmp_path):
    result = CliRunner().invoke(app, ["demo", "--dataset", "cdnow", "--dir", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    assert "Segments as of 1998-06-30 (23,570 clients" in result.output
    project = Project.from_yaml(tmp_path / "c" / "segmint.yaml")
    with project.warehouse(read_only=True) as wh:
        from segmint.profiles import load_catalog

        check_names_are_backed(load_catalog(wh))
    check_renders((tmp_path / "c" / "report.html").read_text(), tmp_path, "report-cdnow.png")
