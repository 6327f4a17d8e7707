"""Erasure: remove clients from every warehouse table, in one transaction, and keep
a pseudonymised tombstone so a later ingest of old files does not bring them back.

The tables are found, not listed: every table with a column named ``client_id`` or
ending in ``_client_id`` (sources, incremental state, features, assignments, history,
scores, audiences, experiment records, whatever a later stage adds), and every table
with an ``original_values`` JSON column (the quarantine keeps source rows as they
were: a row is removed when its key or any of its original values is the id).

The tombstone table ``erased_clients`` holds only HMAC pseudonyms of each id (with the
key's public id), so it does not itself keep the id; ingestion drops rows of tombstoned
clients through :func:`erased_predicate`. A client is tombstoned under the
pseudonymisation key and, when one is set, the erasure key (``governance.erasure``), which
is never rotated: after the pseudonymisation key is rotated, the erasure key still
recognises every erased client. The rows of one erasure share an ``erasure_id``; an
erasure none of whose keys is available stops ingestion (it could bring the client back)
instead of being ignored.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from segmint.errors import ConfigError, ParameterError
from segmint.governance._audit_log import log_action
from segmint.governance._pseudonym import key_id, pseudonym_sql, pseudonymise
from segmint.store import Warehouse

TOMBSTONES = "erased_clients"

_DDL = f"""
CREATE TABLE IF NOT EXISTS {TOMBSTONES} (
    pseudonym VARCHAR NOT NULL,
    key_id VARCHAR NOT NULL,
    erased_at TIMESTAMP NOT NULL,
    erasure_id VARCHAR
)
"""


def _ensure(con) -> None:
    con.execute(_DDL)
    # tombstones written before erasure ids: each row its own erasure
    con.execute(f"ALTER TABLE {TOMBSTONES} ADD COLUMN IF NOT EXISTS erasure_id VARCHAR")


def _keys(key: bytes | Sequence[bytes | None] | None) -> list[bytes]:
    """The distinct keys given (one, several, or none)."""
    keys = [key] if isinstance(key, bytes | bytearray) else list(key or [])
    out: dict[str, bytes] = {}
    for k in keys:
        if k:
            out.setdefault(key_id(bytes(k)), bytes(k))
    return list(out.values())


@dataclass
class ErasureResult:
    """What :func:`erase_clients` removed: rows per table, and the pseudonyms recorded."""

    rows: dict[str, int] = field(default_factory=dict)
    pseudonyms: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def client_tables(wh: Warehouse) -> dict[str, list[str]]:
    """Table -> its client-id columns, from the catalog (temporary tables excluded)."""
    rows = wh.con.execute(
        r"""SELECT c.table_name, c.column_name FROM information_schema.columns c
           JOIN information_schema.tables t USING (table_catalog, table_schema, table_name)
           WHERE t.table_type = 'BASE TABLE' AND c.table_catalog = current_database()
             AND (c.column_name = 'client_id' OR c.column_name LIKE '%\_client\_id' ESCAPE '\'
                  OR c.column_name = 'original_values')
           ORDER BY 1, 2"""
    ).fetchall()
    out: dict[str, list[str]] = {}
    for table, column in rows:
        out.setdefault(table, []).append(column)
    return out


def read_ids(path: str | Path) -> list[str]:
    """Client ids from a file: one per line, or a CSV / Parquet with a ``client_id`` column."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise ParameterError(f"erase --file {path}: no such file")
    if path.suffix.lower() == ".parquet":
        frame = pd.read_parquet(path)
    elif path.suffix.lower() == ".csv":
        frame = pd.read_csv(path, dtype=str)
    else:
        return [s.strip() for s in path.read_text().splitlines() if s.strip()]
    if "client_id" not in frame.columns:
        raise ParameterError(f"erase --file {path}: no client_id column (columns: {', '.join(frame.columns)})")
    return frame.client_id.dropna().astype(str).tolist()


def erase_clients(
    wh: Warehouse,
    ids: list[str],
    *,
    key: bytes,
    erasure_key: bytes | None = None,
    actor: str,
    reason: str | None = None,
) -> ErasureResult:
    """Delete every row about ``ids`` from every table, and tombstone them, atomically.

    Parameters
    ----------
    wh : Warehouse
    ids : client ids
    key : the pseudonymisation key (:func:`pseudonym_key`); the tombstone and the audit
        log hold pseudonyms only
    erasure_key : the erasure key (``governance.erasure``): the tombstone is kept under it
        too, so it survives a rotation of ``key``
    actor, reason : recorded in the audit log
    """
    ids = list(dict.fromkeys(str(i) for i in ids))
    if not ids:
        raise ParameterError("erase: no client id given")
    result = ErasureResult(pseudonyms=[str(p) for p in pseudonymise(ids, key)])
    con = wh.con
    con.execute("CREATE OR REPLACE TEMP TABLE _erase_ids (client_id VARCHAR)")
    con.executemany("INSERT INTO _erase_ids VALUES (?)", [[i] for i in ids])
    try:
        with wh.transaction() as tx:
            for table, columns in client_tables(wh).items():
                preds = []
                for c in columns:
                    if c == "original_values":
                        preds.append(_json_holds(c, "SELECT client_id FROM _erase_ids"))
                    else:
                        preds.append(f"{_q(c)}::VARCHAR IN (SELECT client_id FROM _erase_ids)")
                if "original_values" in columns and "source_key" in _columns(wh, table):
                    preds.append("source_key IN (SELECT client_id FROM _erase_ids)")
                n = tx.execute(
                    f"DELETE FROM {_q(table)} WHERE {' OR '.join(preds)}"
                ).fetchone()[0]  # type: ignore[index]
                if n:
                    result.rows[table] = int(n)
            _ensure(tx)
            kid = key_id(key)
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            keys = _keys([key, erasure_key])
            under = {key_id(k): [str(p) for p in pseudonymise(ids, k)] for k in keys}
            rows = []
            for i in range(len(ids)):
                eid = uuid.uuid4().hex
                rows += [[ps[i], k, now, eid, ps[i], k] for k, ps in under.items()]
            tx.executemany(
                f"INSERT INTO {TOMBSTONES} SELECT ?, ?, ?, ? WHERE NOT EXISTS "
                f"(SELECT 1 FROM {TOMBSTONES} WHERE pseudonym = ? AND key_id = ?)",
                rows,
            )
            log_action(tx, "erase", actor=actor, subject=f"{len(ids)} client(s)", reason=reason,
                       detail={"pseudonyms": result.pseudonyms, "key_id": kid,
                               "key_ids": sorted(under), "rows": result.rows})
    finally:
        con.execute("DROP TABLE IF EXISTS _erase_ids")
    return result


def _columns(wh: Warehouse, table: str) -> set[str]:
    return {r[0] for r in wh.con.execute(f"DESCRIBE {_q(table)}").fetchall()}


def _json_holds(column: str, ids_query: str) -> str:
    """The JSON object ``column`` has a value equal to one of the ids."""
    return (
        f"EXISTS (SELECT 1 FROM (SELECT unnest(json_keys({_q(column)})) AS k) AS keys "
        f"WHERE json_extract_string({_q(column)}, '$.\"' || keys.k || '\"') IN ({ids_query}))"
    )


def erased_predicate(
    wh_or_con, key: bytes | Sequence[bytes | None] | None, column: str = "client_id"
) -> str | None:
    """A SQL predicate over ``column`` true for tombstoned clients (None when there are
    none).

    ``key`` is the available keys (the pseudonymisation key and the erasure key); a
    tombstone matches under the key that made it.

    Raises
    ------
    ConfigError
        Tombstones exist and no key is set, or some erasure was tombstoned only under keys
        that are not set (the pseudonymisation key was rotated without an erasure key):
        ingesting could bring those clients back.
    """
    con = getattr(wh_or_con, "con", wh_or_con)
    has = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary", [TOMBSTONES]
    ).fetchone()[0]
    if not has or not con.execute(f"SELECT count(*) FROM {TOMBSTONES}").fetchone()[0]:
        return None
    keys = {key_id(k): k for k in _keys(key)}
    if not keys:
        raise ConfigError(
            f"{TOMBSTONES}: erased clients are recorded, but no pseudonymisation key is set to "
            "recognise them (governance.pseudonymise.key_env / key_file)"
        )
    _ensure(con)
    kids = ", ".join(f"'{k}'" for k in keys)
    lost = con.execute(
        f"""SELECT count(*), string_agg(DISTINCT kid, ', ') FROM (
                SELECT coalesce(erasure_id, pseudonym || key_id) AS erasure,
                       bool_or(key_id IN ({kids})) AS known, min(key_id) AS kid
                FROM {TOMBSTONES} GROUP BY 1) WHERE NOT known"""
    ).fetchone()
    if lost[0]:
        raise ConfigError(
            f"{TOMBSTONES}: {lost[0]} erased client(s) are recorded under key {lost[1]} only, "
            "which is not set: an ingest could bring them back. Set the erasure key "
            "(governance.erasure.key_env, SEGMINT_ERASURE_KEY by default) to that key -- the "
            "pseudonymisation key they were erased with, before its rotation"
        )
    return " OR ".join(
        f"{pseudonym_sql(column, k)} IN (SELECT pseudonym FROM {TOMBSTONES} WHERE key_id = '{kid}')"
        for kid, k in keys.items()
    )


def drop_erased(con, key: bytes | Sequence[bytes | None] | None, *, run_id: str | None = None) -> int:
    """Delete tombstoned clients' rows from the canonical tables, their ``_appended_``
    copies and (this run's) quarantine rows. Ingestion calls it after each entity it
    loads, inside its transaction, with the pseudonymisation and erasure keys."""
    from segmint.sources import ENTITIES, appended_table

    predicate = erased_predicate(con, key)
    if predicate is None:
        return 0
    removed = 0
    present = {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE NOT temporary").fetchall()}
    for name, entity in ENTITIES.items():
        if "client_id" not in entity.column_names:
            continue
        for table in (name, appended_table(name)):
            if table in present:
                removed += con.execute(f"DELETE FROM {_q(table)} WHERE {predicate}").fetchone()[0]
    if "quarantine" in present:
        value = "json_extract_string(original_values, '$.\"' || keys.k || '\"')"
        in_values = erased_predicate(con, key, value)
        by_key = erased_predicate(con, key, "source_key")
        removed += con.execute(
            "DELETE FROM quarantine WHERE " + ("run_id = ? AND " if run_id else "")
            + f"(EXISTS (SELECT 1 FROM (SELECT unnest(json_keys(original_values)) AS k) AS keys "
            f"WHERE {in_values}) OR ({by_key}))",
            [run_id] if run_id else [],
        ).fetchone()[0]
    return int(removed)
