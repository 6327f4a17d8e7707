"""A warehouse holding a generated bank's campaigns, outcomes and planted personas.

The canonical tables are read straight from the generated files with DuckDB (the
ingestion stage has its own tests), so a test can afford many seeds.
"""

from __future__ import annotations

from segmint.datasets import generate_bank
from segmint.store import Warehouse


def bank_warehouse(out, *, seed: int, n_clients: int = 2000, campaigns: int = 1, transactions: bool = False):
    """Generate a bank with campaigns and load it; returns ``(warehouse, data, config)``."""
    from segmint.config import load_config

    data = generate_bank(out, n_clients=n_clients, seed=seed, campaigns=campaigns)
    wh = Warehouse(":memory:")
    con = wh.con
    con.execute(
        f"""CREATE TABLE campaigns AS SELECT customer_no AS client_id, campaign_code AS campaign,
            grp AS arm, CAST(sent_on AS DATE) AS sent_at, channel, offer
            FROM read_csv('{data.path("exposures")}')"""
    )
    con.execute(
        f"""CREATE TABLE holdings AS SELECT customer_no AS client_id, account_id AS product_id,
            product_name AS product, product_type, opened AS opened_at, closed AS closed_at, balance
            FROM read_parquet('{out}/holdings/*.parquet')"""
    )
    con.execute(
        f"""CREATE TABLE clients AS SELECT customer_no AS client_id, region
            FROM read_csv('{data.path("clients")}')"""
    )
    if transactions:
        con.execute(
            f"""CREATE TABLE transactions AS SELECT CAST(txn_id AS VARCHAR) AS transaction_id,
                customer_no AS client_id, booked_at AS ts, amount_cents / 100.0 AS amount,
                CAST(mcc_category AS VARCHAR) AS category, promo AS is_promotion
                FROM read_parquet('{out}/transactions/*.parquet')"""
        )
    # the planted persona of every client on the day before each campaign's send date
    con.execute(
        f"""CREATE TABLE segment_assignments AS
            SELECT s.client_id, 'persona' AS dimension, s.segment AS segment_id,
                   s.segment AS segment_name, 1 AS model_version, d.day AS as_of, NULL::DOUBLE AS score
            FROM read_parquet('{data.path("segments")}') s
            JOIN (SELECT DISTINCT sent_at - INTERVAL 1 DAY AS day FROM campaigns) d
              ON s.valid_from <= d.day AND (s.valid_to IS NULL OR s.valid_to > d.day)"""
    )
    con.execute(
        f"""CREATE TABLE truth AS SELECT * FROM read_csv('{data.path("campaign_effects")}')"""
    )
    return wh, data, load_config(data.config)


def persona_project(out, *, n_clients: int, seed: int, campaigns: int):
    """A generated bank, ingested, with features and the planted personas as the
    ``persona`` dimension on the day before its first campaign; returns ``(project, data)``."""
    import datetime as dt

    import pandas as pd

    from segmint import Project

    data = generate_bank(out, n_clients=n_clients, seed=seed, campaigns=campaigns)
    project = Project.from_yaml(data.config)
    project.ingest()
    first = pd.read_csv(data.path("campaign_effects"))["sent_on"].min()
    day = dt.date.fromisoformat(first) - dt.timedelta(days=1)
    project.features(day)
    with project.warehouse() as wh:
        wh.con.execute(
            f"""CREATE TABLE segment_assignments AS SELECT client_id, 'persona' AS dimension,
                segment AS segment_id, segment AS segment_name, 1 AS model_version,
                DATE '{day}' AS as_of, NULL::DOUBLE AS score
                FROM read_parquet('{data.path("segments")}')
                WHERE valid_from <= DATE '{day}' AND (valid_to IS NULL OR valid_to > DATE '{day}')"""
        )
    return project, data
