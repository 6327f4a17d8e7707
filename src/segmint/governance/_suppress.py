"""Small-cell suppression with complementary suppression.

A count table is released with its margins (row totals, column totals, the grand
total). A cell counting 1 to ``min_cell - 1`` clients is suppressed (primary); zero
cells are released (they identify nobody). Then, while some suppressed cell can
still be recomputed from the released cells and margins, another cell is suppressed
(complementary): the smallest released non-zero cell sharing a margin with it, or,
when there is none, that margin itself. "Recomputable" is exact linear algebra, not
a rule of thumb: the released margins are linear equations in the suppressed cells,
and a cell is determined when its unit vector lies in their row space (equivalently,
the null space of the equations is zero on it). Margins below ``min_cell`` are
suppressed too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from segmint.errors import ParameterError


@dataclass
class SuppressedTable:
    """A released count table.

    Attributes
    ----------
    cells : 2-D float array, NaN where suppressed
    row_totals, col_totals : 1-D float arrays, NaN where suppressed
    total : float (NaN when suppressed)
    primary, complementary : boolean masks of the cells suppressed for each reason
    """

    cells: np.ndarray
    row_totals: np.ndarray
    col_totals: np.ndarray
    total: float
    primary: np.ndarray
    complementary: np.ndarray


def determined_cells(
    hidden: np.ndarray,
    rows_released: np.ndarray,
    cols_released: np.ndarray,
    total_released: bool,
) -> np.ndarray:
    """Which hidden cells the released margins determine (boolean mask like ``hidden``).

    Unknowns are the hidden cells; each released margin is one equation over the
    hidden cells of its row / column (the grand total over all of them). A cell is
    determined when every vector of the equations' null space is zero on it.
    """
    idx = np.argwhere(hidden)
    if len(idx) == 0:
        return np.zeros_like(hidden, dtype=bool)
    eqs = []
    for i in np.flatnonzero(rows_released):
        eqs.append((idx[:, 0] == i).astype(float))
    for j in np.flatnonzero(cols_released):
        eqs.append((idx[:, 1] == j).astype(float))
    if total_released:
        eqs.append(np.ones(len(idx)))
    eqs = [e for e in eqs if e.any()]
    out = np.zeros_like(hidden, dtype=bool)
    if not eqs:
        return out
    a = np.vstack(eqs)
    _, s, vt = np.linalg.svd(a)
    rank = int((s > 1e-9 * max(1.0, s.max())).sum())
    null = vt[rank:]  # rows span the null space
    det = np.all(np.abs(null) < 1e-9, axis=0) if len(null) else np.ones(len(idx), dtype=bool)
    out[idx[det, 0], idx[det, 1]] = True
    return out


def suppress_table(counts: np.ndarray, min_cell: int = 10) -> SuppressedTable:
    """Suppress small cells of a 2-D count table and enough others that none of them can
    be recomputed from what is released (cells and margins).

    Examples
    --------
    >>> t = suppress_table(np.array([[3, 40, 50], [20, 30, 60]]), min_cell=10)
    >>> int(np.isnan(t.cells).sum()) >= 2
    True
    """
    counts = np.asarray(counts, dtype=float)
    if counts.ndim != 2:
        raise ParameterError("suppress_table: counts must be a 2-D table")
    if min_cell < 1:
        raise ParameterError(f"suppress_table: min_cell must be at least 1 (got {min_cell})")
    primary = (counts > 0) & (counts < min_cell)
    hidden = primary.copy()
    rows, cols = counts.sum(axis=1), counts.sum(axis=0)
    total = counts.sum()
    rows_rel = ~((rows > 0) & (rows < min_cell))
    cols_rel = ~((cols > 0) & (cols < min_cell))
    total_rel = not (0 < total < min_cell)
    # a one-row (one-column) table: its column (row) totals are its cells, not margins
    if counts.shape[0] == 1:
        cols_rel[:] = False
    if counts.shape[1] == 1:
        rows_rel[:] = False
    for _ in range(counts.size + len(rows) + len(cols) + 1):
        det = determined_cells(hidden, rows_rel, cols_rel, total_rel)
        if not det.any():
            break
        i, j = np.argwhere(det)[0]
        candidates = []
        for r, c in [(i, c) for c in range(counts.shape[1])] + [(r, j) for r in range(counts.shape[0])]:
            if not hidden[r, c] and counts[r, c] > 0:
                candidates.append((counts[r, c], r, c))
        if candidates:
            _, r, c = min(candidates)
            hidden[r, c] = True
        elif rows_rel[i] and counts.shape[1] > 1 or rows_rel[i] and not cols_rel[j]:
            rows_rel[i] = False
        elif cols_rel[j]:
            cols_rel[j] = False
        elif rows_rel[i]:
            rows_rel[i] = False
        else:
            total_rel = False
    cells = np.where(hidden, np.nan, counts)
    return SuppressedTable(
        cells,
        np.where(rows_rel, rows, np.nan),
        np.where(cols_rel, cols, np.nan),
        float(total) if total_rel else float("nan"),
        primary,
        hidden & ~primary,
    )


def suppress_counts(
    frame: pd.DataFrame,
    count: str,
    *,
    by: str | list[str] | None = None,
    columns: str | None = None,
    min_cell: int = 10,
) -> pd.DataFrame:
    """Suppress a long table of counts (one row per cell) for release.

    Parameters
    ----------
    frame : DataFrame
    count : column holding the counts
    by : columns whose value pairs make independent tables (e.g. ``dimension``)
    columns : the column of the cross-tabulation's second axis; without it each table is
        one row of cells released with its total
    min_cell : smallest count released

    Returns
    -------
    DataFrame
        ``frame`` with ``count`` set to null where suppressed and a ``suppressed`` column
        (``primary``, ``complementary`` or null). Every other column derived from a
        suppressed count (shares, means) must be nulled by the caller.
    """
    by = [by] if isinstance(by, str) else list(by or [])
    out = frame.copy()
    out["suppressed"] = None
    out[count] = out[count].astype("float64")
    groups = out.groupby(by[0] if len(by) == 1 else by, sort=False).groups if by else {None: out.index}
    rest = [c for c in frame.columns if c not in (*by, count, columns)]
    for _, index in groups.items():
        part = out.loc[index]
        row_key = rest[0] if (columns and rest) else None
        if columns:
            pivot = part.pivot_table(index=row_key, columns=columns, values=count, aggfunc="sum",
                                     fill_value=0) if row_key else None
            if pivot is None:
                raise ParameterError("suppress_counts: a cross-tab needs a row column")
        else:
            pivot = pd.DataFrame([part[count].to_numpy()], columns=part.index)
        t = suppress_table(pivot.to_numpy(), min_cell)
        for (ri, rlab) in enumerate(pivot.index):
            for (ci, clab) in enumerate(pivot.columns):
                if not (t.primary[ri, ci] or t.complementary[ri, ci]):
                    continue
                if columns:
                    hit = part.index[(part[row_key] == rlab) & (part[columns] == clab)]
                else:
                    hit = [clab]
                out.loc[hit, count] = np.nan
                out.loc[hit, "suppressed"] = "primary" if t.primary[ri, ci] else "complementary"
    return out
