"""segmint: automated client segmentation and profiling.

The pipeline, one package per stage (data flows one way)::

    sources -> store -> features / clv -> segmentation -> profiles -> report -> monitoring
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("segmint")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"

from segmint.errors import SegmintError  # noqa: E402
from segmint.project import Project  # noqa: E402

__all__ = ["Project", "SegmintError", "__version__"]
