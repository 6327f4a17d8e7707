"""The canonical client schema: the entities every later stage reads.

This module is the single definition of the warehouse tables that ingestion
produces. ``docs/schema.md`` is generated from it (``python -m segmint.docs``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

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
    #: a declared client attribute (``attributes:`` in segmint.yaml): its dates are not
    #: checked against the date bounds (a contract end date may lie ahead)
    attribute: bool = False


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
    #: row rules on typed values: (reason, column, SQL condition that quarantines the row)
    checks: tuple[tuple[str, str, str], ...] = ()

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

CAMPAIGNS = Entity(
    name="campaigns",
    description="Campaign exposures: who was in which arm of a randomised campaign, and when.",
    key=("client_id", "campaign"),
    time_column="sent_at",
    duplicate_reason="client_in_two_arms",
    columns=(
        Column("client_id", VARCHAR, "Client.", required=True),
        Column("campaign", VARCHAR, "Campaign name (`experiments.campaigns`).", required=True),
        Column("arm", VARCHAR, "treatment (contacted) or control (held out).", required=True),
        Column("sent_at", DATE, "Send date (the control's would-be send date).", "date", required=True),
        Column("channel", VARCHAR, "Contact channel: email, sms, push, mail, call, ..."),
        Column("offer", VARCHAR, "Offer or product promoted."),
    ),
    checks=(("unknown_arm", "arm", "arm NOT IN ('treatment', 'control')"),),
    constraints=(
        "(client_id, campaign) is unique: a client listed twice in a campaign with other "
        "values (e.g. in both arms) is quarantined, every row of it (`client_in_two_arms`).",
        "arm is `treatment` or `control` (`unknown_arm`); when `experiments.campaigns` "
        "declares campaigns, campaign is one of them (`unknown_campaign`).",
        "client_id exists in clients.",
    ),
)

COSTS = Entity(
    name="costs",
    description="Cost components of the client per period, beside `profitability`'s revenue and "
    "cost: acquisition, servicing, returns, payment processing, funding/risk or any named "
    "component (a wide finance table maps as one mapping per component, with "
    "`component: {sql: \"'servicing'\"}`). Segment profitability loads every component.",
    key=("client_id", "period", "component"),
    time_column="period",
    columns=(
        Column("client_id", VARCHAR, "Client.", required=True),
        Column("period", DATE, "First day of the period (month).", "date", required=True),
        Column("component", VARCHAR, "Cost component name, e.g. acquisition.", required=True),
        Column("amount", DOUBLE, "Cost of the component in the period.", "currency", required=True),
    ),
    constraints=("(client_id, period, component) is unique; amount is finite.",),
)

ATTRIBUTES = Entity(
    name="attributes",
    description="Time-varying client attributes (enrichment overlays such as a yearly "
    "geodemographic code, a risk grade, a life stage, survey answers): one row per client, "
    "attribute and date the value became valid. Features read the value valid at as_of "
    "(the row with the latest valid_from on or before it). Every attribute must be declared "
    "under `attributes:` in segmint.yaml, with its type.",
    key=("client_id", "attribute", "valid_from"),
    time_column="valid_from",
    columns=(
        Column("client_id", VARCHAR, "Client.", required=True),
        Column("attribute", VARCHAR, "Attribute name, declared under `attributes:`.", required=True),
        Column("value", VARCHAR, "Value as text, parsed as the attribute's declared type; "
               "null: unknown from valid_from on."),
        Column("valid_from", DATE, "First day the value holds.", "date", required=True),
    ),
    constraints=(
        "(client_id, attribute, valid_from) is unique; client_id exists in clients.",
        "attribute is declared under `attributes:` (`unknown_attribute`); value parses as the "
        "attribute's type (`unparseable_value`): numbers, ISO dates, booleans as "
        "true/false, t/f, yes/no, y/n, 1/0 (any case).",
    ),
)

ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (
        CLIENTS, TRANSACTIONS, HOLDINGS, ENGAGEMENT, PROFITABILITY, LABELS, CAMPAIGNS, COSTS,
        ATTRIBUTES,
    )
}

#: built-in demographics of ``clients`` that become features when mapped:
#: attribute -> (clients column, type, role, description)
BUILTIN_ATTRIBUTES: dict[str, tuple[str, str, str, str]] = {
    "region": ("region", "categorical", "profile", "Region of residence (clients.region)."),
    "age_band": (
        "birth_year", "categorical", "protected",
        "Age band at as_of from clients.birth_year: under_25, 25_34, 35_44, 45_54, 55_64, "
        "65_plus (age = year of as_of - birth year).",
    ),
    "gender": ("gender", "categorical", "protected", "Gender as recorded (clients.gender)."),
    "occupation": ("occupation", "categorical", "profile", "Occupation (clients.occupation)."),
    "income_band": ("income_band", "categorical", "profile", "Income band (clients.income_band)."),
    "is_business": ("is_business", "boolean", "profile", "1 for a business client, else 0."),
    "home_channel": (
        "home_channel", "categorical", "profile", "Acquisition channel (clients.home_channel)."
    ),
}

#: warehouse type of each attribute type
ATTRIBUTE_TYPES: dict[str, str] = {
    "categorical": VARCHAR, "numeric": DOUBLE, "boolean": BOOLEAN, "date": DATE,
}
#: text values read as booleans (lower-cased), in the attributes entity
TRUE_TEXT = ("true", "t", "yes", "y", "1")
FALSE_TEXT = ("false", "f", "no", "n", "0")


def _sql_list(values: Any) -> str:
    return "(" + ", ".join("'" + str(v).replace("'", "''") + "'" for v in values) + ")"


def text_parses(value_sql: str, attribute_type: str) -> str:
    """SQL: the text ``value_sql`` parses as an attribute of ``attribute_type``."""
    if attribute_type == "boolean":
        return f"lower(trim({value_sql})) IN {_sql_list(TRUE_TEXT + FALSE_TEXT)}"
    if attribute_type == "categorical":
        return "TRUE"
    return f"TRY_CAST({value_sql} AS {ATTRIBUTE_TYPES[attribute_type]}) IS NOT NULL"


def project_entities(config: Any) -> dict[str, Entity]:
    """The canonical entities of a project: ``clients`` with the declared attributes its
    mapping provides, ``attributes`` with the checks of the declared attribute types."""
    declared: Mapping[str, Any] = getattr(config, "attributes", {}) or {}
    mapped = {c for m in config.mappings("clients") for c in m.columns}
    extra = tuple(
        Column(name, ATTRIBUTE_TYPES[a.type], a.description or f"Client attribute {name}.",
               a.unit, protected=a.role == "protected", attribute=True)
        for name, a in declared.items()
        if name in mapped
    )
    out = dict(ENTITIES)
    if extra:
        cols = CLIENTS.columns
        out["clients"] = replace(CLIENTS, columns=cols[:-1] + extra + cols[-1:])
    known = f"attribute NOT IN {_sql_list(declared)}" if declared else "TRUE"
    checks: list[tuple[str, str, str]] = [("unknown_attribute", "attribute", known)]
    for name, a in declared.items():
        if a.type != "categorical":
            checks.append((
                "unparseable_value", "value",
                f"attribute = '{name}' AND value IS NOT NULL AND NOT ({text_parses('value', a.type)})",
            ))
    out["attributes"] = replace(ATTRIBUTES, checks=tuple(checks))
    return out

# Order in which entities load: clients first, so that references can be checked.
LOAD_ORDER: tuple[str, ...] = tuple(ENTITIES)


def with_known_campaigns(entity: Entity, campaigns: Collection[str]) -> Entity:
    """``entity`` with the ``unknown_campaign`` rule when it is ``campaigns`` and some are declared."""
    if entity.name != "campaigns" or not campaigns:
        return entity
    names = ", ".join("'" + c.replace("'", "''") + "'" for c in sorted(campaigns))
    return replace(entity, checks=(*entity.checks, ("unknown_campaign", "campaign", f"campaign NOT IN ({names})")))


def protected_columns() -> set[str]:
    """Names of all protected attributes in the canonical schema."""
    return {c.name for e in ENTITIES.values() for c in e.columns if c.protected}
