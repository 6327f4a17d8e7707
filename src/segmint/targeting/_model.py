"""The propensity classifier: gradient boosting (or a logistic baseline), calibrated.

:class:`PropensityClassifier` follows scikit-learn's contract. ``fit`` prepares the
columns (all-null and constant columns dropped with a note; text columns encoded as
categories, or refused by name when they have too many values), fits the base model and
a calibrator chosen on held-out data:

* with a calibration set (``X_cal``, a later as-of date in :func:`fit_propensity`): the
  base model is fitted on the training set and the calibrator on its scores of the
  calibration set;
* without one: out-of-fold scores (5-fold) calibrate, and the base model is refitted on
  every row (scikit-learn's ``CalibratedClassifierCV(ensemble=False)``).

The method is chosen by 2-fold cross-fitted Brier score on the calibration scores
between sigmoid (Platt) and, when the calibration set holds at least
``isotonic_min_positives`` positives, isotonic regression, which overfits small sets
(it returned hard 0/1 probabilities for most rows of a 400-row credit table). Calibrated
probabilities are kept in ``[eps, 1 - eps]`` with ``eps = 0.5 / (n_cal + 1)``: never
exactly 0 or 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from segmint._typing import CalibrationMethod, PropensityAlgorithm
from segmint.errors import DataError

KEYS = ("client_id", "as_of", "y")


@dataclass
class ColumnPlan:
    """Which input columns a model uses and how: numeric, or categorical with its values."""

    numeric: list[str]
    categorical: dict[str, list[str]]
    notes: list[str] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        return [*self.numeric, *self.categorical]


def _is_text(s: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)) or isinstance(
        s.dtype, pd.CategoricalDtype
    )


def plan_columns(
    X: pd.DataFrame, *, exclude: tuple[str, ...] | list[str] = (), max_categories: int = 200
) -> ColumnPlan:
    """Choose the inputs of ``X``: drop keys, excluded, all-null and constant columns.

    Raises
    ------
    DataError
        A text column has more than ``max_categories`` distinct values (named, with the
        count), or no usable column is left.
    """
    numeric: list[str] = []
    categorical: dict[str, list[str]] = {}
    notes: list[str] = []
    for name in X.columns:
        if name in KEYS or name in exclude:
            continue
        s = X[name]
        n_values = s.nunique(dropna=True)
        if n_values == 0:
            notes.append(f"{name}: dropped (all null)")
            continue
        if n_values == 1 and not s.isna().any():
            value = s.iloc[0]
            value = value.item() if hasattr(value, "item") else value
            notes.append(f"{name}: dropped (constant {value!r})")
            continue
        if _is_text(s):
            if n_values > max_categories:
                raise DataError(
                    f"feature {name!r} is text with {n_values:,} distinct values (more than "
                    f"max_categories = {max_categories}): add it to the model's `exclude` "
                    "list, or derive a coarser column"
                )
            categorical[name] = sorted(str(v) for v in s.dropna().unique())
        else:
            numeric.append(name)
    if not numeric and not categorical:
        raise DataError("no usable feature column: every column is a key, excluded, null or constant")
    return ColumnPlan(numeric, categorical, notes)


def encode(X: pd.DataFrame, plan: ColumnPlan) -> np.ndarray:
    """The model matrix: numeric columns as floats, then category codes (unseen/null: NaN).

    A column the plan names but ``X`` lacks (a category of another date) is all NaN.
    """
    n = len(X)
    out = np.full((n, len(plan.numeric) + len(plan.categorical)), np.nan)
    for j, name in enumerate(plan.numeric):
        if name in X.columns:
            out[:, j] = pd.to_numeric(X[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    for k, (name, values) in enumerate(plan.categorical.items()):
        if name in X.columns:
            text = X[name].astype("string").to_numpy(dtype=object, na_value=None)
            codes = pd.Index(values, dtype=object).get_indexer(text)  # unseen, null: -1
            out[:, len(plan.numeric) + k] = np.where(codes >= 0, codes, np.nan)
    return out


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(p) - np.log1p(-p)


class _Sigmoid:
    """Platt scaling on the logit of the base score."""

    def fit(self, s, y):
        self.lr_ = LogisticRegression(C=1e6, max_iter=1000).fit(_logit(s)[:, None], y)
        return self

    def predict(self, s):
        return self.lr_.predict_proba(_logit(s)[:, None])[:, 1]


def _calibrator(method: CalibrationMethod):
    if method == "sigmoid":
        return _Sigmoid()
    return IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)


def choose_calibration(
    scores: np.ndarray, y: np.ndarray, *, isotonic_min_positives: int, random_state: int = 0
) -> tuple[CalibrationMethod, dict[str, float]]:
    """The calibration method with the lower 2-fold cross-fitted Brier score.

    Isotonic is a candidate only with at least ``isotonic_min_positives`` positives.
    Returns the method and each candidate's Brier score.
    """
    candidates: list[CalibrationMethod] = ["sigmoid"]
    if int(y.sum()) >= isotonic_min_positives:
        candidates.append("isotonic")
    rng = np.random.default_rng(random_state)
    half = rng.permutation(len(y)) % 2 == 0
    briers: dict[str, float] = {}
    for method in candidates:
        pred = np.empty(len(y))
        for fold in (half, ~half):
            if len(np.unique(y[~fold])) < 2:  # a half with one class: cannot fit there
                pred[fold] = y[~fold].mean() if (~fold).any() else 0.5
                continue
            pred[fold] = _calibrator(method).fit(scores[~fold], y[~fold]).predict(scores[fold])
        briers[method] = float(brier_score_loss(y, pred))
    best = min(candidates, key=lambda m: (briers[m], m != "sigmoid"))
    return best, briers


class PropensityClassifier(ClassifierMixin, BaseEstimator):
    """A calibrated propensity model on a frame of features.

    Parameters
    ----------
    algorithm : {"hgb", "logistic"}
        ``hgb``: ``HistGradientBoostingClassifier`` with native categorical support;
        ``logistic``: the baseline, logistic regression on median-imputed (with missing
        indicators), standardised numeric columns and one-hot categories.
    max_iter, learning_rate : boosting iterations and rate (``hgb``).
    max_categories : int
        Most distinct values of a text column (more: :class:`~segmint.errors.DataError`).
    isotonic_min_positives : int
        Positives needed in the calibration set for isotonic calibration to be a candidate.
    exclude : tuple of str
        Columns never used.
    n_threads : int, optional
        Threads of the native code (OpenMP, BLAS) while fitting and predicting; the
        libraries' default when None. On a loaded machine fewer threads than cores can
        be many times faster (OpenMP threads wait on each other at every tree level).
    random_state : int

    Attributes
    ----------
    plan_ : ColumnPlan
        The columns used, and notes on the ones dropped.
    calibration_ : str
        The calibration method chosen; ``calibration_briers_`` each candidate's score.
    eps_ : float
        Probabilities are kept in ``[eps_, 1 - eps_]``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"x": rng.normal(size=2000)})
    >>> y = (rng.random(2000) < 1 / (1 + np.exp(-2 * X.x))).astype(int)
    >>> p = PropensityClassifier(max_iter=50).fit(X, y).predict_proba(X)[:, 1]
    >>> bool(0 < p.min() and p.max() < 1)
    True
    """

    def __init__(
        self,
        *,
        algorithm: PropensityAlgorithm = "hgb",
        max_iter: int = 200,
        learning_rate: float = 0.05,
        max_categories: int = 200,
        isotonic_min_positives: int = 500,
        exclude: tuple[str, ...] = (),
        n_threads: int | None = None,
        random_state: int = 0,
    ):
        self.algorithm = algorithm
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_categories = max_categories
        self.isotonic_min_positives = isotonic_min_positives
        self.exclude = exclude
        self.n_threads = n_threads
        self.random_state = random_state

    # -- fitting ------------------------------------------------------------------------
    def _base(self, plan: ColumnPlan):
        n_num, n_cat = len(plan.numeric), len(plan.categorical)
        if self.algorithm == "hgb":
            return HistGradientBoostingClassifier(
                max_iter=self.max_iter,
                learning_rate=self.learning_rate,
                categorical_features=np.r_[np.zeros(n_num, bool), np.ones(n_cat, bool)],
                l2_regularization=1.0,
                early_stopping=True,
                validation_fraction=0.1,
                n_iter_no_change=20,
                random_state=self.random_state,
            )
        if self.algorithm != "logistic":
            raise DataError(f"algorithm: expected 'hgb' or 'logistic', got {self.algorithm!r}")
        parts = []
        if n_num:
            parts.append((
                "num",
                make_pipeline(SimpleImputer(strategy="median", add_indicator=True,
                                            keep_empty_features=True), StandardScaler()),
                list(range(n_num)),
            ))
        if n_cat:
            parts.append((
                "cat",
                make_pipeline(SimpleImputer(strategy="constant", fill_value=-1.0),
                              OneHotEncoder(handle_unknown="ignore")),
                list(range(n_num, n_num + n_cat)),
            ))
        return Pipeline([
            ("prep", ColumnTransformer(parts)),
            ("lr", LogisticRegression(max_iter=2000, C=1.0)),
        ])

    @staticmethod
    def _target(y) -> np.ndarray:
        y = np.asarray(y)
        if y.ndim != 1 or not np.isin(y, [0, 1]).all():
            raise DataError("the outcome must be one column of 0/1 values")
        if np.unique(y).size != 2:
            raise DataError("the outcome must hold both classes 0 and 1")
        return y.astype(int)

    def fit(self, X: pd.DataFrame, y, *, X_cal: pd.DataFrame | None = None, y_cal=None):
        """Fit on a frame of features and a 0/1 outcome; calibrate on ``X_cal`` when given.

        Returns
        -------
        self
        """
        with threadpool_limits(limits=self.n_threads):
            return self._fit(X, y, X_cal, y_cal)

    def _fit(self, X, y, X_cal, y_cal):
        if not isinstance(X, pd.DataFrame):
            X = pd.DataFrame(X, columns=[f"x{i}" for i in range(np.shape(X)[1])])
        y_ = self._target(y)
        if len(y_) != len(X):
            raise DataError(f"X has {len(X)} rows but y has {len(y_)}")
        plan = plan_columns(X, exclude=tuple(self.exclude), max_categories=self.max_categories)
        Z = encode(X, plan)
        if X_cal is not None:
            yc = self._target(y_cal)
            base = self._base(plan).fit(Z, y_)
            scores = base.predict_proba(encode(X_cal, plan))[:, 1]
        else:
            yc = y_
            scores = np.empty(len(y_))
            folds = StratifiedKFold(5, shuffle=True, random_state=self.random_state)
            for train, test in folds.split(Z, y_):
                scores[test] = self._base(plan).fit(Z[train], y_[train]).predict_proba(Z[test])[:, 1]
            base = self._base(plan).fit(Z, y_)
        method, briers = choose_calibration(
            scores, yc, isotonic_min_positives=self.isotonic_min_positives,
            random_state=self.random_state,
        )
        self.plan_ = plan
        self.model_ = base
        self.calibrator_ = _calibrator(method).fit(scores, yc)
        self.calibration_ = method
        self.calibration_briers_ = briers
        self.eps_ = 0.5 / (len(yc) + 1)
        self.classes_ = np.array([0, 1])
        self.feature_names_in_ = np.asarray(plan.columns, dtype=object)
        self.n_features_in_ = len(plan.columns)
        return self

    # -- predicting ---------------------------------------------------------------------
    def raw_scores(self, X: pd.DataFrame) -> np.ndarray:
        """The base model's (uncalibrated) probability of the outcome."""
        check_is_fitted(self, "model_")
        Z = encode(X, self.plan_)
        with threadpool_limits(limits=self.n_threads):
            return self.model_.predict_proba(Z)[:, 1]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated ``[P(0), P(1)]`` per row, never exactly 0 or 1."""
        p = np.clip(self.calibrator_.predict(self.raw_scores(X)), self.eps_, 1 - self.eps_)
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)
