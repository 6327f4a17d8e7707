"""The ``attributes`` feature group: one ``attr_<name>`` feature per client attribute.

Which attributes exist, their types and roles are read from the warehouse table
``client_attributes`` that ingestion writes (:mod:`segmint.sources._attributes`), so the
definitions follow the project's data like the top-N lists do. A static value is read from
its ``clients`` column; a time-varying one from the row of the ``attributes`` entity with
the latest ``valid_from`` on or before as_of (a later row is the future: never read); where
a client has both, the time-varying value wins.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from segmint.features._definitions import Feature, FeatureGroup, FeatureSet, SharedCte
from segmint.sources._attributes import ATTRIBUTE_CATALOG
from segmint.sources._schema import FALSE_TEXT, TRUE_TEXT

_G = "attributes"
_CLIENTS = ("clients",)

#: attribute type -> (binding key of the feature template, dtype)
_KINDS = {
    "categorical": ("attr_text", "VARCHAR"),
    "numeric": ("attr_number", "DOUBLE"),
    "boolean": ("attr_flag", "DOUBLE"),
    "date": ("attr_date", "DOUBLE"),
}

ATTRIBUTE_ROWS = SharedCte("attribute_rows", "{attribute_rows}")

ATTRIBUTES = FeatureGroup(
    name=_G,
    description="Client attributes: the declared ones (`attributes:` in segmint.yaml, static "
    "columns of the clients mapping or time-varying rows of the `attributes` entity, read as "
    "valid at as_of) and the built-in demographics the clients mapping provides (region, "
    "age band from birth year, gender, occupation, income band, business flag, home "
    "channel). Each is `attr_<name>`; its role (input, profile, protected) is recorded in "
    "the warehouse table `client_attributes` (protected ones are never model inputs). See "
    "docs/attributes.md.",
    entities=_CLIENTS,
    sets=(
        FeatureSet(
            "attributes",
            "attribute_rows",
            (
                Feature("attr_{attr_text}", _G,
                        "A categorical attribute: its value (text) valid at as_of.", "",
                        "{attr_text_expr}", "NULL", "VARCHAR", _CLIENTS, ("attr_text",)),
                Feature("attr_{attr_number}", _G,
                        "A numeric attribute: its value valid at as_of (unit: the declared one).",
                        "declared",
                        "{attr_number_expr}", "NULL", "DOUBLE", _CLIENTS, ("attr_number",)),
                Feature("attr_{attr_flag}", _G,
                        "A boolean attribute valid at as_of: 1 true, 0 false.", "flag",
                        "{attr_flag_expr}", "NULL", "DOUBLE", _CLIENTS, ("attr_flag",)),
                Feature("attr_{attr_date}", _G,
                        "A date attribute: days from the date valid at as_of to as_of "
                        "(negative when the date lies ahead).", "days",
                        "{attr_date_expr}", "NULL", "DOUBLE", _CLIENTS, ("attr_date",)),
            ),
        ),
    ),
)


def _lit(v: str) -> str:
    return "'" + v.replace("'", "''") + "'"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(_lit(v) for v in values) + ")"


def _age_band(as_of: dt.date) -> str:
    age = f"({as_of.year} - MAX(birth_year))"
    return (
        f"CASE WHEN {age} IS NULL THEN NULL WHEN {age} < 25 THEN 'under_25' "
        f"WHEN {age} < 35 THEN '25_34' WHEN {age} < 45 THEN '35_44' "
        f"WHEN {age} < 55 THEN '45_54' WHEN {age} < 65 THEN '55_64' ELSE '65_plus' END"
    )


def _expr(a: dict[str, Any], as_of_sql: str, as_of: dt.date) -> str:
    """The aggregate (over a client's ``attribute_rows``) giving the attribute's value."""
    type_, name, column = a["type"], a["attribute"], a["client_column"]
    parts: list[str] = []
    if a["time_varying"]:
        tv = f"MAX(CASE WHEN attr_name__ = {_lit(name)} THEN attr_value__ END)"
        parts.append({
            "categorical": tv,
            "numeric": f"TRY_CAST({tv} AS DOUBLE)",
            "boolean": f"CASE WHEN lower(trim({tv})) IN {_in(TRUE_TEXT)} THEN 1.0 "
            f"WHEN lower(trim({tv})) IN {_in(FALSE_TEXT)} THEN 0.0 END",
            "date": f"date_diff('day', TRY_CAST({tv} AS DATE), {as_of_sql})",
        }[type_])
    if column is not None:
        q = _quote(column)
        if a["builtin"] and name == "age_band":
            parts.append(_age_band(as_of))
        else:
            parts.append({
                "categorical": f"MAX(CAST({q} AS VARCHAR))",
                "numeric": f"MAX(CAST({q} AS DOUBLE))",
                "boolean": f"MAX(CASE WHEN {q} THEN 1.0 WHEN NOT {q} THEN 0.0 END)",
                "date": f"date_diff('day', MAX({q}), {as_of_sql})",
            }[type_])
    if not parts:
        return "CAST(NULL AS VARCHAR)" if type_ == "categorical" else "CAST(NULL AS DOUBLE)"
    return parts[0] if len(parts) == 1 else f"COALESCE({', '.join(parts)})"


def attribute_params(engine: Any, as_of: dt.date, as_of_sql: str) -> dict[str, Any]:
    """The expansion lists and the source relation of the attributes group."""
    rows: list[dict[str, Any]] = []
    if engine.has_table(ATTRIBUTE_CATALOG):
        table = engine.execute(
            f"SELECT attribute, type, client_column, time_varying, builtin "
            f"FROM {ATTRIBUTE_CATALOG} ORDER BY builtin DESC, attribute"
        )
        rows = table.to_pylist()
    params: dict[str, Any] = {}
    for type_, (key, _dtype) in _KINDS.items():
        chosen = [a for a in rows if a["type"] == type_]
        params[key] = [
            {key: a["attribute"], f"{key}_expr": _expr(a, as_of_sql, as_of)} for a in chosen
        ]
    time_varying = any(a["time_varying"] for a in rows) and engine.has_table("attributes")
    if time_varying:
        params["attribute_rows"] = (
            "  SELECT c.*, v.attribute AS attr_name__, v.value AS attr_value__\n"
            "  FROM clients AS c LEFT JOIN (\n"
            "    SELECT client_id, attribute, value FROM (\n"
            "      SELECT client_id, attribute, value, ROW_NUMBER() OVER (\n"
            "        PARTITION BY client_id, attribute ORDER BY valid_from DESC) AS rn__\n"
            f"      FROM attributes WHERE valid_from <= {as_of_sql}\n"
            "    ) AS latest WHERE rn__ = 1\n"
            "  ) AS v ON v.client_id = c.client_id"
        )
    else:
        params["attribute_rows"] = "  SELECT * FROM clients"
    return params
