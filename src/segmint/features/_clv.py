"""The ``clv`` feature group: buy-till-you-die models, versioned in the warehouse.

Registered as a post-engine group: the engine computes the rfm group (``btyd_x``,
``btyd_t_x``, ``btyd_T``, ``monetary_repeat_mean``); :func:`segmint.clv.clv_features`
scores every buyer, vectorised, with a *model version*: BG/NBD (or its homogeneous-dropout
limit, :class:`~segmint.clv.GeometricNBD`) and Gamma-Gamma fitted on the unique
(x, t_x, T) rows of the population at some as_of.

Versions live in the warehouse table ``clv_models`` (one row each: ``version,
fitted_as_of, kind, time_unit, params, n_clients, log_likelihood, created_at``, the
parameters as plain JSON). A computation as of a date scores with the latest version
fitted on or before it (in the same time unit) and fits a new version only when there is
none or that one is ``features.clv_refit_days`` old; re-running an as_of reuses its
version, and event re-scoring (``context.refit`` False) never refits while a version
exists. So CLV features move with the clients' own histories, not with a refit at every
cycle. A fit that does not converge is a version too (kind ``none``: null features until
the next refit). Without a warehouse the models are fitted in memory each time.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from segmint.errors import ConvergenceError
from segmint.features._catalog import POST_ENGINE_GROUPS
from segmint.features._definitions import Feature, PostEngineContext, PostEngineGroup

log = logging.getLogger(__name__)

CLV_MODELS = "clv_models"
"""Warehouse table of the fitted CLV model versions."""

NO_MODEL = "none"
"""Kind of a version whose fit did not converge: its as_of scores null, without refitting."""

_DDL = f"""
CREATE TABLE IF NOT EXISTS {CLV_MODELS} (
    version INTEGER NOT NULL PRIMARY KEY,
    fitted_as_of DATE NOT NULL,
    kind VARCHAR NOT NULL,
    time_unit VARCHAR NOT NULL,
    params JSON NOT NULL,
    n_clients BIGINT NOT NULL,
    log_likelihood DOUBLE,
    created_at TIMESTAMP NOT NULL
)
"""

MIN_BUYERS = 50
"""Fewer buyers than this: the models are not fitted and the clv features are null."""

_MODEL = (
    "BG/NBD (or its homogeneous-dropout limit) + Gamma-Gamma, the stored version of "
    "clv_models applying at as_of (segmint.clv.clv_features)"
)
_TX = ("transactions",)


def _feature(name: str, description: str, unit: str, default: str) -> Feature:
    return Feature(name, "clv", description, unit, _MODEL, default, "DOUBLE", _TX, ())


FEATURES = (
    _feature(
        "clv_{clv_months}m",
        "Discounted expected margin over the horizon: expected purchases per month x "
        "expected spend x margin (clients without a purchase: 0).",
        "{currency}",
        "0.0",
    ),
    _feature(
        "expected_purchases_{clv_months}m",
        "Expected repeat purchase days over the horizon (conditional expectation of the "
        "transaction model).",
        "count",
        "0.0",
    ),
    _feature(
        "expected_spend",
        "Expected spend per purchase day (Gamma-Gamma; where its fit does not converge or "
        "its assumption fails, its limit: the client's own mean repeat spend, the "
        "population mean without repeat purchases; with under 30 repeat buyers, the "
        "population mean).",
        "{currency}",
        "0.0",
    ),
    _feature(
        "p_alive",
        "Probability the client is still active (transaction model). Null before the first "
        "purchase.",
        "probability",
        "NULL",
    ),
    _feature(
        "churn_risk",
        "1 - p_alive (no churn labels used). Null before the first purchase.",
        "probability",
        "NULL",
    ),
)


@dataclass(frozen=True)
class ClvModelVersion:
    """One stored CLV model version (a row of ``clv_models``)."""

    version: int
    fitted_as_of: dt.date
    kind: str
    time_unit: str
    params: dict[str, Any]
    n_clients: int
    log_likelihood: float | None
    created_at: dt.datetime


def _stored(warehouse: Any) -> bool:
    return bool(warehouse.has_table(CLV_MODELS))


def clv_model_versions(warehouse: Any) -> pd.DataFrame:
    """The stored CLV model versions, oldest first (empty before the first fit)."""
    if not _stored(warehouse):
        return pd.DataFrame(
            columns=["version", "fitted_as_of", "kind", "time_unit", "params", "n_clients",
                     "log_likelihood", "created_at"]
        )
    return warehouse.con.execute(f"SELECT * FROM {CLV_MODELS} ORDER BY version").df()


def load_clv_model(warehouse: Any, as_of: dt.date, time_unit: str) -> ClvModelVersion | None:
    """The latest version fitted on or before ``as_of`` in ``time_unit``, or None."""
    if not _stored(warehouse):
        return None
    # fetch every result: DuckDB refuses new work while a result is unfinished
    rows = warehouse.con.execute(
        f"SELECT * FROM {CLV_MODELS} WHERE fitted_as_of <= ? AND time_unit = ? "
        "ORDER BY fitted_as_of DESC, version DESC LIMIT 1",
        [as_of, time_unit],
    ).fetchall()
    if not rows:
        return None
    version, fitted, kind, unit, params, n, ll, created = rows[0]
    return ClvModelVersion(int(version), fitted, kind, unit, json.loads(params), int(n), ll, created)


def save_clv_model(
    warehouse: Any,
    models: Mapping[str, Any] | None,
    fitted_as_of: dt.date,
    time_unit: str,
    n_clients: int,
    *,
    reason: str | None = None,
) -> ClvModelVersion:
    """Store fitted models (``clv_features``' dict) as the next version, atomically.

    ``models`` None stores a failed fit (kind ``none``, ``params`` holding the ``reason``).
    """
    from segmint.clv import models_to_json

    if models is None:
        kind, params, ll = NO_MODEL, {"reason": reason}, None
    else:
        params = models_to_json(dict(models))
        kind = params["transactions"]["kind"]
        ll = getattr(models["transactions"], "log_likelihood_", None)
        ll = float(ll) if ll is not None and np.isfinite(ll) else None
    created = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with warehouse.transaction() as con:
        con.execute(_DDL).fetchall()
        version = int(
            con.execute(f"SELECT coalesce(max(version), 0) + 1 FROM {CLV_MODELS}").fetchall()[0][0]
        )
        con.execute(
            f"INSERT INTO {CLV_MODELS} VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [version, fitted_as_of, kind, time_unit, json.dumps(params), n_clients, ll, created],
        ).fetchall()
    return ClvModelVersion(version, fitted_as_of, kind, time_unit, params, n_clients, ll, created)


def _stored_or_fitted(
    frame: pd.DataFrame, params: Mapping[str, Any], context: PostEngineContext
) -> dict[str, Any] | None:
    """The models to score with: a stored version, or a new fit (stored when it can be).

    None when there are too few buyers or the fit does not converge (logged). A fit that
    does not converge is stored too (kind ``none``): until the next refit, the clv
    features of later dates are null without fitting again, as those of its as_of are.
    """
    from segmint.clv import fit_clv_models, models_from_json
    from segmint.features._compute import btyd_summary

    time_unit = str(params["time_unit"])
    wh, as_of = context.warehouse, context.as_of
    if wh is not None and as_of is not None:
        stored = load_clv_model(wh, as_of, time_unit)
        # a version fitted at this very as_of is reused whatever the interval (a re-run)
        if stored is not None and (
            not context.refit
            or stored.fitted_as_of == as_of
            or (as_of - stored.fitted_as_of).days < int(params["clv_refit_days"])
        ):
            return None if stored.kind == NO_MODEL else models_from_json(stored.params)
    population = context.population() if context.population is not None else frame
    summary = btyd_summary(population)
    if len(summary) < MIN_BUYERS:
        log.warning("clv features: %d buyers (< %d); models not fitted", len(summary), MIN_BUYERS)
        return None
    models: dict[str, Any] | None
    reason = None
    try:
        models = fit_clv_models(summary)
    except ConvergenceError as exc:
        # a failed fit must not pass for a result: the features are null, and said so
        log.warning("clv features: the transaction model did not converge (%s); null", exc)
        models, reason = None, str(exc)
    spend_reason = getattr((models or {}).get("spend"), "reason", None)
    if spend_reason:
        # reported, not hidden: CLV then uses each client's own mean spend
        log.warning("clv features: spend per purchase is each client's own mean: %s", spend_reason)
    if wh is not None and as_of is not None:
        saved = save_clv_model(wh, models, as_of, time_unit, len(summary), reason=reason)
        log.info("clv features: model version %d (%s) as of %s", saved.version, saved.kind, as_of)
    return models


def _compute(
    frame: pd.DataFrame, params: Mapping[str, Any], context: PostEngineContext
) -> pd.DataFrame:
    from segmint.clv import clv_features
    from segmint.features._compute import btyd_summary

    months = int(params["clv_months"])
    label = f"{months}m"
    names = [f.name.format(clv_months=months) for f in FEATURES]
    out = pd.DataFrame({"client_id": frame["client_id"].to_numpy()})
    models = _stored_or_fitted(frame, params, context)
    if models is None:
        for name in names:
            out[name] = np.nan
        return out
    for name, f in zip(names, FEATURES, strict=True):
        out[name] = 0.0 if f.if_no_data == "0.0" else np.nan
    summary = btyd_summary(frame)
    if summary.empty:
        return out
    unit_days = float(params["unit_days"])
    scored, _ = clv_features(
        summary,
        horizon=months * 30.4375 / unit_days,
        discount_rate=float(params["clv_discount_rate"]),
        margin=float(params["clv_margin"]),
        time_unit=params["time_unit"],
        label=label,
        models=models,
    )
    # btyd_summary keeps the buyers in the frame's order and clv_features keeps theirs
    buyers = (frame["frequency"] > 0).to_numpy()
    for name in names:
        column = out[name].to_numpy(copy=True)
        column[buyers] = scored[name].to_numpy()
        out[name] = column
    return out


POST_ENGINE_GROUPS["clv"] = PostEngineGroup(
    name="clv",
    description="Customer value from buy-till-you-die models: CLV, expected purchases and "
    "spend, probability alive and churn risk. Scored with the latest model version stored "
    "in the warehouse table `clv_models` fitted on or before as_of; a new version is fitted "
    "on the whole population (BG/NBD, or its homogeneous-dropout limit where BG/NBD "
    "diverges, and Gamma-Gamma) when there is none or it is `features.clv_refit_days` old. "
    f"When fewer than {MIN_BUYERS} clients have purchased, or the fit does not converge, "
    "the group's features are null (and a warning is logged); a fit that did not converge "
    "is stored as a version of kind `none`, so its nulls hold until the next refit.",
    requires=("rfm",),
    features=FEATURES,
    compute=_compute,
    entities=_TX,
    by_default=True,
)
