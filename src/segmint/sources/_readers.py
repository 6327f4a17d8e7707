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

import codecs
import glob as globlib
import hashlib
import os
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


_NUMERIC = {"DOUBLE", "BIGINT", "INTEGER"}


def _unreadable_folder(pattern: str) -> str | None:
    """The deepest existing folder of a glob pattern, when it cannot be listed."""
    parts = Path(pattern).parts
    folder = Path(parts[0])
    for part in parts[1:]:
        if any(ch in part for ch in "*?["):
            break
        nxt = folder / part
        if not nxt.is_dir():
            break
        folder = nxt
    if folder.is_dir() and not os.access(folder, os.R_OK | os.X_OK):
        return str(folder)
    return None


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

    def known(self, key: str, path: Path) -> bool:
        """The file was hashed by the last run and looks unchanged since (quick check)."""
        e = self.entries.get(key)
        if e is None:
            return False
        try:
            st = path.stat()
        except OSError:
            return False
        return e[:2] == (st.st_size, st.st_mtime_ns) and e[1] < e[3] - RACY_NS

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
    file_columns: dict[Path, list[str]] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """Files left out (``on_bad_file: skip``): (file, why)."""

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
    def resolve(self, con: duckdb.DuckDBPyConnection, known: FileHashes | None = None) -> None:
        """Find the files or table and read the column types (no data is scanned).

        Each file is probed (permission, encoding, format) unless ``known`` says the last
        run hashed it and it has not changed since: it was readable then.
        """
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
                blocked = _unreadable_folder(pattern)
                if blocked is not None:
                    raise SourceNotFoundError(
                        f"sources.{self.name}.path: cannot look for {cfg.path!r}: "
                        f"permission denied on folder {blocked}"
                    )
                raise SourceNotFoundError(
                    f"sources.{self.name}.path: no file matches {cfg.path!r} "
                    f"(looked in {self.root})"
                )
            self.files = matches
            for p in list(self.files):
                if known is not None and known.known(self.label(p), p):
                    continue
                why = self._probe(con, p)
                if why is not None:
                    self._bad_file(p, why)
        self._read_types(con)

    def _read_types(self, con: duckdb.DuckDBPyConnection) -> None:
        self.raw_types = self.column_types(con)
        if self._text:
            inferred = self._infer_text_types(con)
            # only text columns are parsed; a typed database column keeps its type
            self.typed_types = {
                c: inferred[c] if t == "VARCHAR" else t for c, t in self.raw_types.items()
            }
        else:
            self.typed_types = dict(self.raw_types)

    def _bad_file(self, path: Path, why: str) -> None:
        """Leave a file out (``on_bad_file: skip``) or stop, naming it and the cause."""
        if self.config.on_bad_file == "skip":
            self.files.remove(path)
            self.skipped.append((self.label(path), why))
            if not self.files:
                raise SchemaError(
                    f"sources.{self.name}: every file was left out as unreadable "
                    f"(e.g. {self.skipped[0][0]}: {self.skipped[0][1]})"
                )
            return
        raise SchemaError(
            f"{self.label(path)} (source {self.name!r}): {why}"
            + (f"; set sources.{self.name}.on_bad_file: skip to load the other files"
               if len(self.files) > 1 else "")
        )

    def _probe(self, con: duckdb.DuckDBPyConnection, path: Path) -> str | None:
        """Why the file cannot be read (None: it can): permission, encoding or format."""
        try:
            with path.open("rb") as fh:
                head = fh.read(1 << 16)
        except PermissionError:
            return "cannot read the file (permission denied)"
        except OSError as exc:
            return f"cannot read the file ({exc.strerror or exc})"
        if self.format == "csv":
            enc = self.config.encoding
            if enc != "utf-16" and head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
                return (f"the file is UTF-16 text, not {enc}; "
                        f"set sources.{self.name}.encoding: utf-16")
            if enc == "utf-8":
                try:
                    head.decode("utf-8")
                except UnicodeDecodeError as exc:
                    if exc.start < len(head) - 4:  # not a character cut by the 64 KiB sample
                        return (f"not UTF-8 text (byte {exc.start}: {head[exc.start:exc.start + 1]!r}); "
                                f"set sources.{self.name}.encoding (utf-8, utf-16 or latin-1)")
        try:
            desc = con.execute(f"DESCRIBE SELECT * FROM {self._scan_file(path)}").fetchall()
        except duckdb.Error as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            first = first.split(": ", 1)[-1] if first.startswith(("Invalid Input Error", "IO Error")) else first
            if first.startswith("Error when sniffing file"):
                first = ("its CSV dialect cannot be detected (a quote left open, another "
                         "delimiter or encoding?)")
            what = "CSV" if self.format == "csv" else "Parquet"
            opts = (f" with delimiter {self.config.delimiter!r} and quote {self.config.quote!r}"
                    if self.format == "csv" else "")
            return f"cannot be read as {what}{opts}: {first}"
        self.file_columns[path] = [r[0] for r in desc if r[0] not in (FILE_COL, ROW_COL)]
        return None

    def check_file_columns(self, con: duckdb.DuckDBPyConnection, needed: set[str]) -> None:
        """Every file holds the columns ``needed`` (those mapped to required columns).

        A file that lacks them (another delimiter or encoding in a glob, a different
        export) would only give rows with nothing in them: it is a bad file.
        """
        n_files = len(self.files)
        needed = needed & set(self.raw_types)  # a column in no file is a mapping error
        for p in list(self.files):
            cols = self.file_columns.get(p)
            if cols is None:
                continue
            missing = sorted(needed - set(cols))
            if missing:
                self._bad_file(
                    p, f"column(s) {', '.join(missing)} not found{self._dialect_hint(cols)}"
                )
        if len(self.files) < n_files:
            self._read_types(con)

    def _dialect_hint(self, columns: list[str]) -> str:
        if self.format != "csv":
            return ""
        header = ",".join(columns)
        for d in (";", "\t", "|", ","):
            if d != self.config.delimiter and d in header:
                return (f"; the header reads {header[:60]!r}: is the delimiter {d!r}? "
                        f"(sources.{self.name}.delimiter)")
        return ""

    def column_types(self, con: duckdb.DuckDBPyConnection) -> dict[str, str]:
        """The source's columns and their types as read (no data is scanned)."""
        try:
            desc = con.execute(f"DESCRIBE SELECT * FROM {self._scan()}").fetchall()
        except duckdb.Error as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise SchemaError(f"sources.{self.name}: cannot read {self._where()}: {first}") from None
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
            f"SELECT {', '.join(aggs)} FROM (SELECT * FROM {self._scan()} LIMIT {sample})"
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

    def _read_csv(self, path: Path, rejects: str | None = None) -> str:
        """``read_csv`` of one file as text, with the source's dialect.

        With ``rejects``, rows that do not parse (ragged, bad quoting, bad encoding) are
        kept in the temporary table ``rejects`` (see :meth:`rejected_rows`); without it,
        they are skipped (reading column names and samples only).
        """
        cfg = self.config
        bad = (f"store_rejects=true, rejects_table={literal(rejects)}, "
               f"rejects_scan={literal(rejects + '_scan')}" if rejects else "ignore_errors=true")
        return (
            f"read_csv({literal(str(path))}, all_varchar=true, header={cfg.header}, "
            f"delim={literal(cfg.delimiter)}, quote={literal(cfg.quote)}, "
            f"encoding={literal(cfg.encoding)}, {bad})"
        )

    def _scan_file(self, path: Path) -> str:
        if self.format == "csv":
            return self._read_csv(path)
        return f"read_parquet({literal(str(path))})"

    def rejected_rows(self, con: duckdb.DuckDBPyConnection, rejects: str) -> list[tuple[str, str]]:
        """``(file label, SQL selecting the file's rejected rows)`` after a scan with ``rejects``.

        Each select gives ``row`` (0-based data row, assuming one line per row),
        ``line`` (the raw text) and ``error``.
        """
        if self.format != "csv":
            return []
        out = []
        skip = 1 if self.config.header else 0
        for i, p in enumerate(self.files):
            table = f"{rejects}_{i}"
            exists = con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND temporary", [table]
            ).fetchall()[0][0]
            if not exists:
                continue
            n = con.execute(f"SELECT count(*) FROM {quote(table)}").fetchall()[0][0]
            if n:
                out.append((
                    self.label(p),
                    f"SELECT DISTINCT line - 1 - {skip} AS row, csv_line AS line, "
                    f"lower(error_type) AS error FROM {quote(table)}",
                ))
        return out

    def drop_rejects(self, con: duckdb.DuckDBPyConnection, rejects: str) -> None:
        for i in range(len(self.files)):
            con.execute(f"DROP TABLE IF EXISTS {quote(f'{rejects}_{i}')}")
            con.execute(f"DROP TABLE IF EXISTS {quote(f'{rejects}_{i}_scan')}")

    def _scan(self, *, typed: bool = False, rejects: str | None = None) -> str:
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
            for i, p in enumerate(self.files):
                parts.append(
                    f"SELECT *, {literal(self.label(p))} AS {FILE_COL}, "
                    f"row_number() OVER () - 1 AS {ROW_COL} "
                    f"FROM {self._read_csv(p, None if rejects is None else f'{rejects}_{i}')}"
                )
            return "(" + " UNION ALL BY NAME ".join(parts) + ")"
        return (
            f"(SELECT *, {literal(self.label())} AS {FILE_COL}, "
            f"row_number() OVER () - 1 AS {ROW_COL} FROM {self.table_ref()})"
        )

    def relation(self, rejects: str | None = None) -> str:
        """The source as a FROM-clause item; ``rejects`` keeps unparseable CSV rows."""
        return self._scan(rejects=rejects)

    # -- columns and expressions ----------------------------------------------------
    def require_column(
        self, column: str, *, entity: str, canonical: str, type_: str | None = None
    ) -> None:
        if column not in self.raw_types:
            raise ColumnNotFoundError(
                f"{self._where()}: column {column!r} not found (mapped to {entity}.{canonical} "
                f"from source {self.name!r}); available: {', '.join(self.raw_types)}"
                + self._dialect_hint(list(self.raw_types))
            )
        if type_ in _NUMERIC and self.raw_types[column] == "BOOLEAN":
            raise SchemaError(
                f"{self._where()}: column {column!r} is BOOLEAN, but {entity}.{canonical} is a "
                f"number ({type_}); map a numeric column, or convert it with "
                f"`{{sql: \"CAST({column} AS INTEGER)\"}}` if that is really meant"
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

    def filter(self, sql: str, *, entity: str) -> str:
        """A ``where:`` filter re-generated from its parse tree (checked on load).

        The filter sees the source columns as read (CSV: text), as it always has.
        """
        where = f"entities.{entity}.where"
        try:
            tree = sqlglot.parse_one(sql, read="duckdb")
        except sqlglot.errors.ParseError as exc:
            raise ConfigError(f"{where}: cannot parse SQL {sql!r}: {exc}") from None
        for col in tree.find_all(exp.Column):
            if col.name not in self.raw_types:
                raise ColumnNotFoundError(
                    f"{self._where()}: column {col.name!r} used in {where} ({sql!r}) not found; "
                    f"available: {', '.join(self.raw_types)}"
                )
        return "(" + tree.sql(dialect="duckdb") + ")"

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
