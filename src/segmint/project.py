"""The Python API: a :class:`Project` is a project file plus its warehouse.

Each method is one pipeline stage; the CLI is a thin shell over these.
"""

from __future__ import annotations

from pathlib import Path

from segmint.config import ProjectConfig, load_config
from segmint.store import Warehouse


class Project:
    """A segmint project: the validated ``segmint.yaml`` and the folder it lives in.

    Examples
    --------
    >>> project = Project.from_yaml("segmint.yaml")  # doctest: +SKIP
    >>> report = project.ingest()  # doctest: +SKIP
    """

    def __init__(self, config: ProjectConfig, root: str | Path) -> None:
        self.config = config
        self.root = Path(root).resolve()

    @classmethod
    def from_yaml(cls, path: str | Path) -> Project:
        """Load and validate a project file (a folder means its ``segmint.yaml``)."""
        path = Path(path)
        if path.is_dir():
            path = path / "segmint.yaml"
        return cls(load_config(path), path.parent)

    def resolve(self, relative: str) -> Path:
        """A path from the project file, made absolute against the project folder."""
        p = Path(relative)
        return p if p.is_absolute() else self.root / p

    @property
    def warehouse_path(self) -> Path:
        return self.resolve(self.config.warehouse.path)

    def warehouse(self, *, read_only: bool = False) -> Warehouse:
        """Open the project's warehouse."""
        wh = self.config.warehouse
        return Warehouse(
            self.warehouse_path,
            threads=wh.threads,
            memory_limit=wh.memory_limit,
            read_only=read_only,
        )

    # -- stages -----------------------------------------------------------------------
    def ingest(self, *, progress=None):
        """Load every source into the warehouse (stage 1).

        Returns
        -------
        segmint.sources.IngestReport
        """
        from segmint.sources import ingest

        return ingest(self, progress=progress)
