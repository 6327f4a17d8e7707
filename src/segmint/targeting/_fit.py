"""Fitting and evaluating a propensity model on time.

:func:`fit_propensity` draws the examples of the model's as-of dates
(:func:`~segmint.targeting.plan_dates`), fits gradient boosting and the logistic
baseline on the training dates, calibrates both on the next date, and evaluates on the
latest date: each beside a naive rule (recency; ``1 - p_alive`` for churn) and, for
purchase outcomes, beside the buy-till-you-die probability of a purchase in the window.
The fitted models, their window, feature list and metrics are stored as a version
(:mod:`._registry`).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance

from segmint.config import OutcomeConfig, ProjectConfig, PropensityConfig
from segmint.errors import ConfigError, ConvergenceError, DataError, WarehouseError
from segmint.sources._schema import protected_columns
from segmint.targeting._metrics import score_metrics
from segmint.targeting._model import PropensityClassifier, plan_columns
from segmint.targeting._registry import (
    PropensityVersion,
    fingerprint,
    load_version,
    save_version,
)
from segmint.targeting._training import (
    DatePlan,
    check_counts,
    plan_dates,
    training_set,
)

log = logging.getLogger("segmint.targeting")

_UNIT_DAYS = {"days": 1.0, "weeks": 7.0, "months": 30.4375}
SCORE_PREFIX = "propensity_"
N_DRIVERS = 10


def model_config(config: ProjectConfig, name: str) -> tuple[PropensityConfig, OutcomeConfig]:
    """The model ``name`` declared under ``targeting.propensity`` and its outcome."""
    models = config.targeting.propensity
    if name not in models:
        raise ConfigError(
            f"segmint.yaml: targeting.propensity.{name}: no such model "
            f"(models: {', '.join(models) or 'none declared'})"
        )
    model = models[name]
    return model, config.targeting.outcomes[model.outcome]


def excluded_columns(columns, model: PropensityConfig) -> list[str]:
    """Columns never used as inputs: protected attributes (also as ``attr_<name>``),
    scores (``propensity_*``) and the model's ``exclude`` list."""
    protected = protected_columns()
    return [
        c for c in columns
        if c in model.exclude or c in protected or c.removeprefix("attr_") in protected
        or c.startswith(SCORE_PREFIX)
    ]


def naive_rule(outcome: OutcomeConfig, frame: pd.DataFrame) -> tuple[str, np.ndarray, bool]:
    """The naive rule's name, scores and whether they are probabilities.

    Churn: ``1 - p_alive`` (``churn_risk``) when the clv features are there; everything
    else (and churn without them): recency, the more recent the likelier (never bought:
    lowest).
    """
    if outcome.kind == "churn" and "churn_risk" in frame and frame["churn_risk"].notna().any():
        return "1 - p_alive", frame["churn_risk"].to_numpy(dtype=float), True
    rec = pd.to_numeric(frame["recency_days"], errors="coerce").to_numpy(dtype=float)
    sign = 1.0 if outcome.kind == "churn" else -1.0
    return "recency", np.where(np.isnan(rec), sign * 1e9, sign * rec), False


def next_purchase_timing(
    frame: pd.DataFrame, horizon_days: int, *, time_unit: str = "weeks", models: dict | None = None
) -> pd.DataFrame:
    """Buy-till-you-die next-purchase timing of each buyer of a features frame.

    Parameters
    ----------
    frame : DataFrame
        Features as of a date (``client_id, frequency, btyd_x, btyd_t_x, btyd_T,
        monetary_repeat_mean``), e.g. from :func:`segmint.features.compute_features`.
    horizon_days : int
    time_unit : str
        The unit of the frame's ``btyd_*`` columns (``features.time_unit``).
    models : dict, optional
        Fitted CLV models (:func:`segmint.clv.fit_clv_models`); fitted on the frame's
        buyers when not given (only data up to the frame's as_of).

    Returns
    -------
    DataFrame
        ``client_id, p_purchase, expected_days_to_next_purchase`` (given alive; ``inf``
        when the posterior mean diverges), one row per buyer.
    """
    from segmint.clv import (
        expected_time_to_next_purchase,
        fit_clv_models,
        probability_of_purchase_within,
    )
    from segmint.features import btyd_summary

    summary = btyd_summary(frame)
    if models is None:
        models = fit_clv_models(summary)
    tx = models["transactions"]
    unit = _UNIT_DAYS[time_unit]
    args = (summary["frequency"], summary["recency"], summary["T"])
    return pd.DataFrame({
        "client_id": summary["customer_id"].to_numpy(),
        "p_purchase": probability_of_purchase_within(tx, horizon_days / unit, *args),
        "expected_days_to_next_purchase": expected_time_to_next_purchase(tx, *args) * unit,
    })


def feature_labels(config: ProjectConfig, names) -> dict[str, str]:
    """A readable label per feature column: its catalog description's first sentence."""
    from segmint.features.docs import catalog

    rows = catalog(config.features, currency=config.contracts.currency)
    patterns = [
        (re.compile("^" + re.sub(r"\\\{[a-z_]+\\\}", "(.+)", re.escape(r["name"])) + "$"), r)
        for r in rows
    ]
    out = {}
    for name in names:
        label = name
        for pattern, row in patterns:
            m = pattern.match(name)
            if m:
                text = row["description"].split(". ")[0].rstrip(".")
                label = text + (f" ({', '.join(m.groups())})" if m.groups() else "")
                break
        out[name] = label
    return out


def _drivers(model, X: pd.DataFrame, y: np.ndarray, labels_for, seed: int) -> list[dict]:
    """Permutation importance (drop in ROC AUC) of the inputs on the evaluation set."""
    cols = model.plan_.columns
    sample = X
    if len(X) > 5000:
        idx = np.random.default_rng(seed).choice(len(X), 5000, replace=False)
        sample, y = X.iloc[idx], y[idx]
    if len(np.unique(y)) < 2:
        return []
    result = permutation_importance(
        model, sample[cols], y, scoring="roc_auc", n_repeats=3, random_state=seed
    )
    order = np.argsort(-result.importances_mean)[:N_DRIVERS]
    labels = labels_for([cols[i] for i in order])
    return [
        {"feature": cols[i], "label": labels[cols[i]],
         "importance": float(result.importances_mean[i]), "std": float(result.importances_std[i])}
        for i in order
    ]


def evaluate_scores(
    config: ProjectConfig,
    outcome: OutcomeConfig,
    estimators: dict[str, PropensityClassifier],
    test: pd.DataFrame,
    *,
    seed: int = 0,
    drivers: bool = True,
) -> dict[str, Any]:
    """Metrics of the models, the naive rule and (purchases) BTYD on an evaluation frame."""
    y = test["y"].to_numpy(dtype=int)
    scorers: dict[str, Any] = {}
    scores = {}
    for key, est in estimators.items():
        scores[key] = est.predict_proba(test)[:, 1]
        scorers[key] = score_metrics(y, scores[key])
    rule, naive, is_prob = naive_rule(outcome, test)
    scorers["naive"] = {"rule": rule, **score_metrics(y, naive, probability=is_prob)}
    out: dict[str, Any] = {"scorers": scorers}
    if outcome.kind == "purchase":
        out["btyd"] = _btyd_comparison(config, outcome, test, y, scores["hgb"])
    if drivers:
        out["drivers"] = _drivers(
            estimators["hgb"], test, y, lambda n: feature_labels(config, n), seed
        )
    return out


def _btyd_comparison(config, outcome, test, y, model_scores) -> dict[str, Any]:
    """BTYD P(purchase in the window) beside the supervised model, on the buyers."""
    try:
        timing = next_purchase_timing(
            test, outcome.horizon_days, time_unit=config.features.time_unit
        )
    except (ConvergenceError, DataError) as exc:
        return {"error": str(exc)}
    pos = pd.Index(test["client_id"]).get_indexer(timing["client_id"])
    keep = pos >= 0
    pos = pos[keep]
    yb = y[pos]
    if len(np.unique(yb)) < 2:
        return {"error": "the buyers hold one class only"}
    days = timing["expected_days_to_next_purchase"].to_numpy()[keep]
    finite = days[np.isfinite(days)]
    return {
        "n": int(len(pos)),
        "btyd": score_metrics(yb, timing["p_purchase"].to_numpy()[keep]),
        "hgb": score_metrics(yb, model_scores[pos]),
        "median_expected_days_to_next_purchase": float(np.median(finite)) if finite.size else None,
    }


def _split(frame: pd.DataFrame, plan: DatePlan):
    train = frame[frame["as_of"].isin(plan.train)]
    cal = frame[frame["as_of"] == plan.calibration]
    test = frame[frame["as_of"] == plan.evaluation]
    return train, cal, test


def fit_propensity(
    wh: Any,
    config: ProjectConfig,
    name: str,
    *,
    end: dt.date | None = None,
    cache: dict[dt.date, pd.DataFrame] | None = None,
) -> PropensityVersion:
    """Fit, evaluate on time and store a new version of the propensity model ``name``.

    Parameters
    ----------
    wh : Warehouse
    config : ProjectConfig
        ``targeting.propensity.<name>`` and its outcome; ``features`` options.
    name : str
    end : date, optional
        Latest evaluation date (default: the latest with a complete window).
    cache : dict, optional
        Features per as-of date shared between fits on the same data (see
        :func:`~segmint.targeting.training_set`).

    Returns
    -------
    PropensityVersion
        Stored; ``metrics`` holds the evaluation.

    Raises
    ------
    DataError
        No complete window for enough dates, or too few positives/negatives (the counts
        per as-of date are in the message).
    """
    model_cfg, outcome = model_config(config, name)
    t0 = time.perf_counter()
    plan = plan_dates(wh, outcome, model_cfg, end=end)
    frame = training_set(wh, config, outcome, plan.all, cache=cache)
    train, cal, test = _split(frame, plan)
    for what, part in (("training", train), ("calibration", cal), ("evaluation", test)):
        check_counts(part, what, model_cfg.min_positives)
    t_data = time.perf_counter() - t0
    exclude = excluded_columns(frame.columns, model_cfg)
    columns = plan_columns(train, exclude=exclude, max_categories=model_cfg.max_categories)
    estimators = {}
    for algorithm in ("hgb", "logistic"):
        est = PropensityClassifier(
            algorithm=algorithm, max_iter=model_cfg.max_iter, learning_rate=model_cfg.learning_rate,
            max_categories=model_cfg.max_categories,
            isotonic_min_positives=model_cfg.isotonic_min_positives,
            exclude=tuple(exclude), n_threads=config.warehouse.threads,
            random_state=model_cfg.seed,
        )
        estimators[algorithm] = est.fit(train, train["y"], X_cal=cal, y_cal=cal["y"])
    t_fit = time.perf_counter() - t0 - t_data
    metrics = evaluate_scores(config, outcome, estimators, test, seed=model_cfg.seed)
    hgb = estimators["hgb"]
    metrics.update({
        "evaluation_as_of": plan.evaluation.isoformat(),
        "counts": {
            what: {"n": len(part), "positives": int(part["y"].sum())}
            for what, part in (("training", train), ("calibration", cal), ("evaluation", test))
        },
        "calibration": {k: {"method": e.calibration_, "brier": e.calibration_briers_}
                        for k, e in estimators.items()},
        "timings": {"data_s": t_data, "fit_s": t_fit,
                    "evaluate_s": time.perf_counter() - t0 - t_data - t_fit},
    })
    outcome_json = outcome.model_dump(mode="json")
    model_json = model_cfg.model_dump(mode="json")
    params = {
        "outcome_name": model_cfg.outcome,
        "train_as_of": [d.isoformat() for d in plan.train],
        "calibration_as_of": plan.calibration.isoformat(),
        "evaluation_as_of": plan.evaluation.isoformat(),
        "data_end": plan.data_end.isoformat(),
        "features": hgb.plan_.columns,
        "categorical": hgb.plan_.categorical,
        "dropped": hgb.plan_.notes,
        "excluded": exclude,
        "model": model_json,
        "fingerprint": fingerprint(outcome_json, model_json),
    }
    for note in columns.notes:
        log.info("propensity %s: %s", name, note)
    pv = PropensityVersion(
        name=name, version=0, created_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
        as_of=plan.evaluation, outcome=outcome_json, params=params, metrics=metrics,
        estimators=estimators,
    )
    return save_version(wh, pv)


def evaluate_propensity(
    wh: Any, config: ProjectConfig, name: str, *, as_of: dt.date | None = None,
    version: int | None = None,
) -> dict[str, Any]:
    """The evaluation of a stored version: its own (from the fit), or on a later ``as_of``.

    With ``as_of``, the version's models score the clients eligible at that date (its
    window must be complete) and are measured there beside the naive rule.
    """
    model_cfg, outcome_cfg = model_config(config, name)
    pv = load_version(wh, name, version, estimators=as_of is not None)
    if pv is None:
        raise WarehouseError(
            f"propensity model {name!r} has no fitted version; run `segmint propensity fit {name}`"
        )
    if as_of is None:
        return {"name": name, "version": pv.version, **pv.metrics}
    outcome = OutcomeConfig.model_validate(pv.outcome)
    frame = training_set(wh, config, outcome, [as_of])
    check_counts(frame, "evaluation", 1)
    metrics = evaluate_scores(config, outcome, pv.estimators, frame, seed=model_cfg.seed)
    metrics["evaluation_as_of"] = as_of.isoformat()
    metrics["counts"] = {"evaluation": {"n": len(frame), "positives": int(frame["y"].sum())}}
    return {"name": name, "version": pv.version, **metrics}


def score_frame(pv: PropensityVersion, features: pd.DataFrame) -> np.ndarray:
    """Calibrated scores of a version on a features frame (one row per client)."""
    return pv.model.predict_proba(features)[:, 1]

