"""Segment history (SCD2), migration matrices and the cycle's keying by as_of."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import adjusted_rand_score

from segmint.errors import WarehouseError
from segmint.monitoring import HISTORY, adjusted_rand, client_history, migration_matrix
from segmint.monitoring._history import transition_stats, undo_history, update_history
from segmint.monitoring._tables import ensure_tables
from segmint.segmentation._run import _DDL as ASSIGNMENTS_DDL

D1, D2, D3 = dt.date(2025, 1, 1), dt.date(2025, 1, 8), dt.date(2025, 1, 15)


def _assign(con, day, rows):
    con.executemany(
        "INSERT INTO segment_assignments VALUES (?, 'value', ?, ?, 1, ?, NULL)",
        [(c, s, s, day) for c, s in rows],
    )


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute(ASSIGNMENTS_DDL)
    ensure_tables(con)
    _assign(con, D1, [("a", "Low"), ("b", "High"), ("c", "Top")])
    _assign(con, D2, [("a", "Medium"), ("b", "High"), ("d", "Low")])  # c gone, d new
    _assign(con, D3, [("a", "Low"), ("b", "High"), ("d", "Low")])
    return con


def _spells(con):
    return [
        tuple(r)
        for r in con.execute(
            f"SELECT client_id, segment_id, valid_from, valid_to FROM {HISTORY} ORDER BY ALL"
        ).fetchall()
    ]


def test_history_is_type2_written_only_on_change(con):
    for day in (D1, D2, D3):
        update_history(con, day)
    assert _spells(con) == [
        ("a", "Low", D1, D2),
        ("a", "Low", D3, None),
        ("a", "Medium", D2, D3),
        ("b", "High", D1, None),  # unchanged: one spell for three cycles
        ("c", "Top", D1, D2),  # gone at D2: closed, nothing opened
        ("d", "Low", D2, None),
    ]
    path = client_history(con, "a")
    assert list(path.segment_id) == ["Low", "Medium", "Low"]


def test_rerun_of_the_latest_cycle_replaces_it(con):
    for day in (D1, D2, D3):
        update_history(con, day)
    expected = _spells(con)
    undo_history(con, D3)
    update_history(con, D3)
    assert _spells(con) == expected
    undo_history(con, D3)
    undo_history(con, D2)
    assert _spells(con) == [("a", "Low", D1, None), ("b", "High", D1, None), ("c", "Top", D1, None)]


def test_migration_matrix_counts_rates_and_direction(con):
    order = {"value": ["Low", "Medium", "High", "Top"]}
    m = migration_matrix(con, D1, D2, order)
    rows = {(r.from_segment, r.to_segment): (r.clients, r.rate, None if pd.isna(r.direction) else r.direction)
        for r in m.itertuples()
    }
    assert rows == {
        ("Low", "Medium"): (1, 1.0, "up"),
        ("High", "High"): (1, 1.0, "same"),
        ("Top", "(gone)"): (1, 1.0, None),
        ("(new)", "Low"): (1, 1.0, None),
    }
    stats = transition_stats(migration_matrix(con, D2, D3, order)).iloc[0]
    assert (stats.compared, stats.reclassified, stats.upward, stats.downward) == (3, 1, 0, 1)
    assert stats.reclassification_rate == pytest.approx(1 / 3)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 4)), min_size=2, max_size=60
    )
)
def test_adjusted_rand_from_the_matrix_equals_sklearn(pairs):
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    counts = (
        pd.DataFrame({"from_segment": a.astype(str), "to_segment": b.astype(str)})
        .value_counts()
        .rename("clients")
        .reset_index()
    )
    assert adjusted_rand(counts) == pytest.approx(adjusted_rand_score(a, b), abs=1e-12)


def test_cycles_run_forward_only(bank):
    end = bank.default_as_of()
    bank.update(end, ingest=False)
    with pytest.raises(WarehouseError, match="cycles run forward"):
        bank.update(end - dt.timedelta(days=7), ingest=False)


def test_rerunning_a_cycle_does_not_duplicate(bank):
    end = bank.default_as_of()
    bank.update(end - dt.timedelta(days=7), ingest=False)
    bank.update(end, ingest=False)
    with bank.warehouse() as wh:
        before = {t: wh.con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in wh.tables()}
    again = bank.update(end, ingest=True)  # the same input ingested again changes nothing
    with bank.warehouse() as wh:
        after = {t: wh.con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in wh.tables()}
        cycles = wh.con.execute("SELECT as_of FROM monitoring_cycles ORDER BY 1").fetchall()
    assert cycles == [(end - dt.timedelta(days=7),), (end,)]
    assert {t: n for t, n in after.items() if t != "_runs"} == {
        t: n for t, n in before.items() if t != "_runs"
    }
    assert again.previous_as_of == end - dt.timedelta(days=7)


def test_history_of_a_client(bank):
    end = bank.default_as_of()
    bank.update(end, ingest=False)
    client = bank.history("C00000001")
    assert set(client.dimension) >= {"value", "behaviour", "rfm", "lifecycle"}
    assert client.valid_to.isna().all() and (client.valid_from == pd.Timestamp(end)).all()


def test_a_segment_that_empties_stays_in_the_shares(con):
    from segmint.monitoring._cycle import _shares

    shares = _shares(con, D2, D1).set_index("segment_id")
    assert shares.loc["Top", "clients"] == 0 and shares.loc["Top", "share"] == 0.0
    assert shares.loc["Top", "share_change"] == pytest.approx(-1 / 3)
    assert shares.loc["Medium", "previous_share"] != shares.loc["Medium", "previous_share"]  # NaN: new
    assert shares.share.sum() == pytest.approx(1.0)


def test_a_failed_cycle_is_recorded_and_replaced_by_its_rerun(bank, monkeypatch):
    from segmint import Project
    from segmint.errors import FeatureError
    from segmint.monitoring import cycles

    end = bank.default_as_of()

    def broken(self, *args, **kwargs):
        raise FeatureError("features table is broken")

    with monkeypatch.context() as m:
        m.setattr(Project, "segment", broken)
        with pytest.raises(FeatureError):
            bank.update(end, ingest=False)
    with bank.warehouse() as wh:
        failed = cycles(wh)
        assert wh.has_table(HISTORY) and wh.con.execute(f"SELECT count(*) FROM {HISTORY}").fetchone()[0] == 0
    assert list(failed.status) == ["failed"] and "broken" in failed.detail.iloc[0]
    bank.update(end, ingest=False)
    with bank.warehouse() as wh:
        assert list(cycles(wh).status) == ["ok"]
