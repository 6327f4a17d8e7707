"""Update cycles, as recorded by monitoring."""

from __future__ import annotations

from fastapi import APIRouter

from segmint.api._problems import problem_responses
from segmint.api.deps import Allowed, SnapshotDep
from segmint.api.models import CycleOut, CyclesOut

router = APIRouter(prefix="/v1/cycles", tags=["cycles"])


@router.get("", response_model=CyclesOut, responses=problem_responses(401, 403, 429, 503),
            summary="The update cycles, newest first")
def list_cycles(snap: SnapshotDep, who: Allowed("cycles:read")) -> CyclesOut:
    return CyclesOut(publication_id=snap.publication_id,
                     items=[CycleOut(**c) for c in snap.cycles()])
