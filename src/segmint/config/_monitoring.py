"""Project-file models for the monitoring stage (``monitoring:`` in segmint.yaml).

Example::

    monitoring:
      refit: {every_days: 90, on_drift: true, psi_threshold: 0.25}
      stable_core_cycles: 4
      drift: {psi_warning: 0.1, psi_alert: 0.25}
      alerts: {reclassification_rate: 0.2, min_share: 0.01,
               dimensions: {behaviour: {reclassification_rate: 0.05}}}
      order: {lifecycle: [Lapsed, Declining, New, Mature, Growing]}
      webhook: {url: "https://hooks.example.com/segmint", attempts: 4}

See ``docs/monitoring.md``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RefitPolicy(_Model):
    """When an update cycle refits a dimension (otherwise it applies the stored version)."""

    every_days: int | None = Field(
        default=None,
        ge=1,
        description="Refit a dimension whose version was fitted at least this many days "
        "before the cycle's as_of; null: never by age.",
    )
    on_drift: bool = Field(
        default=False,
        description="Refit a learned dimension when one of its inputs drifted (PSI against "
        "the version's reference snapshot at or above `psi_threshold`).",
    )
    psi_threshold: float = Field(default=0.25, gt=0, description="PSI that triggers `on_drift`.")


class DriftConfig(_Model):
    """Feature drift against the reference snapshot of each model version."""

    features: list[str] | None = Field(
        default=None,
        description="Features to test; null: every numeric feature of the features table "
        "except `exclude`.",
    )
    exclude: list[str] = Field(
        default_factory=lambda: ["tenure_days", "btyd_T", "btyd_t_x", "months_since_last_open"],
        description="Features left out by default: they grow with the calendar, so every "
        "later snapshot drifts from the reference by construction.",
    )
    psi_warning: float = Field(default=0.1, gt=0, description="PSI band: moderate shift from here.")
    psi_alert: float = Field(
        default=0.25, gt=0, description="PSI band: significant shift from here (raises an alert)."
    )
    discrete_max_values: int = Field(
        default=10,
        ge=2,
        description="A feature with at most this many distinct reference values is discrete "
        "(PSI over its values and Jensen-Shannon distance; otherwise deciles and KS).",
    )
    epsilon: float = Field(
        default=1e-4, gt=0, lt=0.01, description="Share used for an empty bin in PSI."
    )


_DIMENSION_RULES = ("share_shift", "reclassification_rate", "min_share")

BUILT_IN_DIMENSION_ALERTS: dict[str, dict[str, float | None]] = {
    # recency scores move with the calendar: in the generated bank about 45% of clients
    # change RFM cell from one week to the next with no change of behaviour
    "rfm": {"reclassification_rate": 0.6},
}
"""Thresholds of built-in dimensions that differ from the global ones (overridable)."""


class DimensionAlertRules(_Model):
    """One dimension's own thresholds of the dimension-level rules.

    A rule given here replaces the global threshold for this dimension (null disables it
    there); a rule left out inherits (``BUILT_IN_DIMENSION_ALERTS``, else the global one).
    """

    share_shift: float | None = Field(default=None, gt=0, lt=1)
    reclassification_rate: float | None = Field(default=None, gt=0, le=1)
    min_share: float | None = Field(default=None, gt=0, lt=1)


class AlertRules(_Model):
    """Thresholds of the alert rules evaluated at every cycle (null disables a rule)."""

    feature_psi: float | None = Field(
        default=0.25, gt=0, description="Alert when a feature's PSI is at or above this."
    )
    share_shift: float | None = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="Alert when a segment's share moved by at least this (absolute) since "
        "the previous cycle.",
    )
    reclassification_rate: float | None = Field(
        default=0.2,
        gt=0,
        le=1,
        description="Alert when at least this share of a dimension's clients changed segment.",
    )
    min_share: float | None = Field(
        default=0.01, gt=0, lt=1, description="Alert when a segment holds less than this share."
    )
    refit_changes: bool = Field(
        default=True, description="Alert when a refit created or retired a segment."
    )
    dimensions: dict[str, DimensionAlertRules] = Field(
        default_factory=dict,
        description="Per-dimension thresholds of `share_shift`, `reclassification_rate` and "
        "`min_share`, e.g. `{behaviour: {reclassification_rate: 0.05}}`; a rule left out "
        "inherits the built-in dimension threshold (`rfm`: reclassification_rate 0.6, as its "
        "recency scores move with the calendar), else the global one; null disables the "
        "rule for that dimension.",
    )

    def threshold(self, rule: str, dimension: str | None = None) -> float | None:
        """The threshold of a dimension-level ``rule`` for ``dimension`` (None: disabled)."""
        if rule not in _DIMENSION_RULES:
            raise ValueError(f"{rule!r} is not a dimension-level rule ({', '.join(_DIMENSION_RULES)})")
        own = self.dimensions.get(dimension) if dimension is not None else None
        if own is not None and rule in own.model_fields_set:
            return getattr(own, rule)
        built_in = BUILT_IN_DIMENSION_ALERTS.get(dimension or "", {})
        if rule in built_in and getattr(self, rule) is not None:
            return built_in[rule]
        return getattr(self, rule)


class WebhookConfig(_Model):
    """Where alerts are POSTed (JSON), with retries and exponential back-off."""

    url: str = Field(description="http(s) URL receiving a JSON POST per cycle with alerts.")
    attempts: int = Field(default=4, ge=1, le=10, description="Attempts before giving up.")
    backoff_seconds: float = Field(
        default=0.5, ge=0, le=30,
        description="Wait before the 2nd attempt; doubles after each failure.",
    )
    timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, description="Timeout of one attempt (at most 60 s)."
    )
    send_empty: bool = Field(default=False, description="Also POST cycles without alerts.")
    allow_private_targets: bool = Field(
        default=False,
        description="Allow a URL that resolves to a loopback, link-local, private or reserved "
        "address (refused by default: such a target reaches internal services or cloud "
        "metadata).",
    )

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        import urllib.parse

        parts = urllib.parse.urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            shown = f"{parts.scheme}://{parts.hostname or ''}{parts.path}" if parts.scheme else "(not a URL)"
            raise ValueError(f"expected an http:// or https:// URL with a host, got {shown}")
        return v


class MonitoringConfig(_Model):
    """Options of the monitoring stage (`monitoring:` in segmint.yaml)."""

    refit: RefitPolicy = Field(default_factory=RefitPolicy)
    stable_core_cycles: int = Field(
        default=4,
        ge=2,
        description="A client is in a dimension's stable core when it kept its segment over "
        "this many consecutive cycles.",
    )
    trajectory_cycles: int = Field(
        default=4,
        ge=2,
        description="Cycles over which an upward trajectory (value tier up, or value feature "
        "rising at every cycle) is looked for.",
    )
    drift: DriftConfig = Field(default_factory=DriftConfig)
    alerts: AlertRules = Field(default_factory=AlertRules)
    order: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Segment names of a rule dimension from lowest to highest, to split "
        "migration into upward and downward (built-in: value Low < Medium < High < Top).",
    )
    webhook: WebhookConfig | None = Field(default=None, description="Alert webhook; none by default.")
