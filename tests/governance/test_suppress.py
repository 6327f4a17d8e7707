"""Small-cell suppression: nothing released below the minimum, nothing recoverable."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from segmint.governance import suppress_counts, suppress_table


def _bounds(t, counts):
    """Min and max of every suppressed cell over non-negative tables matching the release
    (linear programming): a cell is recoverable when its min equals its max."""
    hidden = np.argwhere(np.isnan(t.cells))
    n = len(hidden)
    a_eq, b_eq = [], []
    r, c = counts.shape
    for i in range(r):
        if not np.isnan(t.row_totals[i]):
            known = np.nansum(t.cells[i])
            a_eq.append([1.0 if h[0] == i else 0.0 for h in hidden])
            b_eq.append(t.row_totals[i] - known)
    for j in range(c):
        if not np.isnan(t.col_totals[j]):
            a_eq.append([1.0 if h[1] == j else 0.0 for h in hidden])
            b_eq.append(t.col_totals[j] - np.nansum(t.cells[:, j]))
    if not np.isnan(t.total):
        a_eq.append([1.0] * n)
        b_eq.append(t.total - np.nansum(t.cells))
    out = []
    for k in range(n):
        e = np.zeros(n)
        e[k] = 1
        lo = linprog(e, A_eq=a_eq or None, b_eq=b_eq or None, bounds=[(0, None)] * n)
        hi = linprog(-e, A_eq=a_eq or None, b_eq=b_eq or None, bounds=[(0, None)] * n)
        out.append((lo.fun, -hi.fun if hi.status == 0 else np.inf))
    return out


def _check(counts, min_cell):
    t = suppress_table(counts, min_cell)
    released = t.cells[~np.isnan(t.cells)]
    assert ((released == 0) | (released >= min_cell)).all()
    for m in (t.row_totals, t.col_totals, np.array([t.total])):
        shown = m[~np.isnan(m)]
        assert ((shown == 0) | (shown >= min_cell)).all()
    # released values are the true ones
    np.testing.assert_array_equal(t.cells[~np.isnan(t.cells)], counts[~np.isnan(t.cells)])
    for lo, hi in _bounds(t, counts):
        assert hi - lo > 0.5, "a suppressed cell is recoverable from the released totals"
    return t


def test_single_small_cell_gets_a_complement():
    counts = np.array([[3, 40, 50], [20, 30, 60]])
    t = _check(counts, 10)
    assert t.primary.sum() == 1 and t.complementary.sum() >= 1


def test_one_row_table_with_its_total():
    t = _check(np.array([[4, 120, 300, 15]]), 10)
    assert np.isnan(t.cells[0, 0]) and np.isnan(t.cells[0, 3])  # 15: the smallest other
    assert t.cells[0, 1] == 120 and t.cells[0, 2] == 300


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(1, 5), st.data())
def test_property_nothing_small_released_nothing_recoverable(r, c, data):
    values = data.draw(st.lists(st.integers(0, 60), min_size=r * c, max_size=r * c))
    _check(np.array(values).reshape(r, c), 10)


def test_suppress_counts_long_frame():
    frame = pd.DataFrame({
        "dimension": ["a"] * 3 + ["b"] * 2,
        "segment_id": ["a1", "a2", "a3", "b1", "b2"],
        "clients": [5, 100, 200, 50, 60],
    })
    out = suppress_counts(frame, "clients", by="dimension", min_cell=10)
    a = out[out.dimension == "a"].set_index("segment_id")
    assert np.isnan(a.clients["a1"]) and a.suppressed["a1"] == "primary"
    assert np.isnan(a.clients["a2"]) and a.suppressed["a2"] == "complementary"
    assert a.clients["a3"] == 200
    assert out[out.dimension == "b"].clients.tolist() == [50, 60]


def test_suppress_counts_crosstab():
    rows = list(itertools.product(["s1", "s2", "s3"], ["t1", "t2"]))
    frame = pd.DataFrame(rows, columns=["segment_id", "other"])
    frame["clients"] = [2, 50, 40, 40, 30, 35]
    out = suppress_counts(frame, "clients", columns="other", min_cell=10)
    assert out.clients.isna().sum() >= 4  # a 2x2 block at least: s1 row and a partner row
    released = out.clients.dropna()
    assert (released >= 10).all()


@pytest.mark.parametrize("min_cell", [0, -1])
def test_bad_minimum(min_cell):
    from segmint.errors import ParameterError

    with pytest.raises(ParameterError):
        suppress_table(np.array([[1, 2]]), min_cell)
