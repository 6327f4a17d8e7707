"""Project-file models for the features stage."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from segmint._typing import CustomFeatureEntity, FeatureGroupName, TimeUnit
from segmint.config._user_sql import parse_user_expression

_FEATURE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

#: columns a user-defined feature may read, per entity (the canonical schema's)
CUSTOM_ENTITY_COLUMNS: dict[str, tuple[str, ...]] = {
    "transactions": ("transaction_id", "client_id", "ts", "amount", "currency", "category",
                     "channel", "is_promotion", "is_refund"),
    "engagement": ("client_id", "ts", "channel", "event_type"),
    "holdings": ("client_id", "product_id", "product", "product_type", "opened_at",
                 "closed_at", "balance"),
    "profitability": ("client_id", "period", "revenue", "cost"),
    "labels": ("client_id", "label", "value", "observed_at"),
    "attributes": ("client_id", "attribute", "value", "valid_from"),
}


class CustomFeature(BaseModel):
    """A user-defined feature: an aggregate over one entity's rows per client, as of a date.

    The engine applies the as-of cut (and the window) itself: the expression never sees a
    row after as_of. Runs on every engine (the SQL is DuckDB's dialect, transpiled for
    Spark).

    Examples
    --------
    .. code-block:: yaml

        features:
          custom:
            - name: salary_payments_90d
              description: Salary payments received in the last 90 days
              unit: count
              entity: transactions
              filter: "category = 'salary'"
              window_days: 90
              aggregate: "COUNT(*)"
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Feature (column) name: lower-case letters, digits, underscores.")
    description: str = Field(description="What it measures, in words.")
    unit: str = Field(default="", description="Unit: count, days, the currency, share...")
    entity: CustomFeatureEntity = Field(description="The entity whose rows are aggregated.")
    filter: str | None = Field(
        default=None, description="Optional SQL condition on the entity's columns (DuckDB dialect)."
    )
    window_days: int | None = Field(
        default=None, ge=1,
        description="Only rows of the last this-many days up to as_of (by the entity's date).",
    )
    aggregate: str = Field(
        description="SQL aggregate over the entity's columns, e.g. `COUNT(*)`, `SUM(amount)`."
    )
    if_no_data: float | None = Field(
        default=None,
        description="Value of a client without any row; default: null (0 for an aggregate "
        "that is a plain COUNT).",
    )

    @model_validator(mode="after")
    def _check(self) -> CustomFeature:
        where = f"features.custom.{self.name}"
        if not _FEATURE_NAME.match(self.name):
            raise ValueError(
                f"{where}: name: use lower-case letters, digits and underscores, starting "
                "with a letter"
            )
        if self.name.startswith("attr_"):
            raise ValueError(f"{where}: name: attr_ is reserved for client attributes")
        columns = set(CUSTOM_ENTITY_COLUMNS[self.entity])
        parse_user_expression(self.aggregate, what=f"{where}.aggregate", columns=columns,
                              aggregate=True)
        if self.filter is not None:
            parse_user_expression(self.filter, what=f"{where}.filter", columns=columns,
                                  aggregate=False)
        return self

DEFAULT_GROUPS: tuple[FeatureGroupName, ...] = (
    "rfm",
    "rfm_scores",
    "behaviour",
    "engagement",
    "holdings",
    "value",
    "clv",
)


class FeaturesConfig(BaseModel):
    """Options of the features stage (`features:` in segmint.yaml).

    Examples
    --------
    .. code-block:: yaml

        features:
          groups: [rfm, rfm_scores, behaviour]
          time_unit: weeks
          top_categories: 8
          engagement_windows_days: [30, 90]
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    groups: list[FeatureGroupName] | None = Field(
        default=None,
        description="Feature groups to compute. Omit to compute every group whose entities "
        "exist in the warehouse; a listed group whose entity is missing is an error.",
    )
    time_unit: TimeUnit = Field(
        default="weeks",
        description="Unit of the buy-till-you-die summary (btyd_t_x, btyd_T): days, weeks "
        "(7 days) or months (365.25/12 days).",
    )
    score_bins: int = Field(
        default=5, ge=2, le=100, description="Number of n-tiles of the r/f/m scores (5 = quintiles)."
    )
    top_categories: int = Field(
        default=10,
        ge=0,
        le=200,
        description="share_cat_<category> is computed for this many categories, the ones with "
        "the largest total purchase spend across all clients as of the date.",
    )
    top_channels: int = Field(
        default=10,
        ge=0,
        le=200,
        description="share_channel_<channel> (transactions) and events_<channel>_<window> "
        "(engagement) for at most this many channels, the most frequent ones.",
    )
    top_product_types: int = Field(
        default=10, ge=0, le=200, description="n_products_<type> for at most this many types."
    )
    trend_window_days: int = Field(
        default=90,
        ge=1,
        description="spend_last_window covers the last this-many days up to as_of; "
        "spend_trend compares it with the window before.",
    )
    engagement_windows_days: list[int] = Field(
        default=[30, 90],
        min_length=1,
        description="Windows of the engagement counts (events_30d, ...); engagement_trend "
        "compares the first window with the one before it.",
    )
    value_window_months: int = Field(
        default=12, ge=1, le=120, description="Window of revenue/cost/margin (revenue_12m, ...)."
    )
    clv_horizon_months: int = Field(
        default=12, ge=1, le=120, description="Horizon of clv_<n>m and expected_purchases_<n>m."
    )
    clv_discount_rate: float = Field(
        default=0.1, ge=0, lt=1, description="Annual discount rate of the CLV."
    )
    clv_margin: float = Field(
        default=1.0, gt=0, le=1, description="Share of spend that is margin, applied to the CLV."
    )
    clv_refit_days: int = Field(
        default=90,
        ge=0,
        description="The clv group scores with the latest CLV model version (warehouse table "
        "`clv_models`) fitted on or before as_of, and fits and stores a new version once that "
        "one is this many days old (0: at every as_of). Re-running an as_of reuses its "
        "version; event re-scoring never refits.",
    )
    digital_channels: list[str] = Field(
        default=["web", "mobile", "app"],
        description="Channels counted as digital by digital_share (compared case-insensitively).",
    )
    currency: str | None = Field(
        default=None,
        description="Currency shown as the unit of money features; defaults to "
        "`contracts.currency`. Amounts are not converted: ingestion stores them in the "
        "project currency.",
    )
    custom: list[CustomFeature] = Field(
        default_factory=list,
        description="User-defined features (group `custom`): aggregates over one entity per "
        "client, with the as-of cut and window applied by the engine.",
    )
    incremental: bool = Field(
        default=True,
        description="Keep the incremental feature state (per-client aggregates in the "
        "warehouse) during update cycles: each cycle folds the transactions an ingest "
        "appended instead of recomputing from the whole history; the numbers are the same. "
        "`segmint features` reads the state too when it is in sync. False: always "
        "recompute from the history (and no state tables).",
    )

    @field_validator("engagement_windows_days")
    @classmethod
    def _positive_unique(cls, v: list[int]) -> list[int]:
        if any(w < 1 for w in v):
            raise ValueError("windows must be positive numbers of days")
        if len(set(v)) != len(v):
            raise ValueError("windows must be distinct")
        return v

    @field_validator("custom")
    @classmethod
    def _unique_custom(cls, v: list[CustomFeature]) -> list[CustomFeature]:
        names = [f.name for f in v]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"custom feature(s) declared twice: {', '.join(twice)}")
        return v

    @field_validator("groups")
    @classmethod
    def _unique_groups(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and len(set(v)) != len(v):
            raise ValueError("groups must be distinct")
        return v
