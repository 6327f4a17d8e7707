"""The HTML segment report (one self-contained file rendered from a segment catalog) and charts."""

from segmint.report._clv_plots import plot_cumulative_repeat, plot_holdout_by_frequency
from segmint.report._experiments import (
    ExperimentSection,
    build_section,
    experiment_section,
    render_experiment_report,
)
from segmint.report._html import render_report, write_report

__all__: list[str] = [
    "ExperimentSection",
    "build_section",
    "experiment_section",
    "render_experiment_report",
    "plot_cumulative_repeat",
    "plot_holdout_by_frequency",
    "render_report",
    "write_report",
]
