"""Audiences: the selection equals a hand-written SQL one; ranking, exclusions, exports."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from segmint.config import AudienceConfig
from segmint.errors import ConfigError, FeatureError, WarehouseError
from segmint.targeting import (
    audience_overlap,
    build_audience,
    compile_expression,
    export_audience,
    list_audiences,
    record_contacts,
    show_audience,
    stay_probabilities,
)

D = dt.date(2025, 12, 31)
PREV = dt.date(2025, 11, 30)


def _aud(**kw) -> AudienceConfig:
    return AudienceConfig.model_validate(kw)


def _with_consent(wh) -> None:
    """Half the clients (by a hash) gave marketing consent; some are unknown (null)."""
    wh.con.execute("ALTER TABLE clients ADD COLUMN marketing_consent BOOLEAN")
    wh.con.execute(
        "UPDATE clients SET marketing_consent = CASE hash(client_id) % 5 WHEN 0 THEN NULL "
        "WHEN 1 THEN false WHEN 2 THEN false ELSE true END"
    )


HAND = f"""
SELECT f.client_id FROM features AS f JOIN clients AS c ON c.client_id = f.client_id
WHERE f.as_of = DATE '{D}' AND f.p_alive >= 0.5 AND c.marketing_consent IS TRUE
  AND EXISTS (SELECT 1 FROM segment_assignments AS a WHERE a.client_id = f.client_id
              AND a.as_of = f.as_of AND a.dimension = 'value' AND a.segment_name IN ('Top', 'High'))
  AND EXISTS (SELECT 1 FROM segment_assignments AS a WHERE a.client_id = f.client_id
              AND a.as_of = f.as_of AND a.dimension = 'lifecycle' AND a.segment_name = 'Growing')
  AND (SELECT count(*) FROM segment_history AS h WHERE h.client_id = f.client_id
       AND h.dimension IN ('value', 'lifecycle') AND h.valid_from <= DATE '{PREV}'
       AND h.valid_to IS NULL) = 2
"""


def test_audience_equals_hand_written_sql(cycled):
    auds = {
        "core": _aud(
            segments={"value": ["Top", "High"], "lifecycle": ["Growing"]},
            where="p_alive >= 0.5",
            stable_cycles=2,
            exclude={"no_consent": True},
        )
    }
    with cycled.warehouse() as wh:
        _with_consent(wh)
        build = build_audience(wh, "core", auds, as_of=D)
        got = {r[0] for r in wh.con.execute(
            "SELECT client_id FROM audience_members WHERE audience = 'core' AND status = 'member'"
        ).fetchall()}
        want = {r[0] for r in wh.con.execute(HAND).fetchall()}
        # the stable core and consent both remove someone, so the test can tell them apart
        assert build.counts["stable_core"] < build.counts["where"]
        assert build.counts["excluded_no_consent"] > 0
    assert len(want) > 20
    assert got == want
    assert build.members == len(want) and build.notes == []


def test_stability_weighted_cap_takes_the_top_of_score_times_p_stay(cycled):
    auds = {
        "top": _aud(segments={"behaviour": ["behaviour-1", "behaviour-2", "behaviour-3"]},
                    size=50, rank_by="stability_weighted", score="p_alive")
    }
    with cycled.warehouse() as wh:
        build_audience(wh, "top", auds, as_of=D)
        stay = stay_probabilities(wh.con, D)
        # P(stay) by hand from the migration rows
        mig = wh.con.execute(
            "SELECT dimension, from_segment, to_segment, clients FROM segment_migration "
            "WHERE from_segment <> '(new)' AND to_segment <> '(gone)'"
        ).df()
        b1 = mig[(mig.dimension == "behaviour") & (mig.from_segment == "behaviour-1")]
        hand = b1[b1.to_segment == "behaviour-1"].clients.sum() / b1.clients.sum()
        got = stay.set_index(["dimension", "segment_id"]).loc[("behaviour", "behaviour-1"), "p_stay"]
        assert got == pytest.approx(hand, rel=1e-12)
        frame = wh.con.execute(
            "SELECT f.client_id, f.p_alive * s.p_stay AS w FROM features AS f "
            "JOIN segment_assignments AS a ON a.client_id = f.client_id AND a.as_of = f.as_of "
            "AND a.dimension = 'behaviour' JOIN stay AS s ON s.dimension = 'behaviour' "
            "AND s.segment_id = a.segment_id "
            f"WHERE f.as_of = DATE '{D}' AND a.segment_id IN ('behaviour-1', 'behaviour-2', 'behaviour-3') "
            "ORDER BY w DESC NULLS LAST, f.client_id LIMIT 50"
        ).df()
        members = wh.con.execute(
            "SELECT client_id, rank_value FROM audience_members WHERE audience = 'top' ORDER BY rank"
        ).df()
    assert members.client_id.tolist() == frame.client_id.tolist()
    assert members.rank_value.to_numpy() == pytest.approx(frame.w.to_numpy())


def test_exclusions_holdout_changes_overlap_and_export(cycled, tmp_path):
    auds = {
        "value": _aud(segments={"value": ["Top", "High"]}, size=200, rank_by="value",
                      exclude={"holdout_share": 0.2, "contacted_within_days": 30}),
        "rest": _aud(segments={"value": ["Top", "High", "Medium"]}, exclude={"audiences": ["value"]}),
    }
    with cycled.warehouse() as wh:
        first = build_audience(wh, "value", auds, as_of=D)
        assert first.members == 200 and first.holdout == 50
        assert any("contacts" in n for n in first.notes)
        held = wh.con.execute(
            "SELECT count(*) FROM audience_members WHERE audience = 'value' AND status = 'holdout'"
        ).fetchone()[0]
        assert held == 50
        rest = build_audience(wh, "rest", auds, as_of=D)
        shared = wh.con.execute(
            "SELECT count(*) FROM audience_members AS a JOIN audience_members AS b USING (client_id) "
            "WHERE a.audience = 'value' AND a.status = 'member' AND b.audience = 'rest'"
        ).fetchone()[0]
        assert shared == 0 and rest.counts["excluded_audiences"] == 200
        # contacted members are left out of the next build
        assert record_contacts(wh, "value", day=D - dt.timedelta(days=3)) == 200
        second = build_audience(wh, "value", auds, as_of=D)
        assert second.counts["excluded_contacted"] == 200
        # nobody contacted comes back; the holdout hash keeps the same clients apart
        assert second.changes == {"added": second.members, "removed": 200, "kept": 0}
        ov = audience_overlap(wh)
        assert ov.loc["rest", "rest"] == rest.members
        assert ov.loc["value", "rest"] == ov.loc["rest", "value"]
        listed = list_audiences(wh, auds).set_index("audience")
        assert listed.loc["value", "version"] == 2 and listed.loc["value", "removed"] == 200
        assert ov.loc["value", "value"] == second.members
        # the mix accounts for every member in every dimension (min_cell 1: raw counts;
        # test_audiences_release checks the suppressed one)
        shown = show_audience(wh, "value", version=1, min_cell=1)
        assert shown["members"] == 200 and shown["segments"].members.sum() == 200 * 4
        out = export_audience(wh, "value", tmp_path / "value.parquet", version=1)
        names = wh.con.execute(
            "SELECT json FROM segment_catalog ORDER BY version DESC LIMIT 1"
        ).fetchone()[0]
    frame = pd.read_parquet(out)
    assert len(frame) == 200 and frame["rank"].tolist() == list(range(1, 201))
    assert {"segment_value", "segment_behaviour", "segment_lifecycle", "segment_rfm", "reason"} <= set(frame.columns)
    # learned segments carry their catalog (generated) names, not the model's placeholders
    assert not frame.segment_behaviour.str.startswith("Segment ").any()
    catalog = json.loads(names)
    behaviour = {seg["name"] for d in catalog["dimensions"] if d["dimension"] == "behaviour"
                 for seg in d["segments"]}
    assert set(frame.segment_behaviour) <= behaviour
    assert frame.value.is_monotonic_decreasing
    csv = export_audience_csv(cycled, tmp_path)
    assert csv.startswith("client_id,segment_behaviour")


def export_audience_csv(project, tmp_path) -> str:
    with project.warehouse() as wh:
        return export_audience(wh, "value", tmp_path / "v.csv").read_text()


def test_user_mistakes_are_clear_errors(cycled):
    with cycled.warehouse() as wh:
        with pytest.raises(ConfigError, match="not a segment of value"):
            build_audience(wh, "a", {"a": _aud(segments={"value": ["Gold"]})}, as_of=D)
        # user SQL is checked when the project file loads, and again when compiled
        with pytest.raises(ValueError, match=r"a query \(SELECT\) is not allowed"):
            _aud(where="p_alive > (SELECT 1)")
        with pytest.raises(ValueError, match="read_csv"):
            _aud(where="read_csv('x') IS NULL")
        with pytest.raises(ConfigError, match="audiences.a.where: .*not allowed"):
            compile_expression("p_alive > (SELECT 1)", {"p_alive"}, where="audiences.a.where")
        with pytest.raises(FeatureError, match="p_alive"):
            build_audience(wh, "a", {"a": _aud(where="p_alve > 0.5")}, as_of=D)
        with pytest.raises(WarehouseError, match="5 cycles asked, 3 recorded"):
            build_audience(wh, "a", {"a": _aud(stable_cycles=5)}, as_of=D)
        with pytest.raises(ConfigError, match="no such audience"):
            build_audience(wh, "zz", {}, as_of=D)


def test_scores_table_columns_are_usable(cycled):
    """A `scores` table (part 1's output) appears as `propensity_<model>` columns."""
    with cycled.warehouse() as wh:
        wh.con.execute(
            "CREATE TABLE scores AS SELECT client_id, as_of, 'upgrade' AS model, 1 AS version, "
            "p_alive / 2 AS score, 1 AS decile FROM features WHERE as_of = DATE '2025-12-31'"
        )
        auds = {"u": _aud(where="propensity_upgrade >= 0.3", size=10, score="propensity_upgrade")}
        build_audience(wh, "u", auds, as_of=D)
        got = wh.con.execute(
            "SELECT client_id FROM audience_members WHERE audience = 'u' ORDER BY rank"
        ).df().client_id.tolist()
        want = wh.con.execute(
            f"SELECT client_id FROM features WHERE as_of = DATE '{D}' AND p_alive / 2 >= 0.3 "
            "ORDER BY p_alive DESC, client_id LIMIT 10"
        ).df().client_id.tolist()
    assert got == want


def test_config_refuses_unknown_references():
    from segmint.config import ProjectConfig

    base = {"sources": {"s": {"path": "x.csv"}},
            "entities": {"clients": {"source": "s", "columns": {"client_id": "id"}},
                         "transactions": {"source": "s", "columns": {
                             "transaction_id": "t", "client_id": "id", "ts": "ts", "amount": "a"}}}}
    with pytest.raises(Exception, match="'ghost' is not a declared audience"):
        ProjectConfig.model_validate({**base, "audiences": {"a": {"exclude": {"audiences": ["ghost"]}}}})
    with pytest.raises(Exception, match="unknown|extra"):
        ProjectConfig.model_validate({**base, "audiences": {"a": {"segmnets": {}}}})
