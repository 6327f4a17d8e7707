"""The Python API: a :class:`Project` is a project file plus its warehouse.

Each method is one pipeline stage; the CLI is a thin shell over these.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import TYPE_CHECKING

from segmint.config import ProjectConfig, load_config
from segmint.store import Warehouse

if TYPE_CHECKING:
    import pandas as pd


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

    def features(self, as_of: dt.date | str, *, store: bool = True) -> pd.DataFrame:
        """Compute every client's features as of a date (stage 2).

        Uses only data up to the end of ``as_of`` (see ``docs/features.md``), with the
        project's ``features:`` options, in the warehouse's DuckDB. The snapshot replaces
        the one of the same date in the warehouse table ``features`` (atomically) unless
        ``store=False``.

        Returns
        -------
        pandas.DataFrame
            One row per client (clients onboarded on or before ``as_of``, or with no
            onboarding date), ``client_id`` then the features, sorted by ``client_id``.

        Examples
        --------
        >>> project.features("2024-06-30").head()  # doctest: +SKIP
        """
        from segmint.features import DuckDBEngine, compute_features, store_snapshot

        with self.warehouse() as wh:
            run_id = wh.start_run("features", inputs=[{"as_of": str(as_of)}])
            started = time.perf_counter()
            try:
                frame = compute_features(
                    DuckDBEngine(wh.con),
                    as_of,
                    self.config.features,
                    currency=self.config.contracts.currency,
                )
                computed = time.perf_counter()
                if store:
                    store_snapshot(wh, frame, as_of)
            except BaseException as exc:
                wh.finish_run(run_id, status="failed", detail=str(exc))
                raise
            wh.finish_run(
                run_id,
                counts={"clients": len(frame), "features": frame.shape[1] - 1},
                timings={
                    "compute_s": computed - started,
                    "store_s": time.perf_counter() - computed,
                },
            )
        return frame
