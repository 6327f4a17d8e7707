"""Project-file models for the features stage."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from segmint._typing import FeatureGroupName, TimeUnit

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

    @field_validator("groups")
    @classmethod
    def _unique_groups(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and len(set(v)) != len(v):
            raise ValueError("groups must be distinct")
        return v
