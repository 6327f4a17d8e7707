import pytest
from seg_data import load_features, make_features

from segmint.config._segmentation import DimensionConfig, SegmentationConfig
from segmint.errors import ConfigError, FeatureError
from segmint.segmentation import fit_rules, run_segmentation
from segmint.segmentation._defaults import default_dimensions

COLUMNS = {"clv_12m", "recency_days", "frequency", "tenure_days"}


def _dim(*rules, default="Other", **kw):
    return DimensionConfig(
        name="tiers",
        kind="rules",
        default=default,
        rules=[{"segment": s, "when": w} for s, w in rules],
        **kw,
    )


def test_unknown_feature_names_dimension_rule_and_feature(warehouse):
    dim = _dim(("Top", "clv_12m >= p90"), ("Active", "recency_dayz <= 30"))
    with pytest.raises(FeatureError) as err:
        fit_rules(warehouse.con, "(SELECT 1)", dim, COLUMNS)
    msg = str(err.value)
    assert "tiers" in msg and "rules[1]" in msg and "'Active'" in msg and "recency_dayz" in msg
    assert "did you mean recency_days" in msg


def test_unparseable_and_query_rules_are_refused(warehouse):
    # refused when the project file is loaded (config/_sql.py) ...
    with pytest.raises(ValueError, match=r"rules\.0\.when[\s\S]*cannot parse"):
        _dim(("A", "clv_12m >= AND"))
    with pytest.raises(ValueError, match=r"a query \(SELECT\) is not allowed"):
        _dim(("A", "clv_12m IN (SELECT 1)"))
    with pytest.raises(ValueError, match=r"function read_text\(\) is not allowed"):
        _dim(("A", "read_text('/etc/hostname') IS NULL"))
    # ... and again when a dimension built without validation is fitted
    dim = _dim(("A", "clv_12m > 1"))
    bad = dim.model_copy(update={"rules": [r.model_copy(update={"when": "clv_12m IN (SELECT 1)"})
                                           for r in dim.rules]})
    with pytest.raises(ConfigError, match="not a query"):
        fit_rules(warehouse.con, "x", bad, COLUMNS)
    with pytest.raises(ConfigError, match="must be compared with a feature"):
        fit_rules(warehouse.con, "x", _dim(("A", "p90 > 3")), COLUMNS)


def test_config_requires_default_and_rules():
    with pytest.raises(ValueError, match="needs a `default`"):
        DimensionConfig(name="x", kind="rules", rules=[{"segment": "a", "when": "frequency > 1"}])
    with pytest.raises(ValueError, match="needs `rules`"):
        DimensionConfig(name="x", kind="rules", default="a")


def test_percentiles_resolved_recorded_and_first_match_wins(warehouse):
    warehouse.con.execute(
        "CREATE TABLE f AS SELECT 'c' || i AS client_id, i * 1.0 AS clv_12m, "
        "CASE WHEN i % 10 = 0 THEN NULL ELSE i END AS recency_days FROM range(1, 101) t(i)"
    )
    dim = _dim(
        ("Top", "clv_12m >= p90"),
        ("Mid", "clv_12m BETWEEN p50 AND p90"),
        ("Recent", "recency_days < 5"),
    )
    params = fit_rules(warehouse.con, "f", dim, COLUMNS)
    assert params["percentiles"]["clv_12m"] == {"p50": 50.5, "p90": pytest.approx(90.1)}
    from segmint.segmentation._rules import rules_label_sql

    rows = dict(
        warehouse.con.execute(f"SELECT clv_12m, {rules_label_sql(params)} FROM f").fetchall()
    )
    assert rows[100.0] == 0 and rows[91.0] == 0  # Top
    assert rows[60.0] == 1 and rows[90.0] == 1  # Mid (first match wins over nothing)
    assert rows[3.0] == 2  # Recent
    assert rows[10.0] == 3 and rows[20.0] == 3  # recency null: no match -> default


def test_exclusive_overlap_is_rejected(warehouse):
    warehouse.con.execute("CREATE TABLE f AS SELECT i * 1.0 AS frequency FROM range(10) t(i)")
    dim = _dim(("A", "frequency > 3"), ("B", "frequency < 5"), order="exclusive")
    with pytest.raises(
        ConfigError, match=r"rules\[0\] \('A'\) and rules\[1\] \('B'\) both match 1"
    ):
        fit_rules(warehouse.con, "f", dim, COLUMNS)
    ok = _dim(("A", "frequency > 3"), ("B", "frequency <= 3"), order="exclusive")
    assert len(fit_rules(warehouse.con, "f", ok, COLUMNS)["segments"]) == 3


def test_rfm_map_names_every_cell_once(warehouse):
    dims, _ = default_dimensions({"r_score", "f_score", "m_score"})
    rfm = next(d for d in dims if d.name == "rfm")
    warehouse.con.execute(
        "CREATE TABLE s AS SELECT r AS r_score, f AS f_score, m AS m_score "
        "FROM range(1, 6) a(r), range(1, 6) b(f), range(1, 6) c(m)"
    )
    params = fit_rules(warehouse.con, "s", rfm, {"r_score", "f_score", "m_score"})
    from segmint.segmentation._rules import rules_label_sql

    names = [s["name"] for s in params["segments"]]
    got = warehouse.con.execute(
        f"SELECT r_score, f_score, m_score, {rules_label_sql(params)} FROM s"
    ).fetchall()
    assert {names[g[3]] for g in got} == {
        "Champions",
        "Loyal",
        "Potential Loyalists",
        "New",
        "Promising",
        "Need Attention",
        "About to Sleep",
        "Can't Lose Them",
        "At Risk",
        "Hibernating",
        "Lost",
    }
    by_cell: dict[tuple[int, int], set[str]] = {}
    for r, f, m, lab in got:
        by_cell.setdefault((r, (f + m + 1) // 2), set()).add(names[lab])
    assert len(by_cell) == 25 and all(len(v) == 1 for v in by_cell.values())  # one name per cell
    cell = {key: next(iter(v)) for key, v in by_cell.items()}
    assert cell[(5, 5)] == "Champions" and cell[(5, 1)] == "New" and cell[(1, 1)] == "Lost"
    assert cell[(1, 5)] == "Can't Lose Them" and cell[(3, 3)] == "Need Attention"
    assert cell[(4, 4)] == "Loyal" and cell[(2, 4)] == "At Risk" and cell[(2, 1)] == "Hibernating"


def test_value_falls_back_to_monetary_total(warehouse):
    df, _ = make_features(400)
    load_features(warehouse, df.drop(columns=["clv_12m"]))
    run = run_segmentation(
        warehouse,
        SegmentationConfig(
            dimensions=[
                DimensionConfig(
                    name="behaviour",
                    kind="rules",
                    default="All",
                    rules=[{"segment": "Many", "when": "frequency > 100"}],
                )
            ]
        ),
    )
    assert run.models["value"].params["features"] == ["monetary_total"]
    sizes = run.sizes[run.sizes.dimension == "value"].set_index("segment_name").clients
    assert sizes["Top"] == 40 and sizes["Low"] == 160


def test_the_built_in_dimension_names_are_the_ones_config_knows():
    from segmint.config._segmentation import DEFAULT_DIMENSIONS
    from segmint.features.docs import catalog

    every = {f["name"] for f in catalog()}
    dims, skipped = default_dimensions(every)
    assert not skipped
    assert [d.name for d in dims] == list(DEFAULT_DIMENSIONS)
