"""Project-file models for the targeting stage (``targeting:`` in segmint.yaml).

Example::

    targeting:
      outcomes:
        churn: {kind: churn, horizon_days: 90, active_days: 90}
        next_purchase: {kind: purchase, horizon_days: 30}
        investment_upgrade: {kind: product_opened, product_type: investment, horizon_days: 90}
        travel_expansion: {kind: category_first_spend, category: travel, horizon_days: 90}
        referral: {kind: label, label: referral, horizon_days: 60}
      propensity:
        churn: {outcome: churn}
        next_purchase: {outcome: next_purchase, as_of_dates: 8, every_days: 14}

An *outcome* is a per-client 0/1 target observed in the window ``(as_of, as_of +
horizon_days]``; a *propensity model* predicts one outcome from the features as of
``as_of`` (see ``docs/targeting.md``).
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from segmint._typing import LabelPopulation, OutcomeKind

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OutcomeConfig(_Model):
    """One outcome: what counts as a positive in the window after an as_of date."""

    kind: OutcomeKind = Field(
        description="label: a row of the `labels` entity with this `label` and value > 0 observed "
        "in the window; purchase: at least one purchase (amount >= 0); product_opened: a holding "
        "of `product_type` opened (eligible: clients without an open one at as_of); "
        "category_first_spend: a first purchase in `category` (eligible: clients who never "
        "bought in it), or in any category new to the client when `category` is not set; "
        "churn: no purchase in the window, or every product closed by its end (eligible: "
        "clients with a purchase in the `active_days` before as_of)."
    )
    horizon_days: int = Field(default=90, ge=1, le=3660, description="Window length h, in days.")
    label: str | None = Field(default=None, description="Label name (kind `label`).")
    label_population: LabelPopulation = Field(
        default="all",
        description="Kind `label`: `all` clients (no positive row in the window = 0), or only "
        "the clients `labelled` in the window (a row with any value), e.g. campaign targets.",
    )
    product_type: str | None = Field(
        default=None, description="Product type (kind `product_opened`)."
    )
    category: str | None = Field(
        default=None,
        description="Category (kind `category_first_spend`); any category new to the client "
        "when not set.",
    )
    active_days: int = Field(
        default=90, ge=1, le=3660,
        description="Kind `churn`: clients with a purchase in this many days up to as_of are "
        "eligible (the others have churned already).",
    )

    @model_validator(mode="after")
    def _check_kind(self) -> OutcomeConfig:
        need = {"label": "label", "product_opened": "product_type"}
        key = need.get(self.kind)
        if key is not None and getattr(self, key) is None:
            raise ValueError(f"kind {self.kind!r} needs `{key}`")
        for other, kinds in (
            ("label", {"label"}), ("product_type", {"product_opened"}),
            ("category", {"category_first_spend"}),
        ):
            if getattr(self, other) is not None and self.kind not in kinds:
                raise ValueError(f"`{other}` applies to kind {sorted(kinds)[0]!r} only")
        return self


class PropensityConfig(_Model):
    """One propensity model: its outcome, training dates and inputs."""

    outcome: str = Field(description="Name of an outcome declared under `targeting.outcomes`.")
    as_of_dates: int = Field(
        default=6, ge=3, le=60,
        description="Number of as-of dates the examples are drawn from: the latest with a "
        "complete window, and the ones `every_days` apart before it. The latest is the "
        "evaluation date; the one before it calibrates; the rest train.",
    )
    every_days: int = Field(default=30, ge=1, le=366, description="Days between as-of dates.")
    exclude: list[str] = Field(
        default_factory=list,
        description="Feature columns never used as inputs (protected attributes and "
        "`propensity_*` columns are always excluded).",
    )
    min_positives: int = Field(
        default=30, ge=1,
        description="Fewest positives (and negatives) the training and evaluation sets must hold.",
    )
    isotonic_min_positives: int = Field(
        default=500, ge=1,
        description="Isotonic calibration is a candidate only when the calibration set holds "
        "this many positives; sigmoid otherwise (isotonic overfits small sets).",
    )
    max_iter: int = Field(default=200, ge=10, le=5000, description="Boosting iterations (trees).")
    learning_rate: float = Field(default=0.05, gt=0, le=1, description="Boosting learning rate.")
    max_categories: int = Field(
        default=200, ge=2, le=250,
        description="A text feature with more distinct values than this is refused (named in "
        "the error); add it to `exclude`.",
    )
    seed: int = Field(default=0, description="Random seed of the models.")


class TargetingConfig(_Model):
    """Outcomes and propensity models (``targeting:`` in segmint.yaml)."""

    outcomes: dict[str, OutcomeConfig] = Field(
        default_factory=dict, description="Outcome name -> definition."
    )
    propensity: dict[str, PropensityConfig] = Field(
        default_factory=dict,
        description="Model name -> definition; scored every run/update cycle into the table "
        "`scores` and the feature `propensity_<name>`.",
    )

    @field_validator("outcomes", "propensity")
    @classmethod
    def _names(cls, value: dict) -> dict:
        for name in value:
            if not _NAME.match(name):
                raise ValueError(
                    f"{name!r}: names are lower-case letters, digits and _ (a column name)"
                )
        return value

    @model_validator(mode="after")
    def _check_outcomes(self) -> TargetingConfig:
        for name, model in self.propensity.items():
            if model.outcome not in self.outcomes:
                raise ValueError(
                    f"propensity.{name}.outcome: {model.outcome!r} is not a declared outcome "
                    f"(outcomes: {', '.join(self.outcomes) or 'none'})"
                )
        return self
