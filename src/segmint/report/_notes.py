"""The report's readiness table and notes: what the data supports and what was left out."""

from __future__ import annotations

import html
import json

from segmint.sources import READINESS_TABLE
from segmint.store import Warehouse


def data_notes(wh: Warehouse) -> str:
    """HTML: the readiness checks of the last ingest (short ones first) and the notes of
    the latest features run (groups skipped, top-N options that left values out)."""
    out: list[str] = []
    if wh.has_table(READINESS_TABLE):
        rows = wh.con.execute(
            f"SELECT entity, message, short FROM {READINESS_TABLE} ORDER BY NOT short, entity"
        ).fetchall()
        n_short = sum(1 for r in rows if r[2])
        lead = (
            f"<strong>{n_short} readiness minimum(s) not met</strong>: behavioural segments "
            "on this data may mean little." if n_short else "Every readiness minimum is met."
        )
        out.append(f"<h3 id='readiness'>Readiness</h3><p class='lead'>{lead}</p>"
                   "<table><tr><th>entity</th><th>measure</th><th>status</th></tr>")
        for entity, message, short in rows:
            status = "<strong>below minimum</strong>" if short else "ok"
            text = message.split(": ", 1)[-1]
            out.append(f"<tr><td>{html.escape(entity)}</td><td>{html.escape(text)}</td>"
                       f"<td>{status}</td></tr>")
        out.append("</table>")
    if wh.has_table("_runs"):
        row = wh.con.execute(
            "SELECT counts FROM _runs WHERE command = 'features' AND status = 'ok' "
            "ORDER BY started_at DESC LIMIT 1"
        ).fetchone()
        counts = json.loads(row[0]) if row and isinstance(row[0], str) else (row[0] if row else None)
        notes = (counts or {}).get("notes") or []
        if notes:
            out.append("<h3 id='feature-notes'>Left out of the features</h3><ul>")
            out += [f"<li>{html.escape(n)}</li>" for n in notes]
            out.append("</ul>")
    return "".join(out)
