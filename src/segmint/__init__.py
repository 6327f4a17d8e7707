"""segmint: automated client segmentation and profiling.

The pipeline, one package per stage (data flows one way)::

    config -> sources -> store -> clv / features -> segmentation -> profiles
    -> targeting -> governance -> report -> monitoring -> api

with the orchestration (:mod:`segmint.pipeline`), :class:`Project` and the CLI above.
"""

from __future__ import annotations

from segmint._version import __version__
from segmint.errors import SegmintError
from segmint.project import Project

__all__ = ["Project", "SegmintError", "__version__"]
