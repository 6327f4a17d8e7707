"""PostgreSQL sources: a table or query read through ADBC as a stream of Arrow batches.

The connection string comes from the environment variable the source names
(``dsn_env``), never from the project file. The rows are streamed (Arrow record
batches, never row by row) into a temporary DuckDB table of the ingest connection; from
there a database source is read like any other table: same contracts, same quarantine.
"""

from __future__ import annotations

import os
from typing import Any

import duckdb

from segmint.errors import MissingDependencyError, SchemaError, SourceNotFoundError


def _quote_pg(name: str) -> str:
    return ".".join('"' + p.replace('"', '""') + '"' for p in name.split("."))


def postgres_dsn(source: str, env: str) -> str:
    """The connection string in the environment variable ``env`` (never logged)."""
    dsn = os.environ.get(env)
    if not dsn:
        raise SourceNotFoundError(
            f"sources.{source}.dsn_env: the environment variable {env} is not set (it holds "
            "the PostgreSQL connection string, e.g. postgresql://user:password@host:5432/db)"
        )
    return dsn


def load_postgres(
    con: duckdb.DuckDBPyConnection, source: str, config: Any, target: str
) -> None:
    """Stream the source's table or query into the temporary DuckDB table ``target``."""
    try:
        import adbc_driver_postgresql.dbapi as pg
    except ImportError:
        raise MissingDependencyError("adbc-driver-postgresql", "postgres") from None
    dsn = postgres_dsn(source, config.dsn_env)
    sql = config.query if config.query is not None else f"SELECT * FROM {_quote_pg(config.table)}"
    what = "query" if config.query is not None else f"table {config.table!r}"
    try:
        with pg.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute(sql)
            reader = cur.fetch_record_batch()  # a stream of Arrow batches
            con.register("__sm_pg_stream", reader)
            try:
                con.execute(  # fetched: DuckDB refuses new work while a result is unfinished
                    f'CREATE OR REPLACE TEMP TABLE "{target}" AS SELECT * FROM __sm_pg_stream'
                ).fetchall()
            finally:
                con.unregister("__sm_pg_stream")
    except (SourceNotFoundError, MissingDependencyError):
        raise
    except Exception as exc:  # the driver's errors: connection refused, no such table...
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        # never echo the DSN: it holds the password
        first = first.replace(dsn, f"${config.dsn_env}")
        raise SchemaError(f"sources.{source}: cannot read the PostgreSQL {what}: {first}") from None
