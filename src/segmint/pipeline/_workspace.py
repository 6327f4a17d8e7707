"""A workspace: the validated project file and the folder it lives in."""

from __future__ import annotations

from pathlib import Path

from segmint.config import ProjectConfig, load_config
from segmint.store import Warehouse


class Workspace:
    """The project file (validated) and its folder: what every pipeline step needs.

    :class:`segmint.Project` is a workspace with one method per stage.
    """

    def __init__(self, config: ProjectConfig, root: str | Path) -> None:
        self.config = config
        self.root = Path(root).resolve()

    @classmethod
    def from_yaml(cls, path: str | Path):
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
        """Open the project's warehouse (writers take the project lock, see
        :mod:`segmint.store`)."""
        wh = self.config.warehouse
        return Warehouse(
            self.warehouse_path,
            threads=wh.threads,
            memory_limit=wh.memory_limit,
            read_only=read_only,
        )
