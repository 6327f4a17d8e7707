"""Budget allocation across segments x channels with diminishing returns.

Each cell (segment ``s``, channel ``c``) has a measured incremental response per
contact ``r`` (the lift of a randomised campaign of that channel in that segment), a
cost per contact ``k``, and ``n`` clients. Contacting ``x`` of them, best first, is
worth::

    f(x) = value x r x n x (x / n) ** gamma        0 < gamma <= 1

so the first contacts return the most (``gamma < 1``: diminishing returns) and
contacting the whole segment returns what the experiment measured (``r n``). The
allocation maximises the sum of ``f`` subject to the budget (``sum k x <= B``), each
channel's capacity (``sum_s x <= cap_c``) and each segment's size (``sum_c x <= n``),
with :func:`scipy.optimize.minimize` (SLSQP) on the shares ``x / n``. A cell with a
non-positive response gets nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize

from segmint.config import ExperimentsConfig
from segmint.errors import ConvergenceError, DataError, ParameterError
from segmint.store import Warehouse
from segmint.targeting._analysis import analyze_campaign, campaign_config

__all__ = ["AllocationResult", "allocate_budget", "response_by_channel"]

_EPS = 1e-9  # smooths y ** gamma at 0 for the optimiser (its slope is infinite there)


@dataclass(frozen=True)
class AllocationResult:
    """An optimal and a uniform allocation of the same budget.

    Attributes
    ----------
    allocation : DataFrame
        ``segment, channel, clients, response, cost_per_contact, contacts, spend,
        incremental, value, uniform_contacts, uniform_value``.
    value, uniform_value : float
        Expected incremental value of the optimal and the uniform allocation.
    spend, uniform_spend : float
    budget : float
    """

    allocation: pd.DataFrame
    value: float
    uniform_value: float
    spend: float
    uniform_spend: float
    budget: float

    @property
    def gain(self) -> float:
        """Relative gain of the optimal allocation over the uniform one."""
        return self.value / self.uniform_value - 1 if self.uniform_value > 0 else float("inf")


def _value(y: np.ndarray, a: np.ndarray, gamma: float) -> np.ndarray:
    """f as a function of the share y = x / n, with a = value x r x n (smoothed at 0)."""
    return a * ((y + _EPS) ** gamma - _EPS**gamma)


def allocate_budget(
    cells: pd.DataFrame,
    *,
    budget: float,
    capacity: dict[str, float] | None = None,
    value_per_conversion: float = 1.0,
    gamma: float = 0.7,
) -> AllocationResult:
    """Allocate ``budget`` over segment x channel cells to maximise incremental value.

    Parameters
    ----------
    cells : DataFrame
        ``segment, channel, clients, response`` (incremental conversions per contact)
        and ``cost_per_contact``.
    budget : float
        Money to spend.
    capacity : dict of channel -> contacts, optional
        Most contacts a channel can send.
    value_per_conversion : float
        Value of one incremental conversion.
    gamma : float
        Diminishing-returns exponent in (0, 1]; 1: constant returns.

    Examples
    --------
    >>> cells = pd.DataFrame({"segment": ["a", "b"], "channel": "email", "clients": [100, 100],
    ...                       "response": [0.10, 0.02], "cost_per_contact": 1.0})
    >>> res = allocate_budget(cells, budget=100, gamma=1.0)
    >>> res.allocation["contacts"].round().tolist()
    [100.0, 0.0]
    """
    need = {"segment", "channel", "clients", "response", "cost_per_contact"}
    missing = need - set(cells.columns)
    if missing:
        raise DataError(f"cells: missing column(s) {', '.join(sorted(missing))}")
    if budget <= 0:
        raise ParameterError(f"budget: expected a positive amount, got {budget!r}")
    if not 0 < gamma <= 1:
        raise ParameterError(f"gamma: expected an exponent in (0, 1], got {gamma!r}")
    if (cells["cost_per_contact"] <= 0).any():
        raise DataError("cells: every cost_per_contact must be positive")
    capacity = capacity or {}
    unknown = set(capacity) - set(cells["channel"])
    if unknown:
        raise ParameterError(f"capacity: unknown channel(s) {', '.join(sorted(unknown))}")
    frame = cells.reset_index(drop=True).copy()
    n = frame["clients"].to_numpy(dtype=float)
    r = frame["response"].to_numpy(dtype=float)
    k = frame["cost_per_contact"].to_numpy(dtype=float)
    a = value_per_conversion * np.clip(r, 0, None) * n
    active = (a > 0) & (n > 0)
    idx = np.flatnonzero(active)
    y = np.zeros(len(frame))
    if idx.size:
        y[idx] = _solve(frame.iloc[idx], a[idx], n[idx], k[idx], budget, capacity, gamma)
    contacts = y * n
    frame["contacts"] = contacts
    frame["spend"] = contacts * k
    frame["incremental"] = a * y**gamma / value_per_conversion
    frame["value"] = frame["incremental"] * value_per_conversion
    uy = _uniform(frame, n, k, budget, capacity)
    frame["uniform_contacts"] = uy * n
    # the uniform allocation also contacts cells with a negative response: it pays for them
    frame["uniform_value"] = value_per_conversion * r * n * uy**gamma
    return AllocationResult(
        frame,
        float(frame["value"].sum()),
        float(frame["uniform_value"].sum()),
        float(frame["spend"].sum()),
        float((frame["uniform_contacts"] * k).sum()),
        float(budget),
    )


def _solve(frame, a, n, k, budget, capacity, gamma) -> np.ndarray:
    m = len(a)
    scale = float(a.sum())

    def objective(y):
        return -float(_value(y, a, gamma).sum()) / scale

    def gradient(y):
        return -(a * gamma * (y + _EPS) ** (gamma - 1)) / scale

    cons = [{"type": "ineq", "fun": lambda y: (budget - float((k * n * y).sum())) / budget,
             "jac": lambda y: -(k * n) / budget}]
    for ch, cap in capacity.items():
        mask = (frame["channel"] == ch).to_numpy(dtype=float)
        cons.append({"type": "ineq", "fun": lambda y, m_=mask, c_=cap: (c_ - float((m_ * n * y).sum())) / max(c_, 1.0),
                     "jac": lambda y, m_=mask, c_=cap: -(m_ * n) / max(c_, 1.0)})
    for seg in frame["segment"].unique():
        mask = (frame["segment"] == seg).to_numpy(dtype=float)
        if mask.sum() > 1:
            cons.append({"type": "ineq", "fun": lambda y, m_=mask: 1.0 - float((m_ * y).sum()), "jac": lambda y, m_=mask: -m_})
    # start: a feasible uniform share
    y0 = np.full(m, min(1.0, budget / float((k * n).sum())) * 0.5)
    res = optimize.minimize(
        objective, y0, jac=gradient, bounds=[(0.0, 1.0)] * m, constraints=cons, method="SLSQP",
        options={"maxiter": 500, "ftol": 1e-10},
    )
    if not res.success:
        raise ConvergenceError(f"budget allocation did not converge: {res.message}")
    return np.clip(res.x, 0.0, 1.0)


def _uniform(frame: pd.DataFrame, n, k, budget, capacity) -> np.ndarray:
    """The same share t of every cell (split evenly over a segment's channels), as large
    as the budget, the capacities and the segment sizes allow."""
    per_seg = frame.groupby("segment")["channel"].transform("size").to_numpy(dtype=float)
    base = 1.0 / per_seg  # shares at t = 1: every client contacted once
    limits = [1.0, budget / float((k * n * base).sum())]
    for ch, cap in capacity.items():
        mask = (frame["channel"] == ch).to_numpy()
        used = float((n * base)[mask].sum())
        if used > 0:
            limits.append(cap / used)
    return min(limits) * base


def response_by_channel(
    wh: Warehouse,
    config: ExperimentsConfig,
    campaigns: list[str],
    *,
    by: str,
    min_arm: int = 30,
) -> pd.DataFrame:
    """Per segment x channel response measured by past campaigns: the cells of
    :func:`allocate_budget`.

    The response is the lift per treated client (pooled over the campaigns of a
    channel, weighted by treated clients); ``clients`` the segment's exposed clients
    of the latest campaign; ``cost_per_contact`` from the campaigns' configuration.
    Segments with fewer than ``min_arm`` clients in an arm are left out (their lift is
    too noisy to spend on).
    """
    rows = []
    for name in campaigns:
        c = campaign_config(config, name)
        channel = c.channel
        if channel is None:
            got = wh.con.execute(
                "SELECT any_value(channel) FROM campaigns WHERE campaign = ?", [name]
            ).fetchone()
            channel = got[0] if got and got[0] else name
        lifts = analyze_campaign(wh, config, name, by=by).lifts
        for r in lifts[lifts["segment"] != "(all)"].itertuples(index=False):
            if r.lift != r.lift or min(r.n_control, r.n_treatment) < min_arm:
                continue
            rows.append((r.segment, channel, name, r.n_control + r.n_treatment, r.lift, r.n_treatment, c.cost_per_contact))
    if not rows:
        raise DataError("response_by_channel: no campaign gave a lift per segment")
    raw = pd.DataFrame(rows, columns=["segment", "channel", "campaign", "clients", "lift", "treated", "cost_per_contact"])
    raw["w"] = raw["lift"] * raw["treated"]
    out = raw.groupby(["segment", "channel"], as_index=False).agg(
        clients=("clients", "last"), w=("w", "sum"), treated=("treated", "sum"), cost_per_contact=("cost_per_contact", "mean")
    )
    out["response"] = out["w"] / out["treated"]
    return out[["segment", "channel", "clients", "response", "cost_per_contact"]]
