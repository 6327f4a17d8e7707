"""Supervised churn propensity: calibrated gradient boosting, time-based evaluation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import brier_score_loss, roc_auc_score

from segmint._typing import CalibrationMethod
from segmint.errors import DataError, NotFittedError


@dataclass(frozen=True)
class ChurnEvaluation:
    """Holdout metrics of a churn model."""

    auc: float
    brier: float
    calibration: pd.DataFrame  # decile, n, mean_predicted, observed_rate


class ChurnPropensity:
    """HistGradientBoostingClassifier wrapped in CalibratedClassifierCV.

    Train on features and labels at an earlier ``as_of``; evaluate with
    :meth:`evaluate` on features and labels at a later one (the caller builds
    that time-based split).

    Parameters
    ----------
    method : {"isotonic", "sigmoid"}
        Calibration method.
    cv : int
        Folds of the calibration.
    random_state : int, optional
    """

    def __init__(self, *, method: CalibrationMethod = "isotonic", cv: int = 3, random_state=None):
        self.method = method
        self.cv = cv
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y):
        """Fit on one row per client (numeric columns) and a 0/1 label; returns self."""
        X_, y_ = self._check(X, y)
        if np.unique(y_).size != 2:
            raise DataError("churn labels must contain both classes 0 and 1")
        base = HistGradientBoostingClassifier(random_state=self.random_state)
        self.model_ = CalibratedClassifierCV(base, method=self.method, cv=self.cv).fit(X_, y_)
        self.feature_names_in_ = list(X.columns) if isinstance(X, pd.DataFrame) else None
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Calibrated P(churn) per row."""
        if not hasattr(self, "model_"):
            raise NotFittedError("this ChurnPropensity is not fitted yet; call fit() first")
        if self.feature_names_in_ is not None and isinstance(X, pd.DataFrame):
            X = X[self.feature_names_in_]
        return self.model_.predict_proba(np.asarray(X, dtype=float))[:, 1]

    def evaluate(self, X, y, *, n_bins: int = 10) -> ChurnEvaluation:
        """AUC, Brier score and a decile calibration table on a later holdout."""
        _, y_ = self._check(X, y)
        p = self.predict_proba(X)
        decile = pd.qcut(pd.Series(p).rank(method="first"), n_bins, labels=False) + 1
        table = (
            pd.DataFrame({"decile": decile.to_numpy(), "p": p, "y": y_})
            .groupby("decile")
            .agg(n=("y", "size"), mean_predicted=("p", "mean"), observed_rate=("y", "mean"))
            .reset_index()
        )
        return ChurnEvaluation(
            auc=float(roc_auc_score(y_, p)), brier=float(brier_score_loss(y_, p)), calibration=table
        )

    @staticmethod
    def _check(X, y):
        X_ = np.asarray(X, dtype=float)
        y_ = np.asarray(y)
        if X_.ndim != 2 or X_.shape[0] != y_.shape[0]:
            raise DataError(f"X must be 2-d with one row per label; got {X_.shape} and {y_.shape}")
        if not np.isin(y_, [0, 1]).all():
            raise DataError("churn labels must be 0 or 1")
        return X_, y_.astype(int)
