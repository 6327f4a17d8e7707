"""Render an HTML page in headless Chromium: script errors, rendered charts, a screenshot."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
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


def _chromium(args: list[str], tmp: Path, name: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp / ('profile-' + name)}", *args],
        capture_output=True, text=True, timeout=120,
    )


def check_renders(html: str, tmp: Path, screenshot: str) -> Path:
    """Open ``html`` in headless Chromium; assert no script error and every plotly chart drew.

    Saves a screenshot to ``test-output/<screenshot>`` at the repository root and returns it.
    """
    from segmint.report import write_report

    page = tmp / "page.html"
    write_report(page, html.replace("<head>", "<head>" + ERROR_COLLECTOR, 1))
    url = page.as_uri()
    dom = _chromium(["--dump-dom", "--virtual-time-budget=10000", url], tmp, "dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    errors = re.search(r'<pre id="__errors"[^>]*>(.*?)</pre>', dom.stdout, re.S)
    assert errors is not None, "the error collector did not run"
    assert errors.group(1).strip() == "", f"script errors: {errors.group(1)}"
    n_graphs = html.count('class="plotly-graph-div"')
    assert n_graphs > 0 and dom.stdout.count('class="main-svg"') >= n_graphs, (
        "not every plotly chart rendered"
    )
    shot = tmp / "shot.png"
    res = _chromium([f"--screenshot={shot}", "--window-size=1400,2400", "--virtual-time-budget=10000",
                     "--hide-scrollbars", url], tmp, "shot")
    assert res.returncode == 0 and shot.exists() and shot.stat().st_size > 50_000, res.stderr[-2000:]
    out = ROOT / "test-output"
    out.mkdir(exist_ok=True)
    shutil.copy(shot, out / screenshot)
    return out / screenshot
