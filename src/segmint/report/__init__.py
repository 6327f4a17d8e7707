"""segmint.report (see docs/architecture.md)."""

from segmint.report._clv_plots import plot_cumulative_repeat, plot_holdout_by_frequency

__all__: list[str] = ["plot_cumulative_repeat", "plot_holdout_by_frequency"]
