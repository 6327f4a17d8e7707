"""Project-file models for targeting: audiences (``audiences:``) and next-best-offer
(``nbo:``) in segmint.yaml.

Example::

    audiences:
      card_upsell:
        segments: {value: [Top, High], lifecycle: [Growing]}
        match: all
        where: "propensity_upgrade >= 0.3 AND n_products_card = 0"
        stable_cycles: 3
        exclude:
          no_consent: true
          contacted_within_days: 30
          holdout_share: 0.1
          audiences: [dormant_winback]
        size: 5000
        rank_by: stability_weighted
        score: propensity_upgrade
      savers_lookalike:
        lookalike: {seed_segment: {behaviour: behaviour-3}, method: cosine}
        size: 2000

    nbo:
      offers:
        - name: savings_push
          product: savings
          eligible: "n_products_savings = 0"
          channel: email
          value: 120
          cost: 0.5
      policy: {max_offers: 1, capacity: {email: 10000}}
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from segmint._typing import AudienceMatch, AudienceRank, LookalikeMethod
from segmint.config._sql import check_expression

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExclusionConfig(_Model):
    """Clients left out of an audience, each with its reason recorded."""

    no_consent: bool = Field(
        default=False,
        description="Leave out clients whose `consent_column` is false (or null, unless "
        "`consent_missing_means` is true). Without such a column nobody is left out and "
        "the build says so.",
    )
    consent_column: str = Field(
        default="marketing_consent",
        description="Boolean column of `clients` (or `features`) holding marketing consent.",
    )
    consent_missing_means: bool = Field(
        default=False, description="Treat a null consent as consent."
    )
    contacted_within_days: int | None = Field(
        default=None,
        ge=1,
        description="Leave out clients with a row in the warehouse table `contacts` "
        "(client_id, contacted_at) within this many days before the as_of.",
    )
    holdout_share: float = Field(
        default=0.0,
        ge=0,
        lt=1,
        description="Share of eligible clients kept as a randomised holdout (stored with "
        "status `holdout`, not exported): a hash of client id and `holdout_salt`.",
    )
    holdout_salt: str | None = Field(
        default=None, description="Salt of the holdout hash (default: the audience name)."
    )
    audiences: list[str] = Field(
        default_factory=list, description="Leave out the members of these audiences' latest builds."
    )


class LookalikeSeed(_Model):
    """Where the seed of a lookalike comes from: exactly one of the three."""

    audience: str | None = Field(default=None, description="Members of this audience's latest build.")
    segment: dict[str, str] | None = Field(
        default=None, description="`{dimension: segment id or name}`."
    )
    file: str | None = Field(
        default=None, description="CSV or Parquet with a `client_id` column (relative to the project)."
    )

    @model_validator(mode="after")
    def _one(self) -> LookalikeSeed:
        given = [x for x in (self.audience, self.segment, self.file) if x]
        if len(given) != 1:
            raise ValueError("give exactly one of `audience`, `segment` or `file` as the seed")
        if self.segment is not None and len(self.segment) != 1:
            raise ValueError("`segment`: one `{dimension: segment}` pair")
        return self


class LookalikeConfig(_Model):
    """An audience made of the clients most similar to a seed."""

    seed: LookalikeSeed
    method: LookalikeMethod = Field(
        default="cosine",
        description="cosine: mean cosine similarity to the seed's nearest members; "
        "centroid: cosine similarity to the seed's centroid; classifier: P(seed) of a "
        "classifier trained seed vs population.",
    )
    dimension: str | None = Field(
        default=None,
        description="Learned dimension whose preprocessing defines the space (default: the "
        "first learned dimension with a stored model).",
    )
    neighbours: int = Field(default=10, ge=1, description="Seed neighbours averaged (cosine).")
    drop_atypical: float = Field(
        default=0.0,
        ge=0,
        lt=0.5,
        description="Seed optimisation: try the seed without this share of its least typical "
        "members and keep the better of the two seeds (larger mean held-out fidelity).",
    )


class AudienceConfig(_Model):
    """A named, versioned selection of clients."""

    description: str = ""
    segments: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Dimension -> segment ids or names (catalog or model names).",
    )
    match: AudienceMatch = Field(
        default="all", description="all: every listed dimension matches; any: at least one."
    )
    where: str | None = Field(
        default=None,
        description="Boolean SQL expression over features and scores "
        "(`propensity_<model>` from the `scores` table).",
    )
    stable_cycles: int | None = Field(
        default=None,
        ge=1,
        description="Stable core: same segment (in each listed dimension) for the last N "
        "update cycles, from `segment_history`.",
    )
    exclude: ExclusionConfig = Field(default_factory=ExclusionConfig)
    lookalike: LookalikeConfig | None = None
    size: int | None = Field(default=None, ge=1, description="Size cap, filled by the ranking.")
    rank_by: AudienceRank = Field(
        default="score",
        description="score; value; expected_value = score x value; stability_weighted = "
        "score x P(stay in segment), estimated from the segment migrations.",
    )
    score: str | None = Field(
        default=None,
        description="Column ranked by (a feature or score; default for a lookalike: its "
        "similarity).",
    )
    value: str = Field(default="clv_12m", description="Column of expected value.")

    @field_validator("where")
    @classmethod
    def _where_is_an_expression(cls, v: str | None) -> str | None:
        return None if v is None else check_expression(v, what="audience condition")

    @model_validator(mode="after")
    def _check(self) -> AudienceConfig:
        for dim, segs in self.segments.items():
            if not segs:
                raise ValueError(f"segments.{dim}: list at least one segment")
        if self.rank_by in ("score", "expected_value", "stability_weighted") and (
            self.size is not None and self.score is None and self.lookalike is None
        ):
            raise ValueError(f"rank_by: {self.rank_by} needs `score` (a feature or score column)")
        if self.rank_by == "stability_weighted" and not self.segments:
            raise ValueError("rank_by: stability_weighted needs `segments` (P(stay) is per segment)")
        return self


class OfferConfig(_Model):
    """An offer: a product or message with its economics."""

    name: str
    product: str | None = Field(default=None, description="Product type offered (holdings).")
    message: str | None = Field(default=None, description="Message or creative.")
    eligible: str | None = Field(
        default=None, description="Boolean SQL expression over features and scores."
    )
    channel: str = Field(default="email")
    value: float = Field(description="Value if accepted (currency).")
    cost: float = Field(default=0.0, ge=0, description="Cost per contact (currency).")
    propensity: str | None = Field(
        default=None,
        description="Score column giving P(accept) (e.g. `propensity_savings`); default: "
        "`propensity_<name>` when present, else the segment's affinity rate for `product`.",
    )
    dimension: str = Field(
        default="behaviour", description="Dimension whose segments give the affinity rate."
    )

    @field_validator("eligible")
    @classmethod
    def _eligible_is_an_expression(cls, v: str | None) -> str | None:
        return None if v is None else check_expression(v, what="eligibility condition")

    @model_validator(mode="after")
    def _check(self) -> OfferConfig:
        if not _NAME.match(self.name):
            raise ValueError(f"offer name {self.name!r}: letters, digits, underscores")
        if self.product is None and self.message is None:
            raise ValueError(f"offer {self.name!r}: give a `product` or a `message`")
        return self


class ContactPolicy(_Model):
    """How many offers reach a client, and how many a channel can carry, per period."""

    max_offers: int = Field(default=1, ge=1, description="Offers per client per period.")
    period_days: int = Field(default=30, ge=1)
    capacity: dict[str, int] = Field(
        default_factory=dict, description="Channel -> contacts per period."
    )
    min_net_value: float = Field(default=0.0, description="Offers at or below this are not made.")


class NboConfig(_Model):
    """Next-best-offer: the offers and the contact policy."""

    offers: list[OfferConfig] = Field(default_factory=list)
    policy: ContactPolicy = Field(default_factory=ContactPolicy)
    affinity_days: int = Field(
        default=365,
        ge=1,
        description="Window of the affinity rate: share of a segment's clients without the "
        "product at the window's start who opened it within the window.",
    )

    @model_validator(mode="after")
    def _unique(self) -> NboConfig:
        names = [o.name for o in self.offers]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"offers: duplicate name(s) {', '.join(dup)}")
        return self


def check_audience_names(audiences: dict[str, AudienceConfig]) -> None:
    """Names are identifiers and exclusions / seeds name declared audiences (no self-reference)."""
    for name, a in audiences.items():
        if not _NAME.match(name):
            raise ValueError(f"audiences.{name}: use letters, digits and underscores")
        refs = list(a.exclude.audiences)
        if a.lookalike is not None and a.lookalike.seed.audience:
            refs.append(a.lookalike.seed.audience)
        for ref in refs:
            if ref not in audiences:
                raise ValueError(
                    f"audiences.{name}: {ref!r} is not a declared audience "
                    f"(declared: {', '.join(audiences)})"
                )
            if ref == name:
                raise ValueError(f"audiences.{name}: an audience cannot refer to itself")
