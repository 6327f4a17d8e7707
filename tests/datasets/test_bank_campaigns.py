"""Generated campaigns: deterministic, other files unchanged, rates as planted."""

from __future__ import annotations

import duckdb
import pytest

from segmint.datasets import generate_bank
from segmint.errors import ParameterError


def test_campaigns_leave_the_other_files_unchanged_and_are_deterministic(tmp_path):
    plain = generate_bank(tmp_path / "plain", n_clients=1500, seed=9)
    a = generate_bank(tmp_path / "a", n_clients=1500, seed=9, campaigns=2)
    b = generate_bank(tmp_path / "b", n_clients=1500, seed=9, campaigns=2)
    for rel in ("crm/clients.csv", "holdings/holdings.parquet", "transactions/part-00000.parquet",
                "truth/segments.parquet"):
        assert (plain.out_dir / rel).read_bytes() == (a.out_dir / rel).read_bytes(), rel
    for name in ("exposures", "offers", "campaign_effects"):
        assert a.path(name).read_bytes() == b.path(name).read_bytes(), name
    assert not plain.path("exposures").exists()
    assert a.n_exposures > 2 * 1000


def test_conversion_rates_match_the_planted_ones(tmp_path):
    data = generate_bank(tmp_path / "c", n_clients=20_000, seed=1, campaigns=1)
    rows = duckdb.execute(
        f"""
        WITH e AS (SELECT * FROM read_csv('{data.path("exposures")}')),
             s AS (SELECT * FROM read_parquet('{data.path("segments")}')),
             o AS (SELECT customer_no FROM read_parquet('{data.path("offers")}'))
        SELECT s.segment, e.grp, count(*) AS n, avg(CASE WHEN o.customer_no IS NULL THEN 0 ELSE 1 END) AS rate
        FROM e JOIN s ON s.client_id = e.customer_no AND s.valid_from <= e.sent_on
             AND (s.valid_to IS NULL OR s.valid_to > e.sent_on)
        LEFT JOIN o ON o.customer_no = e.customer_no
        GROUP BY 1, 2
        """
    ).fetchall()
    truth = {
        seg: (base, eff)
        for seg, base, eff in duckdb.execute(
            f"SELECT segment, baseline, effect FROM read_csv('{data.path('campaign_effects')}')"
        ).fetchall()
    }
    assert len(rows) == 12
    for seg, grp, n, rate in rows:
        base, eff = truth[seg]
        p = base + (eff if grp == "treatment" else 0.0)
        assert abs(rate - p) < 4.5 * (p * (1 - p) / n) ** 0.5 + 1e-9, (seg, grp, rate, p)


def test_campaign_arguments_are_checked(tmp_path):
    with pytest.raises(ParameterError, match="campaigns"):
        generate_bank(tmp_path / "x", n_clients=10, campaigns=11)
    with pytest.raises(ParameterError, match="campaign_treated_share"):
        generate_bank(tmp_path / "x", n_clients=10, campaigns=1, campaign_treated_share=1.0)
