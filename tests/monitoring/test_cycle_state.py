"""Update cycles on weekly deliveries run through the incremental feature state and store
the snapshot a full recomputation gives."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from segmint import Project
from segmint.datasets import generate_bank
from segmint.features import DuckDBEngine, _snapshot, compute_features
from segmint.features._incremental import state_status


def _deliveries(
    data, cuts: list[dt.datetime], entity: str = "transactions", column: str = "booked_at"
) -> list[pa.Table]:
    """The generated rows cut at ``cuts``: the history, then one table per week."""
    folder = data.out_dir / entity
    parts = sorted(folder.glob("*.parquet"))
    table = pa.concat_tables(pq.read_table(p) for p in parts)
    for p in parts:
        p.unlink()
    ts = table.column(column)
    bounds = [None, *cuts, None]
    out = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        mask = pa.array([True] * len(table))
        if lo is not None:
            mask = pc.and_(mask, pc.greater_equal(ts, pa.scalar(lo, ts.type)))
        if hi is not None:
            mask = pc.and_(mask, pc.less(ts, pa.scalar(hi, ts.type)))
        out.append(table.filter(mask))
    return out


@pytest.mark.slow
def test_weekly_deliveries_are_folded_and_equal_a_full_recomputation(tmp_path, monkeypatch):
    data = generate_bank(tmp_path / "bank", n_clients=600, seed=4)
    project = Project.from_yaml(data.config)
    end = max(
        pc.max(pq.read_table(p, columns=["booked_at"]).column("booked_at")).as_py()
        for p in (data.out_dir / "transactions").glob("*.parquet")
    ).date()
    cuts = [dt.datetime.combine(end - dt.timedelta(days=7 * k), dt.time()) for k in (3, 2, 1)]
    weeks = _deliveries(data, cuts)
    # the engagement log delivered weekly too: its events are folded into the state
    event_weeks = _deliveries(data, cuts, "engagement", "event_time")
    folder = data.out_dir / "transactions"
    modes = []
    for i, week in enumerate(weeks):
        pq.write_table(week, folder / f"part-{i:03d}.parquet")
        pq.write_table(event_weeks[i], data.out_dir / "engagement" / f"part-{i:03d}.parquet")
        as_of = (cuts[i] - dt.timedelta(days=1)).date() if i < len(cuts) else end
        project.update(as_of)
        if i == 0:  # later weeks are folded: no part of the state is rebuilt
            monkeypatch.setattr(_snapshot, "build_state", None)
            monkeypatch.setattr(_snapshot, "build_event_state", None)
        with project.warehouse(read_only=True) as wh:
            ingest, features = (
                json.loads(wh.con.execute(
                    "SELECT counts FROM _runs WHERE command = ? ORDER BY started_at DESC LIMIT 1",
                    [c],
                ).fetchone()[0])
                for c in ("ingest", "features")
            )
            modes.append((ingest["transactions"]["mode"], ingest["engagement"]["mode"],
                          features["mode"]))
            status = state_status(wh, verify=True)
            assert status is not None and status["in_sync"] and status["events_in_sync"]
            stored = wh.con.execute(
                "SELECT * EXCLUDE (as_of) FROM features WHERE as_of = ? ORDER BY client_id",
                [as_of],
            ).df()
            full = compute_features(
                DuckDBEngine(wh.con), as_of, project.config.features, warehouse=wh
            )
        stored = stored[list(full.columns)]
        assert len(stored) == len(full) and (stored["client_id"] == full["client_id"]).all()
        for col in full.columns[1:]:
            a, b = full[col].to_numpy(), stored[col].to_numpy()
            if full[col].dtype.kind == "f":
                rtol = 1e-12 if col == "ipt_cv" else 0.0
                np.testing.assert_allclose(b, a, rtol=rtol, atol=0, equal_nan=True, err_msg=col)
            else:
                assert (a == b).all(), col
    # the first cycle loads and builds the state; every later one folds a week's delivery
    assert modes[0] == ("reloaded", "reloaded", "incremental")
    assert modes[1:] == [("appended", "appended", "incremental")] * len(cuts)
