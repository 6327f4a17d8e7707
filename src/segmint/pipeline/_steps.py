"""One function per stage, each run on a workspace: what ``Project``'s stage methods
call, and what the run, the update cycle and event re-scoring chain together."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

from segmint.errors import WarehouseError
from segmint.pipeline._workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd

    from segmint.features._snapshot import SnapshotResult
    from segmint.segmentation import SegmentationRun


def as_date(value: dt.date | str | None) -> dt.date | None:
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            from segmint.errors import ParameterError

            raise ParameterError(f"as_of {value!r}: expected a date as YYYY-MM-DD") from None
    return value


def ingest(
    ws: Workspace,
    *,
    progress=None,
    full: bool = False,
    build_state: bool = False,
    allow_shrink: bool = False,
):
    """Load what is new in the sources, and keep the incremental feature state in step."""
    from segmint.governance import drop_erased, optional_key
    from segmint.sources import appended_table
    from segmint.sources import ingest as load

    gov = ws.config.governance
    keys = [optional_key(gov.pseudonymise, ws.root), optional_key(gov.erasure, ws.root)]
    report = load(
        ws, progress=progress, full=full, allow_shrink=allow_shrink,
        after_load=lambda con, run_id: drop_erased(con, keys, run_id=run_id),
    )
    if ws.config.features.incremental:
        from segmint.features._snapshot import refresh_state

        tx = report.entities.get("transactions")
        ev = report.entities.get("engagement")
        with ws.warehouse() as wh:
            refresh_state(
                wh, ws.config.features,
                mode=tx.mode if tx is not None else "unchanged",
                appended=appended_table("transactions"),
                events_mode=ev.mode if ev is not None else "unchanged",
                events_appended=appended_table("engagement"),
                build=build_state,
            )
    return report


def snapshot_features(ws: Workspace, as_of: dt.date | str) -> SnapshotResult:
    """Compute and store the features snapshot of a date, in the engine."""
    from segmint.features._snapshot import write_snapshot

    with ws.warehouse() as wh:
        run_id = wh.start_run("features", inputs=[{"as_of": str(as_of)}])
        try:
            result = write_snapshot(
                wh, as_of, ws.config.features,
                currency=ws.config.contracts.currency,
                use_state=ws.config.features.incremental,
            )
        except BaseException as exc:
            wh.finish_run(run_id, status="failed", detail=str(exc))
            raise
        wh.finish_run(
            run_id,
            counts={"clients": result.rows, "features": len(result.columns) - 1,
                    "mode": result.mode, "notes": result.notes},
            timings=result.timings,
        )
    return result


def features_frame(ws: Workspace, as_of: dt.date | str, *, store: bool = True) -> pd.DataFrame:
    """Every client's features as of a date, as a frame (stored unless ``store=False``)."""
    from segmint.features import DuckDBEngine, compute_features

    if not store:
        with ws.warehouse() as wh:
            return compute_features(
                DuckDBEngine(wh.con), as_of, ws.config.features,
                currency=ws.config.contracts.currency,
            )
    result = snapshot_features(ws, as_of)
    return stored_features(ws, as_of, result.columns)


def stored_features(
    ws: Workspace, as_of: dt.date | str, columns: list[str] | None = None
) -> pd.DataFrame:
    """The stored features snapshot of ``as_of`` (``columns``: default all), by client."""
    from segmint.features._compute import SNAPSHOT_TABLE, _date

    with ws.warehouse() as wh:
        if columns is None:
            columns = [
                r[0] for r in wh.con.execute(f"DESCRIBE {SNAPSHOT_TABLE}").fetchall()
                if r[0] != "as_of"
            ]
        cols = ", ".join(f'"{c}"' for c in columns)
        return wh.con.execute(
            f"SELECT {cols} FROM {SNAPSHOT_TABLE} WHERE as_of = ? ORDER BY client_id",
            [_date(as_of)],
        ).df()


def readiness(ws: Workspace, *, strict: bool | None = None):
    """Measure what the loaded data supports, store it, and in strict mode refuse it."""
    from segmint.errors import ReadinessError
    from segmint.sources import measure_readiness, store_readiness

    with ws.warehouse() as wh:
        result = measure_readiness(wh, ws.config)
        store_readiness(wh, result)
    strict = ws.config.readiness.strict if strict is None else strict
    if strict and result.short:
        raise ReadinessError(
            "the data is not ready to segment (strict mode): "
            + "; ".join(c.message() for c in result.short)
        )
    return result


def open_history(ws: Workspace, as_of: dt.date) -> None:
    """Record the run's assignments as the first spells of ``segment_history``."""
    from segmint.monitoring import open_history as record

    with ws.warehouse() as wh:
        record(wh, as_of)


def segment(
    ws: Workspace,
    as_of: dt.date | str | None = None,
    *,
    refit: bool | Collection[str] = False,
    out: str | Path | None = None,
    load: bool = True,
) -> SegmentationRun:
    """Assign every client to one segment of each dimension."""
    from segmint.governance import consent_predicates, copy_pseudonymised, pseudonym_key
    from segmint.segmentation import run_segmentation

    gov = ws.config.governance
    out_path = ws.resolve(str(out)) if out is not None else None
    with ws.warehouse() as wh:
        no_learned, no_dimension = consent_predicates(wh.con, gov.consent)
        run = run_segmentation(
            wh, ws.config.segmentation, as_of=as_date(as_of), refit=refit,
            out=None if gov.pseudonymise.enabled else out_path, load=load,
            approval=gov.approval == "required",
            exclude_learned=no_learned, exclude_all=no_dimension,
        )
        if gov.pseudonymise.enabled and out_path is not None:
            copy_pseudonymised(
                wh.con,
                f"SELECT * FROM segment_assignments WHERE as_of = DATE '{run.as_of.isoformat()}' "
                "ORDER BY dimension, client_id",
                out_path,
                pseudonym_key(gov.pseudonymise, ws.root),
            )
        return run


def catalog(ws: Workspace, *, as_of=None, store: bool = True):
    """Build (and store, unless ``store=False``) the segment catalog of ``as_of``; returns
    it as released: small counts suppressed (``governance.min_cell``). The warehouse keeps
    the full catalog."""
    from segmint.profiles import release_catalog, store_catalog

    with ws.warehouse() as wh:
        built = _build_catalog(ws, wh, as_of)
        if store:
            store_catalog(wh, built)
    return release_catalog(built, ws.config.governance.min_cell)


def _build_catalog(ws: Workspace, wh, as_of):
    """The catalog of ``as_of`` with each segment's cross-sell paths (targeting)."""
    from segmint.profiles import build_catalog
    from segmint.targeting import attach_cross_sell

    built = build_catalog(wh, config=ws.config.catalog, project=ws.config.project, as_of=as_of)
    attach_cross_sell(wh.con, built, min_count=ws.config.governance.min_cell)
    return built


def report(ws: Workspace, out=None, *, as_of=None) -> Path:
    """Write the HTML report from the stored catalog of ``as_of`` (built when missing)."""
    from segmint.profiles import CATALOG_TABLE, load_catalog, store_catalog
    from segmint.profiles._profile import latest_as_of
    from segmint.report import render_report, write_report

    out = ws.resolve(str(out)) if out is not None else ws.root / "report.html"
    with ws.warehouse() as wh:
        as_of = as_of or latest_as_of(wh)
        stored = wh.has_table(CATALOG_TABLE) and wh.con.execute(
            f"SELECT count(*) FROM {CATALOG_TABLE} WHERE as_of = ?", [as_of]
        ).fetchone()[0]
        if stored:
            built = load_catalog(wh, as_of=as_of)
        else:
            built = _build_catalog(ws, wh, as_of)
            store_catalog(wh, built)
        text = render_report(wh, built, sample=ws.config.catalog.report_sample,
                             min_cell=ws.config.governance.min_cell)
    return write_report(out, text)


def default_as_of(ws: Workspace) -> dt.date:
    """The date of the latest loaded transaction (the natural 'now' of the data); without
    transactions, the latest date the other entities hold."""
    from segmint.sources import data_end_date

    with ws.warehouse(read_only=True) as wh:
        wh.require("clients", hint="run `segmint ingest` first")
        day = data_end_date(wh)
    if day is None:
        raise WarehouseError(f"{ws.warehouse_path}: no dated rows loaded")
    return day


#: dated columns of the canonical entities: the newest data day is the latest of them
_DATED = {
    "transactions": "ts", "engagement": "ts", "holdings": "opened_at",
    "profitability": "period", "labels": "observed_at",
}


def newest_data_day(ws: Workspace) -> dt.date | None:
    """The latest day of any loaded dated record (None before the first ingest)."""
    with ws.warehouse(read_only=True) as wh:
        parts = [
            f"SELECT max({col})::DATE AS d FROM {table}"
            for table, col in _DATED.items() if wh.has_table(table)
        ]
        if not parts:
            return None
        return wh.con.execute(f"SELECT max(d) FROM ({' UNION ALL '.join(parts)})").fetchone()[0]  # type: ignore[index]


def check_as_of(ws: Workspace, as_of: dt.date, *, force: bool = False) -> None:
    """Refuse a date after the newest loaded data or after today (unless ``force``): a
    cycle keyed in the future would make every later normal cycle run backwards."""
    if force:
        return
    from segmint.errors import ParameterError

    today = dt.date.today()
    newest = newest_data_day(ws)
    if as_of > today:
        raise ParameterError(
            f"--as-of {as_of}: after today ({today}); cycles run forward, so every later "
            "cycle would be refused (pass --force-as-of if you mean it)"
        )
    if newest is not None and as_of > newest:
        raise ParameterError(
            f"--as-of {as_of}: after the newest loaded data ({newest}); features would see "
            "days with no data yet (pass --force-as-of if you mean it)"
        )


def fit_propensity(ws: Workspace, name: str):
    """Fit, evaluate on time and store a new version of a propensity model."""
    from segmint.targeting import fit_propensity as fit

    with ws.warehouse() as wh:
        return fit(wh, ws.config, name)


def evaluate_propensity(ws: Workspace, name: str, *, as_of: dt.date | str | None = None) -> dict:
    """A propensity model's evaluation: from its fit, or on a later complete ``as_of``."""
    from segmint.targeting import evaluate_propensity as evaluate

    with ws.warehouse() as wh:
        return evaluate(wh, ws.config, name, as_of=as_date(as_of))


def score_propensity(ws: Workspace, names=None, *, as_of: dt.date | str | None = None):
    """Score the ``as_of`` snapshot (default: the latest) with the propensity models."""
    from segmint.features._compute import SNAPSHOT_TABLE
    from segmint.targeting import score_models

    as_of = as_date(as_of)
    with ws.warehouse() as wh:
        if as_of is None:
            wh.require(SNAPSHOT_TABLE, hint="run `segmint features` or `segmint run` first")
            as_of = wh.con.execute(f"SELECT max(as_of) FROM {SNAPSHOT_TABLE}").fetchone()[0]
        return score_models(wh, ws.config, as_of, names=None if names is None else list(names))
def publish(ws: Workspace, *, kind: str = "manual", force: bool = False):
    """Publish to the serving store the service reads (``segmint.api.publish``), unless
    ``serving.publish`` is off (``force``: anyway). Callers hold the project lock."""
    if not (ws.config.serving.publish or force):
        return None
    from segmint.api import publish as _publish

    with ws.warehouse() as wh:
        return _publish(wh, ws.config, root=ws.root, kind=kind)
