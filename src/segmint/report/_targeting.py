"""Report sections of the targeting stage: cross-sell affinity and segment profitability.

Each section is ``(anchor, title, html)``; :func:`segmint.report.render_report` adds
them after the dimensions when the warehouse holds their inputs (holdings for the
affinity, profitability rows for the profitability).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from segmint.disclosure import SUPPRESSED, suppress_table
from segmint.profiles import Catalog, Dimension
from segmint.report._html import _e, _fig_html, _hidden, _num, _pct, _slug
from segmint.store import Warehouse
from segmint.targeting import (
    affinity_statements,
    association_rules,
    segment_profitability,
    upgrade_paths,
)


def _rows(wh: Warehouse, table: str) -> int:
    if not wh.has_table(table):
        return 0
    return int(wh.con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]


def _names(d: Dimension) -> dict[str, str]:
    return {s.segment_id: s.name for s in d.segments}


def _affinity_dimension(catalog: Catalog) -> Dimension | None:
    learned = [d for d in catalog.dimensions if d.kind == "learned"]
    return (learned or catalog.dimensions or [None])[0]


def affinity_section(wh: Warehouse, catalog: Catalog, *, min_count: int = 10,
                     min_cell: int = 10) -> str | None:
    """Product rules and upgrade paths, per segment of the first learned dimension.

    Rules and paths are shown only from ``max(min_count, min_cell)`` clients, and never for
    a segment the released catalog suppresses (their counts are not shown: rates only)."""
    d = _affinity_dimension(catalog)
    if d is None or not _rows(wh, "holdings"):
        return None
    min_count = max(min_count, min_cell)
    names = {s: n for s, n in _names(d).items() if s not in _hidden(d)}
    rules = association_rules(wh.con, catalog.as_of, dimension=d.dimension, min_count=min_count)
    paths = upgrade_paths(wh.con, catalog.as_of, dimension=d.dimension, min_count=min_count)
    out = [f"<p class='lead'>Held product types at {catalog.as_of}, by segment of "
           f"<code>{_e(d.dimension)}</code>. Rules and paths with fewer than {min_count} clients "
           "are left out.</p>"]
    paths = paths[(paths.segment == "(all)") | paths.segment.isin(list(names))]
    statements = affinity_statements(paths, names, min_count=min_count)
    if statements:
        out.append("<h3 id='affinity-statements'>What each segment opens next</h3><ul>")
        for seg, lines in statements.items():
            out.extend(f"<li><strong>{_e(seg)}</strong>: {_e(line)}</li>" for line in lines)
        out.append("</ul>")
    seg_paths = paths[(paths.segment != "(all)") & (paths.clients >= min_count)]
    if not seg_paths.empty:
        top = (paths[paths.segment == "(all)"].sort_values("clients", ascending=False)
               .head(12)[["from_product", "to_product"]])
        labels = [f"{a} → {b}" for a, b in zip(top.from_product, top.to_product, strict=True)]
        segs = [s for s in names if s in set(seg_paths.segment)]
        cell = {(r.segment, f"{r.from_product} → {r.to_product}"): r for r in seg_paths.itertuples()}
        z = [[getattr(cell.get((s, lab)), "lift", None) for lab in labels] for s in segs]
        text = [[f"{cell[(s, lab)].rate:.0%}" if (s, lab) in cell else "" for lab in labels] for s in segs]
        fig = go.Figure(go.Heatmap(z=z, x=labels, y=[names[s] for s in segs], text=text,
                                   texttemplate="%{text}", colorscale="RdBu", zmid=1.0,
                                   colorbar=dict(title="× base rate")))
        fig.update_layout(title="Next product opened: rate in the segment (text) and its multiple "
                                "of all clients' rate (colour)")
        fig.update_xaxes(tickangle=-30)
        out.append(f"<h3 id='affinity-paths'>Upgrade paths</h3>{_fig_html(fig, 200 + 34 * len(segs))}")
    glob = rules[rules.segment == "(all)"].head(12)
    if not glob.empty:
        out.append("<h3 id='affinity-rules'>Product association rules (all clients)</h3><table><tr>"
                   "<th>holds</th><th>also holds</th><th class='num'>clients</th><th class='num'>support</th>"
                   "<th class='num'>confidence</th><th class='num'>lift</th></tr>")
        for r in glob.itertuples():
            out.append(f"<tr><td>{_e(r.antecedent)}</td><td>{_e(r.consequent)}</td>"
                       f"<td class='num'>{int(r[4]):,}</td><td class='num'>{_pct(r.support)}</td>"
                       f"<td class='num'>{_pct(r.confidence)}</td><td class='num'>{r.lift:.2f}</td></tr>")
        out.append("</table>")
    return "".join(out)


def _suppressed_rows(frame, d: Dimension, min_cell: int) -> np.ndarray:
    """Segments of ``frame`` (``segment_id``, ``clients``) whose clients are suppressed: one
    row of counts released with its total (the shares give it), the released catalog's
    suppressed segments withheld and the sizes it shows locked (the same counts)."""
    sizes = {s.segment_id: s.profile.size for s in d.segments}
    counts = frame.clients.to_numpy(float)[None, :]
    hide = np.array([[sid in _hidden(d) for sid in frame.segment_id]])
    locked = np.array([[sizes.get(sid) == n for sid, n in zip(frame.segment_id, frame.clients, strict=True)]])
    t = suppress_table(counts, min_cell, hide=hide, locked=locked,
                       locked_total=d.n_clients is not None and d.n_clients == counts.sum())
    return t.hidden[0]


def profitability_section(wh: Warehouse, catalog: Catalog, *, min_cell: int = 10) -> str | None:
    """Segments ranked by fully loaded margin, per dimension; unprofitable ones flagged.
    A segment whose clients are suppressed (:func:`_suppressed_rows`) shows none of its
    sums, shares or means."""
    if not _rows(wh, "profitability"):
        return None
    out = ["<p class='lead'>Revenue less every cost component over the 12 months to "
           f"{catalog.as_of}; CLV from the features (<code>clv_12m</code>).</p>"]
    for d in catalog.dimensions:
        frame = segment_profitability(wh.con, catalog.as_of, d.dimension, names=_names(d))
        if frame.empty:
            continue
        hidden = _suppressed_rows(frame, d, min_cell)
        costs = [c for c in frame.columns if c.startswith("cost_")]
        shown = frame[~hidden]
        colors = ["#dc2626" if u else "#16a34a" for u in shown.unprofitable]
        fig = go.Figure(go.Bar(x=shown.margin, y=shown.segment, orientation="h", marker_color=colors,
                               text=[f"{_num(m)} / client" for m in shown.margin_per_client],
                               textposition="auto"))
        fig.update_layout(title=f"{d.dimension}: contribution margin by segment")
        fig.update_yaxes(autorange="reversed")
        slug = _slug(d.dimension)
        out.append(f"<h3 id='profit-{slug}'>{_e(d.dimension)}</h3>{_fig_html(fig, 140 + 30 * len(frame))}")
        head = "".join(f"<th class='num'>{_e(c.removeprefix('cost_'))}</th>" for c in costs)
        out.append("<table><tr><th>segment</th><th class='num'>clients</th><th class='num'>revenue</th>"
                   f"{head}<th class='num'>margin</th><th class='num'>margin / client</th>"
                   "<th class='num'>share of clients</th><th class='num'>share of margin</th>"
                   "<th class='num'>CLV / client</th><th></th></tr>")
        for r, withheld in zip(frame.to_dict("records"), hidden, strict=True):
            if withheld:
                out.append(f"<tr><td>{_e(r['segment'])}</td>"
                           + f"<td class='num'>{SUPPRESSED}</td>" * (len(costs) + 8) + "<td></td></tr>")
                continue
            cells = "".join(f"<td class='num'>{_num(r[c])}</td>" for c in costs)
            flag = "<span class='pill'>unprofitable</span>" if r["unprofitable"] else ""
            out.append(
                f"<tr><td>{_e(r['segment'])}</td><td class='num'>{int(r['clients']):,}</td>"
                f"<td class='num'>{_num(r['revenue'])}</td>{cells}<td class='num'>{_num(r['margin'])}</td>"
                f"<td class='num'>{_num(r['margin_per_client'])}</td><td class='num'>{_pct(r['share_of_clients'])}</td>"
                f"<td class='num'>{_pct(r['share_of_margin'])}</td><td class='num'>{_num(r['clv_per_client'])}</td>"
                f"<td>{flag}</td></tr>"
            )
        out.append("</table>")
    return "".join(out)


def targeting_sections(wh: Warehouse, catalog: Catalog, *, min_cell: int = 10) -> list[tuple[str, str, str]]:
    """The sections that have data: ``(anchor, title, html)`` (``catalog``: released)."""
    out = []
    for anchor, title, fn in (("profitability", "Segment profitability", profitability_section),
                              ("affinity", "Cross-sell affinity", affinity_section)):
        body = fn(wh, catalog, min_cell=min_cell)
        if body:
            out.append((anchor, title, body))
    return out
