"""Stage 3: segmentation dimensions — rule-defined and learned — fitted on a sample,
versioned in the warehouse, and applied to every client inside the engine.

See ``docs/segmentation.md``. The main entry point is :func:`run_segmentation`
(``Project.segment``, ``segmint segment``).
"""

from segmint.segmentation._assign import assign_sql, predict_params
from segmint.segmentation._defaults import BEHAVIOUR_INPUTS, default_dimensions
from segmint.segmentation._density import DensitySegmenter
from segmint.segmentation._dimension import (
    expand_inputs,
    fit_dimension,
    predict_version,
    protected_features,
    resolve_dimensions,
    version_sql,
)
from segmint.segmentation._identity import match_centers, match_labels
from segmint.segmentation._kmeans import KMeansSelector
from segmint.segmentation._lca import LatentClassAnalysis
from segmint.segmentation._mixture import GaussianMixtureSelector
from segmint.segmentation._naming import (
    NAMES_TABLE,
    apply_segment_names,
    generated_names,
    record_segment_names,
)
from segmint.segmentation._preprocess import PreprocessSpec, build_pipeline, fit_preprocessing
from segmint.segmentation._registry import (
    DECISIONS,
    MODELS,
    ModelVersion,
    applied_version,
    list_versions,
    load_version,
    record_decision,
    version_statuses,
)
from segmint.segmentation._rules import fit_rules, parse_rules
from segmint.segmentation._run import (
    ASSIGNMENTS,
    FEATURES,
    SegmentationRun,
    latest_as_of,
    run_segmentation,
)
from segmint.segmentation._select import choose_k

__all__ = [
    "ASSIGNMENTS",
    "DECISIONS",
    "BEHAVIOUR_INPUTS",
    "FEATURES",
    "MODELS",
    "DensitySegmenter",
    "GaussianMixtureSelector",
    "KMeansSelector",
    "LatentClassAnalysis",
    "NAMES_TABLE",
    "ModelVersion",
    "PreprocessSpec",
    "SegmentationRun",
    "applied_version",
    "apply_segment_names",
    "assign_sql",
    "build_pipeline",
    "choose_k",
    "default_dimensions",
    "expand_inputs",
    "fit_dimension",
    "fit_preprocessing",
    "fit_rules",
    "generated_names",
    "latest_as_of",
    "list_versions",
    "load_version",
    "match_centers",
    "match_labels",
    "parse_rules",
    "predict_params",
    "predict_version",
    "protected_features",
    "record_decision",
    "record_segment_names",
    "resolve_dimensions",
    "run_segmentation",
    "version_sql",
    "version_statuses",
]
