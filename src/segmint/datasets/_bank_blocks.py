"""Vectorised generation of one block of clients and everything they do.

A *block* is a fixed run of :data:`BLOCK` consecutive clients. Every random draw for a
block comes from generators seeded with ``(seed, block index, stream)``, so a block's
rows do not depend on how blocks are grouped into output files (the chunk size) nor
on the fault rate (faults use their own streams). Running counters (transaction ids,
account ids, customer numbers of fault rows) advance block by block in order, so they
are chunk-independent too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from segmint.datasets import _bank_story as story

BLOCK = 1000  # clients per random-number block

_LABEL = pa.dictionary(pa.int32(), pa.string())  # low-cardinality text in the big files
_HOUR_BINS = 4096  # hour-of-day distributions are tabulated at this resolution
_STREAMS = {"clients": 1, "tx": 2, "engagement": 3, "holdings": 4, "finance": 5, "upgrades": 6}
_US_PER_DAY = 86_400_000_000
_EPOCH = dt.date(1970, 1, 1)

CLIENTS_SCHEMA = pa.schema(
    [
        ("customer_no", pa.string()),
        ("open_date", pa.string()),
        ("birth_year", pa.int32()),
        ("sex", pa.string()),
        ("region", pa.string()),
        ("occupation", pa.string()),
        ("income_band", pa.string()),
        ("is_business", pa.bool_()),
        ("acquisition_channel", pa.string()),
    ]
)
TX_SCHEMA = pa.schema(
    [
        ("txn_id", pa.int64()),
        ("customer_no", pa.string()),
        ("booked_at", pa.timestamp("us")),
        ("amount_cents", pa.int64()),
        ("currency", _LABEL),
        ("mcc_category", _LABEL),
        ("channel", _LABEL),
        ("promo", pa.bool_()),
    ]
)
HOLDINGS_SCHEMA = pa.schema(
    [
        ("customer_no", pa.string()),
        ("account_id", pa.string()),
        ("product_name", pa.string()),
        ("product_type", pa.string()),
        ("opened", pa.date32()),
        ("closed", pa.date32()),
        ("balance", pa.float64()),
    ]
)
ENGAGEMENT_SCHEMA = pa.schema(
    [
        ("customer_no", pa.string()),
        ("event_time", pa.timestamp("us")),
        ("channel", _LABEL),
        ("event", _LABEL),
    ]
)
FINANCE_SCHEMA = pa.schema(
    [
        ("customer_no", pa.string()),
        ("month", pa.date32()),
        ("revenue", pa.string()),  # text, so that unparseable values can be planted
        ("cost", pa.string()),
    ]
)
UPGRADES_SCHEMA = pa.schema(
    [
        ("client_id", pa.string()),
        ("product_type", pa.string()),
        ("opened", pa.date32()),
        ("migrated", pa.date32()),
    ]
)
TRUTH_SCHEMA = pa.schema(
    [
        ("client_id", pa.string()),
        ("segment", pa.string()),
        ("valid_from", pa.date32()),
        ("valid_to", pa.date32()),
    ]
)


def customer_no(numbers: np.ndarray) -> pa.Array:
    """Customer numbers as the CRM writes them: ``C`` and eight digits."""
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers, pa.int64()), pa.string()), 8, "0")
    return pc.binary_join_element_wise("C", digits, "")


def _labels(codes: np.ndarray, vocab: tuple[str, ...], *, dense: bool = True) -> pa.Array:
    labels = pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), pa.array(vocab))
    return labels.cast(pa.string()) if dense else labels


def _categorical(rng: np.random.Generator, n: int, weights) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return rng.choice(len(w), size=n, p=w / w.sum())


def _rows_categorical(rng: np.random.Generator, probs: np.ndarray, row: np.ndarray) -> np.ndarray:
    """One draw per element of ``row`` from the distribution ``probs[row]``.

    The cumulative tables of all rows are laid end to end, shifted by the row number,
    so a single ``searchsorted`` serves every row without an (n x k) matrix.
    """
    n_rows, k = probs.shape
    cum = np.cumsum(probs, axis=1)
    cum /= cum[:, -1:]
    flat = (cum + np.arange(n_rows)[:, None]).ravel()
    idx = np.searchsorted(flat, row + rng.random(row.size), side="right")
    return np.minimum(idx - row * k, k - 1)


def _dirichlet_rows(rng: np.random.Generator, alpha: np.ndarray) -> np.ndarray:
    g = rng.gamma(alpha)
    return g / g.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class Calendar:
    """Day-level lookups for the simulated period (day 0 = start, day D-1 = end)."""

    start: dt.date
    end: dt.date
    n_days: int
    start_us: int
    month_of_day: np.ndarray  # month index since the start month
    n_months: int
    month_starts: np.ndarray  # epoch day of the first day of each month
    cum_weight: np.ndarray  # (profiles, D + 1) cumulative daily intensity, laid end to end
    cum_offset: np.ndarray  # offset of each profile's table inside the flat array
    hour_table: np.ndarray  # (profiles, _HOUR_BINS) hour at each quantile
    profile_index: dict[str, int]

    @classmethod
    def build(cls, start: dt.date, end: dt.date) -> Calendar:
        n_days = (end - start).days + 1
        days = np.datetime64(start, "D") + np.arange(n_days)
        months = days.astype("datetime64[M]")
        calendar_month = months.astype(np.int64) % 12
        dow = (days.astype(np.int64) + 3) % 7  # 0 = Monday
        season = np.array(story.SEASONALITY) / np.mean(story.SEASONALITY)
        month0 = months[0]
        month_of_day = (months - month0).astype(np.int64)
        n_months = int(month_of_day[-1]) + 1
        month_starts = (month0 + np.arange(n_months)).astype("datetime64[D]").astype(np.int64)
        flat, offsets, hours = [], [], []
        quantiles = (np.arange(_HOUR_BINS) + 0.5) / _HOUR_BINS
        base = 0.0
        for name in story.PROFILE_NAMES:
            prof = story.PROFILES[name]
            week = np.ones(7)
            week[5], week[6] = prof.weekend
            week /= week.mean()
            w = season[calendar_month] * week[dow]
            cum = np.concatenate([[0.0], np.cumsum(w)])
            offsets.append(base)
            flat.append(cum + base)
            base += cum[-1] + 1.0
            hours.append(np.searchsorted(np.cumsum(story.hour_weights(prof)), quantiles))
        return cls(
            start=start,
            end=end,
            n_days=n_days,
            start_us=(start - _EPOCH).days * _US_PER_DAY,
            month_of_day=month_of_day,
            n_months=n_months,
            month_starts=month_starts,
            cum_weight=np.concatenate(flat),
            cum_offset=np.array(offsets),
            hour_table=np.minimum(np.array(hours), 23),
            profile_index={n: i for i, n in enumerate(story.PROFILE_NAMES)},
        )

    @property
    def start_epoch_day(self) -> int:
        return (self.start - _EPOCH).days

    def exposure(self, profile: np.ndarray, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
        """Integrated intensity (in days) of each profile's calendar over [t0, t1)."""
        row = profile * (self.n_days + 1)
        return self.cum_weight[row + t1] - self.cum_weight[row + t0]

    def sample_days(self, rng, profile, t0, t1) -> np.ndarray:
        """One day in [t0, t1) per element, following the profile's calendar."""
        row = profile * (self.n_days + 1)
        lo = self.cum_weight[row + t0]
        hi = self.cum_weight[row + t1]
        target = lo + rng.random(profile.size) * (hi - lo)
        day = np.searchsorted(self.cum_weight, target, side="right") - 1 - row
        return np.clip(day, t0, t1 - 1)

    def sample_seconds(self, rng, profile) -> np.ndarray:
        """Second of the day, following the profile's hour-of-day pattern."""
        hour = self.hour_table[profile, rng.integers(0, _HOUR_BINS, profile.size)]
        return hour * 3600 + rng.integers(0, 3600, profile.size)


@dataclass
class ClientBlock:
    """The clients of one block: planted truth and the tables derived from it."""

    number: np.ndarray  # customer numbers (1-based)
    ids: pa.Array  # customer_no strings
    segment: np.ndarray  # segment index at onboarding
    final_segment: np.ndarray  # segment index at the end date
    migration_day: np.ndarray  # day index of the migration; n_days when none
    onboard_day: np.ndarray  # day index of onboarding (negative: before the start)
    unit_profile: np.ndarray  # (2 * n) behaviour profile of phase 0 / phase 1
    unit_t0: np.ndarray
    unit_t1: np.ndarray
    clients: pa.Table
    truth: pa.Table


def _rng(seed: int, block: int, stream: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, block, _STREAMS[stream]]))


def make_clients(
    cal: Calendar, seed: int, block: int, first: int, n: int, migration_rate: float
) -> ClientBlock:
    rng = _rng(seed, block, "clients")
    seg_names = story.SEGMENT_NAMES
    segs = [story.SEGMENTS[s] for s in seg_names]
    shares = np.array([s.share for s in segs])
    segment = _categorical(rng, n, shares)
    D = cal.n_days

    # migration: a member of segment s migrates with probability proportional to the
    # segment's migration weight, scaled so that `migration_rate` of all clients migrate
    dest = np.array([seg_names.index(s.migrates_to) if s.migrates_to else -1 for s in segs])
    weight = np.array([s.migration_weight for s in segs])
    p_migrate = np.minimum(1.0, migration_rate * weight / (shares @ weight / shares.sum()))
    migrates = (dest[segment] >= 0) & (rng.random(n) < p_migrate[segment])
    migration_day = np.where(
        migrates, rng.integers(D - story.MIGRATION_WINDOW_DAYS, D, n), D
    )
    final_segment = np.where(migrates, dest[segment], segment)

    # onboarding: tenure at the end date, uniform per segment; migrants were clients long
    # enough before their migration
    t_lo = np.array([s.tenure_years[0] for s in segs])[segment] * 365.25
    t_hi = np.array([s.tenure_years[1] for s in segs])[segment] * 365.25
    need = np.where(migrates, (D - 1) - migration_day + story.MIGRATION_MIN_TENURE_DAYS, 0)
    t_lo = np.maximum(t_lo, need)
    t_hi = np.maximum(t_hi, t_lo + 1)
    tenure = np.floor(t_lo + rng.random(n) * (t_hi - t_lo)).astype(np.int64)
    onboard_day = (D - 1) - tenure

    # behaviour phases
    lapsed = seg_names.index("lapsed_high_spender")
    prof_of_seg = np.array([cal.profile_index[s.profile] for s in segs])
    lapse_day = D - rng.integers(*story.LAPSE_DAYS_BEFORE_END, n)
    is_lapsed = segment == lapsed
    active_from = np.clip(onboard_day, 0, D)
    switch = np.where(is_lapsed, lapse_day, migration_day)
    switch = np.maximum(switch, active_from)
    p0 = np.where(is_lapsed, cal.profile_index["lapsed_active"], prof_of_seg[segment])
    p1 = prof_of_seg[final_segment]
    unit_profile = np.stack([p0, p1], axis=1).ravel()
    unit_t0 = np.stack([active_from, switch], axis=1).ravel()
    unit_t1 = np.stack([switch, np.full(n, D)], axis=1).ravel()

    number = np.arange(first, first + n, dtype=np.int64) + 1
    ids = customer_no(number)

    # demographics
    age = np.array([s.age for s in segs])[segment]
    age = np.clip(np.round(age[:, 0] + age[:, 1] * rng.standard_normal(n)), 18, 95)
    birth_year = (cal.end.year - age).astype(np.int32)
    epoch_onboard = cal.start_epoch_day + onboard_day

    def pick(attr: str, vocab: tuple[str, ...]) -> pa.Array:
        probs = np.array([getattr(s, attr) for s in segs], dtype=float)
        probs /= probs.sum(axis=1, keepdims=True)
        return _labels(_rows_categorical(rng, probs, segment), vocab)

    clients = pa.table(
        {
            "customer_no": ids,
            "open_date": pa.array(epoch_onboard.astype(np.int32), pa.date32()).cast(pa.string()),
            "birth_year": pa.array(birth_year),
            "sex": _labels(_categorical(rng, n, story.SEX_WEIGHTS), story.SEXES),
            "region": _labels(_categorical(rng, n, story.REGION_WEIGHTS), story.REGIONS),
            "occupation": pick("occupation", story.OCCUPATIONS),
            "income_band": pick("income", story.INCOME_BANDS),
            "is_business": pa.array(rng.random(n) < np.array([s.business for s in segs])[segment]),
            "acquisition_channel": pick("acquisition", story.ACQUISITION),
        },
        schema=CLIENTS_SCHEMA,
    )

    # truth: one row per segment spell; valid_to is exclusive, null while current
    mig_epoch = cal.start_epoch_day + migration_day
    first_rows = pa.table(
        {
            "client_id": ids,
            "segment": _labels(segment, seg_names),
            "valid_from": pa.array(epoch_onboard.astype(np.int32), pa.date32()),
            "valid_to": pa.array(mig_epoch.astype(np.int32), pa.date32(), mask=~migrates),
        },
        schema=TRUTH_SCHEMA,
    )
    m = np.flatnonzero(migrates)
    second_rows = pa.table(
        {
            "client_id": ids.take(pa.array(m)),
            "segment": _labels(final_segment[m], seg_names),
            "valid_from": pa.array(mig_epoch[m].astype(np.int32), pa.date32()),
            "valid_to": pa.nulls(m.size, pa.date32()),
        },
        schema=TRUTH_SCHEMA,
    )
    order = np.argsort(np.concatenate([np.arange(n) * 2, m * 2 + 1]), kind="stable")
    truth = pa.concat_tables([first_rows, second_rows]).take(pa.array(order))

    return ClientBlock(
        number=number,
        ids=ids,
        segment=segment,
        final_segment=final_segment,
        migration_day=migration_day,
        onboard_day=onboard_day,
        unit_profile=unit_profile,
        unit_t0=unit_t0,
        unit_t1=unit_t1,
        clients=clients,
        truth=truth,
    )


@dataclass
class TxBlock:
    table: pa.Table
    local_client: np.ndarray  # index of the client inside the block, per row
    month: np.ndarray  # month index, per row
    amount: np.ndarray  # EUR, per row


def make_transactions(cal: Calendar, seed: int, block: int, cb: ClientBlock, first_id: int) -> TxBlock:
    rng = _rng(seed, block, "tx")
    params = story.profile_arrays()
    prof, t0, t1 = cb.unit_profile, cb.unit_t0, cb.unit_t1
    n_units = prof.size

    shape = params["rate_shape"][prof]
    rate = params["rate"][prof] / story.DAYS_PER_MONTH * rng.gamma(shape, 1.0 / shape)
    log_spend = params["log_spend"][prof] + params["spend_between_sd"][prof] * rng.standard_normal(n_units)
    conc = params["mix_concentration"][prof][:, None]
    cat_p = _dirichlet_rows(rng, conc * params["categories"][prof])
    chan_p = _dirichlet_rows(rng, conc * params["channels"][prof])
    promo_mean = params["promo"][prof]
    promo_p = rng.beta(20 * promo_mean, 20 * (1 - promo_mean))

    count = rng.poisson(rate * cal.exposure(prof, t0, t1))
    unit = np.repeat(np.arange(n_units), count)
    p = prof[unit]
    n = unit.size
    day = cal.sample_days(rng, p, t0[unit], t1[unit])
    seconds = cal.sample_seconds(rng, p)
    category = _rows_categorical(rng, cat_p, unit)
    channel = _rows_categorical(rng, chan_p, unit)
    promo = rng.random(n) < promo_p[unit]
    amount = np.exp(log_spend[unit] + params["spend_within_sd"][p] * rng.standard_normal(n))
    amount *= np.where(promo, rng.uniform(*story.PROMO_DISCOUNT, n), 1.0)
    cents = np.maximum(np.round(amount * 100), 1).astype(np.int64)
    cents = np.where(rng.random(n) < story.REFUND_SHARE, -cents, cents)

    ts = cal.start_us + day * _US_PER_DAY + seconds * 1_000_000
    order = np.lexsort((ts, unit))
    unit, day, ts, cents = unit[order], day[order], ts[order], cents[order]
    category, channel, promo = category[order], channel[order], promo[order]
    local = unit // 2

    table = pa.table(
        {
            "txn_id": pa.array(np.arange(first_id, first_id + n, dtype=np.int64)),
            "customer_no": cb.ids.take(pa.array(local)),
            "booked_at": pa.array(ts, pa.timestamp("us")),
            "amount_cents": pa.array(cents),
            "currency": _labels(np.zeros(n, np.int32), story.CURRENCIES, dense=False),
            "mcc_category": _labels(category, story.CATEGORIES, dense=False),
            "channel": _labels(channel, story.TX_CHANNELS, dense=False),
            "promo": pa.array(promo),
        },
        schema=TX_SCHEMA,
    )
    return TxBlock(table=table, local_client=local, month=cal.month_of_day[day], amount=cents / 100.0)


def make_engagement(cal: Calendar, seed: int, block: int, cb: ClientBlock) -> pa.Table:
    rng = _rng(seed, block, "engagement")
    params = story.profile_arrays()
    prof, t0, t1 = cb.unit_profile, cb.unit_t0, cb.unit_t1
    n_units = prof.size
    rate = params["events"][prof] / story.DAYS_PER_MONTH * rng.gamma(2.0, 0.5, n_units)
    chan_p = _dirichlet_rows(rng, 30.0 * params["event_channels"][prof])
    count = rng.poisson(rate * (t1 - t0))
    unit = np.repeat(np.arange(n_units), count)
    n = unit.size
    span = (t1 - t0)[unit]
    day = t0[unit] + np.minimum((rng.random(n) * span).astype(np.int64), span - 1)
    seconds = cal.sample_seconds(rng, prof[unit])
    channel = _rows_categorical(rng, chan_p, unit)

    ev_names: list[str] = []
    ev_code = np.zeros((len(story.EN_CHANNELS), 3), np.int32)
    ev_prob = np.zeros((len(story.EN_CHANNELS), 3))
    for c, name in enumerate(story.EN_CHANNELS):
        for j, (event, prob) in enumerate(story.EN_EVENTS[name]):
            if event not in ev_names:
                ev_names.append(event)
            ev_code[c, j] = ev_names.index(event)
            ev_prob[c, j] = prob
    event = ev_code[channel, _rows_categorical(rng, ev_prob, channel)]

    ts = cal.start_us + day * _US_PER_DAY + seconds * 1_000_000
    order = np.lexsort((ts, unit))
    return pa.table(
        {
            "customer_no": cb.ids.take(pa.array(unit[order] // 2)),
            "event_time": pa.array(ts[order], pa.timestamp("us")),
            "channel": _labels(channel[order], story.EN_CHANNELS, dense=False),
            "event": _labels(event[order], tuple(ev_names), dense=False),
        },
        schema=ENGAGEMENT_SCHEMA,
    )


def make_holdings(
    cal: Calendar, seed: int, block: int, cb: ClientBlock, first_account: int
) -> tuple[pa.Table, pa.Table]:
    """The block's holdings, and the planted upgrades among them (truth/upgrades.csv)."""
    rng = _rng(seed, block, "holdings")
    segs = [story.SEGMENTS[s] for s in story.SEGMENT_NAMES]
    n = cb.number.size
    n_types = len(story.PRODUCT_TYPES)
    seg = cb.segment
    p_hold = np.ones((n, n_types))
    p_hold[:, 1:] = np.array([s.products for s in segs])[seg]
    has = rng.random((n, n_types)) < p_hold

    end_day = cal.n_days - 1
    onboard = np.broadcast_to(cb.onboard_day[:, None], (n, n_types))
    span = end_day - onboard
    opened = onboard + np.floor(rng.random((n, n_types)) * span).astype(np.int64)
    opened[:, 0] = cb.onboard_day  # the current account opens the relationship
    p_closed = np.array([s.closed for s in segs])[seg][:, None]
    closed_ok = (end_day - opened) > 1
    is_closed = (rng.random((n, n_types)) < p_closed) & closed_ok
    is_closed[:, 0] = False
    closed = opened + 1 + np.floor(rng.random((n, n_types)) * np.maximum(end_day - opened - 1, 1)).astype(np.int64)
    upgraded = _plant_upgrades(cal, seed, block, cb, has, opened, is_closed)

    median = np.array([story.BALANCE_MEDIAN[t] for t in story.PRODUCT_TYPES])
    scaled = np.array([t in story.WEALTH_SCALED for t in story.PRODUCT_TYPES])
    wealth = np.array([s.wealth for s in segs])[seg][:, None]
    scale = np.where(scaled[None, :], wealth, 1.0) * median[None, :]
    balance = np.round(scale * np.exp(0.8 * rng.standard_normal((n, n_types))), 2)
    balance = np.where(is_closed, 0.0, balance)

    premium = (seg == story.SEGMENT_NAMES.index("affluent_loyalist"))[:, None]
    premium = np.broadcast_to(premium, (n, n_types))
    type_idx = np.broadcast_to(np.arange(n_types)[None, :], (n, n_types))
    client_idx = np.broadcast_to(np.arange(n)[:, None], (n, n_types))

    keep = has.ravel()
    k = int(keep.sum())
    names = [story.PRODUCT_NAMES[t][i] for t in story.PRODUCT_TYPES for i in (0, 1)]
    name_code = type_idx.ravel()[keep] * 2 + np.where(premium.ravel()[keep], 0, 1)
    base = cal.start_epoch_day
    up_client, up_type = np.nonzero(upgraded)
    upgrades = pa.table(
        {
            "client_id": cb.ids.take(pa.array(up_client)),
            "product_type": _labels(up_type, story.PRODUCT_TYPES, dense=False),
            "opened": pa.array((base + opened[up_client, up_type]).astype(np.int32), pa.date32()),
            "migrated": pa.array((base + cb.migration_day[up_client]).astype(np.int32), pa.date32()),
        },
        schema=UPGRADES_SCHEMA,
    )
    account = pa.array(np.arange(first_account, first_account + k, dtype=np.int64) + 1)
    account = pc.binary_join_element_wise(
        "A", pc.utf8_lpad(pc.cast(account, pa.string()), 9, "0"), ""
    )
    return pa.table(
        {
            "customer_no": cb.ids.take(pa.array(client_idx.ravel()[keep])),
            "account_id": account,
            "product_name": _labels(name_code, tuple(names)),
            "product_type": _labels(type_idx.ravel()[keep], story.PRODUCT_TYPES),
            "opened": pa.array((base + opened.ravel()[keep]).astype(np.int32), pa.date32()),
            "closed": pa.array(
                (base + closed.ravel()[keep]).astype(np.int32),
                pa.date32(),
                mask=~is_closed.ravel()[keep],
            ),
            "balance": pa.array(balance.ravel()[keep]),
        },
        schema=HOLDINGS_SCHEMA,
    ), upgrades


def _plant_upgrades(cal, seed, block, cb, has, opened, is_closed) -> np.ndarray:
    """Open the upgrade product of migrants into an upgrading segment (in place).

    Drawn from a stream of its own: every other client's holdings are unchanged.
    Returns the (clients, product types) mask of the planted openings.
    """
    rng = _rng(seed, block, "upgrades")
    n = cb.number.size
    draw = rng.random(n)
    day = cb.migration_day + rng.integers(*story.UPGRADE_DAYS_AFTER_MIGRATION, n, endpoint=True)
    planted = np.zeros_like(has)
    for segment, (product_type, probability) in story.UPGRADES.items():
        dest = story.SEGMENT_NAMES.index(segment)
        j = story.PRODUCT_TYPES.index(product_type)
        hit = (
            (cb.final_segment == dest) & (cb.segment != dest) & ~has[:, j]
            & (draw < probability) & (day < cal.n_days)
        )
        has[hit, j] = True
        opened[hit, j] = day[hit]
        is_closed[hit, j] = False
        planted[hit, j] = True
    return planted


def make_profitability(cal: Calendar, seed: int, block: int, cb: ClientBlock, tx: TxBlock) -> pa.Table:
    rng = _rng(seed, block, "finance")
    segs = [story.SEGMENTS[s] for s in story.SEGMENT_NAMES]
    n, M = cb.number.size, cal.n_months
    cell = tx.local_client * M + tx.month
    spend = np.bincount(cell, weights=tx.amount, minlength=n * M).reshape(n, M)
    n_tx = np.bincount(cell, minlength=n * M).reshape(n, M)

    onboard_month = np.where(
        cb.onboard_day < 0, 0, cal.month_of_day[np.clip(cb.onboard_day, 0, cal.n_days - 1)]
    )
    mig_month = np.where(
        cb.migration_day < cal.n_days,
        cal.month_of_day[np.clip(cb.migration_day, 0, cal.n_days - 1)],
        M,
    )
    months = np.arange(M)[None, :]
    seg = np.where(months >= mig_month[:, None], cb.final_segment[:, None], cb.segment[:, None])
    fee = np.array([s.fee for s in segs])[seg]
    cost = np.array([s.cost for s in segs])[seg]
    revenue = fee * rng.lognormal(0.0, 0.3, (n, M)) + story.INTERCHANGE * np.maximum(spend, 0)
    cost = cost * rng.lognormal(0.0, 0.25, (n, M)) + 0.05 * n_tx
    active = (months >= onboard_month[:, None]).ravel()
    client_idx = np.broadcast_to(np.arange(n)[:, None], (n, M)).ravel()[active]
    month_idx = np.broadcast_to(months, (n, M)).ravel()[active]
    return pa.table(
        {
            "customer_no": cb.ids.take(pa.array(client_idx)),
            "month": pa.array(cal.month_starts[month_idx].astype(np.int32), pa.date32()),
            "revenue": pc.cast(pa.array(np.round(revenue.ravel()[active], 2)), pa.string()),
            "cost": pc.cast(pa.array(np.round(cost.ravel()[active], 2)), pa.string()),
        },
        schema=FINANCE_SCHEMA,
    )
