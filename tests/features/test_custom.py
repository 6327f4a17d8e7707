"""User-defined features: hand computations on DuckDB and Spark, refusals at load."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from segmint.config import FeaturesConfig, load_config
from segmint.errors import ConfigError, FeatureError
from segmint.features import compute_features

from .conftest import clients_frame, load_tables, tx_frame

AS_OF = "2024-03-31"

TX = [
    # the window: the 90 days ending at the end of as_of, [01-02 00:00, 04-01 00:00)
    ("a", "2024-01-01 23:00", 1900.0, "salary"),  # just before the window
    ("a", "2024-01-02 00:00", 2000.0, "salary"),  # its first instant
    ("a", "2024-02-01 09:00", 2100.0, "salary"),
    ("a", "2024-03-31 23:00", 2200.0, "salary"),  # the last hour of as_of
    ("a", "2024-04-01 00:00", 9999.0, "salary"),  # after as_of: never read
    ("a", "2024-03-10 12:00", 35.0, "food"),
    ("b", "2024-03-05 12:00", 80.0, "food"),
    ("b", "2023-12-01 12:00", 1500.0, "salary"),  # outside the window
]

CUSTOM = [
    {"name": "salary_payments_90d", "description": "Salary payments in the last 90 days",
     "unit": "count", "entity": "transactions", "filter": "category = 'salary'",
     "window_days": 90, "aggregate": "COUNT(*)"},
    {"name": "salary_mean_90d", "description": "Mean salary in the last 90 days",
     "unit": "EUR", "entity": "transactions", "filter": "category = 'salary'",
     "window_days": 90, "aggregate": "SUM(amount) / COUNT(*)"},
    {"name": "food_spend", "description": "Food spend, all time", "unit": "EUR",
     "entity": "transactions", "filter": "category = 'food'", "aggregate": "SUM(amount)",
     "if_no_data": 0},
    {"name": "products_open", "description": "Products opened and not closed as of the date",
     "unit": "count", "entity": "holdings", "aggregate": "COUNT(*) - COUNT(closed_at)",
     "if_no_data": 0},
]


def _warehouse(wh):
    holdings = pd.DataFrame({
        "client_id": ["a", "a", "b"], "product_id": ["p1", "p2", "p3"],
        "product": [None] * 3, "product_type": ["card", "loan", "card"],
        "opened_at": pd.to_datetime(["2020-01-01", "2021-01-01", "2024-05-01"]),
        # p2 closes after as_of: it is open as of the date (the closure is the future)
        "closed_at": pd.to_datetime([None, "2024-06-01", None]),
        "balance": [1.0, 2.0, 3.0],
    })
    return load_tables(
        wh, clients=clients_frame(["a", "b", "c"]),
        transactions=tx_frame([r + ("web", False) for r in TX]), holdings=holdings,
    )


def test_user_defined_features_equal_hand_computations(warehouse, engine_for):
    config = FeaturesConfig(groups=["custom"], custom=CUSTOM)
    f = compute_features(engine_for(_warehouse(warehouse)), AS_OF, config)
    rows = {r["client_id"]: r for r in f.to_dict("records")}
    a, b, c = rows["a"], rows["b"], rows["c"]
    assert (a["salary_payments_90d"], b["salary_payments_90d"], c["salary_payments_90d"]) == (3, 0, 0)
    assert a["salary_mean_90d"] == pytest.approx((2000 + 2100 + 2200) / 3)
    assert math.isnan(b["salary_mean_90d"]) and math.isnan(c["salary_mean_90d"])
    assert (a["food_spend"], b["food_spend"], c["food_spend"]) == (35.0, 80.0, 0.0)
    # a: p1 open, p2 closes in June (open as of March); b's card opens after as_of
    assert (a["products_open"], b["products_open"], c["products_open"]) == (2, 0, 0)


@pytest.mark.parametrize(
    ("aggregate", "problem"),
    [
        ("SUM(amt)", "reads 'amt', not a column of the entity"),
        ("amount * 2", "is not an aggregate"),
        ("SUM(amount) OVER ()", "window function"),
        ("(SELECT max(amount) FROM transactions)", "a query"),
        ("SUM(amount", "cannot parse"),
    ],
)
def test_a_bad_expression_is_refused_at_load_naming_the_feature(tmp_path, aggregate, problem):
    (tmp_path / "segmint.yaml").write_text(
        "sources: {crm: {path: c.csv}}\n"
        "entities: {clients: {source: crm, columns: {client_id: id}}}\n"
        "features:\n  custom:\n"
        f"    - {{name: big_spend, description: x, entity: transactions, aggregate: {aggregate!r}}}\n"
    )
    with pytest.raises(ConfigError, match=r"features\.custom\.big_spend\.aggregate: .*" + problem):
        load_config(tmp_path / "segmint.yaml")


def test_a_name_of_the_catalog_is_refused(warehouse):
    config = FeaturesConfig(custom=[dict(CUSTOM[0], name="frequency")])
    from segmint.features import DuckDBEngine

    with pytest.raises(FeatureError, match="features.custom.frequency: 'frequency' is already"):
        compute_features(DuckDBEngine(_warehouse(warehouse).con), AS_OF, config)
