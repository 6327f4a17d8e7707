"""The experiment section of the report: lift by segment (forest plot), Qini curves,
budget allocation, and the campaign lift tracked cycle by cycle.

Kept apart from ``_html.py``: :func:`experiment_section` returns an HTML fragment
(a ``<section>``) any page can include; :func:`render_experiment_report` wraps it in
a self-contained page with plotly.js inline.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from segmint.config import ExperimentsConfig
from segmint.disclosure import SUPPRESSED, show_count, suppress_table
from segmint.errors import WarehouseError
from segmint.report._html import CSS, _fig_html
from segmint.store import Warehouse
from segmint.targeting import (
    ALL,
    AllocationResult,
    CampaignAnalysis,
    UpliftResult,
    allocate_budget,
    analyze_campaign,
    fit_uplift,
    lift_history,
    release_lifts,
    response_by_channel,
)

__all__ = ["ExperimentSection", "build_section", "experiment_section", "render_experiment_report"]

_POS, _NEG, _NS = "#16a34a", "#dc2626", "#6b7280"


def _e(x: object) -> str:
    return html.escape(str(x))


def _fmt(x: float, pct: bool) -> str:
    if x is None or x != x:
        return "–"
    return f"{x:+.2%}" if pct else f"{x:+,.3g}"


@dataclass
class ExperimentSection:
    """What one experiment's section shows (each part optional but the analysis).

    ``min_cell`` (``governance.min_cell``): the arms' counts per segment, the uplift
    summary's clients and the history's counts below it are suppressed with complements
    (:func:`segmint.targeting.release_lifts`), and every value of their rows withheld.
    """

    analysis: CampaignAnalysis
    uplift: UpliftResult | None = None
    allocation: AllocationResult | None = None
    history: pd.DataFrame | None = None  # campaign, sent_at, segment, lift, lift_low, lift_high
    min_cell: int = 10


def _na(x) -> float | None:
    """A nullable count (pandas ``NA``) as ``None``."""
    return None if x is pd.NA or x is None or x != x else x


def forest_plot(a: CampaignAnalysis, lifts: pd.DataFrame | None = None) -> str:
    """Lift per segment with its 95% interval; green/red when significant after BH
    (``lifts``: the released table, default the analysis's)."""
    lifts = a.lifts if lifts is None else lifts
    rows = lifts.dropna(subset=["lift"]).iloc[::-1]
    pct = a.binary
    colors = [
        _NS if not (q < 0.05) else (_POS if lift > 0 else _NEG)
        for q, lift in zip(rows["q_value"], rows["lift"], strict=True)
    ]
    labels = [f"<b>{s}</b>" if s == ALL else str(s) for s in rows["segment"]]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=rows["lift"], y=labels, mode="markers", name="lift",
            marker=dict(color=colors, size=[12 if s == ALL else 9 for s in rows["segment"]], symbol="square"),
            error_x=dict(type="data", symmetric=False, array=rows["lift_high"] - rows["lift"],
                         arrayminus=rows["lift"] - rows["lift_low"], color="#9ca3af", thickness=2),
            hovertemplate="%{y}: %{x:.4f}<extra>lift (95% CI)</extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=rows["lift_cuped"], y=labels, mode="markers", name="CUPED",
            marker=dict(color="#2563eb", size=6, symbol="diamond"),
            hovertemplate="%{y}: %{x:.4f}<extra>CUPED lift</extra>",
        )
    )
    fig.add_vline(x=0, line=dict(color="#111827", width=1, dash="dot"))
    fig.update_layout(
        title=f"Lift by segment ({'conversion' if pct else a.metric}), 95% intervals",
        xaxis=dict(tickformat=".1%" if pct else None, zeroline=False),
        legend=dict(orientation="h", y=-0.15),
    )
    return _fig_html(fig, max(260, 60 + 34 * len(rows)))


def qini_plot(u: UpliftResult) -> str:
    """Qini curves of the uplift model, of propensity targeting and of random targeting."""
    q = u.qini
    fig = go.Figure()
    for col, color, dash in (("uplift", "#2563eb", None), ("propensity", "#f97316", None), ("random", "#6b7280", "dash")):
        coef = u.qini_coefficient[col]
        fig.add_trace(
            go.Scatter(x=q["share"], y=q[col], mode="lines", name=f"{col} (Qini {coef:+.4f})",
                       line=dict(color=color, dash=dash, width=2))
        )
    fig.update_layout(
        title=f"Qini curve on held-out clients ({u.method.replace('_', ' ')})",
        xaxis=dict(title="share of clients targeted", tickformat=".0%"),
        yaxis=dict(title="incremental conversions"),
        legend=dict(orientation="h", y=-0.2),
    )
    return _fig_html(fig, 380)


def allocation_plot(r: AllocationResult) -> str:
    """Contacts per segment and channel: optimal against uniform."""
    al = r.allocation
    fig = go.Figure()
    palette = ["#2563eb", "#f97316", "#16a34a", "#9333ea", "#0891b2"]
    for i, (channel, grp) in enumerate(al.groupby("channel", sort=True)):
        color = palette[i % len(palette)]
        fig.add_trace(go.Bar(x=grp["segment"], y=grp["contacts"], name=f"{channel} (optimal)", marker_color=color,
                             offsetgroup="optimal"))
        fig.add_trace(go.Bar(x=grp["segment"], y=grp["uniform_contacts"], name=f"{channel} (uniform)",
                             marker=dict(color=color, opacity=0.35), offsetgroup="uniform"))
    fig.update_layout(barmode="stack", title="Contacts per segment and channel", yaxis=dict(title="contacts"),
                      legend=dict(orientation="h", y=-0.2))
    return _fig_html(fig, 380)


def history_plot(h: pd.DataFrame, *, min_cell: int = 10) -> str:
    """Lift per segment, campaign after campaign (each campaign's counts released with
    :func:`segmint.targeting.release_lifts`: a suppressed point is not drawn)."""
    if "n_control" in h and len(h):
        parts = [release_lifts(g.reset_index(drop=True), min_cell)
                 for _, g in h.groupby(["campaign", "sent_at"], sort=False)]
        h = pd.concat(parts, ignore_index=True)
        h = h[~h["suppressed"]]
    fig = go.Figure()
    palette = ["#2563eb", "#f97316", "#16a34a", "#dc2626", "#9333ea", "#0891b2", "#ca8a04", "#db2777"]
    for i, (seg, grp) in enumerate(h.sort_values("sent_at").groupby("segment", sort=True)):
        fig.add_trace(
            go.Scatter(
                x=grp["sent_at"].astype(str), y=grp["lift"], name=str(seg), mode="lines+markers",
                line=dict(color=palette[i % len(palette)]),
                error_y=dict(type="data", symmetric=False, array=grp["lift_high"] - grp["lift"],
                             arrayminus=grp["lift"] - grp["lift_low"], thickness=1),
            )
        )
    fig.add_hline(y=0, line=dict(color="#111827", width=1, dash="dot"))
    fig.update_layout(title="Campaign lift per segment, cycle by cycle", xaxis=dict(title="send date"),
                      legend=dict(orientation="h", y=-0.2))
    return _fig_html(fig, 380)


def _lift_table(a: CampaignAnalysis, lifts: pd.DataFrame | None = None) -> str:
    pct = a.binary
    lifts = a.lifts if lifts is None else lifts
    head = ("<tr><th>segment</th><th class='num'>control n</th><th class='num'>treated n</th>"
            "<th class='num'>control</th><th class='num'>treated</th><th class='num'>lift [95% CI]</th>"
            "<th class='num'>relative</th><th class='num'>q (BH)</th><th class='num'>CUPED variance</th>"
            "<th class='num'>incremental</th><th class='num'>ROI</th></tr>")
    body = []
    for r in lifts.itertuples(index=False):
        if getattr(r, "suppressed", False):
            body.append(f"<tr><td>{_e(r.segment)}</td><td class='num'>{show_count(_na(r.n_control))}</td>"
                        f"<td class='num'>{show_count(_na(r.n_treatment))}</td>"
                        f"<td colspan='8'>{SUPPRESSED}: too few clients in an arm, or withheld so "
                        "that such a count cannot be recomputed</td></tr>")
            continue
        if getattr(r, "lift", float("nan")) != r.lift:
            body.append(f"<tr><td>{_e(r.segment)}</td><td class='num'>{r.n_control}</td>"
                        f"<td class='num'>{r.n_treatment}</td><td colspan='8'>one arm is empty</td></tr>")
            continue
        rate = (lambda x: f"{x:.2%}") if pct else (lambda x: f"{x:,.3g}")
        body.append(
            f"<tr><td>{_e(r.segment)}</td><td class='num'>{r.n_control:,}</td><td class='num'>{r.n_treatment:,}</td>"
            f"<td class='num'>{rate(r.control)}</td><td class='num'>{rate(r.treatment)}</td>"
            f"<td class='num'>{_fmt(r.lift, pct)} [{_fmt(r.lift_low, pct)}, {_fmt(r.lift_high, pct)}]</td>"
            f"<td class='num'>{_fmt(r.rel_lift, True)}</td><td class='num'>{r.q_value:.3g}</td>"
            f"<td class='num'>−{r.variance_reduction:.0%}</td>"
            f"<td class='num'>{r.incremental:,.1f}</td>"
            f"<td class='num'>{'–' if r.roi != r.roi else f'{r.roi:+.2f}'}</td></tr>"
        )
    return f"<table>{head}{''.join(body)}</table>"


def _allocation_table(r: AllocationResult) -> str:
    rows = "".join(
        f"<tr><td>{_e(x.segment)}</td><td>{_e(x.channel)}</td><td class='num'>{x.response:+.4f}</td>"
        f"<td class='num'>{x.contacts:,.0f}</td><td class='num'>{x.spend:,.2f}</td>"
        f"<td class='num'>{x.value:,.1f}</td><td class='num'>{x.uniform_contacts:,.0f}</td>"
        f"<td class='num'>{x.uniform_value:,.1f}</td></tr>"
        for x in r.allocation.itertuples(index=False)
    )
    return (
        f"<p>Budget {r.budget:,.2f}: optimal allocation worth <b>{r.value:,.1f}</b> (spends {r.spend:,.2f}) "
        f"against <b>{r.uniform_value:,.1f}</b> for a uniform one (spends {r.uniform_spend:,.2f}): "
        f"{r.gain:+.0%}.</p>"
        "<table><tr><th>segment</th><th>channel</th><th class='num'>response / contact</th>"
        "<th class='num'>contacts</th><th class='num'>spend</th><th class='num'>value</th>"
        f"<th class='num'>uniform contacts</th><th class='num'>uniform value</th></tr>{rows}</table>"
    )


def _uplift_summary(u: UpliftResult, *, min_cell: int = 10) -> str:
    seg = u.segments
    classes = [c for c in ("persuadable", "sure_thing", "lost_cause", "do_not_disturb") if c in seg]
    # the segments' clients: one row of counts whose total (the scored clients) is implied
    hidden = (suppress_table(seg["clients"].to_numpy(float)[None, :], min_cell, total_shown=False).hidden[0]
              if len(seg) else np.zeros(0, dtype=bool))
    rows = "".join(
        (f"<tr><td>{_e(r['segment'])}</td><td class='num'>{SUPPRESSED}</td>"
         f"<td class='num'>{SUPPRESSED}</td><td>{SUPPRESSED}</td>"
         + f"<td class='num'>{SUPPRESSED}</td>" * len(classes) + "</tr>") if h else
        (f"<tr><td>{_e(r['segment'])}</td><td class='num'>{int(r['clients']):,}</td>"
         f"<td class='num'>{r['uplift']:+.4f}</td><td>{_e(str(r['class']).replace('_', ' '))}</td>"
         + "".join(f"<td class='num'>{r[c]:.0%}</td>" for c in classes)
         + "</tr>")
        for r, h in zip(seg.to_dict("records"), hidden, strict=True)
    )
    t = u.targeting
    return (
        "<table><tr><th>segment</th><th class='num'>clients</th><th class='num'>mean uplift</th><th>class</th>"
        + "".join(f"<th class='num'>{c.replace('_', ' ')}</th>" for c in classes)
        + f"</tr>{rows}</table>"
        f"<p>Incrementality-adjusted targeting keeps {int(t['clients_selected']):,} clients whose uplift "
        f"lower bound is above zero: expected {t['expected_incremental_adjusted']:,.1f} incremental "
        f"conversions, against {t['expected_incremental_propensity']:,.1f} when as many clients are "
        "targeted by propensity alone.</p>"
    )


def experiment_section(section: ExperimentSection) -> str:
    """One experiment's ``<section>``: forest plot and table, Qini, allocation, history."""
    a = section.analysis
    slug = "exp-" + "".join(c if c.isalnum() else "-" for c in a.campaign.lower())
    lifts = release_lifts(a.lifts, section.min_cell)
    total = lifts.iloc[0]
    lead = (
        f"Outcome: {_e(a.metric)}{' (conversion)' if a.binary else ''}"
        + (f", by {_e(a.by)}" if a.by else "")
        + f". {show_count(_na(total.n_treatment))} treated, {show_count(_na(total.n_control))} in control."
    )
    parts = [
        f"<section class='dimension' id='{slug}'><h2>Experiment: {_e(a.campaign)}</h2>",
        f"<p class='lead'>{lead}</p>",
        "<h3>Lift by segment</h3>", forest_plot(a, lifts), _lift_table(a, lifts),
    ]
    # a note names a segment with few clients in an arm: not said of a suppressed one
    withheld = set(lifts.loc[lifts["suppressed"], "segment"])
    parts += [f"<p class='lead'>{_e(n)}</p>" for n in a.notes
              if not any(f"segment {s!r}" in n for s in withheld)]
    if section.uplift is not None:
        parts += ["<h3>Uplift model</h3>", qini_plot(section.uplift),
                  _uplift_summary(section.uplift, min_cell=section.min_cell)]
    if section.allocation is not None:
        parts += ["<h3>Budget allocation</h3>", allocation_plot(section.allocation), _allocation_table(section.allocation)]
    if section.history is not None and not section.history.empty:
        parts += ["<h3>Response over time</h3>", history_plot(section.history, min_cell=section.min_cell)]
    parts.append("</section>")
    return "".join(parts)


def render_experiment_report(project: str, sections: list[ExperimentSection]) -> str:
    """A self-contained HTML page of experiment sections (plotly.js inline)."""
    if not sections:
        body = "<p class='lead'>No experiment to show.</p>"
    else:
        body = "".join(experiment_section(s) for s in sections)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(project)} — experiments</title>
<style>{CSS}</style>
<script type="text/javascript">{get_plotlyjs()}</script>
</head><body>
<header><h1>{_e(project)}</h1><div class="meta">Experiments: lift by segment, uplift, allocation</div></header>
<main>{body}</main>
<footer>Generated by segmint. Intervals: Newcombe (proportions) or Welch (means), 95%;
q-values: Benjamini–Hochberg across segments.</footer>
</body></html>
"""




def build_section(
    wh: Warehouse,
    config: ExperimentsConfig,
    campaign: str,
    *,
    by: str | None = None,
    uplift: bool = True,
    budget: float | None = None,
    capacity: dict[str, float] | None = None,
    min_cell: int = 10,
) -> ExperimentSection:
    """Compute what an experiment's section shows from the warehouse.

    The uplift model needs a features snapshot before the send date (skipped, with a
    note, when there is none); the allocation needs ``budget`` and ``by`` and uses
    every campaign's lift per segment and channel; the history shows every campaign.
    """
    analysis = analyze_campaign(wh, config, campaign, by=by)
    section = ExperimentSection(analysis, min_cell=min_cell)
    if uplift:
        try:
            section.uplift = fit_uplift(wh, config, campaign, by=by, n_bootstrap=10)
        except WarehouseError as exc:
            analysis.notes.append(f"no uplift model: {exc}")
    if budget is not None and by is not None:
        names = [r[0] for r in wh.con.execute("SELECT DISTINCT campaign FROM campaigns ORDER BY 1").fetchall()]
        cells = response_by_channel(wh, config, names, by=by)
        value = config.campaigns[campaign].value_per_conversion if campaign in config.campaigns else None
        section.allocation = allocate_budget(
            cells, budget=budget, capacity=capacity, value_per_conversion=value or 1.0
        )
    if by is not None:
        section.history = lift_history(wh, config, by=by)
    return section
