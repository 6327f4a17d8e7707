"""Randomised campaigns in the synthetic bank, with a known effect per planted persona.

Each campaign offers a product to every client onboarded before its send date.
Treatment is drawn at random (``treated_share``); a client converts (opens the
offered product within ``WINDOW_DAYS`` of the send date) with probability
``baseline + treated x effect x channel multiplier`` of its persona (planted segment
on the send date). Some personas respond, one not at all (sure things), one
negatively (do-not-disturbs), so that lift per segment, uplift models and targeting
can be checked against the truth (``truth/campaign_effects.csv``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from segmint.datasets import _bank_story as story

__all__ = [
    "CAMPAIGN_EFFECTS",
    "CHANNEL_MULTIPLIER",
    "EFFECTS_SCHEMA",
    "EXPOSURES_SCHEMA",
    "WINDOW_DAYS",
    "CampaignPlan",
    "campaign_plans",
    "effects_table",
    "make_campaigns",
]

#: persona -> (conversion without contact, absolute effect of the contact by email)
CAMPAIGN_EFFECTS: dict[str, tuple[float, float]] = {
    "affluent_loyalist": (0.10, 0.0),  # sure things: they buy anyway, contact changes nothing
    "lapsed_high_spender": (0.03, 0.05),
    "bargain_hunter": (0.05, 0.08),
    "digital_first": (0.04, 0.12),
    "branch_steady": (0.09, -0.05),  # do-not-disturbs: contact puts them off
    "dormant": (0.01, 0.02),
}
#: channel -> multiplier of the effect (diminishing returns come from the budget model)
CHANNEL_MULTIPLIER = {"email": 1.0, "sms": 1.3, "push": 0.6}
CHANNEL_COST = {"email": 0.05, "sms": 0.12, "push": 0.01}
OFFERS = (("Bonus Saver", "savings"), ("Travel Card", "card"), ("Green Loan", "loan"))
WINDOW_DAYS = 28
SPACING_DAYS = 35
VALUE_PER_CONVERSION = 40.0

EXPOSURES_SCHEMA = pa.schema(
    [
        ("customer_no", pa.string()),
        ("campaign_code", pa.string()),
        ("grp", pa.string()),
        ("sent_on", pa.date32()),
        ("channel", pa.string()),
        ("offer", pa.string()),
    ]
)
EFFECTS_SCHEMA = pa.schema(
    [
        ("campaign", pa.string()),
        ("segment", pa.string()),
        ("sent_on", pa.date32()),
        ("channel", pa.string()),
        ("offer", pa.string()),
        ("baseline", pa.float64()),
        ("effect", pa.float64()),
    ]
)


@dataclass(frozen=True)
class CampaignPlan:
    """One simulated campaign."""

    name: str
    send_day: int  # day index (0 = start of the period)
    channel: str
    offer: str
    product_type: str
    treated_share: float


def campaign_plans(n_days: int, n_campaigns: int, treated_share: float) -> list[CampaignPlan]:
    """Campaigns every :data:`SPACING_DAYS`, the last one's window ending 3 days before the end."""
    channels = tuple(CHANNEL_MULTIPLIER)
    plans = []
    for k in range(n_campaigns):
        day = n_days - 3 - WINDOW_DAYS - SPACING_DAYS * (n_campaigns - 1 - k)
        offer, ptype = OFFERS[k % len(OFFERS)]
        plans.append(
            CampaignPlan(f"cmp{k + 1:02d}", day, channels[k % len(channels)], offer, ptype, treated_share)
        )
    return plans


def _probabilities(plan: CampaignPlan) -> tuple[np.ndarray, np.ndarray]:
    base = np.array([CAMPAIGN_EFFECTS[s][0] for s in story.SEGMENT_NAMES])
    effect = np.array([CAMPAIGN_EFFECTS[s][1] for s in story.SEGMENT_NAMES]) * CHANNEL_MULTIPLIER[plan.channel]
    return base, effect


def effects_table(plans: list[CampaignPlan], start: dt.date) -> pa.Table:
    """The planted truth: per campaign and persona, the baseline and the effect."""
    rows: dict[str, list] = {f.name: [] for f in EFFECTS_SCHEMA}
    for p in plans:
        base, effect = _probabilities(p)
        for i, seg in enumerate(story.SEGMENT_NAMES):
            rows["campaign"].append(p.name)
            rows["segment"].append(seg)
            rows["sent_on"].append(start + dt.timedelta(days=p.send_day))
            rows["channel"].append(p.channel)
            rows["offer"].append(p.offer)
            rows["baseline"].append(float(base[i]))
            rows["effect"].append(float(effect[i]))
    return pa.table(rows, schema=EFFECTS_SCHEMA)


def make_campaigns(
    rng: np.random.Generator,
    plans: list[CampaignPlan],
    start: dt.date,
    ids: pa.Array,
    segment: np.ndarray,
    final_segment: np.ndarray,
    migration_day: np.ndarray,
    onboard_day: np.ndarray,
    first_account: int,
) -> tuple[pa.Table, pa.Table]:
    """Exposures and the products opened in response, for one block of clients.

    Returns
    -------
    exposures : Table (EXPOSURES_SCHEMA)
    opened : Table of holdings rows (customer_no, account_id, product_name,
        product_type, opened, closed, balance)
    """
    exp_parts, open_parts = [], []
    ids_np = np.asarray(ids.to_pylist(), dtype=object)
    next_account = first_account
    for p in plans:
        eligible = np.flatnonzero(onboard_day < p.send_day)
        n = eligible.size
        persona = np.where(migration_day[eligible] <= p.send_day, final_segment[eligible], segment[eligible])
        treated = rng.random(n) < p.treated_share
        base, effect = _probabilities(p)
        prob = np.clip(base[persona] + treated * effect[persona], 0.0, 1.0)
        converted = rng.random(n) < prob
        delay = rng.integers(0, WINDOW_DAYS, size=n)
        balance = np.round(rng.lognormal(np.log(2_000.0), 0.8, size=n), 2)
        sent = np.datetime64(start, "D") + p.send_day
        exp_parts.append(
            pa.table(
                {
                    "customer_no": pa.array(ids_np[eligible], pa.string()),
                    "campaign_code": pa.array([p.name] * n, pa.string()),
                    "grp": pa.array(np.where(treated, "treatment", "control"), pa.string()),
                    "sent_on": pa.array(np.full(n, sent), pa.date32()),
                    "channel": pa.array([p.channel] * n, pa.string()),
                    "offer": pa.array([p.offer] * n, pa.string()),
                },
                schema=EXPOSURES_SCHEMA,
            )
        )
        conv = np.flatnonzero(converted)
        m = conv.size
        accounts = np.arange(next_account, next_account + m)
        next_account += m
        open_parts.append(
            pa.table(
                {
                    "customer_no": pa.array(ids_np[eligible[conv]], pa.string()),
                    "account_id": pa.array([f"O{a:09d}" for a in accounts], pa.string()),
                    "product_name": pa.array([p.offer] * m, pa.string()),
                    "product_type": pa.array([p.product_type] * m, pa.string()),
                    "opened": pa.array(sent + delay[conv], pa.date32()),
                    "closed": pa.array([None] * m, pa.date32()),
                    "balance": pa.array(balance[conv], pa.float64()),
                }
            )
        )
    return pa.concat_tables(exp_parts), pa.concat_tables(open_parts)
