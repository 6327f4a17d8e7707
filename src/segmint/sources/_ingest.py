"""Ingestion: sources -> canonical tables, with data contracts and quarantine.

The whole load runs in one warehouse transaction: either every entity is
replaced with the new load, or (on any error or crash) the previous warehouse
state stays as it was. Each entity is a full refresh from its sources, so
loading the same files twice gives the same warehouse.

Contract rules (reason codes in the ``quarantine`` table), first match wins:

=========================  ===================================================
``missing_required``       a required canonical column is null
``unparseable_value``      a value does not parse as its canonical type
``non_finite``             a number is NaN or infinite
``currency_mismatch``      currency differs from ``contracts.currency``
``before_min_date``        a date is before ``contracts.min_date``
``future_timestamp``       a date is after ``contracts.max_date`` (default: today)
``closed_before_opened``   a holding closed before it opened
``duplicate_conflict``     rows share a key with different values (all of them)
``duplicate_key``          the same, for ``clients``
``unknown_client``         the client is not in ``clients`` (policy ``quarantine``)
=========================  ===================================================

Rows that share a key and are identical are *collapsed*: one is loaded and the
others are counted in ``duplicates_collapsed``. So for every entity
``rows_read == rows_loaded + rows_quarantined + duplicates_collapsed``.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb

from segmint.config import EntityMapping, SqlExpr
from segmint.errors import SchemaError, SegmintError
from segmint.sources._readers import FILE_COL, ROW_COL, SourceReader, literal, quote
from segmint.sources._schema import DATE, DOUBLE, ENTITIES, LOAD_ORDER, TIMESTAMP, Entity
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
    original_values JSON
)
"""

ProgressCallback = Callable[[str, int, int], None]
"""Called as ``progress(step_name, done, total)``."""


@dataclass
class EntityReport:
    """What happened to one entity during a load."""

    entity: str
    rows_read: int = 0
    rows_loaded: int = 0
    duplicates_collapsed: int = 0
    stub_clients: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def rows_quarantined(self) -> int:
        return sum(self.quarantined.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows_read": self.rows_read,
            "rows_loaded": self.rows_loaded,
            "rows_quarantined": self.rows_quarantined,
            "duplicates_collapsed": self.duplicates_collapsed,
            "stub_clients": self.stub_clients,
            "quarantined": dict(self.quarantined),
        }


@dataclass
class IngestReport:
    """The result of :meth:`segmint.Project.ingest`."""

    run_id: str
    warehouse: str
    entities: dict[str, EntityReport]
    inputs: list[dict[str, Any]]
    seconds: float

    def __getitem__(self, entity: str) -> EntityReport:
        return self.entities[entity]

    @property
    def rows_quarantined(self) -> int:
        return sum(e.rows_quarantined for e in self.entities.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "warehouse": self.warehouse,
            "seconds": round(self.seconds, 3),
            "entities": {k: v.as_dict() for k, v in self.entities.items()},
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
    ) -> None:
        self.con = con
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

    # -- staging: typed columns + row-level reason -------------------------------------
    def _mapping_select(self, mapping: EntityMapping, reader: SourceReader) -> str:
        entity = self.entity
        typed: list[str] = []
        checks: list[tuple[str, str, str]] = []  # (reason, column, condition)
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
                reader.require_column(spec, entity=entity.name, canonical=col.name)
                raw = quote(spec)
                bad = []
            cast = f"TRY_CAST({raw} AS {col.type})"
            if col.name == "currency":
                cast = f"upper(coalesce({cast}, {literal(self.currency)}))"
            typed.append(f"{cast} AS {quote(col.name)}")
            raw_json.append(f"{literal(col.name)}: {raw}")
            if bad:  # a referenced text column did not parse: not a missing value
                checks.append(("unparseable_value", col.name, " OR ".join(bad)))
            if col.required:
                checks.append(("missing_required", col.name, f"{raw} IS NULL"))
            checks.append(
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
        if "currency" in mapping.columns and entity.name == "transactions":
            typed_checks.append(
                ("currency_mismatch", "currency", f"{quote('currency')} <> {literal(self.currency)}")
            )
        for col in entity.mappable:
            if col.name in mapping.columns and col.type in (DATE, TIMESTAMP):
                q = quote(col.name)
                typed_checks.append(("before_min_date", col.name, f"{q} < DATE {literal(self.min_date.isoformat())}"))
                typed_checks.append(
                    ("future_timestamp", col.name, f"{q} >= DATE {literal((self.max_date + dt.timedelta(days=1)).isoformat())}")
                )
        if entity.name == "holdings" and "closed_at" in mapping.columns:
            typed_checks.append(
                ("closed_before_opened", "closed_at", f"{quote('closed_at')} < {quote('opened_at')}")
            )

        def case(rules: list[tuple[str, str, str]]) -> str:
            if not rules:
                return "CAST(NULL AS VARCHAR)"
            whens = " ".join(f"WHEN {cond} THEN {literal(r + '|' + c)}" for r, c, cond in rules)
            return f"CASE {whens} END"

        where = f" WHERE {mapping.where}" if mapping.where else ""
        inner = (
            f"SELECT {literal(reader.name)} AS __sm_source, {FILE_COL}, {ROW_COL}, "
            + ", ".join(typed)
            + f", {case(checks)} AS __sm_pre, "
            + f"CASE WHEN {case(checks)} IS NOT NULL THEN to_json({{{', '.join(raw_json)}}}) END AS __sm_raw "
            + f"FROM {reader.relation()} AS src{where}"
        )
        cols = ", ".join(f"s.{quote(c.name)}" for c in entity.mappable)
        unknown, join = "NULL", ""
        if self.checks_clients:
            unknown = "CASE WHEN c.client_id IS NULL THEN 'unknown_client|client_id' END"
            join = " LEFT JOIN clients c ON s.client_id = c.client_id"
        return (
            f"SELECT s.__sm_source, s.{FILE_COL}, s.{ROW_COL}, {cols}, "
            f"coalesce(s.__sm_pre, {case(typed_checks)}, {unknown}) AS __sm_reason, s.__sm_raw "
            f"FROM ({inner}) s{join}"
        )

    @property
    def checks_clients(self) -> bool:
        return self.entity.name != "clients" and "client_id" in self.entity.column_names

    def stage_rows(self) -> int:
        selects = [self._mapping_select(m, r) for m, r in self.mappings]
        sql = f"CREATE OR REPLACE TEMP TABLE {self.stage} AS " + " UNION ALL ".join(selects)
        try:
            self.con.execute(sql)
        except duckdb.Error as exc:
            sources = ", ".join(r.name for _, r in self.mappings)
            raise SchemaError(
                f"entities.{self.entity.name} (sources: {sources}): cannot load: {exc}"
            ) from None
        self._check_whole_columns()
        row = self.con.execute(f"SELECT count(*) FROM {self.stage}").fetchone()
        return int(row[0]) if row else 0

    def _check_whole_columns(self) -> None:
        """A column none of whose values parse is a structural error, not bad rows."""
        row = self.con.execute(
            f"SELECT split_part(__sm_reason, '|', 2) AS col, count(*) FROM {self.stage} "
            f"WHERE __sm_reason LIKE 'unparseable_value|%' GROUP BY 1"
        ).fetchall()
        for col, n_bad in row:
            n_ok = self.con.execute(
                f"SELECT count(*) FROM {self.stage} WHERE {quote(col)} IS NOT NULL"
            ).fetchone()[0]
            if n_ok == 0 and n_bad > 1:
                files = self.con.execute(
                    f"SELECT DISTINCT {FILE_COL} FROM {self.stage} LIMIT 3"
                ).fetchall()
                sample = self.con.execute(
                    f"SELECT __sm_raw->>{literal(col)} FROM {self.stage} "
                    f"WHERE __sm_reason = {literal('unparseable_value|' + col)} LIMIT 3"
                ).fetchall()
                raise SchemaError(
                    f"{', '.join(f[0] for f in files)}: column mapped to {self.entity.name}.{col} "
                    f"cannot be read as {self.entity.column(col).type} in any of its "
                    f"{n_bad} rows (e.g. {', '.join(repr(s[0]) for s in sample)})"
                )

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

    def add_stub_clients(self) -> int:
        """Policy ``stub``: create the unknown clients and load their rows."""
        if not self.checks_clients:
            return 0
        unknown = "__sm_reason = 'unknown_client|client_id'"
        before = self.con.execute("SELECT count(*) FROM clients").fetchone()[0]
        self.con.execute(
            "INSERT INTO clients (client_id, is_stub) "
            f"SELECT DISTINCT client_id, true FROM {self.stage} WHERE {unknown}"
        )
        self.con.execute(f"UPDATE {self.stage} SET __sm_reason = NULL WHERE {unknown}")
        return self.con.execute("SELECT count(*) FROM clients").fetchone()[0] - before

    def write(self) -> tuple[int, dict[str, int]]:
        e = self.entity
        out_cols = []
        for c in e.columns:
            if c.name == "is_refund":
                out_cols.append("s.amount < 0 AS is_refund")
            elif c.name == "is_stub":
                out_cols.append("false AS is_stub")
            else:
                out_cols.append(f"s.{quote(c.name)}")
        lineage = f"d.__sm_source = s.__sm_source AND d.{FILE_COL} = s.{FILE_COL} AND d.{ROW_COL} = s.{ROW_COL}"
        has_drop = bool(e.key) and self.con.execute(f"SELECT count(*) FROM {self.drop}").fetchone()[0] > 0
        not_dropped = f" AND NOT EXISTS (SELECT 1 FROM {self.drop} d WHERE {lineage})" if has_drop else ""
        self.con.execute(
            f"CREATE OR REPLACE TABLE {quote(e.name)} AS SELECT {', '.join(out_cols)} "
            f"FROM {self.stage} s WHERE s.__sm_reason IS NULL{not_dropped}"
        )
        self.con.execute(f"DELETE FROM {QUARANTINE} WHERE entity = ?", [e.name])
        key_expr = (
            " || '/' || ".join(f"coalesce(CAST(s.{quote(k)} AS VARCHAR), '')" for k in e.key)
            if e.key
            else "NULL"
        )
        values = "{" + ", ".join(f"{literal(c.name)}: s.{quote(c.name)}" for c in e.mappable) + "}"

        def insert(reason: str, source: str) -> None:
            self.con.execute(
                f"INSERT INTO {QUARANTINE} SELECT {literal(self.run_id)}, {literal(e.name)}, "
                f"s.__sm_source, s.{FILE_COL}, s.{ROW_COL}, {key_expr}, "
                f"split_part({reason}, '|', 1), split_part({reason}, '|', 2), "
                f"coalesce(s.__sm_raw, to_json({values})) FROM {source}"
            )

        insert("s.__sm_reason", f"{self.stage} s WHERE s.__sm_reason IS NOT NULL")
        if has_drop:
            insert(
                "d.reason",
                f"{self.stage} s JOIN {self.drop} d ON {lineage} WHERE d.reason IS NOT NULL",
            )
        loaded = self.con.execute(f"SELECT count(*) FROM {quote(e.name)}").fetchone()[0]
        reasons = self.con.execute(
            f"SELECT reason, count(*) FROM {QUARANTINE} WHERE entity = ? GROUP BY 1 ORDER BY 1",
            [e.name],
        ).fetchall()
        return int(loaded), {str(k): int(v) for k, v in reasons}

    def cleanup(self) -> None:
        for t in (self.stage, self.dups, self.drop):
            self.con.execute(f"DROP TABLE IF EXISTS {t}")


def _empty_table_sql(entity: Entity) -> str:
    cols = ", ".join(f"{quote(c.name)} {c.type}" for c in entity.columns)
    return f"CREATE OR REPLACE TABLE {quote(entity.name)} ({cols})"


def ingest(project: Any, *, progress: ProgressCallback | None = None) -> IngestReport:
    """Load every mapped source into the project's warehouse.

    Parameters
    ----------
    project : segmint.Project
        The project whose sources to load.
    progress : callable, optional
        ``progress(step, done, total)`` after each step, for progress bars.

    Returns
    -------
    IngestReport
        Rows read, loaded, quarantined (by reason) and collapsed, per entity.

    Raises
    ------
    SourceNotFoundError, ColumnNotFoundError, SchemaError
        Structural problems; nothing is written.
    """
    cfg = project.config
    contracts = cfg.contracts
    max_date = contracts.max_date or dt.date.today()
    started = time.perf_counter()
    entities = [e for e in LOAD_ORDER if cfg.mappings(e)]
    total_steps = len(entities) + 1

    with project.warehouse() as wh:
        con = wh.con
        # Resolve every source and check every mapped column before touching data.
        readers: dict[str, SourceReader] = {}
        for name in dict.fromkeys(m.source for e in entities for m in cfg.mappings(e)):
            reader = SourceReader(name, cfg.sources[name], project.root)
            reader.resolve(con)
            readers[name] = reader
        plans = {e: [(m, readers[m.source]) for m in cfg.mappings(e)] for e in entities}
        for e, pairs in plans.items():
            for m, r in pairs:
                for canonical, spec in m.columns.items():
                    if isinstance(spec, SqlExpr):
                        r.expression(spec.sql, entity=e, canonical=canonical)
                    else:
                        r.require_column(spec, entity=e, canonical=canonical)
        inputs = [c for r in readers.values() for c in r.checksums()]
        if progress:
            progress("resolve", 1, total_steps)

        run_id = wh.start_run("ingest", inputs)
        reports: dict[str, EntityReport] = {}
        try:
            con.execute(_QUARANTINE_DDL)
            with wh.transaction():
                for step, name in enumerate(entities, start=2):
                    t0 = time.perf_counter()
                    entity = ENTITIES[name]
                    loader = _EntityLoader(
                        con,
                        entity,
                        plans[name],
                        currency=contracts.currency,
                        min_date=contracts.min_date,
                        max_date=max_date,
                        unknown_clients=contracts.unknown_clients,
                        run_id=run_id,
                    )
                    rep = EntityReport(name)
                    rep.rows_read = loader.stage_rows()
                    if contracts.unknown_clients == "stub":
                        rep.stub_clients = loader.add_stub_clients()
                    rep.duplicates_collapsed = loader.find_duplicates()
                    rep.rows_loaded, rep.quarantined = loader.write()
                    loader.cleanup()
                    rep.seconds = time.perf_counter() - t0
                    reports[name] = rep
                    crash_point(f"after:{name}")
                    if progress:
                        progress(name, step, total_steps)
                # optional entities not mapped: keep an empty canonical table so later
                # stages can rely on every table existing.
                for name, entity in ENTITIES.items():
                    if name not in reports and not wh.has_table(name):
                        con.execute(_empty_table_sql(entity))
                crash_point("before_commit")
        except SegmintError as exc:
            wh.finish_run(run_id, status="failed", detail=str(exc))
            raise
        except BaseException as exc:
            wh.finish_run(run_id, status="failed", detail=repr(exc))
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
        )


def quarantine_summary(wh: Warehouse) -> list[tuple[str, str, int]]:
    """``(entity, reason, rows)`` for the current quarantine table."""
    if not wh.has_table(QUARANTINE):
        return []
    return [
        (str(e), str(r), int(n))
        for e, r, n in wh.con.execute(
            f"SELECT entity, reason, count(*) FROM {QUARANTINE} GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall()
    ]
