"""The serving store: what the HTTP service reads, published whole after each run, update
cycle and event re-scoring.

A *publication* is a set of tables staged in the warehouse's DuckDB (temporary tables,
so the warehouse itself is not written) and then written out where readers find it:

duckdb (default)
    a new read-only DuckDB file ``<stem>.publications/<id>.duckdb``; the configured path
    (``.segmint/serving.duckdb``) is a symbolic link swapped to it by an atomic rename.
    A reader resolves the link once per request and keeps one connection per publication
    file, so it sees a whole publication; a file a reader still has open stays readable
    after it is replaced and deleted (POSIX keeps the inode until it is closed).
postgres
    a new schema ``<prefix>_p_<id>`` filled with bulk inserts (ADBC), then the pointer row
    of ``<prefix>_serving.current`` switched in one short transaction. Readers read the
    pointer and the data in one transaction; old schemas are dropped only when no reader
    holds them (a short lock timeout; retried at the next publication).

Either way the batch never waits for a reader and a reader never waits for the batch.

Tables of a publication (client ids pseudonymised when governance says so):

``publication``      one row: publication_id, kind, published_at, as_of, clients, ...
``client_doc``       client_id, book, doc (JSON: segments, values, scores, changes)
``members``          dimension, segment_id, client_id, book (sorted: keyset paging)
``segments``         the catalog entries with current sizes, value and movement
``catalog``          the catalog JSON (empty when no catalog was built)
``audiences``        audience_id, name, definition, clients

Every count of ``segments``, ``catalog`` and ``audiences`` below ``governance.min_cell`` is
suppressed (null), with complements, and a suppressed segment's share, CLV, churn risk and
share change are null too (:func:`_suppress_segments`, :func:`_suppress_audiences`).
``audience_members`` audience_id, client_id, book, details (JSON)
``alerts``, ``cycles``  from the monitoring tables
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from segmint.errors import MissingDependencyError, ServingError, WarehouseError
from segmint.monitoring import ALERTS, CYCLES, HISTORY, SHARES
from segmint.profiles import CATALOG_TABLE, load_catalog, release_catalog
from segmint.segmentation import ASSIGNMENTS, FEATURES
from segmint.store import Warehouse

if TYPE_CHECKING:
    from segmint.config import ProjectConfig

log = logging.getLogger("segmint.api")

#: published table -> (sort order, index columns or None)
TABLES: dict[str, tuple[str, str | None]] = {
    "publication": ("publication_id", None),
    # sorted on the key (zone maps), and an ART index: a point lookup at 1M clients takes
    # 0.8 ms with it, 2.0 ms without (index build 1.5 s)
    "client_doc": ("client_id", "client_id"),
    "members": ("dimension, segment_id, client_id", None),
    "segments": ("dimension, segment_id", None),
    "catalog": ("version", None),
    "audiences": ("audience_id", None),
    "audience_members": ("audience_id, client_id", None),
    "alerts": ("as_of, alert_id", None),
    "cycles": ("as_of", None),
}

#: tables the score/audience stages may write (looked for, published when present)
SCORES_TABLE = "scores"
AUDIENCES_TABLE = "audiences"
AUDIENCE_MEMBERS_TABLE = "audience_members"

_VALUE_COLUMNS = re.compile(r"^(clv_\d+m|expected_purchases_\d+m|expected_spend|p_alive|churn_risk)$")


@dataclass(frozen=True)
class Publication:
    """One publication written to the serving store.

    Attributes
    ----------
    publication_id : str
        Sortable id (UTC time, then a random suffix).
    kind : str
        What published it: ``run``, ``cycle``, ``event`` or ``manual``.
    as_of : date
        The batch assignments' date.
    clients : int
    location : str
        The DuckDB file, or the PostgreSQL schema.
    seconds : float
    """

    publication_id: str
    kind: str
    as_of: dt.date
    clients: int
    location: str
    seconds: float


def new_publication_id() -> str:
    now = dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%S%f}_{uuid.uuid4().hex[:6]}"


def publish(
    wh: Warehouse,
    config: ProjectConfig,
    *,
    root: str | Path,
    kind: str = "manual",
) -> Publication | None:
    """Publish the current segments, scores, values, history, catalog, audiences, alerts.

    Parameters
    ----------
    wh : Warehouse
        The project's warehouse (read; only temporary tables are created in it).
    config : ProjectConfig
        Its ``serving:`` section says where and how (see :class:`segmint.config.ServingConfig`).
    root : path
        The project folder (relative paths of ``serving:`` are resolved against it).
    kind : str
        ``run``, ``cycle``, ``event`` or ``manual``: recorded in the publication row.

    Returns
    -------
    Publication or None
        None when there is nothing to publish yet (no segment assignments).

    Examples
    --------
    >>> with project.warehouse() as wh:  # doctest: +SKIP
    ...     publish(wh, project.config, root=project.root, kind="manual")
    """
    t0 = time.perf_counter()
    if not wh.has_table(ASSIGNMENTS):
        log.info("serving: no segment assignments yet; nothing published")
        return None
    pub_id = new_publication_id()
    as_of, clients = _stage(wh, config, Path(root), pub_id, kind)
    try:
        serving = config.serving
        if serving.backend == "postgres":
            location = _write_postgres(wh, dsn_from_env(serving.dsn_env), serving.schema_prefix,
                                       pub_id, keep=serving.keep)
        else:
            location = str(_write_duckdb(wh, resolve(root, serving.path), pub_id, keep=serving.keep))
    finally:
        _drop_staging(wh)
    pub = Publication(pub_id, kind, as_of, clients, location, time.perf_counter() - t0)
    log.info("serving: published %s (%s, %d clients) in %.2f s", pub_id, kind, clients, pub.seconds)
    return pub


#: staging relations: the published tables, and what they are built from (the biggest,
#: read once, are views: computed while being written out, never materialised twice)
_VIEWS = ("client_doc", "members", "changes")
_STAGING = ("current", "book", "values", "scores", "segments_frame")


def _drop_staging(wh: Warehouse) -> None:
    for name in _VIEWS:
        wh.con.execute(f"DROP VIEW IF EXISTS _pub_{name}")
    for name in [*TABLES, *_STAGING]:
        if name not in _VIEWS:
            wh.con.execute(f"DROP TABLE IF EXISTS _pub_{name}")


def resolve(root: str | Path, relative: str) -> Path:
    p = Path(relative)
    return p if p.is_absolute() else Path(root) / p


def dsn_from_env(name: str | None) -> str:
    """The PostgreSQL DSN from the environment variable ``name`` (never from a file)."""
    if not name:
        raise ServingError("serving.dsn_env: name the environment variable holding the DSN")
    dsn = os.environ.get(name)
    if not dsn:
        raise ServingError(f"serving.dsn_env: environment variable {name} is not set")
    return dsn


# -- staging (in the warehouse's DuckDB, temporary tables) ----------------------------------
def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _columns(wh: Warehouse, table: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in wh.con.execute(f"DESCRIBE {_q(table)}").fetchall()]


def _pseudonymiser(config: ProjectConfig, root: Path):
    """``column -> SQL`` giving the published id of a client-id column.

    When governance pseudonymises client ids (``governance.pseudonymise.enabled``), every
    published client id is the keyed pseudonym (``segmint.governance.pseudonym_sql``,
    HMAC-SHA256 computed in DuckDB) and lookups, memberships and exports use it. This reads
    the governance stage's configuration and functions by name: it works unchanged once
    that stage is on main, and a project that turns pseudonymisation on without it is
    refused rather than served real ids.
    """
    settings = getattr(getattr(config, "governance", None), "pseudonymise", None)
    if settings is None or not getattr(settings, "enabled", False):
        return lambda column: column
    try:
        from segmint.governance import pseudonym_key, pseudonym_sql  # type: ignore[attr-defined]
    except ImportError:
        raise ServingError(
            "governance.pseudonymise is on but segmint.governance cannot pseudonymise: "
            "refusing to publish real client ids"
        ) from None
    key = pseudonym_key(settings, root)
    return lambda column: pseudonym_sql(column, key)


def _stage(wh: Warehouse, config: ProjectConfig, root: Path, pub_id: str, kind: str):
    con = wh.con
    serving = config.serving
    as_of = con.execute(f"SELECT max(as_of) FROM {ASSIGNMENTS}").fetchone()[0]
    pid = _pseudonymiser(config, root)

    # current segment per client and dimension: the batch assignment, or a later spell
    # event re-scoring opened in the history
    has_history = wh.has_table(HISTORY)
    hist = (
        f"SELECT client_id, dimension, segment_id, segment_name, model_version, valid_from "
        f"FROM {HISTORY} WHERE valid_to IS NULL"
        if has_history
        else "SELECT NULL::VARCHAR AS client_id, NULL::VARCHAR AS dimension, NULL::VARCHAR AS "
        "segment_id, NULL::VARCHAR AS segment_name, NULL::INTEGER AS model_version, "
        "NULL::DATE AS valid_from WHERE false"
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _pub_current AS
        WITH a AS (SELECT client_id, dimension, segment_id::VARCHAR AS segment_id, segment_name,
                          model_version, as_of FROM {ASSIGNMENTS} WHERE as_of = ?),
             h AS ({hist})
        SELECT a.client_id, a.dimension,
               CASE WHEN h.valid_from >= a.as_of THEN h.segment_id ELSE a.segment_id END AS segment_id,
               CASE WHEN h.valid_from >= a.as_of THEN h.segment_name ELSE a.segment_name END
                   AS segment_name,
               CASE WHEN h.valid_from >= a.as_of OR h.segment_id = a.segment_id THEN h.valid_from
                    ELSE a.as_of END AS since
        FROM a LEFT JOIN h ON h.client_id = a.client_id AND h.dimension = a.dimension""",
        [as_of],
    )
    book = _book_sql(wh, config, root)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _pub_book AS SELECT client_id, book FROM ({book})"
    )

    # values (CLV, churn risk) from the features of as_of
    value_cols = [c for c, _ in _columns(wh, FEATURES) if _VALUE_COLUMNS.match(c)] if wh.has_table(
        FEATURES) else []
    if value_cols:
        cols = ", ".join(f"{_q(c)} := CAST(f.{_q(c)} AS DOUBLE)" for c in value_cols)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _pub_values AS SELECT client_id, struct_pack({cols}) "
            f"AS v FROM {FEATURES} AS f WHERE as_of = ?",
            [as_of],
        )
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE _pub_values AS SELECT NULL::VARCHAR AS client_id, "
                    "NULL::VARCHAR AS v WHERE false")
    _stage_scores(wh)

    n = serving.history_changes
    if has_history:
        con.execute(
            # list_reverse_sort on structs led by valid_from: newest first, without an
            # ordered aggregate (several times slower at 1M clients)
            f"""CREATE OR REPLACE TEMP VIEW _pub_changes AS
            SELECT client_id, list_reverse_sort(list({{'valid_from': valid_from,
                       'dimension': dimension, 'segment_id': segment_id,
                       'segment_name': segment_name, 'valid_to': valid_to,
                       'source': source}}))[1:{int(n)}] AS changes
            FROM {HISTORY} GROUP BY client_id"""
        )
    else:
        con.execute("CREATE OR REPLACE TEMP VIEW _pub_changes AS SELECT NULL::VARCHAR AS client_id, "
                    "NULL::VARCHAR AS changes WHERE false")

    _stage_segments(wh, config, as_of, value_cols)
    _suppress_segments(wh, config.governance.min_cell)

    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW _pub_client_doc AS
        WITH seg AS (
            SELECT c.client_id,
                   list_sort(list({{'dimension': c.dimension, 'segment_id': c.segment_id,
                          'segment_name': coalesce(s.name, c.segment_name), 'since': c.since}}))
                       AS segments
            FROM _pub_current AS c LEFT JOIN _pub_segments AS s
              ON s.dimension = c.dimension AND s.segment_id = c.segment_id
            GROUP BY c.client_id)
        SELECT {pid("seg.client_id")} AS client_id, b.book::VARCHAR AS book,
               to_json({{'segments': seg.segments, 'values': v.v, 'scores': sc.scores,
                        'changes': ch.changes}})::VARCHAR AS doc
        FROM seg
        LEFT JOIN _pub_book AS b ON b.client_id = seg.client_id
        LEFT JOIN _pub_values AS v ON v.client_id = seg.client_id
        LEFT JOIN _pub_scores AS sc ON sc.client_id = seg.client_id
        LEFT JOIN _pub_changes AS ch ON ch.client_id = seg.client_id"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW _pub_members AS
        SELECT c.dimension, c.segment_id, {pid("c.client_id")} AS client_id,
               b.book::VARCHAR AS book
        FROM _pub_current AS c LEFT JOIN _pub_book AS b ON b.client_id = c.client_id"""
    )
    _stage_audiences(wh, pid)
    _suppress_audiences(wh, config.governance.min_cell)
    _stage_monitoring(wh)
    clients = con.execute("SELECT count(DISTINCT client_id) FROM _pub_current").fetchone()[0]
    catalog_version = con.execute("SELECT max(version) FROM _pub_catalog").fetchone()[0]
    from segmint._version import __version__

    con.execute(
        "CREATE OR REPLACE TEMP TABLE _pub_publication AS SELECT ?::VARCHAR AS publication_id, "
        "?::VARCHAR AS kind, ?::TIMESTAMP AS published_at, ?::DATE AS as_of, ?::BIGINT AS clients, "
        "?::INTEGER AS catalog_version, ?::VARCHAR AS project, ?::VARCHAR AS segmint_version",
        [pub_id, kind, dt.datetime.now(dt.UTC).replace(tzinfo=None), as_of, clients,
         catalog_version, config.project, __version__],
    )
    return as_of, int(clients)


def _book_sql(wh: Warehouse, config: ProjectConfig, root: Path) -> str:
    mapping = config.serving.book
    none = "SELECT NULL::VARCHAR AS client_id, NULL::VARCHAR AS book WHERE false"
    if mapping is None:
        return none
    if mapping.column is not None:
        if not wh.has_table("clients"):
            return none
        if mapping.column not in {c for c, _ in _columns(wh, "clients")}:
            raise ServingError(
                f"serving.book.column: {mapping.column!r} is not a column of clients "
                f"(columns: {', '.join(c for c, _ in _columns(wh, 'clients'))})"
            )
        return f"SELECT client_id, CAST({_q(mapping.column)} AS VARCHAR) AS book FROM clients"
    path = resolve(root, mapping.path or "")
    if not path.exists():
        raise ServingError(f"serving.book.path: {path} not found")
    lit = "'" + str(path).replace("'", "''") + "'"
    reader = f"read_parquet({lit})" if path.suffix.lower() == ".parquet" else f"read_csv({lit}, header = true)"
    cols = {r[0] for r in wh.con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()}
    if not {"client_id", "book"} <= cols:
        raise ServingError(f"{path}: a book mapping needs columns client_id, book (found: {', '.join(sorted(cols))})")
    return f"SELECT CAST(client_id AS VARCHAR) AS client_id, CAST(book AS VARCHAR) AS book FROM {reader}"


def _stage_scores(wh: Warehouse) -> None:
    """``_pub_scores(client_id, scores)``: a map score name -> value per client.

    Reads the table ``scores`` written by the targeting stage, in either shape: long
    (``client_id``, a name column ``model``/``score_name``/``name``, a value column
    ``score``/``probability``/``value``) or wide (one numeric column per score); only the
    latest ``as_of`` when the table has one.
    """
    con = wh.con
    empty = "CREATE OR REPLACE TEMP TABLE _pub_scores AS SELECT NULL::VARCHAR AS client_id, " \
            "NULL::MAP(VARCHAR, DOUBLE) AS scores WHERE false"
    if not wh.has_table(SCORES_TABLE):
        con.execute(empty)
        return
    cols = dict(_columns(wh, SCORES_TABLE))
    if "client_id" not in cols:
        log.warning("serving: table scores has no client_id column; scores not published")
        con.execute(empty)
        return
    where = f"WHERE as_of = (SELECT max(as_of) FROM {SCORES_TABLE})" if "as_of" in cols else ""
    name_col = next((c for c in ("model", "score_name", "name", "target") if c in cols), None)
    value_col = next((c for c in ("score", "probability", "value") if c in cols), None)
    if name_col and value_col:
        src = (f"SELECT client_id, CAST({_q(name_col)} AS VARCHAR) AS k, "
               f"CAST({_q(value_col)} AS DOUBLE) AS x FROM {SCORES_TABLE} {where}")
    else:
        numeric = [c for c, t in cols.items() if c not in ("client_id", "as_of")
                   and re.match(r"^(DOUBLE|FLOAT|REAL|DECIMAL|INTEGER|BIGINT|SMALLINT|HUGEINT)", t)]
        if not numeric:
            con.execute(empty)
            return
        src = " UNION ALL ".join(
            f"SELECT client_id, '{c}' AS k, CAST({_q(c)} AS DOUBLE) AS x FROM {SCORES_TABLE} {where}"
            for c in numeric
        )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _pub_scores AS SELECT CAST(client_id AS VARCHAR) AS client_id, "
        f"map_from_entries(list({{'k': k, 'v': x}} ORDER BY k)) AS scores FROM ({src}) GROUP BY 1"
    )


def _stage_segments(wh: Warehouse, config: ProjectConfig, as_of, value_cols: list[str]) -> None:
    """``_pub_segments`` (catalog entries + current sizes, value, movement) and ``_pub_catalog``."""
    con = wh.con
    rows: list[dict[str, Any]] = []
    catalog = None
    if wh.has_table(CATALOG_TABLE):
        try:
            catalog = load_catalog(wh, as_of=as_of)
        except WarehouseError:  # no catalog of this as_of: the latest one, if any
            try:
                catalog = load_catalog(wh)
            except WarehouseError:
                catalog = None
    if catalog is not None:
        catalog = release_catalog(catalog, config.governance.min_cell)
        for d in catalog.dimensions:
            for s in d.segments:
                rows.append({
                    "dimension": d.dimension,
                    "segment_id": s.segment_id,
                    "name": s.name,
                    "definition": s.rule.english if s.rule else
                    f"clients no rule of {d.dimension} matches (the fallback segment)",
                    "rule_sql": s.rule.sql if s.rule else None,
                    "kind": d.kind,
                    "method": d.method,
                    "persona": " ".join(p.text for p in s.persona),
                    "profile": s.profile.model_dump_json(),
                })
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _pub_catalog AS SELECT ?::INTEGER AS version, "
            "?::DATE AS as_of, ?::VARCHAR AS json",
            [catalog.version, catalog.as_of, catalog.model_dump_json()],
        )
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE _pub_catalog AS SELECT NULL::INTEGER AS version, "
                    "NULL::DATE AS as_of, NULL::VARCHAR AS json WHERE false")
    frame = pd.DataFrame(rows, columns=["dimension", "segment_id", "name", "definition", "rule_sql",
                                        "kind", "method", "persona", "profile"]).astype(object)
    clv = next((c for c in value_cols if c.startswith("clv_")), None)
    clv_sql = f"v.v.{_q(clv)}" if clv else "NULL::DOUBLE"
    churn_sql = "v.v.churn_risk" if "churn_risk" in value_cols else "NULL::DOUBLE"
    shares = (
        f"SELECT dimension, segment_id, share_change FROM {SHARES} "
        f"WHERE as_of = (SELECT max(as_of) FROM {SHARES})"
        if wh.has_table(SHARES)
        else "SELECT NULL::VARCHAR AS dimension, NULL::VARCHAR AS segment_id, "
        "NULL::DOUBLE AS share_change WHERE false"
    )
    con.register("_pub_catalog_frame", frame)
    try:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _pub_segments AS
            WITH cur AS (
                SELECT c.dimension, c.segment_id, any_value(c.segment_name) AS segment_name,
                       count(*) AS clients, sum({clv_sql}) AS clv_total, avg({clv_sql}) AS clv_mean,
                       avg({churn_sql}) AS churn_risk
                FROM _pub_current AS c LEFT JOIN _pub_values AS v ON v.client_id = c.client_id
                GROUP BY 1, 2),
            cat AS (SELECT CAST(dimension AS VARCHAR) AS dimension, CAST(segment_id AS VARCHAR)
                           AS segment_id, CAST(name AS VARCHAR) AS name,
                           CAST(definition AS VARCHAR) AS definition,
                           CAST(rule_sql AS VARCHAR) AS rule_sql, CAST(kind AS VARCHAR) AS kind,
                           CAST(method AS VARCHAR) AS method, CAST(persona AS VARCHAR) AS persona,
                           CAST(profile AS VARCHAR) AS profile FROM _pub_catalog_frame)
            SELECT coalesce(cur.dimension, cat.dimension) AS dimension,
                   coalesce(cur.segment_id, cat.segment_id) AS segment_id,
                   coalesce(cat.name, cur.segment_name) AS name, cat.definition, cat.rule_sql,
                   cat.kind, cat.method, cat.persona, cat.profile,
                   coalesce(cur.clients, 0)::BIGINT AS clients,
                   coalesce(cur.clients, 0) / nullif(sum(coalesce(cur.clients, 0))
                       OVER (PARTITION BY coalesce(cur.dimension, cat.dimension)), 0) AS share,
                   cur.clv_total::DOUBLE AS clv_total, cur.clv_mean::DOUBLE AS clv_mean,
                   cur.churn_risk::DOUBLE AS churn_risk, sh.share_change::DOUBLE AS share_change
            FROM cur FULL JOIN cat ON cat.dimension = cur.dimension AND cat.segment_id = cur.segment_id
            LEFT JOIN ({shares}) AS sh
              ON sh.dimension = coalesce(cur.dimension, cat.dimension)
             AND CAST(sh.segment_id AS VARCHAR) = coalesce(cur.segment_id, cat.segment_id)"""
        )
    finally:
        con.unregister("_pub_catalog_frame")


def _suppress_segments(wh: Warehouse, min_cell: int) -> None:
    """Suppress the current sizes of ``_pub_segments``: per dimension one row of counts
    released with its total (the shares give it); a segment the published (released)
    catalog suppresses stays withheld and a size it shows is locked, so the two agree. A
    suppressed segment's share, CLV, churn risk and share change are withheld too."""
    from segmint.disclosure import suppress_table

    con = wh.con
    frame = con.execute(
        "SELECT dimension, segment_id, clients FROM _pub_segments ORDER BY dimension, segment_id"
    ).df()
    if frame.empty or min_cell <= 1:
        return
    row = next(iter(con.execute("SELECT json FROM _pub_catalog LIMIT 1").fetchall()), None)
    catalog: dict[tuple[str, str], int | None] = {}
    totals: dict[str, int | None] = {}
    if row is not None:
        doc = json.loads(row[0])
        catalog = {(d["dimension"], s["segment_id"]): s["profile"]["size"]
                   for d in doc["dimensions"] for s in d["segments"]}
        totals = {d["dimension"]: d["n_clients"] for d in doc["dimensions"]}
    hidden = []
    for dim, part in frame.groupby("dimension", sort=False):
        keys = list(zip(part.dimension, part.segment_id, strict=True))
        counts = part.clients.to_numpy(float)[None, :]
        hide = np.array([[k in catalog and catalog[k] is None for k in keys]])
        locked = np.array([[catalog.get(k) == n for k, n in zip(keys, part.clients, strict=True)]])
        t = suppress_table(counts, min_cell, hide=hide, locked=locked,
                           locked_total=totals.get(dim) == counts.sum())
        hidden += [k for k, h in zip(keys, t.hidden[0], strict=True) if h]
    gone = pd.DataFrame(hidden, columns=["dimension", "segment_id"])
    if gone.empty:
        return
    con.register("_pub_gone", gone)
    try:
        con.execute(
            """UPDATE _pub_segments AS s SET clients = NULL, share = NULL, clv_total = NULL,
                   clv_mean = NULL, churn_risk = NULL, share_change = NULL
               FROM _pub_gone AS g WHERE s.dimension = g.dimension AND s.segment_id = g.segment_id"""
        )
    finally:
        con.unregister("_pub_gone")


def _suppress_audiences(wh: Warehouse, min_cell: int) -> None:
    """Null the members count of an audience below ``min_cell``: the targeting stage's
    builds as :func:`segmint.targeting.audience_release` decides (the CLI shows the same),
    any other audience table's by the minimum alone (its counts are not tied to others)."""
    con = wh.con
    if min_cell <= 1:
        return
    gone = {a for (a,) in con.execute(
        "SELECT audience_id FROM _pub_audiences WHERE clients > 0 AND clients < ?", [min_cell]
    ).fetchall()}
    if wh.has_table("audience_builds") and {"members", "holdout"} <= {
            c for c, _ in _columns(wh, "audience_builds")}:  # the targeting stage's builds
        from segmint.targeting import audience_release

        gone |= {key[1] for key, st in audience_release(con, min_cell).items()
                 if key[0] == "members" and st is not None}
    for a in gone:
        con.execute("UPDATE _pub_audiences SET clients = NULL WHERE audience_id = ?", [a])


def _stage_audiences(wh: Warehouse, pid) -> None:
    """``_pub_audiences`` and ``_pub_audience_members`` from the targeting stage's tables.

    ``audience_members`` needs ``client_id`` and ``audience_id`` (or ``audience``); its
    other columns are published as a JSON ``details`` object. ``audiences`` (optional) gives
    ``name`` and a ``definition``/``description``.
    """
    con = wh.con
    con.execute("CREATE OR REPLACE TEMP TABLE _pub_audience_members AS SELECT NULL::VARCHAR AS "
                "audience_id, NULL::VARCHAR AS client_id, NULL::VARCHAR AS book, "
                "NULL::VARCHAR AS details WHERE false")
    con.execute("CREATE OR REPLACE TEMP TABLE _pub_audiences AS SELECT NULL::VARCHAR AS audience_id, "
                "NULL::VARCHAR AS name, NULL::VARCHAR AS definition, NULL::BIGINT AS clients WHERE false")
    if not wh.has_table(AUDIENCE_MEMBERS_TABLE):
        return
    cols = dict(_columns(wh, AUDIENCE_MEMBERS_TABLE))
    key = next((c for c in ("audience_id", "audience") if c in cols), None)
    if key is None or "client_id" not in cols:
        log.warning("serving: audience_members lacks audience_id or client_id; audiences not published")
        return
    # the targeting stage keeps every build (``version``) and its holdout (``status``): the
    # latest build's members only (a holdout must never reach a campaign tool)
    where = []
    if "version" in cols:
        where.append(f"m.version = (SELECT max(v.version) FROM {AUDIENCE_MEMBERS_TABLE} AS v "
                     f"WHERE v.{_q(key)} = m.{_q(key)})")
    if "status" in cols:
        where.append("m.status = 'member'")
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    extra = [c for c in cols if c not in (key, "client_id", "version", "status", "as_of")]
    details = (
        "to_json({" + ", ".join(f"'{c}': m.{_q(c)}" for c in extra) + "})::VARCHAR" if extra else "NULL"
    )
    con.execute(
        f"""INSERT INTO _pub_audience_members
        SELECT CAST(m.{_q(key)} AS VARCHAR), {pid("CAST(m.client_id AS VARCHAR)")},
               b.book, {details}
        FROM {AUDIENCE_MEMBERS_TABLE} AS m LEFT JOIN _pub_book AS b ON b.client_id = m.client_id
        {clause}"""
    )
    defs = "SELECT NULL::VARCHAR AS audience_id, NULL::VARCHAR AS name, NULL::VARCHAR AS definition WHERE false"
    if wh.has_table("audience_builds"):  # the targeting stage's definitions, latest build
        defs = ("SELECT audience AS audience_id, audience AS name, CAST(definition AS VARCHAR) "
                "AS definition FROM audience_builds QUALIFY row_number() OVER "
                "(PARTITION BY audience ORDER BY version DESC) = 1")
    elif wh.has_table(AUDIENCES_TABLE):
        acols = dict(_columns(wh, AUDIENCES_TABLE))
        akey = next((c for c in ("audience_id", "audience") if c in acols), None)
        if akey is not None:
            name = _q("name") if "name" in acols else f"{_q(akey)}"
            definition = next((c for c in ("definition", "description", "rule") if c in acols), None)
            defs = (f"SELECT CAST({_q(akey)} AS VARCHAR) AS audience_id, CAST({name} AS VARCHAR) AS name, "
                    f"{'CAST(' + _q(definition) + ' AS VARCHAR)' if definition else 'NULL::VARCHAR'} "
                    f"AS definition FROM {AUDIENCES_TABLE}")
    con.execute(
        f"""INSERT INTO _pub_audiences
        SELECT coalesce(m.audience_id, d.audience_id), coalesce(any_value(d.name), coalesce(m.audience_id,
               d.audience_id)), any_value(d.definition), count(m.client_id)
        FROM (SELECT DISTINCT audience_id, client_id FROM _pub_audience_members) AS m
        FULL JOIN ({defs}) AS d ON d.audience_id = m.audience_id GROUP BY 1"""
    )


def _stage_monitoring(wh: Warehouse) -> None:
    con = wh.con
    if wh.has_table(ALERTS):
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _pub_alerts AS
            SELECT substr(md5(concat_ws('|', cycle_id, rule, coalesce(dimension, ''),
                                        coalesce(feature, ''), coalesce(segment_id, ''),
                                        CAST(row_number() OVER (PARTITION BY cycle_id, rule,
                                            dimension, feature, segment_id ORDER BY message) AS VARCHAR))),
                          1, 16) AS alert_id,
                   cycle_id, as_of, rule, severity, dimension, feature, segment_id::VARCHAR AS segment_id,
                   value::DOUBLE AS value, threshold::DOUBLE AS threshold, message
            FROM {ALERTS}"""
        )
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE _pub_alerts AS SELECT NULL::VARCHAR AS alert_id, "
                    "NULL::VARCHAR AS cycle_id, NULL::DATE AS as_of, NULL::VARCHAR AS rule, "
                    "NULL::VARCHAR AS severity, NULL::VARCHAR AS dimension, NULL::VARCHAR AS feature, "
                    "NULL::VARCHAR AS segment_id, NULL::DOUBLE AS value, NULL::DOUBLE AS threshold, "
                    "NULL::VARCHAR AS message WHERE false")
    if wh.has_table(CYCLES):
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _pub_cycles AS
            SELECT cycle_id, as_of, previous_as_of, started_at, finished_at, status,
                   array_to_string(refitted, ',') AS refitted, clients, changes, alerts
            FROM {CYCLES}"""
        )
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE _pub_cycles AS SELECT NULL::VARCHAR AS cycle_id, "
                    "NULL::DATE AS as_of, NULL::DATE AS previous_as_of, NULL::TIMESTAMP AS started_at, "
                    "NULL::TIMESTAMP AS finished_at, NULL::VARCHAR AS status, NULL::VARCHAR AS refitted, "
                    "NULL::BIGINT AS clients, NULL::BIGINT AS changes, NULL::BIGINT AS alerts WHERE false")


# -- writers -------------------------------------------------------------------------------
def publications_dir(path: Path) -> Path:
    return path.parent / f"{path.stem}.publications"


def _write_duckdb(wh: Warehouse, path: Path, pub_id: str, *, keep: int) -> Path:
    folder = publications_dir(path)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{pub_id}.duckdb"
    tmp = folder / f".{pub_id}.tmp"
    con = wh.con
    lit = "'" + str(tmp).replace("'", "''") + "'"
    con.execute(f"ATTACH {lit} AS _pubdb")
    try:
        for name, (order, index) in TABLES.items():
            con.execute(f"CREATE TABLE _pubdb.{name} AS SELECT * FROM _pub_{name} ORDER BY {order}")
            if index:
                con.execute(f"CREATE UNIQUE INDEX {name}_key ON _pubdb.{name} ({index})")
    except BaseException:
        con.execute("DETACH _pubdb")
        tmp.unlink(missing_ok=True)
        raise
    con.execute("DETACH _pubdb")
    os.replace(tmp, target)
    # the swap: a new symbolic link renamed over the old one (atomic on POSIX)
    link_tmp = path.parent / f".{path.name}.{pub_id}.link"
    os.symlink(os.path.relpath(target, path.parent), link_tmp)
    os.replace(link_tmp, path)
    _fsync_dir(path.parent)
    old = sorted(p for p in folder.glob("*.duckdb") if p.name < target.name)
    for p in old[: max(0, len(old) - (keep - 1))]:
        p.unlink(missing_ok=True)  # readers holding it open keep reading it
    return target


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - not every platform opens folders
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def pg_names(prefix: str) -> tuple[str, str]:
    """(pointer schema, publication schema prefix) for a ``schema_prefix``."""
    return f"{prefix}_serving", f"{prefix}_p_"


def _write_postgres(wh: Warehouse, dsn: str, prefix: str, pub_id: str, *, keep: int) -> str:
    try:
        import adbc_driver_postgresql.dbapi as adbc
        import psycopg
    except ImportError as exc:  # pragma: no cover - both are in the postgres extra
        raise MissingDependencyError(exc.name or "psycopg", "postgres") from None
    pointer, pub_prefix = pg_names(prefix)
    schema = pub_prefix + re.sub(r"[^0-9a-z_]", "_", pub_id.lower())
    try:
        with adbc.connect(dsn) as conn:
            with conn.cursor() as cur:
                cur.execute(f'CREATE SCHEMA "{schema}"')
                for name, (order, index) in TABLES.items():
                    reader = wh.con.sql(
                        f"SELECT * FROM _pub_{name} ORDER BY {order}"
                    ).to_arrow_reader(200_000)
                    cur.adbc_ingest(name, reader, mode="create", db_schema_name=schema)
                    if index:
                        cur.execute(f'CREATE UNIQUE INDEX ON "{schema}".{name} ({index})')
                cur.execute(f'CREATE INDEX ON "{schema}".members (dimension, segment_id, client_id)')
                cur.execute(f'CREATE INDEX ON "{schema}".audience_members (audience_id, client_id)')
                for name in TABLES:
                    cur.execute(f'ANALYZE "{schema}".{name}')
            conn.commit()
        with psycopg.connect(dsn) as pg:
            with pg.transaction():
                pg.execute(f"CREATE SCHEMA IF NOT EXISTS {pointer}")
                pg.execute(
                    f"CREATE TABLE IF NOT EXISTS {pointer}.current (only_row BOOLEAN PRIMARY KEY "
                    "DEFAULT true CHECK (only_row), publication_id TEXT NOT NULL, "
                    "schema_name TEXT NOT NULL, published_at TIMESTAMPTZ NOT NULL DEFAULT now())"
                )
                pg.execute(
                    f"INSERT INTO {pointer}.current (publication_id, schema_name) VALUES (%s, %s) "
                    "ON CONFLICT (only_row) DO UPDATE SET publication_id = excluded.publication_id, "
                    "schema_name = excluded.schema_name, published_at = now()",
                    [pub_id, schema],
                )
            _drop_old_schemas(pg, pub_prefix, keep)
    except (psycopg.Error, adbc.Error) as exc:
        raise ServingError(f"serving (postgres): publication {pub_id} failed: {exc}") from None
    return schema


def _drop_old_schemas(pg, pub_prefix: str, keep: int) -> None:
    rows = pg.execute(
        "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s) ORDER BY nspname DESC",
        [pub_prefix],
    ).fetchall()
    for (name,) in rows[keep:]:
        try:
            with pg.transaction():
                # never wait for a reader: a schema still in use is dropped next time
                pg.execute("SET LOCAL lock_timeout = '200ms'")
                pg.execute(f'DROP SCHEMA "{name}" CASCADE')
        except Exception as exc:  # noqa: BLE001 - psycopg.errors.LockNotAvailable and kin
            log.info("serving: schema %s still in use (%s); dropped at a later publication",
                     name, type(exc).__name__)


def publication_meta(rows: list[tuple], names: list[str]) -> dict[str, Any] | None:
    return dict(zip(names, rows[0], strict=True)) if rows else None


def dumps(x: Any) -> str:
    return json.dumps(x, default=str)
