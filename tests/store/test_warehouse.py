"""The warehouse handle."""

from __future__ import annotations

import pandas as pd

from segmint.store import Warehouse


def test_has_table_leaves_the_connection_free_for_a_registration():
    wh = Warehouse(":memory:")
    wh.con.execute("CREATE TABLE t AS SELECT 1 AS a")
    assert wh.has_table("t") and not wh.has_table("u")
    # DuckDB refuses to register a frame while a result is unfinished
    wh.con.register("f", pd.DataFrame({"a": [2]}))
    assert wh.con.execute("SELECT a FROM f").fetchall() == [(2,)]
