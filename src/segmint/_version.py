"""The installed segmint version (a module of its own, so that stages can read it without
importing the package root, which imports the whole pipeline)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("segmint")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"
