"""Audiences: named, versioned selections of clients, built in DuckDB SQL.

A build (:func:`build_audience`) selects, at one as_of, the clients

1. in the listed segments (``match: all`` — every listed dimension; ``any`` — one);
2. for which ``where`` holds (features and ``propensity_*`` scores);
3. in the *stable core* when ``stable_cycles: N``: the client's spell in each listed
   dimension (``segment_history``) started on or before the N-th latest update cycle
   and still covers the as_of;
4. not excluded: no marketing consent, contacted within d days (table ``contacts``),
   members of other audiences' latest builds; a randomised holdout share is kept apart
   (status ``holdout``);
5. within the size cap, ranked by score, value, expected value (score x value) or the
   stability-weighted score: score x P(stay in segment), the share of the segment's
   clients still in it one cycle later over every recorded migration
   (``segment_migration``), multiplied across the listed dimensions.

Each build is stored as the next version in ``audience_builds`` (definition, counts)
and ``audience_members`` (one row per member or holdout client, with its rank, the
values it was ranked on and the reason for inclusion).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from segmint.config._targeting import AudienceConfig
from segmint.errors import ConfigError, ParameterError, WarehouseError
from segmint.segmentation import ASSIGNMENTS
from segmint.segmentation._preprocess import quote, sql_string
from segmint.store import Warehouse
from segmint.targeting._sql import BASE, build_base, compile_expression, latest_features_as_of

BUILDS = "audience_builds"
MEMBERS = "audience_members"
CONTACTS = "contacts"
HISTORY = "segment_history"
MIGRATION = "segment_migration"
CYCLES = "monitoring_cycles"
NAMES = "_targeting_names"

_DDL = {
    BUILDS: """audience VARCHAR NOT NULL, version INTEGER NOT NULL, as_of DATE NOT NULL,
        created_at TIMESTAMP NOT NULL, definition JSON NOT NULL, members BIGINT NOT NULL,
        holdout BIGINT NOT NULL, counts JSON NOT NULL, notes JSON NOT NULL,
        PRIMARY KEY (audience, version)""",
    MEMBERS: """audience VARCHAR NOT NULL, version INTEGER NOT NULL, as_of DATE NOT NULL,
        client_id VARCHAR NOT NULL, status VARCHAR NOT NULL, rank BIGINT NOT NULL,
        score DOUBLE, value DOUBLE, p_stay DOUBLE, rank_value DOUBLE, used JSON,
        reason VARCHAR NOT NULL""",
}
_CONTACTS_DDL = f"""CREATE TABLE IF NOT EXISTS {CONTACTS} (client_id VARCHAR NOT NULL,
    contacted_at DATE NOT NULL, audience VARCHAR, channel VARCHAR)"""


@dataclass
class AudienceBuild:
    """What :func:`build_audience` stored.

    Attributes
    ----------
    audience, version, as_of
    members : clients selected (status ``member``)
    holdout : clients kept apart as the randomised holdout
    counts : clients left at each step (``segments``, ``where``, ``stable_core``,
        ``no_consent``, ``contacted``, ``audiences``, ``eligible``) and removed by each
        exclusion (``excluded_<reason>``)
    notes : what could not be applied and why (e.g. no consent column)
    changes : ``added``, ``removed``, ``kept`` against the previous version (None: first)
    """

    audience: str
    version: int
    as_of: dt.date
    members: int
    holdout: int
    counts: dict[str, int]
    notes: list[str] = field(default_factory=list)
    changes: dict[str, int] | None = None


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    for name, cols in _DDL.items():
        con.execute(f"CREATE TABLE IF NOT EXISTS {name} ({cols})")


def _has(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary", [table]
    ).fetchone()[0])  # type: ignore[index]


def _day(d: dt.date) -> str:
    return f"DATE '{d.isoformat()}'"


# -- segment names ---------------------------------------------------------------------
def segment_names(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> pd.DataFrame:
    """``(dimension, segment_id, name, model_name)`` at ``as_of``: the catalog's names
    (latest catalog of that as_of) where one is stored, else the model's.

    Also left in the temp table ``_targeting_names``.
    """
    if not _has(con, ASSIGNMENTS):
        raise WarehouseError(f"missing table {ASSIGNMENTS}; run `segmint segment` first")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {NAMES} AS SELECT dimension, segment_id, "
        f"min(segment_name) AS model_name, min(segment_name) AS name FROM {ASSIGNMENTS} "
        f"WHERE as_of = {_day(as_of)} GROUP BY ALL"
    )
    from segmint.profiles import CATALOG_TABLE

    if _has(con, CATALOG_TABLE):
        row = con.execute(
            f"SELECT json FROM {CATALOG_TABLE} WHERE as_of = ? ORDER BY version DESC LIMIT 1",
            [as_of],
        ).fetchone()
        if row is not None:
            catalog = json.loads(row[0])
            pairs = [
                (d["dimension"], s["segment_id"], s["name"])
                for d in catalog.get("dimensions", [])
                for s in d.get("segments", [])
            ]
            if pairs:
                frame = pd.DataFrame(pairs, columns=["dimension", "segment_id", "name"])  # noqa: F841
                con.execute(
                    f"UPDATE {NAMES} AS n SET name = c.name FROM frame AS c "
                    "WHERE n.dimension = c.dimension AND n.segment_id = c.segment_id"
                )
    return con.execute(f"SELECT * FROM {NAMES} ORDER BY dimension, segment_id").df()


def _segment_ids(names: pd.DataFrame, dimension: str, wanted: list[str], where: str) -> list[str]:
    rows = names[names.dimension == dimension]
    if rows.empty:
        raise ConfigError(
            f"{where}: no dimension {dimension!r} assigned at this as_of "
            f"(dimensions: {', '.join(sorted(names.dimension.unique()))})"
        )
    out = []
    for w in wanted:
        hit = rows[(rows.segment_id == w) | (rows.name == w) | (rows.model_name == w)]
        if hit.empty:
            known = ", ".join(f"{r.segment_id} ({r.name})" for r in rows.itertuples())
            raise ConfigError(f"{where}: {w!r} is not a segment of {dimension} (segments: {known})")
        out.extend(hit.segment_id.tolist())
    return sorted(set(out))


# -- P(stay) ---------------------------------------------------------------------------
def stay_probabilities(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> pd.DataFrame:
    """P(stay in segment) per (dimension, segment_id): clients in the segment at one cycle
    who are in it at the next, over every recorded migration up to ``as_of`` (clients
    who left the book are not counted)."""
    if not _has(con, MIGRATION):
        return pd.DataFrame(columns=["dimension", "segment_id", "p_stay", "clients"])
    return con.execute(
        f"SELECT dimension, from_segment AS segment_id, "
        f"sum(clients) FILTER (WHERE to_segment = from_segment) / sum(clients) AS p_stay, "
        f"sum(clients) AS clients FROM {MIGRATION} "
        f"WHERE as_of <= ? AND from_segment <> '(new)' AND to_segment <> '(gone)' "
        "GROUP BY ALL ORDER BY ALL",
        [as_of],
    ).df()


# -- the build ---------------------------------------------------------------------------
def build_audience(
    wh: Warehouse,
    name: str,
    audiences: dict[str, AudienceConfig],
    *,
    as_of: dt.date | None = None,
    lookalike_scores: pd.DataFrame | None = None,
    root: Path | None = None,
) -> AudienceBuild:
    """Select and store the next version of audience ``name`` at ``as_of``.

    Parameters
    ----------
    wh : Warehouse
    name : str
        A key of ``audiences``.
    audiences : dict
        The project's ``audiences:`` (exclusions may name other audiences).
    as_of : date, optional
        Default: the latest features snapshot.
    lookalike_scores : DataFrame, optional
        ``client_id, similarity`` for a lookalike audience (see
        :func:`segmint.targeting.lookalike_audience_scores`); its clients are the
        candidates and ``similarity`` the default score.
    root : Path, optional
        Folder that relative seed files are resolved against.

    Returns
    -------
    AudienceBuild
    """
    if name not in audiences:
        raise ConfigError(
            f"segmint.yaml: audiences.{name}: no such audience "
            f"(declared: {', '.join(audiences) or 'none'})"
        )
    cfg = audiences[name]
    con = wh.con
    as_of = as_of or latest_features_as_of(con)
    where_key = f"segmint.yaml: audiences.{name}"
    columns = build_base(con, as_of)
    notes: list[str] = []
    if cfg.lookalike is not None:
        if lookalike_scores is None:
            from segmint.targeting._lookalike import lookalike_audience_scores

            lookalike_scores = lookalike_audience_scores(wh, name, audiences, as_of=as_of, root=root)
        if lookalike_scores.attrs.get("note"):
            notes.append(lookalike_scores.attrs["note"])
        frame = lookalike_scores[["client_id", "similarity"]]  # noqa: F841
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {BASE} AS SELECT b.*, l.similarity "
            f"FROM {BASE} AS b JOIN frame AS l USING (client_id)"
        )
        columns.add("similarity")
    score_col = cfg.score or ("similarity" if cfg.lookalike is not None else None)
    for col, key in ((score_col, "score"), (cfg.value if cfg.rank_by in ("value", "expected_value") else None, "value")):
        if col is not None and col not in columns:
            compile_expression(col, columns, where=f"{where_key}.{key}")
    names = segment_names(con, as_of)

    # 1. segments, 2. where, 3. stable core: one boolean column each
    dims = list(cfg.segments)
    seg_conds = []
    for dim in dims:
        ids = _segment_ids(names, dim, cfg.segments[dim], f"{where_key}.segments.{dim}")
        seg_conds.append(f"s.{quote(dim)} IN ({', '.join(sql_string(i) for i in ids)})")
    all_dims = sorted(names.dimension.unique())
    pivot = ", ".join(
        f"max(segment_id) FILTER (WHERE dimension = {sql_string(d)}) AS {quote(d)}" for d in all_dims
    )
    in_segments = (" AND " if cfg.match == "all" else " OR ").join(seg_conds) or "true"
    cond_where = (
        compile_expression(cfg.where, columns, where=f"{where_key}.where") if cfg.where else "true"
    )
    stable_sql, stable_join = "true", ""
    if cfg.stable_cycles:
        since = _nth_cycle(con, as_of, cfg.stable_cycles, where_key)
        stable_dims = dims or all_dims
        stable_join = (
            f" LEFT JOIN (SELECT h.client_id, count(*) AS n_stable FROM {HISTORY} AS h "
            f"JOIN {ASSIGNMENTS} AS a ON a.client_id = h.client_id AND a.dimension = h.dimension "
            f"AND a.segment_id = h.segment_id AND a.as_of = {_day(as_of)} "
            f"WHERE h.valid_from <= {_day(since)} AND (h.valid_to IS NULL OR h.valid_to > {_day(as_of)}) "
            f"AND h.dimension IN ({', '.join(sql_string(d) for d in stable_dims)}) "
            "GROUP BY h.client_id) AS st USING (client_id)"
        )
        stable_sql = f"coalesce(st.n_stable, 0) = {len(stable_dims)}"

    # 4. exclusions
    ex = cfg.exclude
    consent_sql = "true"
    if ex.no_consent:
        if ex.consent_column in columns:
            col = f"b.{quote(ex.consent_column)}"
            consent_sql = f"coalesce(CAST({col} AS BOOLEAN), {str(ex.consent_missing_means).lower()})"
        else:
            notes.append(
                f"exclude.no_consent: no column {ex.consent_column!r} in clients or features; "
                "nobody was excluded for consent"
            )
    contacted_join, contacted_sql = "", "true"
    if ex.contacted_within_days:
        if _has(con, CONTACTS):
            start = as_of - dt.timedelta(days=ex.contacted_within_days)
            contacted_join = (
                f" LEFT JOIN (SELECT DISTINCT client_id, true AS contacted FROM {CONTACTS} "
                f"WHERE contacted_at > {_day(start)} AND contacted_at <= {_day(as_of)}) AS ct "
                "USING (client_id)"
            )
            contacted_sql = "ct.contacted IS NULL"
        else:
            notes.append(
                f"exclude.contacted_within_days: no table {CONTACTS!r} in the warehouse; "
                "nobody was excluded for a recent contact"
            )
    other_join, other_sql = "", "true"
    if ex.audiences:
        ensure_tables(con)
        latest = [_latest_version(con, a) for a in ex.audiences]
        missing = [a for a, v in zip(ex.audiences, latest, strict=True) if v is None]
        if missing:
            raise WarehouseError(
                f"{where_key}.exclude.audiences: {', '.join(missing)} never built; "
                f"build first: segmint audience build {missing[0]}"
            )
        pairs = " OR ".join(
            f"(audience = {sql_string(a)} AND version = {v})"
            for a, v in zip(ex.audiences, latest, strict=True)
        )
        other_join = (
            f" LEFT JOIN (SELECT DISTINCT client_id, true AS other FROM {MEMBERS} "
            f"WHERE status = 'member' AND ({pairs})) AS o USING (client_id)"
        )
        other_sql = "o.other IS NULL"
    salt = ex.holdout_salt or name
    holdout_sql = (
        f"(hash(b.client_id || {sql_string(':' + salt)}) % 1000000) < {int(round(ex.holdout_share * 1_000_000))}"
        if ex.holdout_share
        else "false"
    )

    # 5. ranking
    p_stay_sql, p_join = "1e0", ""
    if cfg.rank_by == "stability_weighted":
        stay = stay_probabilities(con, as_of)
        if stay.empty:
            raise WarehouseError(
                f"{where_key}.rank_by: stability_weighted needs segment migrations; run at "
                "least two update cycles (`segmint update`)"
            )
        frame_stay = stay  # noqa: F841
        for i, dim in enumerate(dims):
            p_join += (
                f" LEFT JOIN (SELECT segment_id, p_stay FROM frame_stay WHERE dimension = "
                f"{sql_string(dim)}) AS ps{i} ON ps{i}.segment_id = s.{quote(dim)}"
            )
        p_stay_sql = " * ".join(f"coalesce(ps{i}.p_stay, 0e0)" for i in range(len(dims)))
    score_sql = f"CAST(b.{quote(score_col)} AS DOUBLE)" if score_col else "NULL::DOUBLE"
    value_sql = f"CAST(b.{quote(cfg.value)} AS DOUBLE)" if cfg.value in columns else "NULL::DOUBLE"
    rank_value = {
        "score": score_sql,
        "value": value_sql,
        "expected_value": f"{score_sql} * {value_sql}",
        "stability_weighted": f"{score_sql} * ({p_stay_sql})",
    }[cfg.rank_by]
    if score_col is None and cfg.rank_by != "value":
        rank_value = "NULL::DOUBLE"
    used_cols = _used_columns(cfg, columns)
    used_sql = (
        "to_json(struct_pack(" + ", ".join(f"{quote(c)} := b.{quote(c)}" for c in used_cols) + "))"
        if used_cols else "NULL::JSON"
    )
    # reasons and used values are built for the kept rows only (at insert)
    seg_reason = " || '; ' || ".join(
        f"{sql_string(d + '=')} || coalesce(sn{i}.name, r.seg_{i})" for i, d in enumerate(dims)
    ) or "'all clients'"
    name_joins = "".join(
        f" LEFT JOIN {NAMES} AS sn{i} ON sn{i}.dimension = {sql_string(d)} AND sn{i}.segment_id = r.seg_{i}"
        for i, d in enumerate(dims)
    )
    seg_cols = "".join(f", s.{quote(d)} AS seg_{i}" for i, d in enumerate(dims))
    extra_reason = ""
    if cfg.lookalike is not None:
        extra_reason += " || '; lookalike similarity ' || printf('%.3f', b.similarity)"
    if cfg.where:
        extra_reason += f" || {sql_string('; ' + cfg.where)}"
    if cfg.stable_cycles:
        extra_reason += f" || {sql_string(f'; stable {cfg.stable_cycles} cycles')}"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _audience_steps AS
        SELECT b.client_id,
               coalesce({in_segments}, false) AS in_segments,
               coalesce({cond_where}, false) AS in_where,
               coalesce({stable_sql}, false) AS in_stable,
               coalesce({consent_sql}, false) AS has_consent,
               {contacted_sql} AS not_contacted,
               {other_sql} AS not_other,
               {holdout_sql} AS is_holdout,
               {score_sql} AS score, {value_sql} AS value, ({p_stay_sql}) AS p_stay,
               {rank_value} AS rank_value{seg_cols}
        FROM {BASE} AS b
        LEFT JOIN (SELECT client_id, {pivot} FROM {ASSIGNMENTS} WHERE as_of = {_day(as_of)}
                   GROUP BY client_id) AS s USING (client_id)
        {stable_join}{contacted_join}{other_join}{p_join}"""
    )
    counts = _step_counts(con)
    members_cap = cfg.size if cfg.size is not None else None
    hold_cap = (
        None if members_cap is None or not ex.holdout_share
        else int(round(members_cap * ex.holdout_share / (1 - ex.holdout_share)))
    )
    by = cfg.rank_by
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _audience_ranked AS
        SELECT *, CASE WHEN is_holdout THEN 'holdout' ELSE 'member' END AS status,
               row_number() OVER (PARTITION BY is_holdout
                                  ORDER BY rank_value DESC NULLS LAST, client_id) AS rank
        FROM _audience_steps
        WHERE in_segments AND in_where AND in_stable AND has_consent AND not_contacted AND not_other"""
    )
    keep = (
        f"(status = 'member' {'' if members_cap is None else f'AND rank <= {members_cap}'}) OR "
        f"(status = 'holdout' {'' if hold_cap is None else f'AND rank <= {hold_cap}'})"
    )
    rank_label = sql_string(f"; rank by {by} ")
    ensure_tables(con)
    previous = _latest_version(con, name)
    version = (previous or 0) + 1
    definition = cfg.model_dump(mode="json")
    with wh.transaction() as tx:
        ensure_tables(tx)
        tx.execute(
            f"""INSERT INTO {MEMBERS} SELECT {sql_string(name)}, {version}, {_day(as_of)},
                r.client_id, r.status, r.rank, r.score, r.value, r.p_stay, r.rank_value, {used_sql},
                {seg_reason}{extra_reason} || {rank_label} || r.rank
            FROM (SELECT * FROM _audience_ranked WHERE {keep}) AS r
            JOIN {BASE} AS b USING (client_id){name_joins}"""
        )
        n_members, n_holdout = tx.execute(
            f"SELECT count(*) FILTER (WHERE status = 'member'), count(*) FILTER (WHERE status = 'holdout') "
            f"FROM {MEMBERS} WHERE audience = ? AND version = ?",
            [name, version],
        ).fetchone()  # type: ignore[misc]
        tx.execute(
            f"INSERT INTO {BUILDS} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [name, version, as_of, _now(), json.dumps(definition), n_members, n_holdout,
             json.dumps(counts), json.dumps(notes)],
        )
    for t in ("_audience_steps", "_audience_ranked"):
        con.execute(f"DROP TABLE IF EXISTS {t}")
    changes = None if previous is None else audience_changes(con, name, version)
    return AudienceBuild(name, version, as_of, int(n_members), int(n_holdout), counts, notes, changes)


def _used_columns(cfg: AudienceConfig, columns: set[str]) -> list[str]:
    import sqlglot
    from sqlglot import exp

    used: list[str] = []
    if cfg.where:
        for col in sqlglot.parse_one(cfg.where, read="duckdb").find_all(exp.Column):
            if col.name in columns and col.name not in used:
                used.append(col.name)
    for c in (cfg.score, cfg.value):
        if c and c in columns and c not in used:
            used.append(c)
    return used


def _step_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    row = con.execute(
        """SELECT count(*),
            count(*) FILTER (WHERE in_segments),
            count(*) FILTER (WHERE in_segments AND in_where),
            count(*) FILTER (WHERE in_segments AND in_where AND in_stable),
            count(*) FILTER (WHERE in_segments AND in_where AND in_stable AND NOT has_consent),
            count(*) FILTER (WHERE in_segments AND in_where AND in_stable AND has_consent
                             AND NOT not_contacted),
            count(*) FILTER (WHERE in_segments AND in_where AND in_stable AND has_consent
                             AND not_contacted AND NOT not_other),
            count(*) FILTER (WHERE in_segments AND in_where AND in_stable AND has_consent
                             AND not_contacted AND not_other)
        FROM _audience_steps"""
    ).fetchone()
    assert row is not None
    keys = ("clients", "segments", "where", "stable_core", "excluded_no_consent",
            "excluded_contacted", "excluded_audiences", "eligible")
    return {k: int(v) for k, v in zip(keys, row, strict=True)}


def _nth_cycle(con: duckdb.DuckDBPyConnection, as_of: dt.date, n: int, where: str) -> dt.date:
    if not _has(con, CYCLES) or not _has(con, HISTORY):
        raise WarehouseError(
            f"{where}.stable_cycles: needs the segment history; run update cycles (`segmint update`)"
        )
    rows = con.execute(
        f"SELECT DISTINCT as_of FROM {CYCLES} WHERE status = 'ok' AND as_of <= ? "
        "ORDER BY as_of DESC LIMIT ?",
        [as_of, n],
    ).fetchall()
    if len(rows) < n:
        raise WarehouseError(
            f"{where}.stable_cycles: {n} cycles asked, {len(rows)} recorded up to {as_of}"
        )
    return rows[-1][0]


def _latest_version(con: duckdb.DuckDBPyConnection, name: str) -> int | None:
    if not _has(con, BUILDS):
        return None
    row = con.execute(f"SELECT max(version) FROM {BUILDS} WHERE audience = ?", [name]).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


# -- reading builds ------------------------------------------------------------------------
def _version(con: duckdb.DuckDBPyConnection, name: str, version: int | None) -> int:
    latest = _latest_version(con, name)
    if latest is None:
        raise WarehouseError(f"audience {name!r} was never built (segmint audience build {name})")
    if version is None:
        return latest
    if not con.execute(
        f"SELECT count(*) FROM {BUILDS} WHERE audience = ? AND version = ?", [name, version]
    ).fetchone()[0]:  # type: ignore[index]
        raise ParameterError(f"audience {name!r}: no version {version} (latest: {latest})")
    return version


def audience_changes(
    con: duckdb.DuckDBPyConnection, name: str, version: int | None = None
) -> dict[str, int] | None:
    """Members added, removed and kept by ``version`` (default latest) against the one before."""
    version = _version(con, name, version)
    if version == 1:
        return None
    row = con.execute(
        f"""SELECT count(*) FILTER (WHERE p.client_id IS NULL),
                   count(*) FILTER (WHERE c.client_id IS NULL),
                   count(*) FILTER (WHERE p.client_id IS NOT NULL AND c.client_id IS NOT NULL)
        FROM (SELECT client_id FROM {MEMBERS} WHERE audience = ? AND version = ? AND status = 'member') AS c
        FULL JOIN (SELECT client_id FROM {MEMBERS} WHERE audience = ? AND version = ?
                   AND status = 'member') AS p USING (client_id)""",
        [name, version, name, version - 1],
    ).fetchone()
    assert row is not None
    return {"added": int(row[0]), "removed": int(row[1]), "kept": int(row[2])}


# -- releasing counts -------------------------------------------------------------------------
def _latest(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    if not _has(con, BUILDS):
        return {}
    return dict(con.execute(
        f"SELECT audience, max(version) FROM {BUILDS} GROUP BY 1 ORDER BY 1"
    ).fetchall())


def _overlaps(con: duckdb.DuckDBPyConnection, latest: dict[str, int]) -> pd.DataFrame:
    """Members shared by each pair of the latest builds (``a, b, n``; both orders, and the
    diagonal: the sizes)."""
    if not latest:
        return pd.DataFrame(columns=["a", "b", "n"])
    pairs = " OR ".join(f"(audience = {sql_string(n)} AND version = {v})" for n, v in latest.items())
    return con.execute(
        f"""WITH m AS (SELECT audience, client_id FROM {MEMBERS} WHERE status = 'member' AND ({pairs}))
        SELECT a.audience AS a, b.audience AS b, count(*) AS n
        FROM m AS a JOIN m AS b USING (client_id) GROUP BY ALL"""
    ).df()


def audience_release(con: duckdb.DuckDBPyConnection, min_cell: int) -> dict[tuple, Any]:
    """Which counts of the latest builds are suppressed, released together.

    Every command that shows the latest builds (``audience list``, ``show``, ``overlap``,
    the serving publication) shows the same counts: each build's members and holdout, its
    changes against the version before (added = members - kept, removed = the previous
    members - kept), and the members shared by every pair of audiences (one's members
    outside the other are implied: a size minus an overlap). Counts below ``min_cell``
    are suppressed with complements (:func:`segmint.disclosure.suppress`).

    Returns
    -------
    dict
        ``("members" | "holdout" | "added" | "removed" | "kept" | "previous", audience)`` and
        ``("overlap", a, b)`` (both orders) -> status, None when released.
    """
    from segmint.disclosure import Release, suppress

    latest = _latest(con)
    rel = Release()
    if not latest:
        return {}
    rows = con.execute(
        f"SELECT audience, members, holdout FROM {BUILDS} WHERE (audience, version) IN "
        f"(SELECT audience, max(version) FROM {BUILDS} GROUP BY 1)"
    ).fetchall()
    for a, n, h in rows:
        rel.count(("members", a), n, priority=1)
        rel.count(("holdout", a), h, priority=1)
        ch = audience_changes(con, a, latest[a])
        if ch is not None:
            for k in ("added", "removed", "kept"):
                rel.count((k, a), ch[k])
            rel.count(("previous", a), ch["kept"] + ch["removed"], priority=1)
            rel.sum(("members", a), [("kept", a), ("added", a)])
            rel.sum(("previous", a), [("kept", a), ("removed", a)])
    shared = {(r.a, r.b): int(r.n) for r in _overlaps(con, latest).itertuples(index=False)}
    names = sorted(latest)
    size = {a: n for a, n, _ in rows}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            x = shared.get((a, b), 0)
            rel.count(("overlap", a, b), x)
            for this, that in ((a, b), (b, a)):
                rel.count(("only", this, that), size[this] - x, published=False)
                rel.sum(("members", this), [("overlap", a, b), ("only", this, that)])
    status = suppress(rel, min_cell)
    for (kind, *rest), st in list(status.items()):
        if kind == "overlap":
            status[("overlap", rest[1], rest[0])] = st
    return status


def _shown(value: Any, hidden: Any) -> Any:
    return None if hidden else (None if value is None else int(value))


def list_audiences(wh: Warehouse, audiences: dict[str, AudienceConfig], *,
                   min_cell: int = 10) -> pd.DataFrame:
    """One row per declared (or built) audience: latest version, as_of, sizes, changes.

    Counts below ``min_cell`` (``governance.min_cell``; 1: none) and their complements are
    null (:func:`audience_release`); ``suppressed`` says a row holds one.
    """
    con = wh.con
    rows = []
    built = set()
    status = audience_release(con, min_cell)
    if _has(con, BUILDS):
        for a, v, as_of, created, n, h in con.execute(
            f"SELECT audience, version, as_of, created_at, members, holdout FROM {BUILDS} "
            f"WHERE (audience, version) IN (SELECT audience, max(version) FROM {BUILDS} GROUP BY 1) "
            "ORDER BY audience"
        ).fetchall():
            built.add(a)
            ch = audience_changes(con, a, v) or {}
            hidden = {k: status.get((k, a)) is not None for k in ("members", "holdout", "added", "removed")}
            rows.append({"audience": a, "version": v, "as_of": as_of, "built_at": created,
                         "members": _shown(n, hidden["members"]),
                         "holdout": _shown(h, hidden["holdout"]),
                         "added": _shown(ch.get("added"), hidden["added"]),
                         "removed": _shown(ch.get("removed"), hidden["removed"]),
                         "declared": a in audiences, "suppressed": any(hidden.values())})
    for a in audiences:
        if a not in built:
            rows.append({"audience": a, "version": None, "as_of": None, "built_at": None,
                         "members": None, "holdout": None, "added": None, "removed": None,
                         "declared": True, "suppressed": False})
    frame = pd.DataFrame(rows, columns=["audience", "version", "as_of", "built_at", "members",
                                        "holdout", "added", "removed", "declared", "suppressed"])
    return frame.astype({c: "Int64" for c in ("version", "members", "holdout", "added", "removed")})


def _build_release(counts: dict[str, int], members: int, holdout: int,
                   changes: dict[str, int] | None, mix: pd.DataFrame, *, locked: set, hide: set,
                   min_cell: int) -> set:
    """The counts of one build's ``show``: each selection step's clients and the clients each
    exclusion removed (the clients dropped between steps are implied), the members and
    holdout, the changes against the previous build (members = kept + added, previous
    members = kept + removed) and the members' segment mix per dimension. ``locked``: shown
    by the latest builds' release; ``hide``: suppressed by it. Returns the suppressed keys:
    ``members``, ``holdout``, ``previous``, ``("change", k)``, ``("count", k)``,
    ``("mix", dimension, segment)``."""
    from segmint.disclosure import Release, suppress

    rel = Release()
    steps = [k for k in ("clients", "segments", "where", "stable_core") if k in counts]
    for k, v in counts.items():
        rel.count(("count", k), v, priority=2 if k == "clients" else 1)
    rel.count("members", members, locked="members" in locked, priority=1)
    rel.count("holdout", holdout, locked="holdout" in locked, priority=1)
    for a, b in zip(steps, steps[1:], strict=False):
        rel.count(("dropped", b), counts[a] - counts[b], published=False)
        rel.sum(("count", a), [("count", b), ("dropped", b)])
    excluded = [k for k in counts if k.startswith("excluded_")]
    if "stable_core" in counts and "eligible" in counts:
        rest = counts["stable_core"] - counts["eligible"] - sum(counts[k] for k in excluded)
        rel.count("unexplained", max(rest, 0), published=False)
        rel.sum(("count", "stable_core"), [("count", k) for k in excluded]
                + [("count", "eligible"), "unexplained"])
    if "eligible" in counts:
        rel.count("capped", max(counts["eligible"] - members - holdout, 0), published=False)
        rel.sum(("count", "eligible"), ["members", "holdout", "capped"])
    if changes is not None:
        for k in ("added", "removed", "kept"):
            rel.count(("change", k), changes[k], locked=("change", k) in locked)
        rel.count("previous", changes["kept"] + changes["removed"], locked="previous" in locked,
                  priority=1)
        rel.sum("members", [("change", "kept"), ("change", "added")])
        rel.sum("previous", [("change", "kept"), ("change", "removed")])
    for dim, part in mix.groupby("dimension", sort=False):
        keys = [rel.count(("mix", dim, seg), n) for seg, n in zip(part.segment, part.members, strict=True)]
        rel.count(("unassigned", dim), max(members - int(part.members.sum()), 0), published=False)
        rel.sum("members", [*keys, ("unassigned", dim)])
    status = suppress(rel, min_cell, hide=[k for k in hide if k in rel])
    return {k for k, st in status.items() if st is not None}


def show_audience(wh: Warehouse, name: str, *, version: int | None = None,
                  min_cell: int = 10) -> dict[str, Any]:
    """A build's definition, counts, notes, changes and its members' segment mix.

    Counts below ``min_cell`` (``governance.min_cell``; 1: none) and their complements are
    ``None`` (null ``members`` in the mix); the latest build's members, holdout and changes
    are suppressed as in :func:`audience_release` (and so in ``list`` and ``overlap``).
    ``suppressed`` names what is withheld.
    """
    con = wh.con
    version = _version(con, name, version)
    as_of, created, definition, n, h, counts, notes = con.execute(
        f"SELECT as_of, created_at, definition, members, holdout, counts, notes FROM {BUILDS} "
        "WHERE audience = ? AND version = ?",
        [name, version],
    ).fetchone()  # type: ignore[misc]
    segment_names(con, as_of)
    mix = con.execute(
        f"""SELECT a.dimension, coalesce(n.name, a.segment_name) AS segment, count(*) AS members
        FROM {MEMBERS} AS m JOIN {ASSIGNMENTS} AS a ON a.client_id = m.client_id AND a.as_of = m.as_of
        LEFT JOIN {NAMES} AS n ON n.dimension = a.dimension AND n.segment_id = a.segment_id
        WHERE m.audience = ? AND m.version = ? AND m.status = 'member'
        GROUP BY ALL ORDER BY 1, 3 DESC""",
        [name, version],
    ).df()
    counts = json.loads(counts)
    changes = audience_changes(con, name, version)
    # what the latest builds' release already decided about this build's counts
    joint = audience_release(con, min_cell)
    newest = _latest(con)[name]
    if version == newest:
        decided = {"members": ("members", name), "holdout": ("holdout", name),
                   ("change", "added"): ("added", name), ("change", "removed"): ("removed", name),
                   ("change", "kept"): ("kept", name), "previous": ("previous", name)}
    elif version == newest - 1:  # its members are the next build's previous members
        decided = {"members": ("previous", name)}
    else:
        decided = {}
    decided = {k: j for k, j in decided.items() if j in joint}
    hide = {k for k, j in decided.items() if joint[j] is not None}
    locked = set(decided) - hide
    gone = _build_release(counts, int(n), int(h), changes, mix, locked=locked, hide=hide,
                          min_cell=min_cell)
    mix = mix.astype({"members": "Int64"})
    for i, (dim, seg) in enumerate(zip(mix.dimension, mix.segment, strict=True)):
        if ("mix", dim, seg) in gone:
            mix.loc[mix.index[i], "members"] = pd.NA
    return {
        "audience": name, "version": version, "as_of": as_of, "built_at": created,
        "definition": json.loads(definition),
        "members": _shown(n, "members" in gone), "holdout": _shown(h, "holdout" in gone),
        "counts": {k: _shown(v, ("count", k) in gone) for k, v in counts.items()},
        "notes": json.loads(notes),
        "changes": None if changes is None else {k: _shown(v, ("change", k) in gone)
                                                 for k, v in changes.items()},
        "segments": mix,
        "suppressed": sorted(":".join(map(str, k)) if isinstance(k, tuple) else k for k in gone),
    }


def audience_overlap(wh: Warehouse, names: list[str] | None = None, *,
                     min_cell: int = 10) -> pd.DataFrame:
    """Members shared by the latest builds of each pair of audiences (diagonal: sizes).

    Counts below ``min_cell`` (``governance.min_cell``; 1: none) and their complements are
    null: the same counts as :func:`list_audiences` (:func:`audience_release`)."""
    con = wh.con
    if not _has(con, BUILDS):
        raise WarehouseError("no audience built yet (segmint audience build NAME)")
    latest = _latest(con)
    names = names or sorted(latest)
    for n in names:
        if n not in latest:
            raise ParameterError(f"audience {n!r} was never built (built: {', '.join(latest)})")
    long = _overlaps(con, latest)
    long = long[long.a.isin(names) & long.b.isin(names)]
    matrix = long.pivot(index="a", columns="b", values="n").reindex(index=names, columns=names)
    matrix = matrix.fillna(0).astype("Int64")
    status = audience_release(con, min_cell)
    for a in names:
        for b in names:
            key = ("members", a) if a == b else ("overlap", a, b)
            if status.get(key) is not None:
                matrix.loc[a, b] = pd.NA
    matrix.index.name, matrix.columns.name = "audience", None
    return matrix


def export_audience(
    wh: Warehouse,
    name: str,
    path: str | Path,
    *,
    version: int | None = None,
    client_id_sql: str = "m.client_id",
) -> Path:
    """Write a build's members to CSV or Parquet: client id, every dimension's segment
    name (catalog names), the values ranked on and used in ``where``, and the reason.

    ``client_id_sql`` is the SQL of the exported id over ``m.client_id`` (governance
    passes a pseudonym expression here when client ids are pseudonymised).
    """
    con = wh.con
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ParameterError(f"--out {path}: expected a .csv or .parquet file")
    version = _version(con, name, version)
    as_of = con.execute(
        f"SELECT as_of FROM {BUILDS} WHERE audience = ? AND version = ?", [name, version]
    ).fetchone()[0]  # type: ignore[index]
    names = segment_names(con, as_of)
    dims = sorted(names.dimension.unique())
    seg_cols = ", ".join(
        f"max(coalesce(n.name, a.segment_name)) FILTER (WHERE a.dimension = {sql_string(d)}) "
        f"AS {quote('segment_' + d)}"
        for d in dims
    )
    keys = [r[0] for r in con.execute(
        f"SELECT DISTINCT unnest(json_keys(used)) FROM {MEMBERS} WHERE audience = ? AND version = ? "
        "AND used IS NOT NULL",
        [name, version],
    ).fetchall()]
    used_cols = "".join(
        f", CAST(json_extract(m.used, {sql_string('$.' + k)}) AS VARCHAR) AS {quote(k)}" for k in sorted(keys)
    )
    query = f"""
        SELECT {client_id_sql} AS client_id, s.* EXCLUDE (client_id), m.rank, m.score, m.value,
               m.p_stay, m.rank_value{used_cols}, m.reason
        FROM {MEMBERS} AS m
        JOIN (SELECT a.client_id, {seg_cols} FROM {ASSIGNMENTS} AS a
              LEFT JOIN {NAMES} AS n ON n.dimension = a.dimension AND n.segment_id = a.segment_id
              WHERE a.as_of = {_day(as_of)} GROUP BY a.client_id) AS s ON s.client_id = m.client_id
        WHERE m.audience = {sql_string(name)} AND m.version = {version} AND m.status = 'member'
        ORDER BY m.rank"""
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = "PARQUET" if suffix == ".parquet" else "CSV, HEADER"
    tmp = path.with_name(f".{path.name}.tmp")
    con.execute(f"COPY ({query}) TO {sql_string(str(tmp))} (FORMAT {fmt})")
    tmp.replace(path)
    return path


def record_contacts(wh: Warehouse, name: str, *, version: int | None = None,
                    channel: str | None = None, day: dt.date | None = None) -> int:
    """Append a build's members to ``contacts`` (they were contacted on ``day``, default
    the build's as_of), so that ``contacted_within_days`` leaves them out next time."""
    con = wh.con
    version = _version(con, name, version)
    with wh.transaction() as tx:
        tx.execute(_CONTACTS_DDL)
        tx.execute(
            f"INSERT INTO {CONTACTS} SELECT client_id, coalesce(?, as_of), audience, ? "
            f"FROM {MEMBERS} WHERE audience = ? AND version = ? AND status = 'member'",
            [day, channel, name, version],
        )
        n = tx.execute(
            f"SELECT count(*) FROM {MEMBERS} WHERE audience = ? AND version = ? AND status = 'member'",
            [name, version],
        ).fetchone()[0]  # type: ignore[index]
    return int(n)
