"""The bad-input suite: malformed project files and data, run through the CLI in-process.

Each case is one fault on a small clean project (``badinputs.make_clean``): the
expected exit code, a fragment of the message, the rows loaded and the rows
quarantined by reason. ``run_cli`` calls ``segmint.cli.main`` here, so a traceback
fails the case. Exit codes: 0 done, 2 user error, 3 shrink refused, 74 file system,
130 interrupted (``segmint --help``).
"""

from __future__ import annotations

import codecs

import duckdb
import pytest

from badinputs import (
    CLIENTS,
    TX,
    TX_HEADER,
    Case,
    both,
    client_rows,
    counts,
    make_clean,
    quarantined,
    run_cli,
    tx_row,
    write,
    yaml_edit,
)

CLEAN = {"clients": 4, "transactions": 6}
BOMB = "\n".join(
    ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
) + "\n"
RULES = """
segmentation:
  include_defaults: false
  dimensions:
    - name: tier
      kind: rules
      default: other
      rules:
        - {segment: big, when: "%s"}
"""


DIRECT_AMOUNT = yaml_edit('amount: {sql: "cents / 100.0"}', "amount: cents")


def _bool_parquet(root):
    duckdb.sql(
        f"COPY (SELECT 't1' AS id, 'c1' AS cid, TIMESTAMP '2024-01-05 10:00:00' AS ts, true AS amt) "
        f"TO '{root / 'data' / 'btx.parquet'}' (FORMAT parquet)"
    )
    yaml_edit('tx: {path: "data/tx*.csv"}', "tx: {path: data/btx.parquet}")(root)
    yaml_edit('      amount: {sql: "cents / 100.0"}\n      currency: cur\n      category: cat\n'
              "      channel: chan\n      is_promotion: promo\n", "      amount: amt\n")(root)
    yaml_edit("ts: when", "ts: ts")(root)


CASES = [
    # -- the project file ------------------------------------------------------------
    Case("binary-project-file", write("segmint.yaml", bytes(range(256)) * 4), 2, "not a text file"),
    Case("empty-project-file", write("segmint.yaml", ""), 2, "expected a mapping"),
    Case("yaml-syntax", write("segmint.yaml", "sources: [unclosed\n"), 2, "not valid YAML"),
    Case("yaml-alias-bomb", write("segmint.yaml", BOMB), 2, "expands to more than"),
    Case("yaml-deep-nesting", write("segmint.yaml", "a: " + "[" * 5000 + "]" * 5000), 2, "nested too deeply"),
    Case("yaml-huge-file", write("segmint.yaml", "# " + "x" * (2 << 20)), 2, "too large for a project file"),
    Case("yaml-bad-date", yaml_edit("min_date: 2000-01-01", "min_date: 2000-13-45"), 2, "not valid YAML"),
    Case("project-folder-without-file", lambda r: (r / "segmint.yaml").unlink(), 2, "project file not found"),
    Case("memory-limit-lots", yaml_edit("project: bad-inputs", "project: bad-inputs\nwarehouse: {memory_limit: lots}"),
         2, "warehouse.memory_limit: expected a size"),
    Case("unknown-key", yaml_edit("project: bad-inputs", "project: bad-inputs\nsourcez: {}"), 2, "sourcez: unknown key"),
    Case("max-shrink-out-of-range", yaml_edit("currency: EUR,", "currency: EUR, max_shrink: 2,"), 2, "contracts.max_shrink"),
    Case("empty-delimiter", yaml_edit("crm: {path: data/clients.csv}", "crm: {path: data/clients.csv, delimiter: ''}"),
         2, "sources.crm.delimiter"),
    Case("unknown-encoding", yaml_edit("crm: {path: data/clients.csv}", "crm: {path: data/clients.csv, encoding: ebcdic}"),
         2, "sources.crm.encoding"),
    # -- user SQL: an expression, never a statement -------------------------------------
    Case("where-copy", yaml_edit("    source: tx\n", "    source: tx\n    where: \"1=1; COPY (SELECT 1) TO 'pwned.csv'\"\n"),
         2, "entities.transactions.where: filter"),
    Case("where-subquery-read-text", yaml_edit("    source: tx\n", "    source: tx\n    where: \"cid IN (SELECT content FROM read_text('/etc/hostname'))\"\n"),
         2, "a query (SELECT) is not allowed"),
    Case("where-attach", yaml_edit("    source: tx\n", "    source: tx\n    where: \"ATTACH 'pwned.duckdb' AS x\"\n"),
         2, "a statement (ATTACH) is not allowed"),
    Case("where-create", yaml_edit("    source: tx\n", "    source: tx\n    where: \"CREATE TABLE pwned AS SELECT 1\"\n"),
         2, "a statement is not allowed"),
    Case("sql-install", yaml_edit('{sql: "cents / 100.0"}', '{sql: "INSTALL httpfs"}'), 2, "a statement (INSTALL) is not allowed"),
    Case("sql-columns", yaml_edit("reg}", "reg, occupation: {sql: \"COLUMNS('content')\"}}"), 2, "COLUMNS(...) is not allowed"),
    Case("sql-read-text", yaml_edit("reg}", "reg, occupation: {sql: \"read_text('/etc/hostname')\"}}"), 2, "function read_text() is not allowed"),
    Case("sql-read-csv", yaml_edit('{sql: "cents / 100.0"}', "{sql: \"read_csv('data/tx.csv')\"}"), 2, "function read_csv() is not allowed"),
    Case("sql-getenv", yaml_edit("reg}", "reg, occupation: {sql: \"getenv('HOME')\"}}"), 2, "function getenv() is not allowed"),
    Case("sql-placeholder", yaml_edit('{sql: "cents / 100.0"}', '{sql: "cents / $1"}'), 2, "parameter placeholder"),
    Case("rule-subquery", yaml_edit("max_date: 2025-12-31}", "max_date: 2025-12-31}\n" + RULES % "recency_days < (SELECT 1)"),
         2, "segmentation.dimensions[0].rules[0].when: rule condition"),
    Case("rule-table-function", yaml_edit("max_date: 2025-12-31}", "max_date: 2025-12-31}\n" + RULES % "glob('/etc/*') IS NULL"),
         2, "function glob() is not allowed"),
    # -- valid data is never lost silently ----------------------------------------------
    Case("header-only-clients-reload", write("data/clients.csv", CLIENTS.splitlines()[0] + "\n"), 3,
         "entities.clients: this load would leave 0 of 4 rows", CLEAN, prepare=True),
    Case("clients-shrink-75pct", write("data/clients.csv", "\n".join(CLIENTS.splitlines()[:2]) + "\n"), 3,
         "would leave 1 of 4 rows", CLEAN, prepare=True),
    Case("header-only-clients-allowed", write("data/clients.csv", CLIENTS.splitlines()[0] + "\n"), 0, "",
         {"clients": 0, "transactions": 0}, {("transactions", "unknown_client"): 6},
         args=("ingest", "--allow-shrink"), prepare=True),
    Case("birth-year-words", write("data/clients.csv", CLIENTS.replace("1990", "nineteen")), 0, "",
         CLEAN, {("clients", "note:unparseable_value"): 1}),
    Case("birth-year-negative", write("data/clients.csv", CLIENTS.replace("1990", "-5")), 0, "",
         CLEAN, {("clients", "note:out_of_range"): 1}),
    Case("birth-year-2090", write("data/clients.csv", CLIENTS.replace("1990", "2090")), 0, "",
         CLEAN, {("clients", "note:out_of_range"): 1}),
    Case("onboarded-not-a-date", write("data/clients.csv", CLIENTS.replace("2021-03-01", "someday")), 0, "",
         CLEAN, {("clients", "note:unparseable_value"): 1}),
    Case("conflicting-duplicate-client", client_rows("c4,2018-01-01,1985,M,West\n"), 0, "",
         {"clients": 3, "transactions": 4},
         {("clients", "duplicate_key"): 2, ("transactions", "held_client"): 2}),
    Case("client-missing-id", client_rows(",2020-01-01,1970,F,North\n"), 0, "",
         CLEAN, {("clients", "missing_required"): 1}),
    Case("client-required-date-bad-holds-tx", write("data/clients.csv", CLIENTS.replace("c4,2019-06-30", "c4,2099-06-30")),
         0, "", {"clients": 3, "transactions": 4},
         {("clients", "future_timestamp"): 1, ("transactions", "held_client"): 2}),
    Case("unknown-client", tx_row("t7,zz,2024-02-05 09:00:00,100,EUR,food,web,false"), 0, "",
         CLEAN, {("transactions", "unknown_client"): 1}),
    # -- values in range or flagged -----------------------------------------------------
    Case("huge-amount", both(DIRECT_AMOUNT, tx_row("t7,c1,2024-02-05 09:00:00,1e34,EUR,food,web,false")), 0, "",
         CLEAN, {("transactions", "out_of_range"): 1}),
    Case("huge-integer-cents", tx_row("t7,c1,2024-02-05 09:00:00," + "9" * 40 + ",EUR,food,web,false"), 0, "",
         CLEAN, {("transactions", "unparseable_value"): 1}),
    Case("amount-inf", both(DIRECT_AMOUNT, tx_row("t7,c1,2024-02-05 09:00:00,inf,EUR,food,web,false")), 0, "",
         CLEAN, {("transactions", "non_finite"): 1}),
    Case("amount-words", tx_row("t7,c1,2024-02-05 09:00:00,lots,EUR,food,web,false"), 0, "",
         CLEAN, {("transactions", "unparseable_value"): 1}),
    Case("boolean-amount-parquet", _bool_parquet, 2, "is BOOLEAN, but transactions.amount is a number"),
    Case("currency-mismatch", tx_row("t7,c1,2024-02-05 09:00:00,100,USD,food,web,false"), 0, "",
         CLEAN, {("transactions", "currency_mismatch"): 1}),
    Case("future-timestamp", tx_row("t7,c1,2099-02-05 09:00:00,100,EUR,food,web,false"), 0, "",
         CLEAN, {("transactions", "future_timestamp"): 1}),
    Case("timestamp-offset", tx_row("t7,c1,2024-02-05 09:00:00+02:00,100,EUR,food,web,false"), 0, "",
         {"clients": 4, "transactions": 7}, {}),
    Case("conflicting-duplicate-tx", tx_row("t6,c4,2024-02-04 09:00:00,801,EUR,food,mobile,false"), 0, "",
         {"clients": 4, "transactions": 5}, {("transactions", "duplicate_conflict"): 2}),
    # -- encodings and dialects -----------------------------------------------------------
    Case("latin1-file", write("data/clients.csv", CLIENTS.replace("North", "Norð").encode("latin-1")), 2,
         "data/clients.csv (source 'crm'): not UTF-8 text"),
    Case("latin1-file-declared", both(
        write("data/clients.csv", CLIENTS.replace("North", "Norð").encode("latin-1")),
        yaml_edit("crm: {path: data/clients.csv}", "crm: {path: data/clients.csv, encoding: latin-1}")),
        0, "", CLEAN, {}),
    Case("utf16-file", write("data/clients.csv", CLIENTS.encode("utf-16")), 2, "the file is UTF-16 text"),
    Case("utf16-file-declared", both(
        write("data/clients.csv", CLIENTS.encode("utf-16")),
        yaml_edit("crm: {path: data/clients.csv}", "crm: {path: data/clients.csv, encoding: utf-16}")),
        0, "", CLEAN, {}),
    Case("ragged-row-extra-column", tx_row("t7,c1,2024-02-05 09:00:00,100,EUR,food,web,false,surprise"), 0, "",
         CLEAN, {("transactions", "malformed_row"): 1}),
    Case("ragged-row-missing-columns", tx_row("t7,c1,2024-02-05"), 0, "",
         CLEAN, {("transactions", "malformed_row"): 1}),
    Case("semicolon-file-in-glob", write("data/tx2.csv", "id;cid;when;cents;cur;cat;chan;promo\nt9;c1;2024-03-01 10:00:00;100;EUR;food;web;false\n"),
         2, "data/tx2.csv (source 'tx'): column(s) cents, cid, id, when not found; the header reads"),
    Case("semicolon-file-in-glob-skipped", both(
        write("data/tx2.csv", "id;cid;when;cents;cur;cat;chan;promo\nt9;c1;2024-03-01 10:00:00;100;EUR;food;web;false\n"),
        yaml_edit('tx: {path: "data/tx*.csv"}', 'tx: {path: "data/tx*.csv", on_bad_file: skip}')),
        0, "skipped data/tx2.csv", CLEAN, {}),
    Case("semicolon-file-declared", both(
        write("data/clients.csv", CLIENTS.replace(",", ";")),
        yaml_edit("crm: {path: data/clients.csv}", "crm: {path: data/clients.csv, delimiter: ';'}")),
        0, "", CLEAN, {}),
    Case("single-quoted-file", both(
        write("data/clients.csv", CLIENTS.replace("North", "'North, upper'")),
        yaml_edit("crm: {path: data/clients.csv}", "crm: {path: data/clients.csv, quote: \"'\"}")),
        0, "", CLEAN, {}),
    Case("semicolon-single-file", write("data/clients.csv", CLIENTS.replace(",", ";")), 2,
         "is the delimiter ';'?"),
    Case("garbage-parquet", both(write("data/tx.parquet", b"PAR1 this is not parquet"),
                                 yaml_edit('tx: {path: "data/tx*.csv"}', "tx: {path: data/tx.parquet}")),
         2, "data/tx.parquet (source 'tx'): cannot be read as Parquet"),
    Case("empty-extra-file-in-glob", write("data/tx2.csv", ""), 2, "data/tx2.csv (source 'tx')"),
    Case("empty-extra-file-skipped", both(write("data/tx2.csv", ""), yaml_edit('tx: {path: "data/tx*.csv"}', 'tx: {path: "data/tx*.csv", on_bad_file: skip}')),
         0, "skipped data/tx2.csv", CLEAN, {}),
    Case("unclosed-quote-file-in-glob", write("data/tx2.csv", TX_HEADER + 't9,"c1,2024-03-01,100,EUR,food,web,false\n'),
         2, "data/tx2.csv (source 'tx'): cannot be read as CSV with delimiter ',' and quote '\"': its CSV dialect"),
    Case("unclosed-quote-file-skipped", both(
        write("data/tx2.csv", TX_HEADER + 't9,"c1,2024-03-01,100,EUR,food,web,false\n'),
        yaml_edit('tx: {path: "data/tx*.csv"}', 'tx: {path: "data/tx*.csv", on_bad_file: skip}')),
        0, "skipped data/tx2.csv", CLEAN, {}),
    Case("no-file-matches", yaml_edit('tx: {path: "data/tx*.csv"}', 'tx: {path: "data/nothing*.csv"}'), 2, "no file matches"),
    Case("missing-column", yaml_edit("ts: when", "ts: booked"), 2, "column 'booked' not found"),
    # -- the warehouse and the file system ------------------------------------------------
    Case("warehouse-under-a-file", yaml_edit("project: bad-inputs", "project: bad-inputs\nwarehouse: {path: data/clients.csv/wh.duckdb}"),
         2, "a part of the path is a file"),
    Case("warehouse-not-duckdb", both(write("wh.duckdb", b"not a database" * 100),
                                      yaml_edit("project: bad-inputs", "project: bad-inputs\nwarehouse: {path: wh.duckdb}")),
         2, "cannot open the warehouse"),
    Case("report-under-a-file", lambda r: None, 74, "a part of the path is a file",
         args=("report", "--out", "{root}/data/clients.csv/report.html"), extra={"run_first": True}),
]


def _ids(cases: list[Case]) -> list[str]:
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids))
    return ids


def test_the_suite_has_at_least_forty_cases():
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_bad_input(tmp_path, case):
    path = make_clean(tmp_path)
    if case.prepare:
        assert run_cli("ingest", "-p", str(path)).code == 0
    if case.extra.get("run_first"):
        first = run_cli("run", "-p", str(path))
        assert first.code == 0, first.err
    files_before = sorted(p for p in tmp_path.rglob("*") if ".segmint" not in p.parts)
    case.mutate(tmp_path)
    args = [a.replace("{root}", str(tmp_path)) for a in case.args]
    result = run_cli(*args, "-p", str(tmp_path))
    assert result.code == case.exit_code, (result.out, result.err)
    assert "Traceback" not in result.err
    if case.message:
        assert case.message in (result.err if case.exit_code else result.out), (result.out, result.err)
    if case.exit_code:
        assert len(result.err.strip().splitlines()) <= 3, result.err  # one message, not a dump
    if case.loaded is not None:
        assert counts(tmp_path) == case.loaded
    if case.quarantine is not None:
        assert quarantined(tmp_path) == case.quarantine
    # nothing escapes: no file appeared outside the warehouse folder
    files_after = sorted(p for p in tmp_path.rglob("*") if ".segmint" not in p.parts)
    new = set(files_after) - set(files_before)
    assert {p.name for p in new} <= {"segmint.yaml", "clients.csv", "tx.csv", "tx2.csv", "btx.parquet",
                                     "tx.parquet", "wh.duckdb", "wh.duckdb.wal", "wh.duckdb.lock",
                                     "report.html"}


# -- cases with more than one step, or a closer look -----------------------------------


def _wh(root):
    return duckdb.connect(str(root / ".segmint" / "warehouse.duckdb"), read_only=True)


def test_a_refused_shrink_leaves_the_warehouse_as_it_was(tmp_path):
    path = make_clean(tmp_path)
    assert run_cli("ingest", "-p", str(path)).code == 0
    with _wh(tmp_path) as con:
        before = con.execute("SELECT * FROM clients ORDER BY 1").fetchall()
    (tmp_path / "data" / "clients.csv").write_text(CLIENTS.splitlines()[0] + "\n")
    assert run_cli("ingest", "-p", str(path)).code == 3
    with _wh(tmp_path) as con:
        assert con.execute("SELECT * FROM clients ORDER BY 1").fetchall() == before
        assert con.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0
        status = con.execute("SELECT status, detail FROM _runs ORDER BY started_at DESC LIMIT 1").fetchone()
    assert status[0] == "failed" and "would leave 0 of 4" in status[1]


def test_held_transactions_are_released_when_the_client_arrives_valid(tmp_path):
    path = make_clean(tmp_path)
    (tmp_path / "data" / "clients.csv").write_text(CLIENTS + "c4,2018-01-01,1985,M,West\n")
    assert run_cli("ingest", "-p", str(path)).code == 0
    assert quarantined(tmp_path)[("transactions", "held_client")] == 2
    (tmp_path / "data" / "clients.csv").write_text(CLIENTS)
    result = run_cli("ingest", "-p", str(path))
    assert result.code == 0, result.err
    assert counts(tmp_path) == CLEAN
    assert quarantined(tmp_path) == {}


def test_an_unparseable_optional_value_is_null_with_a_note_and_keeps_its_value(tmp_path):
    path = make_clean(tmp_path)
    (tmp_path / "data" / "clients.csv").write_text(CLIENTS.replace("1990", "nineteen"))
    assert run_cli("ingest", "-p", str(path)).code == 0
    with _wh(tmp_path) as con:
        assert con.execute("SELECT birth_year FROM clients WHERE client_id = 'c3'").fetchone() == (None,)
        note = con.execute(
            "SELECT column_name, original_values->>'birth_year', source_row FROM quarantine WHERE note"
        ).fetchone()
    assert note == ("birth_year", "nineteen", 2)


def test_a_ragged_row_keeps_its_raw_line_and_the_next_rows_their_numbers(tmp_path):
    path = make_clean(tmp_path)
    lines = TX.splitlines()
    lines.insert(2, "t9,c1,2024-01-05,1,EUR,food,web,false,EXTRA")  # data row 1
    (tmp_path / "data" / "tx.csv").write_text("\n".join(lines) + "\n")
    assert run_cli("ingest", "-p", str(path)).code == 0
    with _wh(tmp_path) as con:
        q = con.execute("SELECT source_row, reason, original_values->>'line' FROM quarantine").fetchall()
        rows = dict(con.execute(
            "SELECT transaction_id, source_row FROM transactions t JOIN ("
            "SELECT 0 AS source_row, 't1' AS id UNION ALL SELECT 2, 't2') x ON x.id = t.transaction_id"
        ).fetchall())
    assert q == [(1, "malformed_row", "t9,c1,2024-01-05,1,EUR,food,web,false,EXTRA")]
    assert rows == {"t1": 0, "t2": 2}


def test_offsets_are_converted_to_utc(tmp_path):
    path = make_clean(tmp_path)
    (tmp_path / "data" / "tx.csv").write_text(
        TX + "t7,c1,2024-02-05 09:00:00+02:00,100,EUR,food,web,false\n"
        "t8,c1,2024-02-05T09:00:00Z,100,EUR,food,web,false\n"
    )
    assert run_cli("ingest", "-p", str(path)).code == 0
    with _wh(tmp_path) as con:
        got = dict(con.execute(
            "SELECT transaction_id, strftime(ts, '%H:%M') FROM transactions WHERE transaction_id IN ('t7', 't8', 't1')"
        ).fetchall())
    assert got == {"t7": "07:00", "t8": "09:00", "t1": "10:00"}


def test_a_huge_amount_does_not_poison_later_runs(tmp_path):
    path = make_clean(tmp_path)
    DIRECT_AMOUNT(tmp_path)
    (tmp_path / "data" / "tx.csv").write_text(
        TX + "".join(f"b{i},c1,2024-02-05 09:00:00,1e33,EUR,food,web,false\n" for i in range(20))
    )
    result = run_cli("run", "-p", str(path))
    assert result.code == 0, result.err
    assert quarantined(tmp_path) == {("transactions", "out_of_range"): 20}
    result = run_cli("update", "-p", str(path))
    assert result.code == 0, result.err


def test_the_largest_allowed_amounts_sum_without_overflow(tmp_path):
    # 20 amounts of max_amount for one client: the DECIMAL(38, 6) sums of the features hold
    path = make_clean(tmp_path)
    (tmp_path / "data" / "tx.csv").write_text(
        TX + "".join(f"b{i},c1,2024-02-05 09:00:00,{int(1e14)},EUR,food,web,false\n" for i in range(20))
    )
    result = run_cli("run", "-p", str(path))
    assert result.code == 0, result.err
    assert quarantined(tmp_path) == {}


def test_a_utf16_bom_is_named_even_in_a_glob_with_skip(tmp_path):
    path = make_clean(tmp_path)
    (tmp_path / "data" / "tx2.csv").write_bytes(codecs.BOM_UTF16_LE + (TX_HEADER + "t9,c1,2024-03-01,1,EUR,a,b,false\n").encode("utf-16-le"))
    path.write_text(path.read_text().replace('tx: {path: "data/tx*.csv"}', 'tx: {path: "data/tx*.csv", on_bad_file: skip}'))
    result = run_cli("ingest", "-p", str(path))
    assert result.code == 0, result.err
    assert "skipped data/tx2.csv" in result.out and "UTF-16" in result.out
    assert counts(tmp_path) == CLEAN


def test_ctrl_c_during_ingest_leaves_the_warehouse_and_exits_130(tmp_path, monkeypatch):
    path = make_clean(tmp_path)
    assert run_cli("ingest", "-p", str(path)).code == 0
    with _wh(tmp_path) as con:
        before = con.execute("SELECT * FROM transactions ORDER BY 1").fetchall()
    (tmp_path / "data" / "tx.csv").write_text(TX.replace("1250", "1251"))

    import segmint.sources._ingest as ingest_mod

    def interrupt(name):
        if name == "after:transactions":
            raise KeyboardInterrupt

    monkeypatch.setattr(ingest_mod, "crash_point", interrupt)
    result = run_cli("ingest", "-p", str(path))
    assert result.code == 130
    assert "warehouse is unchanged" in result.err and "Traceback" not in result.err
    with _wh(tmp_path) as con:
        assert con.execute("SELECT * FROM transactions ORDER BY 1").fetchall() == before


def test_a_full_disk_is_one_line_and_exit_74(tmp_path, monkeypatch):
    import errno

    path = make_clean(tmp_path)
    assert run_cli("run", "-p", str(path)).code == 0
    import segmint.report as report_mod

    def full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(report_mod, "write_report", full)
    result = run_cli("report", "-p", str(path))
    assert result.code == 74
    assert "No space left on device" in result.err and "Traceback" not in result.err


@pytest.mark.skipif(not hasattr(__import__("os"), "geteuid") or __import__("os").geteuid() == 0,
                    reason="root reads and writes whatever the permissions say")
def test_permissions_are_named_not_reported_as_missing(tmp_path):
    path = make_clean(tmp_path)
    (tmp_path / "data" / "tx.csv").chmod(0)
    result = run_cli("ingest", "-p", str(path))
    assert result.code == 2 and "permission denied" in result.err
    (tmp_path / "data" / "tx.csv").chmod(0o644)
    (tmp_path / "data").chmod(0o300)
    try:
        result = run_cli("ingest", "-p", str(path))
        assert result.code == 2 and "permission denied on folder" in result.err
    finally:
        (tmp_path / "data").chmod(0o755)
    tmp_path.chmod(0o555)  # a read-only project folder: no warehouse can be created
    try:
        result = run_cli("ingest", "-p", str(path))
        assert result.code == 2 and "cannot create the warehouse folder" in result.err
    finally:
        tmp_path.chmod(0o755)
    (tmp_path / "segmint.yaml").chmod(0)
    result = run_cli("ingest", "-p", str(path))
    assert result.code == 2 and "permission denied" in result.err


def test_stale_running_rows_are_marked_interrupted(tmp_path):
    import os
    import subprocess
    import sys

    path = make_clean(tmp_path)
    env = {**os.environ, "SEGMINT_TEST_KILL_AT": "after:clients"}
    proc = subprocess.run(
        [sys.executable, "-c", "import segmint, sys; segmint.Project.from_yaml(sys.argv[1]).ingest()", str(path)],
        env=env, capture_output=True,
    )
    assert proc.returncode == -9
    with _wh(tmp_path) as con:
        assert con.execute("SELECT status FROM _runs").fetchall() == [("running",)]
    assert run_cli("ingest", "-p", str(path)).code == 0
    with _wh(tmp_path) as con:
        got = con.execute("SELECT status FROM _runs ORDER BY started_at").fetchall()
    assert got == [("interrupted",), ("ok",)]


def test_sql_escapes_leave_the_warehouse_and_file_system_unchanged(tmp_path):
    path = make_clean(tmp_path)
    assert run_cli("ingest", "-p", str(path)).code == 0
    with _wh(tmp_path) as con:
        tables = con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()
        runs = con.execute("SELECT count(*) FROM _runs").fetchone()
    clean = path.read_text()
    escapes = [
        "1=1; COPY (SELECT 1) TO 'pwned.csv'",
        "ATTACH 'pwned.duckdb' AS x",
        "CREATE TABLE pwned AS SELECT 1",
        "cid IN (SELECT content FROM read_text('/etc/hostname'))",
        "INSTALL httpfs",
        "COLUMNS('content') IS NOT NULL",
    ]
    for sql in escapes:
        path.write_text(clean.replace("    source: tx\n", f'    source: tx\n    where: "{sql}"\n'))
        result = run_cli("ingest", "-p", str(path))
        assert result.code == 2, (sql, result.err)
    assert not list(tmp_path.rglob("pwned*"))
    with _wh(tmp_path) as con:
        assert con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall() == tables
        assert con.execute("SELECT count(*) FROM _runs").fetchone() == runs  # refused on load


def test_the_ingest_connection_cannot_reach_outside_even_past_the_parser(tmp_path):
    from segmint.store import Warehouse

    src = tmp_path / "data.csv"
    src.write_text("a\n1\n")
    with Warehouse(tmp_path / "wh.duckdb") as wh:
        wh.restrict_access([src])
        assert wh.con.execute(f"SELECT count(*) FROM read_csv('{src}')").fetchone() == (1,)
        for sql in (
            f"COPY (SELECT 1) TO '{tmp_path / 'out.csv'}'",
            f"ATTACH '{tmp_path / 'x.duckdb'}' AS x",
            "SELECT * FROM read_text('/etc/hostname')",
            "INSTALL httpfs",
            "LOAD httpfs",
            "SET enable_external_access = true",
            "SET lock_configuration = false",
        ):
            with pytest.raises(duckdb.Error):
                wh.con.execute(sql)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "wh.duckdb", "wh.duckdb.lock"]
