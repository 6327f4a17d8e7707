"""The report's tables as released: no count below the minimum, no suppressed cell
recoverable from the released cells and margins (checked table by table with
``determined_cells``), and hand-computed cases where subtraction would reveal a cell."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest

from segmint.disclosure import SUPPRESSED, determined_cells
from segmint.profiles import build_catalog, release_catalog
from segmint.report import render_report
from segmint.report._html import migration_heatmap
from segmint.report._propensity import _segment_deciles
from segmint.store import Warehouse
from segmint.targeting import ALL, release_lifts


def _num(text: str) -> float | None:
    return None if text == SUPPRESSED else float(text.replace(",", "").rstrip("%"))


def _tables(html: str, heading: str) -> dict[str, list[list[str]]]:
    """The ``<h4>`` tables after ``heading``: title -> rows of cell texts (name first)."""
    out = {}
    for title, body in re.findall(r"<h4>([^<]*)</h4><table>(.*?)</table>", html):
        rows = re.findall(r"<tr><td>([^<]*)</td>((?:<td class='num'>[^<]*</td>)*)</tr>", body)
        out[title.replace("&amp;", "&")] = [[n, *re.findall(r"<td class='num'>([^<]*)</td>", c)]
                                              for n, c in rows]
    return out


@pytest.fixture(scope="module")
def tiny(tiny_segment_wh):
    raw = build_catalog(tiny_segment_wh, project="tiny")
    return tiny_segment_wh, raw, release_catalog(raw, 10)


@pytest.fixture(scope="module")
def tiny_report(tiny):
    wh, raw, _ = tiny
    return render_report(wh, raw, sample=600, min_cell=10)


def test_report_crosstabs_release_nothing_small_or_recoverable(tiny, tiny_report):
    _, raw, released = tiny
    tables = _tables(tiny_report, "Cross-tabulations")
    assert tables, "the report shows cross-tabs"
    seen_suppressed = False
    for d in released.dimensions:
        for ct in d.crosstabs:
            rows = tables[f"{d.dimension} × {ct.other_dimension}"]
            other = released.dimension(ct.other_dimension)
            values = [[_num(x) for x in r[1:]] for r in rows]
            hidden = np.array([[v is None for v in r] for r in values])
            seen_suppressed |= hidden.any()
            shown = [v for r in values for v in r if v is not None]
            assert all(v == 0 or v >= 10 for v in shown)
            det = determined_cells(
                hidden,
                np.array([s.profile.size is not None for s in d.segments]),
                np.array([s.profile.size is not None for s in other.segments]),
                d.n_clients is not None,
            )
            assert not det.any(), (d.dimension, ct.other_dimension)
    assert seen_suppressed


def test_report_withholds_the_small_segment(tiny_report):
    html = tiny_report
    assert "Counts of 1 to 9 clients are suppressed" in html
    assert "segment <code>whales</code> · suppressed clients · suppressed" in html
    assert "Size suppressed: the profile and persona are withheld." in html
    assert "Whales<extra></extra>" not in html  # not drawn on the map
    assert "Whales: size and value suppressed" in html
    assert "monetary_total" in html  # its rule stays


def test_minimum_of_one_shows_every_count(tiny):
    wh, raw, _ = tiny
    html = render_report(wh, raw, sample=600, min_cell=1)
    assert "segment <code>whales</code> · 4 clients" in html
    main = html[html.index("<main>"):]  # plotly.js itself says "suppressed" somewhere
    assert SUPPRESSED not in main


def test_segments_by_score_decile(tiny):
    """A segment x decile cross-tab: rows released (shares give the counts), columns known
    (tenths of the scored clients); the 4-client segment is withheld, others protected."""
    wh, _, released = tiny
    wh.con.execute(
        "CREATE OR REPLACE TABLE scores AS SELECT client_id, as_of, 'churn' AS model, 1 AS version, "
        "churn_risk AS score, ntile(10) OVER (ORDER BY churn_risk, client_id) AS decile FROM features")
    try:
        html = _segment_deciles(wh, released, "churn", min_cell=10)
        counts = wh.con.execute(
            "SELECT a.segment_id, s.decile, count(*) FROM scores s JOIN segment_assignments a "
            "USING (client_id) WHERE a.dimension = 'rfm' GROUP BY ALL").fetchall()
    finally:
        wh.con.execute("DROP TABLE scores")
    rfm = released.dimension("rfm")
    body = html[html.index("<code>rfm</code>"):]
    body = body[: body.index("</table>")]
    rows = {n: r for n, *r in ([n, *re.findall(r"<td class='num'>([^<]*)</td>", c)] for n, c in
                               re.findall(r"<tr><td>([^<]*)</td>((?:<td class='num'>[^<]*</td>)*)</tr>",
                                          body))}
    assert rows["Whales"] == [SUPPRESSED] * 11
    segs = [s for s in rfm.segments if s.name in rows]
    raw = {(s, d): n for s, d, n in counts}
    hidden = np.array([[rows[s.name][1 + j] == SUPPRESSED for j in range(10)] for s in segs])
    row_shown = np.array([rows[s.name][0] != SUPPRESSED for s in segs])
    for i, s in enumerate(segs):
        for j, dec in enumerate(range(10, 0, -1)):
            n = raw.get((s.segment_id, dec), 0)
            assert hidden[i, j] or n == 0 or n >= 10
    assert not determined_cells(hidden, row_shown, np.ones(10, bool), True).any()


def test_migration_heatmap_hand_computed(tmp_path):
    """Rows A (53) and B (60) move to A, B: A -> B holds 3 clients, and 53 - 50 would give
    it back. Rates reveal the row totals: a rectangle of four cells goes."""
    from segmint.monitoring._tables import DDL, MIGRATION

    day, prev = dt.date(2024, 6, 30), dt.date(2024, 5, 31)
    with Warehouse(tmp_path / "w.duckdb") as wh:
        wh.con.execute(f"CREATE TABLE {MIGRATION} ({DDL[MIGRATION]})")
        for f, t, n, way in (("A", "A", 50, "same"), ("A", "B", 3, "up"), ("B", "A", 20, "down"),
                             ("B", "B", 40, "same")):
            wh.con.execute(f"INSERT INTO {MIGRATION} VALUES ('c', ?, ?, 'tier', ?, ?, ?, ?, ?, 0, ?)",
                           [day, prev, f, f, t, t, n, way])
        fig, moved = migration_heatmap(wh, day, "tier", min_cell=10)
    texts = re.findall(r'"text":\[\[(.*?)\]\]', fig)[0]
    assert texts.count(SUPPRESSED) == 4
    assert moved == {"up": True, "down": True}  # up = 3, and down would give 20 back


def test_lift_table_hand_computed():
    """Segment a has 3 control clients: 58 - 30 - 25 would give them back from the (all)
    row; a complement goes with them and every value of their rows is withheld."""
    lifts = pd.DataFrame({
        "segment": [ALL, "a", "b", "c"], "n_control": [58, 3, 30, 25],
        "n_treatment": [150, 40, 50, 60], "lift": [0.01, 0.02, 0.0, 0.01],
    })
    out = release_lifts(lifts, 10).set_index("segment")
    assert out.loc["a", "suppressed"] and pd.isna(out.loc["a", "n_control"]) and np.isnan(out.loc["a", "lift"])
    assert out.loc[ALL, "n_control"] == 58
    cells = out.loc[["a", "b", "c"], ["n_control", "n_treatment"]]
    hidden = cells.isna().to_numpy()
    # the cheapest complement: c's 25 control clients (3 + 25 = 58 - 30 stays unsplit)
    assert hidden.tolist() == [[True, False], [False, False], [True, False]]
    shown = cells.to_numpy(dtype=float, na_value=np.nan)[~hidden]
    assert (shown >= 10).all()
    # rows' totals are not shown (implied only); the (all) row gives the columns' totals
    assert not determined_cells(hidden, np.zeros(3, bool), np.ones(2, bool), True).any()
    assert out["suppressed"].tolist() == [False, True, False, True]
    assert np.isnan(out.loc[out["suppressed"], "lift"]).all()
