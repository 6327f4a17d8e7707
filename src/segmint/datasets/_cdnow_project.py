"""A ready segmint project over the CDNOW master file (``segmint demo --dataset cdnow``)."""

from __future__ import annotations

from pathlib import Path

from segmint.datasets._cdnow import load_cdnow

_YAML = """\
# CDNOW: purchase histories of 23,570 customers of an online music retailer
# (1997-01-01 .. 1998-06-30), the standard public benchmark of buy-till-you-die
# models. There is no CRM: clients are the customers seen in the purchase log.
project: cdnow
sources:
  customers: {path: data/customers.csv}
  purchases: {path: data/purchases.csv}
entities:
  clients:
    source: customers
    columns: {client_id: customer_id, onboarded_at: first_purchase}
  transactions:
    source: purchases
    columns:
      transaction_id: purchase_id
      client_id: customer_id
      ts: date
      amount: amount
      category: {sql: "CASE WHEN quantity > 1 THEN 'multi_cd' ELSE 'single_cd' END"}
      channel: {sql: "'web'"}
contracts: {currency: USD, min_date: 1997-01-01, max_date: 1998-06-30}
features:
  # the clv group (BG/NBD + Gamma-Gamma, the models this data set is the benchmark of)
  groups: [rfm, rfm_scores, behaviour, clv]
"""


def write_cdnow_project(out_dir: str | Path, *, kind: str = "master") -> Path:
    """Write the CDNOW data as CSV sources and a project file; returns the project file.

    Parameters
    ----------
    out_dir : path
        Folder to write ``segmint.yaml`` and ``data/`` into.
    kind : {"master", "sample"}
        The 23,570-customer master file or the 2,357-customer sample.
    """
    out = Path(out_dir)
    (out / "data").mkdir(parents=True, exist_ok=True)
    tx = load_cdnow(kind).sort_values(["customer_id", "date"], kind="stable").reset_index(drop=True)
    tx.insert(0, "purchase_id", tx.index.astype(str))
    customers = tx.groupby("customer_id", as_index=False)["date"].min()
    customers.columns = ["customer_id", "first_purchase"]
    for frame, name in ((tx, "purchases.csv"), (customers, "customers.csv")):
        tmp = out / "data" / f".{name}.tmp"
        frame.to_csv(tmp, index=False, date_format="%Y-%m-%d")
        tmp.replace(out / "data" / name)
    config = out / "segmint.yaml"
    config.write_text(_YAML)
    return config
