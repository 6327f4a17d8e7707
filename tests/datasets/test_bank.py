"""The synthetic bank generator: files, determinism, chunking, faults and planted truth."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from segmint.cli import app
from segmint.config import SqlExpr, load_config
from segmint.datasets import DEFAULT_END, generate_bank
from segmint.datasets._bank import min_date
from segmint.datasets._bank_story import SEGMENTS
from segmint.errors import ParameterError

START = dt.date(2022, 12, 31)
RATE = 0.01


# ------------------------------------------------------------------ reading helpers
def _csv(path: Path) -> pd.DataFrame:
    """A CSV exactly as written: every value text, nulls as empty strings."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _parts(paths) -> tuple[pd.DataFrame, dict[str, int]]:
    """Part files concatenated, with the global row offset of each part."""
    frames, offsets, at = [], {}, 0
    for p in paths:
        t = pq.read_table(p)
        t = t.cast(
            pa.schema(
                pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type)
                for f in t.schema
            )
        )
        offsets[f"{Path(p).parent.name}/{Path(p).name}"] = at
        at += t.num_rows
        frames.append(t.to_pandas())
    return pd.concat(frames, ignore_index=True), offsets


def _faults(data) -> pd.DataFrame:
    return pd.read_csv(data.path("faults"), dtype={"row": int, "key": str}, keep_default_na=False)


def _global_rows(faults: pd.DataFrame, file_offsets: dict[str, int], entity: str) -> np.ndarray:
    f = faults[faults.entity == entity]
    return (f.row + f.file.map(lambda name: file_offsets.get(name, 0))).to_numpy()


def _tables(data) -> dict[str, pd.DataFrame]:
    """Every source as a frame, plus a map of file offsets for part files."""
    tx, tx_off = _parts(data.transaction_files)
    en, en_off = _parts(data.engagement_files)
    return {
        "clients": _csv(data.path("clients")),
        "transactions": tx,
        "holdings": pq.read_table(data.path("holdings")).to_pandas(),
        "engagement": en,
        "profitability": _csv(data.path("profitability")),
        "offsets": {**tx_off, **en_off},
    }


def _same_frame(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Same values in the same order (dtypes may differ: a column with nulls is float)."""
    a, b = a.reset_index(drop=True), b.reset_index(drop=True)
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    if not a.equals(b.astype(a.dtypes.to_dict())):
        pd.testing.assert_frame_equal(a, b, check_dtype=False)


# ------------------------------------------------------------------ files
EXPECTED_COLUMNS = {
    "crm/clients.csv": [
        "customer_no", "open_date", "birth_year", "sex", "region", "occupation",
        "income_band", "is_business", "acquisition_channel",
    ],
    "transactions/part-00000.parquet": [
        "txn_id", "customer_no", "booked_at", "amount_cents", "currency", "mcc_category",
        "channel", "promo",
    ],
    "holdings/holdings.parquet": [
        "customer_no", "account_id", "product_name", "product_type", "opened", "closed", "balance",
    ],
    "engagement/part-00000.parquet": ["customer_no", "event_time", "channel", "event"],
    "finance/profitability.csv": ["customer_no", "month", "revenue", "cost"],
    "truth/segments.parquet": ["client_id", "segment", "valid_from", "valid_to"],
    "truth/faults.csv": ["entity", "file", "row", "key", "fault"],
    "truth/upgrades.csv": ["client_id", "product_type", "opened", "migrated"],
}


def test_every_file_has_its_columns(clean):
    for rel, columns in EXPECTED_COLUMNS.items():
        path = clean.out_dir / rel
        if rel.endswith(".csv"):
            assert list(_csv(path).columns) == columns, rel
        else:
            assert pq.read_schema(path).names == columns, rel
    tx = pq.read_schema(clean.transaction_files[0])
    assert tx.field("booked_at").type == pa.timestamp("us")
    assert tx.field("amount_cents").type == pa.int64()
    assert tx.field("promo").type == pa.bool_()
    holdings = pq.read_schema(clean.path("holdings"))
    assert holdings.field("opened").type == pa.date32()
    assert holdings.field("balance").type == pa.float64()


def test_counts_match_the_files(clean):
    t = _tables(clean)
    assert len(t["clients"]) == clean.n_clients == 3_000
    assert len(t["transactions"]) == clean.n_transactions
    assert len(t["holdings"]) == clean.n_holdings
    assert len(t["engagement"]) == clean.n_engagement
    assert len(t["profitability"]) == clean.n_profitability
    assert clean.n_faults == 0 and len(_faults(clean)) == 0


def test_transactions_per_client_as_documented(clean):
    # docs/generator.md: about 100 transactions per client over the default three years
    assert 90 <= clean.n_transactions / clean.n_clients <= 110


def test_values_are_valid_and_inside_the_period(clean):
    t = _tables(clean)
    tx, en, clients = t["transactions"], t["engagement"], t["clients"]
    end_excl = pd.Timestamp(DEFAULT_END + dt.timedelta(days=1))
    assert tx.booked_at.min() >= pd.Timestamp(START) and tx.booked_at.max() < end_excl
    assert en.event_time.min() >= pd.Timestamp(START) and en.event_time.max() < end_excl
    assert tx.txn_id.is_unique and (tx.currency == "EUR").all()
    assert tx.customer_no.isin(clients.customer_no).all()
    assert (tx.amount_cents != 0).all() and 0 < (tx.amount_cents < 0).mean() < 0.03
    assert clients.customer_no.is_unique
    opened = pd.to_datetime(clients.open_date, format="%Y-%m-%d")
    assert opened.min() >= pd.Timestamp(min_date(START, DEFAULT_END))
    assert opened.max() <= pd.Timestamp(DEFAULT_END)
    h = t["holdings"]
    assert h.account_id.is_unique and h.customer_no.isin(clients.customer_no).all()
    assert set(h.product_type) == {"current", "savings", "card", "loan", "mortgage", "investment"}
    closed = h.dropna(subset=["closed"])
    assert (closed.closed > closed.opened).all()
    assert np.isfinite(h.balance).all()
    assert (h[h.product_type.isin(["loan", "mortgage"])].balance <= 0).all()
    p = t["profitability"]
    assert not p.duplicated(["customer_no", "month"]).any()
    assert (p.month.str.endswith("-01")).all()
    assert np.isfinite(p.revenue.astype(float)).all()


def test_project_file_validates_and_its_mapping_runs(clean):
    config = load_config(clean.config)
    assert config.contracts.currency == "EUR"
    assert config.contracts.min_date == min_date(START, DEFAULT_END)
    con = duckdb.connect()
    for entity, mappings in config.entities.items():
        for m in mappings if isinstance(mappings, list) else [mappings]:
            source = config.sources[m.source]
            path = (clean.out_dir / source.path).as_posix()
            reader = "read_csv" if source.resolved_format == "csv" else "read_parquet"
            select = ", ".join(
                f"{spec.sql if isinstance(spec, SqlExpr) else spec} AS {canonical}"
                for canonical, spec in m.columns.items()
            )
            n = con.sql(f"SELECT count(*) FROM (SELECT {select} FROM {reader}('{path}'))").fetchall()[0]
            assert n[0] > 0, entity


def test_same_seed_writes_identical_files(tmp_path):
    a = generate_bank(tmp_path / "a", n_clients=1_200, seed=7, faults=RATE)
    b = generate_bank(tmp_path / "b", n_clients=1_200, seed=7, faults=RATE)
    files = sorted(p.relative_to(a.out_dir) for p in a.out_dir.rglob("*") if p.is_file())
    assert len(files) == 9
    for rel in files:
        assert (a.out_dir / rel).read_bytes() == (b.out_dir / rel).read_bytes(), rel
    c = generate_bank(tmp_path / "c", n_clients=1_200, seed=8)
    assert c.path("clients").read_bytes() != a.path("clients").read_bytes()


def test_chunk_size_does_not_change_the_data(faulty, tmp_path):
    one = generate_bank(tmp_path / "one", n_clients=3_000, seed=0, faults=RATE, chunk_size=3_000)
    assert len(faulty.transaction_files) == 3 and len(one.transaction_files) == 1
    small, large = _tables(faulty), _tables(one)
    for entity in ("clients", "transactions", "holdings", "engagement", "profitability"):
        _same_frame(small[entity], large[entity])
    fs, fl = _faults(faulty), _faults(one)
    for entity in ("transactions", "engagement"):
        assert list(_global_rows(fs, small["offsets"], entity)) == list(
            _global_rows(fl, large["offsets"], entity)
        )
    assert fs.fault.tolist() == fl.fault.tolist() and fs.key.tolist() == fl.key.tolist()


def test_rerun_into_the_same_folder_replaces_old_parts(tmp_path):
    generate_bank(tmp_path, n_clients=2_000, seed=0, chunk_size=1_000)
    again = generate_bank(tmp_path, n_clients=1_000, seed=0, chunk_size=1_000)
    assert sorted(p.name for p in (tmp_path / "transactions").iterdir()) == ["part-00000.parquet"]
    assert len(again.transaction_files) == 1


# ------------------------------------------------------------------ faults
def test_clean_rows_are_untouched_by_faults(clean, faulty):
    c, f = _tables(clean), _tables(faulty)
    faults = _faults(faulty)
    for entity in ("clients", "transactions", "holdings", "engagement"):
        recorded = _global_rows(faults, f["offsets"], entity)
        assert len(recorded) > 0, entity
        _same_frame(f[entity].drop(index=recorded), c[entity])
    # profitability faults overwrite rows instead of adding them
    recorded = _global_rows(faults, {}, "profitability")
    _same_frame(f["profitability"].drop(index=recorded), c["profitability"].drop(index=recorded))


def test_every_recorded_fault_is_real(faulty):
    t = _tables(faulty)
    faults = _faults(faulty)
    assert not faults.duplicated(["file", "row"]).any(), "a row carries one fault only"
    valid_clients = set(_csv(faulty.path("clients")).customer_no)
    floor = pd.Timestamp(min_date(START, DEFAULT_END))
    today = pd.Timestamp(dt.date.today())
    time_col = {"transactions": "booked_at", "engagement": "event_time"}
    required = {
        "clients": ["customer_no"],
        "transactions": ["txn_id", "customer_no", "booked_at", "amount_cents"],
        "holdings": ["customer_no", "account_id", "product_type", "opened"],
        "engagement": ["customer_no", "event_time", "channel", "event"],
        "profitability": ["customer_no", "month", "revenue", "cost"],
    }
    seen = set()
    for (entity, kind), group in faults.groupby(["entity", "fault"]):
        seen.add((entity, kind))
        frame = t[entity]
        rows = frame.loc[_global_rows(group, t["offsets"], entity)]
        if kind == "missing_required":
            blank = rows[required[entity]].isna() | (rows[required[entity]] == "")
            assert (blank.sum(axis=1) == 1).all()
        elif kind == "unparseable_value":
            if entity == "clients":
                parsed = pd.to_datetime(rows.open_date, format="%Y-%m-%d", errors="coerce")
                assert parsed.isna().all(), rows.open_date.tolist()
            else:
                bad = pd.to_numeric(rows.revenue, errors="coerce").isna() | pd.to_numeric(
                    rows.cost, errors="coerce"
                ).isna()
                assert bad.all()
        elif kind == "future_timestamp":
            when = pd.to_datetime(rows.open_date) if entity == "clients" else rows[time_col[entity]]
            assert (when > today).all()
        elif kind == "before_min_date":
            when = pd.to_datetime(rows.open_date) if entity == "clients" else rows[time_col[entity]]
            assert (when < floor).all()
        elif kind == "unknown_client":
            assert not rows.customer_no.isin(valid_clients).any()
        elif kind == "currency_mismatch":
            assert (rows.currency != "EUR").all()
        elif kind == "non_finite":
            assert (~np.isfinite(rows.balance)).all()
        elif kind == "closed_before_opened":
            assert (rows.closed < rows.opened).all()
        elif kind == "duplicate_exact":
            same = frame[frame.txn_id.isin(rows.txn_id)]
            assert len(same) == 2 * len(rows), "each copy has exactly one original"
            assert same.duplicated(keep=False).all(), "copies are exact"
            copies = same.drop_duplicates(keep="first").index  # the later occurrences remain
            assert sorted(same.index.difference(copies)) == sorted(rows.index), "copy follows"
        elif kind == "duplicate_conflict":
            ids = rows.txn_id.value_counts()
            assert (ids == 2).all()
            assert (frame.txn_id.isin(ids.index)).sum() == len(rows), "no third row shares an id"
            for _, pair in rows.groupby("txn_id"):
                assert not pair.iloc[0].equals(pair.iloc[1])
        elif kind == "duplicate_key":
            keys = rows.customer_no.value_counts()
            assert (keys == 2).all() and (frame.customer_no.isin(keys.index)).sum() == len(rows)
        else:
            pytest.fail(f"unexpected fault {kind}")
    expected = {
        ("clients", k)
        for k in ("missing_required", "unparseable_value", "future_timestamp", "before_min_date", "duplicate_key")
    } | {
        ("transactions", k)
        for k in (
            "missing_required", "future_timestamp", "before_min_date", "duplicate_exact",
            "duplicate_conflict", "unknown_client", "currency_mismatch",
        )
    } | {
        ("holdings", k)
        for k in ("missing_required", "unknown_client", "non_finite", "closed_before_opened")
    } | {
        ("engagement", k)
        for k in ("missing_required", "unknown_client", "future_timestamp", "before_min_date")
    } | {("profitability", k) for k in ("missing_required", "unparseable_value")}
    assert seen == expected


def test_fault_counts_follow_the_rate(clean, faulty):
    faults = _faults(faulty)
    clean_rows = {
        "clients": clean.n_clients,
        "transactions": clean.n_transactions,
        "holdings": clean.n_holdings,
        "engagement": clean.n_engagement,
        "profitability": clean.n_profitability,
    }
    for (entity, kind), group in faults.groupby(["entity", "fault"]):
        instances = len(group) / (2 if kind in ("duplicate_conflict", "duplicate_key") else 1)
        expected = RATE * clean_rows[entity]
        assert abs(instances - expected) <= 4 * math.sqrt(expected) + 1, (entity, kind)


def test_keys_name_the_row(faulty):
    t = _tables(faulty)
    faults = _faults(faulty)
    tx = faults[faults.entity == "transactions"]
    rows = t["transactions"].loc[_global_rows(tx, t["offsets"], "transactions")]
    keys = rows.txn_id.map(lambda v: "" if pd.isna(v) else str(int(v)))
    assert keys.tolist() == tx.key.tolist()
    h = faults[faults.entity == "holdings"]
    assert t["holdings"].loc[h.row].account_id.fillna("").tolist() == h.key.tolist()


# ------------------------------------------------------------------ planted truth
def test_planted_upgrades_follow_migrations(clean):
    from segmint.datasets._bank_story import UPGRADE_DAYS_AFTER_MIGRATION, UPGRADES

    upgrades = pd.read_csv(clean.path("upgrades"), parse_dates=["opened", "migrated"])
    assert len(upgrades) > 0
    truth = pq.read_table(clean.path("segments")).to_pandas()
    holdings = pq.read_table(clean.path("holdings")).to_pandas()
    dest = truth[truth.valid_to.isna() & truth.client_id.duplicated(keep=False)]
    merged = upgrades.merge(dest, on="client_id", validate="one_to_one")
    assert (merged.segment.map(lambda s: UPGRADES[s][0]) == merged.product_type).all()
    assert (pd.to_datetime(merged.valid_from) == merged.migrated).all()
    lag = (merged.opened - merged.migrated).dt.days
    assert lag.between(*UPGRADE_DAYS_AFTER_MIGRATION).all()
    held = upgrades.merge(
        holdings.rename(columns={"customer_no": "client_id"}), on=["client_id", "product_type"]
    )
    assert len(held) == len(upgrades)
    assert (pd.to_datetime(held.opened_y) == held.opened_x).all() and held.closed.isna().all()


def test_migration_truth_is_consistent(clean):
    truth = pq.read_table(clean.path("segments")).to_pandas()
    clients = _csv(clean.path("clients"))
    assert set(truth.client_id) == set(clients.customer_no)
    spells = truth.groupby("client_id").size()
    assert set(spells) <= {1, 2}
    migrants = spells[spells == 2].index
    assert len(migrants) == clean.n_migrants
    # default 10% of clients migrate (binomial sd is about 0.55 points at 3,000 clients)
    assert 0.08 <= len(migrants) / clean.n_clients <= 0.12
    first = truth.drop_duplicates("client_id", keep="first").set_index("client_id")
    last = truth.drop_duplicates("client_id", keep="last").set_index("client_id")
    assert last.valid_to.isna().all()
    opened = pd.to_datetime(clients.set_index("customer_no").open_date).dt.date
    assert (first.valid_from == opened.reindex(first.index)).all()
    m_first, m_last = first.loc[migrants], last.loc[migrants]
    assert (m_first.valid_to == m_last.valid_from).all()
    window_start = DEFAULT_END - dt.timedelta(weeks=26)
    assert (m_last.valid_from > window_start).all() and (m_last.valid_from <= DEFAULT_END).all()
    paths = {(name, s.migrates_to) for name, s in SEGMENTS.items() if s.migrates_to}
    assert set(zip(m_first.segment, m_last.segment, strict=True)) <= paths
    assert len(set(m_first.segment)) == len(paths)
    # at least six planted segments, each a sizeable share
    shares = last.segment.value_counts(normalize=True)
    assert len(shares) >= 6 and shares.min() > 0.05


def test_migrants_change_behaviour_on_their_migration_date(clean):
    con = duckdb.connect()
    tx = f"read_parquet('{clean.out_dir.as_posix()}/transactions/*.parquet')"
    truth = f"read_parquet('{clean.path('segments').as_posix()}')"
    rates = con.sql(
        f"""
        WITH m AS (
            SELECT a.client_id, a.segment AS before, b.segment AS after, b.valid_from AS day
            FROM {truth} a JOIN {truth} b ON a.client_id = b.client_id AND a.valid_to = b.valid_from
        )
        SELECT before, after,
            -- transactions per 30 days in the 90 days before and from the migration on
            30 * count(*) FILTER (WHERE booked_at >= day - 90 AND booked_at < day)
                / 90.0 / count(DISTINCT m.client_id) AS rate_before,
            30 * count(*) FILTER (WHERE booked_at >= day)
                / avg(date_diff('day', day, DATE '{DEFAULT_END}') + 1) / count(DISTINCT m.client_id)
                AS rate_after,
            avg((channel IN ('web', 'mobile'))::INT) FILTER (WHERE booked_at < day) AS digital_before,
            avg((channel IN ('web', 'mobile'))::INT) FILTER (WHERE booked_at >= day) AS digital_after
        FROM m JOIN {tx} t ON t.customer_no = m.client_id
        GROUP BY ALL
        """
    ).df().set_index("before")
    lapse = rates.loc["affluent_loyalist"]
    assert lapse.rate_after < 0.1 * lapse.rate_before
    revive = rates.loc["dormant"]
    assert revive.rate_after > 10 * max(revive.rate_before, 0.05)
    go_digital = rates.loc["branch_steady"]
    assert go_digital.digital_after > go_digital.digital_before + 0.4


# ------------------------------------------------------------------ parameters and CLI
@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_clients": 0},
        {"n_clients": 10, "faults": 0.5},
        {"n_clients": 10, "migration_rate": -0.1},
        {"n_clients": 10, "start": dt.date(2025, 6, 1)},
        {"n_clients": 10, "chunk_size": 1_500},
    ],
)
def test_invalid_parameters_are_named(tmp_path, kwargs):
    name = next(k for k in kwargs if k != "n_clients") if len(kwargs) > 1 else "n_clients"
    with pytest.raises(ParameterError, match=name.split("_")[0]):
        generate_bank(tmp_path, **kwargs)


def test_progress_is_reported_per_block(tmp_path):
    calls = []
    generate_bank(tmp_path, n_clients=2_500, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1_000, 2_500), (2_000, 2_500), (2_500, 2_500)]


def test_cli_generate(tmp_path):
    result = CliRunner().invoke(
        app, ["generate", "--clients", "1000", "--out", str(tmp_path), "--seed", "3", "--end", "2024-06-30"]
    )
    assert result.exit_code == 0, result.output
    assert "1,000 clients" in result.output
    config = load_config(tmp_path / "segmint.yaml")
    assert config.contracts.min_date == dt.date(1994, 1, 1)
    last = duckdb.sql(
        f"SELECT max(booked_at) FROM read_parquet('{tmp_path.as_posix()}/transactions/*.parquet')"
    ).fetchall()[0][0]
    assert dt.date(2024, 6, 20) < last.date() <= dt.date(2024, 6, 30)
    help_text = CliRunner().invoke(app, ["generate", "--help"]).output
    assert "Example: segmint generate" in help_text


def test_docs_show_the_story_as_coded():
    from segmint.datasets._bank_story import markdown_tables

    doc = (Path(__file__).parents[2] / "docs" / "generator.md").read_text()
    assert markdown_tables() in doc, "regenerate the tables in docs/generator.md"
