"""Event triggers: the right clients, re-scored as a full batch would, history recorded."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from segmint import Project
from segmint.cli import app
from segmint.datasets import generate_bank
from segmint.errors import ColumnNotFoundError
from segmint.features import DuckDBEngine, build_state, compute_features, fold
from segmint.monitoring._events import _current_models
from segmint.segmentation import version_sql

RULES = """
events:
  balance_crosses: {threshold: 100000}
  product_opened: {product_type: mortgage}
  engagement_collapse: {inactive_days: 30}
"""


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A small generated bank, ingested, with features, segments and the feature state."""
    root = tmp_path_factory.mktemp("bank")
    data = generate_bank(root, n_clients=300, seed=3)
    data.config.write_text(data.config.read_text() + RULES)
    project = Project.from_yaml(data.config)
    project.ingest()
    as_of = project.default_as_of()
    project.features(as_of)
    project.segment(as_of, load=False)
    with project.warehouse() as wh:
        build_state(wh)
    return root


@pytest.fixture
def project(base, tmp_path) -> Project:
    shutil.copytree(base, tmp_path / "bank")
    return Project.from_yaml(tmp_path / "bank" / "segmint.yaml")


def _events(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _setup(project: Project):
    """Clients for each case, and the day after the data (the day of the events)."""
    as_of = project.default_as_of()
    with project.warehouse(read_only=True) as wh:
        totals = wh.con.execute(
            "SELECT c.client_id, COALESCE(SUM(h.balance), 0) AS total FROM clients c "
            "LEFT JOIN holdings h ON h.client_id = c.client_id AND h.opened_at <= ? "
            "AND (h.closed_at IS NULL OR h.closed_at > ?) GROUP BY 1 ORDER BY 1",
            [as_of, as_of],
        ).df()
        engaged = wh.con.execute(
            "SELECT client_id, CAST(max(ts) AS DATE) AS last_day FROM engagement GROUP BY 1"
        ).df()
    low = totals[totals.total < 50_000].client_id.tolist()
    return as_of + dt.timedelta(days=1), low, engaged


def test_events_trigger_exactly_the_configured_clients(project, tmp_path):
    day, low, engaged = _setup(project)
    a, b, c, d, e = low[:5]
    ts = f"{day} 10:00:00"
    path = _events(
        tmp_path / "ev.csv",
        [
            {"client_id": a, "ts": ts, "event_type": "balance", "balance": 150_000.0},  # crosses up
            {"client_id": b, "ts": ts, "event_type": "balance", "balance": 60_000.0},  # stays below
            {"client_id": c, "ts": ts, "event_type": "product_opened", "product_type": "Mortgage"},
            {"client_id": d, "ts": ts, "event_type": "product_opened", "product_type": "card"},
            {"client_id": e, "ts": ts, "event_type": "login"},
        ],
    )
    result = project.ingest_events(path)
    assert result.as_of == day and result.n_events == 5
    # first evaluation: collapse = exactly 30 days without engagement on the as_of day
    last = engaged.set_index("client_id").last_day
    collapsed = sorted(set(last[(pd.Timestamp(day) - pd.to_datetime(last)).dt.days == 30].index) - {a, b, c, d, e})
    got = result.triggers.groupby("rule").client_id.apply(sorted).to_dict()
    assert got.get("balance_crosses") == [a]
    assert got.get("product_opened") == [c]
    assert got.get("engagement_collapse", []) == collapsed
    assert sorted(result.rescore.features.client_id) == sorted({a, c, *collapsed})
    # the same file again: events are not stored twice and trigger nothing new
    again = project.ingest_events(path)
    assert again.n_events == 0 and again.rescore is None
    with project.warehouse(read_only=True) as wh:
        assert wh.con.execute("SELECT count(*) FROM events").fetchone()[0] == 5
        # balance falls back below the threshold: crosses down
    down = _events(
        tmp_path / "down.csv",
        [{"client_id": a, "ts": f"{day} 12:00:00", "event_type": "balance", "balance": 99_999.0}],
    )
    assert project.ingest_events(down).triggers.client_id.tolist() == [a]


def test_rescored_clients_equal_a_full_batch(project, tmp_path):
    day, low, _ = _setup(project)
    targets = low[:3]
    # new transactions for the targets on the event day: their features really change
    with project.warehouse() as wh:
        new = wh.con.execute(
            "SELECT transaction_id || '-new' AS transaction_id, client_id, ts, "
            "abs(amount) * 3 AS amount, currency, category, channel, is_promotion, FALSE AS is_refund "
            "FROM transactions WHERE client_id IN (?, ?, ?) "
            "QUALIFY row_number() OVER (PARTITION BY client_id ORDER BY ts DESC) <= 2",
            targets,
        ).df()
        assert len(new)
        new["ts"] = pd.Timestamp(f"{day} 11:00")
        fold(wh, new)
        # and events appended outside the state: re-scoring rebuilds its engagement part
        wh.con.execute(
            "INSERT INTO engagement BY NAME SELECT client_id, ts + INTERVAL 1 HOUR AS ts, "
            "'web' AS channel, 'login' AS event_type FROM transactions "
            "WHERE transaction_id LIKE '%-new'"
        ).fetchall()
    rows = [{"client_id": t, "ts": f"{day} 12:00:00", "event_type": "product_opened",
             "product_type": "mortgage"} for t in targets]
    result = project.ingest_events(_events(tmp_path / "ev.csv", rows))
    opened = result.triggers[result.triggers.rule == "product_opened"]
    assert sorted(opened.client_id) == sorted(targets)
    targets = result.clients  # with the clients whose engagement lapsed that day
    with project.warehouse() as wh:
        # with the warehouse: the clv group scores with the stored model version, as events do
        full = compute_features(DuckDBEngine(wh.con), day, project.config.features, warehouse=wh)
        mine = full[full.client_id.isin(targets)].reset_index(drop=True)
        pd.testing.assert_frame_equal(result.rescore.features, mine, rtol=1e-9)
        wh.con.register("_full", full)
        wh.con.execute(f"CREATE TEMP TABLE snap AS SELECT *, DATE '{day}' AS as_of FROM _full")
        models = _current_models(wh.con)
        assert {m.dimension for m in models} == set(result.rescore.assignments.dimension)
        batch = pd.concat(
            [wh.con.execute(f"SELECT * FROM ({version_sql(m, 'snap', day)})").df() for m in models]
        )
    batch = batch[batch.client_id.isin(targets)].sort_values(["dimension", "client_id"])
    pd.testing.assert_frame_equal(
        result.rescore.assignments.reset_index(drop=True), batch.reset_index(drop=True)
    )


def test_history_opens_a_row_only_where_the_segment_changed(project, tmp_path):
    day, low, _ = _setup(project)
    a, b = low[:2]
    first = project.rescore([a, b], as_of=day - dt.timedelta(days=1))
    seg = first.assignments.set_index(["client_id", "dimension"]).segment_id
    dim = first.assignments.dimension.iloc[0]
    with project.warehouse() as wh:
        hist = wh.con.execute("SELECT * FROM segment_history ORDER BY client_id, dimension").df()
        assert len(hist) == len(first.assignments) and hist.valid_to.isna().all()
        # pretend client a had another segment in this dimension before
        wh.con.execute(
            "UPDATE segment_history SET segment_id = 'old', valid_from = DATE '2020-01-01' "
            "WHERE client_id = ? AND dimension = ?",
            [a, dim],
        )
    second = project.rescore([a, b], as_of=day)
    assert second.changes[["client_id", "dimension", "previous_segment_id"]].values.tolist() == [
        [a, dim, "old"]
    ]
    with project.warehouse(read_only=True) as wh:
        rows = wh.con.execute(
            "SELECT segment_id, valid_from, valid_to FROM segment_history "
            "WHERE client_id = ? AND dimension = ? ORDER BY valid_from",
            [a, dim],
        ).fetchall()
        n = wh.con.execute("SELECT count(*) FROM segment_history").fetchone()[0]
    assert rows == [
        ("old", dt.date(2020, 1, 1), day),
        (seg[(a, dim)], day, None),
    ]
    assert n == len(first.assignments) + 1


def test_cli_and_file_errors(project, tmp_path):
    day, low, _ = _setup(project)
    path = _events(
        tmp_path / "ev.csv",
        [{"client_id": low[0], "ts": f"{day} 09:00:00", "event_type": "product_opened",
          "product_type": "mortgage"}],
    )
    out = CliRunner().invoke(app, ["events", "ingest", str(path), "-p", str(project.root)])
    assert out.exit_code == 0, out.output
    assert "1 events stored;" in out.output and "product_opened: 1" in out.output
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"client_id": ["x"], "when": ["2024-01-01"]}).to_csv(bad, index=False)
    with pytest.raises(ColumnNotFoundError, match="bad.csv.*ts, event_type"):
        project.ingest_events(bad)
