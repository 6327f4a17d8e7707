"""Project-file models for the service (``serving:`` in segmint.yaml).

Example::

    serving:
      backend: postgres            # or duckdb (default: a file beside the warehouse)
      dsn_env: SEGMINT_SERVING_DSN # the DSN is read from this environment variable
      book: {column: region}       # client -> relationship manager's book (or branch)
      rate_limit: 600              # requests per minute per API key

See ``docs/service.md``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from segmint._typing import ServingBackend


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BookMapping(_Model):
    """Where each client's book (relationship manager or branch) comes from.

    One of ``column`` (a column of the canonical ``clients`` table, e.g. ``region``) or
    ``path`` (a CSV/Parquet file with columns ``client_id`` and ``book``).
    """

    column: str | None = Field(default=None, description="A column of `clients` holding the book.")
    path: str | None = Field(
        default=None,
        description="CSV or Parquet file with columns client_id, book (relative to the project).",
    )

    @model_validator(mode="after")
    def _one_of(self) -> BookMapping:
        if (self.column is None) == (self.path is None):
            raise ValueError("give exactly one of column, path")
        return self


class ServingConfig(_Model):
    """The serving store the batch publishes to, and the HTTP service that reads it."""

    publish: bool = Field(
        default=True,
        description="Publish to the serving store at the end of each run, update cycle and "
        "event re-scoring.",
    )
    backend: ServingBackend = Field(
        default="duckdb",
        description="duckdb: a read-only DuckDB file swapped by rename; postgres: a new schema "
        "per publication, switched in one transaction.",
    )
    path: str = Field(
        default=".segmint/serving.duckdb",
        description="The embedded store's file (relative to the project folder).",
    )
    dsn_env: str | None = Field(
        default=None,
        description="Name of the environment variable holding the PostgreSQL DSN (never the "
        "DSN itself: credentials stay out of the project file).",
    )
    schema_prefix: str = Field(
        default="segmint",
        pattern=r"^[a-z_][a-z0-9_]{0,30}$",
        description="PostgreSQL: prefix of the publication schemas and of `<prefix>_serving`.",
    )
    keep: int = Field(
        default=3, ge=2, description="Publications kept (readers still on an old one finish)."
    )
    state: str = Field(
        default=".segmint/service.sqlite",
        description="The service's own small database: API keys (hashed), alert "
        "acknowledgements, event jobs.",
    )
    book: BookMapping | None = Field(
        default=None,
        description="Client -> book mapping for relationship managers' row-level scope; "
        "without it a relationship manager's key sees no client.",
    )
    history_changes: int = Field(
        default=10, ge=1, le=100, description="Segment changes shown in a client lookup."
    )
    rate_limit: int = Field(default=600, ge=1, description="Requests per minute per API key.")
    max_page_size: int = Field(default=1000, ge=1, description="Largest page a listing returns.")
    max_request_bytes: int = Field(
        default=1_000_000, ge=1024, description="Largest request body accepted."
    )
    max_events: int = Field(default=1000, ge=1, description="Events per POST /events.")

    @model_validator(mode="after")
    def _dsn(self) -> ServingConfig:
        if self.backend == "postgres" and not self.dsn_env:
            raise ValueError("backend postgres needs dsn_env (the environment variable with the DSN)")
        return self
