"""Small-cell suppression of the counts that leave the warehouse.

Beside the stages (like ``errors.py``): every stage that releases an aggregate may
import it, and it imports no stage. ``segmint.governance`` re-exports it.

A release is a set of counts (cells, margins, totals) and the sums that tie them
together (:class:`Release`). A count of 1 to ``min_cell - 1`` clients is suppressed
(*primary*); zero counts are released (they identify nobody). Then, while some
suppressed count can still be recomputed from what is released, another count is
suppressed (*complementary*): the smallest released non-zero count in a sum with it,
cells before margins and margins before totals. "Recomputable" is exact linear algebra,
not a rule of thumb: the released counts turn the sums into linear equations in the
suppressed ones, and a suppressed count is determined when every vector of the
equations' null space is zero on it.

Counts a release implies without showing them (the clients of a segment outside a
cross-tab, the members of one audience not in another) take part as *implied* counts:
never shown, but protected like a suppressed cell when they are small. Counts released
elsewhere (the catalog's segment sizes, seen again as a cross-tab's margins) are
*locked*: known to the reader, so never chosen as a complement; counts suppressed
elsewhere are passed as ``hide`` (*withheld*) and protected too.

With ``min_cell = 1`` nothing is suppressed: the opt-out.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from segmint.errors import ParameterError

Status = Literal["primary", "complementary", "withheld"]

#: how every released output shows a suppressed count (and the values derived from it)
SUPPRESSED = "suppressed"


def suppression_note(min_cell: int) -> str:
    """The sentence that says why a count is missing."""
    return (f"Counts of 1 to {min_cell - 1} clients are suppressed, with enough other counts "
            "that none can be recomputed from the totals; the shares, means and sums of a "
            "suppressed count are withheld too (governance.min_cell).")


@dataclass
class Release:
    """Counts to release together and the sums that tie them.

    Build it with :meth:`count` and :meth:`sum`, then :func:`suppress` it.

    Examples
    --------
    >>> r = Release()
    >>> cells = [r.count(k, v) for k, v in (("a", 4), ("b", 120), ("c", 15))]
    >>> r.sum(r.count("total", 139, priority=2), cells)
    >>> sorted(k for k, s in suppress(r, 10).items() if s)
    ['a', 'c']
    """

    keys: list[Hashable] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    published: list[bool] = field(default_factory=list)
    locked: list[bool] = field(default_factory=list)
    priority: list[int] = field(default_factory=list)
    equations: list[tuple[int, list[int]]] = field(default_factory=list)
    _index: dict[Hashable, int] = field(default_factory=dict, init=False, repr=False)

    def count(self, key: Hashable, value: float, *, published: bool = True, locked: bool = False,
              priority: int = 0) -> Hashable:
        """Add a count (``published=False``: implied, never shown; ``locked``: released
        elsewhere). A lower ``priority`` is suppressed first as a complement."""
        if key in self._index:
            raise ParameterError(f"Release: count {key!r} added twice")
        if value is None or not np.isfinite(value) or value < 0:
            raise ParameterError(f"Release: count {key!r} must be a non-negative number (got {value!r})")
        self._index[key] = len(self.keys)
        self.keys.append(key)
        self.values.append(float(value))
        self.published.append(published)
        self.locked.append(locked)
        self.priority.append(priority)
        return key

    def sum(self, total: Hashable, parts: Iterable[Hashable]) -> None:
        """``total`` is the sum of ``parts``."""
        idx = [self._index[p] for p in parts]
        self.equations.append((self._index[total], idx))

    def __contains__(self, key: Hashable) -> bool:
        return key in self._index

    def value(self, key: Hashable) -> float:
        return self.values[self._index[key]]


def _determined(a: np.ndarray) -> np.ndarray:
    """Columns of the equations ``a`` (one per unknown) whose value the equations fix."""
    a = a[np.abs(a).sum(axis=1) > 0]
    if len(a) == 0:
        return np.zeros(a.shape[1], dtype=bool)
    _, s, vt = np.linalg.svd(a)
    rank = int((s > 1e-9 * max(1.0, s.max())).sum())
    null = vt[rank:]  # rows span the null space
    if len(null) == 0:
        return np.ones(a.shape[1], dtype=bool)
    return np.all(np.abs(null) < 1e-9, axis=0)


def _system(release: Release) -> np.ndarray:
    a = np.zeros((len(release.equations), len(release.keys)))
    for row, (total, parts) in enumerate(release.equations):
        a[row, total] += 1.0
        for p in parts:
            a[row, p] -= 1.0
    return a


def _complement(a: np.ndarray, q: int, hidden: np.ndarray, free: np.ndarray,
                cost: np.ndarray) -> np.ndarray | None:
    """The cheapest released counts whose suppression leaves count ``q`` undetermined.

    ``q`` is undetermined exactly when some change ``z`` of the table keeps every sum
    (``a @ z = 0``), moves ``q`` (``z[q] = 1``) and touches only suppressed counts. The
    linear programme finds such a ``z`` that touches the least costly released counts
    (weighted L1: the classic cell-suppression relaxation); those are suppressed. On a
    two-way table ``z`` is a cycle: the rectangle of four cells.
    """
    from scipy.optimize import linprog

    n = a.shape[1]
    movable = hidden | free
    c = np.where(free, cost, 0.0)
    bounds = [(0, None) if movable[i] else (0, 0) for i in range(n)] * 2
    a_eq = np.hstack([a, -a])
    unit = np.zeros((1, 2 * n))
    unit[0, q], unit[0, n + q] = 1.0, -1.0
    res = linprog(np.concatenate([c, c]), A_eq=np.vstack([a_eq, unit]),
                  b_eq=np.concatenate([np.zeros(len(a)), [1.0]]), bounds=bounds, method="highs")
    if res.status != 0:
        return None
    z = res.x[:n] - res.x[n:]
    return np.flatnonzero(free & (np.abs(z) > 1e-7))


def determined(release: Release, hidden: Iterable[Hashable]) -> set[Hashable]:
    """Which of the ``hidden`` counts the other counts of ``release`` determine.

    Every count not in ``hidden`` is taken as known (the checker: pass a release's
    suppressed counts and its implied non-zero ones).
    """
    hidden_idx = sorted({release._index[k] for k in hidden})
    if not hidden_idx or not release.equations:
        return set()
    det = _determined(_system(release)[:, hidden_idx])
    return {release.keys[i] for i, d in zip(hidden_idx, det, strict=True) if d}


def suppress(release: Release, min_cell: int = 10, *,
             hide: Iterable[Hashable] = ()) -> dict[Hashable, Status | None]:
    """Decide which published counts of ``release`` to suppress.

    Parameters
    ----------
    release : Release
    min_cell : int
        Smallest non-zero count released; 1 suppresses nothing.
    hide : keys
        Counts to withhold whatever their size (suppressed by another release).

    Returns
    -------
    dict
        Every published count's key -> ``None`` (released), ``"primary"`` (below
        ``min_cell``), ``"complementary"`` (so no suppressed count can be recomputed) or
        ``"withheld"`` (in ``hide``).

    Raises
    ------
    ParameterError
        ``min_cell`` below 1.
    """
    if min_cell < 1:
        raise ParameterError(f"suppress: min_cell must be at least 1 (got {min_cell})")
    v = np.asarray(release.values, dtype=float)
    pub = np.asarray(release.published, dtype=bool)
    locked = np.asarray(release.locked, dtype=bool)
    prio = np.asarray(release.priority)
    forced = np.zeros(len(v), dtype=bool)
    forced[[release._index[k] for k in hide]] = True
    small = (v > 0) & (v < min_cell)
    primary = pub & small & ~locked
    hidden = primary | (pub & forced) | (~pub & (v > 0))
    # a count is protected when it is shown nowhere and recovering it would matter
    protect = (hidden & pub & (v > 0)) | (~pub & small)
    status: dict[Hashable, Status | None] = {}
    complementary = np.zeros(len(v), dtype=bool)
    a = _system(release)
    # cost of suppressing a count as a complement: lower priority first, then smaller
    cost = prio * (v.sum() + 1.0) + v
    for _ in range(len(v) + 1):
        idx = np.flatnonzero(hidden)
        if len(idx) == 0 or len(a) == 0:
            break
        det = np.zeros(len(v), dtype=bool)
        det[idx] = _determined(a[:, idx])
        bad = np.flatnonzero(det & protect)
        if len(bad) == 0:
            break
        free = pub & ~hidden & ~locked & (v > 0)
        extra = _complement(a, bad[0], hidden, free, cost)
        if extra is None or len(extra) == 0:
            raise ParameterError(
                f"suppress: count {release.keys[bad[0]]!r} can be recomputed and no other count "
                "can be suppressed to protect it (they are locked or zero)"
            )
        hidden[extra] = protect[extra] = complementary[extra] = True
    for i, key in enumerate(release.keys):
        if not pub[i]:
            continue
        if primary[i]:
            status[key] = "primary"
        elif complementary[i]:
            status[key] = "complementary"
        elif forced[i]:
            status[key] = "withheld"
        else:
            status[key] = None
    return status


@dataclass
class SuppressedTable:
    """A released count table.

    Attributes
    ----------
    cells : 2-D float array, NaN where suppressed
    row_totals, col_totals : 1-D float arrays, NaN where suppressed (a one-row table's
        column totals are its cells and are not margins: NaN; likewise a one-column
        table's row totals)
    total : float (NaN when suppressed)
    primary, complementary : boolean masks of the cells suppressed for each reason
    """

    cells: np.ndarray
    row_totals: np.ndarray
    col_totals: np.ndarray
    total: float
    primary: np.ndarray
    complementary: np.ndarray

    @property
    def hidden(self) -> np.ndarray:
        """Cells suppressed for any reason (also those withheld by the caller)."""
        return np.isnan(self.cells)


def table_release(
    counts: np.ndarray,
    *,
    rows_shown: bool = True,
    cols_shown: bool = True,
    total_shown: bool = True,
    locked: np.ndarray | None = None,
    locked_rows: Iterable[int] = (),
    locked_cols: Iterable[int] = (),
    locked_total: bool = False,
) -> Release:
    """The :class:`Release` of a 2-D count table with its margins.

    Keys: ``("cell", i, j)``, ``("row", i)``, ``("col", j)``, ``("total",)``. A margin that
    is not shown is implied (the reader can add the cells up); ``locked`` cells (a boolean
    mask) and ``locked_*`` margins are released elsewhere. A one-row table's total is its
    row total, and its column totals are its cells (likewise one column).
    """
    counts = np.asarray(counts, dtype=float)
    r, c = counts.shape
    fixed = np.zeros(counts.shape, dtype=bool) if locked is None else np.asarray(locked, dtype=bool)
    rel = Release()
    for i in range(r):
        for j in range(c):
            rel.count(("cell", i, j), counts[i, j], locked=bool(fixed[i, j]))

    def cells(i: int | None = None, j: int | None = None) -> list[tuple]:
        return [("cell", a, b) for a in range(r) for b in range(c)
                if (i is None or a == i) and (j is None or b == j)]

    rel.count(("total",), counts.sum(), published=total_shown or locked_total, locked=locked_total,
              priority=3)
    locked_rows, locked_cols = set(locked_rows), set(locked_cols)
    if r > 1 and c > 1:
        for i in range(r):
            rel.count(("row", i), counts[i].sum(), published=rows_shown or i in locked_rows,
                      locked=i in locked_rows, priority=1)
            rel.sum(("row", i), cells(i=i))
        for j in range(c):
            rel.count(("col", j), counts[:, j].sum(), published=cols_shown or j in locked_cols,
                      locked=j in locked_cols, priority=2)
            rel.sum(("col", j), cells(j=j))
        rel.sum(("total",), [("row", i) for i in range(r)])
        rel.sum(("total",), [("col", j) for j in range(c)])
    else:
        rel.sum(("total",), cells())
    return rel


def suppress_table(
    counts: np.ndarray,
    min_cell: int = 10,
    *,
    hide: np.ndarray | None = None,
    hide_rows: Iterable[int] = (),
    hide_cols: Iterable[int] = (),
    rows_shown: bool = True,
    cols_shown: bool = True,
    total_shown: bool = True,
    locked: np.ndarray | None = None,
    locked_rows: Iterable[int] = (),
    locked_cols: Iterable[int] = (),
    locked_total: bool = False,
) -> SuppressedTable:
    """Suppress small cells of a 2-D count table and enough others that none of them can
    be recomputed from what is released (cells and margins).

    Parameters
    ----------
    counts : 2-D array of non-negative counts
    min_cell : smallest non-zero count released (1: nothing suppressed)
    hide : boolean mask like ``counts`` of cells to withhold whatever their size
    hide_rows, hide_cols : margins to withhold (suppressed elsewhere), protected like cells
    rows_shown, cols_shown, total_shown : whether the margins are released (a margin not
        shown is still implied: the reader can add the released cells up)
    locked : boolean mask like ``counts`` of cells released elsewhere (never suppressed here)
    locked_rows, locked_cols, locked_total : margins released elsewhere

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
    r, c = counts.shape
    rel = table_release(counts, rows_shown=rows_shown, cols_shown=cols_shown,
                        total_shown=total_shown, locked=locked, locked_rows=locked_rows,
                        locked_cols=locked_cols, locked_total=locked_total)
    forced = [] if hide is None else [("cell", i, j) for i, j in np.argwhere(np.asarray(hide, bool))]
    forced += [k for k in [("row", i) for i in hide_rows] + [("col", j) for j in hide_cols] if k in rel]
    status = suppress(rel, min_cell, hide=forced)

    def shown(key: tuple) -> bool:
        return key in status and status[key] is None

    primary = np.zeros(counts.shape, dtype=bool)
    complementary = np.zeros(counts.shape, dtype=bool)
    cells = counts.copy()
    for i in range(r):
        for j in range(c):
            s = status[("cell", i, j)]
            primary[i, j] = s == "primary"
            complementary[i, j] = s == "complementary"
            if s is not None:
                cells[i, j] = np.nan
    total = float(counts.sum()) if shown(("total",)) else float("nan")
    if r > 1 and c > 1:
        rows = np.array([counts[i].sum() if shown(("row", i)) else np.nan for i in range(r)])
        cols = np.array([counts[:, j].sum() if shown(("col", j)) else np.nan for j in range(c)])
    else:
        rows = np.full(r, np.nan) if c == 1 and r > 1 else np.full(r, total)
        cols = np.full(c, np.nan) if r == 1 and c > 1 else np.full(c, total)
    return SuppressedTable(cells, rows, cols, total, primary, complementary)


def determined_cells(
    hidden: np.ndarray,
    rows_released: np.ndarray,
    cols_released: np.ndarray,
    total_released: bool,
) -> np.ndarray:
    """Which hidden cells of one table the released margins determine (boolean mask like
    ``hidden``): the checker of a released table.

    Unknowns are the hidden cells; each released margin is one equation over the
    hidden cells of its row / column (the grand total over all of them). A cell is
    determined when every vector of the equations' null space is zero on it.
    """
    hidden = np.asarray(hidden, dtype=bool)
    idx = np.argwhere(hidden)
    out = np.zeros_like(hidden, dtype=bool)
    if len(idx) == 0:
        return out
    eqs = [(idx[:, 0] == i).astype(float) for i in np.flatnonzero(rows_released)]
    eqs += [(idx[:, 1] == j).astype(float) for j in np.flatnonzero(cols_released)]
    if total_released:
        eqs.append(np.ones(len(idx)))
    if not eqs:
        return out
    det = _determined(np.vstack(eqs))
    out[idx[det, 0], idx[det, 1]] = True
    return out


def suppress_counts(
    frame: pd.DataFrame,
    count: str,
    *,
    by: str | list[str] | None = None,
    columns: str | None = None,
    min_cell: int = 10,
    hide: pd.Series | None = None,
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
    hide : boolean Series on ``frame``'s index: rows to withhold whatever their count
        (suppressed elsewhere); one-row tables only

    Returns
    -------
    DataFrame
        ``frame`` with ``count`` set to null where suppressed and a ``suppressed`` column
        (``primary``, ``complementary``, ``withheld`` or null). Every other column derived
        from a suppressed count (shares, means) must be nulled by the caller.
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
            if row_key is None:
                raise ParameterError("suppress_counts: a cross-tab needs a row column")
            if hide is not None:
                raise ParameterError("suppress_counts: hide works on one-row tables only")
            pivot = part.pivot_table(index=row_key, columns=columns, values=count, aggfunc="sum",
                                     fill_value=0)
            t = suppress_table(pivot.to_numpy(), min_cell)
        else:
            pivot = pd.DataFrame([part[count].to_numpy()], columns=part.index)
            mask = None if hide is None else np.array([hide.loc[list(part.index)].to_numpy(bool)])
            t = suppress_table(pivot.to_numpy(), min_cell, hide=mask)
        for ri, rlab in enumerate(pivot.index):
            for ci, clab in enumerate(pivot.columns):
                if not np.isnan(t.cells[ri, ci]):
                    continue
                if columns:
                    hit = part.index[(part[row_key] == rlab) & (part[columns] == clab)]
                else:
                    hit = [clab]
                out.loc[hit, count] = np.nan
                out.loc[hit, "suppressed"] = ("primary" if t.primary[ri, ci] else
                                              "complementary" if t.complementary[ri, ci] else
                                              "withheld")
    return out


def show_count(value: float | None, *, fmt: str = "{:,}") -> str:
    """A released count as text: the number, or ``suppressed``."""
    if value is None or (isinstance(value, float) and value != value):
        return SUPPRESSED
    return fmt.format(int(value))


__all__ = [
    "SUPPRESSED",
    "Release",
    "Status",
    "SuppressedTable",
    "determined",
    "determined_cells",
    "show_count",
    "suppress",
    "suppress_counts",
    "suppress_table",
    "suppression_note",
    "table_release",
]
