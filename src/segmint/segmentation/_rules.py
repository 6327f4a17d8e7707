"""Rule-defined dimensions: ordered business rules compiled to one SQL ``CASE``.

A rule is ``{segment: NAME, when: EXPRESSION}``; ``when`` is a boolean SQL expression
(DuckDB dialect) over feature names. Rules are **ordered: the first rule that holds
wins**, so overlapping rules are allowed and their order decides. A dimension declared
``order: exclusive`` instead promises that no client matches two rules; the promise is
checked on the population at fit time and a violation is an error naming the rules and
the number of clients matching both. A client no rule matches gets the ``default``
segment. A comparison with a null feature is not true, so rules do not match on nulls
unless they say so (``recency_days IS NULL``).

**Percentiles.** ``pNN`` compared with a feature (``clv_12m >= p90``,
``monetary_total BETWEEN p20 AND p80``) or with an expression over features
(``clv_12m + 0.01 * assets >= p90``) is its NN-th percentile (``quantile_cont``) over
the population at the fit's ``as_of``. The value is resolved
when the dimension is fitted and recorded in its version, so applying the version on a
later date uses the same thresholds; ``--refit`` resolves them again.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

from segmint.config._segmentation import DimensionConfig
from segmint.errors import ConfigError, FeatureError
from segmint.segmentation._preprocess import quote, sql_float

PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?|100)$", re.IGNORECASE)
_FORBIDDEN = (exp.Select, exp.Subquery, exp.Table, exp.Command, exp.Insert, exp.Delete)
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)


@dataclass
class ParsedRule:
    index: int
    segment: str
    tree: exp.Expression
    columns: set[str]
    percentiles: dict[str, set[float]]  # feature -> percentiles (0..100) used


def _where(dim: DimensionConfig, i: int) -> str:
    return f"segmentation.dimensions.{dim.name}.rules[{i}] ({dim.rules[i].segment!r})"


def parse_rules(dim: DimensionConfig, columns: set[str]) -> list[ParsedRule]:
    """Parse and check every rule of ``dim`` against the feature table's ``columns``."""
    parsed = []
    for i, rule in enumerate(dim.rules):
        where = _where(dim, i)
        try:
            tree = sqlglot.parse_one(rule.when, read="duckdb")
        except sqlglot.errors.ParseError as exc:
            raise ConfigError(f"{where}: cannot parse `when: {rule.when}`: {exc}") from None
        if tree is None or tree.find(*_FORBIDDEN) is not None:
            raise ConfigError(
                f"{where}: `when: {rule.when}` must be an expression over features, not a query"
            )
        used: set[str] = set()
        pct: dict[str, set[float]] = {}
        for col in tree.find_all(exp.Column):
            name = col.name
            if PERCENTILE.match(name) and not col.table:
                feature = _percentile_subject(col)
                if feature is None:
                    raise ConfigError(
                        f"{where}: percentile {name!r} in `when: {rule.when}` must be compared "
                        "with a feature or an expression over features (e.g. `clv_12m >= p90`)"
                    )
                if feature not in columns and _IDENT.match(feature):
                    raise FeatureError(_unknown(dim, i, feature, columns))
                pct.setdefault(feature, set()).add(float(name[1:]))
                continue
            if name not in columns:
                raise FeatureError(_unknown(dim, i, name, columns))
            used.add(name)
        parsed.append(
            ParsedRule(i, rule.segment, tree, used | {f for f in pct if _IDENT.match(f)}, pct)
        )
    return parsed


def _unknown(dim: DimensionConfig, i: int, feature: str, columns: set[str]) -> str:
    close = difflib.get_close_matches(feature, sorted(columns), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return (
        f"{_where(dim, i)}: unknown feature {feature!r} in `when: {dim.rules[i].when}` "
        f"(not a column of the features table){hint}"
    )


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _subject(node: exp.Expression) -> str | None:
    """A feature's name, or an expression's SQL (e.g. ``clv_12m + 0.01 * assets``)."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Column):
        return node.name
    if node.find(exp.Column) is None or any(
        PERCENTILE.match(c.name) for c in node.find_all(exp.Column)
    ):
        return None
    return node.sql(dialect="duckdb")


def _percentile_subject(col: exp.Column) -> str | None:
    """What a percentile token is compared with: a feature name or an expression's SQL."""
    node: exp.Expression = col
    parent = col.parent
    while isinstance(parent, exp.Paren):
        node, parent = parent, parent.parent
    if isinstance(parent, _COMPARISONS):
        other = parent.expression if parent.this is node else parent.this
        return _subject(other)
    if isinstance(parent, exp.Between):
        return _subject(parent.this)
    return None


def resolve_percentiles(
    con: duckdb.DuckDBPyConnection, source: str, parsed: list[ParsedRule]
) -> dict[str, dict[str, float]]:
    """Percentile values over ``source``: {feature: {"p90": value}} (in one query)."""
    wanted: dict[str, set[float]] = {}
    for r in parsed:
        for f, ps in r.percentiles.items():
            wanted.setdefault(f, set()).update(ps)
    if not wanted:
        return {}
    items = [(f, p) for f in sorted(wanted) for p in sorted(wanted[f])]
    select = ", ".join(
        f"quantile_cont(CAST({quote(f) if _IDENT.match(f) else f'({f})'} AS DOUBLE), {p / 100!r})"
        for f, p in items
    )
    row = con.execute(f"SELECT {select} FROM {source}").fetchone()
    out: dict[str, dict[str, float]] = {}
    assert row is not None
    for (f, p), v in zip(items, row, strict=True):
        out.setdefault(f, {})[_pname(p)] = None if v is None else float(v)
    return out


def _pname(p: float) -> str:
    return f"p{p:g}"


def compile_rule(tree: exp.Expression, values: dict[str, dict[str, float]]) -> str:
    """The rule as DuckDB SQL with percentile tokens replaced by their values."""

    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and PERCENTILE.match(node.name) and not node.table:
            feature = _percentile_subject(node)
            assert feature is not None
            v = values[feature][_pname(float(node.name[1:]))]
            return exp.Null() if v is None else sqlglot.parse_one(sql_float(v))
        return node

    return tree.copy().transform(swap).sql(dialect="duckdb")


def segments_of(dim: DimensionConfig) -> list[dict[str, str]]:
    """Segments of a rules dimension, in rule order, the default last; ids ``<dim>-<n>``."""
    out: list[dict[str, str]] = []
    names: dict[str, int] = {}
    explicit = {r.segment: r.id for r in dim.rules if r.id}
    for name in [r.segment for r in dim.rules] + [dim.default or ""]:
        if name in names:
            continue
        names[name] = len(out)
        out.append({"id": explicit.get(name) or f"{dim.name}-{len(out) + 1}", "name": name})
    return out


def fit_rules(
    con: duckdb.DuckDBPyConnection, source: str, dim: DimensionConfig, columns: set[str]
) -> dict[str, Any]:
    """Validate, resolve percentiles over ``source`` and compile: the version's params."""
    parsed = parse_rules(dim, columns)
    values = resolve_percentiles(con, source, parsed)
    compiled = [compile_rule(r.tree, values) for r in parsed]
    if dim.order == "exclusive":
        _check_exclusive(con, source, dim, compiled)
    segments = segments_of(dim)
    index = {s["name"]: i for i, s in enumerate(segments)}
    return {
        "type": "rules",
        "order": dim.order,
        "rules": [
            {
                "segment": r.segment,
                "when": dim.rules[r.index].when,
                "sql": sql,
                "label": index[r.segment],
            }
            for r, sql in zip(parsed, compiled, strict=True)
        ],
        "default_label": index[dim.default or ""],
        "percentiles": values,
        "features": sorted(set().union(*(r.columns for r in parsed))),
        "segments": segments,
    }


def _check_exclusive(
    con: duckdb.DuckDBPyConnection, source: str, dim: DimensionConfig, compiled: list[str]
) -> None:
    pairs = [(i, j) for i in range(len(compiled)) for j in range(i + 1, len(compiled))]
    if not pairs:
        return
    counts = con.execute(
        "SELECT "
        + ", ".join(
            f"count_if(coalesce(({compiled[i]}) AND ({compiled[j]}), false))" for i, j in pairs
        )
        + f" FROM {source}"
    ).fetchone()
    assert counts is not None
    for (i, j), n in zip(pairs, counts, strict=True):
        if n:
            raise ConfigError(
                f"segmentation.dimensions.{dim.name}: order is exclusive but rules[{i}] "
                f"({dim.rules[i].segment!r}) and rules[{j}] ({dim.rules[j].segment!r}) both "
                f"match {n} client(s); make them disjoint or use order: first_match"
            )


def rules_label_sql(params: dict[str, Any]) -> str:
    """One ``CASE`` giving the segment index (first matching rule wins)."""
    whens = " ".join(f"WHEN {r['sql']} THEN {r['label']}" for r in params["rules"])
    return f"CASE {whens} ELSE {params['default_label']} END"
