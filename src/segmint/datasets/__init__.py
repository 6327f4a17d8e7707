"""Data sets: shipped public reference data and the synthetic bank generator."""

from segmint.datasets._bank import DEFAULT_END, GeneratedData, generate_bank
from segmint.datasets._bank_plants import planted_lookalike, planted_uptake
from segmint.datasets._cdnow import data_path, load_cdnow, load_cdnow_summary, load_donations
from segmint.datasets._cdnow_project import write_cdnow_project

__all__ = [
    "DEFAULT_END",
    "GeneratedData",
    "data_path",
    "generate_bank",
    "load_cdnow",
    "load_cdnow_summary",
    "load_donations",
    "planted_lookalike",
    "planted_uptake",
    "write_cdnow_project",
]
