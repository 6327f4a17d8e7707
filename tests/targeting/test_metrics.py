import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from segmint.targeting import deciles, expected_calibration_error, gains_table, score_metrics


def test_ece_hand_computed():
    # bin [0.2, 0.3): mean 0.25, rate 0.5 -> 0.25; bin [0.7, 0.8): mean 0.75, rate 0.5 -> 0.25
    assert expected_calibration_error([0, 1, 0, 1], [0.25, 0.25, 0.75, 0.75]) == pytest.approx(0.25)
    # perfectly calibrated bins: 0
    y = [1, 0, 0, 0, 0, 1, 1, 1, 1, 0]
    p = [0.2] * 5 + [0.8] * 5
    assert expected_calibration_error(y, p) == pytest.approx(0.0)
    # weights by bin size: 3 rows at 0.05 (rate 0) and 1 row at 0.95 (rate 0)
    assert expected_calibration_error([0, 0, 0, 0], [0.05, 0.05, 0.05, 0.95]) == pytest.approx(
        (3 * 0.05 + 0.95) / 4
    )


def test_gains_hand_computed():
    # 20 clients, scores 0..19; positives: the 2 highest and one in the middle
    y = np.zeros(20, int)
    y[[19, 18, 9]] = 1
    rows = gains_table(y, np.arange(20.0))
    assert [r["decile"] for r in rows] == list(range(10, 0, -1))
    assert all(r["n"] == 2 for r in rows)
    top = rows[0]
    assert top["positives"] == 2 and top["rate"] == 1.0
    assert top["lift"] == pytest.approx(1.0 / (3 / 20))
    assert top["gains"] == pytest.approx(2 / 3)
    assert rows[-1]["gains"] == pytest.approx(1.0)
    assert rows[5]["positives"] == 1  # client 9 is in decile 5


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=10, max_size=300))
def test_deciles_are_balanced_and_monotone(scores):
    d = deciles(scores)
    counts = np.bincount(d, minlength=11)[1:]
    assert counts.max() - counts.min() <= 1
    s = np.asarray(scores)
    order = np.argsort(s, kind="stable")
    assert np.all(np.diff(d[order]) >= 0)


def test_score_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    p = rng.random(500)
    y = (rng.random(500) < p).astype(int)
    m = score_metrics(y, p)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert m["brier"] == pytest.approx(np.mean((p - y) ** 2))
    assert m["ece"] < 0.08  # drawn from its own probabilities
    naive = score_metrics(y, -p, probability=False)
    assert "brier" not in naive and naive["roc_auc"] == pytest.approx(1 - m["roc_auc"])
