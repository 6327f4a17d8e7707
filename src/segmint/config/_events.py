"""Project-file models for event triggers (`events:` in segmint.yaml)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from segmint._typing import CrossingDirection


class BalanceCrossesRule(BaseModel):
    """A client's balance crosses a threshold (an event carrying a ``balance``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float = Field(description="Balance level whose crossing triggers re-scoring.")
    direction: CrossingDirection = Field(
        default="both",
        description="up: from below to at-or-above; down: from at-or-above to below; both.",
    )
    event_types: list[str] | None = Field(
        default=None,
        description="Event types whose balance is read (default: every event with a balance).",
    )


class ProductOpenedRule(BaseModel):
    """A client opens a product (an event of type ``product_opened``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    product_type: str | list[str] | None = Field(
        default=None,
        description="Product type(s) that trigger (compared case-insensitively); "
        "omit for any product.",
    )
    event_type: str = Field(
        default="product_opened", description="Event type that announces an opening."
    )


class EngagementCollapseRule(BaseModel):
    """A client's last engagement becomes older than ``inactive_days``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    inactive_days: int = Field(
        ge=1,
        description="Days without any engagement event (table `engagement` or ingested "
        "events) after which the client is re-scored, once, on the day the gap is reached.",
    )


class EventsConfig(BaseModel):
    """Event triggers: rules marking clients for immediate re-scoring.

    Examples
    --------
    .. code-block:: yaml

        events:
          balance_crosses: {threshold: 100000}
          product_opened: {product_type: mortgage}
          engagement_collapse: {inactive_days: 30}
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    balance_crosses: BalanceCrossesRule | None = Field(
        default=None, description="Re-score when a balance crosses a threshold."
    )
    product_opened: ProductOpenedRule | None = Field(
        default=None, description="Re-score when a product (of a type) is opened."
    )
    engagement_collapse: EngagementCollapseRule | None = Field(
        default=None, description="Re-score when a client stops engaging."
    )
