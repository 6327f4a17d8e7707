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
from segmint.governance._consent import consent_predicates, marketing_allowed_sql
from segmint.governance._erase import (
    TOMBSTONES,
    ErasureResult,
    client_tables,
    drop_erased,
    erase_clients,
    erased_predicate,
    read_ids,
)
from segmint.governance._export import (
    LEDGER,
    PrivacyBudgetError,
    export_profiles,
    laplace_scale,
    privacy_ledger,
    privacy_spent,
)
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
from segmint.governance._pseudonym import (
    copy_pseudonymised,
    key_id,
    optional_key,
    pseudonym_key,
    pseudonym_sql,
    pseudonymise,
    rotation_map,
)
from segmint.governance._suppress import (
    SuppressedTable,
    determined_cells,
    suppress_counts,
    suppress_table,
)

__all__ = [
    "AUDITS",
    "AUDIT_LOG",
    "TOMBSTONES",
    "ErasureResult",
    "FairnessAudit",
    "LEDGER",
    "PrivacyBudgetError",
    "SuppressedTable",
    "acknowledge_alert",
    "acknowledged_alerts",
    "approve",
    "audit_fairness",
    "audit_log",
    "client_tables",
    "consent_predicates",
    "copy_pseudonymised",
    "drop_erased",
    "erase_clients",
    "erased_predicate",
    "export_profiles",
    "determined_cells",
    "key_id",
    "laplace_scale",
    "log_action",
    "marketing_allowed_sql",
    "model_versions",
    "pin",
    "privacy_ledger",
    "privacy_spent",
    "proposal_diff",
    "optional_key",
    "pseudonym_key",
    "pseudonym_sql",
    "pseudonymise",
    "read_ids",
    "reject",
    "rollback",
    "rotation_map",
    "suppress_counts",
    "suppress_table",
    "unpin",
    "latest_audit",
    "outcome_metrics",
    "protected_attributes",
    "proxy_scores",
    "selection_metrics",
]
