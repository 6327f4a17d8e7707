"""Event re-scoring: store the events, evaluate the trigger rules, re-score the clients
they mark, now — under the project lock."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from segmint.governance import consent_predicates
from segmint.monitoring import EventsResult, RescoreResult
from segmint.monitoring import ingest_events as _ingest_events
from segmint.monitoring import rescore as _rescore
from segmint.pipeline import _steps as steps
from segmint.pipeline._workspace import Workspace
from segmint.store import project_lock


def ingest_events(
    ws: Workspace, path: str | Path, *, as_of: dt.date | str | None = None
) -> EventsResult:
    """Store a file of events and re-score the clients the ``events:`` rules mark (with
    the batch's consent rules: :func:`segmint.governance.consent_predicates`)."""
    with project_lock(ws.warehouse_path):
        with ws.warehouse() as wh:
            no_learned, no_dimension = consent_predicates(wh.con, ws.config.governance.consent)
            result = _ingest_events(
                wh,
                ws.resolve(str(path)),
                rules=ws.config.events,
                features=ws.config.features,
                currency=ws.config.contracts.currency,
                as_of=steps.as_date(as_of),
                exclude_learned=no_learned,
                exclude_all=no_dimension,
            )
        if result.rescore is not None:
            steps.publish(ws, kind="event")
    return result


def rescore(ws: Workspace, client_ids, *, as_of: dt.date | str | None = None) -> RescoreResult:
    """Recompute these clients' features and segments now (default: latest data day),
    with the batch's consent rules."""
    day = steps.as_date(as_of) or steps.default_as_of(ws)
    with project_lock(ws.warehouse_path):
        with ws.warehouse() as wh:
            no_learned, no_dimension = consent_predicates(wh.con, ws.config.governance.consent)
            result = _rescore(
                wh, list(client_ids), day,
                features=ws.config.features, currency=ws.config.contracts.currency,
                exclude_learned=no_learned, exclude_all=no_dimension,
            )
        steps.publish(ws, kind="event")
    return result
