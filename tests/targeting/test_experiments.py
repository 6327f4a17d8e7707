"""Hash assignment: reproducible, stable as clients arrive, shares within sampling error."""

import datetime as dt
import hashlib

import duckdb
import numpy as np
import pytest
from scipy import stats

from segmint.config import ExperimentsConfig
from segmint.errors import ConfigError
from segmint.store import Warehouse
from segmint.targeting import (
    ASSIGNMENTS_TABLE,
    assign_holdout,
    balance_check,
    draw_campaign,
    uniform_sql,
)

CFG = ExperimentsConfig.model_validate(
    {
        "salt": "s3cret",
        "holdout": {"share": 0.1},
        "campaigns": {
            "spring": {"control_share": 0.2, "dimension": "value", "segments": ["High", "Top"]},
            "strat": {"control_share": 0.3, "dimension": "value", "stratify": True},
        },
    }
)


def _clients(wh: Warehouse, n: int, first: int = 0) -> None:
    wh.con.execute("CREATE TABLE IF NOT EXISTS clients (client_id VARCHAR)")
    wh.con.execute(
        "INSERT INTO clients SELECT 'C' || lpad(CAST(i AS VARCHAR), 7, '0') FROM range(?, ?) t(i)",
        [first, first + n],
    )


def _segments(wh: Warehouse, as_of: dt.date) -> None:
    wh.con.execute(
        "CREATE OR REPLACE TABLE segment_assignments AS SELECT client_id, 'value' AS dimension, "
        "seg AS segment_id, seg AS segment_name, 1 AS model_version, ? AS as_of, NULL::DOUBLE AS score "
        "FROM (SELECT client_id, ['Low', 'Medium', 'High', 'Top'][1 + CAST(substr(client_id, 2) AS INT) % 4] "
        "AS seg FROM clients)",
        [as_of],
    )


def _arms(wh: Warehouse, experiment: str) -> dict[str, str]:
    return dict(
        wh.con.execute(
            f"SELECT client_id, arm FROM {ASSIGNMENTS_TABLE} WHERE experiment = ?", [experiment]
        ).fetchall()
    )


def test_uniform_is_md5_of_salt_experiment_and_client():
    # independent computation in Python: first 13 hex digits of md5 / 2^52
    digest = hashlib.md5(b"s3cret|global_holdout|C0000042").hexdigest()
    expected = int(digest[:13], 16) / 2**52
    got = duckdb.execute("SELECT " + uniform_sql("'C0000042'", "global_holdout", "s3cret")).fetchone()[0]
    assert got == expected
    assert 0 <= got < 1


def test_uniform_is_uniform():
    u = duckdb.execute(
        "SELECT " + uniform_sql("CAST(i AS VARCHAR)", "x", "salt") + " FROM range(20000) t(i)"
    ).fetchnumpy()
    values = next(iter(u.values()))
    assert stats.kstest(values, "uniform").pvalue > 0.001


def test_holdout_is_reproducible_across_runs_and_warehouses():
    arms = []
    for _ in range(2):
        with Warehouse(":memory:") as wh:
            _clients(wh, 5000)
            assign_holdout(wh, CFG, as_of=dt.date(2025, 1, 1))
            arms.append(_arms(wh, "global_holdout"))
    assert arms[0] == arms[1]


def test_holdout_share_within_sampling_error_and_new_clients_keep_old_arms():
    with Warehouse(":memory:") as wh:
        _clients(wh, 20_000)
        assign_holdout(wh, CFG, as_of=dt.date(2025, 1, 1))
        before = _arms(wh, "global_holdout")
        n_held = sum(a == "control" for a in before.values())
        # two-sided binomial test at 0.1%: the share is the configured one
        assert stats.binomtest(n_held, 20_000, 0.1).pvalue > 0.001
        _clients(wh, 5000, first=20_000)
        counts = assign_holdout(wh, CFG, as_of=dt.date(2025, 2, 1))
        after = _arms(wh, "global_holdout")
        assert {k: after[k] for k in before} == before
        assert len(after) == 25_000
        assert int(counts["new"].sum()) == 5000
        # the share is persistent: a later, bigger share does not move anyone assigned
        bigger = CFG.model_copy(update={"holdout": CFG.holdout.model_copy(update={"share": 0.5})})
        assign_holdout(wh, bigger, as_of=dt.date(2025, 3, 1))
        assert _arms(wh, "global_holdout") == after


def test_campaign_draw_excludes_holdout_selects_segments_and_is_stable():
    with Warehouse(":memory:") as wh:
        _clients(wh, 20_000)
        _segments(wh, dt.date(2025, 1, 1))
        assign_holdout(wh, CFG, as_of=dt.date(2025, 1, 1))
        held = {c for c, a in _arms(wh, "global_holdout").items() if a == "control"}
        res = draw_campaign(wh, CFG, "spring", as_of=dt.date(2025, 1, 2))
        arms = _arms(wh, "spring")
        assert not held & set(arms)
        assert set(res.counts["stratum"]) == {"High", "Top"}
        n = len(arms)
        n_control = sum(a == "control" for a in arms.values())
        assert stats.binomtest(n_control, n, 0.2).pvalue > 0.001
        again = draw_campaign(wh, CFG, "spring", as_of=dt.date(2025, 1, 3))
        assert _arms(wh, "spring") == arms
        assert int(again.counts["new"].sum()) == 0


def test_campaign_arm_independent_of_holdout_arm():
    with Warehouse(":memory:") as wh:
        _clients(wh, 20_000)
        u1 = wh.con.execute("SELECT " + uniform_sql("client_id", "a", "s") + " FROM clients").fetchnumpy()
        u2 = wh.con.execute("SELECT " + uniform_sql("client_id", "b", "s") + " FROM clients").fetchnumpy()
        a, b = (next(iter(u.values())) for u in (u1, u2))
        assert abs(np.corrcoef(a, b)[0, 1]) < 0.03


def test_stratified_draw_has_exact_counts_per_segment():
    with Warehouse(":memory:") as wh:
        _clients(wh, 10_001)
        _segments(wh, dt.date(2025, 1, 1))
        res = draw_campaign(wh, CFG.model_copy(update={"holdout": None}), "strat")
        for stratum, grp in res.counts.groupby("stratum"):
            n = int(grp["clients"].sum())
            n_c = int(grp.loc[grp.arm == "control", "clients"].sum())
            assert n_c == round(0.3 * n), stratum


def test_unknown_campaign_is_a_config_error():
    with Warehouse(":memory:") as wh:
        _clients(wh, 10)
        with pytest.raises(ConfigError, match="no campaign 'nope'"):
            draw_campaign(wh, CFG, "nope")


def _features(wh: Warehouse, broken: bool) -> None:
    rng = np.random.default_rng(0)
    ids = [r[0] for r in wh.con.execute("SELECT client_id FROM clients ORDER BY 1").fetchall()]
    import pandas as pd

    frame = pd.DataFrame(
        {
            "client_id": ids,
            "as_of": dt.date(2025, 1, 1),
            "frequency": rng.poisson(10, len(ids)).astype(float),
            "monetary_total": rng.gamma(2.0, 100.0, len(ids)),
        }
    )
    wh.con.register("_f", frame)
    wh.con.execute("CREATE OR REPLACE TABLE features AS SELECT * FROM _f")
    if broken:  # arms chosen by spend: the randomisation is broken
        wh.con.execute(
            f"UPDATE {ASSIGNMENTS_TABLE} a SET arm = CASE WHEN f.monetary_total > 150 THEN 'treatment' "
            "ELSE 'control' END FROM features f WHERE f.client_id = a.client_id AND a.experiment = 'spring'"
        )


@pytest.mark.parametrize("broken", [False, True])
def test_balance_check_warns_only_when_randomisation_is_broken(broken):
    with Warehouse(":memory:") as wh:
        _clients(wh, 8000)
        _segments(wh, dt.date(2025, 1, 1))
        draw_campaign(wh, CFG.model_copy(update={"holdout": None}), "spring")
        _features(wh, broken)
        report = balance_check(wh, CFG, "spring", as_of=dt.date(2025, 1, 5))
        assert set(report.smd["feature"]) == {"frequency", "monetary_total"}
        assert report.ok is not broken
        if broken:
            assert any("monetary_total" in w for w in report.warnings)
            assert any("sample-ratio mismatch" in w for w in report.warnings)
        else:
            assert (report.smd["smd"].abs() < 0.1).all()
