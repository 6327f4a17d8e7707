"""Propensity models on the generated bank: beat the naive rules on a later date, calibrated,
point-in-time, scored every cycle, in the catalog and the report, from the CLI."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from segmint.cli import app
from segmint.config import OutcomeConfig
from segmint.errors import ConfigError, DataError
from segmint.targeting import load_version, outcomes
from segmint.targeting._training import features_as_of

MODELS = ("churn", "next_purchase", "upgrade", "expansion")


@pytest.mark.parametrize("name", MODELS)
def test_beats_its_naive_rule_on_a_later_date_and_is_calibrated(bank, name):
    _project, versions = bank
    pv = versions[name]
    m = pv.metrics
    hgb, naive, logistic = m["scorers"]["hgb"], m["scorers"]["naive"], m["scorers"]["logistic"]
    # evaluated on a date after every training and calibration date
    assert m["evaluation_as_of"] > pv.params["calibration_as_of"] > max(pv.params["train_as_of"])
    assert hgb["roc_auc"] > naive["roc_auc"] + 0.02, (hgb["roc_auc"], naive["roc_auc"])
    assert hgb["top_decile_lift"] > naive["top_decile_lift"], (
        hgb["top_decile_lift"], naive["top_decile_lift"])
    assert hgb["ece"] <= 0.03, hgb["ece"]
    assert logistic["roc_auc"] > 0.6 and "brier" in logistic
    assert naive["rule"] == ("1 - p_alive" if name == "churn" else "recency")
    assert m["calibration"]["hgb"]["method"] in ("sigmoid", "isotonic")
    drivers = m["drivers"]
    assert len(drivers) == 10 and drivers[0]["importance"] > 0
    assert all(d["label"] for d in drivers)
    assert any(d["label"] != d["feature"] for d in drivers)  # readable labels


def test_btyd_next_purchase_compared_with_the_supervised_model(bank):
    _project, versions = bank
    b = versions["next_purchase"].metrics["btyd"]
    assert b["n"] > 1000
    assert 0.5 < b["btyd"]["roc_auc"] < 1 and 0.5 < b["hgb"]["roc_auc"] < 1
    assert 0 < b["median_expected_days_to_next_purchase"] < 365


def test_version_stored_with_window_features_and_metrics(bank):
    project, versions = bank
    with project.warehouse() as wh:
        pv = load_version(wh, "churn")
    assert pv.version == versions["churn"].version
    assert pv.params["features"] == versions["churn"].params["features"]
    assert "n_products_current: dropped (constant 1)" in pv.params["dropped"]
    assert not any(f.startswith("propensity_") for f in pv.params["features"])
    assert pv.metrics["scorers"]["hgb"]["roc_auc"] == versions["churn"].metrics["scorers"]["hgb"]["roc_auc"]
    p = pv.model.predict_proba(pd.DataFrame({"frequency": [1.0]}))[:, 1]
    assert 0 < p[0] < 1


def test_no_later_record_reaches_the_training_features(bank):
    """Move every record after as_of (later and larger) and recompute: nothing changes."""
    project, versions = bank
    as_of = dt.date.fromisoformat(versions["churn"].params["train_as_of"][-1])
    end = f"TIMESTAMP '{as_of + dt.timedelta(days=1)}'"
    with project.warehouse() as wh:
        before = features_as_of(wh, project.config, as_of)
        y_before = outcomes(wh, OutcomeConfig(kind="purchase", horizon_days=30), [as_of])
        con = wh.con
        con.execute("BEGIN TRANSACTION")
        try:
            for sql in (
                f"UPDATE transactions SET ts = ts + INTERVAL 40 DAY, amount = amount * 3 WHERE ts >= {end}",
                f"UPDATE engagement SET ts = ts + INTERVAL 40 DAY WHERE ts >= {end}",
                f"UPDATE holdings SET opened_at = opened_at + 40 WHERE opened_at > DATE '{as_of}'",
                f"UPDATE holdings SET closed_at = closed_at + 40 WHERE closed_at > DATE '{as_of}'",
                f"UPDATE profitability SET revenue = revenue * 5 WHERE period > DATE '{as_of}'",
                f"UPDATE clients SET onboarded_at = onboarded_at + 40 WHERE onboarded_at > DATE '{as_of}'",
            ):
                con.execute(sql)
            after = features_as_of(wh, project.config, as_of)
            y_after = outcomes(wh, OutcomeConfig(kind="purchase", horizon_days=30), [as_of])
        finally:
            con.execute("ROLLBACK")
    pd.testing.assert_frame_equal(before, after)
    assert (y_before.y.to_numpy() != y_after.y.to_numpy()).any()  # the move did matter


def test_failing_fits_are_clear_messages_with_counts(bank, tmp_path):
    from segmint.config import ProjectConfig
    from segmint.targeting import fit_propensity

    project, _ = bank
    raw = project.config.model_dump(mode="json", exclude_none=True)
    raw["targeting"] = {
        "outcomes": {"upgrade": {"kind": "product_opened", "product_type": "investment",
                                 "horizon_days": 90},
                     "long": {"kind": "purchase", "horizon_days": 1090}},
        "propensity": {"upgrade": {"outcome": "upgrade", "min_positives": 5000},
                       "long": {"outcome": "long"}},
    }
    config = ProjectConfig.model_validate(raw)
    with project.warehouse() as wh:
        with pytest.raises(DataError, match=r"too few positives in the training set: .* per as-of "
                                            r"date, positives of examples: 2025-\d\d-\d\d: \d+ of"):
            fit_propensity(wh, config, "upgrade", cache={})
        with pytest.raises(DataError, match=r"no complete outcome window .* 1090 days leaves 1 as-of"):
            fit_propensity(wh, config, "long")
        with pytest.raises(ConfigError, match=r"targeting.propensity.nope: no such model"):
            fit_propensity(wh, config, "nope")


def test_scored_every_cycle_into_scores_catalog_and_report(bank, tmp_path):
    project, versions = bank
    as_of = project.default_as_of()
    run = project.run(as_of=as_of, report=tmp_path / "report.html")
    assert set(run.scores.scored) == set(MODELS) and not run.scores.fitted
    with project.warehouse(read_only=True) as wh:
        scores = wh.con.execute("SELECT * FROM scores WHERE as_of = ?", [as_of]).df()
        feats = wh.con.execute(
            "SELECT client_id, propensity_churn FROM features WHERE as_of = ?", [as_of]
        ).df()
    assert set(scores.columns) == {"client_id", "as_of", "model", "version", "score", "decile"}
    assert len(scores) == len(MODELS) * len(feats)
    churn = scores[scores.model == "churn"]
    assert (churn.version == versions["churn"].version).all()
    assert ((churn.score > 0) & (churn.score < 1)).all()
    sizes = churn.decile.value_counts()
    assert sorted(sizes.index) == list(range(1, 11)) and sizes.max() - sizes.min() <= 1
    merged = churn.merge(feats, on="client_id")
    np.testing.assert_allclose(merged.score, merged.propensity_churn)
    top, rest = churn[churn.decile == 10].score, churn[churn.decile < 10].score
    assert top.min() >= rest.max()
    # the catalog: each segment's mean propensity and share of the top decile
    dim = run.catalog.dimensions[0]
    stats = {s.segment_id: {p.feature: p for p in s.profile.propensities} for s in dim.segments}
    assert all(set(v) == {f"propensity_{m}" for m in MODELS} for v in stats.values())
    weighted = sum(
        s.profile.size * stats[s.segment_id]["propensity_churn"].top_decile_share
        for s in dim.segments
    ) / sum(s.profile.size for s in dim.segments)
    assert weighted == pytest.approx(0.1, abs=0.002)
    text = run.report.read_text()
    for m in MODELS:
        assert f"id='propensity-{m}'" in text
    assert "Cumulative gains" in text and "Calibration (10 equal-width bins)" in text


@pytest.mark.browser
def test_report_renders_in_chromium(bank, tmp_path):
    from browser import CHROMIUM, check_renders

    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    project, _ = bank
    path = project.report(tmp_path / "report.html")
    check_renders(path.read_text(), tmp_path, "propensity-report.png")


def test_cli_fit_evaluate_score(bank):
    project, versions = bank
    cfg = str(project.root / "segmint.yaml")
    out = CliRunner().invoke(app, ["propensity", "evaluate", "churn", "--json", "-p", cfg])
    assert out.exit_code == 0, out.output
    metrics = json.loads(out.stdout)
    assert metrics["version"] == versions["churn"].version
    assert metrics["scorers"]["hgb"]["roc_auc"] == versions["churn"].metrics["scorers"]["hgb"]["roc_auc"]
    later = CliRunner().invoke(app, ["propensity", "evaluate", "churn", "--as-of",
                                     metrics["evaluation_as_of"], "-p", cfg])
    assert later.exit_code == 0, later.output
    assert "ROC AUC" in later.stdout
    scored = CliRunner().invoke(app, ["propensity", "score", "expansion", "-p", cfg])
    assert scored.exit_code == 0, scored.output
    assert "expansion: version" in scored.stdout


def test_update_cycle_scores_too(bank):
    project, versions = bank
    result = project.update(ingest=False, notify=False)
    assert "score" in result.timings
    with project.warehouse(read_only=True) as wh:
        n = wh.con.execute(
            "SELECT count(*), count(DISTINCT model), min(version) FROM scores WHERE as_of = ?",
            [result.as_of],
        ).fetchone()
        filled = wh.con.execute(
            "SELECT count(propensity_upgrade), count(*) FROM features WHERE as_of = ?",
            [result.as_of],
        ).fetchone()
    assert n[1] == len(MODELS) and n[0] == len(MODELS) * filled[1]
    assert filled[0] == filled[1]
