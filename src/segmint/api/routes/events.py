"""Events: validated, queued, re-scored by the event worker; a job id to poll."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from segmint.api._problems import ProblemError, problem_responses
from segmint.api.deps import Allowed, ServiceDep
from segmint.api.models import EventsIn, JobAccepted, JobOut

router = APIRouter(prefix="/v1/events", tags=["events"])


@router.post("", status_code=202, response_model=JobAccepted,
             responses=problem_responses(400, 401, 403, 413, 422, 429, 503),
             summary="Queue events for re-scoring the clients the project's rules mark")
def post_events(body: EventsIn, request: Request, who: Allowed("events:write"),
                service: ServiceDep) -> JobAccepted:
    if service.rescore is None:
        raise ProblemError(503, "this service was started without event re-scoring")
    if len(body.events) > service.settings.max_events:
        # the schema's maxItems: a request that violates it is invalid (422), not too large
        # in bytes (413 is the body-size limit's answer)
        raise ProblemError(422, f"at most {service.settings.max_events} events per request", errors=[
            {"loc": ["body", "events"], "msg": f"more than {service.settings.max_events} items",
             "type": "too_long"}])
    events = [e.model_dump(mode="json") for e in body.events]
    job_id = service.state.submit_job(who.key_id, events)
    worker = getattr(request.app.state, "worker", None)
    if worker is not None:
        worker.wake.set()
    return JobAccepted(job_id=job_id, status="queued", poll=f"/v1/events/jobs/{job_id}")


@router.get("/jobs/{job_id}", response_model=JobOut,
            responses=problem_responses(401, 403, 404, 422, 429),
            summary="An event job's status and result")
def get_job(job_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")], who: Allowed("events:read"),
            service: ServiceDep) -> JobOut:
    job = service.state.job(job_id)
    # another key's job is answered like a missing one (admins see every job)
    if job is None or (who.role != "admin" and job["key_id"] != who.key_id):
        raise ProblemError(404, "no such job")
    job.pop("key_id")
    return JobOut(**job)
