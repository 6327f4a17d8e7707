"""The Python API: a :class:`Project` is a project file plus its warehouse.

Each method is one pipeline stage; the CLI is a thin shell over these.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segmint.config import ProjectConfig, load_config
from segmint.store import Warehouse

if TYPE_CHECKING:
    import pandas as pd

    from segmint.features._snapshot import SnapshotResult
    from segmint.monitoring import CycleResult
    from segmint.segmentation import SegmentationRun


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
    def ingest(self, *, progress=None, full: bool = False, build_state: bool = False):
        """Load what is new in the sources into the warehouse (stage 1).

        Each entity is skipped when its files are unchanged, appended to when only
        new files arrived, and reloaded otherwise (see :func:`segmint.sources.ingest`).

        When the warehouse keeps an incremental feature state (``features.incremental``),
        the transactions and engagement events appended are folded into it, and a reload
        rebuilds it (only its engagement part when only the events were reloaded).

        Parameters
        ----------
        progress : callable, optional
            ``progress(step, done, total)`` after each step.
        full : bool
            Reload every entity from all its files.
        build_state : bool
            Build a missing incremental feature state (update cycles do).

        Returns
        -------
        segmint.sources.IngestReport
        """
        from segmint.sources import appended_table, ingest

        report = ingest(self, progress=progress, full=full, after_load=self._drop_erased())
        if self.config.features.incremental:
            from segmint.features._snapshot import refresh_state

            tx = report.entities.get("transactions")
            ev = report.entities.get("engagement")
            with self.warehouse() as wh:
                refresh_state(
                    wh, self.config.features,
                    mode=tx.mode if tx is not None else "unchanged",
                    appended=appended_table("transactions"),
                    events_mode=ev.mode if ev is not None else "unchanged",
                    events_appended=appended_table("engagement"),
                    build=build_state,
                )
        return report

    def _drop_erased(self):
        """Ingestion's hook dropping erased clients' rows (see :mod:`segmint.governance`)."""
        from segmint.governance import drop_erased, optional_key

        key = optional_key(self.config.governance.pseudonymise, self.root)
        return lambda con, run_id: drop_erased(con, key, run_id=run_id)

    def catalog(self, *, as_of=None, store: bool = True):
        """Build the segment catalog of ``as_of`` (latest assignments by default) (stage 4).

        Stored in the warehouse table ``segment_catalog`` under the next version
        unless ``store`` is false.

        Returns
        -------
        segmint.profiles.Catalog
        """
        from segmint.profiles import build_catalog, store_catalog

        with self.warehouse() as wh:
            catalog = build_catalog(wh, config=self.config.catalog, project=self.config.project, as_of=as_of)
            if store:
                store_catalog(wh, catalog)
        return catalog

    def report(self, out=None, *, as_of=None) -> Path:
        """Write the HTML segment report (default ``report.html`` in the project folder).

        Uses the latest stored catalog of ``as_of`` (the latest assignments'
        date by default), building and storing one when there is none.

        Returns
        -------
        Path
            The report file.
        """
        from segmint.profiles import CATALOG_TABLE, build_catalog, load_catalog, store_catalog
        from segmint.profiles._profile import latest_as_of
        from segmint.report import render_report, write_report

        out = self.resolve(str(out)) if out is not None else self.root / "report.html"
        with self.warehouse() as wh:
            as_of = as_of or latest_as_of(wh)
            stored = wh.has_table(CATALOG_TABLE) and wh.con.execute(
                f"SELECT count(*) FROM {CATALOG_TABLE} WHERE as_of = ?", [as_of]
            ).fetchone()[0]
            if stored:
                catalog = load_catalog(wh, as_of=as_of)
            else:
                catalog = build_catalog(wh, config=self.config.catalog, project=self.config.project, as_of=as_of)
                store_catalog(wh, catalog)
            text = render_report(wh, catalog, sample=self.config.catalog.report_sample)
        return write_report(out, text)

    def segment(
        self,
        as_of: dt.date | str | None = None,
        *,
        refit: bool | Collection[str] = False,
        out: str | Path | None = None,
        load: bool = True,
    ) -> SegmentationRun:
        """Assign every client to one segment of each dimension (stage 3).

        Fits a dimension when it has no stored version, when its definition changed, or
        with ``refit`` (true: every dimension; or a collection of dimension names); otherwise applies the stored version. Writes
        ``segment_assignments`` for ``as_of`` (default: the latest features snapshot),
        replacing that date's rows atomically, and optionally a Parquet/CSV file.

        Returns
        -------
        SegmentationRun
            ``.assignments`` (client_id, dimension, segment_id, segment_name,
            model_version, as_of, score) when ``load``; ``.models``, ``.sizes``.
        """
        from segmint.segmentation import run_segmentation

        if isinstance(as_of, str):
            as_of = dt.date.fromisoformat(as_of)
        out_path = self.resolve(str(out)) if out is not None else None
        pseudonyms = self.config.governance.pseudonymise
        with self.warehouse() as wh:
            from segmint.governance import consent_predicates

            no_learned, no_dimension = consent_predicates(wh.con, self.config.governance.consent)
            run = run_segmentation(
                wh, self.config.segmentation, as_of=as_of, refit=refit,
                out=None if pseudonyms.enabled else out_path, load=load,
                approval=self.config.governance.approval == "required",
                exclude_learned=no_learned, exclude_all=no_dimension,
            )
            if pseudonyms.enabled and out_path is not None:
                from segmint.governance import copy_pseudonymised, pseudonym_key

                copy_pseudonymised(
                    wh.con,
                    f"SELECT * FROM segment_assignments WHERE as_of = DATE '{run.as_of.isoformat()}' "
                    "ORDER BY dimension, client_id",
                    out_path,
                    pseudonym_key(pseudonyms, self.root),
                )
            return run

    def features(self, as_of: dt.date | str, *, store: bool = True) -> pd.DataFrame:
        """Compute every client's features as of a date (stage 2).

        Uses only data up to the end of ``as_of`` (see ``docs/features.md``), with the
        project's ``features:`` options, in the warehouse's DuckDB. The snapshot replaces
        the one of the same date in the warehouse table ``features`` (atomically) unless
        ``store=False`` (see :meth:`snapshot_features`, which does not fetch the rows).

        Returns
        -------
        pandas.DataFrame
            One row per client (clients onboarded on or before ``as_of``, or with no
            onboarding date), ``client_id`` then the features, sorted by ``client_id``.

        Examples
        --------
        >>> project.features("2024-06-30").head()  # doctest: +SKIP
        """
        from segmint.features import DuckDBEngine, compute_features
        from segmint.features._compute import SNAPSHOT_TABLE, _date

        if not store:
            with self.warehouse() as wh:
                return compute_features(
                    DuckDBEngine(wh.con), as_of, self.config.features,
                    currency=self.config.contracts.currency,
                )
        result = self.snapshot_features(as_of)
        cols = ", ".join(f'"{c}"' for c in result.columns)
        with self.warehouse() as wh:
            return wh.con.execute(
                f"SELECT {cols} FROM {SNAPSHOT_TABLE} WHERE as_of = ? ORDER BY client_id",
                [_date(as_of)],
            ).df()

    def snapshot_features(self, as_of: dt.date | str) -> SnapshotResult:
        """Compute and store the features snapshot of a date, in the engine (stage 2).

        Reads the incremental feature state when ``features.incremental`` is on and the
        state is in sync with the transactions (see ``docs/features.md``); the history
        otherwise. The rows stay in the warehouse table ``features``.

        Examples
        --------
        >>> project.snapshot_features("2024-06-30").rows  # doctest: +SKIP
        """
        from segmint.features._snapshot import write_snapshot

        with self.warehouse() as wh:
            run_id = wh.start_run("features", inputs=[{"as_of": str(as_of)}])
            try:
                result = write_snapshot(
                    wh, as_of, self.config.features,
                    currency=self.config.contracts.currency,
                    use_state=self.config.features.incremental,
                )
            except BaseException as exc:
                wh.finish_run(run_id, status="failed", detail=str(exc))
                raise
            wh.finish_run(
                run_id,
                counts={"clients": result.rows, "features": len(result.columns) - 1,
                        "mode": result.mode},
                timings=result.timings,
            )
        return result

    # -- monitoring ---------------------------------------------------------------------
    def update(
        self,
        as_of: dt.date | str | None = None,
        *,
        refit: bool = False,
        ingest: bool = True,
        notify: bool = True,
    ) -> CycleResult:
        """Run one update cycle (stage 6): ingest, features, assign, record what changed.

        Assigns every client with the current model versions, refitting a dimension only
        when the ``monitoring.refit`` policy says so or with ``refit``; then records, in
        one transaction, the segment history, migration matrices, stability, drift and
        alerts of the cycle (see ``docs/monitoring.md``). Re-running the latest as_of
        replaces that cycle; an earlier as_of is refused.

        Parameters
        ----------
        as_of : date or str, optional
            Default: the date of the latest transaction.
        refit : bool
            Refit every dimension (identities are kept by matching).
        ingest : bool
            Refresh the sources first (default); false to use the warehouse as it is.
        notify : bool
            POST the alerts to ``monitoring.webhook`` when one is configured.

        Returns
        -------
        segmint.monitoring.CycleResult
        """
        from segmint.monitoring import run_cycle

        return run_cycle(self, as_of, refit=refit, ingest=ingest, notify=notify)

    def history(self, client_id: str) -> pd.DataFrame:
        """One client's segment path in every dimension (``segment_history``), oldest first.

        Returns
        -------
        pandas.DataFrame
            dimension, segment_id, segment_name, model_version, valid_from, valid_to.
        """
        from segmint.monitoring import HISTORY, client_history

        with self.warehouse(read_only=True) as wh:
            wh.require(HISTORY, hint="run `segmint update` first")
            return client_history(wh.con, client_id)

    # -- events -------------------------------------------------------------------------
    def ingest_events(self, path: str | Path, *, as_of: dt.date | str | None = None):
        """Store a CSV/Parquet file of events and re-score the clients the rules mark.

        Rules are the project's ``events:`` section. Marked clients' features are
        recomputed (restricted to them) and their segments re-assigned with the current
        model versions; changes go to ``segment_history``.

        Returns
        -------
        segmint.monitoring.EventsResult

        Examples
        --------
        >>> result = project.ingest_events("events/today.csv")  # doctest: +SKIP
        >>> result.clients  # doctest: +SKIP
        """
        from segmint.monitoring import ingest_events

        if isinstance(as_of, str):
            as_of = dt.date.fromisoformat(as_of)
        with self.warehouse() as wh:
            return ingest_events(
                wh,
                self.resolve(str(path)),
                rules=self.config.events,
                features=self.config.features,
                currency=self.config.contracts.currency,
                as_of=as_of,
            )

    def rescore(self, client_ids, *, as_of: dt.date | str | None = None):
        """Recompute these clients' features and segments now (default: latest data day).

        Returns
        -------
        segmint.monitoring.RescoreResult
        """
        from segmint.monitoring import rescore

        if isinstance(as_of, str):
            as_of = dt.date.fromisoformat(as_of)
        as_of = as_of or self.default_as_of()
        with self.warehouse() as wh:
            return rescore(
                wh,
                list(client_ids),
                as_of,
                features=self.config.features,
                currency=self.config.contracts.currency,
            )

    # -- the whole pipeline -------------------------------------------------------------
    def default_as_of(self) -> dt.date:
        """The date of the latest loaded transaction (the natural 'now' of the data)."""
        with self.warehouse(read_only=True) as wh:
            wh.require("transactions", hint="run `segmint ingest` first")
            row = wh.con.execute("SELECT max(ts)::DATE FROM transactions").fetchone()
        if not row or row[0] is None:
            from segmint.errors import WarehouseError

            raise WarehouseError(f"{self.warehouse_path}: no transactions loaded")
        return row[0]

    def run(self, *, as_of=None, report=None, progress=None) -> PipelineRun:
        """Run every stage: ingest -> features -> segment -> catalog -> report.

        Parameters
        ----------
        as_of : date or str, optional
            Snapshot date; default: the date of the latest transaction.
        report : path, optional
            Where to write the HTML report (default ``report.html`` beside the project file).
        progress : callable, optional
            ``progress(stage, done, total)`` after each stage.

        Returns
        -------
        PipelineRun
        """

        stages = ("ingest", "features", "segment", "catalog", "report")
        timings: dict[str, float] = {}

        def step(name: str, fn):
            t0 = time.perf_counter()
            out = fn()
            timings[name] = time.perf_counter() - t0
            if progress:
                progress(name, stages.index(name) + 1, len(stages))
            return out

        ingest = step("ingest", self.ingest)
        date = dt.date.fromisoformat(as_of) if isinstance(as_of, str) else as_of
        date = date or self.default_as_of()
        features = step("features", lambda: self.snapshot_features(date))
        seg = step("segment", lambda: self.segment(date, load=False))
        catalog = step("catalog", lambda: self.catalog(as_of=date))
        path = step("report", lambda: self.report(report, as_of=date))
        return PipelineRun(
            as_of=date,
            ingest=ingest,
            n_clients=features.rows,
            n_features=len(features.columns) - 1,
            segmentation=seg,
            catalog=catalog,
            report=path,
            timings=timings,
        )


@dataclass
class PipelineRun:
    """What :meth:`Project.run` did, stage by stage."""

    as_of: dt.date
    ingest: Any
    n_clients: int
    n_features: int
    segmentation: Any
    catalog: Any
    report: Path
    timings: dict[str, float] = field(default_factory=dict)
