"""Segment profitability, fully loaded, equals a hand computation with three cost components."""

from __future__ import annotations

import datetime as dt
import textwrap

import duckdb
import pytest

from segmint import Project
from segmint.targeting import client_profitability, segment_profitability

D = dt.date(2025, 6, 30)


def _warehouse() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE TABLE features AS SELECT * FROM (VALUES "
                "('a', DATE '2025-06-30', 100.0), ('b', DATE '2025-06-30', 50.0), "
                "('c', DATE '2025-06-30', 10.0), ('d', DATE '2025-06-30', NULL)) AS t(client_id, as_of, clv_12m)")
    con.execute("CREATE TABLE segment_assignments AS SELECT * FROM (VALUES "
                "('a', 'v', 'v-1', 'Gold', 1, DATE '2025-06-30', NULL), "
                "('b', 'v', 'v-1', 'Gold', 1, DATE '2025-06-30', NULL), "
                "('c', 'v', 'v-2', 'Basic', 1, DATE '2025-06-30', NULL), "
                "('d', 'v', 'v-2', 'Basic', 1, DATE '2025-06-30', NULL)) "
                "AS t(client_id, dimension, segment_id, segment_name, model_version, as_of, score)")
    con.execute("CREATE TABLE profitability AS SELECT * FROM (VALUES "
                "('a', DATE '2025-05-01', 60.0, 5.0), ('a', DATE '2025-06-01', 40.0, 5.0), "
                "('a', DATE '2024-06-01', 999.0, 999.0), "  # outside the 12-month window
                "('b', DATE '2025-01-01', 30.0, 2.0), ('c', DATE '2025-03-01', 8.0, 1.0)) "
                "AS t(client_id, period, revenue, cost)")
    con.execute("CREATE TABLE costs AS SELECT * FROM (VALUES "
                "('a', DATE '2025-05-01', 'acquisition', 20.0), ('a', DATE '2025-06-01', 'servicing', 10.0), "
                "('b', DATE '2025-01-01', 'servicing', 4.0), ('b', DATE '2025-01-01', 'funding/risk', 3.0), "
                "('c', DATE '2025-03-01', 'acquisition', 30.0), ('c', DATE '2025-03-01', 'servicing', 2.0), "
                "('d', DATE '2025-04-01', 'servicing', 1.0), "
                "('d', DATE '2025-08-01', 'servicing', 50.0)) "  # after the as_of
                "AS t(client_id, period, component, amount)")
    return con


def test_segment_profitability_equals_hand_computation():
    con = _warehouse()
    seg = segment_profitability(con, D, "v").set_index("segment_id")
    # Gold: a (rev 100, cost 10, acq 20, serv 10) + b (rev 30, cost 2, serv 4, funding 3)
    gold = seg.loc["v-1"]
    assert gold.clients == 2 and gold.revenue == pytest.approx(130.0)
    assert gold.cost_cost == pytest.approx(12.0)
    assert gold.cost_acquisition == pytest.approx(20.0)
    assert gold.cost_servicing == pytest.approx(14.0)
    assert gold.cost_funding_risk == pytest.approx(3.0)
    assert gold.total_cost == pytest.approx(49.0)
    assert gold.margin == pytest.approx(81.0) and gold.margin_per_client == pytest.approx(40.5)
    assert gold.clv == pytest.approx(150.0) and gold.clv_per_client == pytest.approx(75.0)
    # Basic: c (rev 8, cost 1, acq 30, serv 2) + d (serv 1; its August cost is after as_of)
    basic = seg.loc["v-2"]
    assert basic.revenue == pytest.approx(8.0) and basic.total_cost == pytest.approx(34.0)
    assert basic.margin == pytest.approx(-26.0) and bool(basic.unprofitable)
    assert not bool(gold.unprofitable)
    assert gold.share_of_clients == pytest.approx(0.5)
    assert gold.share_of_margin == pytest.approx(81.0 / 55.0)
    assert basic.share_of_margin == pytest.approx(-26.0 / 55.0)
    assert list(seg.index) == ["v-1", "v-2"]  # ranked by margin
    per_client = con.execute(f"SELECT * FROM {client_profitability(con, D)} ORDER BY client_id").df()
    assert per_client.margin.tolist() == pytest.approx([100 - 40, 30 - 9, 8 - 33, -1.0])


def test_costs_entity_loads_from_a_wide_finance_file(tmp_path):
    (tmp_path / "clients.csv").write_text("id\nc1\nc2\n")
    (tmp_path / "tx.csv").write_text("t,id,ts,a\nt1,c1,2025-01-05 10:00:00,10\nt2,c2,2025-01-06 10:00:00,5\n")
    (tmp_path / "fin.csv").write_text(
        "id,month,rev,serv,acq,risk\nc1,2025-01-01,10,1,5,0.5\nc2,2025-01-01,20,2,0,0.25\n"
    )
    comp = "\n".join(
        f"    - source: fin\n      columns: {{client_id: id, period: month, "
        f"component: {{sql: \"'{name}'\"}}, amount: {col}}}"
        for name, col in (("servicing", "serv"), ("acquisition", "acq"), ("funding_risk", "risk"))
    )
    (tmp_path / "segmint.yaml").write_text(textwrap.dedent("""\
        sources:
          crm: {path: clients.csv}
          tx: {path: tx.csv}
          fin: {path: fin.csv}
        entities:
          clients: {source: crm, columns: {client_id: id}}
          transactions: {source: tx, columns: {transaction_id: t, client_id: id, ts: ts, amount: a}}
          profitability: {source: fin, columns: {client_id: id, period: month, revenue: rev, cost: {sql: "0"}}}
          costs:
        """) + comp + "\n")
    project = Project.from_yaml(tmp_path / "segmint.yaml")
    report = project.ingest()
    assert report.entities["costs"].rows_in_table == 6
    with project.warehouse() as wh:
        rows = wh.con.execute(
            "SELECT component, sum(amount) FROM costs GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert rows == [("acquisition", 5.0), ("funding_risk", 0.75), ("servicing", 3.0)]
