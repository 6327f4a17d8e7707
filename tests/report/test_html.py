"""The HTML report: self-contained, every section present, renders in headless Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from browser import CHROMIUM, check_renders
from segmint.report import render_report, write_report

ROOT = Path(__file__).resolve().parents[2]



@pytest.fixture(scope="module")
def report_html(example_wh, catalog) -> str:
    return render_report(example_wh, catalog, sample=1500)


def test_report_is_self_contained(report_html):
    scripts = re.findall(r"<script[^>]*\bsrc=", report_html)
    assert scripts == [], "no external scripts: the report must open offline"
    assert not re.search(r"<link[^>]*\bhref=", report_html), "no external stylesheets"
    # plotly.js is embedded once, not per chart
    assert report_html.count("* plotly.js v") == 1


def test_report_has_every_section(report_html, catalog):
    for d in catalog.dimensions:
        slug = d.dimension
        for part in ("map", "size", "profile", "rules", "personas", "crosstabs"):
            assert f"id='{slug}-{part}'" in report_html, (slug, part)
        assert (f"id='{slug}-evidence'" in report_html) == (d.kind == "learned")
        for s in d.segments:
            assert s.name in report_html
        assert f"href='#dim-{slug}'" in report_html
    assert "id='data-quality'" in report_html
    assert "unknown_client" in report_html and "closed_before_opened" in report_html
    assert "Latest ingest run" in report_html and "rows read" in report_html
    assert catalog.project in report_html and str(catalog.as_of) in report_html
    # one plotly chart per map, bars, heatmap; one evidence chart per learned dimension; data quality
    n_learned = sum(d.kind == "learned" for d in catalog.dimensions)
    assert report_html.count('class="plotly-graph-div"') == 3 * len(catalog.dimensions) + n_learned + 1


def test_write_report_is_atomic(tmp_path: Path, report_html):
    path = write_report(tmp_path / "out" / "report.html", report_html)
    assert path.read_text() == report_html
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]


def test_project_report_builds_catalog_once(tiny_project: Path):
    from segmint import Project
    from segmint.profiles import example_warehouse
    from segmint.store import Warehouse

    wh = Warehouse(tiny_project.parent / ".segmint" / "warehouse.duckdb")
    example_warehouse(wh, 400, seed=3)
    wh.close()
    project = Project.from_yaml(tiny_project)
    path = project.report()
    assert path == tiny_project.parent / "report.html" and path.stat().st_size > 1_000_000
    project.report(tiny_project.parent / "again.html")
    with project.warehouse() as wh:
        assert wh.con.execute("SELECT count(*) FROM segment_catalog").fetchone()[0] == 1


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(report_html, tmp_path: Path):
    check_renders(report_html, tmp_path, "report.png")


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_an_absent_measure_gets_a_note_not_a_chart(tmp_path: Path):
    """No profitability source (revenue and margin 0 for everyone) and no CLV: the report
    says so instead of charting 0% for every segment; checked in headless Chromium."""
    from browser import _chromium
    from segmint.profiles import build_catalog, example_warehouse
    from segmint.store import Warehouse

    wh = Warehouse(":memory:")
    example_warehouse(wh, 800, seed=2)
    wh.con.execute("UPDATE features SET revenue_12m = 0, margin_12m = 0, clv_12m = NULL")
    html = render_report(wh, build_catalog(wh, project="absent"), sample=500)
    wh.close()
    check_renders(html, tmp_path, "report-absent-measure.png")
    page = tmp_path / "absent.html"
    write_report(page, html)
    dom = _chromium(["--dump-dom", "--virtual-time-budget=10000", page.as_uri()], tmp_path, "absent")
    assert dom.returncode == 0, dom.stderr[-2000:]
    text = dom.stdout
    assert "No value chart: 12-month revenue, 12-month CLV, 12-month margin are missing" in text
    assert "Share of 12-month revenue" not in text and "Share of revenue_12m" not in text
    assert "Share of clients" in text


def test_report_explains_metric_directions_and_protected_attributes(report_html):
    assert "higher is better" in report_html and "lower is better" in report_html
    assert "Protected attributes." in report_html
    assert "The whole warehouse" in report_html


def test_fairness_section_is_in_the_contents():
    """The latest fairness audit's section is linked from the table of contents, and its
    group counts use the configured minimum."""
    from governance.conftest import AS_OF, fairness_warehouse
    from segmint.governance import audit_fairness
    from segmint.profiles import build_catalog
    from segmint.store import Warehouse

    with Warehouse(":memory:") as wh:
        fairness_warehouse(wh, planted=True, n=600)
        audit_fairness(wh, as_of=AS_OF)
        html = render_report(wh, build_catalog(wh, project="fair"), sample=300, min_cell=10)
        wide = render_report(wh, build_catalog(wh, project="fair"), sample=300, min_cell=1000)
    toc = html[html.index("<nav class=\"toc\">"):html.index("</nav>")]
    assert "<a href='#fairness'>Fairness audit</a>" in toc
    assert "id='fairness'" in html
    section = wide[wide.index("id='fairness'"):]
    assert "Protected groups" in section and "suppressed" in section[:section.index("</table>")]


def test_the_quality_section_points_at_quarantined_rows_without_their_values():
    """A quarantined row's values are client data: the report names its reason, column,
    file and row, never the values."""
    from segmint.report._html import _warehouse_quality
    from segmint.sources._ingest import _QUARANTINE_DDL
    from segmint.store import Warehouse

    with Warehouse(":memory:") as wh:
        wh.con.execute(_QUARANTINE_DDL)
        wh.con.execute(
            "INSERT INTO quarantine VALUES ('r1', 'clients', 'crm', 'crm.csv', 7, 'C-4711', "
            "'bad_date', 'onboarded_at', '{\"client_id\": \"C-4711\", \"email\": \"ann@example.org\"}', false)")
        html = _warehouse_quality(wh)
    assert "<code>bad_date</code> in <code>onboarded_at</code>: crm.csv row 7" in html
    assert "C-4711" not in html and "ann@example.org" not in html
