"""The HTML report: self-contained, every section present, renders in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from segmint.report import render_report, write_report

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]

# Collects script errors into a hidden element so --dump-dom can show them.
ERROR_COLLECTOR = """<script>
window.__errors = [];
function __record(msg) {
  window.__errors.push(msg);
  var el = document.getElementById('__errors');
  if (el) { el.textContent = window.__errors.join('\\n'); }
}
window.onerror = function (m, s, l) { __record(String(m) + ' @' + l); };
window.addEventListener('unhandledrejection', function (e) { __record('rejection: ' + e.reason); });
document.addEventListener('DOMContentLoaded', function () {
  var el = document.createElement('pre');
  el.id = '__errors'; el.style.display = 'none'; el.textContent = window.__errors.join('\\n');
  document.body.appendChild(el);
});
</script>"""


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


def _chromium(args: list[str], tmp: Path, name: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp / ('profile-' + name)}", *args],
        capture_output=True, text=True, timeout=120,
    )


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(report_html, catalog, tmp_path: Path):
    page = tmp_path / "report.html"
    write_report(page, report_html.replace("<head>", "<head>" + ERROR_COLLECTOR, 1))
    url = page.as_uri()

    dom = _chromium(["--dump-dom", "--virtual-time-budget=10000", url], tmp_path, "dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    errors = re.search(r'<pre id="__errors"[^>]*>(.*?)</pre>', dom.stdout, re.S)
    assert errors is not None, "the error collector did not run"
    assert errors.group(1).strip() == "", f"script errors: {errors.group(1)}"
    n_graphs = report_html.count('class="plotly-graph-div"')
    assert dom.stdout.count('class="main-svg"') >= n_graphs, "not every plotly chart rendered"

    shot = tmp_path / "report.png"
    res = _chromium([f"--screenshot={shot}", "--window-size=1400,2400", "--virtual-time-budget=10000",
                     "--hide-scrollbars", url], tmp_path, "shot")
    assert res.returncode == 0 and shot.exists() and shot.stat().st_size > 50_000, res.stderr[-2000:]
    out = ROOT / "test-output"
    out.mkdir(exist_ok=True)
    shutil.copy(shot, out / "report.png")
