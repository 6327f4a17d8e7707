"""The suppression kernel on linked releases: implied counts, locked and withheld ones,
and counts shared by several tables (hand-computed cases and a property)."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from segmint.disclosure import Release, determined, determined_cells, suppress, suppress_table


def _hidden(rel: Release, status: dict) -> set:
    """What the reader does not see: suppressed counts and implied non-zero ones."""
    implied = {k for k, p, v in zip(rel.keys, rel.published, rel.values, strict=True)
               if not p and v > 0}
    return {k for k, s in status.items() if s} | implied


def _check(rel: Release, status: dict, min_cell: int, hide=()) -> None:
    value = dict(zip(rel.keys, rel.values, strict=True))
    for k, s in status.items():
        if s is None:
            assert value[k] == 0 or value[k] >= min_cell or k in hide, k
    hidden = _hidden(rel, status)
    protected = {k for k in hidden if 0 < value[k] < min_cell
                 or (k in status and status[k] and value[k] > 0)}
    assert not (determined(rel, hidden) & protected)


def test_subtraction_from_the_total_is_blocked():
    # sizes 5, 50, 200 released with their total 255: 5 = 255 - 50 - 200 unless 50 goes too
    rel = Release()
    sizes = [rel.count(k, v) for k, v in (("a", 5), ("b", 50), ("c", 200))]
    rel.sum(rel.count("n", 255, priority=2), sizes)
    naive = {"a"}
    assert determined(rel, naive) == {"a"}
    status = suppress(rel, 10)
    assert status == {"a": "primary", "b": "complementary", "c": None, "n": None}
    assert determined(rel, {"a", "b"}) == set()


def test_a_count_shared_by_two_tables_is_protected_in_both():
    # segment sizes of one dimension are the row margins of its cross-tab with another:
    # suppressing each table alone would leave a per-table check green and a leak open
    a_sizes, b_sizes = [5, 50, 60], [57, 58]
    cells = np.array([[2, 3], [25, 25], [30, 30]])
    rel = Release()
    for i, v in enumerate(a_sizes):
        rel.count(("a", i), v, priority=1)
    for j, v in enumerate(b_sizes):
        rel.count(("b", j), v, priority=1)
    rel.count("n", 115, priority=3)
    rel.sum("n", [("a", i) for i in range(3)])
    rel.sum("n", [("b", j) for j in range(2)])
    for i, j in itertools.product(range(3), range(2)):
        rel.count(("x", i, j), cells[i, j])
    for i in range(3):
        rel.sum(("a", i), [("x", i, j) for j in range(2)])
    for j in range(2):
        rel.sum(("b", j), [("x", i, j) for i in range(3)])
    status = suppress(rel, 10)
    _check(rel, status, 10)
    # the size table alone would hide a0 (5) and its complement a1 (50): then the released
    # cells of row a1 (25 + 25) give 50 back, and 5 = 115 - 50 - 60
    assert status[("a", 0)] == "primary"
    hidden_a1_row = status[("x", 1, 0)] or status[("x", 1, 1)] or status[("a", 1)] is None
    assert hidden_a1_row


def test_an_implied_small_count_is_protected():
    # audiences A (50) and B (60) share 45 members: A without B is 5, never shown, but
    # 50 - 45 gives it; one of the shown counts must go
    rel = Release()
    rel.count("A", 50, priority=1)
    rel.count("B", 60, priority=1)
    rel.count("AB", 45)
    rel.count("A-B", 5, published=False)
    rel.count("B-A", 15, published=False)
    rel.sum("A", ["AB", "A-B"])
    rel.sum("B", ["AB", "B-A"])
    status = suppress(rel, 10)
    assert status["AB"] == "complementary" and status["A"] is None
    _check(rel, status, 10)


def test_locked_counts_are_never_complements_and_withheld_ones_are_protected():
    t = suppress_table(np.array([[3, 40], [20, 30]]), 10, locked_rows=[0, 1], locked_cols=[0, 1])
    assert not np.isnan(t.row_totals).any() and not np.isnan(t.col_totals).any()
    assert np.isnan(t.cells).all()  # a 2x2 table with fixed margins: all four cells go
    hide = np.array([[False, False, True], [False, False, False]])
    t = suppress_table(np.array([[40, 50, 60], [20, 30, 70]]), 10, hide=hide)
    assert np.isnan(t.cells[0, 2]) and np.isnan(t.cells).sum() >= 2
    det = determined_cells(np.isnan(t.cells), ~np.isnan(t.row_totals), ~np.isnan(t.col_totals),
                           not np.isnan(t.total))
    assert not det.any()


def test_minimum_of_one_suppresses_nothing():
    t = suppress_table(np.array([[1, 2, 0], [3, 4, 5]]), 1)
    assert not np.isnan(t.cells).any() and t.total == 15


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 4), st.integers(2, 3), st.integers(2, 3), st.data())
def test_property_linked_sizes_and_crosstabs(na, nb, nc, data):
    """Three dimensions' sizes and their pairwise cross-tabs from one client population:
    nothing small released, nothing suppressed recoverable from everything released."""
    n = data.draw(st.integers(20, 200))
    rng = np.random.default_rng(data.draw(st.integers(0, 10_000)))
    skew = [rng.dirichlet(np.full(k, 0.4)) for k in (na, nb, nc)]
    labels = [rng.choice(k, size=n, p=p) for k, p in zip((na, nb, nc), skew, strict=True)]
    rel = Release()
    rel.count("n", n, priority=3)
    for d, lab in enumerate(labels):
        keys = [rel.count(("size", d, s), int((lab == s).sum()), priority=1)
                for s in range(lab.max() + 1)]
        rel.sum("n", keys)
    for d, e in itertools.combinations(range(3), 2):
        da, db = labels[d], labels[e]
        for s in range(da.max() + 1):
            for t in range(db.max() + 1):
                rel.count(("x", d, s, e, t), int(((da == s) & (db == t)).sum()))
        for s in range(da.max() + 1):
            rel.sum(("size", d, s), [("x", d, s, e, t) for t in range(db.max() + 1)])
        for t in range(db.max() + 1):
            rel.sum(("size", e, t), [("x", d, s, e, t) for s in range(da.max() + 1)])
    status = suppress(rel, 10)
    _check(rel, status, 10)
