import duckdb
import numpy as np
import pandas as pd
import pytest

from segmint.config._segmentation import PreprocessingConfig
from segmint.segmentation import PreprocessSpec, fit_preprocessing
from segmint.segmentation._preprocess import sql_float


def _frame(n=500, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "skewed": rng.lognormal(3, 1.2, n),
            "normal": rng.normal(0, 1, n),
            "share": rng.uniform(0, 1, n),
            "cell": rng.choice(["a", "b", "c"], n),
        }
    )
    df.loc[::17, "skewed"] = np.nan
    df.loc[::23, "cell"] = None
    return df


def _sql_transform(spec: PreprocessSpec, df: pd.DataFrame) -> np.ndarray:
    con = duckdb.connect()
    con.register("src", df.assign(client_id=np.arange(len(df))))
    q, z = spec.sql_select("src", ["client_id"])
    out = con.execute(f"SELECT {', '.join(z)} FROM ({q}) ORDER BY client_id").fetchnumpy()
    return np.column_stack([out[c] for c in z])


@pytest.mark.parametrize(
    "config",
    [
        PreprocessingConfig(),
        PreprocessingConfig(scaler="robust", winsorize=None),
        PreprocessingConfig(pca=3, weights={"share": 2.0, "cell": 0.5}),
        PreprocessingConfig(log1p=["share"], impute="zero", impute_overrides={"skewed": 7.0}),
    ],
)
def test_spec_equals_pipeline_and_sql(config):
    df = _frame()
    pipe, spec = fit_preprocessing(df, ["skewed", "normal", "share"], ["cell"], config)
    from segmint.segmentation._preprocess import frame_for

    Z = spec.transform(df)
    np.testing.assert_allclose(
        Z, pipe.transform(frame_for(df, spec.numeric, spec.categorical)), rtol=1e-9, atol=1e-9
    )
    np.testing.assert_allclose(_sql_transform(spec, df), Z, rtol=1e-12, atol=1e-12)
    # JSON round trip
    again = PreprocessSpec.from_json(spec.to_json())
    np.testing.assert_array_equal(again.transform(df), Z)


def test_log1p_chosen_by_skewness():
    df = _frame()
    _, spec = fit_preprocessing(df, ["skewed", "normal", "share"], [], PreprocessingConfig())
    assert spec.log1p == [True, False, False]  # normal has negatives; share is not skewed


def test_median_imputation_and_unseen_category():
    df = _frame()
    _, spec = fit_preprocessing(df, ["skewed"], ["cell"], PreprocessingConfig(winsorize=None))
    assert spec.fill[0] == pytest.approx(np.nanmedian(df["skewed"]))
    new = pd.DataFrame({"skewed": [np.nan], "cell": ["zzz"]})
    z = spec.transform(new)
    assert z[0, 0] == pytest.approx((np.log1p(spec.fill[0]) - spec.center[0]) / spec.scale[0])
    assert z[0, 1:].tolist() == [0.0] * (z.shape[1] - 1)  # unseen category: all zeros
    np.testing.assert_allclose(_sql_transform(spec, new), z, rtol=1e-12)


def test_sql_float_round_trips():
    con = duckdb.connect()
    for x in [0.1, 1 / 3, -2.5e-300, 123456789.123456789, 1e22, 5.0]:
        assert con.execute(f"SELECT {sql_float(x)}").fetchone()[0] == x
