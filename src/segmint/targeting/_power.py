"""Power and sample size of a two-arm experiment, per segment.

Proportions use Cohen's effect size ``h = 2 asin(sqrt(p_t)) - 2 asin(sqrt(p_c))`` with
the normal approximation (Cohen 1988, ch. 6); means use ``d = mde / sd``. For a control
of ``n_c`` clients and ``k = n_t / n_c`` treated per control, a two-sided test at level
``alpha`` reaches power ``1 - beta`` when::

    |effect| * sqrt(n_c * k / (1 + k)) = z(1 - alpha / 2) + z(1 - beta)

(the opposite tail, below 1e-3 at any useful power, is left out). This is the
computation of statsmodels' ``NormalIndPower`` with ``ratio = k``; a test checks the two
agree to 1%.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from segmint.errors import ParameterError

__all__ = [
    "PowerPlan",
    "control_size",
    "minimum_detectable_effect",
    "plan_segments",
]


def _check(baseline: float | None, power: float, alpha: float, control_share: float) -> None:
    if baseline is not None and not 0 < baseline < 1:
        raise ParameterError(f"baseline: expected a proportion strictly between 0 and 1, got {baseline!r}")
    if not 0 < power < 1:
        raise ParameterError(f"power: expected a probability between 0 and 1, got {power!r}")
    if not 0 < alpha < 1:
        raise ParameterError(f"alpha: expected a probability between 0 and 1, got {alpha!r}")
    if not 0 < control_share < 1:
        raise ParameterError(f"control_share: expected a share between 0 and 1, got {control_share!r}")


def _z(alpha: float, power: float) -> float:
    return float(stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power))


def _effect(baseline: float | None, mde: float, sd: float | None) -> float:
    if sd is not None:
        if sd <= 0:
            raise ParameterError(f"sd: expected a positive standard deviation, got {sd!r}")
        return abs(mde) / sd
    assert baseline is not None
    treated = baseline + mde
    if not 0 < treated < 1:
        raise ParameterError(
            f"mde: baseline {baseline:g} + mde {mde:g} = {treated:g} is not a proportion"
        )
    return abs(2 * math.asin(math.sqrt(treated)) - 2 * math.asin(math.sqrt(baseline)))


def control_size(
    mde: float,
    *,
    baseline: float | None = None,
    sd: float | None = None,
    power: float = 0.8,
    alpha: float = 0.05,
    control_share: float = 0.5,
) -> float:
    """Control clients needed to detect an absolute effect ``mde``.

    Parameters
    ----------
    mde : float
        Minimum detectable effect, absolute (0.01 = one percentage point for a
        proportion; currency units for a mean).
    baseline : float, optional
        Control conversion rate (proportions).
    sd : float, optional
        Outcome standard deviation (means); give this or ``baseline``.
    power, alpha : float
        Target power and two-sided significance level.
    control_share : float
        Share of the segment in control; the treated are ``(1 - share) / share`` per control.

    Returns
    -------
    float
        Control size (not rounded); the treated arm is ``k`` times larger.

    Examples
    --------
    >>> round(control_size(0.01, baseline=0.05, control_share=0.5))
    8143
    """
    if (baseline is None) == (sd is None):
        raise ParameterError("give exactly one of baseline (proportions) or sd (means)")
    if mde == 0:
        raise ParameterError("mde: expected a non-zero effect")
    _check(baseline, power, alpha, control_share)
    k = (1 - control_share) / control_share
    effect = _effect(baseline, mde, sd)
    return (_z(alpha, power) / effect) ** 2 * (1 + k) / k


def minimum_detectable_effect(
    n_control: float,
    n_treated: float,
    *,
    baseline: float | None = None,
    sd: float | None = None,
    power: float = 0.8,
    alpha: float = 0.05,
) -> float:
    """Smallest positive absolute effect detectable with these arm sizes (NaN if an arm is empty)."""
    if (baseline is None) == (sd is None):
        raise ParameterError("give exactly one of baseline (proportions) or sd (means)")
    _check(baseline, power, alpha, 0.5)
    if n_control <= 0 or n_treated <= 0:
        return float("nan")
    n_eff = 1.0 / (1.0 / n_control + 1.0 / n_treated)
    effect = _z(alpha, power) / math.sqrt(n_eff)
    if sd is not None:
        return effect * sd
    assert baseline is not None
    angle = math.asin(math.sqrt(baseline)) + effect / 2
    if angle >= math.pi / 2:
        return float("nan")  # not detectable below a conversion of 100%
    return math.sin(angle) ** 2 - baseline


@dataclass(frozen=True)
class PowerPlan:
    """A sample-size plan per segment.

    Attributes
    ----------
    segments : DataFrame
        ``segment, clients, baseline, control_needed, treated_needed, clients_needed,
        control, treated, mde_achievable, measurable``.
    smallest_measurable : float
        Clients a segment needs (both arms) for the MDE at the control share.
    mde, power, alpha, control_share : float
    """

    segments: pd.DataFrame
    smallest_measurable: float
    mde: float
    power: float
    alpha: float
    control_share: float


def plan_segments(
    sizes: pd.DataFrame,
    *,
    mde: float,
    baseline: float | None = None,
    sd: float | None = None,
    power: float = 0.8,
    alpha: float = 0.05,
    control_share: float = 0.2,
    relative: bool = False,
) -> PowerPlan:
    """Control size needed per segment, and what each segment can detect as it is.

    Parameters
    ----------
    sizes : DataFrame
        ``segment, clients`` and optionally ``baseline`` (per-segment control rate,
        e.g. from a past campaign) or ``sd``; missing values fall back to the
        ``baseline`` / ``sd`` arguments.
    mde : float
        Absolute minimum detectable effect, or relative to the baseline when
        ``relative`` (0.1 = +10%).
    """
    if (baseline is None) == (sd is None) and "baseline" not in sizes and "sd" not in sizes:
        raise ParameterError("give exactly one of baseline (proportions) or sd (means)")
    _check(baseline, power, alpha, control_share)
    rows = []
    for r in sizes.to_dict("records"):
        b = r.get("baseline", baseline)
        b = baseline if b is None or (isinstance(b, float) and np.isnan(b)) else b
        s = r.get("sd", sd)
        s = sd if s is None or (isinstance(s, float) and np.isnan(s)) else s
        if s is not None:
            b = None
        abs_mde = mde * (b if (relative and b is not None) else 1.0)
        n = float(r["clients"])
        n_c, n_t = n * control_share, n * (1 - control_share)
        if b is not None and not 0 < b < 1:  # an empty or saturated segment
            need = float("nan")
            achievable = float("nan")
        else:
            need = control_size(abs_mde, baseline=b, sd=s, power=power, alpha=alpha, control_share=control_share)
            achievable = minimum_detectable_effect(n_c, n_t, baseline=b, sd=s, power=power, alpha=alpha)
        k = (1 - control_share) / control_share
        rows.append(
            {
                "segment": r["segment"],
                "clients": int(n),
                "baseline": b,
                "sd": s,
                "control_needed": math.ceil(need) if need == need else None,
                "treated_needed": math.ceil(need * k) if need == need else None,
                "clients_needed": math.ceil(need / control_share) if need == need else None,
                "control": int(round(n_c)),
                "treated": int(round(n_t)),
                "mde_achievable": achievable,
                "measurable": bool(need == need and n_c >= need),
            }
        )
    frame = pd.DataFrame(rows)
    ref = control_size(
        mde * (baseline if relative and baseline is not None else 1.0),
        baseline=baseline if sd is None else None,
        sd=sd,
        power=power,
        alpha=alpha,
        control_share=control_share,
    ) if (baseline is not None or sd is not None) else float(frame["control_needed"].min())
    return PowerPlan(frame, ref / control_share, mde, power, alpha, control_share)
