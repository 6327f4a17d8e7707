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

    def readiness(self, *, strict: bool | None = None):
        """Measure what the loaded data supports and store it (table ``data_readiness``).

        Months of history per entity, clients with repeat activity, engagement coverage,
        attribute completeness, label counts, against the ``readiness:`` minimums.

        Parameters
        ----------
        strict : bool, optional
            Raise when a minimum is not met (default: ``readiness.strict``).

        Returns
        -------
        segmint.sources.Readiness

        Raises
        ------
        ReadinessError
            In strict mode, naming every check that is short.
        """
        return pipeline.readiness(self, strict=strict)

    def catalog(self, *, as_of=None, store: bool = True):
        """Build the segment catalog of ``as_of`` (latest assignments by default) (stage 4).

        Stored in the warehouse table ``segment_catalog`` under the next version
        unless ``store`` is false.

        Returns
        -------
        segmint.profiles.Catalog
            As released: counts below ``governance.min_cell`` and their complements
            suppressed (null), see ``docs/governance.md``; ``load_catalog`` reads the
            warehouse's full copy.
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

    def features_frame(self, as_of: dt.date | str, columns: list[str] | None = None) -> pd.DataFrame:
        """The stored features snapshot of ``as_of`` (``columns``: default all), by client."""
        return pipeline.stored_features(self, as_of, columns)

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

    # -- targeting ----------------------------------------------------------------------
    def fit_propensity(self, name: str):
        """Fit, evaluate on time and store a new version of a propensity model (stage 6).

        The model is ``targeting.propensity.<name>`` in segmint.yaml; see
        :func:`segmint.targeting.fit_propensity` and ``docs/propensity.md``.

        Returns
        -------
        segmint.targeting.PropensityVersion
            ``.metrics`` holds the evaluation on the latest complete as-of date.

        Examples
        --------
        >>> project.fit_propensity("churn").metrics["scorers"]["hgb"]["roc_auc"]  # doctest: +SKIP
        """
        return pipeline.fit_propensity(self, name)

    def evaluate_propensity(self, name: str, *, as_of: dt.date | str | None = None) -> dict:
        """The evaluation of a propensity model's current version: from its fit, or of the
        stored model on a later ``as_of`` whose outcome window is complete.

        Returns
        -------
        dict
            Metrics per scorer (``hgb``, ``logistic``, ``naive``), drivers, counts.
        """
        return pipeline.evaluate_propensity(self, name, as_of=as_of)

    def score_propensity(self, names=None, *, as_of: dt.date | str | None = None):
        """Score every client of the ``as_of`` features snapshot with the propensity models
        (default: all declared ones, at the latest snapshot) into ``scores`` and the
        ``propensity_<name>`` features; a model without a version is fitted first.

        Returns
        -------
        segmint.targeting.ScoreResult
        """
        return pipeline.score_propensity(self, names, as_of=as_of)

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
            wh.require(HISTORY, hint="run `segmint run` or `segmint update` first")
            return client_history(wh.con, client_id)

    # -- targeting (stage 6) --------------------------------------------------------------
    def build_audience(
        self,
        name: str,
        *,
        as_of: dt.date | str | None = None,
        out: str | Path | None = None,
        mark_contacted: bool = False,
    ):
        """Select and store the next version of audience ``name`` (``audiences:``), and
        optionally export it (CSV / Parquet) and record its members as contacted.

        Returns
        -------
        segmint.targeting.AudienceBuild

        Examples
        --------
        >>> project.build_audience("card_upsell", out="card_upsell.csv").members  # doctest: +SKIP
        """
        from segmint.targeting import build_audience, export_audience, record_contacts

        with self.warehouse() as wh:
            build = build_audience(wh, name, self.config.audiences, as_of=_as_date(as_of),
                                   root=self.root)
            if out is not None:
                export_audience(wh, name, self.resolve(str(out)), version=build.version,
                                client_id_sql=self._exported_id_sql())
            if mark_contacted:
                record_contacts(wh, name, version=build.version)
        return build

    def _exported_id_sql(self) -> str:
        """SQL of the client id in exported files, over ``m.client_id``.

        The seam for pseudonymised exports: governance (``governance.pseudonymise``)
        supplies its keyed-pseudonym expression here once it lands; until then ids are
        exported as stored.
        """
        return "m.client_id"

    def export_audience(self, name: str, out: str | Path, *, version: int | None = None) -> Path:
        """Write a stored audience build (default: the latest) to CSV or Parquet."""
        from segmint.targeting import export_audience

        with self.warehouse() as wh:
            return export_audience(wh, name, self.resolve(str(out)), version=version,
                                   client_id_sql=self._exported_id_sql())

    def audiences(self) -> pd.DataFrame:
        """Declared and built audiences: latest version, as_of, sizes, changes (counts
        below ``governance.min_cell`` suppressed)."""
        from segmint.targeting import list_audiences

        with self.warehouse() as wh:
            return list_audiences(wh, self.config.audiences, min_cell=self.config.governance.min_cell)

    def audience(self, name: str, *, version: int | None = None) -> dict:
        """One build: definition, counts per step, notes, changes, segment mix (counts
        below ``governance.min_cell`` suppressed)."""
        from segmint.targeting import show_audience

        with self.warehouse() as wh:
            return show_audience(wh, name, version=version, min_cell=self.config.governance.min_cell)

    def audience_overlap(self, names: list[str] | None = None) -> pd.DataFrame:
        """Members shared by the latest builds of the audiences (diagonal: sizes; counts
        below ``governance.min_cell`` suppressed)."""
        from segmint.targeting import audience_overlap

        with self.warehouse() as wh:
            return audience_overlap(wh, names or None, min_cell=self.config.governance.min_cell)

    def lookalike(self, seed, *, as_of: dt.date | str | None = None, **options):
        """Rank the clients outside a seed by similarity, with the reach-versus-fidelity curve.

        ``seed`` is a :class:`segmint.config.LookalikeSeed` or its dict (``{"segment":
        {"behaviour": "behaviour-3"}}``, ``{"audience": NAME}``, ``{"file": PATH}``);
        ``options`` go to :func:`segmint.targeting.lookalike`.

        Returns
        -------
        segmint.targeting.LookalikeResult
        """
        from segmint.config import LookalikeSeed
        from segmint.targeting import lookalike, seed_clients

        seed = seed if isinstance(seed, LookalikeSeed) else LookalikeSeed.model_validate(seed)
        with self.warehouse() as wh:
            day = _as_date(as_of) or _latest_features(wh)
            return lookalike(wh, seed_clients(wh, seed, day, root=self.root), as_of=day, **options)

    def next_best_offers(self, *, as_of: dt.date | str | None = None, out: str | Path | None = None):
        """Rank every client's eligible offers (``nbo:``) under the contact policy; store
        ``nbo_offers`` and optionally write them to a file.

        Returns
        -------
        segmint.targeting.NboResult
        """
        from segmint.targeting import next_best_offers

        with self.warehouse() as wh:
            return next_best_offers(wh, self.config.nbo, as_of=_as_date(as_of),
                                    out=None if out is None else self.resolve(str(out)))

    def profitability(self, dimension: str, *, as_of: dt.date | str | None = None,
                      months: int = 12) -> pd.DataFrame:
        """Fully loaded profitability per segment of ``dimension`` (ranked by margin)."""
        from segmint.targeting import segment_profitability

        with self.warehouse(read_only=True) as wh:
            day = _as_date(as_of) or _latest_features(wh)
            return segment_profitability(wh.con, day, dimension, months=months)

    def affinity(self, *, dimension: str | None = None, items: str = "products",
                 as_of: dt.date | str | None = None, min_count: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Association rules (and, for products, upgrade paths) globally and per segment.

        Returns
        -------
        (rules, paths) : DataFrames; ``paths`` is empty for ``items="categories"``.
        """
        import pandas as pd

        from segmint.targeting import association_rules, upgrade_paths

        with self.warehouse() as wh:
            day = _as_date(as_of) or _latest_features(wh)
            rules = association_rules(wh.con, day, items=items, dimension=dimension, min_count=min_count)
            paths = (upgrade_paths(wh.con, day, dimension=dimension, min_count=min_count)
                     if items == "products" else pd.DataFrame())
        return rules, paths

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

    # -- serving ------------------------------------------------------------------------
    def publish(self, *, kind: str = "manual", force: bool = False):
        """Publish segments, scores, values, history, catalog, audiences and alerts to the
        serving store the HTTP service reads (see ``docs/service.md``).

        :meth:`run`, :meth:`update` and event re-scoring end with one unless
        ``serving.publish`` is false (``force`` publishes anyway).

        Returns
        -------
        segmint.api.Publication or None
            None when publishing is off or there is nothing to publish yet.
        """
        from segmint.store import project_lock

        with project_lock(self.warehouse_path):
            return pipeline.publish(self, kind=kind, force=force)

    # -- the whole pipeline -------------------------------------------------------------
    def default_as_of(self) -> dt.date:
        """The date of the latest loaded transaction (the natural 'now' of the data); without
        transactions, the latest date the other entities hold."""
        return pipeline.default_as_of(self)

    def run(
        self, *, as_of=None, report=None, progress=None, allow_shrink: bool = False,
        strict: bool | None = None,
    ) -> PipelineRun:
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
        strict : bool, optional
            Stop after ingestion when the data is short of the ``readiness:`` minimums
            (default: ``readiness.strict``); otherwise they are warnings in ``notes``.

        Returns
        -------
        PipelineRun
        """
        return pipeline.run_pipeline(
            self, as_of=as_of, report=report, progress=progress, allow_shrink=allow_shrink,
            strict=strict,
        )


def _latest_features(wh) -> dt.date:
    from segmint.targeting._sql import latest_features_as_of

    return latest_features_as_of(wh.con)


def _as_date(value: dt.date | str | None) -> dt.date | None:
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            from segmint.errors import ParameterError

            raise ParameterError(f"as_of {value!r}: expected a date as YYYY-MM-DD") from None
    return value
