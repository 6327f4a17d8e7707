"""Observable rules: fidelity, SQL export equal to the Python assignment, readable thresholds."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from segmint.profiles import Condition, SegmentRule, apply_rules, case_sql
from segmint.profiles._rules import format_number, rule_sql


def _features(wh) -> pd.DataFrame:
    return wh.con.execute("SELECT * FROM features ORDER BY client_id").df()


def test_rules_reproduce_well_separated_segments(catalog):
    d = catalog.dimension("behaviour")
    assert d.rules.fidelity >= 0.9
    assert all(len(s.rule.conditions) <= 4 for s in d.segments if s.rule)
    assert sum(s.rule is not None for s in d.segments) >= len(d.segments) - 1
    for s in d.segments:
        if s.rule:
            assert s.rule.precision >= 0.9 and s.rule.recall >= 0.8, (s.segment_id, s.rule)


def test_rule_dimensions_are_recovered(catalog):
    for name in ("value", "rfm"):
        assert catalog.dimension(name).rules.fidelity >= 0.95


def test_exported_sql_reproduces_python_assignment_exactly(example_wh, catalog):
    frame = _features(example_wh)
    for d in catalog.dimensions:
        rules = [s.rule for s in d.segments if s.rule]
        python = apply_rules(rules, d.rules.fallback, frame)
        sql = example_wh.con.execute(
            f"SELECT {d.rules.sql} AS seg FROM features ORDER BY client_id"
        ).fetchnumpy()["seg"]
        assert np.array_equal(python, np.asarray(sql, dtype=object)), d.dimension


def test_fidelity_is_agreement_with_assignment_over_all_clients(example_wh, catalog):
    d = catalog.dimension("behaviour")
    agree = example_wh.con.execute(
        f"""SELECT avg(CASE WHEN ({d.rules.sql}) = a.segment_id THEN 1 ELSE 0 END)
            FROM features f JOIN segment_assignments a USING (client_id) WHERE a.dimension = 'behaviour'"""
    ).fetchone()[0]
    assert d.rules.fidelity == agree


def test_precision_recall_coverage_definitions(example_wh, catalog):
    d = catalog.dimension("behaviour")
    s = next(s for s in d.segments if s.rule)
    hit, tp, pos, n = example_wh.con.execute(
        f"""SELECT count_if({s.rule.sql}), count_if(({s.rule.sql}) AND a.segment_id = '{s.segment_id}'),
                   count_if(a.segment_id = '{s.segment_id}'), count(*)
            FROM features f JOIN segment_assignments a USING (client_id) WHERE a.dimension = 'behaviour'"""
    ).fetchone()
    assert (s.rule.precision, s.rule.recall, s.rule.coverage) == (tp / hit, tp / pos, hit / n)


def test_thresholds_are_readable(catalog):
    for d in catalog.dimensions:
        for s in d.segments:
            for c in s.rule.conditions if s.rule else []:
                digits = format_number(c.threshold).replace("-", "").replace(".", "").strip("0")
                assert len(digits) <= 4, (d.dimension, c)


def test_rules_are_deterministic(example_wh, catalog):
    from segmint.profiles import build_catalog

    again = build_catalog(example_wh, project="example")
    assert [d.rules.sql for d in again.dimensions] == [d.rules.sql for d in catalog.dimensions]


def test_case_sql_first_match_wins_and_fallback():
    rules = [
        SegmentRule(segment_id="a", order=1, conditions=[Condition(feature="x", op="<=", threshold=5)],
                    sql=rule_sql([Condition(feature="x", op="<=", threshold=5)]), english="", precision=1,
                    recall=1, coverage=1),
        SegmentRule(segment_id="b", order=2, conditions=[Condition(feature="x", op="<=", threshold=10)],
                    sql=rule_sql([Condition(feature="x", op="<=", threshold=10)]), english="", precision=1,
                    recall=1, coverage=1),
    ]
    frame = pd.DataFrame({"x": [1.0, 7.0, 12.0, np.nan]})
    assert apply_rules(rules, "z", frame).tolist() == ["a", "b", "z", "z"]
    con = duckdb.connect()
    con.register("t", frame)
    assert [r[0] for r in con.execute(f"SELECT {case_sql(rules, 'z')} FROM t").fetchall()] == ["a", "b", "z", "z"]


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False), st.integers(-1000, 1000)),
                    min_size=1, max_size=30),
    thresholds=st.lists(st.tuples(st.sampled_from(["<=", ">"]),
                                  st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: float(f"{v:.3g}"))),
                        min_size=1, max_size=4),
)
def test_sql_and_python_agree_on_any_values_including_nulls(values, thresholds):
    frame = pd.DataFrame({"v": pd.array([None if v is None else float(v) for v in values], dtype="Float64")})
    conds = [Condition(feature="v", op=op, threshold=t) for op, t in thresholds]
    rules = [SegmentRule(segment_id=f"s{i}", order=i + 1, conditions=[c], sql=rule_sql([c]), english="",
                         precision=0, recall=0, coverage=0) for i, c in enumerate(conds)]
    con = duckdb.connect()
    con.register("t", frame)
    sql = [r[0] for r in con.execute(f"SELECT {case_sql(rules, 'none')} FROM t").fetchall()]
    assert apply_rules(rules, "none", frame).tolist() == sql


def test_dimension_without_numeric_features_gets_the_majority_as_fallback():
    import datetime as dt

    from segmint.profiles import fit_rules
    from segmint.profiles._profile import prepare
    from segmint.store import Warehouse

    wh = Warehouse(":memory:")
    wh.con.execute("CREATE TABLE features AS SELECT 'c' || i AS client_id, DATE '2024-01-01' AS as_of FROM range(5) t(i)")
    wh.con.execute(
        """CREATE TABLE segment_assignments AS SELECT 'c' || i AS client_id, 'd' AS dimension,
           CASE WHEN i < 3 THEN 'a' ELSE 'b' END AS segment_id, 'n' AS segment_name, 'v' AS model_version,
           DATE '2024-01-01' AS as_of, 1.0 AS score FROM range(5) t(i)"""
    )
    prepare(wh, dt.date(2024, 1, 1))
    rules, ruleset = fit_rules(wh.con, "d", [])
    assert rules == [] and ruleset.fallback == "a" and ruleset.fidelity == 0.6
    assert ruleset.sql == "'a'"


def test_rule_dimensions_show_their_own_definition_with_fidelity_one():
    """A fitted rule dimension is described by its own rules (no surrogate tree): the
    catalog's SQL is the dimension's CASE, fidelity 1.0, each segment's rule its `when`."""
    from segmint.config._segmentation import SegmentationConfig
    from segmint.profiles import build_catalog, example_warehouse
    from segmint.segmentation import run_segmentation
    from segmint.store import Warehouse

    wh = Warehouse(":memory:")
    example_warehouse(wh, 1500, seed=1)
    wh.con.execute("DROP TABLE segment_assignments")
    wh.con.execute("DROP TABLE segment_models")
    config = SegmentationConfig(
        include_defaults=False,
        dimensions=[{
            "name": "value", "kind": "rules", "default": "Low",
            "rules": [
                {"segment": "Top", "when": "clv_12m >= p90"},
                {"segment": "Active", "when": "recency_days <= 30 AND frequency >= 5"},
                {"segment": "Top", "when": "monetary_total >= p95"},
            ],
        }],
    )
    run_segmentation(wh, config)
    catalog = build_catalog(wh, project="t")
    d = catalog.dimension("value")
    assert d.rules.kind == "definition"
    assert d.rules.fidelity == 1.0
    top = next(s for s in d.segments if s.name == "Top")
    p90 = wh.con.execute("SELECT quantile_cont(clv_12m, 0.9) FROM features").fetchone()[0]
    assert top.rule.sql.startswith("(clv_12m >= ") and " OR " in top.rule.sql
    assert "12-month CLV at least its 90th percentile" in top.rule.english
    shown = f"{p90:,.0f}" if abs(p90) >= 1000 else f"{float(f'{p90:.4g}'):g}"
    assert f"its 90th percentile ({shown})" in top.rule.english
    assert top.rule.english.startswith("(") and ") or (" in top.rule.english
    active = next(s for s in d.segments if s.name == "Active")
    assert active.rule.english == (
        "days since the last purchase at most 30 and purchase days at least 5"
    )
    # the catalog's CASE, run on the features, gives every client's assigned segment
    got = wh.con.execute(
        f"SELECT count(*) FILTER (({d.rules.sql}) <> a.segment_id) FROM features f "
        "JOIN segment_assignments a USING (client_id) WHERE a.dimension = 'value'"
    ).fetchone()[0]
    assert got == 0
    wh.close()
