"""The HTML segment report: one self-contained file rendered from a segment catalog."""

from segmint.report._html import render_report, write_report

__all__: list[str] = [
    "render_report",
    "write_report",
]
