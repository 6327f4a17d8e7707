"""The canonical client schema: the entities every later stage reads.

This module is the single definition of the warehouse tables that ingestion
produces. ``docs/schema.md`` is generated from it (``python -m segmint.docs``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from segmint._typing import EntityName

# DuckDB logical types used by the canonical schema.
VARCHAR, DATE, TIMESTAMP, DOUBLE, BIGINT, INTEGER, BOOLEAN = (
    "VARCHAR",
    "DATE",
    "TIMESTAMP",
    "DOUBLE",
    "BIGINT",
    "INTEGER",
    "BOOLEAN",
)


@dataclass(frozen=True)
class Column:
    """One canonical column.

    Parameters
    ----------
    name : str
        Column name in the warehouse.
    type : str
        DuckDB type the source value is cast to.
    description : str
        What the column holds.
    unit : str
        Unit of measure, or ``""`` when not applicable.
    required : bool
        A null or unparseable value sends the row to quarantine.
    protected : bool
        A protected attribute (age, sex, ...): never a model input.
    derived : bool
        Computed by ingestion, never mapped from a source.
    """

    name: str
    type: str
    description: str
    unit: str = ""
    required: bool = False
    protected: bool = False
    derived: bool = False


@dataclass(frozen=True)
class Entity:
    """One canonical entity (a warehouse table)."""

    name: EntityName
    description: str
    columns: tuple[Column, ...]
    required: bool = False
    key: tuple[str, ...] = ()
    time_column: str | None = None
    constraints: tuple[str, ...] = field(default=())
    #: quarantine reason for rows sharing a key with different values
    duplicate_reason: str = "duplicate_conflict"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def mappable(self) -> list[Column]:
        """Columns a source may provide (everything except derived ones)."""
        return [c for c in self.columns if not c.derived]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


CLIENTS = Entity(
    name="clients",
    description="One row per client: identity, onboarding and demographics.",
    required=True,
    key=("client_id",),
    time_column="onboarded_at",
    duplicate_reason="duplicate_key",
    columns=(
        Column("client_id", VARCHAR, "Client identifier, unique.", required=True),
        Column("onboarded_at", DATE, "Date the relationship started.", "date"),
        Column("birth_year", INTEGER, "Year of birth.", "year", protected=True),
        Column("gender", VARCHAR, "Gender as recorded in the CRM.", protected=True),
        Column("region", VARCHAR, "Region or country subdivision of residence."),
        Column("occupation", VARCHAR, "Occupation or employment status."),
        Column("income_band", VARCHAR, "Declared income band."),
        Column("is_business", BOOLEAN, "The client is a business, not a person."),
        Column("home_channel", VARCHAR, "Channel the client was acquired through."),
        Column(
            "consent_profiling",
            BOOLEAN,
            "The client consents to profiling (learned segments, profiles); see "
            "`governance.consent`.",
        ),
        Column(
            "consent_marketing",
            BOOLEAN,
            "The client consents to marketing: without it, never in an audience.",
        ),
        Column(
            "is_stub",
            BOOLEAN,
            "Created by ingestion for transactions of an unknown client "
            "(policy `unknown_clients: stub`).",
            derived=True,
        ),
    ),
    constraints=(
        "client_id is unique: rows repeating a client_id are quarantined (`duplicate_key`) "
        "unless they are exact copies, which are collapsed and counted.",
        "onboarded_at is not after the run date (`future_timestamp`) nor before "
        "`contracts.min_date` (`before_min_date`).",
    ),
)

TRANSACTIONS = Entity(
    name="transactions",
    description="Purchases, payments and refunds. Negative amounts are refunds: kept and flagged.",
    required=True,
    key=("transaction_id",),
    time_column="ts",
    columns=(
        Column("transaction_id", VARCHAR, "Transaction identifier, unique.", required=True),
        Column("client_id", VARCHAR, "Client the transaction belongs to.", required=True),
        Column("ts", TIMESTAMP, "When the transaction happened.", "timestamp", required=True),
        Column(
            "amount",
            DOUBLE,
            "Amount in the project currency; negative for refunds.",
            "currency",
            required=True,
        ),
        Column("currency", VARCHAR, "ISO 4217 code; must be the project currency."),
        Column("category", VARCHAR, "Merchant or product category."),
        Column("channel", VARCHAR, "Channel: branch, web, mobile, pos, phone, ..."),
        Column("is_promotion", BOOLEAN, "Bought on promotion or markdown."),
        Column("is_refund", BOOLEAN, "amount < 0.", derived=True),
    ),
    constraints=(
        "transaction_id is unique: exact duplicates are collapsed and counted; rows that share "
        "an id with different values are all quarantined (`duplicate_conflict`).",
        "client_id exists in clients (`unknown_client`), or a stub client is created "
        "(`contracts.unknown_clients: stub`).",
        "amount is finite (`non_finite`); currency equals the project currency "
        "(`currency_mismatch`).",
        "ts is not after the run date (`future_timestamp`) nor before `contracts.min_date` "
        "(`before_min_date`).",
    ),
)

HOLDINGS = Entity(
    name="holdings",
    description="Products and accounts held, with their opening/closing dates and balance.",
    key=("client_id", "product_id"),
    time_column="opened_at",
    columns=(
        Column("client_id", VARCHAR, "Client holding the product.", required=True),
        Column("product_id", VARCHAR, "Account or contract identifier.", required=True),
        Column("product", VARCHAR, "Product name."),
        Column("product_type", VARCHAR, "Product type: current, savings, card, loan, ...", required=True),
        Column("opened_at", DATE, "Date the product was opened.", "date", required=True),
        Column("closed_at", DATE, "Date the product was closed; null while open.", "date"),
        Column("balance", DOUBLE, "Latest balance (liabilities negative).", "currency"),
    ),
    constraints=(
        "(client_id, product_id) is unique; client_id exists in clients.",
        "closed_at, when present, is not before opened_at (`closed_before_opened`).",
        "balance is finite (`non_finite`).",
    ),
)

ENGAGEMENT = Entity(
    name="engagement",
    description="Digital and contact-centre events.",
    time_column="ts",
    columns=(
        Column("client_id", VARCHAR, "Client the event belongs to.", required=True),
        Column("ts", TIMESTAMP, "When the event happened.", "timestamp", required=True),
        Column("channel", VARCHAR, "web, mobile, email, phone, branch, ...", required=True),
        Column("event_type", VARCHAR, "login, page_view, email_open, ...", required=True),
    ),
    constraints=("client_id exists in clients; ts within the date bounds.",),
)

PROFITABILITY = Entity(
    name="profitability",
    description="Revenue and cost attributed to the client per period.",
    key=("client_id", "period"),
    time_column="period",
    columns=(
        Column("client_id", VARCHAR, "Client.", required=True),
        Column("period", DATE, "First day of the period (month).", "date", required=True),
        Column("revenue", DOUBLE, "Revenue earned from the client in the period.", "currency", required=True),
        Column("cost", DOUBLE, "Cost to serve the client in the period.", "currency", required=True),
    ),
    constraints=("(client_id, period) is unique; revenue and cost are finite.",),
)

LABELS = Entity(
    name="labels",
    description="Observed outcomes for supervised models (churn, campaign response).",
    key=("client_id", "label", "observed_at"),
    time_column="observed_at",
    columns=(
        Column("client_id", VARCHAR, "Client.", required=True),
        Column("label", VARCHAR, "Label name, e.g. churn.", required=True),
        Column("value", DOUBLE, "Label value (1/0 for binary labels).", required=True),
        Column("observed_at", DATE, "Date the outcome was observed.", "date", required=True),
    ),
)

ENTITIES: dict[str, Entity] = {
    e.name: e for e in (CLIENTS, TRANSACTIONS, HOLDINGS, ENGAGEMENT, PROFITABILITY, LABELS)
}

# Order in which entities load: clients first, so that references can be checked.
LOAD_ORDER: tuple[str, ...] = tuple(ENTITIES)


def protected_columns() -> set[str]:
    """Names of all protected attributes in the canonical schema."""
    return {c.name for e in ENTITIES.values() for c in e.columns if c.protected}
