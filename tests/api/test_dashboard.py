"""The dashboard: a relationship manager's lookup flow in headless Chromium (Playwright),
with screenshots; pages keep the JSON API's permissions and scope."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from .conftest import book_of, serve_in_thread

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-dev-shm-usage"]


@pytest.mark.browser
def test_rm_lookup_flow_in_headless_chromium(app, keys, books, served, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("no Chromium at /usr/bin/chromium")
    by_book = book_of(served)
    own = sorted(c for c, b in by_book.items() if b == books[0])
    theirs = sorted(c for c, b in by_book.items() if b != books[0])
    shots = tmp_path / "screenshots"
    shots.mkdir()
    server, thread, url = serve_in_thread(app)
    errors: list[str] = []
    external: list[str] = []
    try:
        with playwright.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            # the refused sign-in (401) and the forbidden alerts page (403) are expected
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" and not any(
                f"status of {code}" in m.text for code in (401, 403)) else None)
            page.on("request", lambda r: external.append(r.url) if not r.url.startswith(url) else None)

            page.goto(f"{url}/dashboard")
            assert page.url.endswith("/dashboard/login")
            page.fill("#key", "sgm_wrong_key")
            page.click("#sign-in")
            assert page.locator("#login-error").is_visible()
            page.fill("#key", keys["rm"])
            page.click("#sign-in")
            page.wait_for_selector(".plotly-graph-div .main-svg")
            graphs = page.locator(".plotly-graph-div").count()
            assert graphs > 0 and page.locator(".plotly-graph-div .main-svg").count() >= graphs
            assert "Client lookup" in page.inner_text("nav.top")
            assert "Alerts" not in page.inner_text("nav.top")  # an rm may not see alerts
            page.screenshot(path=str(shots / "1-overview.png"), full_page=True)

            page.click("text=Client lookup")
            prefix = own[0][:-1]
            page.fill("#q", prefix)
            page.click("#find")
            matches = page.locator("a.match").all_inner_texts()
            assert matches and set(matches) <= set(own)
            page.screenshot(path=str(shots / "2-search.png"), full_page=True)

            page.click(f"a.match >> text={own[0]}")
            page.wait_for_selector("#client-card")
            assert page.inner_text("#client-id") == own[0]
            rows = page.locator("#client-segments tr").count() - 1
            assert rows >= 1
            assert "CLV" in page.inner_text("#client-card")
            page.screenshot(path=str(shots / "3-client.png"), full_page=True)

            page.fill("#q", theirs[0])
            page.click("#find")
            assert page.locator("#not-found").is_visible()
            assert page.locator("#client-card").count() == 0
            page.screenshot(path=str(shots / "4-other-book.png"), full_page=True)

            page.goto(f"{url}/dashboard/alerts")
            assert "may not" in page.content()
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert not errors, errors
    assert not external, f"the dashboard fetched external resources: {external[:3]}"
    for name in ("1-overview.png", "2-search.png", "3-client.png", "4-other-book.png"):
        assert (shots / name).stat().st_size > 10_000


def test_dashboard_pages_keep_scope_and_acknowledge_alerts(app, keys, books, served, state):
    by_book = book_of(served)
    other = sorted(c for c, b in by_book.items() if b != books[0])[0]
    with TestClient(app) as c:
        assert c.get("/dashboard", follow_redirects=False).status_code == 303
        r = c.post("/dashboard/login", data={"key": keys["rm"]}, follow_redirects=False)
        assert r.status_code == 303 and "httponly" in r.headers["set-cookie"].lower()
        page = c.get(f"/dashboard/clients?q={other}").text
        assert "No such client in your book" in page and "client-card" not in page
        csv_text = c.get("/dashboard/audiences/upsell/export.csv").text
        assert all(by_book[line.split(",")[0]] == books[0] for line in csv_text.splitlines()[1:])
        assert c.get("/dashboard/alerts").status_code == 403
        c.get("/dashboard/logout")
        assert c.get("/dashboard", follow_redirects=False).status_code == 303

        c.post("/dashboard/login", data={"key": keys["analyst"]})
        page = c.get("/dashboard/alerts").text
        assert "Acknowledge" in page
        with c.app.state.service.store.snapshot() as snap:
            alert = snap.alerts()[0]["alert_id"]
        assert c.post(f"/dashboard/alerts/{alert}/ack", data={"csrf": "forged"}).status_code == 403
        csrf = page.split("name='csrf' value='")[1].split("'")[0]
        r = c.post(f"/dashboard/alerts/{alert}/ack", data={"csrf": csrf}, follow_redirects=False)
        assert r.status_code == 303
        assert "acknowledged" in c.get("/dashboard/alerts").text
    assert alert in state.acks()
