"""Shared machinery of the buy-till-you-die models.

* input validation and collapsing of customers to unique ``(x, t_x, T)`` rows
  with weights, so that a likelihood is evaluated once per distinct history;
* maximum-likelihood fitting on the log scale of the (positive) parameters,
  with a convergence check that raises :class:`~segmint.errors.ConvergenceError`
  instead of returning a garbage fit;
* standard errors from the inverse observed information matrix (a numerical
  Hessian of the negative log-likelihood at the optimum) and the ``summary``
  table every model shares.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize
from threadpoolctl import threadpool_limits

from segmint.errors import ConvergenceError, DataError, NotFittedError

# Bound on |log(parameter)|: beyond e^±25 a parameter has diverged (the data do
# not identify it), and we say so rather than return the boundary value.
_LOG_BOUND = 25.0
_Z95 = 1.959963984540054
_MAX_LOG_SE = 10.0


def as_float_array(values, name: str) -> np.ndarray:
    """A 1-d float array, with a :class:`DataError` naming ``name`` if it is not finite."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise DataError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{name} contains NaN or infinite values")
    return arr


def validate_rfm(frequency, recency, T, *, discrete: bool = False):
    """Validate ``frequency, recency, T`` and return them as float arrays.

    Rules: frequency is a non-negative whole number, ``0 <= recency <= T``,
    ``T >= 0``, and ``recency == 0`` when ``frequency == 0``. With ``discrete``
    (BG/BB) recency and T are whole numbers of opportunities and
    ``frequency <= recency``.
    """
    x = as_float_array(frequency, "frequency")
    t_x = as_float_array(recency, "recency")
    T_ = as_float_array(T, "T")
    t_x, T_ = np.broadcast_arrays(t_x, T_)
    if not (x.shape == t_x.shape == T_.shape):
        raise DataError(
            f"frequency, recency and T must have the same length, got {x.size}, {t_x.size}, {T_.size}"
        )
    if np.any(x < 0) or np.any(x != np.round(x)):
        raise DataError("frequency must hold non-negative whole numbers of repeat purchases")
    if np.any(t_x < 0):
        raise DataError("recency must be >= 0")
    if np.any(T_ < 0):
        raise DataError("T (customer age) must be >= 0")
    bad = t_x > T_ * (1 + 1e-12)
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"recency must be <= T; row {i} has recency={t_x[i]} > T={T_[i]}")
    if np.any((x == 0) & (t_x != 0)):
        raise DataError("recency must be 0 for customers with frequency 0")
    if discrete:
        if np.any(t_x != np.round(t_x)) or np.any(np.round(T_) != T_):
            raise DataError("recency and periods must be whole numbers of opportunities")
        if np.any(x > t_x):
            raise DataError("frequency must be <= recency (one transaction per opportunity)")
    return x, np.minimum(t_x, T_), T_.copy()


def collapse(*columns: np.ndarray, weights: np.ndarray | None = None):
    """Unique rows of the given columns and the summed weight of each.

    Returns ``(unique_columns, weights)``; all-equal histories are scored once.
    """
    frame = pd.DataFrame({f"c{i}": c for i, c in enumerate(columns)})
    if weights is None:
        frame["w"] = 1.0
    else:
        w = as_float_array(weights, "weights")
        if w.shape != (len(frame),) or np.any(w < 0):
            raise DataError(f"weights must be {len(frame)} non-negative numbers, one per row")
        frame["w"] = w
    grouped = frame.groupby(list(frame.columns[:-1]), sort=False)["w"].sum()
    index = grouped.index
    if len(columns) == 1:
        uniq = [index.to_numpy(dtype=float)]
    else:
        uniq = [index.get_level_values(i).to_numpy(dtype=float) for i in range(len(columns))]
    return uniq, grouped.to_numpy(dtype=float)


def rfm_arguments(frequency, recency, T, frame_columns=("frequency", "recency", "T")):
    """Accept either three arrays or one frame holding the canonical columns."""
    if isinstance(frequency, pd.DataFrame):
        frame = frequency
        missing = [c for c in frame_columns if c not in frame.columns]
        if missing:
            from segmint.errors import ColumnNotFoundError

            raise ColumnNotFoundError(
                f"summary frame lacks column(s) {missing}; it has {list(frame.columns)}"
            )
        return tuple(frame[c].to_numpy() for c in frame_columns)
    if recency is None or T is None:
        raise DataError("pass frequency, recency and T, or one frame with those columns")
    return frequency, recency, T


@dataclass(frozen=True)
class MLEResult:
    params: np.ndarray
    log_likelihood: float
    covariance: np.ndarray
    n_iter: int


def numerical_gradient(fun: Callable[[np.ndarray], float], x: np.ndarray, step: float = 1e-6):
    """Central-difference gradient (used where no analytic gradient is derived)."""
    g = np.empty_like(x)
    for i in range(x.size):  # loop over parameters (4 at most), not customers
        e = np.zeros_like(x)
        e[i] = step
        g[i] = (fun(x + e) - fun(x - e)) / (2 * step)
    return g


def numerical_hessian(fun: Callable[[np.ndarray], float], x: np.ndarray, step: float = 1e-4):
    """Hessian of ``fun`` at ``x`` by central second differences."""
    k = x.size
    h = np.empty((k, k))
    f0 = fun(x)
    for i in range(k):
        ei = np.zeros(k)
        ei[i] = step
        h[i, i] = (fun(x + ei) - 2 * f0 + fun(x - ei)) / step**2
        for j in range(i):
            ej = np.zeros(k)
            ej[j] = step
            h[i, j] = h[j, i] = (
                fun(x + ei + ej) - fun(x + ei - ej) - fun(x - ei + ej) + fun(x - ei - ej)
            ) / (4 * step**2)
    return h


def fit_log_scale(*args, **kwargs) -> MLEResult:
    """Minimise a negative log-likelihood over log-parameters (see :func:`_fit_log_scale`).

    BLAS is limited to one thread meanwhile: the likelihoods make many small
    vector reductions, for which multi-threaded BLAS on a busy machine spins
    far longer than it computes (20x slower measured on a loaded 2-core box).
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _fit_log_scale(*args, **kwargs)


def _fit_log_scale(
    neg_log_lik: Callable[[np.ndarray], float | tuple[float, np.ndarray]],
    x0: Sequence[float],
    *,
    names: Sequence[str],
    model: str,
    analytic_gradient: bool,
    total_weight: float,
) -> MLEResult:
    """Minimise a negative log-likelihood over log-parameters.

    ``neg_log_lik(log_params)`` returns the total NLL, or ``(nll, gradient wrt
    log_params)`` when ``analytic_gradient``. The optimiser sees the NLL per unit
    of weight so that its tolerances do not depend on the number of customers.
    Returns natural-scale parameters, the log-likelihood and the covariance
    matrix of the natural-scale parameters (inverse observed information).
    """
    scale = 1.0 / max(total_weight, 1.0)

    def value(z):
        out = neg_log_lik(z)
        return out[0] if analytic_gradient else out

    def objective(z):
        with np.errstate(all="ignore"):
            if analytic_gradient:
                f, g = neg_log_lik(z)
            else:
                f = neg_log_lik(z)
                g = numerical_gradient(neg_log_lik, z)
        if not np.isfinite(f) or not np.all(np.isfinite(g)):
            return np.inf, np.zeros_like(z)
        return f * scale, g * scale

    z0 = np.asarray(x0, dtype=float)
    with np.errstate(all="ignore"):
        f0 = value(z0)
    if not np.isfinite(f0):
        raise ConvergenceError(
            f"{model}: the log-likelihood is not finite at the starting values "
            f"{dict(zip(names, np.exp(z0).round(4), strict=True))}"
        )
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * z0.size
    res = optimize.minimize(
        objective,
        z0,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 3000, "ftol": 1e-14, "gtol": 1e-9},
    )
    n_iter = int(res.nit)
    if not _converged(res):
        # L-BFGS-B sometimes stops on a line-search failure near the optimum;
        # polish from where it stopped with a derivative-free method, then retry.
        def nm_value(z):
            with np.errstate(all="ignore"):
                f = value(z)
            return f * scale if np.isfinite(f) else np.inf

        nm = optimize.minimize(
            nm_value,
            res.x,
            method="Nelder-Mead",
            options={"maxiter": 2000, "xatol": 1e-9, "fatol": 1e-13},
        )
        res = optimize.minimize(
            objective, nm.x, jac=True, method="L-BFGS-B", bounds=bounds,
            options={"maxiter": 3000, "ftol": 1e-14, "gtol": 1e-9},
        )
        n_iter += int(nm.nit) + int(res.nit)
    z = res.x
    params = np.exp(z)
    if not _converged(res) or not np.isfinite(res.fun):
        raise ConvergenceError(
            f"{model}: the optimiser did not converge ({res.message}); stopped at "
            f"{_fmt(names, params)} with gradient norm {np.linalg.norm(res.jac):.3g}"
        )
    at_bound = np.abs(z) >= _LOG_BOUND - 1e-3
    if np.any(at_bound):
        diverged = [n for n, b in zip(names, at_bound, strict=True) if b]
        raise ConvergenceError(
            f"{model}: parameter(s) {diverged} diverged ({_fmt(names, params)}); the data do "
            "not identify the model (too few customers, or too few repeat purchases)"
        )
    ll = -float(value(z))
    with np.errstate(all="ignore"):
        h_log = numerical_hessian(value, z)
    # Observed information in log-parameters -> covariance of the natural parameters
    # by the delta method (the gradient vanishes at the optimum).
    try:
        if not np.all(np.isfinite(h_log)) or np.linalg.cond(h_log) > 1e12:
            raise np.linalg.LinAlgError
        cov_log = np.linalg.inv(h_log)
        if np.any(np.diag(cov_log) <= 0) or not np.all(np.isfinite(cov_log)):
            raise np.linalg.LinAlgError
        # a log-scale standard error above 10 means the 95% interval spans a
        # factor of e^40: the data carry no information on that parameter
        if np.any(np.sqrt(np.diag(cov_log)) > _MAX_LOG_SE):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        raise ConvergenceError(
            f"{model}: the optimum {_fmt(names, params)} is not identified (the likelihood is "
            "flat or not concave there), e.g. because there are too few repeat purchases"
        ) from None
    cov = cov_log * np.outer(params, params)
    return MLEResult(params=params, log_likelihood=ll, covariance=cov, n_iter=n_iter)


def _converged(res) -> bool:
    if res.success:
        return True
    # A line-search stop with a vanishing gradient is an optimum reached to
    # machine precision.
    return bool(np.all(np.isfinite(res.jac)) and np.max(np.abs(res.jac)) < 1e-5)


def _fmt(names, values) -> str:
    return ", ".join(f"{n}={v:.4g}" for n, v in zip(names, values, strict=True))


class BaseModel:
    """Common behaviour: fitted-parameter bookkeeping and the ``summary`` table."""

    _param_names: tuple[str, ...] = ()

    #: the (x, t_x, T) models set these: data prepared once per fit, then the negative
    #: log-likelihood of the log-parameters (with its gradient when analytic)
    _prepare: Callable[..., tuple] = staticmethod(lambda x, t_x, T, w: (x, t_x, T, w))
    _objective: Callable[..., Any]
    _analytic_gradient: bool = False

    def _fit_rfm(self, frequency, recency, T, weights):
        """Shared fit of the (x, t_x, T) models: validate, collapse to unique rows, maximise."""
        x, t_x, T_ = validate_rfm(*rfm_arguments(frequency, recency, T))
        (x, t_x, T_), w = collapse(x, t_x, T_, weights=weights)
        start = getattr(self, "initial_params", None) or {}
        z0 = np.log([start.get(n, 1.0) for n in self._param_names])
        data = self._prepare(x, t_x, T_, w)
        result = fit_log_scale(
            lambda z: self._objective(z, *data),
            z0,
            names=self._param_names,
            model=type(self).__name__,
            analytic_gradient=self._analytic_gradient,
            total_weight=w.sum(),
        )
        self._store(result, int(w.sum()))
        return self

    def _store(self, result: MLEResult, n_customers: int) -> None:
        self.params_ = dict(zip(self._param_names, map(float, result.params), strict=True))
        for name, value in self.params_.items():
            setattr(self, f"{name}_", value)
        self.log_likelihood_ = result.log_likelihood
        self.covariance_ = result.covariance
        self.n_customers_ = n_customers
        self.n_iter_ = result.n_iter

    @classmethod
    def from_params(cls, params: dict[str, float], **init: Any):
        """A model that predicts with given parameters, e.g. stored ones; nothing is fitted.

        ``params`` holds every name of the model's parameters (``r, alpha, a, b`` for
        BG/NBD); ``init`` goes to the constructor. The model has no covariance (its
        ``summary`` shows NaN standard errors) and no log-likelihood.
        """
        missing = [n for n in cls._param_names if n not in params]
        if missing:
            raise DataError(f"{cls.__name__}.from_params: missing parameter(s) {missing}")
        values = np.array([float(params[n]) for n in cls._param_names])
        if not np.all(np.isfinite(values)) or np.any(values <= 0):
            raise DataError(
                f"{cls.__name__}.from_params: parameters must be positive numbers, got "
                f"{_fmt(cls._param_names, values)}"
            )
        model = cls(**init)
        k = len(cls._param_names)
        model._store(MLEResult(values, float("nan"), np.full((k, k), np.nan), 0), 0)
        return model

    def _check_fitted(self) -> tuple[float, ...]:
        if not hasattr(self, "params_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit() first"
            )
        return tuple(self.params_[n] for n in self._param_names)

    def summary(self) -> pd.DataFrame:
        """Estimates with standard errors and Wald 95% intervals.

        Standard errors come from the inverse of the observed information matrix
        (a numerical Hessian of the negative log-likelihood at the optimum).

        Returns
        -------
        DataFrame
            Index: parameter names; columns ``estimate, std_error, lower_95, upper_95``.
        """
        self._check_fitted()
        est = np.array([self.params_[n] for n in self._param_names])
        se = np.sqrt(np.diag(self.covariance_))
        return pd.DataFrame(
            {
                "estimate": est,
                "std_error": se,
                "lower_95": est - _Z95 * se,
                "upper_95": est + _Z95 * se,
            },
            index=pd.Index(self._param_names, name="parameter"),
        )

    def __repr__(self) -> str:
        if hasattr(self, "params_"):
            return f"{type(self).__name__}({_fmt(self._param_names, self.params_.values())})"
        return f"{type(self).__name__}()"
