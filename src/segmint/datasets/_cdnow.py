"""Public reference data shipped with segmint (compressed, unchanged).

* CDNOW (Fader & Hardie): purchase histories of an online music retailer's
  customers, 1997-01-01 .. 1998-06-30. ``master`` holds the 23,570-customer
  cohort, ``sample`` the standard 2,357-customer 1/10 sample used by the
  buy-till-you-die literature, ``summary`` its published calibration summary
  (39 weeks ending 1997-09-30; x, t_x, T in weeks).
* Donations (Fader, Hardie & Shang 2010): 11,104 donors' repeat donations
  over 6 annual opportunities, one row per (x, t_x, n) pattern with a weight.

Source: Bruce Hardie's public data sets (brucehardie.com), as distributed with
the BTYD literature; the files are copied byte for byte and gzipped.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

_DATA = resources.files("segmint.datasets") / "data"


def data_path(name: str):
    """Path of a shipped data file (e.g. ``"CDNOW_sample.txt.gz"``)."""
    return _DATA / name


def load_cdnow(kind: str = "sample") -> pd.DataFrame:
    """CDNOW transactions: ``customer_id, date, quantity, amount``.

    Parameters
    ----------
    kind : {"sample", "master"}
        The 2,357-customer sample or the 23,570-customer master file.

    Examples
    --------
    >>> load_cdnow("sample").shape
    (6919, 4)
    """
    if kind == "sample":
        # first column: the id in the master file; second: the sample's own id
        # (1..2357), which the published summary uses.
        names = ["master_id", "customer_id", "date", "quantity", "amount"]
        path = data_path("CDNOW_sample.txt.gz")
        skip = 0
    elif kind == "master":
        names = ["customer_id", "date", "quantity", "amount"]
        path = data_path("CDNOW_master.txt.gz")
        skip = 1
    else:
        raise ValueError(f"kind must be 'sample' or 'master', got {kind!r}")
    with resources.as_file(path) as p:
        df = pd.read_csv(
            p, sep=r"\s+", header=None, names=names, skiprows=skip, dtype={"date": str}
        )
    df["date"] = pd.to_datetime(df["date"], format="%Y%m%d")
    df["customer_id"] = df["customer_id"].astype(int)
    return df[["customer_id", "date", "quantity", "amount"]]


def load_cdnow_summary() -> pd.DataFrame:
    """Published calibration summary of the CDNOW sample: ``customer_id, x, t_x, T, zbar``."""
    with resources.as_file(data_path("cdnow_customers_summary_with_transactions.csv.gz")) as p:
        df = pd.read_csv(p)
    return df.rename(columns={"ID": "customer_id"})


def load_donations() -> pd.DataFrame:
    """BG/BB donations benchmark: ``frequency, recency, periods, weights``."""
    with resources.as_file(data_path("donations.csv")) as p:
        return pd.read_csv(p)
