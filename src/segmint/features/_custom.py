"""The ``custom`` feature group: user-defined features (``features.custom`` in segmint.yaml).

Each is an aggregate over one entity's rows per client. The engine, not the user, applies
the as-of cut (a relation per entity holding only rows up to as_of: ``ts`` before the end
of the day, dates on or before it; a holding closed after as_of reads as open) and the
window (rows of the last ``window_days`` days); the user's filter and window become a
``FILTER (WHERE ...)`` on every aggregate of the expression. The SQL is DuckDB's dialect,
transpiled for Spark like every catalog definition.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlglot
from sqlglot import exp

from segmint.config._features import CustomFeature
from segmint.errors import FeatureError
from segmint.features._definitions import Feature, FeatureGroup, FeatureSet, SharedCte

_G = "custom"

#: entity -> (as-of relation SQL, time column, whether the time column is a timestamp)
_ENTITY_ROWS: dict[str, tuple[str, str, bool]] = {
    "transactions": ("  SELECT * FROM transactions WHERE ts < {as_of_end}", "ts", True),
    "engagement": ("  SELECT * FROM engagement WHERE ts < {as_of_end}", "ts", True),
    "holdings": (
        "  SELECT client_id, product_id, product, product_type, opened_at,\n"
        "    CASE WHEN closed_at <= {as_of} THEN closed_at END AS closed_at, balance\n"
        "  FROM holdings WHERE opened_at <= {as_of}",
        "opened_at", False,
    ),
    "profitability": ("  SELECT * FROM profitability WHERE period <= {as_of}", "period", False),
    "labels": ("  SELECT * FROM labels WHERE observed_at <= {as_of}", "observed_at", False),
    "attributes": ("  SELECT * FROM attributes WHERE valid_from <= {as_of}", "valid_from", False),
}

CUSTOM_CTES = {
    f"custom_{e}": SharedCte(f"custom_{e}", sql) for e, (sql, _t, _ts) in _ENTITY_ROWS.items()
}

CUSTOM = FeatureGroup(
    name=_G,
    description="User-defined features (`features.custom` in segmint.yaml): an aggregate over "
    "one entity's rows per client, with an optional filter and window. The engine applies "
    "the as-of cut and the window; the name, description and unit are the user's.",
    entities=(),
    sets=tuple(
        FeatureSet(
            f"custom_{e}_set",
            f"custom_{e}",
            (Feature(f"{{custom_{e}}}", _G, "A user-defined aggregate over " + e + ".",
                     "declared", f"{{custom_{e}_expr}}", f"{{custom_{e}_default}}", "DOUBLE",
                     (e,), (f"custom_{e}",)),),
        )
        for e in _ENTITY_ROWS
    ),
)


def _filtered(feature: CustomFeature, end: dt.datetime, as_of: dt.date) -> str:
    """The aggregate with the filter and window applied to each of its aggregates."""
    _sql, column, is_ts = _ENTITY_ROWS[feature.entity]
    conds: list[exp.Expression] = []
    if feature.filter is not None:
        conds.append(exp.paren(sqlglot.parse_one(feature.filter, read="duckdb")))
    if feature.window_days is not None:
        if is_ts:
            start = end - dt.timedelta(days=feature.window_days)
            bound = f"{column} >= TIMESTAMP '{start:%Y-%m-%d %H:%M:%S}'"
        else:
            start_day = as_of - dt.timedelta(days=feature.window_days)
            bound = f"{column} > DATE '{start_day.isoformat()}'"
        conds.append(sqlglot.parse_one(bound, read="duckdb"))
    tree = sqlglot.parse_one(feature.aggregate, read="duckdb")
    if conds:
        cond = conds[0] if len(conds) == 1 else exp.and_(*conds)
        for node in list(tree.find_all(exp.AggFunc)):
            wrapped = exp.Filter(this=node.copy(), expression=exp.Where(this=cond.copy()))
            if node is tree:  # the expression is one aggregate: replace() has no parent
                tree = wrapped
            else:
                node.replace(wrapped)
    return tree.sql(dialect="duckdb")


def _default(feature: CustomFeature) -> str:
    if feature.if_no_data is not None:
        return repr(float(feature.if_no_data))
    tree = sqlglot.parse_one(feature.aggregate, read="duckdb")
    return "0" if isinstance(tree, exp.Count) else "NULL"


def custom_params(
    features: list[CustomFeature], end: dt.datetime, as_of: dt.date, taken: set[str]
) -> dict[str, Any]:
    """The expansion lists of the custom group: one binding per user-defined feature."""
    params: dict[str, Any] = {f"custom_{e}": [] for e in _ENTITY_ROWS}
    for f in features:
        if f.name in taken:
            raise FeatureError(
                f"features.custom.{f.name}: {f.name!r} is already a feature of the catalog; "
                "choose another name"
            )
        key = f"custom_{f.entity}"
        params[key].append({
            key: f.name, f"{key}_expr": _filtered(f, end, as_of), f"{key}_default": _default(f),
        })
    return params


def custom_catalog(features: list[CustomFeature]) -> list[Mapping[str, str]]:
    """Name, description and unit of each user-defined feature (for docs and listings)."""
    return [
        {"name": f.name, "group": _G, "description": f.description, "unit": f.unit,
         "entity": f.entity, "aggregate": f.aggregate, "filter": f.filter or "",
         "window_days": str(f.window_days or "")}
        for f in features
    ]
