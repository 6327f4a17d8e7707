"""Transaction log -> per-customer ``frequency, recency, T, monetary_value``.

The pandas/numpy helper used by the calibration tools (the warehouse feature
engine computes the same summary in SQL). Conventions of the buy-till-you-die
literature: purchases on the same day are merged into one purchase-day (their
values summed); the first purchase-day is excluded from ``frequency``;
``recency`` is the time from the first to the last purchase-day, ``T`` from the
first purchase-day to the end of the period, both in days or weeks (days / 7);
``monetary_value`` is the mean value of the repeat purchase-days (0 if none).
"""

from __future__ import annotations

import pandas as pd

from segmint._typing import SummaryFreq
from segmint.errors import ColumnNotFoundError, DataError

_DAYS = {"D": 1.0, "W": 7.0}


def _purchase_days(transactions, customer_id_col, datetime_col, monetary_value_col, end):
    missing = [
        c for c in (customer_id_col, datetime_col, monetary_value_col)
        if c is not None and c not in transactions.columns
    ]
    if missing:
        raise ColumnNotFoundError(
            f"transactions lack column(s) {missing}; they have {list(transactions.columns)}"
        )
    day = pd.to_datetime(transactions[datetime_col]).dt.normalize()
    frame = pd.DataFrame({"customer_id": transactions[customer_id_col].to_numpy(), "day": day})
    frame["value"] = 0.0 if monetary_value_col is None else transactions[monetary_value_col]
    frame = frame[frame["day"] <= end]
    days = frame.groupby(["customer_id", "day"], sort=True, as_index=False)["value"].sum()
    first = days.groupby("customer_id")["day"].transform("min")
    days["is_first"] = days["day"] == first
    days["first"] = first
    return days


def rfm_summary(
    transactions: pd.DataFrame,
    customer_id_col: str = "customer_id",
    datetime_col: str = "date",
    monetary_value_col: str | None = None,
    observation_period_end=None,
    freq: SummaryFreq = "W",
) -> pd.DataFrame:
    """One row per customer: ``customer_id, frequency, recency, T, monetary_value``.

    Parameters
    ----------
    transactions : DataFrame
        One row per transaction.
    customer_id_col, datetime_col, monetary_value_col : str
        Column names; without ``monetary_value_col`` the value column is 0.
    observation_period_end : date-like, optional
        End of the observation period (inclusive); later transactions are
        ignored. Default: the last transaction date.
    freq : {"W", "D"}
        Time unit of ``recency`` and ``T``: weeks (days / 7) or days.

    Examples
    --------
    >>> from segmint.datasets import load_cdnow
    >>> s = rfm_summary(load_cdnow("sample"), "customer_id", "date", "amount",
    ...                 observation_period_end="1997-09-30")
    >>> int(s["frequency"].sum()), int((s["frequency"] > 0).sum())
    (2457, 946)
    """
    if freq not in _DAYS:
        raise DataError(f"freq must be 'W' or 'D', got {freq!r}")
    if observation_period_end is None:
        end = pd.to_datetime(transactions[datetime_col]).max().normalize()
    else:
        end = pd.Timestamp(observation_period_end).normalize()
    days = _purchase_days(transactions, customer_id_col, datetime_col, monetary_value_col, end)
    unit = pd.Timedelta(days=_DAYS[freq])
    repeat = days[~days["is_first"]]
    g = days.groupby("customer_id", sort=True)
    out = pd.DataFrame(
        {
            "frequency": g.size() - 1,
            "recency": (g["day"].max() - g["day"].min()) / unit,
            "T": (end - g["day"].min()) / unit,
        }
    )
    out["monetary_value"] = repeat.groupby("customer_id")["value"].mean()
    out["monetary_value"] = out["monetary_value"].fillna(0.0)
    out.index.name = "customer_id"
    return out.reset_index()


def calibration_and_holdout(
    transactions: pd.DataFrame,
    customer_id_col: str = "customer_id",
    datetime_col: str = "date",
    *,
    calibration_period_end,
    observation_period_end=None,
    monetary_value_col: str | None = None,
    freq: SummaryFreq = "W",
) -> pd.DataFrame:
    """Split a log at ``calibration_period_end``: calibration summary + holdout counts.

    Customers are those with a purchase by the end of calibration. Returns the
    :func:`rfm_summary` columns plus ``frequency_holdout`` (repeat purchase-days
    after calibration, up to ``observation_period_end``) and
    ``duration_holdout`` (length of the holdout period in ``freq`` units).
    """
    cal_end = pd.Timestamp(calibration_period_end).normalize()
    if observation_period_end is None:
        obs_end = pd.to_datetime(transactions[datetime_col]).max().normalize()
    else:
        obs_end = pd.Timestamp(observation_period_end).normalize()
    if obs_end <= cal_end:
        raise DataError(
            f"observation_period_end {obs_end.date()} must be after calibration_period_end "
            f"{cal_end.date()}"
        )
    cal = rfm_summary(
        transactions, customer_id_col, datetime_col, monetary_value_col,
        observation_period_end=cal_end, freq=freq,
    )
    days = _purchase_days(transactions, customer_id_col, datetime_col, None, obs_end)
    holdout = days[(days["day"] > cal_end)].groupby("customer_id").size()
    cal["frequency_holdout"] = (
        cal["customer_id"].map(holdout).fillna(0).astype(int).to_numpy()
    )
    cal["duration_holdout"] = (obs_end - cal_end) / pd.Timedelta(days=_DAYS[freq])
    return cal


def repeat_purchase_days(
    transactions: pd.DataFrame,
    customer_id_col: str = "customer_id",
    datetime_col: str = "date",
    *,
    observation_period_end=None,
) -> pd.DataFrame:
    """Purchase-days with ``customer_id, day, first`` (the customer's first day), repeats only."""
    end = (
        pd.to_datetime(transactions[datetime_col]).max().normalize()
        if observation_period_end is None
        else pd.Timestamp(observation_period_end).normalize()
    )
    days = _purchase_days(transactions, customer_id_col, datetime_col, None, end)
    return days.loc[~days["is_first"], ["customer_id", "day", "first"]].reset_index(drop=True)


def first_purchase_days(transactions, customer_id_col="customer_id", datetime_col="date"):
    """Each customer's first purchase day (Series indexed by customer id)."""
    day = pd.to_datetime(transactions[datetime_col]).dt.normalize()
    return day.groupby(transactions[customer_id_col].to_numpy()).min()


