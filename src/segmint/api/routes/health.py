"""Health (no key needed) and Prometheus metrics (admin keys)."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from segmint.api._problems import problem_responses
from segmint.api._reader import NotPublishedError
from segmint.api.deps import Allowed, ServiceDep
from segmint.api.models import HealthOut

router = APIRouter(tags=["health"])


@router.get("/v1/health", response_model=HealthOut, summary="Liveness and the current publication")
def health(service: ServiceDep) -> HealthOut:
    try:
        with service.store.snapshot() as snap:
            m = snap.meta
            return HealthOut(status="ok", publication_id=str(m["publication_id"]),
                             published_at=m["published_at"], as_of=m["as_of"])
    except NotPublishedError:
        return HealthOut(status="no_publication", publication_id=None, published_at=None,
                         as_of=None)


@router.get("/metrics", response_class=PlainTextResponse,
            responses=problem_responses(401, 403, 429) | {
                200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                      "description": "Prometheus text format 0.0.4"}},
            summary="Prometheus metrics")
def metrics(request: Request, who: Allowed("metrics:read"), service: ServiceDep) -> PlainTextResponse:
    gauges: dict[str, tuple[str, float]] = {
        "segmint_event_jobs_pending": ("Event jobs queued or running.", service.state.queue_length()),
    }
    try:
        with service.store.snapshot() as snap:
            published = snap.meta["published_at"]
            if isinstance(published, dt.datetime):
                age = (dt.datetime.now(dt.UTC).replace(tzinfo=None)
                       - published.replace(tzinfo=None)).total_seconds()
                gauges["segmint_publication_age_seconds"] = ("Seconds since the current publication.", age)
            gauges["segmint_publication_clients"] = ("Clients in the current publication.",
                                                     float(snap.meta["clients"]))
    except NotPublishedError:
        pass
    text = request.app.state.metrics.render(gauges)
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")
