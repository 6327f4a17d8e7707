"""Client lookup and search (row-level scope applies)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from segmint.api._problems import ProblemError, problem_responses
from segmint.api._views import client_view
from segmint.api.deps import Allowed, ServiceDep, SnapshotDep
from segmint.api.models import ClientId, ClientOut, ClientSearchOut

router = APIRouter(prefix="/v1/clients", tags=["clients"])

_ERRORS = problem_responses(401, 403, 404, 422, 429, 503)


@router.get("/{client_id}", response_model=ClientOut, responses=_ERRORS,
            summary="A client's segments, definitions, scores, CLV and latest changes")
async def get_client(
    client_id: Annotated[ClientId, Path(description="The client id (a pseudonym when pseudonymisation is on).")],
    who: Allowed("clients:read"),
    service: ServiceDep,
    changes: Annotated[int | None, Query(ge=0, le=100, description="How many changes (default: the configured number).")] = None,
):
    n = service.settings.history_changes if changes is None else changes
    snap, found = await service.client(client_id)
    view = client_view(snap, who, client_id, n, found)
    if view is None:
        raise ProblemError(404, "no such client in your scope")
    # built from the publication's own JSON; the response model documents it
    return JSONResponse(view)


@router.get("", response_model=ClientSearchOut, responses=_ERRORS,
            summary="Search client ids by prefix")
def search_clients(
    prefix: Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")],
    snap: SnapshotDep,
    who: Allowed("clients:search"),
    service: ServiceDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> ClientSearchOut:
    items = snap.search(prefix, book=who.book, scoped=who.scoped, limit=limit)
    return ClientSearchOut(publication_id=snap.publication_id, items=items)
