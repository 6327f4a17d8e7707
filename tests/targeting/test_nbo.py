"""Next-best-offer: never ineligible, the contact policy holds, the planted best offer wins."""

from __future__ import annotations

import datetime as dt

import pyarrow.parquet as pq
import pytest

from segmint.config import NboConfig
from segmint.datasets import planted_uptake
from segmint.errors import ConfigError
from segmint.targeting import next_best_offers

D = dt.date(2025, 12, 31)
PRODUCTS = ("savings", "card", "loan", "mortgage", "investment")
HELD = (f"SELECT DISTINCT client_id, product_type FROM holdings WHERE opened_at <= DATE '{D}' "
        f"AND (closed_at IS NULL OR closed_at > DATE '{D}')")


def _config(**policy) -> NboConfig:
    return NboConfig.model_validate({
        "offers": [{"name": p, "product": p, "value": 100, "cost": 1,
                    "channel": "branch" if p == "mortgage" else "email"} for p in PRODUCTS],
        "policy": policy,
    })


@pytest.mark.parametrize("persona", ["digital_first", "branch_steady"])
def test_planted_best_offer_ranks_first_for_its_persona(cycled, persona):
    uptake = planted_uptake(persona)
    best = max(uptake, key=uptake.get)
    truth = pq.read_table(cycled.root / "truth" / "segments.parquet").to_pandas()
    members = truth[truth.valid_to.isna() & (truth.segment == persona)][["client_id"]]  # noqa: F841
    with cycled.warehouse() as wh:
        next_best_offers(wh, _config(max_offers=1), as_of=D)
        # the persona's clients holding none of the offered products: every offer is open to them
        firsts = wh.con.execute(
            f"""SELECT o.offer, count(*) AS n FROM nbo_offers AS o JOIN members AS m USING (client_id)
            WHERE o.rank = 1 AND o.client_id NOT IN (SELECT client_id FROM ({HELD})
                                                     WHERE product_type IN {PRODUCTS})
            GROUP BY 1 ORDER BY 2 DESC"""
        ).fetchall()
    total = sum(n for _, n in firsts)
    assert total >= 15
    share = dict(firsts).get(best, 0) / total
    assert share >= 0.8, (persona, best, firsts)


def test_never_ineligible_and_policy_respected(cycled, tmp_path):
    cfg = NboConfig.model_validate({
        "offers": [
            {"name": "card", "product": "card", "value": 100, "cost": 1, "eligible": "tenure_days >= 365"},
            {"name": "savings", "product": "savings", "value": 80, "cost": 1},
            {"name": "mortgage", "product": "mortgage", "value": 900, "cost": 5, "channel": "branch"},
            {"name": "loan", "product": "loan", "value": 300, "cost": 1, "channel": "phone",
             "eligible": "p_alive > 0.5 AND n_products >= 2"},
        ],
        "policy": {"max_offers": 2, "capacity": {"branch": 25, "phone": 40}},
    })
    with cycled.warehouse() as wh:
        res = next_best_offers(wh, cfg, as_of=D, out=tmp_path / "nbo.csv")
        con = wh.con
        held = con.execute(
            f"SELECT count(*) FROM nbo_offers AS o JOIN ({HELD}) AS h ON h.client_id = o.client_id "
            "AND h.product_type = o.product"
        ).fetchone()[0]
        bad_card = con.execute(
            "SELECT count(*) FROM nbo_offers AS o JOIN features AS f ON f.client_id = o.client_id "
            f"AND f.as_of = DATE '{D}' WHERE o.offer = 'card' AND NOT (f.tenure_days >= 365)"
        ).fetchone()[0]
        bad_loan = con.execute(
            "SELECT count(*) FROM nbo_offers AS o JOIN features AS f ON f.client_id = o.client_id "
            f"AND f.as_of = DATE '{D}' WHERE o.offer = 'loan' "
            "AND NOT coalesce(f.p_alive > 0.5 AND f.n_products >= 2, false)"
        ).fetchone()[0]
        per_client = con.execute("SELECT max(n) FROM (SELECT count(*) AS n FROM nbo_offers GROUP BY client_id)").fetchone()[0]
        by_channel = dict(con.execute("SELECT channel, count(*) FROM nbo_offers GROUP BY 1").fetchall())
        order_ok = con.execute(
            "SELECT bool_and(a.expected_value >= b.expected_value) FROM nbo_offers AS a JOIN nbo_offers AS b "
            "ON a.client_id = b.client_id AND a.rank = 1 AND b.rank = 2"
        ).fetchone()[0]
        # contacts of the period use up a client's slots
        record_client = res.offers.client_id.iloc[0]
        con.execute("CREATE TABLE contacts (client_id VARCHAR, contacted_at DATE, audience VARCHAR, channel VARCHAR)")
        con.execute("INSERT INTO contacts VALUES (?, ?, 'x', 'email'), (?, ?, 'x', 'email')",
                    [record_client, D - dt.timedelta(days=3), record_client, D - dt.timedelta(days=5)])
        again = next_best_offers(wh, cfg, as_of=D)
    assert held == 0 and bad_card == 0 and bad_loan == 0
    assert per_client == 2 and order_ok
    assert by_channel["branch"] == 25 and by_channel["phone"] <= 40 and res.channel_use == by_channel
    # the branch is full, so the mortgage's would-be takers were given their next best offer
    assert res.candidates > len(res.offers)
    assert (tmp_path / "nbo.csv").read_text().startswith("as_of,client_id,rank,offer")
    assert record_client not in set(again.offers.client_id)
    assert {"segment_id", "offer", "mean_expected_value"} <= set(res.by_segment.columns)


def test_offer_propensity_from_scores(cycled):
    cfg = NboConfig.model_validate({"offers": [
        {"name": "premium", "message": "Upgrade to Premier", "value": 50, "cost": 2, "eligible": "p_alive > 0.2"},
    ]})
    with cycled.warehouse() as wh:
        with pytest.raises(ConfigError, match="needs a `propensity` column"):
            next_best_offers(wh, cfg, as_of=D)
        wh.con.execute(
            "CREATE TABLE scores AS SELECT client_id, as_of, 'premium' AS model, 1 AS version, "
            f"p_alive * 0.3 AS score, 1 AS decile FROM features WHERE as_of = DATE '{D}'"
        )
        res = next_best_offers(wh, cfg, as_of=D)
        want = wh.con.execute(
            f"SELECT client_id, p_alive * 0.3 AS p FROM features WHERE as_of = DATE '{D}' "
            "AND p_alive > 0.2 AND p_alive * 0.3 * 50 - 2 > 0 ORDER BY client_id"
        ).df()
    got = res.offers.sort_values("client_id")
    assert got.client_id.tolist() == want.client_id.tolist()
    assert got.p_accept.to_numpy() == pytest.approx(want.p.to_numpy())
    assert set(got.p_source) == {"propensity_premium"}
    assert (got.expected_value.to_numpy() == pytest.approx(got.p_accept.to_numpy() * 50 - 2))
