"""Shaping publication rows into responses (shared by the JSON routes and the dashboard)."""

from __future__ import annotations

from typing import Any

from segmint.api._reader import Segment, Snapshot
from segmint.api._state import Principal


def visible(who: Principal, book: str | None) -> bool:
    """Row-level scope: a relationship manager sees the clients of their own book only."""
    return not who.scoped or (who.book is not None and book == who.book)


_UNSET: Any = object()


def client_view(snap: Snapshot, who: Principal, client_id: str, changes: int,
                found: Any = _UNSET) -> dict[str, Any] | None:
    """The lookup of one client, or None when it does not exist *or* is out of scope
    (``found``: its ``(book, doc)`` already read from ``snap``, or None)."""
    if found is _UNSET:
        found = snap.client(client_id)
    if found is None or not visible(who, found[0]):
        return None
    doc = found[1]
    segments = []
    for s in doc.get("segments") or []:
        seg = snap.segment(s["dimension"], s["segment_id"])
        segments.append({
            "dimension": s["dimension"],
            "segment_id": s["segment_id"],
            "name": s["segment_name"],
            "definition": seg.definition if seg else None,
            "since": s.get("since"),
        })
    values = doc.get("values") or {}
    clv = next((v for k, v in values.items() if k.startswith("clv_")), None)
    return {
        "client_id": client_id,
        "publication_id": snap.publication_id,
        "as_of": str(snap.meta["as_of"]),
        "segments": segments,
        "clv": clv,
        "churn_risk": values.get("churn_risk"),
        "values": values,
        "scores": doc.get("scores") or {},
        "changes": [_named(snap, c) for c in (doc.get("changes") or [])[:changes]],
    }


def segment_summary(seg: Segment) -> dict[str, Any]:
    return {
        "dimension": seg.dimension, "segment_id": seg.segment_id, "name": seg.name,
        "definition": seg.definition, "clients": seg.clients, "share": seg.share,
        "clv_total": seg.clv_total, "clv_mean": seg.clv_mean, "churn_risk": seg.churn_risk,
        "share_change": seg.share_change,
    }


def alerts_view(snap: Snapshot, acks: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for a in snap.alerts():
        ack = acks.get(a["alert_id"])
        out.append(a | {"acknowledged": ack is not None,
                        "acknowledged_at": ack["acknowledged_at"] if ack else None,
                        "acknowledged_by": ack["acknowledged_by"] if ack else None})
    return out


def _named(snap: Snapshot, change: dict[str, Any]) -> dict[str, Any]:
    """A history row with the catalog's name of its segment (the history keeps the name the
    assignment had, e.g. a learned segment's placeholder before the catalog named it)."""
    seg = snap.segment(change["dimension"], change["segment_id"])
    return change | {"segment_name": seg.name} if seg is not None else change
