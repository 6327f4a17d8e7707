"""Every per-persona lift interval covers the planted effect in >= 90% of seeds."""

import numpy as np
import pytest

from segmint.targeting import analyze_campaign

from .bank import bank_warehouse

SEEDS = range(20)


@pytest.mark.slow
def test_per_segment_intervals_cover_the_planted_effect(tmp_path):
    covered: dict[str, list[bool]] = {}
    zero_covers_zero: list[bool] = []
    for seed in SEEDS:
        wh, _, cfg = bank_warehouse(tmp_path / f"b{seed}", seed=seed, n_clients=2000)
        with wh:
            result = analyze_campaign(wh, cfg.experiments, "cmp01", by="persona")
            truth = dict(
                wh.con.execute("SELECT segment, effect FROM truth WHERE campaign = 'cmp01'").fetchall()
            )
        lifts = result.lifts.set_index("segment")
        assert set(truth) <= set(lifts.index)
        for seg, effect in truth.items():
            lo, hi = lifts.loc[seg, "lift_low"], lifts.loc[seg, "lift_high"]
            covered.setdefault(seg, []).append(bool(lo <= effect <= hi))
            if effect == 0:
                zero_covers_zero.append(bool(lo <= 0 <= hi))
    rates = {seg: float(np.mean(v)) for seg, v in covered.items()}
    print("coverage per persona over", len(SEEDS), "seeds:", rates)
    assert all(r >= 0.9 for r in rates.values()), rates
    assert zero_covers_zero and np.mean(zero_covers_zero) >= 0.9
