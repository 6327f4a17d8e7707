"""The dashboard's pages, rendered on the server from one publication.

Charts are plotly figures drawn the way the report draws them (``report/_html.py``:
same layout, palette and styles). plotly.js comes from this same app
(``/dashboard/static/plotly.min.js``, cached by the browser) rather than inline in every
page: the pages open without any external resource, and a relationship manager looking
up clients one after the other does not download 3.5 MB per lookup.
"""

from __future__ import annotations

import html
from typing import Any

import plotly.graph_objects as go

from segmint.api._access import allowed
from segmint.api._reader import Segment
from segmint.api._state import Principal
from segmint.disclosure import show_count
from segmint.report._html import CSS, PALETTE, _fig_html

_EXTRA_CSS = """
nav.top { background:#fff; border-bottom:1px solid var(--line); padding:10px 48px; display:flex; gap:18px;
          align-items:center; }
nav.top a { color:var(--accent); text-decoration:none; font-weight:600; }
nav.top .who { margin-left:auto; color:var(--muted); font-size:13px; }
section.panel { background:#fff; border:1px solid var(--line); border-radius:12px; padding:22px 28px;
                margin-bottom:24px; }
form.inline { display:flex; gap:8px; align-items:center; margin:8px 0 16px; }
input[type=text], input[type=password] { padding:7px 10px; border:1px solid var(--line); border-radius:6px;
                min-width:260px; font-size:14px; }
button { background:var(--accent); color:#fff; border:0; border-radius:6px; padding:7px 14px; cursor:pointer; }
.up { color:#16a34a; } .down { color:#dc2626; }
.notice { background:#fef3c7; border:1px solid #fcd34d; border-radius:8px; padding:10px 14px; }
.kpis { display:grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap:12px; margin:10px 0 18px; }
.kpi { border:1px solid var(--line); border-radius:10px; padding:10px 14px; }
.kpi .label { color:var(--muted); font-size:12px; } .kpi .value { font-size:20px; font-weight:650; }
"""


def e(x: object) -> str:
    return html.escape("" if x is None else str(x))


def _num(x: float | None, spec: str = ",.0f") -> str:
    return "–" if x is None else format(x, spec)


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.1%}"


def _move(x: float | None) -> str:
    if x is None:
        return "–"
    cls = "up" if x > 0 else "down" if x < 0 else ""
    return f"<span class='{cls}'>{x:+.1%}</span>"


def page(title: str, body: str, *, who: Principal | None, meta: dict[str, Any] | None,
         charts: bool = False) -> str:
    nav = ""
    if who is not None:
        links = [("Segments", "/dashboard", "segments:read"),
                 ("Client lookup", "/dashboard/clients", "clients:read"),
                 ("Audiences", "/dashboard/audiences", "audiences:read"),
                 ("Alerts", "/dashboard/alerts", "alerts:read")]
        items = "".join(f"<a href='{href}'>{name}</a>" for name, href, perm in links
                        if allowed(who.role, perm))
        book = f" · book {e(who.book)}" if who.book else ""
        nav = (f"<nav class='top'>{items}<span class='who'>{e(who.name)} ({e(who.role)}{book}) · "
               "<a href='/dashboard/logout'>sign out</a></span></nav>")
    sub = ""
    if meta:
        sub = (f"Publication {e(meta['publication_id'])} · as of {e(meta['as_of'])} · "
               f"{int(meta['clients']):,} clients")
    script = "<script src='/dashboard/static/plotly.min.js'></script>" if charts else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)} — segmint</title><link rel="icon" href="data:,">
<style>{CSS}{_EXTRA_CSS}</style>{script}
</head><body>
<header><h1>{e(title)}</h1><div class="meta">{sub}</div></header>
{nav}
<main>{body}</main>
<footer>segmint dashboard · data from the serving store the batch publishes</footer>
</body></html>"""


def login_page(error: str | None = None) -> str:
    msg = f"<p class='notice' id='login-error'>{e(error)}</p>" if error else ""
    body = f"""<section class="panel"><h2>Sign in</h2>{msg}
<form method="post" action="/dashboard/login" class="inline">
<input type="password" name="key" id="key" placeholder="API key (sgm_...)" autocomplete="off" required>
<button type="submit" id="sign-in">Sign in</button></form>
<p class="lead">Keys are created by an administrator with <code>segmint api-key create</code>.</p>
</section>"""
    return page("segmint dashboard", body, who=None, meta=None)


def overview(segments: list[Segment]) -> str:
    parts = []
    dims: dict[str, list[Segment]] = {}
    for s in segments:
        dims.setdefault(s.dimension, []).append(s)
    for dim, segs in dims.items():
        colors = [PALETTE[i % len(PALETTE)] for i in range(len(segs))]
        names = [s.name for s in segs]
        fig = go.Figure()
        fig.add_trace(go.Bar(x=names, y=[s.clients for s in segs], marker_color=colors,
                             text=[show_count(s.clients) for s in segs], textposition="outside",
                             name="clients", showlegend=False))
        fig.update_layout(title=f"{dim}: clients per segment")
        sizes = _fig_html(fig, 320)
        value = ""
        if any(s.clv_total for s in segs):
            vfig = go.Figure(go.Bar(x=names, y=[s.clv_total or 0 for s in segs], marker_color=colors,
                                    showlegend=False))
            vfig.update_layout(title=f"{dim}: total CLV per segment")
            value = _fig_html(vfig, 320)
        rows = "".join(
            f"<tr><td><code>{e(s.segment_id)}</code></td><td>{e(s.name)}</td>"
            f"<td>{e(s.definition or '')}</td><td class='num'>{show_count(s.clients)}</td>"
            f"<td class='num'>{_pct(s.share)}</td><td class='num'>{_num(s.clv_mean)}</td>"
            f"<td class='num'>{_num(s.clv_total)}</td><td class='num'>{_pct(s.churn_risk)}</td>"
            f"<td class='num'>{_move(s.share_change)}</td></tr>" for s in segs)
        parts.append(
            f"<section class='panel' id='dim-{e(dim)}'><h2>Dimension: {e(dim)}</h2>"
            f"<div class='grid2'><div>{sizes}</div><div>{value}</div></div>"
            "<table><tr><th>segment</th><th>name</th><th>definition</th><th class='num'>clients</th>"
            "<th class='num'>share</th><th class='num'>mean CLV</th><th class='num'>total CLV</th>"
            "<th class='num'>churn risk</th><th class='num'>share change since last cycle</th></tr>"
            f"{rows}</table></section>")
    if any(s.clients is None for s in segments):
        parts.append("<p class='lead'>A size reading <em>suppressed</em> counts too few clients to "
                     "publish (governance.min_cell), or is withheld so that such a size cannot be "
                     "recomputed; its share, CLV and churn risk are withheld with it.</p>")
    return "".join(parts) or "<section class='panel'><p>No segments published.</p></section>"


def client_lookup(query: str, *, view: dict[str, Any] | None, matches: list[str] | None,
                  searched: bool, can_search: bool) -> str:
    hint = "client id or the start of one" if can_search else "client id"
    form = f"""<section class="panel"><h2>Find a client</h2>
<form method="get" action="/dashboard/clients" class="inline">
<input type="text" name="q" id="q" value="{e(query)}" placeholder="{hint}" maxlength="64" required>
<button type="submit" id="find">Look up</button></form>"""
    out = [form]
    if matches:
        items = "".join(f"<li><a class='match' href='/dashboard/clients?q={e(m)}'>{e(m)}</a></li>"
                        for m in matches)
        out.append(f"<p class='lead'>Clients starting with “{e(query)}”:</p><ul id='matches'>{items}</ul>")
    elif searched and view is None:
        out.append("<p class='notice' id='not-found'>No such client in your book.</p>")
    out.append("</section>")
    if view is not None:
        out.append(_client_card(view))
    return "".join(out)


def _client_card(v: dict[str, Any]) -> str:
    segs = "".join(
        f"<tr><td>{e(s['dimension'])}</td><td><strong>{e(s['name'])}</strong> "
        f"<code>{e(s['segment_id'])}</code></td><td>{e(s['definition'] or '')}</td>"
        f"<td>{e(s['since'] or '')}</td></tr>" for s in v["segments"])
    kpis = [("CLV (12 months)", _num(v["clv"])), ("Churn risk", _pct(v["churn_risk"]))]
    kpis += [(f"Score: {k}", _num(x, ".3f")) for k, x in sorted(v["scores"].items())]
    kpi = "".join(f"<div class='kpi'><div class='label'>{e(k)}</div><div class='value'>{x}</div></div>"
                  for k, x in kpis)
    changes = "".join(
        f"<tr><td>{e(c['valid_from'])}</td><td>{e(c['dimension'])}</td><td>{e(c['segment_name'])}</td>"
        f"<td>{e(c['valid_to'] or 'current')}</td><td>{e(c['source'])}</td></tr>" for c in v["changes"])
    return f"""<section class="panel" id="client-card"><h2 id="client-id">{e(v['client_id'])}</h2>
<div class="kpis">{kpi}</div>
<h3>Segments</h3><table id="client-segments"><tr><th>dimension</th><th>segment</th>
<th>definition</th><th>since</th></tr>{segs}</table>
<h3>Latest changes</h3><table id="client-changes"><tr><th>from</th><th>dimension</th><th>segment</th>
<th>until</th><th>source</th></tr>{changes}</table></section>"""


def audiences_page(items: list[dict[str, Any]], *, can_export: bool) -> str:
    rows = "".join(
        f"<tr><td><code>{e(a['audience_id'])}</code></td><td>{e(a['name'])}</td>"
        f"<td>{e(a['definition'] or '')}</td><td class='num'>{show_count(a['clients'])}</td><td>"
        + (f"<a href='/dashboard/audiences/{e(a['audience_id'])}/export.csv'>CSV</a>" if can_export else "")
        + "</td></tr>" for a in items)
    if not items:
        return "<section class='panel'><p>No audiences published.</p></section>"
    return ("<section class='panel'><h2>Audiences</h2><table><tr><th>audience</th><th>name</th>"
            "<th>definition</th><th class='num'>clients you may see</th><th>export</th></tr>"
            f"{rows}</table></section>")


def alerts_page(items: list[dict[str, Any]], *, can_ack: bool, csrf: str) -> str:
    if not items:
        return "<section class='panel'><p>No alerts.</p></section>"
    rows = []
    for a in items:
        if a["acknowledged"]:
            action = f"acknowledged {e(a['acknowledged_at'])}"
        elif can_ack:
            action = (f"<form method='post' action='/dashboard/alerts/{e(a['alert_id'])}/ack'>"
                      f"<input type='hidden' name='csrf' value='{e(csrf)}'>"
                      "<button type='submit' class='ack'>Acknowledge</button></form>")
        else:
            action = "open"
        rows.append(f"<tr id='alert-{e(a['alert_id'])}'><td>{e(a['as_of'])}</td><td>{e(a['severity'])}</td>"
                    f"<td>{e(a['rule'])}</td><td>{e(a['message'])}</td><td>{action}</td></tr>")
    return ("<section class='panel'><h2>Alerts</h2><table><tr><th>cycle</th><th>severity</th>"
            "<th>rule</th><th>message</th><th>status</th></tr>" + "".join(rows) + "</table></section>")
