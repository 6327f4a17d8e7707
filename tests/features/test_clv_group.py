"""The clv feature group falls back to Pareto/NBD where BG/NBD is not identified."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from segmint import Project
from segmint.clv import BetaGeo, ParetoNBD
from segmint.datasets import generate_bank
from segmint.errors import ConvergenceError
from segmint.features import btyd_summary


def test_bank_data_gets_clv_from_pareto_nbd_when_bgnbd_is_not_identified(tmp_path, caplog):
    data = generate_bank(tmp_path / "bank", n_clients=3000, seed=0)
    project = Project.from_yaml(data.config)
    project.ingest()
    with caplog.at_level(logging.INFO, logger="segmint.features._clv"):
        features = project.features("2025-12-31")
    summary = btyd_summary(features)
    # on this data BG/NBD's likelihood rises toward a, b -> infinity: no interior optimum
    with pytest.raises(ConvergenceError):
        BetaGeo().fit(summary["frequency"], summary["recency"], summary["T"])
    assert "used Pareto/NBD" in caplog.text
    buyers = features["frequency"] > 0
    assert features.loc[buyers, "clv_12m"].notna().all()
    assert features.loc[buyers, "p_alive"].between(0, 1).all()
    pareto = ParetoNBD().fit(summary["frequency"], summary["recency"], summary["T"])
    first = summary.iloc[0]
    expected = np.asarray(
        pareto.probability_alive(first["frequency"], first["recency"], first["T"])
    ).item()
    got = features.set_index("client_id").loc[first["customer_id"], "p_alive"]
    assert abs(got - expected) < 1e-9
