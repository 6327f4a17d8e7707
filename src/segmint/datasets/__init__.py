"""Data sets: shipped public reference data and (see ``_bank``) the synthetic generator."""

from segmint.datasets._cdnow import data_path, load_cdnow, load_cdnow_summary, load_donations

__all__ = ["data_path", "load_cdnow", "load_cdnow_summary", "load_donations"]
