"""Profile exports: suppression without DP; with DP the ledger adds up, an over-budget
release is refused and the noise scale is OpenDP's for the epsilon."""

from __future__ import annotations

import numpy as np
import opendp.prelude as dp
import pandas as pd
import pytest

from segmint.governance import (
    PrivacyBudgetError,
    export_profiles,
    laplace_scale,
    privacy_ledger,
    privacy_spent,
)
from segmint.store import Warehouse

from .conftest import fairness_warehouse


@pytest.fixture
def wh():
    with Warehouse(":memory:") as w:
        fairness_warehouse(w, planted=True, n=600)
        # one small segment to suppress
        w.con.execute("UPDATE segment_assignments SET segment_id = 'tiny' WHERE dimension = 'value' "
                      "AND client_id IN (SELECT client_id FROM clients ORDER BY client_id LIMIT 4)")
        yield w


def test_scale_is_opendps(wh):
    dp.enable_features("contrib")
    for sens, eps in [(1.0, 0.5), (1.0, 0.1), (250.0, 0.2)]:
        scale = laplace_scale(sens, eps)
        assert scale == pytest.approx(sens / eps, rel=1e-6)
        space = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l1_distance(T=float)
        assert dp.m.make_laplace(*space, scale=scale).map(sens) <= eps + 1e-9


def test_suppressed_export(wh, tmp_path):
    frame = export_profiles(wh, tmp_path / "p.csv", min_cell=10, means={"spend": None})
    value = frame[frame.dimension == "value"].set_index("segment_id")
    assert np.isnan(value.clients["tiny"]) and value.suppressed["tiny"]
    assert value.suppressed.sum() == 2  # a partner is hidden too; which is small is not said
    hidden = frame.clients.isna()
    assert frame.loc[hidden, ["share", "mean_spend"]].isna().all().all()
    released = frame.clients.dropna()
    assert (released >= 10).all()
    assert pd.read_csv(tmp_path / "p.csv").shape[0] == len(frame)


def test_dp_ledger_adds_up_and_refuses_over_budget(wh, tmp_path):
    means = {"spend": (0.0, 500.0)}
    a = export_profiles(wh, tmp_path / "a.json", budget=1.0, dp_epsilon=0.4, means=means)
    export_profiles(wh, tmp_path / "b.json", budget=1.0, dp_epsilon=0.5, means=means)
    assert privacy_spent(wh) == pytest.approx(0.9)
    with pytest.raises(PrivacyBudgetError, match="only 0.1"):
        export_profiles(wh, tmp_path / "c.json", budget=1.0, dp_epsilon=0.2, means=means)
    assert not (tmp_path / "c.json").exists()
    ledger = privacy_ledger(wh)
    assert ledger.epsilon.tolist() == pytest.approx([0.4, 0.5])
    for row in ledger.itertuples():
        import json

        queries = json.loads(row.queries)
        # 2 dimensions x (sizes + one sum): the queries' epsilons compose to the release's
        assert len(queries) == 4
        assert sum(q["epsilon"] for q in queries) == pytest.approx(row.epsilon)
        for q in queries:
            assert q["scale"] == pytest.approx(q["sensitivity"] / q["epsilon"], rel=1e-6)
    # noisy but near: the sizes of 600 clients at scale 10
    sizes = a.groupby("dimension").clients.sum()
    assert ((sizes - 600).abs() < 150).all()
    assert a.groupby("dimension").share.sum().tolist() == pytest.approx([1.0, 1.0])


def test_export_withholds_what_the_released_catalog_withholds(tiny_segment_wh, tmp_path):
    """The catalog shows cross-tabs too: a size it withholds as their complement must not
    come back through the export (4 whales; hand-checked in tests/profiles/test_release)."""
    from segmint.profiles import build_catalog, release_catalog

    frame = export_profiles(tiny_segment_wh, tmp_path / "p.csv", min_cell=10)
    released = release_catalog(build_catalog(tiny_segment_wh), 10)
    in_catalog = {(d.dimension, s.segment_id) for d in released.dimensions for s in d.segments
                  if s.profile.suppressed}
    hidden = frame[frame.clients.isna()]
    assert set(zip(hidden.dimension, hidden.segment_id, strict=True)) == in_catalog
    assert ("rfm", "whales") in in_catalog
