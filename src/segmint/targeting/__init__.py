"""Stage 6: targeting — audiences, lookalikes, cross-sell affinity, next-best-offer and
segment profitability, computed in the engine from features, segments and scores.

See ``docs/targeting.md``.
"""

from segmint.targeting._affinity import affinity_statements, association_rules, upgrade_paths
from segmint.targeting._audiences import (
    BUILDS,
    CONTACTS,
    MEMBERS,
    AudienceBuild,
    audience_changes,
    audience_overlap,
    build_audience,
    export_audience,
    list_audiences,
    record_contacts,
    segment_names,
    show_audience,
    stay_probabilities,
)
from segmint.targeting._lookalike import (
    LookalikeResult,
    client_space,
    lookalike,
    lookalike_audience_scores,
    reach_curve,
    seed_clients,
    similarity_scores,
    typicality,
)
from segmint.targeting._nbo import OFFERS, NboResult, affinity_rates, next_best_offers
from segmint.targeting._profitability import (
    client_profitability,
    cost_components,
    segment_profitability,
)
from segmint.targeting._sql import build_base, compile_expression

__all__ = [
    "BUILDS",
    "CONTACTS",
    "MEMBERS",
    "OFFERS",
    "AudienceBuild",
    "LookalikeResult",
    "NboResult",
    "affinity_rates",
    "affinity_statements",
    "association_rules",
    "audience_changes",
    "audience_overlap",
    "build_audience",
    "build_base",
    "client_profitability",
    "client_space",
    "compile_expression",
    "cost_components",
    "export_audience",
    "list_audiences",
    "lookalike",
    "lookalike_audience_scores",
    "next_best_offers",
    "reach_curve",
    "record_contacts",
    "seed_clients",
    "segment_names",
    "segment_profitability",
    "show_audience",
    "similarity_scores",
    "stay_probabilities",
    "typicality",
    "upgrade_paths",
]
