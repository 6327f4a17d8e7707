"""Latent class analysis: planted classes are recovered with k chosen by BIC."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from segmint.segmentation import GaussianMixtureSelector
from segmint.segmentation._lca import LatentClassAnalysis


def planted_classes(n: int = 1500, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three latent classes, eight categorical features of three levels each.

    Each class favours one level of every feature (probability 0.8, others 0.1),
    with the favoured level rotating by class and feature, so no single feature
    separates the classes.
    """
    rng = np.random.default_rng(seed)
    truth = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    levels = np.array(["a", "b", "c"])
    cols = []
    for j in range(8):
        favoured = (truth + j) % 3 if j % 2 == 0 else (2 * truth + j) % 3
        other = (favoured + rng.integers(1, 3, size=n)) % 3
        keep = rng.random(n) < 0.8
        cols.append(levels[np.where(keep, favoured, other)])
    return np.column_stack(cols), truth


def test_lca_recovers_three_planted_classes_with_k_from_bic():
    X, truth = planted_classes()
    lca = LatentClassAnalysis(k_max=6, n_bootstrap=3, random_state=0).fit(X)
    ari = adjusted_rand_score(truth, lca.labels_)
    assert lca.n_clusters_ == 3, lca.evidence_
    assert ari >= 0.9, f"ARI {ari:.3f}"
    best = [r for r in lca.evidence_ if r.get("best")]
    assert len(best) == 1 and best[0]["k"] == 3
    bics = {r["k"]: r["bic"] for r in lca.evidence_}
    assert min(bics, key=bics.get) == 3


@pytest.mark.parametrize("extra", [0, 5])
def test_lca_choice_does_not_depend_on_far_k(extra):
    X, _ = planted_classes(n=900, seed=1)
    lca = LatentClassAnalysis(k_max=5 + extra, n_bootstrap=2, random_state=0).fit(X)
    assert lca.n_clusters_ == 3


def test_gmm_k_follows_bic():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [6, 0], [0, 6]])
    X = np.vstack([rng.normal(c, 1.0, size=(300, 2)) for c in centres])
    gm = GaussianMixtureSelector(k_max=6, n_bootstrap=2, random_state=0).fit(X)
    bics = {r["k"]: r["bic"] for r in gm.evidence_}
    assert gm.n_clusters_ == 3 == min(bics, key=bics.get)
