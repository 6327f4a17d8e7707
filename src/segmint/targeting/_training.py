"""Point-in-time training sets: (client, as_of) examples over several as-of dates.

The features of an example are those of :func:`segmint.features.compute_features` as of
its date (only data up to the end of that day; computed, not read from the stored
snapshots, so a backfilled history is seen as it is now); its target is the outcome in
``(as_of, as_of + h]`` (:mod:`._outcomes`). Dates whose window is not complete are never
used.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd

from segmint.config import OutcomeConfig, ProjectConfig, PropensityConfig
from segmint.errors import DataError
from segmint.features import DuckDBEngine, compute_features
from segmint.targeting._outcomes import data_end, data_start, outcomes


@dataclass(frozen=True)
class DatePlan:
    """The as-of dates of a model: training dates, then calibration, then evaluation."""

    train: list[dt.date]
    calibration: dt.date
    evaluation: dt.date
    data_end: dt.date

    @property
    def all(self) -> list[dt.date]:
        return [*self.train, self.calibration, self.evaluation]


def plan_dates(
    wh: Any, outcome: OutcomeConfig, model: PropensityConfig, *, end: dt.date | None = None
) -> DatePlan:
    """The model's as-of dates: the latest with a complete window (on or before ``end``)
    and ``as_of_dates - 1`` more, ``every_days`` apart, none before the first transaction.

    Raises
    ------
    DataError
        Fewer than three dates have a complete window after the first transaction day.
    """
    last_day = data_end(wh, outcome)
    latest = last_day - dt.timedelta(days=outcome.horizon_days)
    if end is not None:
        latest = min(latest, end)
    first = data_start(wh)
    dates = [latest - dt.timedelta(days=model.every_days * i) for i in range(model.as_of_dates)]
    dates = sorted(d for d in dates if d > first)
    if len(dates) < 3:
        raise DataError(
            f"no complete outcome window for enough as-of dates: data run from {first} to "
            f"{last_day}; a window of {outcome.horizon_days} days leaves {len(dates)} as-of "
            f"date(s) {model.every_days} days apart with a complete window (3 needed: "
            "train, calibrate, evaluate); lower horizon_days or every_days, or load more history"
        )
    return DatePlan(train=dates[:-2], calibration=dates[-2], evaluation=dates[-1], data_end=last_day)


def features_as_of(wh: Any, config: ProjectConfig, as_of: dt.date) -> pd.DataFrame:
    """Every client's features computed as of ``as_of`` from the history (nothing stored)."""
    return compute_features(
        DuckDBEngine(wh.con), as_of, config.features, currency=config.contracts.currency
    )


def training_set(
    wh: Any,
    config: ProjectConfig,
    outcome: OutcomeConfig,
    dates: list[dt.date],
    *,
    cache: dict[dt.date, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Examples of ``dates``: ``client_id, as_of, y`` then the features as of each date.

    Only eligible clients (see :func:`segmint.targeting.outcomes`) are examples. Columns a
    date lacks (a top category of another date) are null there. ``cache`` (date ->
    features) lets models fitted one after the other on unchanged data share the
    features of their common dates.
    """
    targets = outcomes(wh, outcome, dates)
    parts = []
    for day in dates:
        if cache is not None and day in cache:
            feats = cache[day]
        else:
            feats = features_as_of(wh, config, day)
            if cache is not None:
                cache[day] = feats
        y = targets[pd.to_datetime(targets["as_of"]).dt.date == day]
        part = y.merge(feats, on="client_id", how="inner", validate="one_to_one")
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True, sort=False)
    frame["as_of"] = pd.to_datetime(frame["as_of"]).dt.date
    return frame


def count_table(frame: pd.DataFrame) -> str:
    """Examples and positives per date, for messages: ``2025-01-31: 120 of 3,400``."""
    g = frame.groupby("as_of")["y"].agg(["sum", "size"])
    return "; ".join(f"{d}: {int(r['sum']):,} of {int(r['size']):,}" for d, r in g.iterrows())


def check_counts(frame: pd.DataFrame, what: str, minimum: int) -> None:
    """Refuse a set with fewer than ``minimum`` positives or negatives, with the counts."""
    pos = int(frame["y"].sum()) if len(frame) else 0
    neg = len(frame) - pos
    if pos < minimum or neg < minimum:
        detail = count_table(frame) if len(frame) else "no eligible client"
        raise DataError(
            f"too few {'positives' if pos < minimum else 'negatives'} in the {what} set: "
            f"{pos:,} positive(s) and {neg:,} negative(s) (at least {minimum} of each needed; "
            f"min_positives); per as-of date, positives of examples: {detail}"
        )
