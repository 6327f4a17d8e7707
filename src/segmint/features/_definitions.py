"""What a feature *is*: named, documented SQL definitions, and how they compose into a query.

A :class:`Feature` is one column: a name, a group, a description, a unit, the
entities it reads, a dtype, an SQL aggregate expression (DuckDB dialect) over
its set's source relation, and the value a client gets when the source has no
row for it. A :class:`FeatureSet` is one query unit: a source relation and the
features aggregated from it per client. Sets are composed into a single query
(one CTE per set, left-joined onto the clients as of the date) by
:func:`compose_query`; engines only ever see that SQL text.

A :class:`PostEngineGroup` runs Python (vectorised) on the engine's result and
joins its columns back, for models that are not SQL (the CLV group).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from segmint._typing import FeatureDtype

# One expansion of a templated feature: keys used in the name ({category}) and the expression.
Binding = Mapping[str, str]


@dataclass(frozen=True)
class Feature:
    """One feature definition.

    Parameters
    ----------
    name : str
        Column name; may hold placeholders (``share_cat_{category}``) filled from ``over``.
    group : str
        Group the feature belongs to (``rfm``, ``behaviour``...).
    description : str
        What it measures, in words.
    unit : str
        Unit: ``days``, ``currency``, ``share``, ``count``, ``score``, the time unit...
    expr : str
        SQL aggregate over the set's source (DuckDB dialect). ``{name}`` placeholders are
        filled from the query parameters (``{as_of}``) and from the ``over`` bindings.
    default : str
        SQL literal for clients without any source row (``"0"``, ``"NULL"``).
    dtype : {"DOUBLE", "BIGINT", "VARCHAR"}
        Type of the column in every engine.
    entities : tuple of str
        Canonical entities the feature reads.
    over : tuple of str
        Names of parameter lists the feature is expanded over (``("category",)``):
        one column per element, in the list's order.
    """

    name: str
    group: str
    description: str
    unit: str
    expr: str
    default: str
    dtype: FeatureDtype
    entities: tuple[str, ...]
    over: tuple[str, ...] = ()

    @property
    def if_no_data(self) -> str:
        """The documented value of a client the source has no row for."""
        return "null" if self.default.upper() == "NULL" else self.default.strip("'")

    def _bindings(self, params: Mapping[str, Any]) -> list[dict[str, str]]:
        scalars = {k: v for k, v in params.items() if isinstance(v, str)}
        lists: list[Sequence[Binding]] = [params[key] for key in self.over]
        out = []
        for combo in itertools.product(*lists):
            binding: dict[str, str] = dict(scalars)
            for b in combo:
                binding.update(b)
            out.append(binding)
        return out

    def expand(self, params: Mapping[str, Any]) -> list[tuple[str, str]]:
        """``(name, sql)`` of each column this definition produces under ``params``."""
        return [(self.name.format(**b), self.expr.format(**b)) for b in self._bindings(params)]

    def defaults(self, params: Mapping[str, Any]) -> dict[str, str]:
        """``{name: default SQL}`` of each column (a binding may set the default)."""
        return {self.name.format(**b): self.default.format(**b) for b in self._bindings(params)}


@dataclass(frozen=True)
class FeatureSet:
    """Features aggregated from one source relation (one CTE of the composed query).

    Parameters
    ----------
    name : str
        CTE name (unique across sets).
    source : str
        The relation it reads: a shared CTE name (see :data:`SHARED_CTES` in the catalog).
    features : tuple of Feature
        The columns it produces.
    grouped : bool
        Aggregate with ``GROUP BY client_id`` (else ``expr`` are row-level, e.g. window
        functions over a client-level source).
    """

    name: str
    source: str
    features: tuple[Feature, ...]
    grouped: bool = True

    def columns(self, params: Mapping[str, Any]) -> list[tuple[Feature, str, str]]:
        return [(f, n, e) for f in self.features for n, e in f.expand(params)]


@dataclass(frozen=True)
class FeatureGroup:
    """A named group of feature sets computed in the engine."""

    name: str
    description: str
    entities: tuple[str, ...]
    sets: tuple[FeatureSet, ...]
    requires: tuple[str, ...] = ()  # groups whose CTEs this group's sources read
    by_default: bool = True  # computed when features.groups is omitted

    @property
    def features(self) -> tuple[Feature, ...]:
        return tuple(f for s in self.sets for f in s.features)


@dataclass(frozen=True)
class PostEngineContext:
    """What a post-engine group may use besides the engine's frame.

    Attributes
    ----------
    as_of : date or None
        The date the features are computed as of.
    warehouse : Warehouse or None
        Where a group keeps fitted models (versions it reuses across as_of dates and
        re-scorings); None: it fits in memory at every call.
    population : callable or None
        Returns every client's rows (the ``requires`` groups' columns) when the frame holds
        some clients only (event re-scoring): a model is fitted on the population, never on
        the frame. None: the frame is the population.
    refit : bool
        Whether the group may fit a new model version by its refit policy. False (event
        re-scoring): it scores with the latest stored version whatever its age, and fits
        only when there is none.
    """

    as_of: dt.date | None = None
    warehouse: Any = None
    population: Callable[[], pd.DataFrame] | None = None
    refit: bool = True


@dataclass(frozen=True)
class PostEngineGroup:
    """A group computed in Python from the engine's result, then joined back on client_id.

    ``compute(frame, options, context)`` receives the engine result (one row per client,
    with at least the columns of ``requires`` groups), the query parameters and a
    :class:`PostEngineContext`, and returns a frame with ``client_id`` and one column per
    feature in ``features``, vectorised (no per-row Python). This is the hook of the CLV
    group: ``segmint.clv.clv_features`` on the btyd summary, with versioned models.
    """

    name: str
    description: str
    requires: tuple[str, ...]
    features: tuple[Feature, ...]
    compute: Callable[[pd.DataFrame, Mapping[str, Any], PostEngineContext], pd.DataFrame] = field(
        compare=False
    )
    entities: tuple[str, ...] = ()
    #: computed when ``features.groups`` is omitted; False: only when listed there
    by_default: bool = True


@dataclass(frozen=True)
class SharedCte:
    """A relation several sets read, e.g. purchases as of the date."""

    name: str
    sql: str
    requires: tuple[str, ...] = ()


class _With:
    """The WITH clause being built: shared relations emitted before their first reader."""

    def __init__(self, ctes: Mapping[str, SharedCte], params: Mapping[str, Any], sets=()) -> None:
        self.ctes, self.sets = ctes, {s.name for s in sets}
        self.scalars = {k: v for k, v in params.items() if isinstance(v, str)}
        self.parts: list[str] = []
        self.emitted: set[str] = set()

    def need(self, name: str) -> None:
        # a shared relation may read a set's CTE (scores read the rfm set), so sets come
        # in dependency order
        if name in self.emitted:
            return
        if name in self.sets:
            raise KeyError(f"relation {name!r} is read before it is computed")
        if name not in self.ctes:
            raise KeyError(f"unknown relation {name!r}")
        for dep in self.ctes[name].requires:
            self.need(dep)
        self.parts.append(f"{name} AS (\n{self.ctes[name].sql.format(**self.scalars)}\n)")
        self.emitted.add(name)

    def sql(self) -> str:
        return "WITH " + ",\n".join(self.parts)


def compose_ctes(
    ctes: Mapping[str, SharedCte], params: Mapping[str, Any], names: Sequence[str]
) -> str:
    """The WITH clause defining the shared relations ``names`` and what they read."""
    w = _With(ctes, params)
    for name in names:
        w.need(name)
    return w.sql()


def compose_query(
    sets: Sequence[FeatureSet],
    ctes: Mapping[str, SharedCte],
    params: Mapping[str, Any],
    *,
    base: str = "clients_asof",
    order: bool = True,
) -> tuple[str, list[tuple[Feature, str]]]:
    """One SQL query computing every column of ``sets``, one row per client of ``base``.

    Returns the query (DuckDB dialect) and the ``(feature, column name)`` of each output
    column after ``client_id``, in order. Rows are sorted by ``client_id`` unless
    ``order`` is False (a query whose result is stored in the engine need not sort).
    """
    w = _With(ctes, params, sets)
    w.need(base)
    select = ["b.client_id"]
    joins = []
    columns: list[tuple[Feature, str]] = []
    for i, s in enumerate(sets):
        cols = s.columns(params)
        if not cols:  # nothing to compute: its source is not read (its table may not exist)
            continue
        w.need(s.source)
        w.emitted.add(s.name)
        body = ",\n    ".join(f"{e} AS {n}" for _, n, e in cols)
        group_by = "\nGROUP BY client_id" if s.grouped else ""
        w.parts.append(
            f"{s.name} AS (\n  SELECT client_id,\n    {body}\n  FROM {s.source}{group_by}\n)"
        )
        alias = f"s{i}"
        joins.append(f"LEFT JOIN {s.name} AS {alias} ON {alias}.client_id = b.client_id")
        defaults = {n: d for f in s.features for n, d in f.defaults(params).items()}
        for f, n, _ in cols:
            default = defaults[n]
            select.append(f"CAST(COALESCE({alias}.{n}, {default}) AS {f.dtype}) AS {n}")
            columns.append((f, n))
    sql = (
        w.sql()
        + "\nSELECT "
        + ",\n  ".join(select)
        + f"\nFROM {base} AS b\n"
        + "\n".join(joins)
        + ("\nORDER BY b.client_id" if order else "")
    )
    return sql, columns
