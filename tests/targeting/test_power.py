"""The sample-size planner against statsmodels' power functions (to 1%)."""

import math

import pandas as pd
import pytest
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from segmint.errors import ParameterError
from segmint.targeting import control_size, minimum_detectable_effect, plan_segments


@pytest.mark.parametrize("baseline", [0.01, 0.05, 0.2, 0.5])
@pytest.mark.parametrize("mde", [0.005, 0.02, -0.005])
@pytest.mark.parametrize("power", [0.8, 0.9])
@pytest.mark.parametrize("alpha", [0.05, 0.01])
@pytest.mark.parametrize("share", [0.1, 0.2, 0.5])
def test_control_size_agrees_with_statsmodels(baseline, mde, power, alpha, share):
    k = (1 - share) / share
    h = proportion_effectsize(baseline + mde, baseline)
    ref = NormalIndPower().solve_power(effect_size=h, alpha=alpha, power=power, ratio=k)
    ours = control_size(mde, baseline=baseline, power=power, alpha=alpha, control_share=share)
    assert ours == pytest.approx(ref, rel=0.01)


@pytest.mark.parametrize("share", [0.1, 0.5])
def test_control_size_for_means_agrees_with_statsmodels(share):
    k = (1 - share) / share
    ref = NormalIndPower().solve_power(effect_size=2.0 / 25.0, alpha=0.05, power=0.8, ratio=k)
    assert control_size(2.0, sd=25.0, control_share=share) == pytest.approx(ref, rel=0.01)


def test_closed_form_by_hand():
    # p 0.05 -> 0.06, equal arms: n = ((1.959964 + 0.841621) / h)^2 * 2
    h = 2 * math.asin(math.sqrt(0.06)) - 2 * math.asin(math.sqrt(0.05))
    expected = ((1.959964 + 0.841621) / h) ** 2 * 2
    assert control_size(0.01, baseline=0.05, control_share=0.5) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("baseline", [0.02, 0.1, 0.3])
def test_mde_inverts_the_size(baseline):
    n_c = control_size(0.01, baseline=baseline, control_share=0.2)
    mde = minimum_detectable_effect(n_c, 4 * n_c, baseline=baseline)
    assert mde == pytest.approx(0.01, rel=1e-6)
    # statsmodels: power at that size is 0.8
    h = proportion_effectsize(baseline + mde, baseline)
    assert NormalIndPower().power(h, nobs1=n_c, alpha=0.05, ratio=4) == pytest.approx(0.8, rel=0.01)


def test_plan_segments_and_smallest_measurable():
    sizes = pd.DataFrame({"segment": ["big", "small", "tiny"], "clients": [200_000, 30_000, 800]})
    plan = plan_segments(sizes, mde=0.01, baseline=0.05, control_share=0.2)
    need = control_size(0.01, baseline=0.05, control_share=0.2)
    assert plan.smallest_measurable == pytest.approx(need / 0.2)
    seg = plan.segments.set_index("segment")
    assert seg.loc["big", "measurable"] and not seg.loc["tiny", "measurable"]
    assert seg.loc["small", "measurable"] == (need <= 30_000 * 0.2)
    assert seg.loc["big", "control_needed"] == math.ceil(need)
    assert seg.loc["big", "mde_achievable"] < 0.01 < seg.loc["tiny", "mde_achievable"]


def test_plan_per_segment_baselines_and_relative_mde():
    sizes = pd.DataFrame({"segment": ["a", "b"], "clients": [10_000, 10_000], "baseline": [0.02, 0.2]})
    plan = plan_segments(sizes, mde=0.1, relative=True, control_share=0.5)
    seg = plan.segments.set_index("segment")
    assert seg.loc["a", "control_needed"] == math.ceil(control_size(0.002, baseline=0.02))
    assert seg.loc["b", "control_needed"] == math.ceil(control_size(0.02, baseline=0.2))


def test_errors_name_the_parameter():
    with pytest.raises(ParameterError, match="baseline"):
        control_size(0.01, baseline=1.5)
    with pytest.raises(ParameterError, match="exactly one"):
        control_size(0.01)
    with pytest.raises(ParameterError, match="mde"):
        control_size(0.99, baseline=0.5)
