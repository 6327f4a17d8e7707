"""Uplift models and the Qini curve: hand-computed, simulated, and on a generated bank."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segmint.errors import DataError
from segmint.targeting import (
    TwoModelUplift,
    XLearnerUplift,
    classify_uplift,
    fit_uplift,
    qini_coefficient,
    qini_curve,
)

from .bank import persona_project


def test_qini_curve_by_hand():
    # ranked: (t=1,y=1), (t=0,y=0), (t=1,y=0), (t=0,y=1)
    score = [4, 3, 2, 1]
    t = [1, 0, 1, 0]
    y = [1, 0, 0, 1]
    curve = qini_curve(score, t, y, n_points=5)
    # Q after 1: 1 - 0 (no control yet) = 1; after 2: 1 - 0*1/1 = 1; after 3: 1 - 0*2/1 = 1;
    # after 4: 1 - 1*2/2 = 0
    np.testing.assert_allclose(curve["qini"], [0, 1, 1, 1, 0])
    np.testing.assert_allclose(curve["random"], [0, 0, 0, 0, 0])
    assert qini_coefficient(curve, 4) == pytest.approx((0.5 + 1 + 1 + 0.5) * 0.25 / 4)


def test_ties_have_no_order():
    t = np.array([1, 0] * 50)
    y = np.array([1, 0] * 50)
    flat = qini_curve(np.zeros(100), t, y, n_points=11)
    np.testing.assert_allclose(flat["qini"], flat["random"])


def _simulated(n: int, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    t = (rng.random(n) < 0.5).astype(int)
    base = 1 / (1 + np.exp(-(-1.5 + 0.8 * X[:, 1])))
    tau = np.where(X[:, 0] > 0, 0.2, -0.1)
    p = np.clip(base + t * tau, 0, 1)
    y = (rng.random(n) < p).astype(int)
    return X, t, y, tau, base


@pytest.mark.parametrize("model", [TwoModelUplift(random_state=0), XLearnerUplift(random_state=0)])
def test_models_rank_by_the_true_effect(model):
    X, t, y, tau, _ = _simulated(8000, 0)
    Xt, tt, yt, taut, _ = _simulated(8000, 1)
    pred = model.fit(X, t, y).predict(Xt)
    assert np.corrcoef(pred, taut)[0, 1] > 0.6
    assert pred[taut > 0].mean() > 0.1 > -0.02 > pred[taut < 0].mean()
    n = len(yt)
    model_q = qini_coefficient(qini_curve(pred, tt, yt), n)
    random_q = qini_coefficient(qini_curve(np.random.default_rng(2).random(n), tt, yt), n)
    truth_q = qini_coefficient(qini_curve(taut, tt, yt), n)
    assert model_q > 0.5 * truth_q > 0
    assert abs(random_q) < 0.25 * model_q


def test_inputs_are_checked():
    X = np.zeros((4, 2))
    with pytest.raises(DataError, match="treatment"):
        TwoModelUplift().fit(X, [1, 1, 1, 1], [0, 1, 0, 1])
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        XLearnerUplift().predict(X)


def test_classes():
    cls = classify_uplift(np.array([0.5, 0.5, 0.01, 0.3]), np.array([0.2, 0.0, 0.0, -0.2]), margin=0.05, threshold=0.1)
    assert cls.tolist() == ["persuadable", "sure_thing", "lost_cause", "do_not_disturb"]


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    return persona_project(tmp_path_factory.mktemp("uplift"), n_clients=5000, seed=2, campaigns=1)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["two_model", "x_learner"])
def test_qini_beats_random_and_propensity_on_the_bank(bank, method):
    project, data = bank
    with project.warehouse() as wh:
        res = fit_uplift(wh, project.config.experiments, "cmp01", by="persona", method=method, n_bootstrap=10, save=True)
        saved = wh.con.execute("SELECT count(*), count(DISTINCT client_id) FROM uplift_scores").fetchone()
    q = res.qini_coefficient
    print(method, q, res.targeting)
    assert q["uplift"] > q["random"] == 0
    assert q["uplift"] > q["propensity"]
    assert saved[0] == saved[1] == len(res.scores)
    # the planted personas: the most persuadable responds most, the do-not-disturbs negatively
    seg = res.segments.set_index("segment")
    assert seg.loc["branch_steady", "uplift"] < 0 < seg.loc["digital_first", "uplift"]
    assert seg.loc["branch_steady", "class"] == "do_not_disturb"
    assert seg.loc["bargain_hunter", "class"] == "persuadable"
    # incrementality-adjusted targeting beats targeting as many clients by propensity
    tg = res.targeting
    assert tg["clients_selected"] > 0
    assert tg["expected_incremental_adjusted"] > tg["expected_incremental_propensity"]
    # ... and by the planted truth: the true effects of the clients each choice selects
    effect = pd.read_csv(data.path("campaign_effects")).set_index("segment")["effect"]
    scores = res.scores.assign(effect=res.scores["segment"].map(effect))
    k = tg["clients_selected"]
    adjusted = scores.loc[scores["uplift_low"] > 0, "effect"].sum()
    by_propensity = scores.nlargest(k, "propensity")["effect"].sum()
    print("true incremental conversions: adjusted", adjusted, "propensity", by_propensity)
    assert adjusted > by_propensity


def test_uplift_cli(bank):
    import json

    from typer.testing import CliRunner

    from segmint.cli import app

    project, _ = bank
    res = CliRunner().invoke(
        app, ["experiment", "uplift", "cmp01", "--by", "persona", "--method", "two_model", "--json",
              "-p", str(project.root / "segmint.yaml")],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["qini_coefficient"]["uplift"] > 0
    assert {s["segment"] for s in out["segments"]} >= {"digital_first", "branch_steady"}
