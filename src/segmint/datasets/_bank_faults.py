"""Fault injection: plant row-level problems and record exactly where they are.

Faults never touch a clean row of clients, transactions, holdings or engagement:
they are *extra* rows, each a copy of a random clean row of the same block with one
defect, inserted after that row (so an exact duplicate always follows its original).
The clean rows are therefore identical whatever the fault rate, and ingestion of a
faulted data set must keep exactly the clean rows. Profitability is the exception:
an extra row would collide with the clean row's (client, month) key, so its faults
overwrite randomly chosen rows (which are then lost).

Clients faults use *ghost* clients (new customer numbers that nothing refers to), so
quarantining them cannot orphan any transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from segmint.datasets import _bank_story as story

FAULTS_SCHEMA = pa.schema(
    [
        ("entity", pa.string()),
        ("file", pa.string()),
        ("row", pa.int64()),
        ("key", pa.string()),
        ("fault", pa.string()),
    ]
)

# Which fault kinds each file receives.
KINDS: dict[str, tuple[str, ...]] = {
    "clients": (
        "missing_required",
        "unparseable_value",
        "future_timestamp",
        "before_min_date",
        "duplicate_key",
    ),
    "transactions": (
        "missing_required",
        "future_timestamp",
        "before_min_date",
        "duplicate_exact",
        "duplicate_conflict",
        "unknown_client",
        "currency_mismatch",
    ),
    "holdings": ("missing_required", "unknown_client", "non_finite", "closed_before_opened"),
    "engagement": ("missing_required", "unknown_client", "future_timestamp", "before_min_date"),
    "profitability": ("missing_required", "unparseable_value"),
}
REQUIRED = {
    "clients": ("customer_no",),
    "transactions": ("txn_id", "customer_no", "booked_at", "amount_cents"),
    "holdings": ("customer_no", "account_id", "product_type", "opened"),
    "engagement": ("customer_no", "event_time", "channel", "event"),
    "profitability": ("customer_no", "month", "revenue", "cost"),
}
_STREAM = {"clients": 11, "transactions": 12, "holdings": 13, "engagement": 14, "profitability": 15}

FUTURE_YEAR = 2099
ANCIENT_YEAR = 1901
BAD_DATES = ("31/31/2020", "n/a", "2021-02-30", "yesterday")
BAD_NUMBERS = ("12,3x", "n/a", "1.2.3", "#VALUE!")


# Fault rows draw their ids from their own ranges, so that clean ids do not depend on the
# fault rate (and never collide with a fault row's id).
FAULT_TXN_BASE = 100_000_000_000
FAULT_ACCOUNT_BASE = 900_000_000


@dataclass
class Counters:
    """Running counters shared by all blocks, so that new ids never collide."""

    next_customer: int  # customer numbers of ghost / unknown clients
    next_txn: int = 0  # clean transaction ids
    next_account: int = 0  # clean account numbers
    next_fault_txn: int = FAULT_TXN_BASE
    next_fault_account: int = FAULT_ACCOUNT_BASE


@dataclass
class Injected:
    """A block's table with its faults, and where they are (row within the block)."""

    table: pa.Table
    rows: list[int] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)


def _rng(seed: int, block: int, entity: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, block, _STREAM[entity]]))


def _customer(number: int) -> str:
    return f"C{number:08d}"


def _random_instant(rng: np.random.Generator, year: int) -> dt.datetime:
    day = dt.datetime(year, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365)))
    return day + dt.timedelta(seconds=int(rng.integers(0, 86_400)))


def inject(
    entity: str,
    table: pa.Table,
    rate: float,
    seed: int,
    block: int,
    counters: Counters,
) -> Injected:
    """Plant ``rate`` faults of each kind per clean row of ``table`` (one block)."""
    n = table.num_rows
    if rate <= 0 or n == 0:
        return Injected(table)
    rng = _rng(seed, block, entity)
    if entity == "profitability":
        return _overwrite(table, rate, rng)

    # distinct source rows, so that no clean row is copied twice
    counts = np.array([rng.binomial(n, rate) for _ in KINDS[entity]])
    all_rows = rng.choice(n, size=min(int(counts.sum()), n), replace=False)
    bounds = np.cumsum(counts)
    picked = list(zip(KINDS[entity], np.split(all_rows, bounds[:-1]), strict=True))
    originals = iter(table.take(pa.array(all_rows, pa.int64())).to_pylist())
    sources: list[int] = []
    extra: dict[str, list] = {name: [] for name in table.schema.names}
    faults: list[str] = []
    keys: list[str] = []
    for kind, rows in picked:
        for r in rows:
            for new in _defect(entity, kind, next(originals), rng, counters):
                sources.append(int(r))
                for name in extra:
                    extra[name].append(new[name])
                faults.append(kind)
                keys.append(_key(entity, new))
    if not sources:
        return Injected(table)

    extra_table = pa.Table.from_pydict(extra, schema=table.schema)
    src = np.array(sources)
    # insert each extra row somewhere after its source row (stable among equal places)
    place = src + 1 + np.floor(rng.random(src.size) * (n - src)).astype(np.int64)
    order_key = np.concatenate([2 * np.arange(n) + 1, 2 * place])
    order = np.argsort(order_key, kind="stable")
    position = np.empty_like(order)
    position[order] = np.arange(order.size)
    combined = pa.concat_tables([table, extra_table]).take(pa.array(order))
    return Injected(combined, position[n:].tolist(), keys, faults)


def _key(entity: str, row: dict) -> str:
    if entity == "transactions":
        return "" if row["txn_id"] is None else str(row["txn_id"])
    if entity == "holdings":
        return row["account_id"] or ""
    return row["customer_no"] or ""


def _defect(entity: str, kind: str, row: dict, rng: np.random.Generator, c: Counters) -> list[dict]:
    """The faulted row(s) derived from a clean ``row``; each carries exactly one defect."""
    row = dict(row)
    # every fault row except exact duplicates gets a fresh identity
    if entity == "clients":
        row["customer_no"] = _customer(c.next_customer)
        c.next_customer += 1
    elif entity == "transactions" and kind != "duplicate_exact":
        row["txn_id"] = c.next_fault_txn
        c.next_fault_txn += 1
    elif entity == "holdings":
        c.next_fault_account += 1
        row["account_id"] = f"A{c.next_fault_account:09d}"

    if kind == "missing_required":
        row[REQUIRED[entity][int(rng.integers(len(REQUIRED[entity])))]] = None
    elif kind == "unparseable_value":  # clients: open_date
        row["open_date"] = BAD_DATES[int(rng.integers(len(BAD_DATES)))]
    elif kind in ("future_timestamp", "before_min_date"):
        year = FUTURE_YEAR if kind == "future_timestamp" else ANCIENT_YEAR
        if entity == "clients":
            row["open_date"] = _random_instant(rng, year).date().isoformat()
        else:
            col = "booked_at" if entity == "transactions" else "event_time"
            row[col] = _random_instant(rng, year)
    elif kind == "duplicate_exact":
        pass
    elif kind == "duplicate_conflict":
        other = dict(row)
        other["amount_cents"] = row["amount_cents"] + int(rng.integers(1, 5_000))
        return [row, other]
    elif kind == "duplicate_key":
        other = dict(row)
        other["region"] = story.REGIONS[
            (story.REGIONS.index(row["region"]) + 1 + int(rng.integers(len(story.REGIONS) - 1)))
            % len(story.REGIONS)
        ]
        return [row, other]
    elif kind == "unknown_client":
        row["customer_no"] = _customer(c.next_customer)
        c.next_customer += 1
    elif kind == "currency_mismatch":
        row["currency"] = story.CURRENCIES[1 + int(rng.integers(len(story.CURRENCIES) - 1))]
    elif kind == "non_finite":
        row["balance"] = (float("nan"), float("inf"), float("-inf"))[int(rng.integers(3))]
    elif kind == "closed_before_opened":
        row["closed"] = row["opened"] - dt.timedelta(days=int(rng.integers(1, 400)))
    else:  # pragma: no cover - KINDS and this function are kept in step
        raise AssertionError(kind)
    return [row]


def _overwrite(table: pa.Table, rate: float, rng: np.random.Generator) -> Injected:
    n = table.num_rows
    kinds = KINDS["profitability"]
    counts = [int(rng.binomial(n, rate)) for _ in kinds]
    total = min(sum(counts), n)
    rows = rng.choice(n, size=total, replace=False)
    cols = {name: table.column(name).to_pylist() for name in table.schema.names}
    out = Injected(table)
    at = 0
    for kind, count in zip(kinds, counts, strict=True):
        for r in rows[at : at + count]:
            r = int(r)
            if kind == "missing_required":
                cols[REQUIRED["profitability"][int(rng.integers(4))]][r] = None
            else:
                col = ("revenue", "cost")[int(rng.integers(2))]
                cols[col][r] = BAD_NUMBERS[int(rng.integers(len(BAD_NUMBERS)))]
            out.rows.append(r)
            out.keys.append(f"{cols['customer_no'][r] or ''}/{cols['month'][r] or ''}")
            out.faults.append(kind)
        at += count
    out.table = pa.Table.from_pydict(cols, schema=table.schema)
    return out
