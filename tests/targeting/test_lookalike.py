"""Lookalikes: the planted persona split (seed / rest) is recovered; curves are monotone."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from segmint.config import AudienceConfig
from segmint.datasets import planted_lookalike
from segmint.errors import ParameterError
from segmint.targeting import build_audience, lookalike, reach_curve, seed_clients

D = dt.date(2025, 12, 31)


@pytest.mark.parametrize(("persona", "method"), [
    ("digital_first", "cosine"), ("dormant", "cosine"), ("affluent_loyalist", "centroid"),
    ("lapsed_high_spender", "classifier"),
])
def test_expansion_recovers_the_planted_rest(cycled, persona, method):
    seed, rest = planted_lookalike(cycled.root, persona=persona, seed_share=0.3)
    assert len(seed) > 40 and len(rest) > 2 * len(seed) - 10
    with cycled.warehouse() as wh:
        res = lookalike(wh, seed, as_of=D, method=method, holdout=0.0)
    top = set(res.scores.client_id[: len(rest)])
    recovered = len(top & set(rest)) / len(rest)
    assert recovered >= 0.8, f"{persona}/{method}: {recovered:.3f}"
    assert not (set(seed) & set(res.scores.client_id))  # the seed is not its own expansion


def test_reach_fidelity_curve_is_monotone_and_compares_with_the_seed(cycled):
    seed, rest = planted_lookalike(cycled.root, persona="digital_first")
    with cycled.warehouse() as wh:
        res = lookalike(wh, seed + rest, as_of=D, holdout=0.3, drop_atypical=0.1, propensity="p_alive")
    c = res.curve
    assert res.heldout_size == round(0.3 * len(seed + rest))
    assert (np.diff(c.fidelity) >= 0).all() and (np.diff(c.threshold) <= 1e-12).all()
    assert c.fidelity.iloc[-1] == pytest.approx(1.0)
    # at a reach as large as the held-out part, most of it is found
    assert res.recovered_at(res.heldout_size * 2) >= 0.8
    assert res.seed_value is not None and res.seed_propensity is not None
    assert {"expansion_propensity", "expansion_value"} <= set(c.columns)
    assert c.expansion_value.notna().all()
    # seed optimisation: the least typical 10% of the training seed are flagged and dropped
    typ = res.typicality
    assert len(typ) == len(seed + rest) - res.heldout_size
    assert typ.atypical.mean() == pytest.approx(0.1, abs=0.01)
    assert typ[typ.atypical].typicality.max() <= typ[~typ.atypical].typicality.min()
    assert res.curve_optimised is not None and (np.diff(res.curve_optimised.fidelity) >= 0).all()


def test_reach_curve_by_hand():
    sim = np.array([0.9, 0.1, 0.5, 0.7, 0.3])
    held = np.array([True, False, False, True, True])
    value = np.array([10.0, 0.0, 2.0, 4.0, np.nan])
    c = reach_curve(sim, held, value=value, reaches=np.array([1, 2, 3, 5]))
    assert c.fidelity.tolist() == pytest.approx([1 / 3, 2 / 3, 2 / 3, 1.0])
    assert c.threshold.tolist() == pytest.approx([0.9, 0.7, 0.5, 0.1])
    assert c.expansion_value.tolist() == pytest.approx([10.0, 7.0, 16 / 3, 4.0])


def test_lookalike_audience_and_seed_sources(cycled, tmp_path):
    seed, _ = planted_lookalike(cycled.root, persona="digital_first")
    (tmp_path / "seed.csv").write_text("client_id\n" + "\n".join(seed) + "\n")
    auds = {
        "look": AudienceConfig.model_validate(
            {"lookalike": {"seed": {"file": str(tmp_path / "seed.csv")}}, "size": 100}),
        "seg": AudienceConfig.model_validate(
            {"lookalike": {"seed": {"segment": {"value": "Top"}}, "method": "centroid"}, "size": 30}),
    }
    with cycled.warehouse() as wh:
        build = build_audience(wh, "look", auds, as_of=D)
        members = wh.con.execute(
            "SELECT client_id, score FROM audience_members WHERE audience = 'look' ORDER BY rank"
        ).df()
        res = lookalike(wh, seed, as_of=D, holdout=0.0)
        tops = set(seed_clients(wh, auds["seg"].lookalike.seed, D))
        build_audience(wh, "seg", auds, as_of=D)
        seg_members = {r[0] for r in wh.con.execute(
            "SELECT client_id FROM audience_members WHERE audience = 'seg'").fetchall()}
        with pytest.raises(ParameterError, match="seed has 1 client"):
            lookalike(wh, seed[:1], as_of=D)
    assert build.members == 100 and not set(members.client_id) & set(seed)
    assert members.score.is_monotonic_decreasing
    assert members.client_id.tolist() == res.scores.client_id[:100].tolist()
    assert len(seg_members) == 30 and not seg_members & tops


def test_lookalike_audience_keeps_the_better_seed(cycled):
    auds = {"opt": AudienceConfig.model_validate(
        {"lookalike": {"seed": {"segment": {"value": "Top"}}, "drop_atypical": 0.2}, "size": 50})}
    with cycled.warehouse() as wh:
        build = build_audience(wh, "opt", auds, as_of=D)
        seed = seed_clients(wh, auds["opt"].lookalike.seed, D)
        trial = lookalike(wh, seed, as_of=D, drop_atypical=0.2, value=None)
    assert build.members == 50
    kept = "optimised" if trial.curve_optimised.fidelity.mean() > trial.curve.fidelity.mean() else "full"
    assert trial.better_seed == kept
    assert any(n.startswith(f"lookalike: {kept} seed kept") for n in build.notes)


def test_cosine_scores_equal_brute_force_cosine_neighbours():
    from sklearn.neighbors import NearestNeighbors

    from segmint.targeting import similarity_scores

    rng = np.random.default_rng(1)
    Z = rng.normal(size=(400, 6))
    seed = Z[:60]
    dist, _ = NearestNeighbors(n_neighbors=10, metric="cosine", algorithm="brute").fit(seed).kneighbors(Z)
    got = similarity_scores(seed, Z, method="cosine", neighbours=10)
    np.testing.assert_allclose(got, 1 - dist.mean(axis=1), atol=1e-12)


def test_typicality_equals_brute_force_neighbours_and_samples_a_large_seed():
    from sklearn.neighbors import NearestNeighbors

    from segmint.targeting._lookalike import typicality

    rng = np.random.default_rng(2)
    seed = rng.normal(size=(300, 5))
    dist, _ = NearestNeighbors(n_neighbors=11, metric="cosine", algorithm="brute").fit(seed).kneighbors(seed)
    np.testing.assert_allclose(typicality(seed, neighbours=10), 1 - dist[:, 1:].mean(axis=1), atol=1e-12)
    # a seed larger than the reference: each member against the sampled members, itself excluded
    got = typicality(seed, neighbours=10, max_reference=100, random_state=3)
    ref = np.sort(np.random.default_rng(3).choice(300, 100, replace=False))
    U = seed / np.linalg.norm(seed, axis=1, keepdims=True)
    S = U @ U[ref].T
    S[ref, np.arange(100)] = -np.inf  # not oneself
    want = np.sort(S, axis=1)[:, -10:].mean(axis=1)
    np.testing.assert_allclose(got, want, atol=1e-12)
