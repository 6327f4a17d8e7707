"""Alerts of the update cycles, and their acknowledgement (kept in the service state)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from segmint.api._problems import ProblemError, problem_responses
from segmint.api._views import alerts_view
from segmint.api.deps import Allowed, ServiceDep, SnapshotDep
from segmint.api.models import AckIn, AlertOut, AlertsOut

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])


@router.get("", response_model=AlertsOut, responses=problem_responses(401, 403, 422, 429, 503),
            summary="Alerts, newest cycle first")
def list_alerts(
    snap: SnapshotDep, who: Allowed("alerts:read"), service: ServiceDep,
    acknowledged: Annotated[bool | None, Query(description="Only (un)acknowledged alerts.")] = None,
) -> AlertsOut:
    items = alerts_view(snap, service.state.acks())
    if acknowledged is not None:
        items = [a for a in items if a["acknowledged"] is acknowledged]
    return AlertsOut(publication_id=snap.publication_id, items=[AlertOut(**a) for a in items])


@router.post("/{alert_id}/ack", response_model=AlertOut,
             responses=problem_responses(400, 401, 403, 404, 413, 422, 429, 503),
             summary="Acknowledge an alert (the first acknowledgement stays)")
def acknowledge(
    alert_id: Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")],
    snap: SnapshotDep, who: Allowed("alerts:ack"), service: ServiceDep,
    body: AckIn | None = None,
) -> AlertOut:
    if not any(a["alert_id"] == alert_id for a in snap.alerts()):
        raise ProblemError(404, "no such alert")
    service.state.acknowledge(alert_id, who.key_id, body.note if body else None)
    item = next(a for a in alerts_view(snap, service.state.acks([alert_id]))
                if a["alert_id"] == alert_id)
    return AlertOut(**item)
