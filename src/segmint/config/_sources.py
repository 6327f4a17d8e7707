"""Project-file models for stage 1: sources, entity mappings, contracts, warehouse."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from segmint._typing import (
    AttributeRole,
    AttributeType,
    BadFilePolicy,
    CsvEncoding,
    SourceFormat,
    UnknownClientPolicy,
)
from segmint.config._sql import check_expression


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(_Model):
    """A place data is read from: a file, a glob of files, or a database table."""

    path: str | None = Field(
        default=None,
        description="File or glob (relative to the project file), e.g. `data/tx/*.parquet`.",
    )
    table: str | None = Field(
        default=None, description="Table (or view) name in `database`, e.g. `crm.clients`."
    )
    database: str | None = Field(
        default=None,
        description="DuckDB database file holding `table` (relative to the project file). "
        "Omit to read a table of the warehouse itself.",
    )
    query: str | None = Field(
        default=None,
        description="A SQL query run on the PostgreSQL database of `dsn_env` (instead of "
        "`table`), e.g. `SELECT * FROM crm.clients WHERE active`.",
    )
    dsn_env: str | None = Field(
        default=None,
        description="Name of the environment variable holding the PostgreSQL connection "
        "string (e.g. `CRM_DSN` holding `postgresql://user:password@host:5432/db`): `table` "
        "or `query` is read from that database. Credentials never go in the project file.",
    )
    format: SourceFormat | None = Field(
        default=None,
        description="csv, parquet, table or postgres; inferred when omitted (postgres when "
        "`dsn_env` is set).",
    )
    delimiter: str = Field(default=",", min_length=1, max_length=4, description="CSV field separator.")
    quote: str = Field(
        default='"', max_length=1, description="CSV quote character (empty: no quoting)."
    )
    encoding: CsvEncoding = Field(default="utf-8", description="CSV text encoding.")
    header: bool = Field(default=True, description="CSV has a header row.")
    on_bad_file: BadFilePolicy = Field(
        default="error",
        description="A file of the source that cannot be read (permission, encoding, format, "
        "missing columns): stop the run naming it (`error`), or leave it out and load the "
        "other files (`skip`; the report lists it).",
    )

    @model_validator(mode="after")
    def _one_location(self) -> SourceConfig:
        given = [k for k in ("path", "table", "query") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of `path` (a file or glob), `table` or `query`")
        if self.query is not None and self.dsn_env is None:
            raise ValueError("`query` reads a PostgreSQL database: give `dsn_env` too")
        if self.dsn_env is not None:
            if self.path is not None or self.database is not None:
                raise ValueError("`dsn_env` (PostgreSQL) goes with `table` or `query`")
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.dsn_env):
                raise ValueError(
                    f"dsn_env {self.dsn_env!r}: the NAME of an environment variable, not a "
                    "connection string (credentials never go in the project file)"
                )
        if self.format == "postgres" and self.dsn_env is None:
            raise ValueError("format postgres needs `dsn_env`")
        return self

    @property
    def resolved_format(self) -> SourceFormat:
        if self.format is not None:
            return self.format
        if self.dsn_env is not None:
            return "postgres"
        if self.table is not None:
            return "table"
        assert self.path is not None
        lower = self.path.lower()
        if lower.endswith((".parquet", ".pq", ".parquet/*")) or "parquet" in lower.rsplit("/", 1)[-1]:
            return "parquet"
        return "csv"


class SqlExpr(_Model):
    """A derived column: a SQL expression over the source's columns (DuckDB dialect)."""

    sql: str = Field(description="e.g. `amount_cents / 100.0` or `'EUR'`.")

    @field_validator("sql")
    @classmethod
    def _expression(cls, v: str) -> str:
        return check_expression(v, what="derived column")


ColumnSpec = Annotated[
    str | SqlExpr,
    Field(description="A source column name, or `{sql: EXPRESSION}` for a derived column."),
]


class EntityMapping(_Model):
    """How one source fills one canonical entity."""

    source: str = Field(description="Name of a source declared under `sources`.")
    columns: dict[str, ColumnSpec] = Field(
        description="Canonical column -> source column or `{sql: ...}`."
    )
    where: str | None = Field(
        default=None,
        description="Optional SQL filter applied to the source before mapping: one boolean "
        "expression over the source's columns (no query, statement or table function).",
    )

    @field_validator("where")
    @classmethod
    def _expression(cls, v: str | None) -> str | None:
        return None if v is None else check_expression(v, what="filter")


class ContractsConfig(_Model):
    """Row-level data contracts applied on load."""

    currency: str = Field(default="EUR", description="Project currency (ISO 4217).")
    min_date: dt.date = Field(
        default=dt.date(1970, 1, 1),
        description="Timestamps before this date are quarantined (`before_min_date`).",
    )
    max_date: dt.date | None = Field(
        default=None,
        description="Timestamps after this date are quarantined (`future_timestamp`); "
        "defaults to the day of the run.",
    )
    unknown_clients: UnknownClientPolicy = Field(
        default="quarantine",
        description="Rows referring to a client absent from `clients`: quarantine them, "
        "or create a stub client.",
    )

    max_amount: float = Field(
        default=1e12,
        gt=0,
        le=1e15,
        description="Amounts, balances, revenue and cost beyond this (in absolute value) are "
        "quarantined (`out_of_range`); at most 1e15, so that sums stay exact.",
    )
    min_birth_year: int = Field(
        default=1900, description="Birth years before this are set to null, with a note."
    )
    max_birth_year: int | None = Field(
        default=None,
        description="Birth years after this are set to null, with a note; defaults to the "
        "year of the run.",
    )
    max_shrink: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="A reload that would remove more than this share of an entity's rows "
        "(or all of them) is refused unless `--allow-shrink` is given.",
    )

    @field_validator("currency")
    @classmethod
    def _iso(cls, v: str) -> str:
        if len(v) != 3 or not v.isalpha():
            raise ValueError("must be a 3-letter ISO 4217 code such as EUR")
        return v.upper()


class WarehouseConfig(_Model):
    """Where the embedded warehouse lives."""

    path: str = Field(
        default=".segmint/warehouse.duckdb",
        description="DuckDB file, relative to the project file.",
    )
    threads: int | None = Field(default=None, ge=1, description="DuckDB threads (default: all).")
    memory_limit: str | None = Field(
        default=None, description="DuckDB memory limit, e.g. `8GB`, `512MB` or `80%`."
    )

    @field_validator("memory_limit")
    @classmethod
    def _memory(cls, v: str | None) -> str | None:
        if v is not None and not _MEMORY.match(v):
            raise ValueError("expected a size such as 8GB, 512MB, 2GiB or 80%")
        return v


_MEMORY = re.compile(
    r"^\s*(\d+(\.\d+)?\s*([KMGT]i?B|[KMGT]|B)|\d+(\.\d+)?\s*%)\s*$", re.IGNORECASE
)


class AttributeConfig(_Model):
    """A client attribute (`attributes:` in segmint.yaml): it becomes the feature `attr_<name>`.

    Its values come from a column of the `clients` mapping with the attribute's name
    (static), from rows of the `attributes` entity (time-varying: the value valid at
    as_of), or both (the time-varying value wins where there is one).

    Examples
    --------
    .. code-block:: yaml

        attributes:
          contract: {type: categorical, role: input, description: Contract length}
          monthly_charges: {type: numeric, unit: EUR}
          mosaic_group: {type: categorical, role: profile}
          ethnicity: {type: categorical, role: protected}
    """

    type: AttributeType = Field(
        description="categorical (text), numeric, boolean or date (the feature is the number "
        "of days from the date to as_of)."
    )
    role: AttributeRole = Field(
        default="input",
        description="input: usable by dimensions and models; profile: shown in profiles and "
        "cross-tabs only (refused as a dimension input); protected: never a model input, kept "
        "for fairness audits.",
    )
    description: str = Field(default="", description="What the attribute holds.")
    unit: str = Field(default="", description="Unit of a numeric attribute.")


class ReadinessConfig(_Model):
    """Minimums the loaded data must meet before behaviour segments mean anything
    (`readiness:` in segmint.yaml). Below them a run warns; in strict mode it stops.

    The defaults are those of practice: about 12 months of transactions and a few hundred
    clients with repeat activity. They apply when transactions are mapped.
    """

    min_transaction_months: float = Field(
        default=12, ge=0, description="Months from the first to the last transaction."
    )
    min_repeat_clients: int = Field(
        default=500, ge=0, description="Clients with at least `repeat_min_transactions` transactions."
    )
    repeat_min_transactions: int = Field(
        default=2, ge=1, description="Transactions that make a client's activity repeat."
    )
    strict: bool = Field(
        default=False,
        description="Stop the run (non-zero exit) when a minimum is not met, as `--strict` does.",
    )
