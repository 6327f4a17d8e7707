"""Scoring every client with the current version of each propensity model.

:func:`score_models` reads the stored features snapshot of ``as_of``, scores it with
each declared model's latest version (fitting one first when there is none or the
model's definition changed) and, in one transaction, replaces that date's rows of the
table ``scores`` (``client_id, as_of, model, version, score, decile``; decile 10 = the
highest tenth) and fills the column ``propensity_<name>`` of the ``features`` snapshot,
where dimensions, profiles and audiences read it like any feature.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from segmint.config import ProjectConfig
from segmint.errors import SegmintError, WarehouseError
from segmint.features import SNAPSHOT_TABLE
from segmint.targeting._fit import SCORE_PREFIX, fit_propensity, model_config
from segmint.targeting._registry import PropensityVersion, fingerprint, load_version

log = logging.getLogger("segmint.targeting")

SCORES_TABLE = "scores"

_DDL = f"""
CREATE TABLE IF NOT EXISTS {SCORES_TABLE} (
    client_id VARCHAR NOT NULL,
    as_of DATE NOT NULL,
    model VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    score DOUBLE NOT NULL,
    decile INTEGER NOT NULL
)
"""


@dataclass
class ScoreResult:
    """What :func:`score_models` did.

    Attributes
    ----------
    as_of : date
    scored : dict
        Model name -> version applied.
    fitted : list of str
        Models fitted first (no version, or a changed definition).
    skipped : dict
        Model name -> why it was not scored (its fit failed: the message, with counts).
    clients : int
        Clients scored per model.
    timings : dict
        Seconds per step.
    """

    as_of: dt.date
    scored: dict[str, int] = field(default_factory=dict)
    fitted: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    clients: int = 0
    timings: dict[str, float] = field(default_factory=dict)


def _current(wh: Any, config: ProjectConfig, name: str, fit_missing: bool, result: ScoreResult,
             cache: dict):
    model_cfg, outcome = model_config(config, name)
    pv = load_version(wh, name)
    wanted = fingerprint(outcome.model_dump(mode="json"), model_cfg.model_dump(mode="json"))
    if pv is not None and (pv.params.get("fingerprint") == wanted or not fit_missing):
        return pv
    if not fit_missing:
        return None
    try:
        pv = fit_propensity(wh, config, name, cache=cache)
    except SegmintError as exc:
        # a model that cannot be fitted yet (too little history) must not stop the cycle
        log.warning("propensity %s: not fitted (%s); not scored", name, exc)
        result.skipped[name] = str(exc)
        return None
    result.fitted.append(name)
    return pv


def score_models(
    wh: Any,
    config: ProjectConfig,
    as_of: dt.date,
    *,
    names: list[str] | None = None,
    fit_missing: bool = True,
) -> ScoreResult:
    """Score every client of the ``as_of`` features snapshot with each propensity model.

    Parameters
    ----------
    wh : Warehouse
        Holds the ``features`` snapshot of ``as_of``.
    config : ProjectConfig
    as_of : date
    names : list of str, optional
        Models to score (default: every model under ``targeting.propensity``).
    fit_missing : bool
        Fit a model that has no version, or whose definition changed since its latest
        version; a fit that fails is logged and the model skipped (``result.skipped``).

    Returns
    -------
    ScoreResult
    """
    result = ScoreResult(as_of)
    names = list(config.targeting.propensity) if names is None else names
    if not names:
        return result
    wh.require(SNAPSHOT_TABLE, hint="compute the features first (`segmint features`)")
    t0 = time.perf_counter()
    versions: dict[str, PropensityVersion] = {}
    cache: dict = {}  # features per date, shared by the models fitted here
    for name in names:
        pv = _current(wh, config, name, fit_missing, result, cache)
        if pv is not None:
            versions[name] = pv
    result.timings["fit_s"] = time.perf_counter() - t0
    if not versions:
        return result
    t1 = time.perf_counter()
    needed = sorted({c for pv in versions.values() for c in pv.features})
    present = {r[0] for r in wh.con.execute(f"DESCRIBE {SNAPSHOT_TABLE}").fetchall()}
    cols = ", ".join(f'"{c}"' for c in ["client_id", *(c for c in needed if c in present)])
    frame = wh.con.execute(
        f"SELECT {cols} FROM {SNAPSHOT_TABLE} WHERE as_of = ?", [as_of]
    ).df()
    if frame.empty:
        raise WarehouseError(f"{SNAPSHOT_TABLE}: no snapshot as of {as_of} to score")
    result.timings["read_s"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    scores = {name: pv.model.predict_proba(frame)[:, 1] for name, pv in versions.items()}
    result.timings["predict_s"] = time.perf_counter() - t2
    t3 = time.perf_counter()
    table = pa.table({
        "client_id": pa.array(frame["client_id"].astype(str).to_numpy(dtype=object), pa.string()),
        **{name: pa.array(s, pa.float64()) for name, s in scores.items()},
    })
    _store(wh, table, as_of, versions)
    result.timings["store_s"] = time.perf_counter() - t3
    result.scored = {name: pv.version for name, pv in versions.items()}
    result.clients = len(frame)
    return result


def _store(wh: Any, table: pa.Table, as_of: dt.date, versions: dict[str, PropensityVersion]) -> None:
    con = wh.con
    con.register("_targeting_scores", table)
    try:
        with wh.transaction() as tx:
            tx.execute(_DDL).fetchall()
            existing = {r[0] for r in tx.execute(f"DESCRIBE {SNAPSHOT_TABLE}").fetchall()}
            for name, pv in versions.items():
                column = f"{SCORE_PREFIX}{name}"
                tx.execute(
                    f"DELETE FROM {SCORES_TABLE} WHERE as_of = ? AND model = ?", [as_of, name]
                ).fetchall()
                tx.execute(
                    f"INSERT INTO {SCORES_TABLE} SELECT client_id, ?::DATE, ?, ?, \"{name}\", "
                    f"CAST(ntile(10) OVER (ORDER BY \"{name}\", client_id) AS INTEGER) "
                    "FROM _targeting_scores",
                    [as_of, name, pv.version],
                ).fetchall()
                if column not in existing:
                    tx.execute(f'ALTER TABLE {SNAPSHOT_TABLE} ADD COLUMN "{column}" DOUBLE').fetchall()
                tx.execute(
                    f'UPDATE {SNAPSHOT_TABLE} AS f SET "{column}" = s."{name}" '
                    "FROM _targeting_scores AS s WHERE f.client_id = s.client_id AND f.as_of = ?",
                    [as_of],
                ).fetchall()
    finally:
        con.unregister("_targeting_scores")


def latest_scores(wh: Any, name: str, as_of: dt.date | None = None):
    """The ``scores`` rows of a model at ``as_of`` (default: its latest date), as a frame."""
    wh.require(SCORES_TABLE, hint="score first (`segmint propensity score NAME`)")
    if as_of is None:
        as_of = wh.con.execute(
            f"SELECT max(as_of) FROM {SCORES_TABLE} WHERE model = ?", [name]
        ).fetchall()[0][0]
    return wh.con.execute(
        f"SELECT * FROM {SCORES_TABLE} WHERE model = ? AND as_of = ? ORDER BY client_id",
        [name, as_of],
    ).df()
