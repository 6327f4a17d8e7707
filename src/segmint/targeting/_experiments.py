"""Randomised holdouts and campaign control groups, assigned by a salted hash in SQL.

A client's arm in an experiment is a function of ``md5(salt | experiment | client_id)``
read as a uniform number in [0, 1): the same client gets the same arm in every run,
on every machine and DuckDB version (md5 is fixed; DuckDB's ``hash()`` is not), with
no random state stored. Assignments are recorded in ``experiment_assignments`` the
first time a client is seen, and never rewritten: a client stays in the global
holdout, and a new client is assigned as it arrives.

A balance check compares the arms on pre-period features (standardised mean
differences) and the arm counts with the configured shares (sample-ratio mismatch).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from segmint.config import ExperimentsConfig
from segmint.errors import ConfigError, ParameterError, WarehouseError
from segmint.store import Warehouse

__all__ = [
    "ASSIGNMENTS_TABLE",
    "BalanceReport",
    "DrawResult",
    "assign_holdout",
    "balance_check",
    "draw_campaign",
    "holdout_clients_sql",
    "uniform_sql",
]

ASSIGNMENTS_TABLE = "experiment_assignments"
_DDL = f"""
CREATE TABLE IF NOT EXISTS {ASSIGNMENTS_TABLE} (
    experiment VARCHAR NOT NULL,
    client_id VARCHAR NOT NULL,
    arm VARCHAR NOT NULL,
    u DOUBLE NOT NULL,
    stratum VARCHAR NOT NULL,
    assigned_at DATE NOT NULL
)
"""
#: 13 hex digits = 52 bits: exactly representable in a DOUBLE, so u is in [0, 1)
_BITS = 52
DEFAULT_BALANCE_FEATURES = (
    "recency_days",
    "frequency",
    "monetary_total",
    "tenure_days",
    "events_90d",
    "n_products",
    "total_balance",
)


def _lit(x: str) -> str:
    return "'" + str(x).replace("'", "''") + "'"


def uniform_sql(client_expr: str, experiment: str, salt: str) -> str:
    """SQL for a client's uniform number in [0, 1) in one experiment.

    Parameters
    ----------
    client_expr : str
        SQL expression of the client id (cast to text).
    experiment, salt : str
        The experiment's name and the project's salt.

    Examples
    --------
    >>> import duckdb
    >>> u = duckdb.execute("SELECT " + uniform_sql("'C1'", "holdout", "s")).fetchone()[0]
    >>> 0 <= u < 1
    True
    """
    key = f"{_lit(salt + '|' + experiment + '|')} || CAST({client_expr} AS VARCHAR)"
    return (
        f"(CAST('0x' || substr(md5({key}), 1, {_BITS // 4}) AS BIGINT) "
        f"/ {float(2**_BITS)!r})"
    )


def _ensure_table(con) -> None:
    con.execute(_DDL)


def _today(as_of: dt.date | None) -> dt.date:
    return as_of if as_of is not None else dt.date.today()


def assign_holdout(wh: Warehouse, config: ExperimentsConfig, *, as_of: dt.date | None = None) -> pd.DataFrame:
    """Assign every client not yet assigned to the global holdout; return the arm counts.

    ``control`` is held out of every campaign, ``treatment`` may be contacted. A client
    already recorded keeps its arm, even if ``holdout.share`` changes.

    Returns
    -------
    DataFrame
        ``arm, clients, new`` (all recorded clients, and those assigned by this call).
    """
    if config.holdout is None:
        raise ConfigError("segmint.yaml: experiments.holdout: not configured")
    wh.require("clients", hint="run `segmint ingest` first")
    h = config.holdout
    u = uniform_sql("c.client_id", h.name, config.salt)
    with wh.transaction() as con:
        _ensure_table(con)
        con.execute(
            f"""
            INSERT INTO {ASSIGNMENTS_TABLE}
            SELECT ?, c.client_id, CASE WHEN {u} < ? THEN 'control' ELSE 'treatment' END,
                   {u}, 'all', ?
            FROM clients c
            WHERE NOT EXISTS (SELECT 1 FROM {ASSIGNMENTS_TABLE} a
                              WHERE a.experiment = ? AND a.client_id = c.client_id)
            """,
            [h.name, h.share, _today(as_of), h.name],
        )
    return wh.con.execute(
        f"SELECT arm, count(*) AS clients, count(*) FILTER (WHERE assigned_at = ?) AS new "
        f"FROM {ASSIGNMENTS_TABLE} WHERE experiment = ? GROUP BY arm ORDER BY arm",
        [_today(as_of), h.name],
    ).df()


def holdout_clients_sql(config: ExperimentsConfig) -> str | None:
    """SQL selecting the client ids of the global holdout's control arm (None: no holdout).

    Recorded arms win; a client not yet recorded is held out by its hash, so an
    audience built before :func:`assign_holdout` ran still excludes it.
    """
    if config.holdout is None:
        return None
    h = config.holdout
    u = uniform_sql("c.client_id", h.name, config.salt)
    return (
        f"SELECT c.client_id FROM clients c LEFT JOIN {ASSIGNMENTS_TABLE} a "
        f"ON a.experiment = {_lit(h.name)} AND a.client_id = c.client_id "
        f"WHERE coalesce(a.arm = 'control', {u} < {h.share!r})"
    )


@dataclass(frozen=True)
class DrawResult:
    """What :func:`draw_campaign` recorded.

    Attributes
    ----------
    campaign : str
    as_of : date
        Date of the segment assignments the audience was read from.
    counts : DataFrame
        ``stratum, arm, clients, new`` for the campaign.
    """

    campaign: str
    as_of: dt.date
    counts: pd.DataFrame


def _segments_at(wh: Warehouse, dimension: str, as_of: dt.date | None) -> tuple[str, dt.date]:
    wh.require("segment_assignments", hint="run `segmint segment` first")
    row = wh.con.execute(
        "SELECT max(as_of) FROM segment_assignments WHERE dimension = ?"
        + (" AND as_of <= ?" if as_of else ""),
        [dimension, as_of] if as_of else [dimension],
    ).fetchone()
    if row is None or row[0] is None:
        raise WarehouseError(
            f"segment_assignments: no assignments of dimension {dimension!r}"
            + (f" on or before {as_of}" if as_of else "")
        )
    day = row[0]
    return (
        f"(SELECT client_id, segment_id, segment_name FROM segment_assignments "
        f"WHERE dimension = {_lit(dimension)} AND as_of = DATE {_lit(day.isoformat())})"
    ), day


def draw_campaign(
    wh: Warehouse,
    config: ExperimentsConfig,
    campaign: str,
    *,
    as_of: dt.date | None = None,
) -> DrawResult:
    """Draw (or extend) a campaign's control group from its eligible audience.

    Eligible: the clients of the campaign's ``segments`` of ``dimension`` (all clients
    when none), minus the global holdout's control arm. Clients already recorded for
    the campaign keep their arm; the others are assigned now.

    Raises
    ------
    ConfigError
        The campaign is not in ``experiments.campaigns``.
    """
    if campaign not in config.campaigns:
        raise ConfigError(
            f"segmint.yaml: experiments.campaigns: no campaign {campaign!r} "
            f"(declared: {', '.join(config.campaigns) or 'none'})"
        )
    c = config.campaigns[campaign]
    wh.require("clients", hint="run `segmint ingest` first")
    day = _today(as_of)
    if c.dimension is not None:
        segs, seg_day = _segments_at(wh, c.dimension, as_of)
        base = f"SELECT s.client_id, s.segment_id AS stratum, s.segment_name FROM {segs} s"
        if c.segments:
            wanted = ", ".join(_lit(s) for s in c.segments)
            base += f" WHERE s.segment_id IN ({wanted}) OR s.segment_name IN ({wanted})"
    else:
        base, seg_day = "SELECT client_id, 'all' AS stratum FROM clients", day
    held = holdout_clients_sql(config)
    if held is not None:
        base = f"SELECT * FROM ({base}) b WHERE b.client_id NOT IN ({held})"
    u = uniform_sql("e.client_id", campaign, config.salt)
    share = float(c.control_share)
    if c.stratify:
        # exact count per stratum: the round(share x n) lowest hashes are the control
        arm = (
            f"CASE WHEN row_number() OVER (PARTITION BY e.stratum ORDER BY {u}, e.client_id) "
            f"<= round({share!r} * count(*) OVER (PARTITION BY e.stratum)) "
            "THEN 'control' ELSE 'treatment' END"
        )
    else:
        arm = f"CASE WHEN {u} < {share!r} THEN 'control' ELSE 'treatment' END"
    with wh.transaction() as con:
        _ensure_table(con)
        con.execute(
            f"""
            INSERT INTO {ASSIGNMENTS_TABLE}
            SELECT ?, e.client_id, {arm}, {u}, e.stratum, ?
            FROM ({base}) e
            WHERE NOT EXISTS (SELECT 1 FROM {ASSIGNMENTS_TABLE} a
                              WHERE a.experiment = ? AND a.client_id = e.client_id)
            """,
            [campaign, day, campaign],
        )
    counts = wh.con.execute(
        f"SELECT stratum, arm, count(*) AS clients, count(*) FILTER (WHERE assigned_at = ?) AS new "
        f"FROM {ASSIGNMENTS_TABLE} WHERE experiment = ? GROUP BY 1, 2 ORDER BY 1, 2",
        [day, campaign],
    ).df()
    return DrawResult(campaign, seg_day, counts)


@dataclass
class BalanceReport:
    """Arms compared on pre-period features, and their counts against the shares.

    Attributes
    ----------
    experiment : str
    as_of : date or None
        Date of the features snapshot compared (None when there was none).
    smd : DataFrame
        ``feature, mean_treatment, mean_control, smd, broken`` (|smd| >= threshold).
    counts : dict of arm -> clients
    srm_p_value : float
        Chi-square test of the counts against the expected control share.
    warnings : list of str
        One line per broken feature and for a sample-ratio mismatch.
    """

    experiment: str
    as_of: dt.date | None
    smd: pd.DataFrame
    counts: dict[str, int]
    srm_p_value: float
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.warnings


def smd_frame(stats_frame: pd.DataFrame) -> pd.DataFrame:
    """Standardised mean differences from per-arm sufficient statistics.

    ``stats_frame`` has one row per feature with ``n_t, mean_t, var_t, n_c, mean_c,
    var_c``; the SMD is ``(mean_t - mean_c) / sqrt((var_t + var_c) / 2)`` (Austin 2009),
    0 when both variances are 0 and the means are equal.
    """
    pooled = np.sqrt((stats_frame["var_t"].to_numpy() + stats_frame["var_c"].to_numpy()) / 2)
    diff = stats_frame["mean_t"].to_numpy() - stats_frame["mean_c"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        smd = np.where(pooled > 0, diff / pooled, np.where(diff == 0, 0.0, np.inf))
    return pd.DataFrame(
        {
            "feature": stats_frame["feature"].to_numpy(),
            "mean_treatment": stats_frame["mean_t"].to_numpy(),
            "mean_control": stats_frame["mean_c"].to_numpy(),
            "smd": smd,
        }
    )


def balance_check(
    wh: Warehouse,
    config: ExperimentsConfig,
    experiment: str,
    *,
    as_of: dt.date | None = None,
    arms_sql: str | None = None,
    control_share: float | None = None,
) -> BalanceReport:
    """Compare an experiment's arms on pre-period features and on their counts.

    Parameters
    ----------
    wh : Warehouse
    config : ExperimentsConfig
    experiment : str
        The holdout's name or a campaign.
    as_of : date, optional
        Compare the latest features snapshot on or before this date (default: before the
        campaign's first send date, or the latest snapshot).
    arms_sql : str, optional
        SQL with ``client_id, arm`` (default: the ``campaigns`` exposures of the
        campaign when there are any, else ``experiment_assignments``).
    control_share : float, optional
        Expected control share (default: from the configuration).
    """
    if arms_sql is None:
        arms_sql, first_send = _arms_source(wh, experiment)
        if as_of is None and first_send is not None:
            as_of = first_send - dt.timedelta(days=1)
    if control_share is None:
        control_share = _configured_share(config, experiment)
    counts = dict(
        wh.con.execute(f"SELECT arm, count(*) FROM ({arms_sql}) GROUP BY arm").fetchall()
    )
    n_c, n_t = counts.get("control", 0), counts.get("treatment", 0)
    if n_c + n_t == 0:
        raise WarehouseError(f"experiment {experiment!r}: no client is assigned or exposed")
    srm = float(
        stats.chisquare([n_c, n_t], [(n_c + n_t) * control_share, (n_c + n_t) * (1 - control_share)]).pvalue
    )
    warnings = []
    if srm < config.balance.srm_alpha:
        warnings.append(
            f"{experiment}: sample-ratio mismatch: {n_c} control / {n_t} treatment for a "
            f"configured control share of {control_share:g} (p = {srm:.2g})"
        )
    smd = pd.DataFrame(columns=["feature", "mean_treatment", "mean_control", "smd", "broken"])
    snap = None
    if wh.has_table("features"):
        row = wh.con.execute(
            "SELECT max(as_of) FROM features" + (" WHERE as_of <= ?" if as_of else ""),
            [as_of] if as_of else [],
        ).fetchone()
        snap = row[0] if row else None
    if snap is not None:
        present = {r[0] for r in wh.con.execute("DESCRIBE features").fetchall()}
        wanted = config.balance.features or [f for f in DEFAULT_BALANCE_FEATURES if f in present]
        unknown = [f for f in wanted if f not in present]
        if unknown:
            raise ConfigError(
                f"segmint.yaml: experiments.balance.features: not in the features table: "
                f"{', '.join(unknown)}"
            )
        parts = []
        for f in wanted:
            q = '"' + f.replace('"', '""') + '"'
            parts.append(
                f"SELECT {_lit(f)} AS feature, "
                f"count({q}) FILTER (WHERE a.arm = 'treatment') AS n_t, "
                f"avg({q}) FILTER (WHERE a.arm = 'treatment') AS mean_t, "
                f"coalesce(var_samp({q}) FILTER (WHERE a.arm = 'treatment'), 0) AS var_t, "
                f"count({q}) FILTER (WHERE a.arm = 'control') AS n_c, "
                f"avg({q}) FILTER (WHERE a.arm = 'control') AS mean_c, "
                f"coalesce(var_samp({q}) FILTER (WHERE a.arm = 'control'), 0) AS var_c "
                f"FROM ({arms_sql}) a JOIN features f ON f.client_id = a.client_id "
                f"AND f.as_of = DATE {_lit(snap.isoformat())}"
            )
        if parts:
            frame = wh.con.execute(" UNION ALL ".join(parts)).df()
            smd = smd_frame(frame)
            smd["broken"] = np.abs(smd["smd"].to_numpy()) >= config.balance.smd_threshold
            for r in smd[smd["broken"]].itertuples(index=False):
                warnings.append(
                    f"{experiment}: arms differ on {r.feature} before the campaign "
                    f"(SMD {r.smd:+.3f}, threshold {config.balance.smd_threshold:g}): "
                    "check the randomisation"
                )
    return BalanceReport(experiment, snap, smd, {k: int(v) for k, v in counts.items()}, srm, warnings)


def _arms_source(wh: Warehouse, experiment: str) -> tuple[str, dt.date | None]:
    if wh.has_table("campaigns"):
        row = wh.con.execute(
            "SELECT count(*), min(sent_at) FROM campaigns WHERE campaign = ?", [experiment]
        ).fetchone()
        if row and row[0]:
            return (
                f"SELECT client_id, arm FROM campaigns WHERE campaign = {_lit(experiment)}",
                row[1],
            )
    if wh.has_table(ASSIGNMENTS_TABLE):
        return (
            f"SELECT client_id, arm FROM {ASSIGNMENTS_TABLE} WHERE experiment = {_lit(experiment)}",
            None,
        )
    raise WarehouseError(
        f"experiment {experiment!r}: no exposures in `campaigns` and no `{ASSIGNMENTS_TABLE}`"
    )


def _configured_share(config: ExperimentsConfig, experiment: str) -> float:
    if config.holdout is not None and experiment == config.holdout.name:
        return config.holdout.share
    if experiment in config.campaigns:
        return config.campaigns[experiment].control_share
    raise ParameterError(
        f"experiment {experiment!r}: not the holdout nor a campaign of experiments.campaigns; "
        "give control_share"
    )
