"""Stage 7: governance — fairness audits, pseudonyms, small-cell suppression,
differential privacy, erasure, consent and human approval of model changes.

See ``docs/governance.md``.
"""

from segmint.governance._approval import (
    acknowledge_alert,
    acknowledged_alerts,
    approve,
    model_versions,
    pin,
    proposal_diff,
    reject,
    rollback,
    unpin,
)
from segmint.governance._audit_log import AUDIT_LOG, audit_log, log_action
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
    "AUDIT_LOG",
    "FairnessAudit",
    "acknowledge_alert",
    "acknowledged_alerts",
    "approve",
    "audit_fairness",
    "audit_log",
    "log_action",
    "model_versions",
    "pin",
    "proposal_diff",
    "reject",
    "rollback",
    "unpin",
    "latest_audit",
    "outcome_metrics",
    "protected_attributes",
    "proxy_scores",
    "selection_metrics",
]
