"""Cross-sell affinity: rules equal hand counts and mlxtend's apriori; per-segment rules and
upgrade paths are computed in the engine."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mlxtend.frequent_patterns import apriori
from mlxtend.frequent_patterns import association_rules as mlx_rules

from segmint.targeting import affinity_statements, association_rules, upgrade_paths

D = dt.date(2025, 6, 30)

# ten clients; c10 holds nothing (an empty basket still counts in n)
BASKETS = {
    "c1": ["card", "savings"], "c2": ["card", "savings"], "c3": ["card", "savings", "loan"],
    "c4": ["card"], "c5": ["card", "loan"], "c6": ["savings"], "c7": ["savings", "loan"],
    "c8": ["loan"], "c9": ["card", "savings"], "c10": [],
}
SEGMENT = {"c1": "s1", "c2": "s1", "c3": "s1", "c4": "s1", "c5": "s2", "c6": "s2", "c7": "s2",
           "c8": "s2", "c9": "s1", "c10": "s2"}


def _warehouse(baskets=BASKETS, segment=SEGMENT, opened=None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE TABLE features (client_id VARCHAR, as_of DATE)")
    con.executemany("INSERT INTO features VALUES (?, ?)", [[c, D] for c in baskets])
    con.execute(
        "CREATE TABLE segment_assignments (client_id VARCHAR, dimension VARCHAR, segment_id VARCHAR, "
        "segment_name VARCHAR, model_version INTEGER, as_of DATE, score DOUBLE)"
    )
    con.executemany(
        "INSERT INTO segment_assignments VALUES (?, 'behaviour', ?, ?, 1, ?, NULL)",
        [[c, s, s.upper(), D] for c, s in segment.items()],
    )
    con.execute(
        "CREATE TABLE holdings (client_id VARCHAR, product_id VARCHAR, product_type VARCHAR, "
        "opened_at DATE, closed_at DATE)"
    )
    rows = []
    for c, items in baskets.items():
        for i, item in enumerate(items):
            day = (opened or {}).get((c, item), D - dt.timedelta(days=100 - 10 * i))
            rows.append([c, f"{c}-{item}", item, day, None])
    # a closed product is not held
    rows.append(["c10", "c10-x", "mortgage", D - dt.timedelta(days=300), D - dt.timedelta(days=1)])
    con.executemany("INSERT INTO holdings VALUES (?, ?, ?, ?, ?)", rows)
    return con


def _mlxtend(baskets: dict[str, list[str]]) -> pd.DataFrame:
    items = sorted({i for b in baskets.values() for i in b})
    onehot = pd.DataFrame([[i in b for i in items] for b in baskets.values()], columns=items)
    freq = apriori(onehot, min_support=1e-9, use_colnames=True, max_len=2)
    rules = mlx_rules(freq, metric="support", min_threshold=0.0, num_itemsets=len(onehot))
    rules = rules[(rules.antecedents.apply(len) == 1) & (rules.consequents.apply(len) == 1)].copy()
    rules["antecedent"] = rules.antecedents.apply(lambda s: next(iter(s)))
    rules["consequent"] = rules.consequents.apply(lambda s: next(iter(s)))
    return rules.set_index(["antecedent", "consequent"]).sort_index()


def test_rules_equal_hand_counts_and_mlxtend():
    con = _warehouse()
    rules = association_rules(con, D)
    glob = rules[rules.segment == "(all)"].set_index(["antecedent", "consequent"]).sort_index()
    # by hand: card 6/10, savings 6/10, card & savings 4/10
    r = glob.loc[("card", "savings")]
    assert r["count"] == 4 and r.clients == 10
    assert r.support == pytest.approx(0.4)
    assert r.confidence == pytest.approx(4 / 6)
    assert r.lift == pytest.approx((4 / 6) / 0.6)
    assert r.leverage == pytest.approx(0.4 - 0.36)
    assert r.conviction == pytest.approx((1 - 0.6) / (1 - 4 / 6))
    ref = _mlxtend(BASKETS)
    assert set(glob.index) == set(ref.index)
    for col, mcol in [("support", "support"), ("antecedent_support", "antecedent support"),
                      ("consequent_support", "consequent support"), ("confidence", "confidence"),
                      ("lift", "lift"), ("leverage", "leverage"), ("conviction", "conviction")]:
        np.testing.assert_allclose(glob[col].to_numpy(), ref.loc[glob.index, mcol].to_numpy(), rtol=1e-12)


def test_rules_within_each_segment_equal_mlxtend_on_that_segment():
    con = _warehouse()
    rules = association_rules(con, D, dimension="behaviour")
    for seg in ("s1", "s2"):
        mine = rules[rules.segment == seg].set_index(["antecedent", "consequent"]).sort_index()
        ref = _mlxtend({c: b for c, b in BASKETS.items() if SEGMENT[c] == seg})
        assert set(mine.index) == set(ref.index)
        np.testing.assert_allclose(mine.lift.to_numpy(), ref.loc[mine.index, "lift"].to_numpy())
        np.testing.assert_allclose(mine.support.to_numpy(), ref.loc[mine.index, "support"].to_numpy())
    # s1: savings among card holders 4/5 = 0.8; population support of savings 0.6
    r = rules[(rules.segment == "s1") & (rules.antecedent == "card") & (rules.consequent == "savings")]
    assert r.population_lift.item() == pytest.approx(0.8 / 0.6)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sets(st.sampled_from(["a", "b", "c", "d"])), min_size=2, max_size=30))
def test_rules_equal_mlxtend_on_random_baskets(sets):
    baskets = {f"c{i}": sorted(s) for i, s in enumerate(sets)}
    con = _warehouse(baskets, {c: "s" for c in baskets})
    rules = association_rules(con, D)
    glob = rules[rules.segment == "(all)"].set_index(["antecedent", "consequent"]).sort_index()
    if not any(len(b) >= 2 for b in baskets.values()):
        assert glob.empty
        return
    ref = _mlxtend(baskets)
    assert set(glob.index) == set(ref.index)
    np.testing.assert_allclose(glob.confidence.to_numpy(), ref.loc[glob.index, "confidence"].to_numpy())
    np.testing.assert_allclose(glob.lift.to_numpy(), ref.loc[glob.index, "lift"].to_numpy())


def test_upgrade_paths_by_hand():
    opened = {  # card first, savings 30 / 50 / 70 days later, loan after savings
        ("c1", "card"): D - dt.timedelta(days=200), ("c1", "savings"): D - dt.timedelta(days=170),
        ("c2", "card"): D - dt.timedelta(days=200), ("c2", "savings"): D - dt.timedelta(days=150),
        ("c3", "card"): D - dt.timedelta(days=200), ("c3", "savings"): D - dt.timedelta(days=130),
        ("c3", "loan"): D - dt.timedelta(days=10),
        ("c5", "card"): D - dt.timedelta(days=90), ("c5", "loan"): D - dt.timedelta(days=90),
        ("c9", "card"): D - dt.timedelta(days=5), ("c9", "savings"): D - dt.timedelta(days=50),
    }
    con = _warehouse(opened=opened)
    paths = upgrade_paths(con, D, dimension="behaviour")
    glob = paths[paths.segment == "(all)"].set_index(["from_product", "to_product"])
    cs = glob.loc[("card", "savings")]
    # card holders: c1 c2 c3 c4 c5 c9 (6); next is savings for c1 c2 c3 (c5's loan is same-day)
    assert cs.clients == 3 and cs.holders == 6 and cs.rate == pytest.approx(0.5)
    assert cs.median_days == 50
    assert glob.loc[("savings", "loan")].clients == 2  # c3; and c7 (savings then loan by index)
    s1 = paths[(paths.segment == "s1")].set_index(["from_product", "to_product"]).loc[("card", "savings")]
    assert s1.rate == pytest.approx(3 / 5) and s1.lift == pytest.approx((3 / 5) / 0.5)
    text = affinity_statements(paths, {"s1": "Savers"}, min_count=1, min_lift=1.1)
    assert "Savers" in text and any("hold a card open savings next at 1.2x" in t for t in text["Savers"])


def test_categories_are_baskets_too():
    con = _warehouse()
    con.execute("CREATE TABLE transactions (client_id VARCHAR, ts TIMESTAMP, amount DOUBLE, category VARCHAR)")
    con.executemany("INSERT INTO transactions VALUES (?, ?, ?, ?)", [
        ["c1", "2025-06-01 10:00", 10.0, "travel"], ["c1", "2025-06-02 10:00", 5.0, "dining"],
        ["c2", "2025-06-03 10:00", 8.0, "travel"], ["c2", "2025-06-03 11:00", -8.0, "dining"],
        ["c3", "2024-01-01 10:00", 8.0, "dining"], ["c3", "2025-07-01 10:00", 8.0, "travel"],
    ])
    rules = association_rules(con, D, items="categories", window_days=365)
    r = rules.set_index(["antecedent", "consequent"]).loc[("travel", "dining")]
    # travel: c1, c2 (c3's is after as_of); dining: c1 (c2's is a refund, c3's is too old)
    assert r["count"] == 1 and r.confidence == pytest.approx(0.5) and r.lift == pytest.approx(0.5 / 0.1)


def test_catalog_segments_carry_their_cross_sell_paths():
    """attach_cross_sell fills each catalog segment with its own segment's statements."""
    from types import SimpleNamespace

    from segmint.targeting import attach_cross_sell

    opened = {("c1", "card"): D - dt.timedelta(days=200), ("c1", "savings"): D - dt.timedelta(days=170),
              ("c2", "card"): D - dt.timedelta(days=200), ("c2", "savings"): D - dt.timedelta(days=150),
              ("c3", "card"): D - dt.timedelta(days=200), ("c3", "savings"): D - dt.timedelta(days=130)}
    con = _warehouse(opened=opened)
    segs = [SimpleNamespace(segment_id=s, cross_sell=None) for s in ("s1", "s2")]
    catalog = SimpleNamespace(as_of=D, dimensions=[SimpleNamespace(dimension="behaviour", segments=segs)])
    attach_cross_sell(con, catalog, min_count=1)
    want = affinity_statements(upgrade_paths(con, D, dimension="behaviour"), min_count=1)
    assert segs[0].cross_sell == want["s1"] and segs[0].cross_sell  # s1: card -> savings
    assert segs[1].cross_sell == want.get("s2", [])
    con.execute("DROP TABLE holdings")
    segs[0].cross_sell = ["untouched"]
    attach_cross_sell(con, catalog)  # no holdings: nothing to say, nothing changed
    assert segs[0].cross_sell == ["untouched"]


def test_the_stored_catalog_and_its_markdown_show_cross_sell(cycled):
    from segmint.profiles import catalog_markdown, load_catalog

    built = cycled.catalog()  # as released: small segments suppressed
    lines = [(s.segment_id, line) for d in built.dimensions for s in d.segments for line in s.cross_sell]
    assert lines, "the generated bank holds products: some segment has an upgrade path"
    with cycled.warehouse() as wh:
        stored = load_catalog(wh, version=built.version)  # the full copy
    for d_full, d_rel in zip(stored.dimensions, built.dimensions, strict=True):
        for full, rel in zip(d_full.segments, d_rel.segments, strict=True):
            # a suppressed segment's paths are withheld with its profile
            assert rel.cross_sell == ([] if rel.profile.suppressed else full.cross_sell)
    text = catalog_markdown(built)
    assert "Cross-sell:" in text and all(line in text for _, line in lines)
