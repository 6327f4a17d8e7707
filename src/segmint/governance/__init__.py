"""Stage 7: governance — fairness audits, pseudonyms, small-cell suppression,
differential privacy, erasure, consent and human approval of model changes.

See ``docs/governance.md``.
"""

from segmint.governance._fairness import (
    AUDITS,
    FairnessAudit,
    audit_fairness,
    latest_audit,
    outcome_metrics,
    protected_attributes,
    proxy_scores,
    selection_metrics,
)

__all__ = [
    "AUDITS",
    "FairnessAudit",
    "audit_fairness",
    "latest_audit",
    "outcome_metrics",
    "protected_attributes",
    "proxy_scores",
    "selection_metrics",
]
