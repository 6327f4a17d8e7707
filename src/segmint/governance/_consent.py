"""Consent and purpose: the ``clients`` flags ``consent_profiling`` and
``consent_marketing`` (mapped from sources like any client column).

- Without profiling consent a client is kept out of learned dimensions (their fit and
  their assignment, hence their profiles): with ``governance.consent.without_profiling:
  rules_only`` rule dimensions still assign them; with ``none`` no dimension does.
- Without marketing consent a client never enters an audience:
  :func:`marketing_allowed_sql` is the predicate audience builders filter on.

A null flag (or an unmapped one) counts as ``governance.consent.missing_means``.
"""

from __future__ import annotations

from segmint.config._governance import ConsentConfig

PROFILING = "consent_profiling"
MARKETING = "consent_marketing"


def _has_column(con, column: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'clients' "
        "AND column_name = ? AND table_catalog = current_database()",
        [column],
    ).fetchone()
    return bool(row and row[0])


def _refused(column: str, config: ConsentConfig) -> str:
    default = "true" if config.missing_means else "false"
    return f"SELECT client_id FROM clients WHERE NOT coalesce({column}, {default})"


def consent_predicates(con, config: ConsentConfig | None = None) -> tuple[str | None, str | None]:
    """SQL predicates over ``client_id``: (kept out of learned dimensions, kept out of
    every dimension), for :func:`segmint.segmentation.run_segmentation`."""
    config = config or ConsentConfig()
    if not _has_column(con, PROFILING):
        return (None, None) if config.missing_means else ("true", "true" if config.without_profiling == "none" else None)
    pred = f"client_id IN ({_refused(PROFILING, config)})"
    return pred, (pred if config.without_profiling == "none" else None)


def marketing_allowed_sql(
    con, config: ConsentConfig | None = None, *, column: str = "client_id"
) -> str:
    """A SQL predicate over ``column`` true for clients who may receive marketing.

    Examples
    --------
    ``SELECT client_id FROM scores WHERE {marketing_allowed_sql(con)}``
    """
    config = config or ConsentConfig()
    if not _has_column(con, MARKETING):
        return "true" if config.missing_means else "false"
    return f"{column} NOT IN ({_refused(MARKETING, config)})"
