"""Audiences: the list, paged membership, the CSV export (row-level scope applies)."""

from __future__ import annotations

import csv
import io
import json
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from segmint.api._problems import ProblemError, problem_responses
from segmint.api.deps import Allowed, ServiceDep, SnapshotDep
from segmint.api.models import (
    AudienceMember,
    AudienceMembersPage,
    AudienceOut,
    AudiencesOut,
    ClientId,
    Token,
)

router = APIRouter(prefix="/v1/audiences", tags=["audiences"])

_ERRORS = problem_responses(401, 403, 404, 422, 429, 503)


@router.get("", response_model=AudiencesOut, responses=_ERRORS, summary="The published audiences")
def list_audiences(snap: SnapshotDep, who: Allowed("audiences:read")) -> AudiencesOut:
    items = snap.audiences(book=who.book, scoped=who.scoped)
    return AudiencesOut(publication_id=snap.publication_id, items=[AudienceOut(**a) for a in items])


@router.get("/{audience_id}/members", response_model=AudienceMembersPage, responses=_ERRORS,
            summary="An audience's clients, a page at a time")
def audience_members(
    audience_id: Annotated[Token, Path()],
    snap: SnapshotDep,
    who: Allowed("members:read"),
    service: ServiceDep,
    after: Annotated[ClientId | None, Query()] = None,
    limit: Annotated[int, Query(ge=1)] = 100,
) -> AudienceMembersPage:
    if limit > service.settings.max_page_size:
        raise ProblemError(422, f"limit: at most {service.settings.max_page_size}")
    if snap.audience(audience_id) is None:
        raise ProblemError(404, "no such audience")
    rows = snap.audience_members(audience_id, book=who.book, scoped=who.scoped, after=after,
                                 limit=limit)
    return AudienceMembersPage(
        publication_id=snap.publication_id,
        items=[AudienceMember(client_id=c, details=d) for c, d in rows],
        next_cursor=rows[-1][0] if len(rows) == limit else None,
    )


@router.get("/{audience_id}/export", responses=_ERRORS | {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}},
          "description": "client_id and the audience's detail columns, one row per client"}},
    response_class=Response, summary="The audience as a CSV file (the caller's scope)")
def export_audience(
    audience_id: Annotated[Token, Path()],
    snap: SnapshotDep,
    who: Allowed("audiences:export"),
) -> Response:
    if snap.audience(audience_id) is None:
        raise ProblemError(404, "no such audience")
    rows = snap.audience_members(audience_id, book=who.book, scoped=who.scoped, after=None,
                                 limit=10_000_000)
    keys = sorted({k for _, d in rows for k in (d or {})})
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["client_id", *keys])
    for client_id, details in rows:
        d = details or {}
        writer.writerow([client_id, *(json.dumps(d[k]) if isinstance(d.get(k), dict | list)
                                      else d.get(k, "") for k in keys)])
    return Response(buf.getvalue(), media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="audience-{audience_id}.csv"',
        "X-Publication-Id": snap.publication_id})
