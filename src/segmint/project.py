"""The Python API: a :class:`Project` is a project file plus its warehouse.

Each method is one pipeline stage or one chain of them; the CLI is a thin shell over
these, and these are thin over :mod:`segmint.pipeline` (which runs what after what).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

from segmint import pipeline
from segmint.pipeline import PipelineRun, Workspace

if TYPE_CHECKING:
    import pandas as pd

    from segmint.features._snapshot import SnapshotResult
    from segmint.monitoring import CycleResult
    from segmint.segmentation import SegmentationRun

__all__ = ["PipelineRun", "Project"]


class Project(Workspace):
    """A segmint project: the validated ``segmint.yaml`` and the folder it lives in.

    Examples
    --------
    >>> project = Project.from_yaml("segmint.yaml")  # doctest: +SKIP
    >>> report = project.ingest()  # doctest: +SKIP
    """

    # -- stages -----------------------------------------------------------------------
    def ingest(
        self,
        *,
        progress=None,
        full: bool = False,
        build_state: bool = False,
        allow_shrink: bool = False,
    ):
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
        allow_shrink : bool
            Accept a reload that empties an entity or removes more than
            ``contracts.max_shrink`` of its rows (refused by default: ``ShrinkError``).

        Returns
        -------
        segmint.sources.IngestReport
        """
        return pipeline.ingest(
            self, progress=progress, full=full, build_state=build_state, allow_shrink=allow_shrink
        )

    def catalog(self, *, as_of=None, store: bool = True):
        """Build the segment catalog of ``as_of`` (latest assignments by default) (stage 4).

        Stored in the warehouse table ``segment_catalog`` under the next version
        unless ``store`` is false.

        Returns
        -------
        segmint.profiles.Catalog
        """
        return pipeline.catalog(self, as_of=as_of, store=store)

    def report(self, out=None, *, as_of=None) -> Path:
        """Write the HTML segment report (default ``report.html`` in the project folder).

        Uses the latest stored catalog of ``as_of`` (the latest assignments'
        date by default), building and storing one when there is none.

        Returns
        -------
        Path
            The report file.
        """
        return pipeline.report(self, out, as_of=as_of)

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
        return pipeline.segment(self, as_of, refit=refit, out=out, load=load)

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
        return pipeline.features_frame(self, as_of, store=store)

    def snapshot_features(self, as_of: dt.date | str) -> SnapshotResult:
        """Compute and store the features snapshot of a date, in the engine (stage 2).

        Reads the incremental feature state when ``features.incremental`` is on and the
        state is in sync with the transactions (see ``docs/features.md``); the history
        otherwise. The rows stay in the warehouse table ``features``.

        Examples
        --------
        >>> project.snapshot_features("2024-06-30").rows  # doctest: +SKIP
        """
        return pipeline.snapshot_features(self, as_of)

    # -- monitoring ---------------------------------------------------------------------
    def update(
        self,
        as_of: dt.date | str | None = None,
        *,
        refit: bool = False,
        ingest: bool = True,
        notify: bool = True,
        force_as_of: bool = False,
        allow_shrink: bool = False,
    ) -> CycleResult:
        """Run one update cycle: ingest, features, assign, record what changed.

        Assigns every client with the current model versions, refitting a dimension only
        when the ``monitoring.refit`` policy says so or with ``refit``; then records, in
        one transaction, the segment history, migration matrices, stability, drift and
        alerts of the cycle (see ``docs/monitoring.md``). Re-running the latest as_of
        replaces that cycle; an earlier as_of is refused, and so is one after the newest
        loaded data or after today unless ``force_as_of`` (see :meth:`undo`). The whole
        cycle holds the project lock; the webhook is sent after it is released.

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
        force_as_of : bool
            Accept an ``as_of`` after the newest data or after today.
        allow_shrink : bool
            Accept an ingest that shrinks an entity past ``contracts.max_shrink``.

        Returns
        -------
        segmint.monitoring.CycleResult
        """
        return pipeline.run_cycle(
            self, as_of, refit=refit, ingest=ingest, notify=notify, force_as_of=force_as_of,
            allow_shrink=allow_shrink,
        )

    def undo(self, as_of: dt.date | str) -> list[dt.date]:
        """Roll back the update cycle of ``as_of`` and every later one.

        Their monitoring rows, history spells, assignments, features snapshots and the
        model versions they fitted are removed in one transaction, so the warehouse is
        as it was before the cycle ran (loaded source data is kept).

        Returns
        -------
        list of date
            The cycles undone, oldest first.
        """
        return pipeline.undo_cycle(self, as_of)

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
        return pipeline.ingest_events(self, path, as_of=as_of)

    def rescore(self, client_ids, *, as_of: dt.date | str | None = None):
        """Recompute these clients' features and segments now (default: latest data day).

        Returns
        -------
        segmint.monitoring.RescoreResult
        """
        return pipeline.rescore(self, client_ids, as_of=as_of)

    # -- the whole pipeline -------------------------------------------------------------
    def default_as_of(self) -> dt.date:
        """The date of the latest loaded transaction (the natural 'now' of the data)."""
        return pipeline.default_as_of(self)

    def run(self, *, as_of=None, report=None, progress=None, allow_shrink: bool = False) -> PipelineRun:
        """Run every stage: ingest -> features -> segment -> catalog -> report.

        Parameters
        ----------
        as_of : date or str, optional
            Snapshot date; default: the date of the latest transaction.
        report : path, optional
            Where to write the HTML report (default ``report.html`` beside the project file).
        progress : callable, optional
            ``progress(stage, done, total)`` after each stage.
        allow_shrink : bool
            Accept an ingest that shrinks an entity past ``contracts.max_shrink``.

        Returns
        -------
        PipelineRun
        """
        return pipeline.run_pipeline(
            self, as_of=as_of, report=report, progress=progress, allow_shrink=allow_shrink
        )

