"""Stage 4: segment profiles, observable rules, names, personas and the segment catalog.

Examples
--------
>>> from segmint.profiles import build_catalog, store_catalog, catalog_markdown
>>> catalog = build_catalog(warehouse, project="demo")  # doctest: +SKIP
>>> store_catalog(warehouse, catalog)  # doctest: +SKIP
>>> print(catalog_markdown(catalog))  # doctest: +SKIP
"""

from segmint.profiles._catalog import (
    CATALOG_TABLE,
    build_catalog,
    catalog_json,
    catalog_markdown,
    catalog_schema,
    load_catalog,
    store_catalog,
)
from segmint.profiles._example import example_warehouse
from segmint.profiles._models import (
    Catalog,
    Condition,
    CrossTab,
    CrossTabCell,
    Dimension,
    Evidence,
    Fact,
    FeatureStat,
    LabelStat,
    NameTerm,
    PersonaSentence,
    PropensityStat,
    RuleSet,
    Segment,
    SegmentProfile,
    SegmentRule,
    ValueStat,
)
from segmint.profiles._names import (
    generate_name,
    name_with_terms,
    persona,
    profile_value,
    unique_names,
)
from segmint.profiles._release import SegmentRelease, release_catalog, segment_suppression
from segmint.profiles._rules import apply_rules, case_sql, fit_rules

__all__ = [
    "CATALOG_TABLE",
    "Catalog",
    "Condition",
    "CrossTab",
    "CrossTabCell",
    "Dimension",
    "Evidence",
    "Fact",
    "NameTerm",
    "FeatureStat",
    "PropensityStat",
    "PersonaSentence",
    "RuleSet",
    "Segment",
    "SegmentRelease",
    "LabelStat",
    "SegmentProfile",
    "SegmentRule",
    "ValueStat",
    "apply_rules",
    "build_catalog",
    "case_sql",
    "catalog_json",
    "catalog_markdown",
    "catalog_schema",
    "example_warehouse",
    "fit_rules",
    "generate_name",
    "name_with_terms",
    "load_catalog",
    "persona",
    "profile_value",
    "release_catalog",
    "segment_suppression",
    "store_catalog",
    "unique_names",
]
