"""Request and response models of the HTTP API (what the OpenAPI document publishes).

Requests and responses are separate models; requests refuse unknown fields.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
)

ClientId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]
#: a UTC time, written with its offset (RFC 3339 date-time); stored naive in UTC
UtcDateTime = Annotated[dt.datetime, PlainSerializer(
    lambda d: (d if d.tzinfo else d.replace(tzinfo=dt.UTC)).isoformat(), return_type=str)]


def _text_only(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("expected a date-time string")
    return value


def _naive_utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


#: an event's time: a string (no numbers read as epoch seconds), stored as naive UTC
EventTime = Annotated[dt.datetime, BeforeValidator(_text_only), AfterValidator(_naive_utc)]
Token = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class Problem(_Out):
    """An error, as RFC 9457 ``application/problem+json``."""

    type: str = Field(default="about:blank")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="Validation errors: where (loc), what (msg, type).")


# -- clients -----------------------------------------------------------------------------
class ClientSegment(_Out):
    dimension: str
    segment_id: str
    name: str
    definition: str | None = Field(description="The segment's rule in plain language.")
    since: dt.date | None = Field(description="First day of the client's current spell in it.")


class SegmentChange(_Out):
    dimension: str
    segment_id: str
    segment_name: str
    valid_from: dt.date
    valid_to: dt.date | None
    source: str = Field(description="cycle (batch) or event (re-scoring between cycles).")


class ClientOut(_Out):
    """Everything the service knows of one client, from one publication."""

    client_id: str
    publication_id: str
    as_of: dt.date
    segments: list[ClientSegment]
    clv: float | None = Field(description="Customer lifetime value over the configured horizon.")
    churn_risk: float | None = Field(description="1 - probability the client is still active.")
    values: dict[str, float | None] = Field(description="CLV model outputs by name.")
    scores: dict[str, float | None] = Field(description="Propensity scores by model.")
    changes: list[SegmentChange] = Field(description="The latest segment changes, newest first.")


class ClientSearchOut(_Out):
    publication_id: str
    items: list[str]


# -- segments ----------------------------------------------------------------------------
class SegmentSummary(_Out):
    dimension: str
    segment_id: str
    name: str
    definition: str | None
    clients: int | None = Field(description="Clients now in the segment; null when suppressed "
                                "(below governance.min_cell, or withheld so that such a count "
                                "cannot be recomputed).")
    share: float | None
    clv_total: float | None
    clv_mean: float | None
    churn_risk: float | None
    share_change: float | None = Field(description="Share change since the previous cycle.")


class SegmentsOut(_Out):
    publication_id: str
    as_of: dt.date
    catalog_version: int | None
    segments: list[SegmentSummary]


class SegmentOut(SegmentSummary):
    rule_sql: str | None
    kind: str | None
    method: str | None
    persona: str | None
    profile: dict[str, Any] | None = Field(description="The catalog's segment profile.")
    publication_id: str


class MembersPage(_Out):
    publication_id: str
    items: list[str]
    next_cursor: str | None = Field(description="Pass as `after` for the next page; null at the end.")


# -- audiences ---------------------------------------------------------------------------
class AudienceOut(_Out):
    audience_id: str
    name: str | None
    definition: str | None
    clients: int | None = Field(
        description="Members the caller may see; null when suppressed (an unscoped count below "
        "governance.min_cell)."
    )


class AudiencesOut(_Out):
    publication_id: str
    items: list[AudienceOut]


class AudienceMember(_Out):
    client_id: str
    details: dict[str, Any] | None


class AudienceMembersPage(_Out):
    publication_id: str
    items: list[AudienceMember]
    next_cursor: str | None


# -- events ------------------------------------------------------------------------------
class EventIn(_In):
    """One event; the same columns as `segmint events ingest` files."""

    client_id: ClientId
    ts: EventTime = Field(description="ISO 8601 / RFC 3339 date-time; an offset is converted to UTC.")
    event_type: Token
    balance: float | None = Field(default=None, allow_inf_nan=False, ge=-1e15, le=1e15, strict=True)
    product_type: Token | None = None


class EventsIn(_In):
    events: list[EventIn] = Field(min_length=1, max_length=10_000)


class JobAccepted(_Out):
    job_id: str
    status: Literal["queued"]
    poll: str = Field(description="URL to poll for the job's status.")


class JobOut(_Out):
    job_id: str
    status: Literal["queued", "running", "done", "failed"]
    submitted_at: str
    started_at: str | None
    finished_at: str | None
    n_events: int
    attempts: int
    result: dict[str, Any] | None
    error: str | None


# -- monitoring --------------------------------------------------------------------------
class CycleOut(_Out):
    cycle_id: str
    as_of: dt.date
    previous_as_of: dt.date | None
    status: str
    refitted: str | None
    clients: int | None
    changes: int | None
    alerts: int | None
    started_at: UtcDateTime | None
    finished_at: UtcDateTime | None


class CyclesOut(_Out):
    publication_id: str
    items: list[CycleOut]


class AlertOut(_Out):
    alert_id: str
    cycle_id: str
    as_of: dt.date
    rule: str
    severity: str
    dimension: str | None
    feature: str | None
    segment_id: str | None
    value: float | None
    threshold: float | None
    message: str
    acknowledged: bool
    acknowledged_at: str | None
    acknowledged_by: str | None


class AlertsOut(_Out):
    publication_id: str
    items: list[AlertOut]


class AckIn(_In):
    note: Annotated[str, StringConstraints(max_length=500)] | None = None


class HealthOut(_Out):
    status: Literal["ok", "no_publication"]
    publication_id: str | None
    published_at: UtcDateTime | None
    as_of: dt.date | None
