"""A small clean project, one-fault mutations of it, and the CLI run in-process.

The CLI runs through :func:`segmint.cli.main` in this process, so a traceback (any
exception that is not a clean exit) fails the test that caused it.
"""

from __future__ import annotations

import contextlib
import io
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

CLIENTS = """\
cid,opened,yob,sex,reg
c1,2020-01-05,1980,F,North
c2,2021-03-01,1975,M,South
c3,2019-06-30,1990,F,East
c4,2019-06-30,1985,M,West
"""

TX_HEADER = "id,cid,when,cents,cur,cat,chan,promo\n"
TX = TX_HEADER + """\
t1,c1,2024-01-05 10:00:00,1250,EUR,food,web,false
t2,c1,2024-01-06 11:00:00,-300,EUR,food,web,false
t3,c2,2024-02-01 09:00:00,5000,EUR,travel,branch,true
t4,c3,2024-02-02 09:00:00,100,EUR,travel,branch,true
t5,c4,2024-02-03 09:00:00,700,EUR,food,mobile,false
t6,c4,2024-02-04 09:00:00,800,EUR,food,mobile,false
"""

YAML = """\
project: bad-inputs
sources:
  crm: {path: data/clients.csv}
  tx: {path: "data/tx*.csv"}
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
contracts: {currency: EUR, min_date: 2000-01-01, max_date: 2025-12-31}
"""


def make_clean(root: Path) -> Path:
    """Write the clean project; returns its project file."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "data" / "clients.csv").write_text(CLIENTS)
    (root / "data" / "tx.csv").write_text(TX)
    (root / "segmint.yaml").write_text(textwrap.dedent(YAML))
    return root / "segmint.yaml"


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(*args: str) -> Result:
    """``segmint ARGS`` in this process; an uncaught exception propagates (a traceback)."""
    from segmint import cli

    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["segmint", *args]
    code = 0
    try:  # the consoles write to whatever sys.stdout / sys.stderr are at the time
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            cli.main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = argv
    return Result(code, out.getvalue(), err.getvalue())


def counts(root: Path) -> dict[str, int]:
    """Rows in the clients and transactions tables (absent: no warehouse yet)."""
    path = root / ".segmint" / "warehouse.duckdb"
    if not path.exists():
        return {}
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        return {
            t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("clients", "transactions") if t in tables
        }
    finally:
        con.close()


def quarantined(root: Path) -> dict[tuple[str, str], int]:
    """``{(entity, reason): rows}`` of quarantined rows; notes as ``(entity, 'note:REASON')``."""
    path = root / ".segmint" / "warehouse.duckdb"
    if not path.exists():
        return {}
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute(
            "SELECT entity, CASE WHEN note THEN 'note:' ELSE '' END || reason, count(*) "
            "FROM quarantine GROUP BY 1, 2"
        ).fetchall()
    finally:
        con.close()
    return {(e, r): int(n) for e, r, n in rows}


@dataclass
class Case:
    """One malformed input: how to make it, and what the CLI must do with it."""

    id: str
    mutate: Callable[[Path], None]
    exit_code: int
    message: str = ""
    loaded: dict[str, int] | None = None
    quarantine: dict[tuple[str, str], int] | None = None
    args: tuple[str, ...] = ("ingest",)
    prepare: bool = False  # run a clean ingest first (a reload of a loaded warehouse)
    extra: dict[str, object] = field(default_factory=dict)


def yaml_edit(old: str, new: str) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        p = root / "segmint.yaml"
        text = p.read_text()
        assert old in text, old
        p.write_text(text.replace(old, new))

    return edit


def write(rel: str, text: str | bytes) -> Callable[[Path], None]:
    def do(root: Path) -> None:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            p.write_bytes(text)
        else:
            p.write_text(text)

    return do


def both(*steps: Callable[[Path], None]) -> Callable[[Path], None]:
    def do(root: Path) -> None:
        for s in steps:
            s(root)

    return do


def tx_row(row: str) -> Callable[[Path], None]:
    """Add one transaction row to tx.csv."""
    return write("data/tx.csv", TX + row + "\n")


def client_rows(text: str) -> Callable[[Path], None]:
    return write("data/clients.csv", CLIENTS + text)
