"""Ingestion: sources -> canonical tables, with data contracts and quarantine.

The whole load runs in one warehouse transaction: either every entity gets its new
load, or (on any error or crash) the previous warehouse state stays as it was.

Each entity is loaded in one of three modes, chosen by comparing its current inputs
(every file's path, size and sha256; the mappings, sources and contracts) with those
of its last load (tables ``_loaded_entities`` and ``_loaded_files``, written in the
same transaction as the load):

``unchanged``
    same files, same checksums, same settings: the entity is not read nor written.
``appended``
    every file of the last load is there unchanged, and there are new files: only
    the new files are staged and checked, and their good rows appended. The rows
    appended are also in ``_appended_<entity>`` until the next ingest run.
``reloaded``
    anything else (a file changed or vanished, mappings, sources or contracts
    changed, a source that is a table or a derivation reading more than its row,
    first load, ``full=True``): the entity is replaced from all its files.

Loading the same files twice gives the same warehouse, and an append gives the
warehouse a full reload of all the files would give (same rows, same quarantine
rows and reasons); when an append cannot promise that (a new row repeats the key of
a loaded row with other values, a client the entity's rows refer to was removed...)
the entity is reloaded.

Contract rules (reason codes in the ``quarantine`` table), first match wins:

=========================  ===================================================
``malformed_row``          a CSV line the reader cannot split into the header's
                           columns (ragged, bad quoting or encoding); the raw
                           line is kept in ``original_values->>'line'``
``missing_required``       a required canonical column is null
``unparseable_value``      a required value does not parse as its canonical type
``non_finite``             a number is NaN or infinite
``out_of_range``           an amount, balance, revenue or cost beyond
                           ``contracts.max_amount`` in absolute value
``currency_mismatch``      currency differs from ``contracts.currency``
``before_min_date``        a date is before ``contracts.min_date``
``future_timestamp``       a date is after ``contracts.max_date`` (default: today)
``closed_before_opened``   a holding closed before it opened
``duplicate_conflict``     rows share a key with different values (all of them)
``duplicate_key``          the same, for ``clients``
``held_client``            the client is itself quarantined: the row waits, and
                           loads when the client arrives valid
``unknown_client``         the client is not in ``clients`` (policy ``quarantine``)
``unknown_arm``            a campaign exposure's arm is not treatment / control
``unknown_campaign``       a campaign not declared in ``experiments.campaigns``
``client_in_two_arms``     ``duplicate_conflict`` for ``campaigns`` (client, campaign)
=========================  ===================================================

An *optional* value that does not parse (``unparseable_value``), or a birth year
outside ``contracts.min_birth_year`` .. ``max_birth_year`` (``out_of_range``), does not
cost the row: the value is loaded as null and a *note* is written to ``quarantine``
(``note = true``, the original value kept). Conflicting duplicate clients are all
quarantined (``duplicate_key``: which one is right is the source's call), and their
transactions, holdings... are ``held_client``, not lost.

A reload that would empty an entity, or remove more than ``contracts.max_shrink`` of its
rows (a header-only or truncated export), is refused (``ShrinkError``, exit code 3)
unless ``allow_shrink``. User SQL (``{sql:}``, ``where:``) is checked as one expression
on load and runs on a connection that can reach only the source files
(``Warehouse.restrict_access``). Timestamps with an offset are converted to UTC.

Rows that share a key and are identical are *collapsed*: one is loaded and the
others are counted in ``duplicates_collapsed`` (in ``appended`` mode, a new row
identical to a loaded row with its key is collapsed too). So for every entity
``rows_read == rows_loaded + rows_quarantined + duplicates_collapsed``, where in
``appended`` mode the counts are those of the new files' rows, and in ``unchanged``
mode all zero.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

from segmint._typing import LoadMode
from segmint.config import EntityMapping, SqlExpr
from segmint.errors import SchemaError, SegmintError, ShrinkError
from segmint.sources._attributes import write_attribute_catalog
from segmint.sources._loadstate import (
    LoadPlan,
    appended_table,
    clients_check,
    create_state_tables,
    entity_inputs,
    forget,
    load_hashes,
    plan_load,
    record_load,
    record_row_counts,
    save_hashes,
)
from segmint.sources._readers import FILE_COL, ROW_COL, FileHashes, SourceReader, literal, quote
from segmint.sources._schema import (
    DATE,
    DOUBLE,
    ENTITIES,
    LOAD_ORDER,
    TIMESTAMP,
    Entity,
    project_entities,
    with_known_campaigns,
)
from segmint.store import Warehouse, crash_point

QUARANTINE = "quarantine"

_QUARANTINE_DDL = f"""
CREATE TABLE IF NOT EXISTS {QUARANTINE} (
    run_id VARCHAR NOT NULL,
    entity VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    source_file VARCHAR,
    source_row BIGINT,
    source_key VARCHAR,
    reason VARCHAR NOT NULL,
    column_name VARCHAR,
    original_values JSON,
    note BOOLEAN NOT NULL DEFAULT false
)
"""
# warehouses written before notes existed
_QUARANTINE_NOTE = f"ALTER TABLE {QUARANTINE} ADD COLUMN IF NOT EXISTS note BOOLEAN DEFAULT false"

ProgressCallback = Callable[[str, int, int], None]
"""Called as ``progress(step_name, done, total)``."""


@dataclass
class EntityReport:
    """What happened to one entity during a load.

    Attributes
    ----------
    entity : str
        The canonical entity.
    mode : {"unchanged", "appended", "reloaded"}
        How it was loaded (see :mod:`segmint.sources`); ``mode_reason`` says why.
    rows_read, rows_loaded, duplicates_collapsed, quarantined
        This run's rows: all the entity's rows when ``reloaded``, the new files' rows
        when ``appended``, none when ``unchanged``.
    rows_appended : int
        Rows appended to the table (``appended`` mode; also in ``_appended_<entity>``).
    rows_in_table : int
        Rows in the entity's table after the run (stub clients excluded until the end
        of the run).
    stub_clients : int
        Stub clients this entity's rows created (policy ``stub``).
    notes : dict
        Loaded rows with an optional value set to null, by reason (``unparseable_value``,
        ``out_of_range``); each is a ``quarantine`` row with ``note = true``.
    rows_before : int
        Rows in the table before the run.
    """

    entity: str
    mode: LoadMode = "reloaded"
    mode_reason: str = ""
    rows_read: int = 0
    rows_loaded: int = 0
    rows_appended: int = 0
    rows_in_table: int = 0
    duplicates_collapsed: int = 0
    stub_clients: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)
    rows_before: int = 0
    seconds: float = 0.0

    @property
    def rows_quarantined(self) -> int:
        return sum(self.quarantined.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "mode_reason": self.mode_reason,
            "rows_appended": self.rows_appended,
            "rows_in_table": self.rows_in_table,
            "rows_read": self.rows_read,
            "rows_loaded": self.rows_loaded,
            "rows_quarantined": self.rows_quarantined,
            "duplicates_collapsed": self.duplicates_collapsed,
            "stub_clients": self.stub_clients,
            "quarantined": dict(self.quarantined),
            "notes": dict(self.notes),
            "rows_before": self.rows_before,
        }


@dataclass
class IngestReport:
    """The result of :meth:`segmint.Project.ingest`."""

    run_id: str
    warehouse: str
    entities: dict[str, EntityReport]
    inputs: list[dict[str, Any]]
    seconds: float
    skipped_files: list[dict[str, str]] = field(default_factory=list)
    """Files left out as unreadable (``on_bad_file: skip``): source, file, why."""

    def __getitem__(self, entity: str) -> EntityReport:
        return self.entities[entity]

    @property
    def modes(self) -> dict[str, LoadMode]:
        """``{entity: mode}``: what each entity's load did."""
        return {k: v.mode for k, v in self.entities.items()}

    def appended(self) -> dict[str, str]:
        """``{entity: table}`` of the ``_appended_<entity>`` tables this run wrote."""
        return {k: appended_table(k) for k, v in self.entities.items() if v.mode == "appended"}

    @property
    def rows_quarantined(self) -> int:
        return sum(e.rows_quarantined for e in self.entities.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "warehouse": self.warehouse,
            "seconds": round(self.seconds, 3),
            "entities": {k: v.as_dict() for k, v in self.entities.items()},
            "skipped_files": list(self.skipped_files),
        }


class _EntityLoader:
    """Builds and runs the SQL that loads one entity."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        entity: Entity,
        mappings: list[tuple[EntityMapping, SourceReader]],
        *,
        currency: str,
        min_date: dt.date,
        max_date: dt.date,
        unknown_clients: str,
        run_id: str,
        max_amount: float = 1e12,
        birth_years: tuple[int, int] = (1900, 9999),
        append: bool = False,
    ) -> None:
        self.con = con
        self.max_amount = max_amount
        self.birth_years = birth_years
        self.append = append
        self.entity = entity
        self.mappings = mappings
        self.currency = currency
        self.min_date = min_date
        self.max_date = max_date
        self.unknown_clients = unknown_clients
        self.run_id = run_id
        self.stage = f"__sm_stage_{entity.name}"
        self.dups = f"__sm_dups_{entity.name}"
        self.drop = f"__sm_drop_{entity.name}"
        self.stubs = f"__sm_stubs_{entity.name}"
        self.rejects = f"__sm_rej_{entity.name}"
        self.notes: dict[str, int] = {}

    # -- staging: typed columns + row-level reason -------------------------------------
    def _mapping_select(self, mapping: EntityMapping, reader: SourceReader, index: int) -> str:
        entity = self.entity
        typed: list[str] = []
        checks: list[tuple[str, str, str]] = []  # (reason, column, condition): quarantine
        notes: list[tuple[str, str, str]] = []  # (reason, column, condition): null + note
        raw_json: list[str] = []
        for col in entity.mappable:
            spec = mapping.columns.get(col.name)
            if spec is None:
                typed.append(f"CAST(NULL AS {col.type}) AS {quote(col.name)}")
                continue
            if isinstance(spec, SqlExpr):
                expr, refs = reader.expression(spec.sql, entity=entity.name, canonical=col.name)
                raw = f"({expr})"
                # unparseable when a referenced text column did not parse as its type
                bad = [
                    f"({quote(r)} IS NOT NULL AND {reader.typed_ref(r)} IS NULL)"
                    for r in refs
                    if reader.typed_ref(r) != quote(r)
                ]
            else:
                reader.require_column(spec, entity=entity.name, canonical=col.name, type_=col.type)
                raw = quote(spec)
                bad = []
            if col.type == TIMESTAMP:
                # an offset (+02:00, Z) is converted to UTC; the session's time zone is UTC
                cast = f"CAST(TRY_CAST({raw} AS TIMESTAMPTZ) AS TIMESTAMP)"
            else:
                cast = f"TRY_CAST({raw} AS {col.type})"
            if col.name == "currency":
                cast = f"upper(coalesce({cast}, {literal(self.currency)}))"
            value = cast
            if col.name == "birth_year":
                low, high = self.birth_years
                value = f"CASE WHEN {cast} BETWEEN {low} AND {high} THEN {cast} END"
                notes.append(("out_of_range", col.name, f"NOT ({cast} BETWEEN {low} AND {high})"))
            typed.append(f"{value} AS {quote(col.name)}")
            raw_json.append(f"{literal(col.name)}: {raw}")
            # a required value that does not parse sends the row to quarantine; an
            # optional one becomes null, with a note
            target = checks if col.required else notes
            if bad:  # a referenced text column did not parse: not a missing value
                target.append(("unparseable_value", col.name, " OR ".join(bad)))
            if col.required:
                checks.append(("missing_required", col.name, f"{raw} IS NULL"))
            target.append(
                ("unparseable_value", col.name, f"({raw} IS NOT NULL AND {cast} IS NULL)")
            )
        # rules on typed values, evaluated after missing/unparseable
        typed_checks: list[tuple[str, str, str]] = []
        for col in entity.mappable:
            if col.name not in mapping.columns:
                continue
            q = quote(col.name)
            if col.type == DOUBLE:
                typed_checks.append(("non_finite", col.name, f"NOT isfinite({q})"))
            if col.type == DOUBLE and col.unit == "currency":
                typed_checks.append(("out_of_range", col.name, f"abs({q}) > {self.max_amount!r}"))
        if "currency" in mapping.columns and entity.name == "transactions":
            typed_checks.append(
                ("currency_mismatch", "currency", f"{quote('currency')} <> {literal(self.currency)}")
            )
        for col in entity.mappable:
            if col.name in mapping.columns and col.type in (DATE, TIMESTAMP) and not col.attribute:
                q = quote(col.name)
                typed_checks.append(("before_min_date", col.name, f"{q} < DATE {literal(self.min_date.isoformat())}"))
                typed_checks.append(
                    ("future_timestamp", col.name, f"{q} >= DATE {literal((self.max_date + dt.timedelta(days=1)).isoformat())}")
                )
        typed_checks.extend(c for c in entity.checks if c[1] in mapping.columns)
        if entity.name == "holdings" and "closed_at" in mapping.columns:
            typed_checks.append(
                ("closed_before_opened", "closed_at", f"{quote('closed_at')} < {quote('opened_at')}")
            )

        def case(rules: list[tuple[str, str, str]]) -> str:
            if not rules:
                return "CAST(NULL AS VARCHAR)"
            whens = " ".join(f"WHEN {cond} THEN {literal(r + '|' + c)}" for r, c, cond in rules)
            return f"CASE {whens} END"

        note_list = (
            "list_filter([" + ", ".join(
                f"CASE WHEN {cond} THEN {literal(r + '|' + c)} END" for r, c, cond in notes
            ) + "], lambda x: x IS NOT NULL)"
            if notes else "CAST([] AS VARCHAR[])"
        )
        where = f" WHERE {reader.filter(mapping.where, entity=entity.name)}" if mapping.where else ""
        rejects = f"{self.rejects}_{index}"
        inner = (
            f"SELECT {literal(reader.name)} AS __sm_source, {FILE_COL}, {ROW_COL}, "
            + ", ".join(typed)
            + f", {case(checks)} AS __sm_pre, {note_list} AS __sm_notes, "
            + f"CASE WHEN {case(checks)} IS NOT NULL OR len({note_list}) > 0 "
            + f"THEN to_json({{{', '.join(raw_json)}}}) END AS __sm_raw "
            + f"FROM {reader.relation(rejects)} AS src{where}"
        )
        cols = ", ".join(f"s.{quote(c.name)}" for c in entity.mappable)
        unknown, join = "NULL", ""
        if self.checks_clients:
            # a client quarantined by this or an earlier load keeps its rows waiting
            # (held_client) until it arrives valid; a client never seen is unknown
            unknown = (
                "CASE WHEN c.client_id IS NULL THEN CASE WHEN h.client_id IS NOT NULL "
                "THEN 'held_client|client_id' ELSE 'unknown_client|client_id' END END"
            )
            join = (
                " LEFT JOIN clients c ON s.client_id = c.client_id"
                f" LEFT JOIN (SELECT DISTINCT source_key AS client_id FROM {QUARANTINE}"
                " WHERE entity = 'clients' AND NOT note) h ON s.client_id = h.client_id"
            )
        return (
            f"SELECT s.__sm_source, s.{FILE_COL}, s.{ROW_COL}, {cols}, "
            f"coalesce(s.__sm_pre, {case(typed_checks)}, {unknown}) AS __sm_reason, "
            f"s.__sm_notes, s.__sm_raw "
            f"FROM ({inner}) s{join}"
        )

    @property
    def checks_clients(self) -> bool:
        return self.entity.name != "clients" and "client_id" in self.entity.column_names

    def stage_rows(self) -> int:
        """Stage the mapped rows with their reasons; returns how many were read.

        A column none of whose values parse is a structural error (``SchemaError``);
        in append mode such a column is judged with the rows already loaded, see
        :meth:`append_doubt`.
        """
        selects = [self._mapping_select(m, r, i) for i, (m, r) in enumerate(self.mappings)]
        sql = f"CREATE OR REPLACE TEMP TABLE {self.stage} AS " + " UNION ALL ".join(selects)
        try:
            self.con.execute(sql)
        except duckdb.Error as exc:
            if isinstance(exc, duckdb.InterruptException | duckdb.OutOfMemoryException | duckdb.IOException):
                raise
            sources = ", ".join(r.name for _, r in self.mappings)
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise SchemaError(
                f"entities.{self.entity.name} (sources: {sources}): cannot load: {first}"
            ) from None
        self._stage_rejects()
        if not self.append:
            self._check_whole_columns()
        row = self.con.execute(f"SELECT count(*) FROM {self.stage}").fetchone()
        return int(row[0]) if row else 0

    def _stage_rejects(self) -> None:
        """Rows the CSV reader rejected (ragged, bad quoting or encoding) join the stage as
        ``malformed_row``, with their raw line; the other rows' numbers are corrected."""
        for i, (_, reader) in enumerate(self.mappings):
            rejects = f"{self.rejects}_{i}"
            for label, select in reader.rejected_rows(self.con, rejects):
                bad = f"__sm_bad_{self.entity.name}"
                self.con.execute(f"CREATE OR REPLACE TEMP TABLE {bad} AS {select}")
                # a row after k rejected lines was numbered k too low
                self.con.execute(
                    f"UPDATE {self.stage} AS s SET {ROW_COL} = s.{ROW_COL} + ("
                    f"SELECT count(*) FROM (SELECT row - (row_number() OVER (ORDER BY row) - 1) AS p "
                    f"FROM {bad}) WHERE p <= s.{ROW_COL}) "
                    f"WHERE s.__sm_source = ? AND s.{FILE_COL} = ?",
                    [reader.name, label],
                )
                self.con.execute(
                    f"INSERT INTO {self.stage} BY NAME SELECT {literal(reader.name)} AS __sm_source, "
                    f"{literal(label)} AS {FILE_COL}, row AS {ROW_COL}, "
                    f"'malformed_row|' AS __sm_reason, CAST([] AS VARCHAR[]) AS __sm_notes, "
                    f"to_json({{'line': line, 'error': error}}) AS __sm_raw FROM {bad}"
                )
                self.con.execute(f"DROP TABLE {bad}")
            reader.drop_rejects(self.con, rejects)

    def _unparsed_columns(self) -> list[tuple[str, int, int]]:
        """``(column, rows not parsing, rows parsing)`` for columns with unparseable values
        (quarantined rows, and notes of optional values set to null)."""
        out = []
        for col, n_bad in self.con.execute(
            "SELECT split_part(r, '|', 2) AS col, count(*) FROM ("
            f"SELECT __sm_reason AS r FROM {self.stage} UNION ALL "
            f"SELECT unnest(__sm_notes) FROM {self.stage} WHERE len(__sm_notes) > 0) "
            "WHERE r LIKE 'unparseable_value|%' GROUP BY 1 ORDER BY 1"
        ).fetchall():
            n_ok = self.con.execute(
                f"SELECT count(*) FROM {self.stage} WHERE {quote(col)} IS NOT NULL"
            ).fetchone()[0]
            out.append((str(col), int(n_bad), int(n_ok)))
        return out

    def _check_whole_columns(self) -> None:
        """A column none of whose values parse is a structural error, not bad rows."""
        for col, n_bad, n_ok in self._unparsed_columns():
            if n_ok == 0 and n_bad > 1:
                files = self.con.execute(
                    f"SELECT DISTINCT {FILE_COL} FROM {self.stage} LIMIT 3"
                ).fetchall()
                sample = self.con.execute(
                    f"SELECT __sm_raw->>{literal(col)} FROM {self.stage} "
                    f"WHERE __sm_reason = {literal('unparseable_value|' + col)} "
                    f"OR list_contains(__sm_notes, {literal('unparseable_value|' + col)}) LIMIT 3"
                ).fetchall()
                raise SchemaError(
                    f"{', '.join(f[0] for f in files)}: column mapped to {self.entity.name}.{col} "
                    f"cannot be read as {self.entity.column(col).type} in any of its "
                    f"{n_bad} rows (e.g. {', '.join(repr(s[0]) for s in sample)})"
                )

    def append_doubt(self) -> str | None:
        """Why the staged new rows cannot simply be appended (None: they can).

        The whole-column rule counts parsing values over all files: when none of the
        new rows parse in a column, the column is fine only if loaded rows hold a
        value there; otherwise only a full reload can tell.
        """
        for col, _, n_ok in self._unparsed_columns():
            if n_ok == 0:
                held = self.con.execute(
                    f"SELECT count(*) FROM (SELECT 1 FROM {quote(self.entity.name)} "
                    f"WHERE {quote(col)} IS NOT NULL LIMIT 1)"
                ).fetchone()
                if not held or not held[0]:
                    return f"no value of column {col} parses in the new files"
        return None

    # -- keys, references, final write -------------------------------------------------
    def _key_sql(self, alias: str = "") -> str:
        pre = f"{alias}." if alias else ""
        return ", ".join(f"{pre}{quote(k)}" for k in self.entity.key)

    def find_duplicates(self) -> int:
        """Find keys repeated among valid rows; returns how many rows collapse.

        Leaves in ``self.drop`` the rows not to load: the extra copies of exact
        duplicates (reason null: collapsed) and every row of a conflicting key.
        """
        if not self.entity.key:
            return 0
        cols = ", ".join(quote(c.name) for c in self.entity.mappable)
        key = self._key_sql()
        # a cheap count finds the repeated keys; only those are compared in full
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE {self.dups} AS "
            f"WITH repeated AS (SELECT {key} FROM {self.stage} WHERE __sm_reason IS NULL "
            f"GROUP BY {key} HAVING count(*) > 1) "
            f"SELECT {key}, count(*) AS n, count(DISTINCT hash({cols})) AS nd, "
            f"min({{'s': __sm_source, 'f': {FILE_COL}, 'r': {ROW_COL}}}) AS keep "
            f"FROM {self.stage} SEMI JOIN repeated USING ({key}) "
            f"WHERE __sm_reason IS NULL GROUP BY {key}"
        )
        conflict = literal(self.entity.duplicate_reason + "|" + ",".join(self.entity.key))
        on = " AND ".join(f"s.{quote(k)} = d.{quote(k)}" for k in self.entity.key)
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE {self.drop} AS "
            f"SELECT s.__sm_source, s.{FILE_COL}, s.{ROW_COL}, "
            f"CASE WHEN d.nd > 1 THEN {conflict} END AS reason "
            f"FROM {self.stage} s JOIN {self.dups} d ON {on} "
            f"WHERE s.__sm_reason IS NULL AND (d.nd > 1 OR "
            f"{{'s': s.__sm_source, 'f': s.{FILE_COL}, 'r': s.{ROW_COL}}} <> d.keep)"
        )
        row = self.con.execute(f"SELECT count(*) FROM {self.drop} WHERE reason IS NULL").fetchone()
        return int(row[0]) if row else 0

    def mark_stubs(self) -> None:
        """Policy ``stub``: note the unknown clients and let their rows through."""
        if not self.checks_clients:
            return
        unknown = "__sm_reason = 'unknown_client|client_id'"
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE {self.stubs} AS "
            f"SELECT DISTINCT client_id FROM {self.stage} WHERE {unknown}"
        )
        self.con.execute(f"UPDATE {self.stage} SET __sm_reason = NULL WHERE {unknown}")

    def insert_stubs(self) -> int:
        """Create the stub clients noted by :meth:`mark_stubs`; returns how many."""
        if not self.checks_clients:
            return 0
        self.con.execute(f"INSERT INTO clients (client_id, is_stub) SELECT client_id, true FROM {self.stubs}")
        return int(self.con.execute(f"SELECT count(*) FROM {self.stubs}").fetchone()[0])

    def check_against_table(self) -> str | None:
        """Append mode: compare the new valid rows' keys with the loaded rows.

        A new row whose key is loaded with identical values is collapsed (added to
        ``self.drop`` with no reason). Returns why the entity must be reloaded
        instead (None when it need not): a new row repeats a loaded key with other
        values, or a key quarantined as conflicting, or new rows conflicting among
        themselves share a loaded key - in a full reload all those rows, loaded
        ones included, are quarantined.
        """
        e = self.entity
        if not e.key:
            return None
        on = " AND ".join(f"s.{quote(k)} = t.{quote(k)}" for k in e.key)
        same = " AND ".join(
            f"({expr}) IS NOT DISTINCT FROM t.{quote(c.name)}"
            for c, expr in zip(e.columns, self._out_exprs(), strict=True)
        )
        lineage = f"d.__sm_source = s.__sm_source AND d.{FILE_COL} = s.{FILE_COL} AND d.{ROW_COL} = s.{ROW_COL}"
        hits = f"__sm_hits_{e.name}"
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE {hits} AS "
            f"SELECT s.__sm_source, s.{FILE_COL}, s.{ROW_COL}, ({same}) AS same, "
            f"(SELECT bool_or(d.reason IS NOT NULL) FROM {self.drop} d WHERE {lineage}) AS dropped "
            f"FROM {self.stage} s JOIN {quote(e.name)} t ON {on} WHERE s.__sm_reason IS NULL"
        )
        try:
            bad = self.con.execute(
                f"SELECT count(*) FROM {hits} WHERE NOT same OR coalesce(dropped, false)"
            ).fetchone()
            if bad and bad[0]:
                return f"{bad[0]} new row(s) repeat the key of a loaded {e.name} row with other values"
            key_expr = self._key_string("s")
            quarantined = self.con.execute(
                f"SELECT count(*) FROM {self.stage} s WHERE s.__sm_reason IS NULL AND {key_expr} IN "
                f"(SELECT source_key FROM {QUARANTINE} WHERE entity = ? AND reason = ?)",
                [e.name, e.duplicate_reason],
            ).fetchone()
            if quarantined and quarantined[0]:
                return f"new row(s) repeat a key quarantined as {e.duplicate_reason}"
            # identical to the loaded row: collapsed, like a full reload would
            self.con.execute(
                f"INSERT INTO {self.drop} SELECT __sm_source, {FILE_COL}, {ROW_COL}, NULL "
                f"FROM {hits} WHERE dropped IS NULL"
            )
        finally:
            self.con.execute(f"DROP TABLE IF EXISTS {hits}")
        return None

    def collapsed(self) -> int:
        """Rows collapsed into an identical row (within the stage or, appending, the table)."""
        if not self.entity.key:
            return 0
        row = self.con.execute(f"SELECT count(*) FROM {self.drop} WHERE reason IS NULL").fetchone()
        return int(row[0]) if row else 0

    def _key_string(self, alias: str) -> str:
        """The key as one string, as stored in ``quarantine.source_key``."""
        if not self.entity.key:
            return "NULL"
        return " || '/' || ".join(
            f"coalesce(CAST({alias}.{quote(k)} AS VARCHAR), '')" for k in self.entity.key
        )

    def _out_exprs(self) -> list[str]:
        """The table's columns computed from a staged row ``s``."""
        out = []
        for c in self.entity.columns:
            if c.name == "is_refund":
                out.append("s.amount < 0")
            elif c.name == "is_stub":
                out.append("false")
            else:
                out.append(f"s.{quote(c.name)}")
        return out

    def write(self) -> tuple[int, dict[str, int]]:
        """Write the loaded rows and the quarantine rows; returns (rows, reasons).

        Full mode replaces the table and the entity's quarantine rows; append mode
        adds to both and keeps the appended rows in ``_appended_<entity>``.
        """
        e = self.entity
        out_cols = [f"{x} AS {quote(c.name)}" for c, x in zip(e.columns, self._out_exprs(), strict=True)]
        lineage = f"d.__sm_source = s.__sm_source AND d.{FILE_COL} = s.{FILE_COL} AND d.{ROW_COL} = s.{ROW_COL}"
        has_drop = bool(e.key) and self.con.execute(f"SELECT count(*) FROM {self.drop}").fetchone()[0] > 0
        not_dropped = f" AND NOT EXISTS (SELECT 1 FROM {self.drop} d WHERE {lineage})" if has_drop else ""
        rows = f"SELECT {', '.join(out_cols)} FROM {self.stage} s WHERE s.__sm_reason IS NULL{not_dropped}"
        if self.append:
            target = appended_table(e.name)
            self.con.execute(f"CREATE OR REPLACE TABLE {quote(target)} AS {rows}")
            self.con.execute(f"INSERT INTO {quote(e.name)} BY NAME SELECT * FROM {quote(target)}")
        else:
            target = e.name
            self.con.execute(f"CREATE OR REPLACE TABLE {quote(e.name)} AS {rows}")
            self.con.execute(f"DELETE FROM {QUARANTINE} WHERE entity = ?", [e.name])
        key_expr = self._key_string("s")
        values = "{" + ", ".join(f"{literal(c.name)}: s.{quote(c.name)}" for c in e.mappable) + "}"

        def insert(reason: str, source: str, note: bool = False) -> None:
            self.con.execute(
                f"INSERT INTO {QUARANTINE} (run_id, entity, source, source_file, source_row, "
                "source_key, reason, column_name, original_values, note) "
                f"SELECT {literal(self.run_id)}, {literal(e.name)}, "
                f"s.__sm_source, s.{FILE_COL}, s.{ROW_COL}, {key_expr}, "
                f"split_part({reason}, '|', 1), nullif(split_part({reason}, '|', 2), ''), "
                f"coalesce(s.__sm_raw, to_json({values})), {note} FROM {source}"
            )

        insert("s.__sm_reason", f"{self.stage} s WHERE s.__sm_reason IS NOT NULL")
        if has_drop:
            insert(
                "d.reason",
                f"{self.stage} s JOIN {self.drop} d ON {lineage} WHERE d.reason IS NOT NULL",
            )
        # notes: a loaded row whose optional value was set to null, one per value
        insert(
            "s.__sm_note",
            f"(SELECT *, unnest(__sm_notes) AS __sm_note FROM {self.stage} "
            f"WHERE __sm_reason IS NULL AND len(__sm_notes) > 0) s"
            + (f" WHERE NOT EXISTS (SELECT 1 FROM {self.drop} d WHERE {lineage})" if has_drop else ""),
            note=True,
        )
        loaded = self.con.execute(f"SELECT count(*) FROM {quote(target)}").fetchone()[0]
        counts = self.con.execute(
            f"SELECT note, reason, count(*) FROM {QUARANTINE} WHERE entity = ? AND run_id = ? "
            "GROUP BY 1, 2 ORDER BY 1, 2",
            [e.name, self.run_id],
        ).fetchall()
        self.notes = {str(r): int(n) for note, r, n in counts if note}
        return int(loaded), {str(r): int(n) for note, r, n in counts if not note}

    def cleanup(self) -> None:
        for t in (self.stage, self.dups, self.drop, self.stubs):
            self.con.execute(f"DROP TABLE IF EXISTS {t}")


def _empty_table_sql(entity: Entity) -> str:
    cols = ", ".join(f"{quote(c.name)} {c.type}" for c in entity.columns)
    return f"CREATE OR REPLACE TABLE {quote(entity.name)} ({cols})"


def ingest(
    project: Any,
    *,
    progress: ProgressCallback | None = None,
    full: bool = False,
    after_load: Callable[[duckdb.DuckDBPyConnection, str], object] | None = None,
    allow_shrink: bool = False,
) -> IngestReport:
    """Load what is new in the mapped sources into the project's warehouse.

    Each entity is ``unchanged`` (same files: skipped), ``appended`` (only new
    files: they are staged, checked and their good rows appended) or ``reloaded``
    (replaced from all its files), see :mod:`segmint.sources`. The result is the
    warehouse a full reload would give; the rows an append added are also in the
    table ``_appended_<entity>`` until the next run.

    Parameters
    ----------
    project : segmint.Project
        The project whose sources to load.
    progress : callable, optional
        ``progress(step, done, total)`` after each step, for progress bars.
    full : bool
        Reload every entity from all its files, whatever changed.
    after_load : callable, optional
        ``after_load(con, run_id)`` after each entity is loaded, inside the load's
        transaction and before its row counts are recorded (governance drops erased
        clients' rows there).
    allow_shrink : bool
        Accept a reload that removes more than ``contracts.max_shrink`` of an entity's
        rows, or all of them (refused by default: a truncated or header-only export
        must not silently replace the data).

    Returns
    -------
    IngestReport
        Per entity: the mode and its reason, rows read, loaded (appended),
        quarantined (by reason) and collapsed.

    Raises
    ------
    SourceNotFoundError, ColumnNotFoundError, SchemaError
        Structural problems; nothing is written.
    ShrinkError
        A reload would shrink an entity past ``contracts.max_shrink``; nothing is written.
    """
    cfg = project.config
    contracts = cfg.contracts
    max_date = contracts.max_date or dt.date.today()
    started = time.perf_counter()
    entities = [e for e in LOAD_ORDER if cfg.mappings(e)]
    schema = project_entities(cfg)
    total_steps = len(entities) + 1

    with project.warehouse() as wh:
        con = wh.con
        # Resolve every source and check every mapped column before touching data.
        hashes = FileHashes() if full else load_hashes(con)
        readers: dict[str, SourceReader] = {}
        for name in dict.fromkeys(m.source for e in entities for m in cfg.mappings(e)):
            reader = SourceReader(name, cfg.sources[name], project.root)
            reader.resolve(con, hashes)
            readers[name] = reader
        plans = {e: [(m, readers[m.source]) for m in cfg.mappings(e)] for e in entities}
        # a file of a source lacking the columns of required values is a bad file
        needed: dict[str, set[str]] = {name: set() for name in readers}
        for e, pairs in plans.items():
            for m, r in pairs:
                for canonical, spec in m.columns.items():
                    if not schema[e].column(canonical).required:
                        continue
                    if isinstance(spec, SqlExpr):
                        needed[r.name].update(_columns_of(spec.sql))
                    else:
                        needed[r.name].add(spec)
        for name, reader in readers.items():
            if not reader.is_table:
                reader.check_file_columns(con, needed[name])
        for e, pairs in plans.items():
            for m, r in pairs:
                for canonical, spec in m.columns.items():
                    if isinstance(spec, SqlExpr):
                        r.expression(spec.sql, entity=e, canonical=canonical)
                    else:
                        r.require_column(
                            spec, entity=e, canonical=canonical,
                            type_=schema[e].column(canonical).type,
                        )
        checksums = {name: r.checksums(hashes) for name, r in readers.items()}
        # from here on, user SQL runs: only the source files are reachable
        wh.restrict_access([p for r in readers.values() for p in r.files])
        inputs = [c for cs in checksums.values() for c in cs]
        defs = {e: with_known_campaigns(schema[e], cfg.experiments.campaigns) for e in entities}
        fingerprints = {e: entity_inputs(defs[e], plans[e], checksums, contracts) for e in entities}
        if progress:
            progress("resolve", 1, total_steps)

        before = {
            e: int(con.execute(f"SELECT count(*) FROM {quote(e)}").fetchall()[0][0])
            for e in entities if wh.has_table(e)
        }
        run_id = wh.start_run("ingest", inputs)
        settings = _LoadSettings(
            currency=contracts.currency,
            min_date=contracts.min_date,
            max_date=max_date,
            unknown_clients=contracts.unknown_clients,
            run_id=run_id,
            max_amount=contracts.max_amount,
            birth_years=(contracts.min_birth_year, contracts.max_birth_year or max_date.year),
        )
        reports: dict[str, EntityReport] = {}
        try:
            con.execute(_QUARANTINE_DDL)
            con.execute(_QUARANTINE_NOTE)
            create_state_tables(con)
            with wh.transaction():
                for name in ENTITIES:
                    con.execute(f"DROP TABLE IF EXISTS {quote(appended_table(name))}")
                clients_mode: LoadMode = "unchanged"
                prev_clients: str | None = None
                for step, name in enumerate(entities, start=2):
                    t0 = time.perf_counter()
                    entity = defs[name]
                    plan = plan_load(con, entity, fingerprints[name], max_date=max_date, full=full)
                    if _refers_to_clients(entity) and clients_mode != "unchanged" and plan.mode != "reloaded":
                        why = clients_check(con, name, prev_clients)
                        if why is not None:
                            plan = LoadPlan("reloaded", why)
                    if name == "clients" and plan.mode != "unchanged" and wh.has_table("clients"):
                        prev_clients = "__sm_prev_clients"
                        con.execute(
                            f"CREATE OR REPLACE TEMP TABLE {prev_clients} AS SELECT client_id FROM clients"
                        )
                    rep = _load_entity(con, entity, plans[name], plan, settings)
                    if after_load is not None and rep.mode != "unchanged":
                        after_load(con, run_id)
                    record_load(con, name, fingerprints[name], plan, run_id=run_id, max_date=max_date)
                    if name == "clients":
                        clients_mode = rep.mode
                    rep.seconds = time.perf_counter() - t0
                    reports[name] = rep
                    crash_point(f"after:{name}")
                    if progress:
                        progress(name, step, total_steps)
                if prev_clients is not None:
                    con.execute(f"DROP TABLE IF EXISTS {prev_clients}")
                for name, n in record_row_counts(con, entities).items():
                    reports[name].rows_in_table = n
                    reports[name].rows_before = before.get(name, 0)
                if not allow_shrink:
                    _check_shrink(reports, contracts.max_shrink)
                forget(con, [n for n in ENTITIES if n not in reports])
                save_hashes(con, hashes)
                # optional entities not mapped: keep an empty canonical table so later
                # stages can rely on every table existing.
                for name, entity in schema.items():
                    if name not in reports and not wh.has_table(name):
                        con.execute(_empty_table_sql(entity))
                write_attribute_catalog(con, cfg)
                crash_point("before_commit")
        except SegmintError as exc:
            _record_failure(wh, run_id, str(exc))
            raise
        except BaseException as exc:
            _record_failure(wh, run_id, repr(exc))
            raise
        seconds = time.perf_counter() - started
        wh.finish_run(
            run_id,
            counts={k: v.as_dict() for k, v in reports.items()},
            timings={k: round(v.seconds, 3) for k, v in reports.items()} | {"total": round(seconds, 3)},
        )
        return IngestReport(
            run_id=run_id,
            warehouse=str(wh.path),
            entities=reports,
            inputs=inputs,
            seconds=seconds,
            skipped_files=[
                {"source": r.name, "file": f, "why": why}
                for r in readers.values() for f, why in r.skipped
            ],
        )


def _record_failure(wh: Warehouse, run_id: str, detail: str) -> None:
    """Mark the run failed; when even that fails (disk full...), the next run marks it
    ``interrupted`` and the original error is the one raised."""
    with contextlib.suppress(duckdb.Error):
        wh.finish_run(run_id, status="failed", detail=detail)


def _columns_of(sql: str) -> set[str]:
    """The column names an expression reads."""
    return {c.name for c in sqlglot.parse_one(sql, read="duckdb").find_all(exp.Column)}


def _check_shrink(reports: dict[str, EntityReport], max_shrink: float) -> None:
    """Refuse a reload that empties an entity or removes more than ``max_shrink`` of it."""
    for name, rep in reports.items():
        before, after = rep.rows_before, rep.rows_in_table
        if rep.mode != "reloaded" or before == 0 or after >= before:
            continue
        lost = (before - after) / before
        if after == 0 or lost > max_shrink:
            raise ShrinkError(
                f"entities.{name}: this load would leave {after:,} of {before:,} rows "
                f"(-{lost:.0%}, more than contracts.max_shrink = {max_shrink:.0%}); refused, "
                "the warehouse keeps the previous load. If the sources really shrank, rerun "
                "with --allow-shrink (Project.ingest(allow_shrink=True))"
            )


@dataclass(frozen=True)
class _LoadSettings:
    currency: str
    min_date: dt.date
    max_date: dt.date
    unknown_clients: str
    run_id: str
    max_amount: float = 1e12
    birth_years: tuple[int, int] = (1900, 9999)


def _refers_to_clients(entity: Entity) -> bool:
    return entity.name != "clients" and "client_id" in entity.column_names


def _load_entity(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    pairs: list[tuple[EntityMapping, SourceReader]],
    plan: LoadPlan,
    settings: _LoadSettings,
) -> EntityReport:
    """Load one entity as ``plan`` says; an append that cannot stay exact reloads.

    ``plan`` is updated to the mode actually used.
    """
    if plan.mode == "unchanged":
        return EntityReport(entity.name, mode="unchanged", mode_reason=plan.reason)
    if plan.mode == "appended":
        rep = _append(con, entity, pairs, plan, settings)
        if rep is not None:
            return rep
    loader = _EntityLoader(con, entity, pairs, **vars(settings))
    rep = EntityReport(entity.name, mode="reloaded", mode_reason=plan.reason)
    rep.rows_read = loader.stage_rows()
    if settings.unknown_clients == "stub":
        loader.mark_stubs()
        rep.stub_clients = loader.insert_stubs()
    rep.duplicates_collapsed = loader.find_duplicates()
    rep.rows_loaded, rep.quarantined = loader.write()
    rep.notes = loader.notes
    loader.cleanup()
    return rep


def _append(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    pairs: list[tuple[EntityMapping, SourceReader]],
    plan: LoadPlan,
    settings: _LoadSettings,
) -> EntityReport | None:
    """Stage, check and append only the new files; None (and ``plan`` set to
    ``reloaded`` with the reason) when only a full reload gives the right result."""
    new_pairs: list[tuple[EntityMapping, SourceReader]] = []
    for i, (m, r) in enumerate(pairs):
        if i not in plan.new_files:
            continue
        wanted = set(plan.new_files[i])
        sub = replace(r, files=[p for p in r.files if r.label(p) in wanted])
        if sub.column_types(con) != r.raw_types:
            plan.mode, plan.reason = "reloaded", f"new files of source {r.name!r} have other columns or types"
            return None
        new_pairs.append((m, sub))
    loader = _EntityLoader(con, entity, new_pairs, **vars(settings), append=True)
    try:
        rep = EntityReport(entity.name, mode="appended", mode_reason=plan.reason)
        rep.rows_read = loader.stage_rows()
        doubt = loader.append_doubt()
        if doubt is None:
            if settings.unknown_clients == "stub":
                loader.mark_stubs()
            loader.find_duplicates()
            doubt = loader.check_against_table()
        if doubt is not None:
            plan.mode, plan.reason = "reloaded", doubt
            return None
        if settings.unknown_clients == "stub":
            rep.stub_clients = loader.insert_stubs()
        rep.duplicates_collapsed = loader.collapsed()
        rep.rows_loaded, rep.quarantined = loader.write()
        rep.notes = loader.notes
        rep.rows_appended = rep.rows_loaded
        return rep
    finally:
        loader.cleanup()


def quarantine_summary(wh: Warehouse) -> list[tuple[str, str, int]]:
    """``(entity, reason, rows)`` for the current quarantine table."""
    if not wh.has_table(QUARANTINE):
        return []
    has_note = wh.con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE table_name = ? AND column_name = 'note'",
        [QUARANTINE],
    ).fetchall()[0][0]
    where = " WHERE NOT note" if has_note else ""
    return [
        (str(e), str(r), int(n))
        for e, r, n in wh.con.execute(
            f"SELECT entity, reason, count(*) FROM {QUARANTINE}{where} GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall()
    ]
