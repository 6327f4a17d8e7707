"""The experiment section: forest plot, Qini curve, allocation; renders in headless Chromium."""

from __future__ import annotations

import pytest

from browser import CHROMIUM, check_renders
from segmint.report import build_section, render_experiment_report
from targeting.bank import persona_project


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return persona_project(tmp_path_factory.mktemp("exp-report"), n_clients=3000, seed=6, campaigns=3)[0]


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
