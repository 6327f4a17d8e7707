"""Plotly figures for the calibration / holdout checks of CLV models."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go


def plot_cumulative_repeat(tracking: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Cumulative repeat purchases, actual vs predicted, by period.

    Parameters
    ----------
    tracking : DataFrame
        Output of :func:`segmint.clv.cumulative_repeat_purchases`
        (``period, actual, predicted, holdout``).
    """
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=tracking["period"], y=tracking["actual"], name="actual",
                             mode="lines"))
    fig.add_trace(go.Scatter(x=tracking["period"], y=tracking["predicted"], name="predicted",
                             mode="lines", line={"dash": "dash"}))
    holdout = tracking.loc[tracking["holdout"], "period"]
    if len(holdout):
        fig.add_vline(x=float(holdout.min()) - 0.5, line={"dash": "dot", "color": "grey"},
                      annotation_text="holdout")
    fig.update_layout(
        title=title or "Cumulative repeat purchases: actual vs predicted",
        xaxis_title="period", yaxis_title="cumulative repeat purchases",
    )
    return fig


def plot_holdout_by_frequency(table: pd.DataFrame, *, title: str | None = None,
                              min_cell: int = 10) -> go.Figure:
    """Mean holdout purchases by calibration frequency, actual vs predicted.

    Parameters
    ----------
    table : DataFrame
        Output of :func:`segmint.clv.holdout_by_frequency`.
    min_cell : int
        A frequency with fewer customers (``n_customers``) than this is not drawn: its
        means describe too few clients to leave the warehouse (``governance.min_cell``).
        The counts themselves are not drawn, so no complement is needed.
    """
    if "n_customers" in table:
        small = (table["n_customers"] > 0) & (table["n_customers"] < min_cell)
        table = table.assign(actual=table["actual"].mask(small), predicted=table["predicted"].mask(small))
    fig = go.Figure()
    fig.add_trace(go.Bar(x=table["frequency"], y=table["actual"], name="actual"))
    fig.add_trace(go.Bar(x=table["frequency"], y=table["predicted"], name="predicted"))
    fig.update_layout(
        barmode="group",
        title=title or "Holdout purchases by calibration frequency",
        xaxis_title="repeat purchases in calibration", yaxis_title="mean holdout purchases",
    )
    return fig
