"""Project-file models for stage 1: sources, entity mappings, contracts, warehouse."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from segmint._typing import BadFilePolicy, CsvEncoding, SourceFormat, UnknownClientPolicy
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
    format: SourceFormat | None = Field(
        default=None, description="csv, parquet or table; inferred from `path` when omitted."
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
        if (self.path is None) == (self.table is None):
            raise ValueError("give exactly one of `path` (a file or glob) or `table`")
        return self

    @property
    def resolved_format(self) -> SourceFormat:
        if self.format is not None:
            return self.format
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
