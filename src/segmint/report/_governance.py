"""The report's governance section: the latest fairness audit's tables.

Group counts leave the warehouse here, so they go through small-cell suppression.
"""

from __future__ import annotations

import html

import pandas as pd

from segmint.disclosure import SUPPRESSED
from segmint.governance import latest_audit, suppress_counts
from segmint.store import Warehouse


def _e(x: object) -> str:
    return html.escape(str(x))


def _fmt(x: object, pct: bool = False) -> str:
    if x is None or (isinstance(x, float) and x != x):
        return "—"
    if isinstance(x, float):
        return f"{x:.1%}" if pct else f"{x:.2f}"
    return _e(x)


def _table(rows: list[dict], cols: list[tuple[str, str, bool]]) -> str:
    head = "".join(f"<th>{_e(label)}</th>" for _, label, _ in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{_fmt(r.get(k), pct)}</td>" for k, _, pct in cols) + "</tr>"
        for r in rows
    )
    return f"<table class='dq'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def governance_section(wh: Warehouse, *, min_cell: int = 10) -> str:
    """HTML of the latest fairness audit (empty when none was run)."""
    audit = latest_audit(wh)
    if audit is None:
        return ""
    out = ["<section class='dq' id='fairness'><h2>Fairness audit</h2>",
           f"<p class='lead'>As of {_e(audit['as_of'])}: "
           + ("no finding breaches the policy." if audit["passed"]
              else f"{len(audit['breaches'])} finding(s) breach the policy.") + "</p>"]
    if audit["findings"]:
        out.append("<ul>" + "".join(f"<li>{_e(f)}</li>" for f in audit["findings"]) + "</ul>")
    groups = pd.DataFrame(audit["groups"])
    if not groups.empty:
        groups = suppress_counts(groups[["attribute", "group", "clients"]], "clients",
                                 by="attribute", min_cell=min_cell)
        groups["share"] = [SUPPRESSED if pd.isna(c) else s for c, s in
                           zip(groups.clients, pd.DataFrame(audit["groups"]).share, strict=True)]
        groups["clients"] = [SUPPRESSED if pd.isna(c) else int(c) for c in groups.clients]
        out.append("<h3>Protected groups</h3>" + _table(
            groups.to_dict(orient="records"),
            [("attribute", "attribute", False), ("group", "group", False),
             ("clients", "clients", False), ("share", "share", True)]))
    disparity = sorted(audit["disparity"], key=lambda r: (r["disparate_impact"] is None,
                                                          r["disparate_impact"] or 0))
    if disparity:
        out.append("<h3>Disparate impact (lowest first)</h3>" + _table(
            disparity[:30],
            [("source", "source", False), ("name", "name", False), ("selection", "selection", False),
             ("attribute", "attribute", False), ("disparate_impact", "disparate impact", False),
             ("parity_difference", "parity difference", False), ("lowest_group", "lowest", False),
             ("highest_group", "highest", False), ("flagged", "flagged", False)]))
    if audit["proxies"]:
        out.append("<h3>Proxy detection</h3>" + _table(
            audit["proxies"],
            [("dimension", "dimension", False), ("attribute", "attribute", False),
             ("auc", "AUC", False), ("flagged", "flagged", False)]))
    flagged = [r for r in audit["mutual_information"] if r["flagged"]]
    if flagged:
        out.append("<h3>Features standing in for a protected attribute</h3>" + _table(
            flagged,
            [("dimension", "dimension", False), ("feature", "feature", False),
             ("attribute", "attribute", False), ("normalised_mi", "MI / entropy", True)]))
    if audit["notes"]:
        out.append("<p class='lead'>" + "<br>".join(_e(n) for n in audit["notes"]) + "</p>")
    out.append("</section>")
    return "".join(out)
