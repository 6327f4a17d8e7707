"""The experiment section: forest plot, Qini curve, allocation; renders in headless Chromium."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from browser import CHROMIUM, check_renders
from segmint import Project
from segmint.datasets import generate_bank
from segmint.report import build_section, render_experiment_report


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    data = generate_bank(tmp_path_factory.mktemp("exp-report"), n_clients=3000, seed=6, campaigns=3)
    project = Project.from_yaml(data.config)
    project.ingest()
    first = pd.read_csv(data.path("campaign_effects"))["sent_on"].min()
    day = dt.date.fromisoformat(first) - dt.timedelta(days=1)
    project.features(day)
    with project.warehouse() as wh:
        wh.con.execute(
            f"""CREATE TABLE segment_assignments AS SELECT client_id, 'persona' AS dimension,
                segment AS segment_id, segment AS segment_name, 1 AS model_version,
                DATE '{day}' AS as_of, NULL::DOUBLE AS score
                FROM read_parquet('{data.path("segments")}')
                WHERE valid_from <= DATE '{day}' AND (valid_to IS NULL OR valid_to > DATE '{day}')"""
        )
    return project


def test_section_content(project):
    with project.warehouse(read_only=True) as wh:
        section = build_section(wh, project.config.experiments, "cmp01", by="persona", budget=300.0)
    page = render_experiment_report("demo-bank", [section])
    assert "Experiment: cmp01" in page
    for title in ("Lift by segment", "Qini curve", "Contacts per segment and channel", "cycle by cycle"):
        assert title in page
    assert page.count('class="plotly-graph-div"') == 4
    assert section.allocation.value > section.allocation.uniform_value
    assert set(section.history.campaign) == {"cmp01", "cmp02", "cmp03"}


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
def test_section_renders_in_chromium(project, tmp_path):
    with project.warehouse(read_only=True) as wh:
        section = build_section(wh, project.config.experiments, "cmp01", by="persona", budget=300.0)
    check_renders(render_experiment_report("demo-bank", [section]), tmp_path, "report-experiments.png")
