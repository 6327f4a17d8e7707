"""The propensity model registry: every fit is a version in the table ``propensity_models``.

Columns: ``name, version, created_at, as_of, outcome, params, metrics, model,
sklearn_version``. ``outcome``, ``params`` (training window, feature list, dropped
columns, calibration, fingerprint of the definition) and ``metrics`` (the evaluation on
time) are JSON, readable by people and by the report. ``model`` holds the fitted
estimators as pickle bytes: gradient-boosted trees have no portable form in
scikit-learn (ONNX converters do not cover native categorical splits; skops is not a
dependency), and re-fitting from JSON parameters is not possible as it is for the CLV
and segment models. A pickle runs code when loaded, so it is only read from the
project's own warehouse, and only by the scikit-learn version that wrote it: another
version is refused with a message to refit (``segmint propensity fit NAME``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import pickle
from dataclasses import dataclass
from typing import Any

import sklearn

from segmint.errors import WarehouseError
from segmint.segmentation._registry import clean_json

MODELS_TABLE = "propensity_models"

_DDL = f"""
CREATE TABLE IF NOT EXISTS {MODELS_TABLE} (
    name VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    as_of DATE NOT NULL,
    outcome JSON NOT NULL,
    params JSON NOT NULL,
    metrics JSON NOT NULL,
    model BLOB NOT NULL,
    sklearn_version VARCHAR NOT NULL,
    PRIMARY KEY (name, version)
)
"""


@dataclass
class PropensityVersion:
    """One stored propensity model version."""

    name: str
    version: int
    created_at: dt.datetime
    as_of: dt.date
    outcome: dict[str, Any]
    params: dict[str, Any]
    metrics: dict[str, Any]
    estimators: dict[str, Any] | None  # "hgb", "logistic": fitted PropensityClassifier

    @property
    def model(self):
        """The scoring model (gradient boosting)."""
        if self.estimators is None:
            raise WarehouseError(f"propensity model {self.name!r} v{self.version}: loaded without estimators")
        return self.estimators["hgb"]

    @property
    def features(self) -> list[str]:
        return list(self.params["features"])


def fingerprint(outcome: dict, model: dict) -> str:
    """A short hash of a model's definition (its outcome and options)."""
    text = json.dumps({"outcome": outcome, "model": model}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def save_version(wh: Any, pv: PropensityVersion) -> PropensityVersion:
    """Store ``pv`` as the next version of its name (its ``version`` is set), atomically."""
    blob = pickle.dumps(pv.estimators, protocol=pickle.HIGHEST_PROTOCOL)
    with wh.transaction() as con:
        con.execute(_DDL).fetchall()
        version = int(con.execute(
            f"SELECT coalesce(max(version), 0) + 1 FROM {MODELS_TABLE} WHERE name = ?", [pv.name]
        ).fetchall()[0][0])
        con.execute(
            f"INSERT INTO {MODELS_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [pv.name, version, pv.created_at, pv.as_of, json.dumps(clean_json(pv.outcome)),
             json.dumps(clean_json(pv.params)), json.dumps(clean_json(pv.metrics)), blob,
             sklearn.__version__],
        ).fetchall()
    pv.version = version
    return pv


def load_version(
    wh: Any, name: str, version: int | None = None, *, estimators: bool = True
) -> PropensityVersion | None:
    """A stored version (the latest when ``version`` is None), or None."""
    if not wh.has_table(MODELS_TABLE):
        return None
    q = f"SELECT * FROM {MODELS_TABLE} WHERE name = ?"
    args: list[Any] = [name]
    if version is not None:
        q += " AND version = ?"
        args.append(version)
    rows = wh.con.execute(q + " ORDER BY version DESC LIMIT 1", args).fetchall()
    if not rows:
        return None
    n, v, created, as_of, outcome, params, metrics, blob, skl = rows[0]
    loaded = None
    if estimators:
        if skl != sklearn.__version__:
            raise WarehouseError(
                f"propensity model {n!r} v{v} was fitted with scikit-learn {skl}, this is "
                f"{sklearn.__version__}: refit it (`segmint propensity fit {n}`)"
            )
        loaded = pickle.loads(blob)  # noqa: S301 - the project's own warehouse (see module doc)
    return PropensityVersion(
        n, int(v), created, as_of, json.loads(outcome), json.loads(params), json.loads(metrics), loaded
    )


def list_versions(wh: Any) -> list[tuple[str, int, dt.date, dt.datetime]]:
    """``(name, version, as_of, created_at)`` of every stored version."""
    if not wh.has_table(MODELS_TABLE):
        return []
    return [tuple(r) for r in wh.con.execute(
        f"SELECT name, version, as_of, created_at FROM {MODELS_TABLE} ORDER BY name, version"
    ).fetchall()]
