"""The catalog as it leaves the warehouse: small-cell suppression of its counts.

The warehouse keeps the full catalog (``segment_catalog``); every release point -- the
``segmint catalog`` output, the report, the serving publication -- passes it through
:func:`release_catalog`. The segment sizes of every dimension, the dimensions' totals and
the cross-tabs between dimensions are one release: a cross-tab's margins *are* the sizes,
so they are suppressed together (:func:`segment_suppression`), and no suppressed size or
cell can be recomputed from anything the catalog shows. Clients of a segment missing from
another dimension (consent keeps them out of learned ones) take part as implied counts.

A suppressed segment keeps its id, name and definition (the rule's SQL and English); its
size, share, value, churn risk, feature means, propensities, labels, rule precision,
recall and coverage, persona and name facts are withheld (null).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from segmint.disclosure import Release, Status, suppress
from segmint.errors import ParameterError
from segmint.profiles._models import (
    Catalog,
    CrossTab,
    CrossTabCell,
    FeatureStat,
    LabelStat,
    PropensityStat,
    Segment,
    ValueStat,
)


@dataclass
class SegmentRelease:
    """Which counts of the segment sizes and cross-tabs are suppressed (status, or None)."""

    sizes: dict[tuple[str, str], Status | None] = field(default_factory=dict)
    totals: dict[str, Status | None] = field(default_factory=dict)
    cells: dict[tuple[str, str, str, str], Status | None] = field(default_factory=dict)

    def hidden(self, dimension: str, segment_id: str) -> bool:
        return self.sizes.get((dimension, segment_id)) is not None


def segment_suppression(
    sizes: pd.DataFrame, crosstabs: pd.DataFrame | None = None, *, min_cell: int
) -> SegmentRelease:
    """Suppress the segment sizes and cross-tab cells released together.

    Parameters
    ----------
    sizes : DataFrame
        ``dimension, segment_id, clients``: every segment of every dimension.
    crosstabs : DataFrame, optional
        ``dimension, segment_id, other_dimension, other_segment_id, clients`` (either
        orientation of a pair, or both; absent cells are zero).
    min_cell : int

    Returns
    -------
    SegmentRelease
        Cells keyed in both orientations.
    """
    rel = Release()
    segs: dict[str, list[str]] = {}
    size: dict[tuple[str, str], int] = {}
    for d, s, n in sizes[["dimension", "segment_id", "clients"]].itertuples(index=False):
        segs.setdefault(d, []).append(s)
        size[(d, s)] = int(n)
        rel.count(("size", d, s), int(n), priority=1)
    for d, ss in segs.items():
        rel.count(("n", d), sum(size[(d, s)] for s in ss), priority=3)
        rel.sum(("n", d), [("size", d, s) for s in ss])
    cells: dict[tuple[str, str, str, str], int] = {}
    if crosstabs is not None and not crosstabs.empty:
        for d, s, e, t, n in crosstabs[["dimension", "segment_id", "other_dimension",
                                        "other_segment_id", "clients"]].itertuples(index=False):
            if d not in segs or e not in segs or d == e:
                continue
            key = (d, s, e, t) if d < e else (e, t, d, s)
            cells[key] = int(n)
    pairs = sorted({(k[0], k[2]) for k in cells})
    for a, b in pairs:
        for s in segs[a]:
            for t in segs[b]:
                if (a, s, b, t) in cells:
                    rel.count(("x", a, s, b, t), cells[(a, s, b, t)])
        for this, other, pos in ((a, b, 0), (b, a, 1)):
            for s in segs[this]:
                parts = [("x", a, s, b, t) if pos == 0 else ("x", a, t, b, s) for t in segs[other]]
                parts = [p for p in parts if p in rel]
                outside = size[(this, s)] - sum(cells[p[1:]] for p in parts)
                # clients of the segment with no segment in the other dimension: implied
                rel.count(("u", this, s, other), outside, published=False)
                rel.sum(("size", this, s), [*parts, ("u", this, s, other)])
    status = suppress(rel, min_cell)
    out = SegmentRelease()
    for key, st in status.items():
        if key[0] == "size":
            out.sizes[(key[1], key[2])] = st
        elif key[0] == "n":
            out.totals[key[1]] = st
        elif key[0] == "x":
            _, a, s, b, t = key
            out.cells[(a, s, b, t)] = out.cells[(b, t, a, s)] = st
    return out


def _label_suppression(catalog: Catalog, seg: SegmentRelease, min_cell: int) -> set[tuple]:
    """(dimension, segment, label) whose label count is suppressed: one table per dimension
    and label, tied across dimensions by the population's count (implied)."""
    rel = Release()
    hide = []
    by_label: dict[str, dict[str, list]] = {}
    for d in catalog.dimensions:
        for s in d.segments:
            for stat in s.profile.labels:
                key = ("l", d.dimension, s.segment_id, stat.label)
                rel.count(key, stat.clients or 0)
                by_label.setdefault(stat.label, {}).setdefault(d.dimension, []).append(key)
                if seg.hidden(d.dimension, s.segment_id):
                    hide.append(key)
    for label, dims in by_label.items():
        totals = {d: sum(rel.value(k) for k in keys) for d, keys in dims.items()}
        shared = len(set(totals.values())) == 1
        for d, keys in dims.items():
            pop = ("pop", label) if shared else ("pop", label, d)
            if pop not in rel:
                rel.count(pop, totals[d], published=False)
            rel.sum(pop, keys)
    status = suppress(rel, min_cell, hide=hide)
    return {k[1:] for k, st in status.items() if st is not None}


def _withheld_segment(s: Segment) -> Segment:
    p = s.profile
    profile = p.model_copy(update={
        "size": None, "share": None, "suppressed": True, "churn_risk": None,
        "value": [ValueStat(metric=v.metric, total=None, mean=None, population_mean=v.population_mean,
                            share_of_total=None) for v in p.value],
        "features": [FeatureStat(feature=f.feature, mean=None, median=None,
                                 population_mean=f.population_mean,
                                 population_median=f.population_median,
                                 population_std=f.population_std, lift=None) for f in p.features],
        "top_features": [],
        "propensities": [PropensityStat(feature=x.feature, mean=None,
                                        population_mean=x.population_mean, top_decile_share=None)
                         for x in p.propensities],
        "labels": [LabelStat(label=x.label, clients=None, rate=None,
                             population_rate=x.population_rate) for x in p.labels],
    })
    rule = s.rule.model_copy(update={"precision": None, "recall": None, "coverage": None}) if s.rule else None
    return s.model_copy(update={"profile": profile, "rule": rule, "persona": [], "name_terms": [],
                                "cross_sell": []})


def release_catalog(catalog: Catalog, min_cell: int) -> Catalog:
    """The catalog with its small counts suppressed (``governance.min_cell``; 1: none).

    Idempotent for the same ``min_cell``; a catalog released with another minimum cannot
    be released again (its counts are gone).
    """
    if catalog.min_cell is not None:
        if catalog.min_cell == min_cell:
            return catalog
        raise ParameterError(
            f"catalog v{catalog.version} was released with min_cell {catalog.min_cell}; "
            f"release the warehouse's copy (load_catalog) with min_cell {min_cell}"
        )
    if min_cell < 1:
        raise ParameterError(f"governance.min_cell must be at least 1 (got {min_cell})")
    sizes = pd.DataFrame(
        [(d.dimension, s.segment_id, s.profile.size) for d in catalog.dimensions for s in d.segments],
        columns=["dimension", "segment_id", "clients"],
    )
    crosstabs = pd.DataFrame(
        [(d.dimension, c.segment_id, ct.other_dimension, c.other_segment_id, c.clients)
         for d in catalog.dimensions for ct in d.crosstabs for c in ct.cells],
        columns=["dimension", "segment_id", "other_dimension", "other_segment_id", "clients"],
    )
    seg = segment_suppression(sizes, crosstabs, min_cell=min_cell)
    labels = _label_suppression(catalog, seg, min_cell)
    dimensions = []
    for d in catalog.dimensions:
        segments = []
        for s in d.segments:
            if seg.hidden(d.dimension, s.segment_id):
                segments.append(_withheld_segment(s))
                continue
            stats = [x.model_copy(update={"clients": None, "rate": None})
                     if (d.dimension, s.segment_id, x.label) in labels else x for x in s.profile.labels]
            segments.append(s.model_copy(update={"profile": s.profile.model_copy(update={"labels": stats})}))
        crosstabs_out = [
            CrossTab(other_dimension=ct.other_dimension, cells=[
                c if seg.cells.get((d.dimension, c.segment_id, ct.other_dimension, c.other_segment_id))
                is None else CrossTabCell(segment_id=c.segment_id, other_segment_id=c.other_segment_id,
                                          clients=None, suppressed=True)
                for c in ct.cells])
            for ct in d.crosstabs
        ]
        dimensions.append(d.model_copy(update={
            "n_clients": None if seg.totals.get(d.dimension) else d.n_clients,
            "segments": segments, "crosstabs": crosstabs_out,
        }))
    return catalog.model_copy(update={"dimensions": dimensions, "min_cell": min_cell})
