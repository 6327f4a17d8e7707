"""Project-file model for governance (``governance:`` in segmint.yaml): fairness
policy, pseudonymisation, small-cell suppression, the privacy budget, consent and
approval of model changes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from segmint._typing import ApprovalPolicy, ConsentFallback


class FairnessConfig(BaseModel):
    """The fairness audit's attributes and the policy thresholds it gates on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attributes: list[str] | None = Field(
        default=None,
        description="Protected attributes to audit (columns of `clients` or features); default: "
        "every protected attribute present.",
    )
    age_bands: list[int] = Field(
        default=[25, 35, 45, 55, 65],
        description="Age band edges (years) for `birth_year`, banded at the audit's as_of.",
    )
    numeric_bins: int = Field(
        default=4, ge=2, le=20, description="Quantile bands for other numeric protected attributes."
    )
    min_group: int = Field(
        default=30, ge=1, description="Groups with fewer clients are reported but never flagged."
    )
    disparate_impact: float = Field(
        default=0.8, gt=0, le=1,
        description="Flag a selection whose disparate-impact ratio is below this (four-fifths rule).",
    )
    parity_difference: float = Field(
        default=0.1, gt=0, le=1,
        description="Flag a selection whose statistical parity difference (max - min selection "
        "rate) is above this and its disparate-impact ratio is below `disparate_impact`.",
    )
    alpha: float = Field(
        default=0.01, gt=0, lt=1,
        description="A disparity is flagged only when a chi-square test of selection by group "
        "rejects independence at this level (so sampling noise in small groups is not flagged).",
    )
    proxy_auc: float = Field(
        default=0.7, gt=0.5, le=1,
        description="Flag a dimension whose inputs predict a protected attribute with this "
        "cross-validated AUC or more.",
    )
    proxy_mi: float = Field(
        default=0.05, gt=0, le=1,
        description="Flag an input whose mutual information with a protected attribute, over the "
        "attribute's entropy, is at least this.",
    )
    sample_size: int = Field(
        default=20_000, ge=200, description="Clients sampled for proxy detection."
    )
    fail_on: list[str] = Field(
        default=["disparity", "proxy"],
        description="Findings that make `segmint audit fairness` exit non-zero: `disparity`, "
        "`proxy`, `tpr`, `calibration`.",
    )
    tpr_difference: float = Field(
        default=0.1, gt=0, le=1, description="Flag a true-positive-rate difference above this."
    )
    calibration_difference: float = Field(
        default=0.1, gt=0, le=1,
        description="Flag a gap (predicted minus observed rate) difference between groups above this.",
    )

    @model_validator(mode="after")
    def _check(self) -> FairnessConfig:
        bad = sorted(set(self.fail_on) - {"disparity", "proxy", "tpr", "calibration"})
        if bad:
            raise ValueError(
                f"fail_on: unknown finding(s) {', '.join(bad)}; expected disparity, proxy, tpr, "
                "calibration"
            )
        if self.age_bands != sorted(set(self.age_bands)):
            raise ValueError("age_bands: edges must be increasing")
        return self


class PseudonymConfig(BaseModel):
    """Keyed pseudonyms of client ids in everything that leaves the warehouse."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=False, description="Replace client ids in outputs by pseudonyms.")
    key_env: str = Field(
        default="SEGMINT_PSEUDONYM_KEY",
        description="Environment variable holding the key (never the project file).",
    )
    key_file: str | None = Field(
        default=None,
        description="File holding the key, when the variable is unset (relative to the project).",
    )


class ErasureConfig(BaseModel):
    """The erasure key: tombstones are kept under it besides the pseudonymisation key, so
    that they still match after that key is rotated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_env: str = Field(
        default="SEGMINT_ERASURE_KEY",
        description="Environment variable holding the erasure key (never rotated; never the "
        "project file). After rotating the pseudonymisation key, the old one can serve here.",
    )
    key_file: str | None = Field(
        default=None,
        description="File holding the erasure key, when the variable is unset (relative to the "
        "project).",
    )


class ConsentConfig(BaseModel):
    """Which `clients` flags say a client consents, and what happens without consent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    without_profiling: ConsentFallback = Field(
        default="rules_only",
        description="Clients without profiling consent: assigned by rule dimensions only "
        "(`rules_only`), or by no dimension (`none`).",
    )
    missing_means: bool = Field(
        default=True,
        description="Consent assumed when the flag is null or not mapped (set false to require "
        "an explicit yes).",
    )


class GovernanceConfig(BaseModel):
    """Options of the governance stage."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    approval: ApprovalPolicy = Field(
        default="auto",
        description="`required`: a refit proposes a version that applies only after "
        "`segmint models approve`; `auto`: refits apply at once.",
    )
    fairness: FairnessConfig = Field(default_factory=FairnessConfig)
    pseudonymise: PseudonymConfig = Field(default_factory=PseudonymConfig)
    erasure: ErasureConfig = Field(default_factory=ErasureConfig)
    min_cell: int = Field(
        default=10, ge=1,
        description="Smallest count released in any aggregate leaving the warehouse (catalog, "
        "report, exports, audience counts, serving publication); smaller counts, and "
        "complementary ones that would give them back, are suppressed. 1 turns suppression off.",
    )
    privacy_budget: float = Field(
        default=1.0, gt=0,
        description="Total differential-privacy epsilon the project may spend on noisy releases.",
    )
    consent: ConsentConfig = Field(default_factory=ConsentConfig)
