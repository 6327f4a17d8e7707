"""Source readers: turn a declared source into a DuckDB relation with lineage columns.

Every reader yields the source's own columns plus ``__sm_file`` (file, relative to
the project folder, or ``database:table``) and ``__sm_row`` (0-based data row index
in that file, header excluded), so a quarantined row can be found again.

CSV files are read as text (``all_varchar``): a value that does not parse as its
canonical type is then caught row by row (``unparseable_value``) instead of
failing the whole load. Derived columns (``{sql: ...}``) see CSV columns cast to
the type DuckDB's sniffer detects, with ``TRY_CAST``.
"""

from __future__ import annotations

import glob as globlib
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp

from segmint.config import SourceConfig
from segmint.errors import ColumnNotFoundError, ConfigError, SchemaError, SourceNotFoundError

FILE_COL = "__sm_file"
ROW_COL = "__sm_row"


def quote(name: str) -> str:
    """Quote an identifier for DuckDB."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def text_cast(value_sql: str, type_: str) -> str:
    """SQL for a text value cast to ``type_``: NULL when it does not parse.

    DuckDB casts the text '10.5' to BIGINT as 11; an integer must be written as one.
    """
    cast = f"TRY_CAST({value_sql} AS {type_})"
    if type_ == "BIGINT":
        return f"CASE WHEN regexp_full_match(trim({value_sql}), '[+-]?[0-9]+') THEN {cast} END"
    return cast


RACY_NS = 2_000_000_000
"""A file modified less than this before it was hashed may have changed since (ns)."""


@dataclass
class FileHashes:
    """sha256 of input files by label, with the size and mtime (ns) they were hashed at.

    ``entries`` are those of the last run; ``current`` gets this run's files, each reused
    from ``entries`` when its size and mtime are unchanged and it was hashed at least
    ``RACY_NS`` after its last write (rsync's and git's quick check), else hashed again.
    """

    entries: dict[str, tuple[int, int, str, int]] = field(default_factory=dict)
    current: dict[str, tuple[int, int, str, int]] = field(default_factory=dict)

    def digest(self, key: str, path: Path) -> tuple[int, str]:
        """The file's size and sha256."""
        st = path.stat()
        e = self.entries.get(key)
        if e is not None and e[:2] == (st.st_size, st.st_mtime_ns) and e[1] < e[3] - RACY_NS:
            self.current[key] = e
            return e[0], e[2]
        hashed_at = time.time_ns()
        h = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        self.current[key] = (st.st_size, st.st_mtime_ns, h.hexdigest(), hashed_at)
        return st.st_size, h.hexdigest()

    @property
    def changed(self) -> bool:
        return self.current != self.entries


@dataclass
class SourceReader:
    """A resolved source: its files (or table) and column types."""

    name: str
    config: SourceConfig
    root: Path
    files: list[Path] = field(default_factory=list)
    raw_types: dict[str, str] = field(default_factory=dict)
    typed_types: dict[str, str] = field(default_factory=dict)
    alias: str = ""
    pg_table: str = ""

    @property
    def format(self) -> str:
        return self.config.resolved_format

    @property
    def is_table(self) -> bool:
        """A table or query of a database (no files to checksum)."""
        return self.format in ("table", "postgres")

    @property
    def _text(self) -> bool:
        """Text columns are parsed by their inferred type (CSV; database text columns)."""
        return self.format in ("csv", "postgres")

    def label(self, path: Path | None = None) -> str:
        if self.format == "postgres":
            return f"postgres:{self.config.table or 'query'}"
        if self.format == "table":
            return f"{self.config.database or 'warehouse'}:{self.config.table}"
        assert path is not None
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    # -- resolution ---------------------------------------------------------------
    def resolve(self, con: duckdb.DuckDBPyConnection) -> None:
        """Find the files or table and read the column types (no data is scanned)."""
        cfg = self.config
        if self.format == "postgres":
            from segmint.sources._database import load_postgres

            self.alias = ""
            self.pg_table = f"__sm_pg_{self.name}"
            load_postgres(con, self.name, cfg, self.pg_table)
        elif self.format == "table":
            self._attach(con)
        else:
            assert cfg.path is not None
            pattern = cfg.path if Path(cfg.path).is_absolute() else str(self.root / cfg.path)
            matches = sorted(Path(p) for p in globlib.glob(pattern, recursive=True))
            matches = [p for p in matches if p.is_file()]
            if not matches:
                raise SourceNotFoundError(
                    f"sources.{self.name}.path: no file matches {cfg.path!r} "
                    f"(looked in {self.root})"
                )
            self.files = matches
        self.raw_types = self.column_types(con)
        if self._text:
            inferred = self._infer_text_types(con)
            # only text columns are parsed; a typed database column keeps its type
            self.typed_types = {
                c: inferred[c] if t == "VARCHAR" else t for c, t in self.raw_types.items()
            }
        else:
            self.typed_types = dict(self.raw_types)

    def column_types(self, con: duckdb.DuckDBPyConnection) -> dict[str, str]:
        """The source's columns and their types as read (no data is scanned)."""
        try:
            desc = con.execute(f"DESCRIBE SELECT * FROM {self._scan(typed=False)}").fetchall()
        except duckdb.Error as exc:
            raise SchemaError(f"sources.{self.name}: cannot read {self._where()}: {exc}") from None
        return {r[0]: r[1] for r in desc if r[0] not in (FILE_COL, ROW_COL)}

    def _infer_text_types(self, con: duckdb.DuckDBPyConnection, sample: int = 50_000) -> dict[str, str]:
        """The type most values of each text column parse as (on a sample).

        Unlike DuckDB's sniffer, a few bad values do not turn a numeric column into
        text: a type is chosen when most (over half) of the sample's non-null values parse.
        """
        candidates = ("BIGINT", "DOUBLE", "DATE", "TIMESTAMP", "BOOLEAN")
        cols = [c for c, t in self.raw_types.items() if t == "VARCHAR"]
        if not cols:
            return {}
        aggs = [f"count({quote(c)})" for c in cols]
        aggs += [f"count({text_cast(quote(c), t)})" for c in cols for t in candidates]
        row = con.execute(
            f"SELECT {', '.join(aggs)} FROM (SELECT * FROM {self._scan(typed=False)} LIMIT {sample})"
        ).fetchall()[0]  # fetched: DuckDB refuses some work (register) while a result is open
        assert row is not None
        n = len(cols)
        out: dict[str, str] = {}
        for i, c in enumerate(cols):
            total = row[i]
            out[c] = "VARCHAR"
            for j, t in enumerate(candidates):
                if total and row[n + i * len(candidates) + j] > 0.5 * total:
                    out[c] = t
                    break
        return out

    def _attach(self, con: duckdb.DuckDBPyConnection) -> None:
        cfg = self.config
        assert cfg.table is not None
        self.alias = ""
        if cfg.database:
            db = Path(cfg.database)
            db = db if db.is_absolute() else self.root / db
            if not db.exists():
                raise SourceNotFoundError(f"sources.{self.name}.database: {db} does not exist")
            self.alias = f"__sm_src_{self.name}"
            attached = {r[0] for r in con.execute("SELECT database_name FROM duckdb_databases()").fetchall()}
            if self.alias not in attached:
                con.execute(f"ATTACH {literal(str(db))} AS {quote(self.alias)} (READ_ONLY)")

    def _where(self) -> str:
        if self.is_table:
            return self.label()
        return ", ".join(self.label(p) for p in self.files[:3]) + (" ..." if len(self.files) > 3 else "")

    def table_ref(self) -> str:
        if self.format == "postgres":
            return quote(self.pg_table)
        assert self.config.table is not None
        parts = [quote(p) for p in self.config.table.split(".")]
        if self.alias:
            parts.insert(0, quote(self.alias))
        return ".".join(parts)

    def _scan(self, *, typed: bool) -> str:
        """A FROM-clause item yielding the source columns plus lineage columns."""
        fmt = self.format
        if fmt == "parquet":
            files = "[" + ", ".join(literal(str(p)) for p in self.files) + "]"
            rel = (
                f"(SELECT * EXCLUDE ({FILE_COL}, file_row_number), "
                f"replace({FILE_COL}, {literal(str(self.root) + '/')}, '') AS {FILE_COL}, "
                f"file_row_number AS {ROW_COL} "
                f"FROM read_parquet({files}, filename={literal(FILE_COL)}, "
                f"file_row_number=true, union_by_name=true))"
            )
            return rel
        if fmt == "csv":
            # one scan per file so that row numbers restart in each file; DuckDB keeps
            # insertion order, so row_number() over () is the data row's position.
            parts = []
            for p in self.files:
                parts.append(
                    f"SELECT *, {literal(self.label(p))} AS {FILE_COL}, "
                    f"row_number() OVER () - 1 AS {ROW_COL} "
                    f"FROM read_csv({literal(str(p))}, all_varchar=true, "
                    f"header={self.config.header}, delim={literal(self.config.delimiter)})"
                )
            return "(" + " UNION ALL BY NAME ".join(parts) + ")"
        return (
            f"(SELECT *, {literal(self.label())} AS {FILE_COL}, "
            f"row_number() OVER () - 1 AS {ROW_COL} FROM {self.table_ref()})"
        )

    def relation(self) -> str:
        return self._scan(typed=False)

    # -- columns and expressions ----------------------------------------------------
    def require_column(self, column: str, *, entity: str, canonical: str) -> None:
        if column not in self.raw_types:
            raise ColumnNotFoundError(
                f"{self._where()}: column {column!r} not found (mapped to {entity}.{canonical} "
                f"from source {self.name!r}); available: {', '.join(self.raw_types)}"
            )

    def expression(self, sql: str, *, entity: str, canonical: str) -> tuple[str, list[str]]:
        """Rewrite a derived-column expression to run on this source.

        Returns the DuckDB SQL and the source columns it references. CSV columns
        (text) are wrapped in ``TRY_CAST`` to their sniffed type.
        """
        where = f"entities.{entity}.columns.{canonical}"
        try:
            tree = sqlglot.parse_one(sql, read="duckdb")
        except sqlglot.errors.ParseError as exc:
            raise ConfigError(f"{where}: cannot parse SQL {sql!r}: {exc}") from None
        refs: list[str] = []
        for col in tree.find_all(exp.Column):
            name = col.name
            if name not in self.raw_types:
                raise ColumnNotFoundError(
                    f"{self._where()}: column {name!r} used in {where} ({sql!r}) not found; "
                    f"available: {', '.join(self.raw_types)}"
                )
            refs.append(name)
        if self._text:

            def _cast(node: exp.Expression) -> exp.Expression:
                if isinstance(node, exp.Column) and self.raw_types.get(node.name) == "VARCHAR":
                    target = self.typed_types.get(node.name, "VARCHAR")
                    return exp.paren(
                        sqlglot.parse_one(text_cast(quote(node.name), target), read="duckdb")
                    )
                return node

            tree = tree.transform(_cast)
        return tree.sql(dialect="duckdb"), sorted(set(refs))

    def typed_ref(self, column: str) -> str:
        """SQL for a source column cast to its sniffed type (CSV) or as is."""
        if (
            self._text
            and self.raw_types.get(column) == "VARCHAR"
            and self.typed_types.get(column, "VARCHAR") != "VARCHAR"
        ):
            return text_cast(quote(column), self.typed_types[column])
        return quote(column)

    # -- lineage ----------------------------------------------------------------------
    def checksums(self, known: FileHashes | None = None) -> list[dict[str, object]]:
        """sha256 and size of every input file (tables: none).

        With ``known`` (the hashes of the last run), a file that did not change since it
        was hashed is not read again (:class:`FileHashes`); ``known.current`` gets them all.
        """
        known = known if known is not None else FileHashes()
        out: list[dict[str, object]] = []
        for p in self.files:
            size, digest = known.digest(self.label(p), p)
            out.append({"source": self.name, "file": self.label(p), "bytes": size, "sha256": digest})
        if self.is_table:
            out.append({"source": self.name, "table": self.label()})
        return out
