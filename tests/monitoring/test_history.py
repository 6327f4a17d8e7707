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
    from segmint.errors import FeatureError
    from segmint.monitoring import cycles
    from segmint.pipeline import _steps

    end = bank.default_as_of()

    def broken(*args, **kwargs):
        raise FeatureError("features table is broken")

    with monkeypatch.context() as m:
        m.setattr(_steps, "segment", broken)
        with pytest.raises(FeatureError):
            bank.update(end, ingest=False)
    with bank.warehouse() as wh:
        failed = cycles(wh)
        assert wh.has_table(HISTORY) and wh.con.execute(f"SELECT count(*) FROM {HISTORY}").fetchone()[0] == 0
    assert list(failed.status) == ["failed"] and "broken" in failed.detail.iloc[0]
    bank.update(end, ingest=False)
    with bank.warehouse() as wh:
        assert list(cycles(wh).status) == ["ok"]


# -- event re-scoring rows (monitoring/_events.record_history) ---------------------------


def _event(wh, day, rows):
    """Re-score some clients at ``day`` the way monitoring/_events does."""
    from segmint.monitoring._events import record_history

    wh.con.execute(
        "CREATE OR REPLACE TEMP TABLE _ev AS SELECT * FROM segment_assignments LIMIT 0"
    )
    wh.con.executemany(
        "INSERT INTO _ev VALUES (?, 'value', ?, ?, 1, ?, NULL)", [(c, s, s, day) for c, s in rows]
    )
    record_history(wh, "_ev", day)


def _open_spells(con):
    return con.execute(
        f"SELECT client_id, dimension, count(*) FROM {HISTORY} WHERE valid_to IS NULL "
        "GROUP BY ALL HAVING count(*) > 1"
    ).fetchall()


@pytest.fixture
def wh(con):
    from segmint.store import Warehouse

    wh = Warehouse(":memory:")
    wh.con.execute(ASSIGNMENTS_DDL)
    ensure_tables(wh.con)
    for day in (D1, D2):
        rows = con.execute(
            "SELECT * FROM segment_assignments WHERE as_of = ?", [day]
        ).fetchall()
        wh.con.executemany("INSERT INTO segment_assignments VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    yield wh
    wh.close()


def _cycle(con, day):
    undo_history(con, day)
    update_history(con, day)


def test_rerunning_a_cycle_keeps_the_event_rows_of_its_day(wh):
    _cycle(wh.con, D1)
    _cycle(wh.con, D2)
    _event(wh, D2, [("b", "Top")])  # b moves on the cycle's day, after the cycle
    expected = _spells(wh.con)
    assert ("b", "Top", D2, None) in expected
    _cycle(wh.con, D2)  # the cycle of D2 is run again
    assert _spells(wh.con) == expected
    assert not _open_spells(wh.con)
    sources = dict(
        wh.con.execute(
            f"SELECT client_id, source FROM {HISTORY} WHERE valid_from = ? AND client_id IN ('b', 'd')",
            [D2],
        ).fetchall()
    )
    assert sources == {"b": "event", "d": "cycle"}


def test_rerunning_a_cycle_keeps_later_event_rows(wh):
    _cycle(wh.con, D1)
    _cycle(wh.con, D2)
    later = D2 + dt.timedelta(days=3)
    _event(wh, later, [("a", "Top"), ("b", "Low")])  # a: opened at D2 by the cycle
    expected = _spells(wh.con)
    assert ("a", "Medium", D2, later) in expected and ("a", "Top", later, None) in expected
    _cycle(wh.con, D2)
    assert _spells(wh.con) == expected
    assert not _open_spells(wh.con)


def test_event_rows_of_the_day_before_its_cycle_runs_are_kept(wh):
    _cycle(wh.con, D1)
    # events on D2 before its cycle: a as the cycle will have it, b not
    _event(wh, D2, [("a", "Medium"), ("b", "Top")])
    _cycle(wh.con, D2)
    expected = [
        ("a", "Low", D1, D2),
        ("a", "Medium", D2, None),  # the event's spell; the cycle agrees
        ("b", "High", D1, D2),
        ("b", "Top", D2, None),  # the event's spell of the day is the later word on b
        ("c", "Top", D1, D2),  # gone at D2
        ("d", "Low", D2, None),
    ]
    assert _spells(wh.con) == expected
    sources = wh.con.execute(f"SELECT client_id, source FROM {HISTORY} WHERE valid_from = ? "
                             "ORDER BY 1", [D2]).fetchall()
    assert sources == [("a", "event"), ("b", "event"), ("d", "cycle")]
    _cycle(wh.con, D2)
    assert _spells(wh.con) == expected


def test_history_tables_without_a_source_column_are_migrated():
    con = duckdb.connect()
    con.execute(
        f"CREATE TABLE {HISTORY} (client_id VARCHAR NOT NULL, dimension VARCHAR NOT NULL, "
        "segment_id VARCHAR NOT NULL, segment_name VARCHAR NOT NULL, "
        "model_version INTEGER NOT NULL, valid_from DATE NOT NULL, valid_to DATE)"
    )
    con.execute(f"INSERT INTO {HISTORY} VALUES ('a', 'value', 'Low', 'Low', 1, ?, NULL)", [D1])
    ensure_tables(con)
    assert con.execute(f"SELECT source FROM {HISTORY}").fetchall() == [("cycle",)]
