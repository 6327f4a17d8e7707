"""The targeting sections of the report: profitability and cross-sell affinity, rendered in
headless Chromium."""

from __future__ import annotations

import pytest

from browser import CHROMIUM, check_renders
from segmint.profiles import load_catalog
from segmint.report import render_report


@pytest.fixture(scope="module")
def report_html(tmp_path_factory):
    from segmint import Project
    from segmint.datasets import generate_bank

    data = generate_bank(tmp_path_factory.mktemp("tr") / "bank", n_clients=800, seed=5)
    project = Project.from_yaml(data.config)
    project.run()
    with project.warehouse() as wh:
        return render_report(wh, load_catalog(wh), sample=300)


def test_sections_are_in_the_report(report_html):
    assert "id='profitability'" in report_html and "id='affinity'" in report_html
    assert "contribution margin by segment" in report_html
    assert "open" in report_html and "next at" in report_html  # an affinity statement
    assert "Upgrade paths" in report_html


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
def test_sections_render_in_chromium(report_html, tmp_path):
    start = report_html.index("id='profitability'")
    end = report_html.index("</section>", report_html.index("id='affinity'"))
    head = report_html[: report_html.index("<main>") + len("<main>")]
    page = head + "<section class='dimension' " + report_html[start:end] + "</section></main></body></html>"
    check_renders(page, tmp_path, "report-targeting.png")
