import datetime as dt

import duckdb
import pandas as pd
import pytest
import yaml
from seg_data import AS_OF, load_features, make_features
from typer.testing import CliRunner

from segmint.cli import app
from segmint.config._segmentation import DimensionConfig, SegmentationConfig
from segmint.errors import FeatureError, ProtectedAttributeError, WarehouseError
from segmint.segmentation import load_version, run_segmentation, version_sql
from segmint.store import Warehouse

FAST = {"n_bootstrap": 2, "k_max": 6}


def _cfg(**kw):
    return SegmentationConfig(
        sample_size=1500,
        dimensions=[
            DimensionConfig(
                name="behaviour",
                kind="learned",
                method="kmeans",
                inputs=[
                    "frequency",
                    "monetary_mean",
                    "share_*",
                    "promo_share",
                    "digital_share",
                    "events_90d",
                ],
                selection=FAST,
            )
        ],
        **kw,
    )


def test_defaults_run_out_of_the_box(warehouse):
    df, _ = make_features(1500, k=3)
    load_features(warehouse, df)
    run = run_segmentation(warehouse, SegmentationConfig())
    assert set(run.models) == {"value", "rfm", "behaviour", "lifecycle"}
    a = run.assignments
    assert a.groupby("dimension").client_id.nunique().eq(1500).all()
    assert len(a) == 4 * 1500  # exactly one segment per client and dimension
    assert list(a.columns) == [
        "client_id",
        "dimension",
        "segment_id",
        "segment_name",
        "model_version",
        "as_of",
        "score",
    ]
    assert run.models["behaviour"].k == 3


def test_registry_round_trip_reproduces_assignments(warehouse):
    df, _ = make_features(2000, k=4)
    load_features(warehouse, df)
    run = run_segmentation(warehouse, _cfg())
    con = warehouse.con
    con.execute("CREATE TEMP TABLE snap AS SELECT * FROM features")
    for name in run.models:
        mv = load_version(con, name)
        assert mv is not None and mv.params == run.models[name].params
        again = con.execute(
            f"SELECT client_id, segment_id, score FROM ({version_sql(mv, 'snap', AS_OF)}) ORDER BY client_id"
        ).df()
        stored = con.execute(
            "SELECT client_id, segment_id, score FROM segment_assignments WHERE dimension = ? "
            "ORDER BY client_id",
            [name],
        ).df()
        pd.testing.assert_frame_equal(again, stored)
    # a second run applies the stored versions (no refit) with identical results
    second = run_segmentation(warehouse, _cfg())
    assert second.fitted == []
    pd.testing.assert_frame_equal(second.assignments, run.assignments)


def test_same_data_and_seed_give_identical_segments():
    df, _ = make_features(1500, k=4)
    out = []
    for _ in range(2):
        with Warehouse(":memory:") as wh:
            load_features(wh, df)
            out.append(run_segmentation(wh, _cfg()).assignments)
    pd.testing.assert_frame_equal(out[0], out[1])


def test_protected_attributes_are_refused(warehouse):
    df, _ = make_features(300)
    load_features(warehouse, df)
    for inputs in (["frequency", "gender"], ["frequency", "gend*"]):
        cfg = SegmentationConfig(
            include_defaults=False,
            dimensions=[DimensionConfig(name="b", kind="learned", inputs=inputs)],
        )
        with pytest.raises(ProtectedAttributeError, match="'gender' is a protected attribute"):
            run_segmentation(warehouse, cfg)


def test_unknown_inputs_are_clear_errors(warehouse):
    df, _ = make_features(300)
    load_features(warehouse, df)
    cfg = SegmentationConfig(
        include_defaults=False,
        dimensions=[
            DimensionConfig(name="b", kind="learned", inputs=["frequency", "share_nope_*"])
        ],
    )
    with pytest.raises(
        FeatureError, match=r"dimensions.b.inputs: 'share_nope_\*' matches no column"
    ):
        run_segmentation(warehouse, cfg)


def test_as_of_rows_replaced_atomically_and_missing_snapshot(warehouse):
    df, _ = make_features(500, k=3)
    load_features(warehouse, df)
    run_segmentation(warehouse, _cfg())
    run_segmentation(warehouse, _cfg(), refit=True)
    n = warehouse.con.execute("SELECT count(*) FROM segment_assignments").fetchone()[0]
    assert n == 4 * 500
    assert (
        warehouse.con.execute(
            "SELECT max(version) FROM segment_models WHERE dimension = 'behaviour'"
        ).fetchone()[0]
        == 2
    )
    with pytest.raises(WarehouseError, match="no features snapshot at 2020-01-01"):
        run_segmentation(warehouse, _cfg(), as_of=dt.date(2020, 1, 1))


def test_failure_leaves_previous_assignments(warehouse, monkeypatch):
    df, _ = make_features(400, k=3)
    load_features(warehouse, df)
    run_segmentation(warehouse, _cfg())
    before = warehouse.con.execute("SELECT * FROM segment_assignments ORDER BY ALL").df()
    import segmint.segmentation._run as run_mod

    def broken(mv, source, as_of):
        if mv.dimension == "lifecycle":
            return "SELECT nonsense"
        return real(mv, source, as_of)

    real = run_mod.version_sql
    monkeypatch.setattr(run_mod, "version_sql", broken)
    with pytest.raises(duckdb.Error):
        run_segmentation(warehouse, _cfg(), refit=True)
    after = warehouse.con.execute("SELECT * FROM segment_assignments ORDER BY ALL").df()
    pd.testing.assert_frame_equal(before, after)
    assert warehouse.con.execute("SELECT max(version) FROM segment_models").fetchone()[0] == 1


def test_changed_definition_is_refitted(warehouse):
    df, _ = make_features(500, k=3)
    load_features(warehouse, df)
    run_segmentation(warehouse, _cfg())
    cfg = SegmentationConfig(
        dimensions=[
            DimensionConfig(
                name="value",
                kind="rules",
                default="Rest",
                rules=[{"segment": "Big", "when": "clv_12m >= p50"}],
            )
        ]
        + list(_cfg().dimensions)
    )
    run = run_segmentation(warehouse, cfg)
    assert run.fitted == ["value"]
    assert set(run.sizes[run.sizes.dimension == "value"].segment_name) == {"Big", "Rest"}


def test_config_errors_are_clear():
    with pytest.raises(ValueError, match="declared twice"):
        SegmentationConfig(dimensions=[DimensionConfig(name="a", kind="learned", inputs=["x"])] * 2)
    with pytest.raises(ValueError, match="k_min"):
        DimensionConfig(name="a", kind="learned", inputs=["x"], selection={"k_min": 5, "k_max": 3})
    with pytest.raises(ValueError, match="Extra inputs"):
        DimensionConfig(name="a", kind="learned", inputs=["x"], methd="gmm")


def _project(tmp_path, df):
    (tmp_path / "segmint.yaml").write_text(
        yaml.safe_dump(
            {
                "sources": {"crm": {"path": "c.csv"}},
                "entities": {
                    "clients": {"source": "crm", "columns": {"client_id": "id"}},
                    "transactions": {
                        "source": "crm",
                        "columns": {
                            "transaction_id": "tid",
                            "client_id": "id",
                            "ts": "ts",
                            "amount": "amount",
                        },
                    },
                },
                "warehouse": {"path": "warehouse.duckdb"},
                "segmentation": {
                    "sample_size": 1000,
                    "dimensions": [
                        {
                            "name": "behaviour",
                            "kind": "learned",
                            "inputs": ["frequency", "promo_share", "digital_share"],
                            "selection": FAST,
                        }
                    ],
                },
            }
        )
    )
    with Warehouse(tmp_path / "warehouse.duckdb") as wh:
        load_features(wh, df)


def test_cli_and_project_api(tmp_path):
    df, _ = make_features(600, k=3)
    _project(tmp_path, df)
    from segmint.project import Project

    project = Project.from_yaml(tmp_path)
    result = CliRunner().invoke(
        app, ["segment", "-p", str(tmp_path), "--out", str(tmp_path / "s.parquet")]
    )
    assert result.exit_code == 0, result.output
    assert "behaviour" in result.output and "fitted version 1" in result.output
    exported = pd.read_parquet(tmp_path / "s.parquet")
    assert len(exported) == 4 * 600
    run = project.segment(as_of=AS_OF.isoformat(), out=tmp_path / "s.csv")
    assert run.fitted == []
    assert len(pd.read_csv(tmp_path / "s.csv")) == 4 * 600
    bad = CliRunner().invoke(app, ["segment", "-p", str(tmp_path), "--as-of", "yesterday"])
    assert bad.exit_code != 0


def test_catalog_marked_features_are_protected(monkeypatch):
    from types import SimpleNamespace

    import segmint.features as feats
    from segmint.segmentation import protected_features

    age = SimpleNamespace(name="age_band", protected=True)
    spend = SimpleNamespace(name="frequency", protected=False)
    group = SimpleNamespace(sets=[SimpleNamespace(features=(age, spend))])
    monkeypatch.setattr(feats, "GROUPS", {"demo": group}, raising=False)
    assert {"age_band", "gender", "birth_year"} <= protected_features()
    assert "frequency" not in protected_features()


def test_value_tiers_use_monetary_when_clv_could_not_be_fitted(warehouse):
    df, _ = make_features(1500, k=3)
    df["clv_12m"] = float("nan")  # the clv group leaves it null when its model is not identified
    load_features(warehouse, df)
    cfg = SegmentationConfig(dimensions=[], **{"include_defaults": True})
    run = run_segmentation(warehouse, cfg)
    value = run.assignments[run.assignments.dimension == "value"]
    assert value.segment_name.nunique() == 4  # not every client in one tier
    params = run.models["value"].params
    assert "monetary_total" in str(params) and "clv_12m" not in str(params)
