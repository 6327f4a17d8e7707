"""The segmint exception hierarchy.

Every error a *user* can cause (a wrong project file, a missing column, a bad
flag) is a :class:`SegmintError`. Each specific error also inherits the
matching builtin so that callers who catch ``KeyError`` or ``ValueError`` keep
working. The CLI turns any ``SegmintError`` into a clean message and a
non-zero exit; anything else is a bug in segmint and keeps its traceback.
"""

from __future__ import annotations


class SegmintError(Exception):
    """Base class of every error caused by input, configuration or usage."""

    exit_code: int = 2


class ConfigError(SegmintError, ValueError):
    """The project file is missing, unreadable or invalid."""


class SourceNotFoundError(SegmintError, FileNotFoundError):
    """A source file, glob or table declared in the project file does not exist."""


class ColumnNotFoundError(SegmintError, KeyError):
    """A required column is absent from a source or a table."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class SchemaError(SegmintError, ValueError):
    """A whole column cannot be read as its canonical type, or a schema is inconsistent."""


class DataError(SegmintError, ValueError):
    """Input values break a model's requirements (e.g. recency > T, negative counts)."""


class WarehouseError(SegmintError, RuntimeError):
    """The warehouse is missing, locked, or lacks a stage's output."""


class NotFittedError(SegmintError, ValueError):
    """A model was used before it was fitted."""


class ConvergenceError(SegmintError, RuntimeError):
    """An optimiser did not converge; the fit is not to be trusted."""


class FeatureError(SegmintError, ValueError):
    """A feature is unknown or cannot be computed with the available entities."""


class UnsupportedOperationError(SegmintError, NotImplementedError):
    """An engine cannot run an operation a definition asks for."""


class ReadinessError(SegmintError, ValueError):
    """The loaded data is short of the readiness minimums and strict mode refuses it."""


class ProtectedAttributeError(SegmintError, ValueError):
    """A protected attribute was requested as a model input."""


class MissingDependencyError(SegmintError, ImportError):
    """An optional dependency is not installed."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package} is required for this; install it with: pip install 'segmint[{extra}]'"
        )


class ParameterError(SegmintError, ValueError):
    """A function argument or command-line option has an invalid value."""


class ServingError(SegmintError, RuntimeError):
    """The serving store cannot be written or read (not published yet, unreachable)."""


class ShrinkError(SegmintError, ValueError):
    """A reload would empty an entity or shrink it past ``contracts.max_shrink``.

    Nothing is written; ``--allow-shrink`` (``allow_shrink=True``) accepts the load.
    """

    exit_code = 3
