"""Generated names (unique, stable, overridable) and persona sentences traceable to numbers."""

from __future__ import annotations

import re

import pytest

from segmint.config import CatalogConfig
from segmint.errors import ConfigError
from segmint.profiles import (
    FeatureStat,
    SegmentProfile,
    build_catalog,
    generate_name,
    name_with_terms,
    profile_value,
    unique_names,
)


def _profile(size: int = 100, levels: dict | None = None, **lifts: float) -> SegmentProfile:
    """A profile with these lifts; ``levels`` gives a feature's own mean and median."""
    levels = levels or {}
    return SegmentProfile(
        size=size, share=0.1, value=[], churn_risk=None, population_churn_risk=None,
        features=[FeatureStat(feature=f, mean=levels.get(f, 0.0), median=levels.get(f, 0.0),
                              population_mean=0.0, population_median=0.0,
                              population_std=1.0, lift=v) for f, v in lifts.items()],
        top_features=sorted(lifts, key=lambda f: -abs(lifts[f])),
    )


# each persona kind, planted with the facts its name needs
PERSONAS = [
    ({"clv_12m": 1.2, "frequency": 1.0, "recency_days": -0.8}, {}, "High-value loyalists"),
    ({"recency_days": 1.5, "monetary_mean": 1.1, "clv_12m": -0.2}, {"recency_days": 240},
     "Lapsed big spenders"),
    ({"recency_days": 1.5, "monetary_mean": -0.6}, {"recency_days": 200}, "Lapsed occasional buyers"),
    ({"promo_share": 1.9, "monetary_mean": -0.8}, {"promo_share": 0.55},
     "Promotion-driven bargain hunters"),
    ({"tenure_days": -1.5, "digital_share": 2.0, "clv_12m": -0.3},
     {"tenure_days": 200, "digital_share": 0.8}, "Digital-first newcomers"),
    ({"digital_share": -1.2, "frequency": -0.7}, {"digital_share": 0.05}, "Offline occasional buyers"),
    ({"frequency": -1.0, "clv_12m": -0.9}, {}, "Low-value occasional buyers"),
    ({"share_cat_electronics": 1.4, "frequency": 0.1}, {"share_cat_electronics": 0.4},
     "Electronics-focused regulars"),
    ({"share_channel_branch": 1.3}, {"share_channel_branch": 0.45}, "Branch-channel regulars"),
    ({"frequency": 0.1}, {}, "Mainstream regulars"),
]

# the same lifts with levels that contradict the term: the term is not given
CONTRADICTED = [
    ({"recency_days": 1.5, "monetary_mean": 1.1}, {"recency_days": 40}, "Lapsed"),
    ({"tenure_days": -1.5}, {"tenure_days": 2000}, "newcomers"),
    ({"digital_share": 2.0}, {"digital_share": 0.3}, "Digital-first"),
    ({"promo_share": 1.9}, {"promo_share": 0.08}, "Promotion-driven"),
    ({"promo_share": 1.9}, {"promo_share": 0.08}, "bargain hunters"),
    ({"share_cat_utilities": 1.4}, {"share_cat_utilities": 0.05}, "Utilities-focused"),
]


@pytest.mark.parametrize(("lifts", "levels", "name"), PERSONAS)
def test_generated_names_read_the_profile(lifts, levels, name):
    p = _profile(levels=levels, **lifts)
    assert generate_name(p) == name
    got, terms = name_with_terms(p)
    # every term of the name rests on facts that hold in the profile
    for t in terms:
        value = profile_value(p, t.metric)
        assert value == t.value
        assert value >= t.threshold if t.op == ">=" else value <= t.threshold
        assert t.term in got
    words = [w for w in got.split() if w not in ("Mainstream", "regulars")]
    assert all(any(w in t.term for t in terms) for w in words), (got, terms)


@pytest.mark.parametrize(("lifts", "levels", "term"), CONTRADICTED)
def test_a_term_the_levels_contradict_is_not_given(lifts, levels, term):
    assert term not in generate_name(_profile(levels=levels, **lifts))


def test_duplicates_are_disambiguated_deterministically():
    profiles = {
        "a": _profile(300, clv_12m=1.2, frequency=1.0),
        "b": _profile(200, clv_12m=1.1, frequency=0.9, share_cat_fashion=0.7),
        "c": _profile(100, clv_12m=1.1, frequency=0.9, share_cat_fashion=0.7),
        "d": _profile(50, clv_12m=1.1, frequency=1.0),  # no meaningful difference from "a"
    }
    names = unique_names(profiles)
    assert names["a"] == "High-value loyalists"
    assert names["b"] == "High-value loyalists (higher fashion spend share)"
    # c is b again, d differs from a by 0.1 SD: no meaningful term, numbered
    assert names["c"] == "High-value loyalists 2"
    assert names["d"] == "High-value loyalists 3"
    assert len({n.lower() for n in names.values()}) == 4
    assert unique_names(dict(reversed(profiles.items()))) == names


def test_catalog_names_unique_and_stable(example_wh, catalog):
    again = build_catalog(example_wh, project="example")
    for d, d2 in zip(catalog.dimensions, again.dimensions, strict=True):
        names = [s.name for s in d.segments]
        assert len(set(names)) == len(names)
        assert names == [s.name for s in d2.segments]
    behaviour = {s.name for s in catalog.dimension("behaviour").segments}
    assert {"High-value loyalists", "Lapsed big spenders", "Promotion-driven bargain hunters",
            "Digital-first newcomers"} <= behaviour


def test_rule_dimensions_keep_their_names(catalog):
    value = catalog.dimension("value")
    assert {s.segment_id: s.name for s in value.segments} == {
        "high": "High value", "medium": "Medium value", "low": "Low value"}
    assert {s.name_source for s in value.segments} == {"model"}
    assert {s.name_source for s in catalog.dimension("behaviour").segments} == {"generated"}


def test_configured_names_override(example_wh):
    cfg = CatalogConfig(names={"behaviour": {"3": "Fresh app users"}, "value": {"low": "Entry tier"}})
    cat = build_catalog(example_wh, config=cfg)
    seg = {s.segment_id: s for s in cat.dimension("behaviour").segments}
    assert (seg["3"].name, seg["3"].name_source) == ("Fresh app users", "configured")
    assert {s.segment_id: s.name for s in cat.dimension("value").segments}["low"] == "Entry tier"


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ({"nope": {"1": "x"}}, "catalog.names.nope: no such dimension"),
        ({"behaviour": {"99": "x"}}, r"catalog.names.behaviour.99: no such segment"),
        ({"value": {"low": "High value"}}, "share the name 'High value'"),
    ],
)
def test_bad_configured_names_are_clear_errors(example_wh, names, message):
    with pytest.raises(ConfigError, match=message):
        build_catalog(example_wh, config=CatalogConfig(names=names))


def _parse(display: str) -> tuple[float, float]:
    """A displayed number and half a unit of its last digit (the rounding it may hide)."""
    scale = 0.01 if display.endswith("%") else 1.0
    text = display.rstrip("%").replace(",", "")
    decimals = len(text.split(".")[1]) if "." in text else 0
    return float(text) * scale, 0.5 * 10**-decimals * scale * (1 + 1e-9)


def test_every_persona_number_is_a_profile_number(catalog):
    n_facts = 0
    for d in catalog.dimensions:
        for s in d.segments:
            assert s.persona, s.name
            assert s.persona[0].text.startswith(s.name)
            for sentence in s.persona:
                assert sentence.facts, sentence.text
                shown = re.findall(r"[+-]?\d[\d,]*(?:\.\d+)?%?", sentence.text.replace("12-month", ""))
                for fact in sentence.facts:
                    assert fact.value == profile_value(s.profile, fact.metric)
                    assert fact.display in sentence.text
                    shown_value, tol = _parse(fact.display)
                    assert abs(shown_value - fact.value) <= tol + 1e-12, (fact, sentence.text)
                    n_facts += 1
                # every number in the sentence is one of its facts
                displays = {f.display.lstrip("+") for f in sentence.facts}
                assert {x.lstrip("+") for x in shown} <= displays, sentence.text
    assert n_facts > 50
