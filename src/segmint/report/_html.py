"""The segment report: one self-contained HTML file rendered from a catalog.

plotly.js is embedded inline once (the file opens offline, no CDN); every
chart is a plotly div drawn by it. Per dimension: the segment map (2-D PCA of
a sample of clients), size and value bars, a heatmap of feature lifts, the
rules table, the k-selection evidence (learned dimensions), cross-tabs and
persona cards; then "What changed" from the monitoring tables when update cycles ran
(alerts, stability, migration heat maps, feature drift), and the data-quality section
from ingestion's quarantine.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots
from sklearn.decomposition import PCA

from segmint.disclosure import SUPPRESSED, show_count, suppress, suppression_note, table_release
from segmint.profiles import Catalog, Dimension, release_catalog
from segmint.profiles._labels import label as _label
from segmint.report._governance import governance_section
from segmint.report._notes import data_notes
from segmint.report._propensity import propensity_sections
from segmint.store import Warehouse

PALETTE = ["#2563eb", "#f97316", "#16a34a", "#dc2626", "#9333ea", "#0891b2", "#ca8a04",
           "#db2777", "#4b5563", "#65a30d", "#7c3aed", "#0d9488"]
_PLOT_CONFIG = {"displaylogo": False, "responsive": True, "displayModeBar": "hover"}
_LAYOUT = dict(template="plotly_white", margin=dict(l=50, r=20, t=60, b=40),
               font=dict(family="Inter, Segoe UI, Helvetica, Arial, sans-serif", size=12))

CSS = """
:root { --ink:#1f2937; --muted:#6b7280; --line:#e5e7eb; --bg:#f8fafc; --accent:#2563eb; }
* { box-sizing: border-box; }
body { margin:0; font-family: Inter, "Segoe UI", Helvetica, Arial, sans-serif; color:var(--ink);
       background:var(--bg); line-height:1.5; }
header { background:linear-gradient(120deg,#1e3a8a,#2563eb); color:#fff; padding:28px 48px; }
header h1 { margin:0 0 4px; font-size:28px; font-weight:650; }
header .meta { opacity:.85; font-size:14px; }
main { max-width:1240px; margin:0 auto; padding:24px 48px 64px; }
nav.toc { background:#fff; border:1px solid var(--line); border-radius:10px; padding:14px 22px; margin-bottom:28px; }
nav.toc ol { margin:6px 0 0; padding-left:20px; columns:2; }
nav.toc a { color:var(--accent); text-decoration:none; }
section.dimension, section.dq { background:#fff; border:1px solid var(--line); border-radius:12px;
       padding:22px 28px; margin-bottom:28px; }
h2 { margin:0 0 6px; font-size:22px; }
h3 { margin:26px 0 8px; font-size:16px; color:#111827; border-bottom:1px solid var(--line); padding-bottom:4px; }
p.lead { color:var(--muted); margin:0 0 10px; }
.grid2 { display:grid; grid-template-columns: 1fr 1fr; gap:18px; }
table { border-collapse:collapse; width:100%; font-size:13px; }
th, td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:#f3f4f6; font-weight:600; }
td.num, th.num { text-align:right; font-variant-numeric: tabular-nums; }
code, pre { font-family: "JetBrains Mono", Consolas, monospace; font-size:12px; }
pre { background:#0f172a; color:#e2e8f0; padding:12px 14px; border-radius:8px; overflow-x:auto; }
details summary { cursor:pointer; color:var(--accent); margin:8px 0; }
.swatch { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:6px; }
.cards { display:grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap:16px; }
.card { border:1px solid var(--line); border-radius:10px; padding:14px 16px; border-top:4px solid var(--c); }
.card h4 { margin:0 0 2px; font-size:15px; }
.card .sub { color:var(--muted); font-size:12px; margin-bottom:8px; }
.card p { margin:0 0 6px; font-size:13px; }
.card .rule { background:#f3f4f6; border-radius:6px; padding:6px 8px; font-size:12px; margin-top:8px; }
.pill { display:inline-block; background:#eef2ff; color:#3730a3; border-radius:999px; padding:1px 8px;
        font-size:11px; margin-right:4px; }
.chosen td { background:#ecfdf5; font-weight:600; }
footer { color:var(--muted); font-size:12px; text-align:center; padding:20px; }
"""


def _e(x: object) -> str:
    return html.escape(str(x))


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.1%}"


def _num(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def _fig_html(fig: go.Figure, height: int) -> str:
    fig.update_layout(height=height, **_LAYOUT)
    return fig.to_html(full_html=False, include_plotlyjs=False, config=_PLOT_CONFIG)


def _colors(d: Dimension) -> dict[str, str]:
    return {s.segment_id: PALETTE[i % len(PALETTE)] for i, s in enumerate(d.segments)}


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower())


def _hidden(d: Dimension) -> set[str]:
    """Segments of a released catalog whose size is suppressed."""
    return {s.segment_id for s in d.segments if s.profile.suppressed}


def _withheld_note(d: Dimension, what: str) -> str:
    names = [s.name for s in d.segments if s.profile.suppressed]
    if not names:
        return ""
    return (f"<p class='lead note'>{_e(', '.join(names))}: {what} {SUPPRESSED} (too few clients, "
            "or withheld so that such a count cannot be recomputed).</p>")


# -- charts ------------------------------------------------------------------------
def segment_map(wh: Warehouse, catalog: Catalog, d: Dimension, *, sample: int) -> str:
    """2-D PCA projection of a sample of clients, coloured by segment."""
    features = list(d.features)
    learned = (d.model_params or {}).get("features")
    if isinstance(learned, list) and learned and set(learned) <= set(features):
        features = learned
    if len(features) < 2:
        return "<p class='lead'>Fewer than two numeric features: no map.</p>"
    cols = ", ".join(f'CAST(f."{c}" AS DOUBLE)' for c in features)
    rows = wh.con.execute(
        f"""SELECT a.segment_id::VARCHAR, {cols} FROM segment_assignments a
            JOIN features f ON f.client_id = a.client_id AND f.as_of = a.as_of
            WHERE a.dimension = ? AND a.model_version::VARCHAR = ? AND a.as_of = ?
            ORDER BY hash(a.client_id), a.client_id LIMIT ?""",
        [d.dimension, d.model_version, catalog.as_of, sample],
    ).fetchall()
    if len(rows) < 3:
        return "<p class='lead'>Too few clients for a map.</p>"
    seg = np.array([r[0] for r in rows], dtype=object)
    X = np.array([r[1:] for r in rows], dtype=float)
    # the clients of a suppressed segment are not drawn: a scatter is a count
    shown = ~np.isin(seg, list(_hidden(d)))
    med = np.nanmedian(np.where(np.isnan(X).all(axis=0), 0.0, X), axis=0)
    X = np.where(np.isnan(X), med, X)
    # log-compress skewed non-negative features so a few big spenders do not flatten the map
    skewed = (X.min(axis=0) >= 0) & (X.max(axis=0) > 10 * (np.median(X, axis=0) + 1e-9))
    X[:, skewed] = np.log1p(X[:, skewed])
    std = X.std(axis=0)
    X = (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)
    pca = PCA(n_components=2, random_state=0).fit(X)
    Z = pca.transform(X)
    # on a few discrete features (e.g. RFM scores) clients pile onto a lattice: jitter to show mass
    jitter = len(np.unique(np.round(Z, 6), axis=0)) < 0.2 * len(Z)
    if jitter:
        Z = Z + np.random.default_rng(0).normal(0.0, 0.08 * Z.std(axis=0), Z.shape)
    colors = _colors(d)
    fig = go.Figure()
    for s in d.segments:
        m = (seg == s.segment_id) & shown
        if m.any():
            fig.add_trace(go.Scatter(
                x=np.round(Z[m, 0], 3), y=np.round(Z[m, 1], 3), mode="markers", name=s.name,
                marker=dict(size=5, opacity=0.6, color=colors[s.segment_id]),
                hovertemplate=f"{_e(s.name)}<extra></extra>",
            ))
    ev = pca.explained_variance_ratio_
    fig.update_layout(
        title=f"Segment map — PCA of {int(shown.sum()):,} clients on {len(features)} features"
        + (" (jittered)" if jitter else ""),
        xaxis_title=f"PC1 ({ev[0]:.0%} of variance)", yaxis_title=f"PC2 ({ev[1]:.0%})",
        legend=dict(orientation="h", y=-0.18),
    )
    return _withheld_note(d, "not drawn, size") + _fig_html(fig, 460)


def value_metric(d: Dimension) -> tuple[str | None, str]:
    """The value measure to chart, and a note when the profile's measure is absent.

    A measure is absent when its population total is missing or zero (e.g. revenue with no
    profitability source mapped): its chart would show 0% for every segment, which reads
    as a fact; a note says why there is no chart instead.
    """
    if not d.segments:
        return None, ""
    absent = []
    for v in d.segments[0].profile.value:
        totals = [s.profile.value_of(v.metric) for s in d.segments]
        if any(t is not None and t.total not in (None, 0) for t in totals):
            return v.metric, ""
        absent.append(_label(v.metric))
    note = ""
    if absent:
        note = (f"<p class='lead note'>No value chart: {_e(', '.join(absent))} "
                f"{'is' if len(absent) == 1 else 'are'} missing or zero for every client "
                "(no source feeds it), so a share would read 0% everywhere.</p>")
    return None, note


def size_value_bars(d: Dimension) -> str:
    segments = [s for s in d.segments if not s.profile.suppressed]
    names = [s.name for s in segments]
    colors = [_colors(d)[s.segment_id] for s in segments]
    metric, note = value_metric(d)
    note += _withheld_note(d, "size and value")
    cols = 2 if metric else 1
    fig = make_subplots(rows=1, cols=cols, subplot_titles=(
        "Share of clients", f"Share of {_label(metric)}" if metric else None)[:cols])
    fig.add_trace(go.Bar(x=names, y=[s.profile.share for s in segments], marker_color=colors,
                         text=[f"{s.profile.share:.0%}" for s in segments], textposition="outside",
                         showlegend=False), 1, 1)
    if metric:
        shares = [(s.profile.value_of(metric).share_of_total or 0.0) for s in segments]
        fig.add_trace(go.Bar(x=names, y=shares, marker_color=colors, text=[f"{v:.0%}" for v in shares],
                             textposition="outside", showlegend=False), 1, 2)
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    fig.update_xaxes(tickangle=-20)
    return note + _fig_html(fig, 360)


def lift_heatmap(d: Dimension, *, limit: int = 14) -> str:
    score: dict[str, float] = {}
    for s in d.segments:
        for f in s.profile.features:
            if f.lift is not None:
                score[f.feature] = max(score.get(f.feature, 0.0), abs(f.lift))
    feats = sorted(score, key=lambda f: (-score[f], f))[:limit]
    if not feats:
        return ""
    z = [[(s.profile.feature(f).lift if s.profile.feature(f) else None) for f in feats] for s in d.segments]
    fig = go.Figure(go.Heatmap(
        z=z, x=[_label(f) for f in feats], y=[s.name for s in d.segments], colorscale="RdBu",
        reversescale=True, zmid=0,
        text=[[("" if v is None else f"{v:+.1f}") for v in row] for row in z], texttemplate="%{text}",
        colorbar=dict(title="lift (SD)"),
    ))
    fig.update_layout(title="Feature lift by segment (standardised mean difference)")
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(tickangle=-30)
    return _fig_html(fig, 140 + 48 * len(d.segments))


def evidence_chart(d: Dimension) -> str:
    ev = d.evidence
    if not ev or not ev.table:
        return ""
    metrics = [m for m in ("silhouette", "calinski_harabasz", "davies_bouldin", "bic", "stability")
               if any(row.get(m) is not None for row in ev.table)]
    if not metrics:
        return ""
    fig = make_subplots(rows=1, cols=len(metrics),
                        subplot_titles=[f"{METRIC_TITLES[m]} ({DIRECTIONS[m]})" for m in metrics])
    for i, m in enumerate(metrics, start=1):
        pts = [(row["k"], row[m]) for row in ev.table if row.get(m) is not None and row.get("k") is not None]
        fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers",
                                 line=dict(color="#2563eb"), showlegend=False, name=m), 1, i)
        if ev.chosen_k is not None:
            fig.add_vline(x=ev.chosen_k, line=dict(color="#16a34a", dash="dot"), row=1, col=i)
    fig.update_xaxes(dtick=1, title_text="k")
    return _fig_html(fig, 280)


METRIC_TITLES = {"silhouette": "silhouette", "calinski_harabasz": "Calinski-Harabasz",
                 "davies_bouldin": "Davies-Bouldin", "bic": "BIC", "stability": "stability"}
DIRECTIONS = {"silhouette": "higher is better", "calinski_harabasz": "higher is better",
              "davies_bouldin": "lower is better", "bic": "lower is better",
              "stability": "higher is better"}
METRIC_HELP = (
    "<p class='lead'><strong>Reading the evidence.</strong> <em>Silhouette</em> (-1 to 1, "
    "higher is better): how much closer clients are to their own segment than to the next. "
    "<em>Stability</em> (0 to 1, higher is better): agreement (adjusted Rand index) between "
    "the chosen segments and refits on bootstrap resamples; a k below the threshold is not "
    "trusted. <em>BIC</em> (lower is better): the model's fit penalised for its size; it "
    "leads for mixtures and latent classes. <em>Calinski-Harabasz</em> (higher is better) "
    "and <em>Davies-Bouldin</em> (lower is better) are shown for reference and do not vote. "
    "Rule: {rule}.</p>"
)


# -- tables and cards ------------------------------------------------------------------
def _rules_table(d: Dimension) -> str:
    colors = _colors(d)
    out = ["<table><tr><th>#</th><th>segment</th><th>rule</th><th class='num'>precision</th>"
           "<th class='num'>recall</th><th class='num'>coverage</th></tr>"]
    for s in sorted(d.segments, key=lambda s: (s.rule is None, s.rule.order if s.rule else 0)):
        sw = f"<span class='swatch' style='background:{colors[s.segment_id]}'></span>"
        if s.rule:
            r = s.rule
            stats = ([SUPPRESSED] * 3 if s.profile.suppressed
                     else [_pct(r.precision), _pct(r.recall), _pct(r.coverage)])
            out.append(f"<tr><td>{r.order}</td><td>{sw}{_e(s.name)}</td><td>{_e(r.english)}"
                       f"<br><code>{_e(r.sql)}</code></td>"
                       + "".join(f"<td class='num'>{x}</td>" for x in stats) + "</tr>")
        else:
            out.append(f"<tr><td>–</td><td>{sw}{_e(s.name)}</td><td><em>no rule (fallback)</em></td>"
                       "<td class='num'>–</td><td class='num'>–</td><td class='num'>–</td></tr>")
    out.append("</table>")
    fb = next((s.name for s in d.segments if s.segment_id == d.rules.fallback), d.rules.fallback)
    if d.rules.kind == "definition":
        how = (f"These are the dimension's own rules, exactly as defined (percentiles resolved at "
               f"the fit); they reproduce <strong>{_pct(d.rules.fidelity)}</strong> of the "
               "assignments.")
    else:
        how = (f"These rules approximate the learned model: they reproduce "
               f"<strong>{_pct(d.rules.fidelity)}</strong> of its assignments (trees fitted on "
               f"{d.rules.sample_size:,} clients, at most {d.rules.max_conditions} conditions per rule).")
    out.append(
        f"<p class='lead'>Applied in order, first match wins; clients no rule matches go to "
        f"<strong>{_e(fb)}</strong>. {how}</p>"
        f"<details><summary>The rule set as one SQL expression</summary><pre>{_e(d.rules.sql)}</pre></details>"
    )
    return "".join(out)


def _evidence_table(d: Dimension) -> str:
    ev = d.evidence
    cols = [c for c in ("k", "silhouette", "calinski_harabasz", "davies_bouldin", "bic", "stability")
            if any(row.get(c) is not None for row in ev.table)]
    rule = ev.rule or ""
    out = [METRIC_HELP.format(rule=_e(rule) or "see docs/segmentation.md")]
    out.append("<table><tr>" + "".join(
        f"<th class='num'>{_e(METRIC_TITLES.get(c, c))}"
        + (f"<br><small>{DIRECTIONS[c]}</small>" if c in DIRECTIONS else "") + "</th>"
        for c in cols) + "</tr>")
    for row in ev.table:
        cls = " class='chosen'" if ev.chosen_k is not None and row.get("k") == ev.chosen_k else ""
        cells = "".join(
            f"<td class='num'>{'–' if row.get(c) is None else (int(row[c]) if c == 'k' else _num(row[c]))}</td>"
            for c in cols)
        out.append(f"<tr{cls}>{cells}</tr>")
    out.append("</table>")
    if ev.chosen_k is not None:
        out.append(f"<p class='lead'>Chosen: k = {ev.chosen_k} (highlighted).</p>")
    return "".join(out)


def _crosstabs(catalog: Catalog, d: Dimension) -> str:
    out = []
    for ct in d.crosstabs:
        other = catalog.dimension(ct.other_dimension)
        other_names = {s.segment_id: s.name for s in other.segments}
        cols = [s.segment_id for s in other.segments]
        counts = {(c.segment_id, c.other_segment_id): c.clients for c in ct.cells}
        out.append(f"<h4>{_e(d.dimension)} × {_e(ct.other_dimension)}</h4><table><tr><th></th>"
                   + "".join(f"<th class='num'>{_e(other_names[c])}</th>" for c in cols) + "</tr>")
        for s in d.segments:
            out.append(f"<tr><td>{_e(s.name)}</td>" + "".join(
                f"<td class='num'>{show_count(counts.get((s.segment_id, c), 0))}</td>" for c in cols)
                + "</tr>")
        out.append("</table>")
    return "".join(out)


def _cards(d: Dimension) -> str:
    colors = _colors(d)
    out = ["<div class='cards'>"]
    for s in d.segments:
        pills = "".join(
            f"<span class='pill'>{_e(_label(f))} {s.profile.feature(f).lift:+.1f} SD</span>"
            for f in s.profile.top_features[:3]
        )
        text = "".join(f"<p>{_e(x.text)}</p>" for x in s.persona)
        if s.profile.suppressed:
            text = f"<p>Size {SUPPRESSED}: the profile and persona are withheld.</p>"
        rule = f"<div class='rule'><strong>Rule:</strong> {_e(s.rule.english)}</div>" if s.rule else ""
        out.append(
            f"<div class='card' style='--c:{colors[s.segment_id]}'><h4>{_e(s.name)}</h4>"
            f"<div class='sub'>segment <code>{_e(s.segment_id)}</code> · {show_count(s.profile.size)} "
            f"clients · {SUPPRESSED if s.profile.suppressed else _pct(s.profile.share)}</div>"
            f"<div>{pills}</div>{text}{rule}</div>"
        )
    out.append("</div>")
    return "".join(out)


def _data_quality(wh: Warehouse) -> str:
    out = ["<section class='dq' id='data-quality'><h2>Data quality</h2>"]
    if not wh.has_table("quarantine"):
        out.append("<p class='lead'>No quarantine table: ingestion has not run in this warehouse.</p>")
        out.append(_protected_note(wh) + "</section>")
        return "".join(out)
    rows = wh.con.execute(
        "SELECT entity, reason, count(*) FROM quarantine GROUP BY ALL ORDER BY 1, 3 DESC, 2"
    ).fetchall()
    total = sum(r[2] for r in rows)
    out.append(f"<p class='lead'>{total:,} source rows were quarantined by the data contracts "
               "(ingestion's <code>quarantine</code> table), by entity and reason.</p>")
    out.append(_warehouse_quality(wh))
    out.append(_last_ingest(wh))
    out.append(data_notes(wh))
    if rows:
        fig = go.Figure()
        for reason in sorted({r[1] for r in rows}):
            fig.add_trace(go.Bar(y=[r[0] for r in rows if r[1] == reason],
                                 x=[r[2] for r in rows if r[1] == reason], name=reason, orientation="h"))
        fig.update_layout(barmode="stack", title="Quarantined rows", legend=dict(orientation="h", y=-0.25))
        out.append("<div class='grid2'><div><table><tr><th>entity</th><th>reason</th><th class='num'>rows</th></tr>")
        out += [f"<tr><td>{_e(e)}</td><td><code>{_e(r)}</code></td><td class='num'>{n:,}</td></tr>" for e, r, n in rows]
        out.append(f"</table></div><div>{_fig_html(fig, 300)}</div></div>")
    out.append(_protected_note(wh))
    out.append("</section>")
    return "".join(out)


def _warehouse_quality(wh: Warehouse) -> str:
    """Every entity of the warehouse as it stands (all loads so far, not the latest run):
    rows read (loaded + quarantined), loaded, quarantined by reason, quarantined share, and
    where to find an example of a quarantined row per entity (reason, column, file and row:
    never the row's values, which are client data; they stay in the ``quarantine`` table)."""
    from segmint.sources import LOAD_ORDER

    q = {(e, r): n for e, r, n in wh.con.execute(
        "SELECT entity, reason, count(*) FROM quarantine GROUP BY ALL").fetchall()}
    out = ["<h3>The whole warehouse</h3><table><tr><th>entity</th><th class='num'>rows read</th>"
           "<th class='num'>loaded</th><th class='num'>quarantined</th>"
           "<th class='num'>quarantined share</th><th>reasons</th><th>first quarantined row (values in the <code>quarantine</code> table)</th></tr>"]
    entities = [e for e in LOAD_ORDER if wh.has_table(e) or any(k[0] == e for k in q)]
    for entity in entities:
        loaded = wh.con.execute(f'SELECT count(*) FROM "{entity}"').fetchone()[0] if wh.has_table(entity) else 0
        reasons = sorted(((r, n) for (e, r), n in q.items() if e == entity), key=lambda t: (-t[1], t[0]))
        quarantined = sum(n for _, n in reasons)
        read = loaded + quarantined
        example = ""
        if quarantined:
            row = wh.con.execute(
                "SELECT reason, column_name, source_file, source_row FROM quarantine "
                "WHERE entity = ? ORDER BY reason, source_file, source_row LIMIT 1", [entity]).fetchone()
            if row:
                column = f" in <code>{_e(row[1])}</code>" if row[1] else ""
                example = f"<code>{_e(row[0])}</code>{column}: {_e(str(row[2]))} row {row[3]}"
        out.append(
            f"<tr><td>{_e(entity)}</td><td class='num'>{read:,}</td><td class='num'>{loaded:,}</td>"
            f"<td class='num'>{quarantined:,}</td>"
            f"<td class='num'>{_pct(quarantined / read) if read else '–'}</td>"
            f"<td>{', '.join(f'<code>{_e(r)}</code> {n:,}' for r, n in reasons) or '–'}</td>"
            f"<td>{example or '–'}</td></tr>"
        )
    out.append("</table>")
    return "".join(out)


def _protected_note(wh: Warehouse) -> str:
    """Which protected attributes the warehouse holds, and that no model used them."""
    from segmint.segmentation import protected_features

    protected = sorted(protected_features())
    present: list[str] = []
    for entity in ("clients", "features"):
        if wh.has_table(entity):
            cols = {r[0] for r in wh.con.execute(f'DESCRIBE "{entity}"').fetchall()}
            present += [c for c in protected if c in cols and c not in present]
    held = (f"The warehouse holds {', '.join(f'<code>{_e(c)}</code>' for c in present)}"
            if present else "The warehouse holds none of them")
    return ("<p class='lead' id='protected'><strong>Protected attributes.</strong> "
            f"{', '.join(_e(c) for c in protected) or 'None are declared'} "
            f"{'are' if len(protected) != 1 else 'is'} protected: never a model input (a "
            f"dimension that names one is refused). {held}; they are kept only for fairness "
            "audits.</p>")


def _value_lead(wh: Warehouse, catalog: Catalog, d: Dimension) -> str:
    """For the value dimension: the measure that ranks the tiers, and the CLV model used."""
    params = d.model_params or {}
    out = []
    subjects = list(params.get("percentiles") or {}) if d.kind == "rules" else []
    if subjects:
        shown = ", ".join(" ".join(_label(t) if t.isidentifier() else t for t in str(x).split())
                          for x in subjects)
        out.append(f"Tiers rank clients by <strong>{_e(shown)}</strong>.")
    if any("clv_" in str(x) for x in subjects) and wh.has_table("clv_models"):
        row = wh.con.execute(
            "SELECT version, kind, CAST(params AS VARCHAR) FROM clv_models WHERE fitted_as_of <= ? "
            "ORDER BY fitted_as_of DESC, version DESC LIMIT 1", [catalog.as_of]).fetchone()
        if row:
            stored = json.loads(row[2])
            spend = stored.get("spend") or {}
            if spend.get("kind") == "gamma_gamma":
                how = "the Gamma-Gamma spend model (converged)"
            elif spend.get("kind") == "own_mean":
                how = f"each client's own mean spend, because {spend.get('reason', '')}"
            elif spend.get("kind") == "mean":
                how = "one mean spend for everyone (too few repeat buyers)"
            else:
                how = f"none: {stored.get('reason', 'not fitted')}"
            out.append(f"CLV model version {row[0]} ({_e(row[1])}); spend per purchase from {_e(how)}.")
    return f"<p class='lead'>{' '.join(out)}</p>" if out else ""


def _last_ingest(wh: Warehouse) -> str:
    """Rows read, loaded and quarantined per entity in the latest successful ingest run.

    In an ``appended`` run the counts are the new files' rows; ``unchanged`` reads none.
    """
    if not wh.has_table("_runs"):
        return ""
    row = wh.con.execute(
        "SELECT run_id, finished_at, counts FROM _runs WHERE command = 'ingest' AND status = 'ok' "
        "ORDER BY started_at DESC LIMIT 1"
    ).fetchone()
    if row is None or not row[2]:
        return ""
    counts = json.loads(row[2]) if isinstance(row[2], str) else row[2]
    out = [f"<p class='lead'>Latest ingest run <code>{_e(row[0])}</code> "
           f"(finished {row[1]:%Y-%m-%d %H:%M} UTC):</p><table><tr><th>entity</th>"
           "<th>mode</th><th class='num'>rows read</th><th class='num'>loaded</th><th class='num'>quarantined</th>"
           "<th class='num'>duplicates collapsed</th><th class='num'>quarantined share</th>"
           "<th class='num'>rows in table</th></tr>"]
    for entity, c in counts.items():
        read = c.get("rows_read", 0) or 0
        q = c.get("rows_quarantined", 0) or 0
        in_table = c.get("rows_in_table")
        out.append(
            f"<tr><td>{_e(entity)}</td><td>{_e(c.get('mode', 'reloaded'))}</td>"
            f"<td class='num'>{read:,}</td><td class='num'>{c.get('rows_loaded', 0):,}</td>"
            f"<td class='num'>{q:,}</td><td class='num'>{c.get('duplicates_collapsed', 0):,}</td>"
            f"<td class='num'>{_pct(q / read) if read else '–'}</td>"
            f"<td class='num'>{f'{in_table:,}' if in_table is not None else '–'}</td></tr>"
        )
    out.append("</table>")
    return "".join(out)


# -- what changed (monitoring) -----------------------------------------------------------
def what_changed(wh: Warehouse, as_of, *, catalog: Catalog | None = None, min_cell: int = 10) -> str:
    """The "What changed" section from the monitoring tables of the latest update cycle on
    or before ``as_of``: alerts, stability, migration heat maps and feature drift.
    Empty when no cycle was recorded (``segmint update`` never ran).

    ``catalog`` is the released catalog: an alert about a suppressed segment keeps its
    rule and severity but not its message (it states the segment's share), and the
    migration heat maps are suppressed with its sizes (:func:`migration_heatmap`)."""
    if not wh.has_table("monitoring_cycles"):
        return ""
    row = wh.con.execute(
        "SELECT as_of, previous_as_of, refitted, changes FROM monitoring_cycles "
        "WHERE status = 'ok' AND as_of <= ? ORDER BY as_of DESC LIMIT 1",
        [as_of],
    ).fetchone()
    if row is None:
        return ""
    day, prev, refitted, changes = row
    out = ["<section class='dq' id='what-changed'><h2>What changed</h2>",
           f"<p class='lead'>Update cycle of {day}"
           + (f", compared with the cycle of {prev}" if prev else " (the first cycle)")
           + f": {changes:,} segment-history changes; refitted: {_e(', '.join(refitted or []) or 'none')}.</p>"]
    alerts = wh.con.execute(
        "SELECT severity, rule, message, dimension, segment_id::VARCHAR FROM alerts WHERE as_of = ? "
        "ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, rule",
        [day],
    ).fetchall()
    hidden = {(d.dimension, s) for d in (catalog.dimensions if catalog else []) for s in _hidden(d)}
    out.append("<h3 id='changed-alerts'>Alerts</h3>")
    if alerts:
        out.append("<table><tr><th>severity</th><th>rule</th><th>message</th></tr>")
        out += [f"<tr><td>{_e(a)}</td><td><code>{_e(b)}</code></td><td>"
                + (f"withheld: segment <code>{_e(seg)}</code> of <code>{_e(dim)}</code> is "
                   f"{SUPPRESSED}" if (dim, seg) in hidden else _e(c)) + "</td></tr>"
                for a, b, c, dim, seg in alerts]
        out.append("</table>")
    else:
        out.append("<p>No alert.</p>")
    stab = wh.con.execute(
        "SELECT dimension, model_version, clients, reclassification_rate, ari, upward, downward, "
        "stable_core, max_share_change, max_centroid_shift FROM segment_stability WHERE as_of = ? "
        "ORDER BY dimension",
        [day],
    ).fetchall()
    out.append("<h3 id='changed-stability'>Stability</h3><table><tr><th>dimension</th>"
               "<th class='num'>version</th><th class='num'>clients</th><th class='num'>reclassified</th>"
               "<th class='num'>ARI</th><th class='num'>up</th><th class='num'>down</th>"
               "<th class='num'>stable core</th><th class='num'>max share change</th>"
               "<th class='num'>max centroid shift</th></tr>")
    migrations = {}
    if prev:
        for (d,) in wh.con.execute(
            "SELECT DISTINCT dimension FROM segment_migration WHERE as_of = ? ORDER BY 1", [day]
        ).fetchall():
            migrations[d] = migration_heatmap(wh, day, d, catalog=catalog, min_cell=min_cell)
    for d, v, n, rate, ari, up, down, core, share, shift in stab:
        # upward and downward are sums of migration cells: released with them
        moved = migrations[d][1] if d in migrations else {}
        cells = [
            "–" if x is None else SUPPRESSED if way and moved.get(way) else _count(x, min_cell)
            for x, way in ((n, None), (up, "up"), (down, "down"), (core, None))
        ]
        out.append(
            f"<tr><td>{_e(d)}</td><td class='num'>{v}</td><td class='num'>{cells[0]}</td>"
            f"<td class='num'>{_pct(rate)}</td><td class='num'>{_num(ari)}</td>"
            f"<td class='num'>{cells[1]}</td><td class='num'>{cells[2]}</td>"
            f"<td class='num'>{cells[3]}</td><td class='num'>{_pct(share)}</td>"
            f"<td class='num'>{_num(shift)}</td></tr>"
        )
    out.append("</table>")
    if prev:
        out.append("<h3 id='changed-migration'>Migration</h3>")
        out += [fig for fig, _ in migrations.values()]
    drift = wh.con.execute(
        "SELECT feature, max(psi) AS psi FROM feature_drift WHERE as_of = ? GROUP BY 1 "
        "ORDER BY psi DESC LIMIT 20",
        [day],
    ).fetchall()
    if drift:
        fig = go.Figure(go.Bar(x=[r[1] for r in drift], y=[r[0] for r in drift], orientation="h",
                               marker_color=["#dc2626" if r[1] >= 0.25 else "#f97316" if r[1] >= 0.1
                                             else "#16a34a" for r in drift]))
        for x in (0.1, 0.25):
            fig.add_vline(x=x, line=dict(color="#6b7280", dash="dot"))
        fig.update_layout(title="Feature drift: PSI against each model's reference snapshot (bands 0.1, 0.25)")
        fig.update_yaxes(autorange="reversed")
        out.append(f"<h3 id='changed-drift'>Feature drift</h3>{_fig_html(fig, 160 + 22 * len(drift))}")
    out.append("</section>")
    return "".join(out)


def _count(x: int, min_cell: int) -> str:
    """A count outside a suppressed table: below the minimum it is not shown."""
    return SUPPRESSED if 0 < x < min_cell else f"{int(x):,}"


def migration_heatmap(wh: Warehouse, as_of, dimension: str, *, catalog: Catalog | None = None,
                      min_cell: int = 10) -> tuple[str, dict[str, bool]]:
    """Row-normalised migration rates (previous segment -> current) with counts as text,
    and whether the upward / downward sums are suppressed.

    The counts are a cross-tab whose row totals (the previous sizes: a rate reveals its row
    total) and column totals (the current sizes) are released, and whose upward and
    downward cells add up to the stability table's counts: one release, suppressed below
    ``min_cell``. A current segment suppressed in the released ``catalog`` keeps its column
    hidden; one it shows is a locked margin (when the cycle is the catalog's date)."""
    rows = wh.con.execute(
        "SELECT from_name, to_name, clients, rate, from_segment, to_segment, direction "
        "FROM segment_migration WHERE as_of = ? AND dimension = ?",
        [as_of, dimension],
    ).fetchall()

    def natural(seg_id: str) -> tuple:  # segment ids in definition order; (new)/(gone) last
        return (seg_id.startswith("("), len(seg_id), seg_id)

    src_ids = [i for _, i in sorted({(natural(r[4]), r[4]) for r in rows})]
    dst_ids = [i for _, i in sorted({(natural(r[5]), r[5]) for r in rows})]
    src = [next(r[0] for r in rows if r[4] == i) for i in src_ids]
    dst = [next(r[1] for r in rows if r[5] == i) for i in dst_ids]
    counts = np.zeros((len(src), len(dst)))
    direction: dict[tuple[int, int], str] = {}
    for r in rows:
        i, j = src_ids.index(r[4]), dst_ids.index(r[5])
        counts[i, j] = r[2]
        if r[6] in ("up", "down"):
            direction[(i, j)] = r[6]
    dim = next((d for d in (catalog.dimensions if catalog else []) if d.dimension == dimension), None)
    same_day = catalog is not None and catalog.as_of == as_of
    hide = np.zeros(counts.shape, dtype=bool)
    locked: list[int] = []
    if dim is not None:
        hidden = _hidden(dim)
        hide[:, [j for j, s in enumerate(dst_ids) if s in hidden]] = True
        if same_day:
            shown = {s.segment_id for s in dim.segments if not s.profile.suppressed}
            locked = [j for j, s in enumerate(dst_ids) if s in shown]
    rel = table_release(counts, locked_cols=locked)
    for way in ("up", "down"):
        rel.count(way, sum(counts[k] for k, w in direction.items() if w == way), priority=2)
        rel.sum(way, [("cell", i, j) for (i, j), w in direction.items() if w == way])
    # a suppressed current segment's column total is its size: withheld and protected too
    withheld = [("cell", i, j) for i, j in np.argwhere(hide)]
    withheld += [("col", j) for j in np.flatnonzero(hide.any(axis=0)) if ("col", j) in rel]
    status = suppress(rel, min_cell, hide=withheld)
    gone = {k for k, st in status.items() if st is not None}

    def rate_shown(i: int, j: int) -> bool:
        row = ("row", i) if len(dst) > 1 and len(src) > 1 else ("total",)
        return ("cell", i, j) not in gone and row not in gone

    z = [[counts[i, j] / counts[i].sum() if counts[i].sum() and rate_shown(i, j) else None
          for j in range(len(dst))] for i in range(len(src))]
    text = [[SUPPRESSED if ("cell", i, j) in gone else f"{int(counts[i, j]):,}" for j in range(len(dst))]
            for i in range(len(src))]
    fig = go.Figure(go.Heatmap(z=z, x=dst, y=src, text=text, texttemplate="%{text}", colorscale="Blues",
                               zmin=0, zmax=1, colorbar=dict(title="rate")))
    fig.update_layout(title=f"{dimension}: previous segment (rows) to current segment (columns)")
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(tickangle=-30)
    return _fig_html(fig, 160 + 34 * len(src)), {way: way in gone for way in ("up", "down")}


def render_report(wh: Warehouse, catalog: Catalog, *, sample: int = 3000, min_cell: int = 10) -> str:
    """The report as one self-contained HTML string (plotly.js inline).

    Parameters
    ----------
    wh : Warehouse
        Read for the segment map's client sample and the quarantine counts.
    catalog : Catalog
        What the report shows (see :func:`segmint.profiles.build_catalog`), released with
        :func:`segmint.profiles.release_catalog` here.
    sample : int
        Clients drawn (deterministically) for each segment map.
    min_cell : int
        ``governance.min_cell``: every count of the report below it is suppressed, with
        complements, and the values derived from it withheld (1: nothing suppressed).
    """
    catalog = release_catalog(catalog, min_cell)
    toc = "".join(
        f"<li><a href='#dim-{_slug(d.dimension)}'>Dimension: {_e(d.dimension)}</a></li>" for d in catalog.dimensions
    ) + "<li><a href='#data-quality'>Data quality</a></li>"
    propensity = propensity_sections(wh, catalog, _fig_html, min_cell=min_cell)
    toc += "".join(f"<li><a href='#{a}'>{_e(t)}</a></li>" for a, t, _ in propensity)
    changed = what_changed(wh, catalog.as_of, catalog=catalog, min_cell=min_cell)
    if changed:
        toc += "<li><a href='#what-changed'>What changed</a></li>"
    from segmint.report._targeting import targeting_sections

    targeting = targeting_sections(wh, catalog, min_cell=min_cell)
    toc += "".join(f"<li><a href='#{a}'>{_e(t)}</a></li>" for a, t, _ in targeting)
    fairness = governance_section(wh, min_cell=min_cell)
    if fairness:
        toc += "<li><a href='#fairness'>Fairness audit</a></li>"
    disclosure = (f"<p class='lead' id='suppression'>{_e(suppression_note(min_cell))}</p>"
                  if min_cell > 1 else "")
    parts = []
    for d in catalog.dimensions:
        slug = _slug(d.dimension)
        lead = (f"{d.kind.capitalize()} dimension ({_e(d.method or 'unspecified method')}), model "
                f"<code>{_e(d.model_version)}</code>: {show_count(d.n_clients)} clients in "
                f"{len(d.segments)} segments.")
        evidence = ""
        if d.evidence:
            evidence = (f"<h3 id='{slug}-evidence'>Choosing the number of segments</h3>"
                        f"{evidence_chart(d)}{_evidence_table(d)}")
        parts.append(
            f"<section class='dimension' id='dim-{slug}'><h2>Dimension: {_e(d.dimension)}</h2>"
            f"<p class='lead'>{lead}</p>{_value_lead(wh, catalog, d) if d.dimension == 'value' else ''}"
            f"<h3 id='{slug}-map'>Segment map</h3>{segment_map(wh, catalog, d, sample=sample)}"
            f"<h3 id='{slug}-size'>Size and value</h3>{size_value_bars(d)}"
            f"<h3 id='{slug}-profile'>Profile</h3>{lift_heatmap(d)}"
            f"<h3 id='{slug}-rules'>Observable rules</h3>{_rules_table(d)}"
            f"{evidence}"
            f"<h3 id='{slug}-personas'>Personas</h3>{_cards(d)}"
            + (f"<h3 id='{slug}-crosstabs'>Cross-tabulations</h3>{_crosstabs(catalog, d)}" if d.crosstabs else "")
            + "</section>"
        )
    parts += [f"<section class='dimension' id='{a}'><h2>{_e(t)}</h2>{body}</section>"
              for a, t, body in targeting]
    title = f"{catalog.project} — segment report"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<style>{CSS}</style>
<script type="text/javascript">{get_plotlyjs()}</script>
</head><body>
<header><h1>{_e(catalog.project)}</h1>
<div class="meta">Segment report · as of {catalog.as_of} · catalog v{catalog.version} ·
built {catalog.created_at:%Y-%m-%d %H:%M} UTC · segmint {_e(catalog.segmint_version)}</div></header>
<main>
<nav class="toc"><strong>Contents</strong><ol>{toc}</ol></nav>
{disclosure}
{''.join(parts)}
{''.join(body for _, _, body in propensity)}
{changed}
{_data_quality(wh)}
{fairness}
</main>
<footer>Generated by segmint. Lifts are standardised mean differences against all clients;
rules are measured on every client.</footer>
</body></html>
"""


def write_report(path: str | Path, text: str) -> Path:
    """Write the report atomically (a temp file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
