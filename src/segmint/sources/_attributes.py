"""Client attributes: the declared ones (``attributes:`` in segmint.yaml) and the built-in
demographics, recorded at ingestion in the warehouse table ``client_attributes``.

Each attribute becomes the feature ``attr_<name>`` (see ``docs/attributes.md``). Its value
comes from a column of the ``clients`` mapping (a static value), from rows of the
time-varying ``attributes`` entity (the value valid at as_of), or both (the time-varying
value wins where there is one). The table records, per attribute, its feature, type, role
(``input``, ``profile``, ``protected``) and where its values come from, so that later stages
(features, segmentation, governance) read it from the warehouse.
"""

from __future__ import annotations

from typing import Any

import duckdb

from segmint.sources._schema import BUILTIN_ATTRIBUTES

ATTRIBUTE_CATALOG = "client_attributes"

_DDL = f"""
CREATE OR REPLACE TABLE {ATTRIBUTE_CATALOG} (
    attribute VARCHAR NOT NULL,
    feature VARCHAR NOT NULL,
    type VARCHAR NOT NULL,
    role VARCHAR NOT NULL,
    description VARCHAR,
    unit VARCHAR,
    client_column VARCHAR,
    time_varying BOOLEAN NOT NULL,
    builtin BOOLEAN NOT NULL
)
"""

def attribute_rows(config: Any) -> list[tuple[Any, ...]]:
    """The rows of ``client_attributes`` for a project configuration."""
    mapped = {c for m in config.mappings("clients") for c in m.columns}
    time_varying = bool(config.mappings("attributes"))
    rows: list[tuple[Any, ...]] = []
    for name, (column, type_, role, description) in BUILTIN_ATTRIBUTES.items():
        if column in mapped:
            rows.append((name, f"attr_{name}", type_, role, description, "", column, False, True))
    for name, a in (getattr(config, "attributes", {}) or {}).items():
        rows.append((
            name, f"attr_{name}", a.type, a.role, a.description or f"Client attribute {name}.",
            a.unit, name if name in mapped else None, time_varying, False,
        ))
    return rows


def write_attribute_catalog(con: duckdb.DuckDBPyConnection, config: Any) -> None:
    """Replace ``client_attributes`` with the project's attributes (inside the load's
    transaction)."""
    con.execute(_DDL)
    rows = attribute_rows(config)
    if rows:
        con.executemany(f"INSERT INTO {ATTRIBUTE_CATALOG} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def attribute_catalog(warehouse: Any) -> list[dict[str, Any]]:
    """The attributes recorded by the last ingest: one dict per attribute (attribute,
    feature, type, role, description, unit, client_column, time_varying, builtin); empty
    before the first ingest.

    Examples
    --------
    >>> [a["feature"] for a in attribute_catalog(wh) if a["role"] == "input"]  # doctest: +SKIP
    ['attr_contract']
    """
    con = getattr(warehouse, "con", warehouse)
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [ATTRIBUTE_CATALOG]
    ).fetchone()[0]
    if not exists:
        return []
    cur = con.execute(f"SELECT * FROM {ATTRIBUTE_CATALOG} ORDER BY builtin DESC, attribute")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def protected_attribute_features(warehouse: Any) -> dict[str, str]:
    """``{feature: source}`` of the protected attributes: the feature (``attr_<name>``, a
    column of the ``features`` table, never a model input) and where its values come from
    (the ``clients`` column, or ``attributes:<name>`` for time-varying ones). For fairness
    audits.

    Examples
    --------
    >>> protected_attribute_features(wh)  # doctest: +SKIP
    {'attr_age_band': 'birth_year', 'attr_gender': 'gender'}
    """
    return {
        a["feature"]: a["client_column"] or f"attributes:{a['attribute']}"
        for a in attribute_catalog(warehouse)
        if a["role"] == "protected"
    }
