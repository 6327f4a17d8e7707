"""Small hand-made warehouses for the governance tests."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from segmint.store import Warehouse

AS_OF = dt.date(2024, 6, 30)


def fairness_warehouse(wh: Warehouse, *, planted: bool, n: int = 2000, seed: int = 0) -> None:
    """Clients with gender and birth year, features, and two dimensions' assignments.

    With ``planted``, the feature ``night_share`` is tied to gender (a proxy) and the
    learned dimension's segment ``B`` (high spend, high night_share) is almost all
    women (a disparity); without, ``night_share`` is independent noise and every
    segment draws both genders and all ages alike.
    """
    rng = np.random.default_rng(seed)
    ids = np.char.add("c", np.char.zfill(np.arange(n).astype(str), 5))
    gender = rng.choice(["F", "M"], size=n)
    birth = rng.integers(1950, 2004, size=n)
    spend = rng.lognormal(4, 1, size=n)
    visits = rng.poisson(5, size=n).astype(float)
    if planted:
        night = 0.8 * (gender == "F") + rng.normal(0, 0.1, size=n)
    else:
        night = rng.uniform(-0.1, 0.9, size=n)
    high = spend > np.median(spend)
    seg = np.where(high & (night > 0.5), "B", np.where(high, "A", "C"))
    tiers = np.where(spend > np.quantile(spend, 2 / 3), "T1",
                     np.where(spend > np.quantile(spend, 1 / 3), "T2", "T3"))
    con = wh.con
    clients = pd.DataFrame({"client_id": ids, "birth_year": birth, "gender": gender})
    features = pd.DataFrame({"client_id": ids, "as_of": AS_OF, "spend": spend, "visits": visits,
                             "night_share": night})
    assign = pd.concat([
        pd.DataFrame({"client_id": ids, "dimension": "behaviour", "segment_id": seg,
                      "segment_name": seg, "model_version": 1, "as_of": AS_OF, "score": None}),
        pd.DataFrame({"client_id": ids, "dimension": "value", "segment_id": tiers,
                      "segment_name": tiers, "model_version": 1, "as_of": AS_OF, "score": None}),
    ])
    for name, frame in (("clients", clients), ("features", features), ("segment_assignments", assign)):
        con.register("_frame", frame)
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _frame")
        con.unregister("_frame")
    con.execute("ALTER TABLE segment_assignments ALTER score TYPE DOUBLE")
    from segmint.segmentation._registry import ensure_registry

    ensure_registry(con)
    for dim, kind, feats in (("behaviour", "learned", ["spend", "visits", "night_share"]),
                             ("value", "rules", ["spend"])):
        con.execute(
            "INSERT INTO segment_models VALUES (?, 1, now()::TIMESTAMP, ?, ?, 'x', ?, '{}', 3)",
            [dim, AS_OF, kind, json.dumps({"features": feats, "segments": []})],
        )


@pytest.fixture(scope="session")
def bank_template(tmp_path_factory) -> Path:
    """A generated, ingested 600-client bank with features at its last day (copied by
    :func:`bank`, never modified)."""
    from segmint import Project
    from segmint.datasets import generate_bank

    out = tmp_path_factory.mktemp("bank")
    data = generate_bank(out / "bank", n_clients=600, seed=5)
    project = Project.from_yaml(data.config)
    project.ingest()
    project.snapshot_features(project.default_as_of())
    return out / "bank"


@pytest.fixture
def bank(bank_template: Path, tmp_path: Path):
    """A private copy of the ingested bank project."""
    from segmint import Project

    target = tmp_path / "bank"
    shutil.copytree(bank_template, target)
    return Project.from_yaml(target / "segmint.yaml")


def with_governance(project, **governance):
    """The same project with a different ``governance:`` section."""
    from segmint import Project
    from segmint.config import GovernanceConfig

    config = project.config.model_copy(
        update={"governance": GovernanceConfig.model_validate(governance)}
    )
    return Project(config, project.root)
