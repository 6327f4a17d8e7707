"""k selection on the generated bank: stable under an as_of shift and a far extra k.

The generated bank (3,000 clients, six planted segments) is segmented at its last
transaction day, one day later and seven days later, each time refitting from scratch:
the chosen k must not move and the behaviour assignments must agree (ARI >= 0.95). The
sweep with ``k_max + 5`` added must choose the same k.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from segmint import Project
from segmint.datasets import generate_bank
from segmint.segmentation import KMeansSelector, PreprocessSpec
from segmint.segmentation._kmeans import nearest
from segmint.segmentation._select import sweep


@pytest.fixture(scope="module")
def shifted(tmp_path_factory):
    data = generate_bank(tmp_path_factory.mktemp("bank"), n_clients=3_000, seed=0)
    project = Project.from_yaml(data.config)
    project.ingest()
    base = project.default_as_of()
    runs = {}
    for days in (0, 1, 7):
        as_of = base + dt.timedelta(days=days)
        project.snapshot_features(as_of)
        runs[days] = project.segment(as_of, refit=True)
    return project, runs


def _behaviour(run):
    a = run.assignments
    return a[a.dimension == "behaviour"].set_index("client_id")["segment_id"]


@pytest.mark.slow
@pytest.mark.parametrize("days", [1, 7])
def test_as_of_shift_keeps_k_and_assignments(shifted, days):
    _, runs = shifted
    k0, k1 = runs[0].models["behaviour"].k, runs[days].models["behaviour"].k
    assert k0 == k1 == 6
    a, b = _behaviour(runs[0]), _behaviour(runs[days])
    both = a.index.intersection(b.index)
    ari = adjusted_rand_score(a[both], b[both])
    assert ari >= 0.95, f"ARI {ari:.3f} between as_of and as_of + {days} days"


@pytest.mark.slow
def test_far_k_does_not_change_the_choice(shifted):
    project, runs = shifted
    mv = runs[0].models["behaviour"]
    spec = PreprocessSpec.from_json(mv.params["preprocessing"])
    with project.warehouse(read_only=True) as wh:
        df = wh.con.execute(
            "SELECT * FROM features WHERE as_of = ? ORDER BY client_id", [runs[0].as_of]
        ).df()
    Z = spec.transform(df)
    est = KMeansSelector(random_state=0)

    def fit(rows, k, s):
        return est._fit_one(Z[rows], k, s)

    def predict(m, rows):
        return nearest(Z[rows], m.cluster_centers_)[0]

    args = dict(
        n_bootstrap=4, stability_threshold=0.85, metric_sample_size=1000,
        stability_sample_size=2000, random_state=0,
    )
    k_max = 10
    k, _, table = sweep(Z, list(range(2, k_max + 1)), fit, predict, **args)
    k_far, _, table_far = sweep(Z, [*range(2, k_max + 1), k_max + 5], fit, predict, **args)
    assert k == k_far == 6
    # every k's own evidence is the same whichever other k are in the sweep
    for a, b in zip(table, table_far, strict=False):
        assert a["silhouette"] == b["silhouette"] and a["stability"] == b["stability"]
    assert np.isfinite(table_far[-1]["silhouette"])
