"""The segment catalog: build it from the warehouse, store it, render it as Markdown.

A catalog holds, for every dimension's current model at one ``as_of``, each
segment's id, name, definition (observable rule, its SQL and English, and the
dimension's CASE expression), profile and persona. Each build gets the next
integer version and is stored in the warehouse table ``segment_catalog``
(``version, created_at, as_of, json``).
"""

from __future__ import annotations

import datetime as dt
import json
import re

from segmint.config import CatalogConfig
from segmint.disclosure import SUPPRESSED, suppression_note
from segmint.errors import ConfigError, WarehouseError
from segmint.profiles._labels import label
from segmint.profiles._models import Catalog, Dimension, Evidence, Segment
from segmint.profiles._names import named_segments, persona
from segmint.profiles._outcomes import label_stats
from segmint.profiles._profile import (
    crosstabs,
    latest_as_of,
    numeric_features,
    prepare,
    profile_segments,
    propensity_stats,
)
from segmint.profiles._rules import definition_rules, fit_rules
from segmint.segmentation import generated_names, record_segment_names
from segmint.sources import attribute_catalog
from segmint.store import Warehouse

CATALOG_TABLE = "segment_catalog"

_DDL = f"""CREATE TABLE IF NOT EXISTS {CATALOG_TABLE} (
    version INTEGER PRIMARY KEY, created_at TIMESTAMP NOT NULL, as_of DATE NOT NULL, json JSON NOT NULL)"""


def build_catalog(
    wh: Warehouse,
    *,
    config: CatalogConfig | None = None,
    project: str = "segmint",
    as_of: dt.date | None = None,
) -> Catalog:
    """Profile, define, name and describe every segment of every dimension.

    Parameters
    ----------
    wh : Warehouse
        Holds ``features`` and ``segment_assignments`` (``segment_models`` optional).
    config : CatalogConfig, optional
        Rule size, sampling and name overrides (``catalog:`` in segmint.yaml).
    project : str
        Project name recorded in the catalog.
    as_of : date, optional
        Assignments date; the latest in ``segment_assignments`` by default.

    Returns
    -------
    Catalog
        Not yet stored; see :func:`store_catalog`.
    """
    from segmint._version import __version__

    config = config or CatalogConfig()
    as_of = as_of or latest_as_of(wh)
    infos = prepare(wh, as_of)
    dims = [i.dimension for i in infos]
    for dim in config.names:
        if dim not in dims:
            raise ConfigError(
                f"segmint.yaml: catalog.names.{dim}: no such dimension as of {as_of} "
                f"(dimensions: {', '.join(dims)})"
            )
    features = numeric_features(wh.con)
    # observable rules are a model of membership: only attributes with role input
    barred = {a["feature"] for a in attribute_catalog(wh) if a["role"] != "input"}
    rule_features = [f for f in features if f not in barred]
    dimensions = []
    for info in infos:
        profiles = profile_segments(wh.con, info.dimension, features, top=config.top_features)
        for seg, stats in propensity_stats(wh.con, info.dimension, features).items():
            if seg in profiles:
                profiles[seg] = profiles[seg].model_copy(update={"propensities": stats})
        for seg, stats in label_stats(wh.con, info.dimension).items():
            if seg in profiles:
                profiles[seg] = profiles[seg].model_copy(update={"labels": stats})
        fixed, sources = _fixed_names(wh, info.dimension, info.kind, config, profiles)
        named = named_segments(profiles, fixed)
        names = {seg: name for seg, (name, _) in named.items()}
        for seg in names:
            sources.setdefault(seg, "generated")
        if info.kind == "rules" and (info.params or {}).get("type") == "rules":
            # a rule-defined dimension is described by its own definition, not a surrogate
            rules, ruleset = definition_rules(wh.con, info.dimension, info.params)
        else:
            rules, ruleset = fit_rules(
                wh.con, info.dimension, rule_features, max_conditions=config.max_conditions,
                max_depth=config.max_depth, sample_size=config.sample_size,
            )
        by_segment = {r.segment_id: r for r in rules}
        segments = [
            Segment(segment_id=seg, name=names[seg], name_source=sources[seg],
                    name_terms=named[seg][1], rule=by_segment.get(seg),
                    profile=p, persona=persona(names[seg], p))
            for seg, p in sorted(profiles.items(), key=lambda kv: (-kv[1].size, kv[0]))
        ]
        evidence = _evidence(info.evidence)
        dimensions.append(Dimension(
            dimension=info.dimension, kind=info.kind, method=info.method, model_version=info.model_version,
            n_clients=sum(p.size for p in profiles.values()), features=features, segments=segments,
            rules=ruleset, evidence=evidence, model_params=info.params,
            crosstabs=crosstabs(wh.con, info.dimension, [d for d in dims if d != info.dimension]),
        ))
    return Catalog(
        version=_next_version(wh), created_at=dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0),
        as_of=as_of, project=project, segmint_version=__version__, dimensions=dimensions,
    )


def _evidence(raw: dict | None) -> Evidence | None:
    """The k-selection table of a learned model (``k_table`` or ``table``) and the chosen k."""
    if not raw:
        return None
    table = raw.get("k_table", raw.get("table"))
    if not isinstance(table, list) or not table:
        return None
    chosen = raw.get("chosen_k")
    if chosen is None:
        chosen = next((row.get("k") for row in table if row.get("chosen") is True), None)
    rows = [
        {k: v for k, v in row.items() if v is None or (isinstance(v, int | float) and not isinstance(v, bool))}
        for row in table
    ]
    weights = raw.get("feature_weights") or {}
    return Evidence(
        chosen_k=chosen, table=rows, rule=raw.get("rule"),
        feature_weights={str(k): float(v) for k, v in weights.items()} if isinstance(weights, dict) else {},
    )


_PLACEHOLDER = re.compile(r"^(segment|cluster)[ _-]?\d+$", re.IGNORECASE)


def _fixed_names(wh, dimension, kind, config, profiles) -> tuple[dict[str, str], dict[str, str]]:
    """Names that are not generated: configured ones, and the model's own.

    A rule-defined dimension keeps its names; a learned one keeps a name set
    upstream (e.g. ``segmentation`` config) but not a placeholder such as
    "Segment 3", which is replaced by a generated name.
    """
    fixed: dict[str, str] = {}
    sources: dict[str, str] = {}
    rows = wh.con.execute(
        "SELECT segment_id, min(segment_name) FROM _catalog_assign WHERE dimension = ? GROUP BY 1",
        [dimension],
    ).fetchall()
    generated = generated_names(wh.con, dimension)  # an earlier catalog's: not fixed
    for seg, name in rows:
        if name in generated:
            continue
        if name and (kind == "rules" or not (_PLACEHOLDER.match(name.strip()) or name == seg)):
            fixed[seg], sources[seg] = name, "model"
    for seg, name in config.names.get(dimension, {}).items():
        if seg not in profiles:
            raise ConfigError(
                f"segmint.yaml: catalog.names.{dimension}.{seg}: no such segment "
                f"(segments: {', '.join(sorted(profiles))})"
            )
        fixed[seg], sources[seg] = name, "configured"
    seen: dict[str, str] = {}
    for seg, name in fixed.items():
        if name.lower() in seen:
            raise ConfigError(
                f"segmint.yaml: catalog.names.{dimension}: segments {seen[name.lower()]!r} and {seg!r} "
                f"share the name {name!r}; names must be unique within a dimension"
            )
        seen[name.lower()] = seg
    return fixed, sources


def _next_version(wh: Warehouse) -> int:
    if not wh.has_table(CATALOG_TABLE):
        return 1
    return int(wh.con.execute(f"SELECT coalesce(max(version), 0) + 1 FROM {CATALOG_TABLE}").fetchone()[0])


def store_catalog(wh: Warehouse, catalog: Catalog) -> None:
    """Append the catalog to the warehouse table ``segment_catalog``; its segment names
    become those of the assignments and the history (``segment_names``)."""
    with wh.transaction() as con:
        con.execute(_DDL)
        con.execute(
            f"INSERT INTO {CATALOG_TABLE} VALUES (?, ?, ?, ?)",
            [catalog.version, catalog.created_at, catalog.as_of, catalog.model_dump_json()],
        )
        # one name per segment: the catalog's, in the assignments and the history too
        record_segment_names(
            con,
            [(d.dimension, s.segment_id, s.name, s.name_source)
             for d in catalog.dimensions for s in d.segments],
            catalog_version=catalog.version, as_of=catalog.as_of,
        )


def load_catalog(wh: Warehouse, *, version: int | None = None, as_of: dt.date | None = None) -> Catalog:
    """A stored catalog: ``version``, else the latest one (of ``as_of`` if given)."""
    wh.require(CATALOG_TABLE, hint="run `segmint catalog` first")
    where, params = [], []
    if version is not None:
        where.append("version = ?")
        params.append(version)
    if as_of is not None:
        where.append("as_of = ?")
        params.append(as_of)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    row = wh.con.execute(
        f"SELECT json FROM {CATALOG_TABLE} {clause} ORDER BY version DESC LIMIT 1", params
    ).fetchone()
    if row is None:
        what = " and ".join(f"{w.split()[0]} {p}" for w, p in zip(where, params, strict=True)) or "any"
        raise WarehouseError(f"{CATALOG_TABLE}: no catalog with {what}")
    return Catalog.model_validate_json(row[0])


def catalog_schema() -> dict:
    """The JSON schema of the catalog (published at docs/catalog.schema.json)."""
    return Catalog.model_json_schema()


def catalog_json(catalog: Catalog) -> str:
    return json.dumps(catalog.model_dump(mode="json"), indent=2) + "\n"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def _num(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def _size(x: int | None) -> str:
    return SUPPRESSED if x is None else f"{x:,}"


def catalog_markdown(catalog: Catalog) -> str:
    """The catalog as a human-readable Markdown document (suppressed counts read
    "suppressed"; see :func:`segmint.profiles.release_catalog`)."""
    out = [
        f"# Segment catalog v{catalog.version} — {catalog.project}\n\n",
        f"As of {catalog.as_of}; built {catalog.created_at:%Y-%m-%d %H:%M} UTC "
        f"with segmint {catalog.segmint_version}.\n\n",
    ]
    if catalog.min_cell is not None and catalog.min_cell > 1:
        out.append(suppression_note(catalog.min_cell) + "\n\n")
    for d in catalog.dimensions:
        out.append(f"## Dimension `{d.dimension}` ({d.kind}{', ' + d.method if d.method else ''})\n\n")
        out.append(
            f"Model version `{d.model_version}`; {_size(d.n_clients)} clients in {len(d.segments)} segments. "
            f"The rules below reproduce {d.rules.fidelity:.1%} of assignments "
            f"(clients no rule matches: `{d.rules.fallback}`).\n\n"
        )
        out.append("| segment | name | clients | share | rule | precision | recall | coverage |\n")
        out.append("| --- | --- | ---: | ---: | --- | ---: | ---: | ---: |\n")
        for s in d.segments:
            r = s.rule
            hidden = s.profile.suppressed
            share = SUPPRESSED if hidden else _pct(s.profile.share)
            stats = ([SUPPRESSED] * 3 if hidden else [_pct(r.precision), _pct(r.recall), _pct(r.coverage)]
                     ) if r else ["-"] * 3
            out.append(
                f"| `{s.segment_id}` | {s.name} | {_size(s.profile.size)} | {share} | "
                + (f"{r.english} | " if r else "(fallback) | ") + " | ".join(stats) + " |\n"
            )
        out.append(f"\nAs SQL (first matching rule wins):\n\n```sql\n{d.rules.sql}\n```\n\n")
        for s in d.segments:
            out.append(f"### {s.name} (`{s.segment_id}`)\n\n")
            definition = f"Definition: {s.rule.english} — `{s.rule.sql}`.\n\n" if s.rule else ""
            if s.profile.suppressed:
                out.append(f"Size {SUPPRESSED}: its counts, profile and persona are withheld.\n\n"
                           + definition)
                continue
            out.append(" ".join(sentence.text for sentence in s.persona) + "\n\n")
            out.append(definition)
            if s.cross_sell:
                out.append("Cross-sell:\n\n" + "".join(f"- {line}\n" for line in s.cross_sell) + "\n")
            out.append("| feature | segment mean | segment median | population mean | lift |\n")
            out.append("| --- | ---: | ---: | ---: | ---: |\n")
            for name in s.profile.top_features:
                f = s.profile.feature(name)
                out.append(
                    f"| {label(name)} | {_num(f.mean)} | {_num(f.median)} | {_num(f.population_mean)} | "
                    f"{'-' if f.lift is None else format(f.lift, '+.2f')} |\n"
                )
            out.append("\n")
    return "".join(out)
