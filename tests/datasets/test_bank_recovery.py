"""The planted segments are recoverable from standard behaviour features.

The segmentation stage must recover them with k-means at an adjusted Rand index of at
least 0.9; this checks the data make that possible, with features computed here in SQL
over the last 12 months (frequency, mean spend, recency, category, channel, promotion
and weekend shares, engagement events).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

FEATURES = """
WITH tx AS (
    SELECT * FROM read_parquet('{d}/transactions/*.parquet')
    WHERE booked_at >= TIMESTAMP '2025-01-01'
),
w AS (
    SELECT customer_no,
        count(*) AS n,
        avg(abs(amount_cents)) / 100 AS spend,
        date_diff('day', max(booked_at), TIMESTAMP '2026-01-01') AS recency,
        avg(promo::INT) AS promo,
        avg((dayofweek(booked_at) IN (0, 6))::INT) AS weekend,
        avg((channel IN ('web', 'mobile'))::INT) AS digital,
        avg((channel = 'branch')::INT) AS branch,
        avg((mcc_category = 'grocery')::INT) AS grocery,
        avg((mcc_category IN ('travel', 'dining'))::INT) AS travel_dining,
        avg((mcc_category IN ('online_retail', 'entertainment'))::INT) AS online
    FROM tx GROUP BY 1
),
e AS (
    SELECT customer_no, count(*) AS events
    FROM read_parquet('{d}/engagement/*.parquet')
    WHERE event_time >= TIMESTAMP '2025-01-01' GROUP BY 1
),
truth AS (
    SELECT client_id, segment FROM read_parquet('{d}/truth/segments.parquet')
    WHERE valid_to IS NULL  -- the segment at the end date
)
SELECT truth.segment,
    log(1 + coalesce(n, 0)) AS n, log(1 + coalesce(spend, 0)) AS spend,
    log(1 + coalesce(recency, 366)) AS recency, coalesce(promo, 0) AS promo,
    coalesce(weekend, 0) AS weekend, coalesce(digital, 0) AS digital,
    coalesce(branch, 0) AS branch, coalesce(grocery, 0) AS grocery,
    coalesce(travel_dining, 0) AS travel_dining, coalesce(online, 0) AS online,
    log(1 + coalesce(events, 0)) AS events
FROM truth LEFT JOIN w ON w.customer_no = truth.client_id
LEFT JOIN e ON e.customer_no = truth.client_id
ORDER BY truth.client_id
"""


@pytest.mark.slow
def test_kmeans_recovers_the_planted_segments(clean):
    frame = duckdb.sql(FEATURES.format(d=clean.out_dir.as_posix())).df()
    x = frame.drop(columns="segment").to_numpy(dtype=float)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    k = frame.segment.nunique()
    assert k == 6
    labels = KMeans(n_clusters=k, n_init=20, random_state=0).fit_predict(x)
    ari = adjusted_rand_score(frame.segment, labels)
    assert ari >= 0.9, f"adjusted Rand index {ari:.3f}"
    # and the segments are not trivially separated: k-means on frequency alone fails
    alone = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(x[:, :1])
    assert adjusted_rand_score(frame.segment, alone) < 0.6
    assert np.isfinite(x).all()
