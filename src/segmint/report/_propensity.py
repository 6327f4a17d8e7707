"""The report's propensity sections: one per model scored at the catalog's as_of.

Each shows the evaluation on time stored with the model version (metrics beside the
logistic baseline and the naive rule), the cumulative gains chart, the calibration plot,
the top drivers (permutation importance, readable labels) and, per dimension, how the
segments spread over the score deciles.
"""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go

from segmint.disclosure import SUPPRESSED, suppress_table
from segmint.profiles import Catalog
from segmint.store import Warehouse
from segmint.targeting import SCORES_TABLE, load_version

_COLORS = {"hgb": "#2563eb", "logistic": "#f97316", "naive": "#6b7280", "btyd": "#16a34a"}
_NAMES = {"hgb": "gradient boosting", "logistic": "logistic baseline", "naive": "naive rule"}


def _e(x: object) -> str:
    return html.escape(str(x))


def _f(x, spec=".3f") -> str:
    return "–" if x is None else format(x, spec)


def gains_chart(metrics: dict, fig_html) -> str:
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 100], y=[0, 100], mode="lines", name="random",
                             line=dict(dash="dot", color="#9ca3af")))
    for key, m in metrics["scorers"].items():
        xs = [0] + [10 * (i + 1) for i in range(len(m["gains"]))]
        ys = [0] + [100 * g["gains"] for g in m["gains"]]
        name = _NAMES.get(key, key) + (f" ({m['rule']})" if key == "naive" else "")
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=name,
                                 line=dict(color=_COLORS.get(key))))
    fig.update_layout(title="Cumulative gains on the evaluation date",
                      xaxis_title="% of clients targeted (highest scores first)",
                      yaxis_title="% of positives reached")
    return fig_html(fig, 380)


def calibration_chart(metrics: dict, fig_html, *, min_cell: int = 10) -> str:
    """Observed rate against the mean prediction per bin; a bin's clients (a count of the
    evaluation's clients, released with their total) below ``min_cell`` are suppressed
    with complements, and the bin's point with them."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect",
                             line=dict(dash="dot", color="#9ca3af")))
    for key, m in metrics["scorers"].items():
        if "calibration" not in m:
            continue
        cal = m["calibration"]
        if cal:
            t = suppress_table(np.array([[c["n"] for c in cal]]), min_cell)
            cal = [c for c, hidden in zip(cal, t.hidden[0], strict=True) if not hidden]
        fig.add_trace(go.Scatter(
            x=[c["mean_predicted"] for c in cal], y=[c["observed_rate"] for c in cal],
            mode="lines+markers", name=f"{_NAMES.get(key, key)} (ECE {m['ece']:.3f})",
            text=[f"{c['n']:,} clients" for c in cal], line=dict(color=_COLORS.get(key)),
        ))
    fig.update_layout(title="Calibration (10 equal-width bins)", xaxis_title="mean predicted",
                      yaxis_title="observed rate")
    return fig_html(fig, 380)


def drivers_chart(metrics: dict, fig_html) -> str:
    drivers = list(reversed(metrics.get("drivers", [])))
    if not drivers:
        return "<p class='lead'>No driver could be measured.</p>"
    fig = go.Figure(go.Bar(
        x=[d["importance"] for d in drivers], y=[d["label"] for d in drivers], orientation="h",
        error_x=dict(type="data", array=[d["std"] for d in drivers]),
        hovertext=[d["feature"] for d in drivers], marker_color=_COLORS["hgb"],
    ))
    fig.update_layout(title="Top drivers: drop in ROC AUC when the feature is shuffled",
                      xaxis_title="AUC drop", margin=dict(l=320))
    return fig_html(fig, 120 + 28 * len(drivers))


def _metrics_table(metrics: dict) -> str:
    rows = []
    for key, m in metrics["scorers"].items():
        name = _NAMES.get(key, key) + (f" ({_e(m['rule'])})" if key == "naive" else "")
        rows.append(
            f"<tr><td>{name}</td><td class='num'>{_f(m['roc_auc'])}</td>"
            f"<td class='num'>{_f(m['pr_auc'])}</td><td class='num'>{_f(m.get('brier'), '.4f')}</td>"
            f"<td class='num'>{_f(m.get('ece'), '.4f')}</td>"
            f"<td class='num'>{_f(m['top_decile_lift'], '.2f')}</td></tr>"
        )
    btyd = metrics.get("btyd")
    if btyd and "btyd" in btyd:
        for key in ("btyd", "hgb"):
            m = btyd[key]
            label = ("buy-till-you-die P(purchase in window)" if key == "btyd"
                     else "gradient boosting, same clients")
            rows.append(
                f"<tr><td>{label} (buyers: {btyd['n']:,})</td><td class='num'>{_f(m['roc_auc'])}</td>"
                f"<td class='num'>{_f(m['pr_auc'])}</td><td class='num'>{_f(m['brier'], '.4f')}</td>"
                f"<td class='num'>{_f(m['ece'], '.4f')}</td>"
                f"<td class='num'>{_f(m['top_decile_lift'], '.2f')}</td></tr>"
            )
    return ("<table><tr><th>scorer</th><th class='num'>ROC AUC</th><th class='num'>PR AUC</th>"
            "<th class='num'>Brier</th><th class='num'>ECE</th><th class='num'>top-decile lift</th></tr>"
            + "".join(rows) + "</table>")


def _segment_deciles(wh: Warehouse, catalog: Catalog, model: str, *, min_cell: int = 10) -> str:
    """Per dimension, the segments' clients by score decile (shown as each segment's total
    and its shares, which give the counts back): a segment x decile cross-tab released
    with its row totals and its column totals (deciles are tenths of the scored clients),
    suppressed below ``min_cell``; a segment the released catalog suppresses is withheld."""
    out = []
    for d in catalog.dimensions:
        rows = wh.con.execute(
            f"""SELECT a.segment_id, s.decile, count(*) FROM {SCORES_TABLE} s
                JOIN segment_assignments a ON a.client_id = s.client_id AND a.as_of = s.as_of
                WHERE s.model = ? AND s.as_of = ? AND a.dimension = ?
                  AND a.model_version::VARCHAR = ?
                GROUP BY ALL""",
            [model, catalog.as_of, d.dimension, d.model_version],
        ).fetchall()
        if not rows:
            continue
        cells: dict[str, dict[int, int]] = {}
        for seg, dec, n in rows:
            cells.setdefault(seg, {})[int(dec)] = int(n)
        segs = [s for s in d.segments if sum(cells.get(s.segment_id, {}).values())]
        if not segs:
            continue
        deciles = list(range(10, 0, -1))
        counts = np.array([[cells[s.segment_id].get(k, 0) for k in deciles] for s in segs])
        hide = np.array([[s.profile.suppressed] * len(deciles) for s in segs])
        t = suppress_table(counts, min_cell, hide=hide, locked_cols=range(len(deciles)),
                           hide_rows=[i for i, s in enumerate(segs) if s.profile.suppressed])
        head = "".join(f"<th class='num'>D{k}</th>" for k in deciles)
        body = []
        for i, s in enumerate(segs):
            total = counts[i].sum()
            row_shown = not np.isnan(t.row_totals[i]) and not s.profile.suppressed
            # a share reveals its row total: withheld with it
            shares = [SUPPRESSED if np.isnan(t.cells[i, j]) or not row_shown else f"{counts[i, j] / total:.0%}"
                      for j in range(len(deciles))]
            body.append(
                f"<tr><td>{_e(s.name)}</td><td class='num'>"
                f"{f'{total:,}' if row_shown else SUPPRESSED}</td>"
                + "".join(f"<td class='num'>{x}</td>" for x in shares) + "</tr>"
            )
        out.append(
            f"<details><summary>Segments of <code>{_e(d.dimension)}</code> by score decile "
            "(share of each segment's clients; D10 = highest scores)</summary>"
            f"<table><tr><th>segment</th><th class='num'>clients</th>{head}</tr>"
            + "".join(body) + "</table></details>"
        )
    return "".join(out)


def propensity_sections(wh: Warehouse, catalog: Catalog, fig_html, *,
                        min_cell: int = 10) -> list[tuple[str, str, str]]:
    """``(anchor, title, html)`` of each model scored at the catalog's as_of (the released
    catalog: see :func:`segmint.profiles.release_catalog`)."""
    if not wh.has_table(SCORES_TABLE):
        return []
    scored = wh.con.execute(
        f"SELECT model, max(version) FROM {SCORES_TABLE} WHERE as_of = ? GROUP BY 1 ORDER BY 1",
        [catalog.as_of],
    ).fetchall()
    out = []
    for model, version in scored:
        pv = load_version(wh, model, int(version), estimators=False)
        if pv is None:
            continue
        m, p = pv.metrics, pv.params
        counts = m["counts"]
        lead = (
            f"Model <code>{_e(model)}</code> v{pv.version}: outcome <code>{_e(p['outcome_name'])}</code> "
            f"({_e(pv.outcome['kind'])} within {pv.outcome['horizon_days']} days). Trained on "
            f"{', '.join(p['train_as_of'])} ({counts['training']['n']:,} examples, "
            f"{counts['training']['positives']:,} positive), calibrated on {p['calibration_as_of']} "
            f"({_e(m['calibration']['hgb']['method'])}), evaluated on {m['evaluation_as_of']} "
            f"({counts['evaluation']['n']:,} examples, {counts['evaluation']['positives']:,} positive); "
            f"{len(p['features'])} features."
        )
        notes = "".join(f"<li>{_e(n)}</li>" for n in p.get("dropped", []))
        anchor = f"propensity-{model}"
        body = (
            f"<section class='dimension' id='{anchor}'><h2>Propensity: {_e(model)}</h2>"
            f"<p class='lead'>{lead}</p>{_metrics_table(m)}"
            f"<div class='grid2'><div>{gains_chart(m, fig_html)}</div>"
            f"<div>{calibration_chart(m, fig_html, min_cell=min_cell)}</div></div>"
            f"<h3>Drivers</h3>{drivers_chart(m, fig_html)}"
            f"<h3>Segments by decile</h3>{_segment_deciles(wh, catalog, model, min_cell=min_cell)}"
            + (f"<details><summary>Columns dropped</summary><ul>{notes}</ul></details>" if notes else "")
            + "</section>"
        )
        out.append((anchor, f"Propensity: {model}", body))
    return out
