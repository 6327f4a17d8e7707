"""Calibration / holdout validation of a fitted transaction model.

The two standard checks of Fader, Hardie & Lee (2005): conditional
expectations of holdout purchases against actuals, grouped by calibration
frequency; and cumulative repeat purchases over time, predicted against
actual, for the whole cohort (customers enter on their first purchase day).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from segmint._typing import SummaryFreq
from segmint.clv._rfm import _DAYS, first_purchase_days, repeat_purchase_days


def holdout_by_frequency(model, calibration_holdout: pd.DataFrame, *, max_frequency: int = 7):
    """Mean predicted and actual holdout purchases by calibration frequency.

    Parameters
    ----------
    model : fitted transaction model
        Anything with ``expected_purchases(t, frequency, recency, T)``.
    calibration_holdout : DataFrame
        Output of :func:`calibration_and_holdout`.
    max_frequency : int
        Frequencies at or above this are pooled into one ``"7+"`` row.

    Returns
    -------
    DataFrame
        ``frequency`` (0 .. max, the last labelled ``"7+"``), ``n_customers``,
        ``actual`` and ``predicted`` mean holdout purchases.
    """
    ch = calibration_holdout
    predicted = model.expected_purchases(
        ch["duration_holdout"].to_numpy(), ch["frequency"], ch["recency"], ch["T"]
    )
    bucket = np.minimum(ch["frequency"].to_numpy(), max_frequency)
    frame = pd.DataFrame(
        {"bucket": bucket, "actual": ch["frequency_holdout"].to_numpy(), "predicted": predicted}
    )
    out = frame.groupby("bucket").agg(
        n_customers=("actual", "size"), actual=("actual", "mean"), predicted=("predicted", "mean")
    )
    labels = [str(b) if b < max_frequency else f"{max_frequency}+" for b in out.index]
    out.index = pd.Index(labels, name="frequency")
    return out.reset_index()


def cumulative_repeat_purchases(
    model,
    transactions: pd.DataFrame,
    customer_id_col: str = "customer_id",
    datetime_col: str = "date",
    *,
    calibration_period_end,
    observation_period_end,
    origin=None,
    freq: SummaryFreq = "W",
) -> pd.DataFrame:
    """Cumulative repeat purchase-days per period since ``origin``: actual vs predicted.

    Period ``k`` covers days ``[origin + (k-1)·unit, origin + k·unit)``. The
    prediction at the end of period ``k`` sums, over customers who had made a
    first purchase by the end of calibration, the new-customer expectation
    ``E[X(τ)]`` with ``τ`` the time since their first purchase (Fader, Hardie
    & Lee 2005, figure 4).

    Returns
    -------
    DataFrame
        ``period, actual, predicted, holdout`` (True after calibration).
    """
    cal_end = pd.Timestamp(calibration_period_end).normalize()
    obs_end = pd.Timestamp(observation_period_end).normalize()
    firsts = first_purchase_days(transactions, customer_id_col, datetime_col)
    firsts = firsts[firsts <= cal_end]
    start = firsts.min() if origin is None else pd.Timestamp(origin).normalize()
    unit_days = _DAYS[freq]
    n_periods = int(np.floor(((obs_end - start).days + 1) / unit_days))
    period = np.arange(1, n_periods + 1)
    # elapsed time (in units) at the last day of each period, per cohort entry day
    last_day = (period * unit_days - 1)[:, None]
    entry, counts = np.unique(((firsts - start).dt.days).to_numpy(), return_counts=True)
    elapsed = np.maximum(last_day - entry[None, :], 0) / unit_days
    expected = model.expected_purchases_new_customer(elapsed)
    predicted = (np.where(elapsed > 0, expected, 0.0) * counts).sum(axis=1)

    repeats = repeat_purchase_days(
        transactions, customer_id_col, datetime_col, observation_period_end=obs_end
    )
    repeats = repeats[repeats["customer_id"].isin(firsts.index)]
    day_index = (repeats["day"] - start).dt.days.to_numpy()
    per_period = np.bincount((day_index // unit_days).astype(int), minlength=n_periods)
    actual = np.cumsum(per_period[:n_periods])
    holdout_from = ((cal_end - start).days + 1) / unit_days
    return pd.DataFrame(
        {"period": period, "actual": actual, "predicted": predicted, "holdout": period > holdout_from}
    )
