"""What each entity's last load was made of, and how the next load must run.

Every successful ingest records, in the same transaction as the load:

* ``_loaded_entities`` — one row per entity: the *settings* the load depended on
  (segmint version, canonical columns, the entity's mappings and their sources'
  configuration and column types - for text columns read by a derivation, the type
  inferred from a sample -, the contracts except ``max_date``), the
  effective ``max_date``, and the table's row count at the end of the run;
* ``_loaded_files`` — one row per input file: mapping index, source, file (relative
  to the project), size and sha256.

``_file_hashes`` caches each file's sha256 with the size and modification time it was
hashed at, so a run reads again only the files that look changed
(:class:`~segmint.sources._readers.FileHashes`; ``full=True`` re-reads every file).

The next run compares the current inputs with these rows and picks a mode per entity
(:func:`plan_load`): ``unchanged`` (nothing to do), ``appended`` (only new files:
stage and append them) or ``reloaded`` (the full path). Any doubt gives
``reloaded``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

from segmint._typing import LoadMode
from segmint.config import EntityMapping, SqlExpr
from segmint.sources._readers import FileHashes, SourceReader, literal, quote
from segmint.sources._schema import Entity

LOADED_ENTITIES = "_loaded_entities"
LOADED_FILES = "_loaded_files"
FILE_HASHES = "_file_hashes"
APPENDED_PREFIX = "_appended_"

_DDL = (
    f"""
CREATE TABLE IF NOT EXISTS {LOADED_ENTITIES} (
    entity VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    settings VARCHAR NOT NULL,
    max_date DATE NOT NULL,
    row_count BIGINT
)
""",
    f"""
CREATE TABLE IF NOT EXISTS {LOADED_FILES} (
    entity VARCHAR NOT NULL,
    mapping INTEGER NOT NULL,
    source VARCHAR NOT NULL,
    file VARCHAR NOT NULL,
    bytes BIGINT NOT NULL,
    sha256 VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL
)
""",
)

# functions whose value is not a function of the row: a derivation using them is not
# reproducible from the files alone
_VOLATILE = {
    "random", "rand", "uuid", "gen_random_uuid", "setseed", "now", "current_date",
    "current_timestamp", "current_time", "today", "get_current_time", "get_current_timestamp",
    "nextval", "currval", "localtimestamp", "localtime", "transaction_timestamp",
}

FileKey = tuple[int, str]  # (mapping index, file label)


def appended_table(entity: str) -> str:
    """Name of the table holding the rows an ingest run appended to ``entity``.

    Present only after a run in which ``entity`` was loaded in ``appended`` mode;
    every ingest run drops the previous run's tables.
    """
    return f"{APPENDED_PREFIX}{entity}"


def create_state_tables(con: duckdb.DuckDBPyConnection) -> None:
    for ddl in _DDL:
        con.execute(ddl)


_HASHES_DDL = f"""
CREATE TABLE IF NOT EXISTS {FILE_HASHES} (
    file VARCHAR NOT NULL,
    bytes BIGINT NOT NULL,
    mtime_ns BIGINT NOT NULL,
    sha256 VARCHAR NOT NULL,
    hashed_at_ns BIGINT NOT NULL
)
"""


def load_hashes(con: duckdb.DuckDBPyConnection) -> FileHashes:
    """The file hashes of the last run (empty before the first)."""
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [FILE_HASHES]
    ).fetchall()[0][0]
    if not exists:
        return FileHashes()
    rows = con.execute(f"SELECT * FROM {FILE_HASHES}").fetchall()
    return FileHashes({r[0]: (int(r[1]), int(r[2]), str(r[3]), int(r[4])) for r in rows})


def save_hashes(con: duckdb.DuckDBPyConnection, hashes: FileHashes) -> None:
    """Keep the hashes of this run's files (files gone since are forgotten)."""
    if not hashes.changed:
        return
    con.execute(_HASHES_DDL)
    con.execute(f"DELETE FROM {FILE_HASHES}")
    rows = [[key, *entry] for key, entry in sorted(hashes.current.items())]
    if rows:
        con.executemany(f"INSERT INTO {FILE_HASHES} VALUES (?, ?, ?, ?, ?)", rows)


@dataclass
class LoadPlan:
    """How one entity is loaded in this run, and why."""

    mode: LoadMode
    reason: str
    #: mapping index -> labels of the files to stage (``appended`` only)
    new_files: dict[int, list[str]] = field(default_factory=dict)


@dataclass
class EntityInputs:
    """An entity's current inputs: settings fingerprint and files."""

    settings: str
    files: dict[FileKey, tuple[str, str, int]]  # -> (source, sha256, bytes)
    not_fingerprinted: str | None  # why the inputs cannot be fingerprinted, or None


def _row_local(sql: str) -> bool:
    """The expression reads only its own row: no table, no subquery, no volatile call."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError:
        return False
    if any(True for _ in tree.find_all(exp.Table, exp.Subquery, exp.Select)):
        return False
    for node in tree.find_all(exp.Func):
        name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
        if name in _VOLATILE or isinstance(node, exp.Rand | exp.CurrentDate | exp.CurrentTimestamp):
            return False
    return True


def entity_inputs(
    entity: Entity,
    pairs: list[tuple[EntityMapping, SourceReader]],
    checksums: dict[str, list[dict[str, Any]]],
    contracts: Any,
) -> EntityInputs:
    """Fingerprint what a load of ``entity`` depends on, except ``max_date``."""
    from segmint._version import __version__

    why: str | None = None
    files: dict[FileKey, tuple[str, str, int]] = {}
    mappings = []
    for i, (m, r) in enumerate(pairs):
        if r.is_table:
            why = f"source {r.name!r} is a table (no file checksums)"
        exprs = [s.sql for s in m.columns.values() if isinstance(s, SqlExpr)]
        if m.where:
            exprs.append(m.where)
        bad = [e for e in exprs if not _row_local(e)]
        if bad:
            why = f"source {r.name!r}: {bad[0]!r} reads more than its own row"
        for c in checksums[r.name]:
            if "sha256" in c:
                files[(i, str(c["file"]))] = (r.name, str(c["sha256"]), int(str(c["bytes"])))
        # the types inferred for text columns matter only where a derivation reads them
        refs = {
            ref
            for canonical, spec in m.columns.items()
            if isinstance(spec, SqlExpr)
            for ref in r.expression(spec.sql, entity=entity.name, canonical=canonical)[1]
        }
        mappings.append(
            {
                "mapping": m.model_dump(mode="json"),
                "source": r.config.model_dump(mode="json"),
                "raw_types": r.raw_types,
                "typed_types": {c: r.typed_types.get(c) for c in sorted(refs)},
            }
        )
    settings = {
        "segmint": __version__,
        "entity": [[c.name, c.type, c.required] for c in entity.columns],
        "key": list(entity.key),
        "checks": [list(c) for c in entity.checks],
        "contracts": {
            "currency": contracts.currency,
            "min_date": contracts.min_date.isoformat(),
            "unknown_clients": contracts.unknown_clients,
        },
        "mappings": mappings,
    }
    return EntityInputs(json.dumps(settings, sort_keys=True), files, why)


def plan_load(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    inputs: EntityInputs,
    *,
    max_date: dt.date,
    full: bool,
) -> LoadPlan:
    """Compare ``inputs`` with the entity's last load and choose the mode."""
    name = entity.name
    if full:
        return LoadPlan("reloaded", "full reload requested")
    if inputs.not_fingerprinted is not None:
        return LoadPlan("reloaded", inputs.not_fingerprinted)
    prev = con.execute(
        f"SELECT settings, max_date, row_count FROM {LOADED_ENTITIES} WHERE entity = ?", [name]
    ).fetchall()
    if len(prev) != 1:
        return LoadPlan("reloaded", "first load")
    settings, prev_max, row_count = prev[0]
    if settings != inputs.settings:
        return LoadPlan("reloaded", "mappings, sources, contracts or segmint version changed")
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary", [name]
    ).fetchone()
    if not exists or not exists[0]:
        return LoadPlan("reloaded", f"table {name} is missing")
    n = con.execute(f"SELECT count(*) FROM {quote(name)}").fetchone()
    if n is None or n[0] != row_count:
        return LoadPlan("reloaded", f"table {name} was changed outside ingest")
    if max_date < prev_max:
        return LoadPlan("reloaded", "contracts.max_date moved back")
    if max_date > prev_max and _future_rows_now_valid(con, name, max_date):
        return LoadPlan("reloaded", "rows quarantined as future_timestamp are no longer in the future")
    old = {
        (int(i), str(f)): (str(s), str(h), int(b))
        for i, f, s, h, b in con.execute(
            f"SELECT mapping, file, source, sha256, bytes FROM {LOADED_FILES} WHERE entity = ?",
            [name],
        ).fetchall()
    }
    changed = sorted(f for (i, f), v in old.items() if inputs.files.get((i, f)) != v)
    if changed:
        more = f" (and {len(changed) - 1} more)" if len(changed) > 1 else ""
        return LoadPlan("reloaded", f"file changed or removed: {changed[0]}{more}")
    new: dict[int, list[str]] = {}
    for i, f in sorted(set(inputs.files) - set(old)):
        new.setdefault(i, []).append(f)
    if not new:
        return LoadPlan("unchanged", "same files, same checksums")
    n_new = sum(len(v) for v in new.values())
    return LoadPlan("appended", f"{n_new} new file(s)", new)


def _future_rows_now_valid(con: duckdb.DuckDBPyConnection, entity: str, max_date: dt.date) -> bool:
    """Whether a row quarantined as ``future_timestamp`` is no longer after ``max_date``."""
    limit = (max_date + dt.timedelta(days=1)).isoformat()
    row = con.execute(
        "SELECT count(*) FROM quarantine WHERE entity = ? AND reason = 'future_timestamp' "
        "AND NOT coalesce(TRY_CAST(original_values->>column_name AS TIMESTAMP) "
        f">= TIMESTAMP {literal(limit)}, false)",
        [entity],
    ).fetchone()
    return bool(row and row[0])


def clients_check(con: duckdb.DuckDBPyConnection, entity: str, prev_clients: str | None) -> str | None:
    """Why an entity referring to ``clients`` must reload after ``clients`` changed.

    ``prev_clients`` is a table of the client ids before this run's clients load
    (None: there was no clients table). Returns
    None when the entity's rows and quarantine still hold against the new clients.
    """
    if prev_clients is not None:
        gone = con.execute(
            f"SELECT count(*) FROM (SELECT client_id FROM {prev_clients} "
            "EXCEPT SELECT client_id FROM clients)"
        ).fetchone()
        if gone and gone[0]:
            return "clients were removed or replaced"
    found = con.execute(
        "SELECT count(*) FROM quarantine q WHERE q.entity = ? "
        "AND q.reason IN ('unknown_client', 'held_client') "
        "AND EXISTS (SELECT 1 FROM clients c WHERE c.client_id = q.original_values->>'client_id')",
        [entity],
    ).fetchone()
    if found and found[0]:
        return "rows quarantined as unknown_client or held_client now have a client"
    # held_client: the client is quarantined itself; unknown_client: it is not
    moved = con.execute(
        "SELECT count(*) FROM quarantine q WHERE q.entity = ? "
        "AND q.reason IN ('unknown_client', 'held_client') "
        "AND (q.reason = 'held_client') <> EXISTS (SELECT 1 FROM quarantine k "
        "WHERE k.entity = 'clients' AND NOT k.note "
        "AND k.source_key = q.original_values->>'client_id')",
        [entity],
    ).fetchone()
    if moved and moved[0]:
        return "the quarantine of clients some rows wait for changed"
    return None


def record_load(
    con: duckdb.DuckDBPyConnection,
    entity: str,
    inputs: EntityInputs,
    plan: LoadPlan,
    *,
    run_id: str,
    max_date: dt.date,
) -> None:
    """Write the entity's new state (inside the load's transaction)."""
    if plan.mode == "reloaded":
        con.execute(f"DELETE FROM {LOADED_FILES} WHERE entity = ?", [entity])
        keys = sorted(inputs.files)
    elif plan.mode == "appended":
        keys = sorted((i, f) for i, fs in plan.new_files.items() for f in fs)
    else:
        con.execute(f"UPDATE {LOADED_ENTITIES} SET max_date = ? WHERE entity = ?", [max_date, entity])
        return
    if keys:
        rows = []
        for i, f in keys:
            source, sha256, size = inputs.files[(i, f)]
            rows.append([entity, i, source, f, size, sha256, run_id])
        con.executemany(f"INSERT INTO {LOADED_FILES} VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    con.execute(f"DELETE FROM {LOADED_ENTITIES} WHERE entity = ?", [entity])
    con.execute(
        f"INSERT INTO {LOADED_ENTITIES} VALUES (?, ?, ?, ?, NULL)",
        [entity, run_id, inputs.settings, max_date],
    )


def record_row_counts(con: duckdb.DuckDBPyConnection, entities: list[str]) -> dict[str, int]:
    """Store and return each table's final row count (after stub clients were added)."""
    counts = {}
    for name in entities:
        row = con.execute(f"SELECT count(*) FROM {quote(name)}").fetchone()
        counts[name] = int(row[0]) if row else 0
        con.execute(
            f"UPDATE {LOADED_ENTITIES} SET row_count = ? WHERE entity = ?", [counts[name], name]
        )
    return counts


def forget(con: duckdb.DuckDBPyConnection, entities: list[str]) -> None:
    """Drop the state of entities that are no longer mapped."""
    for name in entities:
        con.execute(f"DELETE FROM {LOADED_ENTITIES} WHERE entity = ?", [name])
        con.execute(f"DELETE FROM {LOADED_FILES} WHERE entity = ?", [name])
