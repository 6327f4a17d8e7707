"""Project-file models for randomised experiments (``experiments:`` in segmint.yaml).

Example::

    experiments:
      salt: my-bank-2026
      holdout: {share: 0.05}
      balance: {smd_threshold: 0.1}
      campaigns:
        spring_saver:
          control_share: 0.2
          dimension: value
          segments: [High, Top]
          channel: email
          offer: Bonus Saver
          cost_per_contact: 0.4
          outcome: {metric: product_opened, window_days: 30, product: Bonus Saver}

See ``docs/experiments.md``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from segmint._typing import OutcomeMetric


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HoldoutConfig(_Model):
    """The global holdout: a share of all clients that no campaign ever contacts."""

    share: float = Field(
        gt=0, le=0.5, description="Share of clients held out of every campaign (0.05 = 5%)."
    )
    name: str = Field(
        default="global_holdout",
        min_length=1,
        description="Experiment name hashed with the client id; changing it redraws the holdout "
        "for clients not yet assigned (assigned clients keep their arm).",
    )


class OutcomeConfig(_Model):
    """What counts as the response to a campaign, measured after its send date."""

    metric: OutcomeMetric = Field(
        default="purchase",
        description="purchase: any transaction (conversion); revenue: sum of transaction "
        "amounts (mean); visits: engagement events (mean); product_opened: a holding opened "
        "(conversion); label: a `labels` row with value > 0 (conversion).",
    )
    window_days: int = Field(
        default=30, ge=1, le=730, description="Days after the send date (send day included)."
    )
    category: str | None = Field(
        default=None, description="purchase/revenue: only transactions of this category."
    )
    product: str | None = Field(default=None, description="product_opened: this product name.")
    product_type: str | None = Field(
        default=None, description="product_opened: this product type."
    )
    label: str | None = Field(default=None, description="label: the label name (required).")
    channel: str | None = Field(default=None, description="visits: only this engagement channel.")

    @model_validator(mode="after")
    def _check(self) -> OutcomeConfig:
        if self.metric == "label" and not self.label:
            raise ValueError("label: required when metric is 'label'")
        return self


class CampaignConfig(_Model):
    """A campaign with a randomised control group drawn from its audience."""

    control_share: float = Field(
        default=0.2, gt=0, lt=1, description="Share of the eligible audience kept as control."
    )
    dimension: str | None = Field(
        default=None,
        description="Segmentation dimension the control is stratified by (and `segments` "
        "selects from); null: one stratum.",
    )
    segments: list[str] | None = Field(
        default=None,
        description="Only clients in these segments (ids or names) of `dimension`; "
        "null: every segment.",
    )
    stratify: bool = Field(
        default=False,
        description="true: exactly round(control_share x n) controls per segment (clients "
        "ranked by their hash; frozen once recorded, a later client can shift the ranks); "
        "false: each client independently by its hash (stable as clients arrive).",
    )
    channel: str | None = Field(default=None, description="Contact channel (email, sms, ...).")
    offer: str | None = Field(default=None, description="Offer or product promoted.")
    cost_per_contact: float = Field(default=0.0, ge=0, description="Cost of one treated contact.")
    fixed_cost: float = Field(default=0.0, ge=0, description="Cost of the campaign itself.")
    value_per_conversion: float | None = Field(
        default=None,
        ge=0,
        description="Value of one conversion for the return on cost; null: the incremental "
        "revenue (transactions) in the outcome window.",
    )
    outcome: OutcomeConfig = Field(default_factory=OutcomeConfig)
    pre_days: int = Field(
        default=90,
        ge=1,
        le=730,
        description="Days before the send date whose outcome is the CUPED covariate.",
    )


class BalanceConfig(_Model):
    """When randomisation looks broken: the balance check between arms."""

    smd_threshold: float = Field(
        default=0.1,
        gt=0,
        description="Warn when a pre-period feature's |standardised mean difference| "
        "between arms reaches this.",
    )
    features: list[str] | None = Field(
        default=None,
        description="Features compared; null: recency_days, frequency, monetary_total, "
        "tenure_days, events_90d, n_products, total_balance (those present).",
    )
    srm_alpha: float = Field(
        default=0.001,
        gt=0,
        lt=1,
        description="Warn on a sample-ratio mismatch (chi-square test of the arm counts "
        "against the configured shares) below this p-value.",
    )


class ResponseAlertConfig(_Model):
    """Alert when a segment's response moves between cycles."""

    lift_change: float | None = Field(
        default=None,
        gt=0,
        description="Alert when a segment's absolute lift changes by at least this between "
        "two consecutive campaigns of the same channel; null: no alert.",
    )
    promo_uplift_change: float | None = Field(
        default=None,
        gt=0,
        description="Alert when a segment's promotional uplift (promo-day over non-promo-day "
        "spend ratio) changes by at least this between consecutive months; null: no alert.",
    )


class ExperimentsConfig(_Model):
    """Randomised holdouts and campaign control groups.

    Assignment is a salted hash of the client id and the experiment name (md5 in
    SQL), so it is reproducible, needs no stored random state, and assigns a new
    client the moment it appears.
    """

    salt: str = Field(
        default="segmint",
        description="Project secret mixed into every assignment hash; keep it fixed.",
    )
    holdout: HoldoutConfig | None = Field(default=None, description="The global holdout.")
    campaigns: dict[str, CampaignConfig] = Field(
        default_factory=dict, description="Campaigns by name (the `campaign` of exposures)."
    )
    balance: BalanceConfig = Field(default_factory=BalanceConfig)
    alerts: ResponseAlertConfig = Field(default_factory=ResponseAlertConfig)
