"""A small hand-made project whose sources hold one fault of each kind."""

from __future__ import annotations

import textwrap
from pathlib import Path

import duckdb

CLIENTS_CSV = """\
cid,opened,yob,sex,reg
c1,2020-01-05,1980,F,North
c2,2021-03-01,1975,M,South
c3,not-a-date,1990,F,East
c4,2019-06-30,1985,M,West
c4,2019-06-30,1985,M,West
c5,2019-06-30,1985,M,West
c5,2018-01-01,1985,M,West
,2020-01-01,1970,F,North
c6,2030-01-01,1970,F,North
"""

TX_CSV = """\
id,cid,when,cents,cur,cat,chan,promo
t1,c1,2024-01-05 10:00:00,1250,EUR,food,web,false
t2,c1,2024-01-06 11:00:00,-300,EUR,food,web,false
t3,c2,2024-02-01 09:00:00,5000,EUR,travel,branch,true
t3,c2,2024-02-01 09:00:00,5000,EUR,travel,branch,true
t4,c2,2024-02-02 09:00:00,100,EUR,travel,branch,true
t4,c2,2024-02-03 09:00:00,100,EUR,travel,branch,true
t5,zz,2024-02-02 09:00:00,100,EUR,travel,branch,true
t6,c1,2099-02-02 09:00:00,100,EUR,travel,branch,true
t7,c1,1901-02-02 09:00:00,100,EUR,travel,branch,true
t8,c1,2024-03-02 09:00:00,100,USD,travel,branch,true
t9,c1,2024-03-02 09:00:00,12x,EUR,travel,branch,true
t10,c1,,100,EUR,travel,branch,true
t11,c2,2024-03-04 08:00:00,2500,,grocery,mobile,false
"""

# (file, 0-based data row) -> expected reason of the quarantined (not loaded) rows
EXPECTED = {
    ("data/clients.csv", 5): "duplicate_key",
    ("data/clients.csv", 6): "duplicate_key",
    ("data/clients.csv", 7): "missing_required",
    ("data/clients.csv", 8): "future_timestamp",
    ("data/tx.csv", 4): "duplicate_conflict",
    ("data/tx.csv", 5): "duplicate_conflict",
    ("data/tx.csv", 6): "unknown_client",
    ("data/tx.csv", 7): "future_timestamp",
    ("data/tx.csv", 8): "before_min_date",
    ("data/tx.csv", 9): "currency_mismatch",
    ("data/tx.csv", 10): "unparseable_value",
    ("data/tx.csv", 11): "missing_required",
    ("data/holdings.parquet", 1): "closed_before_opened",
    ("data/holdings.parquet", 2): "non_finite",
    ("data/holdings.parquet", 3): "unknown_client",
}

# loaded rows with an optional value set to null: (file, row) -> (reason, column)
NOTES = {
    ("data/clients.csv", 2): ("unparseable_value", "onboarded_at"),  # c3 'not-a-date'
}

YAML = """\
project: tiny
sources:
  crm: {path: data/clients.csv}
  tx: {path: data/tx.csv}
  acc: {path: "data/hold*.parquet"}
entities:
  clients:
    source: crm
    columns: {client_id: cid, onboarded_at: opened, birth_year: yob, gender: sex, region: reg}
  transactions:
    source: tx
    columns:
      transaction_id: id
      client_id: cid
      ts: when
      amount: {sql: "cents / 100.0"}
      currency: cur
      category: cat
      channel: chan
      is_promotion: promo
  holdings:
    source: acc
    columns:
      client_id: owner
      product_id: acct
      product_type: kind
      opened_at: opened
      closed_at: closed
      balance: bal
contracts: {currency: EUR, min_date: 2000-01-01, max_date: 2025-12-31}
"""


def write_holdings(path: Path) -> None:
    duckdb.sql(
        f"""
        COPY (SELECT * FROM (VALUES
            ('c1', 'a1', 'current', DATE '2020-02-01', NULL::DATE, 1200.5),
            ('c1', 'a2', 'savings', DATE '2021-02-01', DATE '2020-01-01', 10.0),
            ('c2', 'a3', 'card', DATE '2021-05-01', NULL::DATE, 'NaN'::DOUBLE),
            ('zz', 'a4', 'loan', DATE '2021-05-01', NULL::DATE, -5000.0),
            ('c2', 'a5', 'loan', DATE '2022-05-01', NULL::DATE, -8000.0)
        ) t(owner, acct, kind, opened, closed, bal)) TO '{path}' (FORMAT parquet)
        """
    )


def make_project(root: Path, yaml_text: str = YAML) -> Path:
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "data" / "clients.csv").write_text(CLIENTS_CSV)
    (root / "data" / "tx.csv").write_text(TX_CSV)
    write_holdings(root / "data" / "holdings.parquet")
    (root / "segmint.yaml").write_text(textwrap.dedent(yaml_text))
    return root / "segmint.yaml"


