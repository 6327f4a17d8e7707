"""A synthetic multi-source bank: CRM, transactions, holdings, engagement, profitability.

The generative story (segments, rates, mixes, migrations, faults) is documented in
``docs/generator.md``; its numbers live in :mod:`segmint.datasets._bank_story`.
Generation streams over fixed blocks of clients (see :mod:`._bank_blocks`), so memory
does not grow with the number of clients and the output does not depend on the chunk
size.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from segmint.datasets import _bank_blocks as blocks
from segmint.datasets import _bank_campaigns as campaigns_
from segmint.datasets._bank_faults import FAULTS_SCHEMA, Counters, Injected, inject
from segmint.errors import ParameterError

__all__ = ["DEFAULT_END", "GeneratedData", "generate_bank"]

DEFAULT_END = dt.date(2025, 12, 31)
MAX_CLIENTS = 50_000_000  # customer numbers have eight digits, fault rows take more
_CSV = pcsv.WriteOptions(quoting_style="needed")
# Parquet dictionary encoding only where it pays (low-cardinality text columns).
_DICTIONARY = {
    "transactions": ["currency", "mcc_category", "channel"],
    "engagement": ["channel", "event"],
    "holdings": ["product_name", "product_type"],
}

FILES = {
    "clients": "crm/clients.csv",
    "holdings": "holdings/holdings.parquet",
    "profitability": "finance/profitability.csv",
    "segments": "truth/segments.parquet",
    "faults": "truth/faults.csv",
    "exposures": "campaigns/exposures.csv",
    "offers": "holdings/campaign-offers.parquet",
    "campaign_effects": "truth/campaign_effects.csv",
    "config": "segmint.yaml",
}


@dataclass(frozen=True)
class GeneratedData:
    """What :func:`generate_bank` wrote.

    Attributes
    ----------
    out_dir : Path
        The output folder; every path below is inside it.
    config : Path
        The ready project file (``segmint.yaml``).
    n_clients : int
        Clients generated (the CRM also holds the fault rows' ghost clients).
    n_transactions, n_holdings, n_engagement, n_profitability : int
        Rows written to each source, fault rows included.
    n_faults : int
        Rows listed in ``truth/faults.csv``.
    n_migrants : int
        Clients whose planted segment changes during the period.
    n_exposures : int
        Campaign exposures written (0 without campaigns).
    transaction_files, engagement_files : tuple of Path
        The part files, in order.
    """

    out_dir: Path
    config: Path
    n_clients: int
    n_transactions: int
    n_holdings: int
    n_engagement: int
    n_profitability: int
    n_faults: int
    n_migrants: int
    transaction_files: tuple[Path, ...]
    engagement_files: tuple[Path, ...]
    n_exposures: int = 0

    def path(self, name: str) -> Path:
        """Path of a named output: clients, holdings, profitability, segments, faults, config,
        exposures, offers, campaign_effects."""
        return self.out_dir / FILES[name]


def generate_bank(
    out_dir: str | Path,
    *,
    n_clients: int,
    seed: int = 0,
    faults: float = 0.0,
    start: dt.date | None = None,
    end: dt.date = DEFAULT_END,
    migration_rate: float = 0.10,
    chunk_size: int = 50_000,
    progress: Callable[[int, int], None] | None = None,
    campaigns: int = 0,
    campaign_treated_share: float = 0.5,
) -> GeneratedData:
    """Write a synthetic bank's sources, planted segments and a ready project file.

    Parameters
    ----------
    out_dir : str or Path
        Folder to write into (created; earlier part files in it are replaced).
    n_clients : int
        Number of clients. Expect about 90 transactions per client over the default
        three years (see ``docs/generator.md``).
    seed : int
        Random seed; the same seed writes identical files.
    faults : float
        Rate of each fault kind per clean row of each file (0 = clean data). Every
        planted fault is listed in ``truth/faults.csv``.
    start, end : date
        Simulated period; ``start`` defaults to ``end`` minus three years. At least
        one year long.
    migration_rate : float
        Share of clients whose segment changes during the last 26 weeks.
    chunk_size : int
        Clients per transaction / engagement part file; a multiple of 1,000. The
        data do not depend on it.
    progress : callable, optional
        Called as ``progress(clients_done, n_clients)`` after each block of clients.
    campaigns : int
        Randomised campaigns to run, one every 35 days up to the end date (0: none).
        Exposures go to ``campaigns/exposures.csv``, the products opened in response to
        ``holdings/campaign-offers.parquet``, the planted effect per persona to
        ``truth/campaign_effects.csv`` (see :mod:`._bank_campaigns`).
    campaign_treated_share : float
        Share of each campaign's eligible clients treated (the rest is the control).

    Returns
    -------
    GeneratedData
        Paths and row counts.

    Examples
    --------
    >>> data = generate_bank("/tmp/bank", n_clients=2_000, seed=1)  # doctest: +SKIP
    >>> segmint.config.load_config(data.config)  # doctest: +SKIP
    """
    start = start if start is not None else _years_before(end, 3)
    _validate(n_clients, faults, start, end, migration_rate, chunk_size)
    if not 0 <= campaigns <= 10:
        raise ParameterError(f"campaigns: expected 0 to 10 campaigns, got {campaigns!r}")
    if not 0 < campaign_treated_share < 1:
        raise ParameterError(
            f"campaign_treated_share: expected a share between 0 and 1, got {campaign_treated_share!r}"
        )
    out = Path(out_dir)
    for stale in (out / FILES["exposures"], out / FILES["offers"], out / FILES["campaign_effects"]):
        stale.unlink(missing_ok=True)
    for sub in ("crm", "transactions", "holdings", "engagement", "finance", "truth"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for stale in [*out.glob("transactions/part-*.parquet"), *out.glob("engagement/part-*.parquet")]:
        stale.unlink()

    cal = blocks.Calendar.build(start, end)
    counters = Counters(next_customer=n_clients + 1)
    plans = campaigns_.campaign_plans(cal.n_days, campaigns, campaign_treated_share)
    if plans and plans[0].send_day < 90:
        raise ParameterError(f"campaigns: {campaigns} campaigns do not fit in {start} .. {end}")
    writers = _Writers(out)
    campaign_writer = _CampaignWriter(out) if plans else None
    next_offer = 1
    n_blocks = -(-n_clients // blocks.BLOCK)
    n_migrants = 0
    try:
        for b in range(n_blocks):
            first = b * blocks.BLOCK
            size = min(blocks.BLOCK, n_clients - first)
            writers.start_part(first // chunk_size)

            cb = blocks.make_clients(cal, seed, b, first, size, migration_rate)
            n_migrants += int((cb.final_segment != cb.segment).sum())
            tx = blocks.make_transactions(cal, seed, b, cb, counters.next_txn)
            counters.next_txn += tx.table.num_rows
            holdings = blocks.make_holdings(cal, seed, b, cb, counters.next_account)
            counters.next_account += holdings.num_rows
            engagement = blocks.make_engagement(cal, seed, b, cb)
            finance = blocks.make_profitability(cal, seed, b, cb, tx)

            for entity, table in (
                ("clients", cb.clients),
                ("transactions", tx.table),
                ("holdings", holdings),
                ("engagement", engagement),
                ("profitability", finance),
            ):
                writers.write(entity, inject(entity, table, faults, seed, b, counters))
            writers.truth.write_table(cb.truth)
            if campaign_writer is not None:
                rng = np.random.default_rng(np.random.SeedSequence([seed, b, 6]))
                exposures, opened = campaigns_.make_campaigns(
                    rng, plans, start, cb.ids, cb.segment, cb.final_segment,
                    cb.migration_day, cb.onboard_day, next_offer,
                )
                next_offer += opened.num_rows
                campaign_writer.write(exposures, opened)
            if progress is not None:
                progress(first + size, n_clients)
    finally:
        writers.close()
        if campaign_writer is not None:
            campaign_writer.close()
    if plans:
        pcsv.write_csv(
            campaigns_.effects_table(plans, start), out / FILES["campaign_effects"], write_options=_CSV
        )

    config = out / FILES["config"]
    config.write_text(project_yaml(start, end, plans))
    return GeneratedData(
        out_dir=out,
        config=config,
        n_clients=n_clients,
        n_transactions=writers.rows["transactions"],
        n_holdings=writers.rows["holdings"],
        n_engagement=writers.rows["engagement"],
        n_profitability=writers.rows["profitability"],
        n_faults=writers.rows["faults"],
        n_migrants=n_migrants,
        transaction_files=tuple(writers.parts["transactions"]),
        engagement_files=tuple(writers.parts["engagement"]),
        n_exposures=campaign_writer.rows if campaign_writer is not None else 0,
    )


class _CampaignWriter:
    """Campaign exposures (CSV) and the products opened in response (holdings Parquet)."""

    def __init__(self, out: Path) -> None:
        (out / "campaigns").mkdir(parents=True, exist_ok=True)
        self.exposures = pcsv.CSVWriter(
            out / FILES["exposures"], campaigns_.EXPOSURES_SCHEMA, write_options=_CSV
        )
        self.offers = pq.ParquetWriter(out / FILES["offers"], blocks.HOLDINGS_SCHEMA)
        self.rows = 0

    def write(self, exposures: pa.Table, opened: pa.Table) -> None:
        self.exposures.write_table(exposures)
        self.offers.write_table(opened.cast(blocks.HOLDINGS_SCHEMA))
        self.rows += exposures.num_rows

    def close(self) -> None:
        self.exposures.close()
        self.offers.close()


class _Writers:
    """Open output files; part files roll over with the chunk; row offsets for faults."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.clients = pcsv.CSVWriter(out / FILES["clients"], blocks.CLIENTS_SCHEMA, write_options=_CSV)
        self.finance = pcsv.CSVWriter(
            out / FILES["profitability"], blocks.FINANCE_SCHEMA, write_options=_CSV
        )
        self.holdings = pq.ParquetWriter(
            out / FILES["holdings"], blocks.HOLDINGS_SCHEMA, use_dictionary=_DICTIONARY["holdings"]
        )
        self.truth = pq.ParquetWriter(out / FILES["segments"], blocks.TRUTH_SCHEMA)
        self.faults = pcsv.CSVWriter(out / FILES["faults"], FAULTS_SCHEMA, write_options=_CSV)
        self.part: int | None = None
        self.part_writers: dict[str, pq.ParquetWriter] = {}
        self.parts: dict[str, list[Path]] = {"transactions": [], "engagement": []}
        self.rows = dict.fromkeys(
            ("clients", "transactions", "holdings", "engagement", "profitability", "faults"), 0
        )
        self.offset: dict[str, int] = {}  # rows already in the current file, per entity

    def start_part(self, part: int) -> None:
        if part == self.part:
            return
        self._close_parts()
        self.part = part
        for entity, schema in (
            ("transactions", blocks.TX_SCHEMA),
            ("engagement", blocks.ENGAGEMENT_SCHEMA),
        ):
            path = self.out / entity / f"part-{part:05d}.parquet"
            self.part_writers[entity] = pq.ParquetWriter(
                path, schema, use_dictionary=_DICTIONARY[entity]
            )
            self.parts[entity].append(path)
            self.offset[entity] = 0

    def _file(self, entity: str) -> str:
        if entity in self.parts:
            return f"{entity}/{self.parts[entity][-1].name}"
        return FILES[entity]

    def write(self, entity: str, inj: Injected) -> None:
        writer = {
            "clients": self.clients,
            "holdings": self.holdings,
            "profitability": self.finance,
        }.get(entity) or self.part_writers[entity]
        if inj.table.num_rows:
            writer.write_table(inj.table)
        base = self.offset.get(entity, 0)
        if inj.rows:
            n = len(inj.rows)
            self.faults.write_table(
                pa.table(
                    {
                        "entity": [entity] * n,
                        "file": [self._file(entity)] * n,
                        "row": np.asarray(inj.rows, dtype=np.int64) + base,
                        "key": inj.keys,
                        "fault": inj.faults,
                    },
                    schema=FAULTS_SCHEMA,
                )
            )
            self.rows["faults"] += n
        self.offset[entity] = base + inj.table.num_rows
        self.rows[entity] += inj.table.num_rows

    def _close_parts(self) -> None:
        for w in self.part_writers.values():
            w.close()
        self.part_writers = {}

    def close(self) -> None:
        self._close_parts()
        for w in (self.clients, self.finance, self.holdings, self.truth, self.faults):
            w.close()


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def min_date(start: dt.date, end: dt.date) -> dt.date:
    """``contracts.min_date`` of the generated project: before every legitimate date."""
    return dt.date(min(start.year, end.year - 30), 1, 1)


def _validate(n_clients, faults, start, end, migration_rate, chunk_size) -> None:
    if not 1 <= n_clients <= MAX_CLIENTS:
        raise ParameterError(f"n_clients: expected 1 to {MAX_CLIENTS:,}, got {n_clients!r}")
    if not 0.0 <= faults <= 0.1:
        raise ParameterError(f"faults: expected a rate between 0 and 0.1, got {faults!r}")
    if not 0.0 <= migration_rate <= 0.5:
        raise ParameterError(
            f"migration_rate: expected a share between 0 and 0.5, got {migration_rate!r}"
        )
    if (end - start).days < 365:
        raise ParameterError(
            f"start/end: the period must last at least one year, got {start} .. {end}"
        )
    if start.year < 1950 or end.year > 2090:
        raise ParameterError(f"start/end: expected dates between 1950 and 2090, got {start} .. {end}")
    if chunk_size < blocks.BLOCK or chunk_size % blocks.BLOCK:
        raise ParameterError(
            f"chunk_size: expected a multiple of {blocks.BLOCK:,} clients, got {chunk_size!r}"
        )


def project_yaml(
    start: dt.date, end: dt.date, plans: list[campaigns_.CampaignPlan] | tuple = ()
) -> str:
    """The project file mapping the generated sources onto the canonical entities."""
    text = _PROJECT.format(start=start, end=end, min_date=min_date(start, end))
    if not plans:
        return text
    text = text.replace("accounts: {path: holdings/holdings.parquet}", 'accounts: {path: "holdings/*.parquet"}')
    text = text.replace("  finance: {path: finance/profitability.csv}\n", "  finance: {path: finance/profitability.csv}\n  exposures: {path: campaigns/exposures.csv}\n")
    text = text.replace("contracts:\n", """\
  campaigns:
    source: exposures
    columns:
      client_id: customer_no
      campaign: campaign_code
      arm: grp
      sent_at: sent_on
      channel: channel
      offer: offer
contracts:
""")
    lines = ["experiments:", "  campaigns:"]
    for p in plans:
        lines += [
            f"    {p.name}:",
            f"      control_share: {1 - p.treated_share:g}",
            f"      channel: {p.channel}",
            f"      offer: {p.offer}",
            f"      cost_per_contact: {campaigns_.CHANNEL_COST[p.channel]:g}",
            f"      value_per_conversion: {campaigns_.VALUE_PER_CONVERSION:g}",
            f"      outcome: {{metric: product_opened, window_days: {campaigns_.WINDOW_DAYS}, "
            f"product: {p.offer}}}",
        ]
    return text + "\n".join(lines) + "\n"


_PROJECT = """\
# Written by `segmint generate` for data simulated from {start} to {end}.
project: demo-bank
sources:
  crm: {{path: crm/clients.csv}}
  tx: {{path: "transactions/*.parquet"}}
  accounts: {{path: holdings/holdings.parquet}}
  digital: {{path: "engagement/*.parquet"}}
  finance: {{path: finance/profitability.csv}}
entities:
  clients:
    source: crm
    columns:
      client_id: customer_no
      onboarded_at: open_date
      birth_year: birth_year
      gender: sex
      region: region
      occupation: occupation
      income_band: income_band
      is_business: is_business
      home_channel: acquisition_channel
  transactions:
    source: tx
    columns:
      transaction_id: txn_id
      client_id: customer_no
      ts: booked_at
      amount: {{sql: "amount_cents / 100.0"}}
      currency: currency
      category: mcc_category
      channel: channel
      is_promotion: promo
  holdings:
    source: accounts
    columns:
      client_id: customer_no
      product_id: account_id
      product: product_name
      product_type: product_type
      opened_at: opened
      closed_at: closed
      balance: balance
  engagement:
    source: digital
    columns:
      client_id: customer_no
      ts: event_time
      channel: channel
      event_type: event
  profitability:
    source: finance
    columns:
      client_id: customer_no
      period: month
      revenue: revenue
      cost: cost
contracts:
  currency: EUR
  min_date: {min_date}
  unknown_clients: quarantine
"""
