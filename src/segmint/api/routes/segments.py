"""The segment catalog, one segment's profile, paged membership."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Path, Query

from segmint.api._problems import ProblemError, problem_responses
from segmint.api._views import segment_summary
from segmint.api.deps import Allowed, ServiceDep, SnapshotDep
from segmint.api.models import ClientId, MembersPage, SegmentOut, SegmentsOut, SegmentSummary, Token

router = APIRouter(prefix="/v1/segments", tags=["segments"])

_ERRORS = problem_responses(401, 403, 404, 422, 429, 503)


@router.get("", response_model=SegmentsOut, responses=_ERRORS,
            summary="Every segment of every dimension: name, definition, size, value, movement")
def list_segments(snap: SnapshotDep, who: Allowed("segments:read")) -> SegmentsOut:
    return SegmentsOut(
        publication_id=snap.publication_id,
        as_of=snap.meta["as_of"],
        catalog_version=snap.meta["catalog_version"],
        segments=[SegmentSummary(**segment_summary(s)) for s in snap.segments()],
    )


@router.get("/{dimension}/{segment_id}", response_model=SegmentOut, responses=_ERRORS,
            summary="One segment's catalog entry and profile")
def get_segment(
    dimension: Annotated[Token, Path()],
    segment_id: Annotated[Token, Path()],
    snap: SnapshotDep,
    who: Allowed("segments:read"),
) -> SegmentOut:
    seg = snap.segment(dimension, segment_id)
    if seg is None:
        raise ProblemError(404, "no such segment")
    return SegmentOut(
        **segment_summary(seg), rule_sql=seg.rule_sql, kind=seg.kind, method=seg.method,
        persona=seg.persona, profile=json.loads(seg.profile) if seg.profile else None,
        publication_id=snap.publication_id,
    )


@router.get("/{dimension}/{segment_id}/members", response_model=MembersPage, responses=_ERRORS,
            summary="The segment's clients, a page at a time (keyset on client id)")
def segment_members(
    dimension: Annotated[Token, Path()],
    segment_id: Annotated[Token, Path()],
    snap: SnapshotDep,
    who: Allowed("members:read"),
    service: ServiceDep,
    after: Annotated[ClientId | None, Query(description="The previous page's next_cursor.")] = None,
    limit: Annotated[int, Query(ge=1, description="Page size (at most serving.max_page_size).")] = 100,
) -> MembersPage:
    if limit > service.settings.max_page_size:
        raise ProblemError(422, f"limit: at most {service.settings.max_page_size}")
    if snap.segment(dimension, segment_id) is None:
        raise ProblemError(404, "no such segment")
    items = snap.members(dimension, segment_id, book=who.book, scoped=who.scoped, after=after,
                         limit=limit)
    return MembersPage(publication_id=snap.publication_id, items=items,
                       next_cursor=items[-1] if len(items) == limit else None)
