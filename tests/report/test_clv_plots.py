import pandas as pd
import plotly.graph_objects as go

from segmint.report import plot_cumulative_repeat, plot_holdout_by_frequency


def test_cumulative_repeat_figure():
    tracking = pd.DataFrame(
        {"period": [1, 2, 3, 4], "actual": [1, 3, 6, 8], "predicted": [1.2, 3.1, 5.5, 7.9],
         "holdout": [False, False, True, True]}
    )
    fig = plot_cumulative_repeat(tracking)
    assert isinstance(fig, go.Figure)
    assert [t.name for t in fig.data] == ["actual", "predicted"]
    assert list(fig.data[1].y) == [1.2, 3.1, 5.5, 7.9]
    assert fig.layout.shapes[0].x0 == 2.5  # holdout starts at period 3


def test_holdout_by_frequency_figure():
    table = pd.DataFrame(
        {"frequency": ["0", "1", "2+"], "n_customers": [10, 5, 2],
         "actual": [0.1, 0.5, 2.0], "predicted": [0.2, 0.6, 1.8]}
    )
    fig = plot_holdout_by_frequency(table)
    assert [t.type for t in fig.data] == ["bar", "bar"]
    assert list(fig.data[0].x) == ["0", "1", "2+"]
    assert fig.layout.barmode == "group"


def test_holdout_by_frequency_withholds_small_groups():
    table = pd.DataFrame(
        {"frequency": ["0", "1", "2+"], "n_customers": [10, 5, 2],
         "actual": [0.1, 0.5, 2.0], "predicted": [0.2, 0.6, 1.8]}
    )
    fig = plot_holdout_by_frequency(table, min_cell=10)
    assert [y is None or y != y for y in fig.data[0].y] == [False, True, True]
    fig = plot_holdout_by_frequency(table, min_cell=1)
    assert list(fig.data[0].y) == [0.1, 0.5, 2.0]
