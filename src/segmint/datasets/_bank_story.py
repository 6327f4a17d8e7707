"""The generative story of the synthetic bank: segments, behaviour profiles, vocabularies.

Every number the generator draws from lives here, so that ``docs/generator.md`` and the
code can be read side by side. A *segment* is the planted label; a *profile* is a way of
behaving. Most segments behave like one profile for their whole life; lapsed high
spenders behave like ``lapsed_active`` until their lapse date and like ``stopped`` after.
A client who migrates switches to the destination segment's profile on the migration date.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# ---------------------------------------------------------------- vocabularies
CATEGORIES = (
    "grocery",
    "dining",
    "travel",
    "fuel",
    "fashion",
    "electronics",
    "health",
    "utilities",
    "entertainment",
    "online_retail",
)
TX_CHANNELS = ("pos", "web", "mobile", "branch", "atm")
CURRENCIES = ("EUR", "USD", "GBP", "CHF")  # only EUR is valid; the others are faults
EN_CHANNELS = ("web", "mobile", "email", "branch", "phone")
# event vocabulary per engagement channel, with conditional probabilities
EN_EVENTS: dict[str, tuple[tuple[str, float], ...]] = {
    "web": (("login", 0.5), ("page_view", 0.5)),
    "mobile": (("app_open", 0.5), ("login", 0.3), ("transfer", 0.2)),
    "email": (("email_open", 0.8), ("email_click", 0.2)),
    "branch": (("branch_visit", 1.0),),
    "phone": (("call", 1.0),),
}
PRODUCT_TYPES = ("current", "savings", "card", "loan", "mortgage", "investment")
REGIONS = ("north", "south", "east", "west", "central", "capital", "coast", "islands")
REGION_WEIGHTS = (0.14, 0.13, 0.12, 0.12, 0.15, 0.2, 0.09, 0.05)
SEXES = ("F", "M", "X")
SEX_WEIGHTS = (0.5, 0.48, 0.02)
OCCUPATIONS = ("employed", "self_employed", "executive", "retired", "student", "unemployed")
INCOME_BANDS = ("<20k", "20-40k", "40-70k", "70-120k", ">120k")
ACQUISITION = ("branch", "web", "mobile", "partner", "referral")

# Monthly seasonality of purchase intensity (Jan..Dec): December peak, summer dip.
SEASONALITY = (0.92, 0.88, 0.97, 1.0, 1.0, 0.96, 0.86, 0.8, 1.0, 1.02, 1.1, 1.45)

DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True)
class Profile:
    """How a client behaves while in a segment (all rates per month of activity)."""

    rate: float  # mean transactions per month
    rate_shape: float  # gamma shape of the client-level rate multiplier (Poisson-gamma)
    median_spend: float  # EUR, median of the client-level lognormal spend
    spend_between_sd: float  # sd of the client's log median spend around the segment's
    spend_within_sd: float  # sd of log spend between one client's transactions
    categories: tuple[float, ...]  # Dirichlet mean over CATEGORIES
    channels: tuple[float, ...]  # Dirichlet mean over TX_CHANNELS
    mix_concentration: float  # Dirichlet concentration of both mixes
    promo: float  # mean share of transactions on promotion (Beta, concentration 20)
    weekend: tuple[float, float]  # intensity multiplier on Saturday, Sunday (weekdays 1)
    hours: tuple[tuple[float, float, float], ...]  # (weight, mean hour, sd) bumps
    events: float  # mean digital/contact events per month
    event_channels: tuple[float, ...]  # Dirichlet mean over EN_CHANNELS


PROFILES: dict[str, Profile] = {
    "affluent": Profile(
        rate=5.5, rate_shape=6.0, median_spend=85.0, spend_between_sd=0.25, spend_within_sd=0.8,
        categories=(0.12, 0.22, 0.22, 0.06, 0.12, 0.08, 0.04, 0.03, 0.08, 0.03),
        channels=(0.62, 0.14, 0.14, 0.03, 0.07), mix_concentration=40.0, promo=0.04,
        weekend=(1.3, 1.1), hours=((0.6, 13.0, 2.0), (0.4, 20.0, 1.5)),
        events=3.0, event_channels=(0.3, 0.6, 0.08, 0.01, 0.01),
    ),
    "lapsed_active": Profile(
        rate=5.0, rate_shape=4.0, median_spend=110.0, spend_between_sd=0.25, spend_within_sd=0.8,
        categories=(0.1, 0.2, 0.22, 0.05, 0.12, 0.14, 0.03, 0.02, 0.07, 0.05),
        channels=(0.55, 0.2, 0.15, 0.03, 0.07), mix_concentration=40.0, promo=0.05,
        weekend=(1.3, 1.1), hours=((0.6, 13.0, 2.0), (0.4, 20.0, 1.5)),
        events=2.5, event_channels=(0.35, 0.55, 0.08, 0.01, 0.01),
    ),
    "stopped": Profile(
        rate=0.005, rate_shape=2.0, median_spend=110.0, spend_between_sd=0.25, spend_within_sd=0.8,
        categories=(0.07, 0.08, 0.2, 0.03, 0.12, 0.25, 0.01, 0.01, 0.05, 0.18),
        channels=(0.45, 0.3, 0.15, 0.02, 0.08), mix_concentration=40.0, promo=0.08,
        weekend=(1.2, 1.0), hours=((1.0, 15.0, 4.0),),
        events=0.3, event_channels=(0.15, 0.1, 0.73, 0.01, 0.01),
    ),
    "bargain": Profile(
        rate=4.5, rate_shape=4.0, median_spend=18.0, spend_between_sd=0.25, spend_within_sd=0.7,
        categories=(0.38, 0.05, 0.01, 0.1, 0.18, 0.04, 0.03, 0.02, 0.05, 0.14),
        channels=(0.6, 0.2, 0.1, 0.02, 0.08), mix_concentration=40.0, promo=0.55,
        weekend=(2.0, 1.6), hours=((0.5, 11.0, 2.0), (0.5, 17.5, 2.0)),
        events=2.5, event_channels=(0.3, 0.28, 0.4, 0.01, 0.01),
    ),
    "digital": Profile(
        rate=4.0, rate_shape=4.0, median_spend=25.0, spend_between_sd=0.25, spend_within_sd=0.7,
        categories=(0.12, 0.14, 0.03, 0.01, 0.06, 0.08, 0.02, 0.02, 0.22, 0.3),
        channels=(0.15, 0.3, 0.5, 0.01, 0.04), mix_concentration=40.0, promo=0.15,
        weekend=(1.3, 1.3), hours=((0.3, 13.0, 2.0), (0.7, 21.5, 1.5)),
        events=8.0, event_channels=(0.2, 0.75, 0.03, 0.01, 0.01),
    ),
    "branch": Profile(
        rate=2.2, rate_shape=4.0, median_spend=40.0, spend_between_sd=0.25, spend_within_sd=0.6,
        categories=(0.3, 0.05, 0.02, 0.12, 0.05, 0.02, 0.18, 0.22, 0.03, 0.01),
        channels=(0.45, 0.03, 0.02, 0.3, 0.2), mix_concentration=40.0, promo=0.05,
        weekend=(0.5, 0.1), hours=((1.0, 11.5, 1.8),),
        events=0.6, event_channels=(0.02, 0.02, 0.1, 0.5, 0.36),
    ),
    "dormant": Profile(
        rate=0.003, rate_shape=2.0, median_spend=30.0, spend_between_sd=0.3, spend_within_sd=0.7,
        categories=(0.25, 0.05, 0.03, 0.15, 0.05, 0.03, 0.1, 0.25, 0.04, 0.05),
        channels=(0.5, 0.1, 0.05, 0.15, 0.2), mix_concentration=40.0, promo=0.05,
        weekend=(1.0, 1.0), hours=((1.0, 13.0, 3.0),),
        events=0.03, event_channels=(0.05, 0.05, 0.88, 0.01, 0.01),
    ),
}
PROFILE_NAMES = tuple(PROFILES)


@dataclass(frozen=True)
class Segment:
    """A planted segment: its share, demographics, products, economics and migration path."""

    share: float
    profile: str  # behaviour while in the segment
    early_profile: str | None  # behaviour before a native member's lapse date (lapsed only)
    migrates_to: str | None  # destination of the clients of this segment who migrate
    migration_weight: float  # relative propensity of a member to migrate
    tenure_years: tuple[float, float]  # uniform range of tenure at the end date
    age: tuple[float, float]  # mean and sd of age at the end date
    occupation: tuple[float, ...]
    income: tuple[float, ...]
    acquisition: tuple[float, ...]
    business: float  # share of business clients
    # probability of holding savings, card, loan, mortgage, investment (current: always)
    products: tuple[float, float, float, float, float]
    wealth: float  # multiplier of current/savings/investment balances
    closed: float  # probability a non-current product is closed
    fee: float  # mean monthly revenue (EUR) before spend-related revenue
    cost: float  # mean monthly cost to serve (EUR)


SEGMENTS: dict[str, Segment] = {
    "affluent_loyalist": Segment(
        share=0.15, profile="affluent", early_profile=None, migrates_to="lapsed_high_spender", migration_weight=1.2,
        tenure_years=(3.0, 25.0), age=(52.0, 10.0),
        occupation=(0.4, 0.15, 0.35, 0.08, 0.01, 0.01), income=(0.01, 0.04, 0.2, 0.4, 0.35),
        acquisition=(0.45, 0.15, 0.05, 0.1, 0.25), business=0.06,
        products=(0.9, 0.95, 0.1, 0.5, 0.7), wealth=1.0, closed=0.05, fee=45.0, cost=12.0,
    ),
    "lapsed_high_spender": Segment(
        share=0.10, profile="stopped", early_profile="lapsed_active", migrates_to=None, migration_weight=0.0,
        tenure_years=(3.5, 20.0), age=(45.0, 11.0),
        occupation=(0.55, 0.15, 0.2, 0.06, 0.02, 0.02), income=(0.03, 0.12, 0.35, 0.35, 0.15),
        acquisition=(0.3, 0.3, 0.15, 0.1, 0.15), business=0.04,
        products=(0.7, 0.9, 0.2, 0.3, 0.3), wealth=0.5, closed=0.3, fee=20.0, cost=8.0,
    ),
    "bargain_hunter": Segment(
        share=0.20, profile="bargain", early_profile=None, migrates_to=None, migration_weight=0.0,
        tenure_years=(1.5, 18.0), age=(40.0, 12.0),
        occupation=(0.6, 0.08, 0.02, 0.1, 0.1, 0.1), income=(0.2, 0.45, 0.28, 0.06, 0.01),
        acquisition=(0.3, 0.3, 0.2, 0.15, 0.05), business=0.02,
        products=(0.5, 0.8, 0.35, 0.15, 0.05), wealth=0.15, closed=0.08, fee=12.0, cost=6.0,
    ),
    "digital_first": Segment(
        share=0.17, profile="digital", early_profile=None, migrates_to="affluent_loyalist", migration_weight=0.5,
        tenure_years=(0.1, 1.5), age=(29.0, 6.0),
        occupation=(0.6, 0.1, 0.05, 0.0, 0.22, 0.03), income=(0.2, 0.4, 0.28, 0.1, 0.02),
        acquisition=(0.03, 0.35, 0.55, 0.04, 0.03), business=0.02,
        products=(0.4, 0.7, 0.15, 0.05, 0.15), wealth=0.1, closed=0.05, fee=8.0, cost=2.5,
    ),
    "branch_steady": Segment(
        share=0.20, profile="branch", early_profile=None, migrates_to="digital_first", migration_weight=0.4,
        tenure_years=(5.0, 28.0), age=(64.0, 9.0),
        occupation=(0.25, 0.08, 0.02, 0.63, 0.0, 0.02), income=(0.2, 0.4, 0.3, 0.08, 0.02),
        acquisition=(0.85, 0.02, 0.0, 0.05, 0.08), business=0.03,
        products=(0.7, 0.4, 0.15, 0.35, 0.15), wealth=0.35, closed=0.06, fee=18.0, cost=15.0,
    ),
    "dormant": Segment(
        share=0.18, profile="dormant", early_profile=None, migrates_to="bargain_hunter", migration_weight=2.8,
        tenure_years=(2.0, 22.0), age=(48.0, 15.0),
        occupation=(0.45, 0.1, 0.02, 0.18, 0.1, 0.15), income=(0.3, 0.4, 0.2, 0.08, 0.02),
        acquisition=(0.4, 0.25, 0.1, 0.2, 0.05), business=0.03,
        products=(0.15, 0.1, 0.05, 0.05, 0.02), wealth=0.03, closed=0.2, fee=3.0, cost=2.0,
    ),
}
SEGMENT_NAMES = tuple(SEGMENTS)

# Native lapsed high spenders stop this many days before the end date (uniform range):
# their last year still shows a few high-value purchases, then silence.
LAPSE_DAYS_BEFORE_END = (200, 330)
# Migrations happen on dates spread uniformly over the last 26 weeks of the period.
MIGRATION_WINDOW_DAYS = 26 * 7
# A migrating client has been a client for at least this long before migrating.
MIGRATION_MIN_TENURE_DAYS = 90

# Planted upgrades: a client who migrates into one of these segments and does not hold its
# product type opens one with this probability, a uniform number of days after the migration
# (when that day is within the period). Listed in truth/upgrades.csv.
UPGRADES = {"affluent_loyalist": ("investment", 0.6)}
UPGRADE_DAYS_AFTER_MIGRATION = (7, 90)

# Product economics: base median balance (EUR, liabilities negative), name by tier.
BALANCE_MEDIAN = {
    "current": 3_000.0,
    "savings": 20_000.0,
    "card": -900.0,
    "loan": -12_000.0,
    "mortgage": -160_000.0,
    "investment": 50_000.0,
}
WEALTH_SCALED = {"current", "savings", "investment"}
PRODUCT_NAMES = {  # (premium name, standard name)
    "current": ("Premier Current", "Everyday Current"),
    "savings": ("Premier Saver", "Easy Saver"),
    "card": ("Platinum Card", "Classic Card"),
    "loan": ("Personal Loan", "Personal Loan"),
    "mortgage": ("Home Mortgage", "Home Mortgage"),
    "investment": ("Managed Portfolio", "Index Fund Account"),
}

REFUND_SHARE = 0.015  # share of transactions that are refunds (negative amounts)
PROMO_DISCOUNT = (0.6, 0.9)  # promotional purchases pay this fraction of the price
INTERCHANGE = 0.008  # revenue per EUR of card spend


def profile_arrays() -> dict[str, np.ndarray]:
    """The profile table as arrays indexed by profile number (order of PROFILE_NAMES)."""
    ps = [PROFILES[n] for n in PROFILE_NAMES]
    return {
        "rate": np.array([p.rate for p in ps]),
        "rate_shape": np.array([p.rate_shape for p in ps]),
        "log_spend": np.log([p.median_spend for p in ps]),
        "spend_between_sd": np.array([p.spend_between_sd for p in ps]),
        "spend_within_sd": np.array([p.spend_within_sd for p in ps]),
        "categories": np.array([p.categories for p in ps]),
        "channels": np.array([p.channels for p in ps]),
        "mix_concentration": np.array([p.mix_concentration for p in ps]),
        "promo": np.array([p.promo for p in ps]),
        "events": np.array([p.events for p in ps]),
        "event_channels": np.array([p.event_channels for p in ps]),
    }


def hour_weights(profile: Profile) -> np.ndarray:
    """Probability of each hour 0..23 (a mixture of wrapped normal bumps)."""
    hours = np.arange(24) + 0.5
    w = np.zeros(24)
    for weight, mean, sd in profile.hours:
        d = np.minimum(np.abs(hours - mean), 24 - np.abs(hours - mean))
        w += weight * np.exp(-0.5 * (d / sd) ** 2) / sd
    w += 0.002  # nobody is never awake
    return w / w.sum()


def markdown_tables() -> str:
    """The segment and profile tables of ``docs/generator.md``, rendered from this module.

    A test checks that the document contains exactly this text.
    """
    seg_rows = [
        "| segment | share | behaviour | migrates to (weight) | tenure, years | age | "
        "products: savings/card/loan/mortgage/investment | wealth | fee / cost per month |",
        "| --- | ---: | --- | --- | --- | --- | --- | ---: | --- |",
    ]
    for name, s in SEGMENTS.items():
        behaviour = f"`{s.profile}`" if s.early_profile is None else (
            f"`{s.early_profile}` until the lapse date, then `{s.profile}`"
        )
        migrates = f"{s.migrates_to} ({s.migration_weight:g})" if s.migrates_to else "-"
        products = "/".join(f"{p:g}" for p in s.products)
        seg_rows.append(
            f"| {name} | {s.share:.0%} | {behaviour} | {migrates} | "
            f"{s.tenure_years[0]:g}-{s.tenure_years[1]:g} | {s.age[0]:g} ± {s.age[1]:g} | "
            f"{products} | {s.wealth:g} | {s.fee:g} / {s.cost:g} EUR |"
        )

    def mix(weights, names, top=3) -> str:
        order = np.argsort(weights)[::-1][:top]
        return ", ".join(f"{names[i]} {weights[i]:.0%}" for i in order)

    prof_rows = [
        "| profile | tx / month (gamma shape) | median spend EUR (between, within sd) | "
        "top categories | top channels | promo | Sat, Sun | events / month: top channels |",
        "| --- | --- | --- | --- | --- | ---: | --- | --- |",
    ]
    for name, p in PROFILES.items():
        prof_rows.append(
            f"| `{name}` | {p.rate:g} ({p.rate_shape:g}) | {p.median_spend:g} "
            f"({p.spend_between_sd:g}, {p.spend_within_sd:g}) | {mix(p.categories, CATEGORIES)} | "
            f"{mix(p.channels, TX_CHANNELS, 2)} | {p.promo:.0%} | "
            f"{p.weekend[0]:g}, {p.weekend[1]:g} | {p.events:g}: {mix(p.event_channels, EN_CHANNELS, 2)} |"
        )
    return "\n".join(seg_rows) + "\n\n" + "\n".join(prof_rows) + "\n"
