"""Evaluation metrics of a propensity score: ranking, calibration, lift and gains.

* ROC AUC and PR AUC (average precision), from scikit-learn;
* Brier score: mean squared error of the probability;
* expected calibration error (ECE): over 10 equal-width probability bins,
  ``sum_b n_b / n * |mean predicted_b - observed rate_b|`` (Naeini et al. 2015);
* gains by decile: clients ranked by score, best first, cut into 10 groups of (nearly)
  equal size; per decile the positives, rate, lift (rate / base rate) and the
  cumulative share of all positives captured (gains).

Scores that are not probabilities (a recency rule) get the ranking metrics only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score


def expected_calibration_error(y, p, *, n_bins: int = 10) -> float:
    """ECE over ``n_bins`` equal-width bins of the predicted probability.

    Examples
    --------
    >>> expected_calibration_error([0, 1, 0, 1], [0.25, 0.25, 0.75, 0.75])
    0.25
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    total = 0.0
    for b in np.unique(bins):
        m = bins == b
        total += m.sum() * abs(p[m].mean() - y[m].mean())
    return float(total / len(y))


def calibration_table(y, p, *, n_bins: int = 10) -> list[dict]:
    """Per equal-width bin: ``bin, n, mean_predicted, observed_rate`` (empty bins left out)."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    out = []
    for b in np.unique(bins):
        m = bins == b
        out.append({"bin": int(b) + 1, "n": int(m.sum()), "mean_predicted": float(p[m].mean()),
                    "observed_rate": float(y[m].mean())})
    return out


def deciles(scores) -> np.ndarray:
    """Decile of each score, 10 = the highest tenth (ties broken by position, stably)."""
    s = np.asarray(scores, dtype=float)
    order = np.argsort(np.where(np.isnan(s), -np.inf, s), kind="stable")
    rank = np.empty(len(s), dtype=np.int64)
    rank[order] = np.arange(len(s))
    return (rank * 10 // max(len(s), 1) + 1).astype(int)


def gains_table(y, scores) -> list[dict]:
    """Per decile, best first: n, positives, rate, lift, cumulative gains and lift."""
    y = np.asarray(y, dtype=float)
    d = deciles(scores)
    base = y.mean() if len(y) else float("nan")
    total = y.sum()
    rows, cum_pos, cum_n = [], 0.0, 0
    for dec in range(10, 0, -1):
        m = d == dec
        n, pos = int(m.sum()), float(y[m].sum())
        cum_pos += pos
        cum_n += n
        rate = pos / n if n else float("nan")
        rows.append({
            "decile": dec, "n": n, "positives": int(pos), "rate": rate,
            "lift": rate / base if base else float("nan"),
            "gains": cum_pos / total if total else float("nan"),
            "cumulative_lift": (cum_pos / cum_n) / base if cum_n and base else float("nan"),
        })
    return rows


def score_metrics(y, scores, *, probability: bool = True) -> dict:
    """ROC AUC, PR AUC, top-decile lift, gains; Brier and ECE when ``probability``."""
    y = np.asarray(y, dtype=int)
    s = np.asarray(scores, dtype=float)
    ranked = np.where(np.isnan(s), -np.inf, s)
    gains = gains_table(y, ranked)
    out = {
        "n": int(len(y)),
        "positives": int(y.sum()),
        "base_rate": float(y.mean()),
        "roc_auc": float(roc_auc_score(y, ranked)),
        "pr_auc": float(average_precision_score(y, ranked)),
        "top_decile_lift": float(gains[0]["lift"]),
        "gains": gains,
    }
    if probability:
        p = np.nan_to_num(s, nan=float(y.mean()))
        out["brier"] = float(brier_score_loss(y, p))
        out["ece"] = expected_calibration_error(y, p)
        out["calibration"] = calibration_table(y, p)
    return out


def metrics_frame(metrics: dict[str, dict]) -> pd.DataFrame:
    """One row per scorer: n, base rate, ROC AUC, PR AUC, Brier, ECE, top-decile lift."""
    cols = ["roc_auc", "pr_auc", "brier", "ece", "top_decile_lift"]
    return pd.DataFrame(
        [{"scorer": k, **{c: m.get(c) for c in cols}} for k, m in metrics.items()]
    ).set_index("scorer")
