"""Stage 2: per-client features as of a date, defined once in SQL, run in the data engine.

The catalog (:data:`GROUPS`) holds every feature's definition; :func:`compute_features`
composes the requested groups into one query and runs it on an :class:`Engine`
(DuckDB by default, Spark through SQLGlot). ``docs/features.md`` is generated from
the catalog (``python -m segmint.features.docs``).
"""

from segmint.features import _clv  # noqa: F401  (registers the clv group)
from segmint.features._catalog import GROUPS, POST_ENGINE_GROUPS, SHARED_CTES
from segmint.features._clv import (
    CLV_MODELS,
    ClvModelVersion,
    clv_model_versions,
    load_clv_model,
)
from segmint.features._compute import (
    SNAPSHOT_TABLE,
    btyd_summary,
    build_query,
    compute_features,
    resolve_groups,
    store_snapshot,
)
from segmint.features._definitions import (
    Feature,
    FeatureGroup,
    FeatureSet,
    PostEngineContext,
    PostEngineGroup,
    SharedCte,
)
from segmint.features._engine import (
    DuckDBEngine,
    Engine,
    SparkEngine,
    spark_engine_from_warehouse,
)
from segmint.features._incremental import (
    INCREMENTAL_GROUPS,
    IncrementalFeatures,
    build_event_state,
    build_state,
    compute_incremental,
    fold,
    fold_events,
    move_anchor,
    state_anchor,
    state_status,
)
from segmint.features._labels import feature_label

__all__ = [
    "feature_label",
    "CLV_MODELS",
    "GROUPS",
    "INCREMENTAL_GROUPS",
    "POST_ENGINE_GROUPS",
    "SHARED_CTES",
    "SNAPSHOT_TABLE",
    "ClvModelVersion",
    "DuckDBEngine",
    "Engine",
    "Feature",
    "FeatureGroup",
    "FeatureSet",
    "IncrementalFeatures",
    "PostEngineContext",
    "PostEngineGroup",
    "SharedCte",
    "SparkEngine",
    "btyd_summary",
    "build_event_state",
    "build_query",
    "build_state",
    "clv_model_versions",
    "compute_incremental",
    "move_anchor",
    "state_anchor",
    "compute_features",
    "fold",
    "fold_events",
    "load_clv_model",
    "resolve_groups",
    "spark_engine_from_warehouse",
    "state_status",
    "store_snapshot",
]
