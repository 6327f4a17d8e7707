"""Segment names and persona narratives, generated deterministically from profiles.

A name is ``<qualifier> <noun>`` read off the feature lifts (a trait counts
when ``|lift| >= STRONG``):

* noun -- lapsed (recency up): "big spenders" when spend or value is up, else
  "occasional buyers", both qualified "Lapsed"; short tenure: "newcomers";
  frequent: "loyalists"; promotion-heavy: "bargain hunters"; infrequent:
  "occasional buyers"; otherwise "regulars";
* qualifier -- the strongest of value level ("High-value"/"Low-value", lift
  weighted x1.25 so value wins near-ties), promotion sensitivity
  ("Promotion-driven"), digital engagement ("Digital-first"/"Offline"), the
  most over-represented category ("Electronics-focused") or channel
  ("Mobile-channel"); "Mainstream" when nothing stands out.

Names are made unique within a dimension in order of segment size (largest
keeps the plain name; a later duplicate gets, in brackets, the top feature
whose lift differs most from the first holder's, then a number). A persona is a list of sentences, each
filled from the profile and carrying the facts (metric path, value, the
number as written) it states.
"""

from __future__ import annotations

from segmint.profiles._labels import is_share as _is_share
from segmint.profiles._labels import label as _label
from segmint.profiles._models import Fact, PersonaSentence, SegmentProfile

STRONG = 0.5
VALUE_FEATURES = ("clv_12m", "revenue_12m", "margin_12m", "monetary_total", "total_balance", "assets")
_VALUE_LABELS = {
    "revenue_12m": "12-month revenue",
    "clv_12m": "12-month customer lifetime value",
    "margin_12m": "12-month margin",
}


def _lift(p: SegmentProfile, feature: str) -> float | None:
    f = p.feature(feature)
    return f.lift if f is not None else None


def _first_lift(p: SegmentProfile, features: tuple[str, ...]) -> float:
    for f in features:
        lift = _lift(p, f)
        if lift is not None:
            return lift
    return 0.0


def _best_prefixed(p: SegmentProfile, prefix: str) -> tuple[str, float] | None:
    best = max(
        ((f.feature.removeprefix(prefix), f.lift) for f in p.features
         if f.feature.startswith(prefix) and f.lift is not None),
        key=lambda t: (t[1], t[0]), default=None,
    )
    return best if best and best[1] >= STRONG else None


def _title(word: str) -> str:
    return word.replace("_", " ").capitalize()


def generate_name(p: SegmentProfile) -> str:
    """The profile's name, before uniqueness is enforced."""
    value = _first_lift(p, VALUE_FEATURES)
    recency = _first_lift(p, ("recency_days",))
    if recency == 0.0 and _lift(p, "p_alive") is not None:
        recency = -_first_lift(p, ("p_alive",))
    frequency = _first_lift(p, ("frequency", "events_90d"))
    tenure = _first_lift(p, ("tenure_days",))
    promo = _first_lift(p, ("promo_share", "promo_uplift"))
    digital = _first_lift(p, ("digital_share",))

    if recency >= STRONG:
        spend = _first_lift(p, ("monetary_mean", "monetary_total", "revenue_12m"))
        return "Lapsed big spenders" if max(spend, value) >= STRONG else "Lapsed occasional buyers"
    if tenure <= -STRONG:
        noun = "newcomers"
    elif frequency >= STRONG:
        noun = "loyalists"
    elif promo >= STRONG:
        noun = "bargain hunters"
    elif frequency <= -STRONG:
        noun = "occasional buyers"
    else:
        noun = "regulars"

    options: list[tuple[float, str]] = []
    if abs(value) >= STRONG:
        options.append((abs(value) * 1.25, "High-value" if value > 0 else "Low-value"))
    if promo >= STRONG:
        options.append((promo, "Promotion-driven"))
    if abs(digital) >= STRONG:
        options.append((abs(digital), "Digital-first" if digital > 0 else "Offline"))
    cat = _best_prefixed(p, "share_cat_")
    if cat:
        options.append((cat[1], f"{_title(cat[0])}-focused"))
    chan = _best_prefixed(p, "share_channel_")
    if chan and abs(digital) < STRONG:  # the channel mix says the same as digital share
        options.append((chan[1], f"{_title(chan[0])}-channel"))
    if not options:
        return f"Mainstream {noun}"
    options.sort(key=lambda t: (-t[0], t[1]))
    return f"{options[0][1]} {noun}"


def unique_names(
    profiles: dict[str, SegmentProfile], fixed: dict[str, str] | None = None
) -> dict[str, str]:
    """Generated names for the segments not in ``fixed``, unique with ``fixed``'s names."""
    fixed = fixed or {}
    taken = {n.lower() for n in fixed.values()}
    first: dict[str, SegmentProfile] = {}  # base name -> the segment that took it
    out = dict(fixed)
    order = sorted((s for s in profiles if s not in fixed), key=lambda s: (-profiles[s].size, s))
    for seg in order:
        p = profiles[seg]
        name = generate_name(p)
        if name.lower() in taken:
            holder = first.get(name.lower())

            def contrast(feature: str, p=p, holder=holder) -> float:
                other = _lift(holder, feature) if holder else 0.0
                return abs((_lift(p, feature) or 0.0) - (other or 0.0))

            for feature in sorted(p.top_features, key=lambda f: (-contrast(f), f)):
                lift = (_lift(p, feature) or 0.0) - ((_lift(holder, feature) or 0.0) if holder else 0.0)
                candidate = f"{name} ({'high' if lift > 0 else 'low'} {_label(feature)})"
                if candidate.lower() not in taken:
                    name = candidate
                    break
        else:
            first[name.lower()] = p
        base, i = name, 2
        while name.lower() in taken:
            name, i = f"{base} {i}", i + 1
        taken.add(name.lower())
        out[seg] = name
    return out


# -- personas ------------------------------------------------------------------------
def profile_value(p: SegmentProfile, metric: str) -> float | None:
    """The number a fact's metric path points to in a profile."""
    parts = metric.split(".")
    if parts[0] in {"size", "share", "churn_risk", "population_churn_risk"}:
        return getattr(p, parts[0])
    if parts[0] == "value":
        v = p.value_of(parts[1])
        return getattr(v, parts[2]) if v else None
    if parts[0] == "feature":
        f = p.feature(parts[1])
        return getattr(f, parts[2]) if f else None
    raise KeyError(metric)


def _fmt(x: float, kind: str) -> str:
    if kind == "pct":
        return f"{x:.0%}"
    if kind == "int":
        return f"{x:,.0f}"
    if kind == "lift":
        return f"{x:+.1f}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.2g}" if abs(x) < 1 else f"{x:.1f}"


class _Writer:
    def __init__(self, p: SegmentProfile) -> None:
        self.p = p
        self.sentences: list[PersonaSentence] = []

    def say(self, template: str, **facts: tuple[str, str]) -> None:
        """``facts`` maps a placeholder to (metric path, format kind)."""
        shown, used = {}, []
        for key, (metric, kind) in facts.items():
            value = profile_value(self.p, metric)
            if value is None:
                return
            shown[key] = _fmt(value, kind)
            used.append(Fact(metric=metric, value=float(value), display=shown[key]))
        self.sentences.append(PersonaSentence(text=template.format(**shown), facts=used))


def persona(name: str, p: SegmentProfile) -> list[PersonaSentence]:
    """A short narrative: every sentence states numbers taken from the profile."""
    w = _Writer(p)
    w.say(f"{name} are {{share}} of clients ({{size}} clients).", share=("share", "pct"), size=("size", "int"))
    metric = next((m for m in ("revenue_12m", "clv_12m", "margin_12m") if p.value_of(m)), None)
    if metric:
        w.say(
            f"They bring {{share}} of all {_VALUE_LABELS[metric]}, {{mean}} per client against "
            "{pop} overall.",
            share=(f"value.{metric}.share_of_total", "pct"), mean=(f"value.{metric}.mean", "int"),
            pop=(f"value.{metric}.population_mean", "int"),
        )
    mentioned = {metric} if metric else set()
    if p.feature("recency_days"):
        w.say("Their median time since the last purchase is {seg} days (all clients: {pop}).",
              seg=("feature.recency_days.median", "int"), pop=("feature.recency_days.population_median", "int"))
        mentioned.add("recency_days")
    if p.feature("frequency"):
        w.say("They made {seg} purchases on average (all clients: {pop}).",
              seg=("feature.frequency.mean", "num"), pop=("feature.frequency.population_mean", "num"))
        mentioned.add("frequency")
    said = 0
    for feature in p.top_features:
        if said == 3:
            break
        if feature in mentioned or feature == "churn_risk":
            continue
        f = p.feature(feature)
        if f is None or f.lift is None or abs(f.lift) < STRONG:
            continue
        kind = "pct" if _is_share(feature) else "num"
        word = ("well above" if f.lift >= 1 else "above") if f.lift > 0 else ("well below" if f.lift <= -1 else "below")
        w.say(f"Their {_label(feature)} is {word} average: {{seg}} against {{pop}} (lift {{lift}} SD).",
              seg=(f"feature.{feature}.mean", kind), pop=(f"feature.{feature}.population_mean", kind),
              lift=(f"feature.{feature}.lift", "lift"))
        said += 1
    if p.churn_risk is not None:
        w.say("Mean churn risk is {seg} against {pop} for all clients.",
              seg=("churn_risk", "pct"), pop=("population_churn_risk", "pct"))
    return w.sentences
