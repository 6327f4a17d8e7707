"""The segment catalog's typed results (pydantic): what ``catalog.json`` holds.

The JSON schema of :class:`Catalog` is published at ``docs/catalog.schema.json``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_CFG = ConfigDict(extra="forbid")


class FeatureStat(BaseModel):
    """One numeric feature in one segment, against the whole population."""

    model_config = _CFG
    feature: str
    mean: float | None = Field(description="Segment mean (nulls ignored).")
    median: float | None = Field(description="Segment median (interpolated, nulls ignored).")
    population_mean: float | None
    population_median: float | None
    population_std: float | None = Field(description="Population standard deviation (population form).")
    lift: float | None = Field(
        description="Standardised mean difference: (mean - population_mean) / population_std; "
        "0 when the population does not vary."
    )


class ValueStat(BaseModel):
    """A value measure (e.g. revenue_12m) summed and averaged over a segment."""

    model_config = _CFG
    metric: str
    total: float | None
    mean: float | None
    population_mean: float | None
    share_of_total: float | None = Field(description="Segment total / population total.")


class PropensityStat(BaseModel):
    """A propensity score (a ``propensity_*`` feature) in one segment."""

    model_config = _CFG
    feature: str = Field(description="The score's feature column, ``propensity_<model>``.")
    mean: float | None = Field(description="Mean score of the segment's clients.")
    population_mean: float | None
    top_decile_share: float | None = Field(
        description="Share of the segment's clients in the population's top score decile "
        "(0.1 when the segment is like the population)."
    )
class LabelStat(BaseModel):
    """An observed outcome (a label: churn, campaign response) in one segment."""

    model_config = _CFG
    label: str
    clients: int | None = Field(
        description="Clients of the segment with an observation of the label (null: suppressed)."
    )
    rate: float | None = Field(
        description="Mean of their latest value (the label rate for a 1/0 label)."
    )
    population_rate: float | None = Field(description="The same over the whole population.")


class SegmentProfile(BaseModel):
    """Who is in a segment: size, value, churn risk and feature lifts."""

    model_config = _CFG
    size: int | None = Field(description="Clients in the segment (null: suppressed).")
    share: float | None = Field(description="size / clients in the dimension.")
    suppressed: bool = Field(
        default=False,
        description="The size is below governance.min_cell, or withheld so that such a size "
        "cannot be recomputed: every count and aggregate of the segment is null.",
    )
    value: list[ValueStat]
    churn_risk: float | None = Field(description="Mean churn_risk of the segment.")
    population_churn_risk: float | None
    features: list[FeatureStat]
    top_features: list[str] = Field(description="Features with the largest |lift|, largest first.")
    propensities: list[PropensityStat] = Field(
        default_factory=list, description="Each propensity score's mean and top-decile share."
    )
    labels: list[LabelStat] = Field(
        default_factory=list, description="Observed outcomes (labels) of the segment's clients."
    )

    def feature(self, name: str) -> FeatureStat | None:
        return next((f for f in self.features if f.feature == name), None)

    def value_of(self, metric: str) -> ValueStat | None:
        return next((v for v in self.value if v.metric == metric), None)


class Condition(BaseModel):
    """``feature op threshold`` on original (unscaled) feature values."""

    model_config = _CFG
    feature: str
    op: Literal["<=", ">"]
    threshold: float


class SegmentRule(BaseModel):
    """An observable rule: a conjunction of conditions that reproduces membership."""

    model_config = _CFG
    segment_id: str
    order: int = Field(description="Position in the rule set's CASE (first match wins).")
    conditions: list[Condition]
    sql: str = Field(description="The conditions as a SQL boolean expression.")
    english: str
    precision: float | None = Field(
        description="Share of clients matching the rule that are in the segment (null when the "
        "segment is suppressed)."
    )
    recall: float | None = Field(description="Share of the segment's clients that match the rule.")
    coverage: float | None = Field(description="Share of all clients that match the rule.")


class RuleSet(BaseModel):
    """All rules of a dimension applied in order as one SQL CASE expression."""

    model_config = _CFG
    sql: str = Field(description="One CASE expression over the features table giving segment_id.")
    fallback: str = Field(
        description="segment_id given to clients no rule matches: the most common segment among "
        "the unmatched clients of the fitting sample ('unmatched' when every client matched)."
    )
    fidelity: float = Field(description="Share of all clients whose CASE result equals their assignment.")
    sample_size: int = Field(description="Clients the decision trees were fitted on (0: definition).")
    max_conditions: int
    kind: Literal["surrogate", "definition"] = Field(
        default="surrogate",
        description="definition: a rule-defined dimension's own rules, exactly; surrogate: "
        "decision-tree rules that approximate a learned dimension.",
    )


class Fact(BaseModel):
    """A number a persona sentence states, and where it comes from in the profile."""

    model_config = _CFG
    metric: str = Field(description="Path in the segment profile, e.g. 'feature.recency_days.median'.")
    value: float
    display: str = Field(description="The number as written in the sentence.")


class NameTerm(BaseModel):
    """A fact a term of a generated name rests on: ``value op threshold`` holds."""

    model_config = _CFG
    term: str = Field(description="The word(s) of the name, e.g. 'Lapsed', 'Digital-first'.")
    metric: str = Field(description="Path in the segment profile, e.g. 'feature.recency_days.lift'.")
    value: float
    op: Literal[">=", "<="]
    threshold: float


class PersonaSentence(BaseModel):
    model_config = _CFG
    text: str
    facts: list[Fact]


class Segment(BaseModel):
    """One segment's catalog entry."""

    model_config = _CFG
    segment_id: str
    name: str
    name_source: Literal["configured", "model", "generated"] = Field(
        description="configured: segmint.yaml; model: a rule-defined dimension's own name; "
        "generated: from the profile."
    )
    name_terms: list[NameTerm] = Field(
        default_factory=list,
        description="Generated names: the profile fact behind each term (empty otherwise).",
    )
    rule: SegmentRule | None = Field(description="None when the segment is the fallback with no rule.")
    profile: SegmentProfile
    persona: list[PersonaSentence]
    cross_sell: list[str] = Field(
        default_factory=list,
        description="The segment's strongest upgrade paths in words (from held products' opened "
        "dates, filled by the targeting stage when there are holdings), e.g. 'Clients in this "
        "segment who hold a card open savings next at 3.1x the base rate (...)'.",
    )


class CrossTabCell(BaseModel):
    model_config = _CFG
    segment_id: str
    other_segment_id: str
    clients: int | None = Field(description="Clients in both segments (null: suppressed).")
    suppressed: bool = False


class CrossTab(BaseModel):
    """Clients by segment of this dimension and segment of another."""

    model_config = _CFG
    other_dimension: str
    cells: list[CrossTabCell]


class Evidence(BaseModel):
    """How a learned dimension's number of segments was chosen."""

    model_config = _CFG
    chosen_k: int | None
    table: list[dict[str, float | None]]
    rule: str | None = Field(default=None, description="The k-selection rule applied, in words.")
    feature_weights: dict[str, float] = Field(
        default_factory=dict,
        description="Weight of each input family in the clustering space (1 = full weight).",
    )


class Dimension(BaseModel):
    model_config = _CFG
    dimension: str
    kind: Literal["rules", "learned"]
    method: str | None
    model_version: str
    n_clients: int | None = Field(description="Clients in the dimension (null: suppressed).")
    features: list[str] = Field(description="Numeric features profiled and offered to the rule trees.")
    segments: list[Segment]
    rules: RuleSet
    evidence: Evidence | None
    model_params: dict[str, Any] | None = Field(description="The model's params (rules or learned).")
    crosstabs: list[CrossTab]


class Catalog(BaseModel):
    """A versioned segment catalog: every segment of every dimension, formally defined."""

    model_config = _CFG
    version: int = Field(description="1 + the highest version in the warehouse's segment_catalog.")
    created_at: dt.datetime
    as_of: dt.date
    project: str
    segmint_version: str
    dimensions: list[Dimension]
    min_cell: int | None = Field(
        default=None,
        description="Smallest count released (governance.min_cell) when the catalog left the "
        "warehouse; null: the warehouse's own, unsuppressed copy.",
    )

    def dimension(self, name: str) -> Dimension:
        for d in self.dimensions:
            if d.dimension == name:
                return d
        raise KeyError(name)
