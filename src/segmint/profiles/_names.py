"""Segment names and persona narratives, generated deterministically from profiles.

A name is ``<qualifier> <noun>``, and **every term is backed by a profile fact past a
documented threshold** (recorded with the name as :class:`NameTerm`, checked when the
name is made). Lifts are standardised mean differences; a trait counts when
``|lift| >= STRONG`` (0.5 SD) *and* the segment's own level passes an absolute bar, so a
term never claims what the numbers on the same page contradict:

=====================  ====================================================================
term                   facts (all must hold)
=====================  ====================================================================
Lapsed                 recency_days lift >= 0.5 and median recency_days >= 90
big spenders           (lapsed) spend or value lift >= 0.5
newcomers              tenure_days lift <= -0.5 and median tenure_days <= 365
loyalists              frequency lift >= 0.5
bargain hunters        promo_share lift >= 0.5 and mean promo_share >= 20%
occasional buyers      frequency lift <= -0.5
High-value/Low-value   value-measure lift >= 0.5 / <= -0.5 (the first of clv_12m,
                       revenue_12m, margin_12m, monetary_total, total_balance, assets)
Promotion-driven       as bargain hunters
Digital-first          digital_share lift >= 0.5 and mean digital_share >= 50%
Offline                digital_share lift <= -0.5 and mean digital_share <= 20%
<Category>-focused     share_cat_<c> lift >= 0.5 and mean share >= 15%
<Channel>-channel      share_channel_<c> lift >= 0.5 and mean share >= 30%
=====================  ====================================================================

Without a qualifier the name is "Mainstream <noun>"; without a noun, "regulars".
Within a dimension, names are made unique in order of segment size: the largest keeps
the plain name; a later segment with the same name gets, in brackets, the feature whose
lift differs most from the first holder's -- only if the difference is at least
``STRONG`` (a meaningful distinction, also recorded as a term); otherwise a number. A
persona is a list of sentences, each filled from the profile and carrying the facts
(metric path, value, the number as written) it states.
"""

from __future__ import annotations

from segmint.profiles._labels import is_share as _is_share
from segmint.profiles._labels import label as _label
from segmint.profiles._models import Fact, NameTerm, PersonaSentence, SegmentProfile

STRONG = 0.5
VALUE_FEATURES = ("clv_12m", "revenue_12m", "margin_12m", "monetary_total", "total_balance", "assets")
_VALUE_LABELS = {
    "revenue_12m": "12-month revenue",
    "clv_12m": "12-month customer lifetime value",
    "margin_12m": "12-month margin",
}
LAPSED_DAYS = 90
NEWCOMER_DAYS = 365
PROMO_LEVEL = 0.2
DIGITAL_LEVEL, OFFLINE_LEVEL = 0.5, 0.2
CATEGORY_LEVEL, CHANNEL_LEVEL = 0.15, 0.3


def _lift(p: SegmentProfile, feature: str) -> float | None:
    f = p.feature(feature)
    return f.lift if f is not None else None


def _first(p: SegmentProfile, features: tuple[str, ...]) -> str | None:
    return next((f for f in features if _lift(p, f) is not None), None)


class _Terms:
    """Checks facts against a profile and records the ones a term rests on."""

    def __init__(self, p: SegmentProfile) -> None:
        self.p = p

    def fact(self, feature: str | None, stat: str, op: str, threshold: float) -> NameTerm | None:
        if feature is None:
            return None
        f = self.p.feature(feature)
        value = getattr(f, stat) if f is not None else None
        if value is None or not _holds(value, op, threshold):
            return None
        return NameTerm(term="", metric=f"feature.{feature}.{stat}", value=float(value), op=op,
                        threshold=threshold)

    def all(self, term: str, *facts: NameTerm | None) -> list[NameTerm] | None:
        if any(f is None for f in facts):
            return None
        return [f.model_copy(update={"term": term}) for f in facts if f is not None]


def _holds(value: float, op: str, threshold: float) -> bool:
    return value >= threshold if op == ">=" else value <= threshold


def _prefixed(p: SegmentProfile, prefix: str) -> list[str]:
    return sorted(
        (f.feature for f in p.features if f.feature.startswith(prefix) and f.lift is not None),
        key=lambda name: (-(_lift(p, name) or 0.0), name),
    )


def _title(word: str) -> str:
    return word.replace("_", " ").capitalize()


def name_with_terms(p: SegmentProfile) -> tuple[str, list[NameTerm]]:
    """The profile's name (before uniqueness) and the facts each of its terms rests on."""
    t = _Terms(p)
    recency = "recency_days" if _lift(p, "recency_days") is not None else None
    lapsed = t.all("Lapsed", t.fact(recency, "lift", ">=", STRONG),
                   t.fact(recency, "median", ">=", LAPSED_DAYS))
    if lapsed:
        spend = _first(p, ("monetary_mean", "monetary_total", "revenue_12m"))
        value = _first(p, VALUE_FEATURES)
        big = t.all("big spenders", t.fact(spend, "lift", ">=", STRONG)) or t.all(
            "big spenders", t.fact(value, "lift", ">=", STRONG))
        if big:
            return "Lapsed big spenders", lapsed + big
        occasional = t.all("occasional buyers", t.fact(recency, "lift", ">=", STRONG))
        return "Lapsed occasional buyers", lapsed + (occasional or [])

    frequency = _first(p, ("frequency", "events_90d"))
    promo = _first(p, ("promo_share",))
    promo_terms = lambda term: t.all(  # noqa: E731
        term, t.fact(promo, "lift", ">=", STRONG), t.fact(promo, "mean", ">=", PROMO_LEVEL))
    nouns = [
        ("newcomers", t.all("newcomers", t.fact("tenure_days", "lift", "<=", -STRONG),
                            t.fact("tenure_days", "median", "<=", NEWCOMER_DAYS))),
        ("loyalists", t.all("loyalists", t.fact(frequency, "lift", ">=", STRONG))),
        ("bargain hunters", promo_terms("bargain hunters")),
        ("occasional buyers", t.all("occasional buyers", t.fact(frequency, "lift", "<=", -STRONG))),
    ]
    noun, noun_terms = next(((n, ts) for n, ts in nouns if ts), ("regulars", []))

    options: list[tuple[float, str, list[NameTerm]]] = []
    value = _first(p, VALUE_FEATURES)
    lv = _lift(p, value) if value else None
    if lv is not None and abs(lv) >= STRONG:
        word = "High-value" if lv > 0 else "Low-value"
        ts = t.all(word, t.fact(value, "lift", ">=" if lv > 0 else "<=", STRONG if lv > 0 else -STRONG))
        if ts:
            options.append((abs(lv) * 1.25, word, ts))  # value wins near-ties
    ts = promo_terms("Promotion-driven")
    if ts:
        options.append((_lift(p, promo) or 0.0, "Promotion-driven", ts))
    digital = "digital_share" if _lift(p, "digital_share") is not None else None
    ts = t.all("Digital-first", t.fact(digital, "lift", ">=", STRONG),
               t.fact(digital, "mean", ">=", DIGITAL_LEVEL))
    ts = ts or t.all("Offline", t.fact(digital, "lift", "<=", -STRONG),
                     t.fact(digital, "mean", "<=", OFFLINE_LEVEL))
    if ts:
        options.append((abs(_lift(p, "digital_share") or 0.0), ts[0].term, ts))
    for cat in _prefixed(p, "share_cat_")[:1]:
        word = f"{_title(cat.removeprefix('share_cat_'))}-focused"
        ts = t.all(word, t.fact(cat, "lift", ">=", STRONG), t.fact(cat, "mean", ">=", CATEGORY_LEVEL))
        if ts:
            options.append((_lift(p, cat) or 0.0, word, ts))
    if not any(o[1] in ("Digital-first", "Offline") for o in options):
        for chan in _prefixed(p, "share_channel_")[:1]:  # the channel mix says what digital says
            word = f"{_title(chan.removeprefix('share_channel_'))}-channel"
            ts = t.all(word, t.fact(chan, "lift", ">=", STRONG),
                       t.fact(chan, "mean", ">=", CHANNEL_LEVEL))
            if ts:
                options.append((_lift(p, chan) or 0.0, word, ts))
    if not options:
        return f"Mainstream {noun}", noun_terms
    options.sort(key=lambda o: (-o[0], o[1]))
    _, word, ts = options[0]
    return f"{word} {noun}", ts + noun_terms


def generate_name(p: SegmentProfile) -> str:
    """The profile's name, before uniqueness is enforced."""
    return name_with_terms(p)[0]


def unique_names(
    profiles: dict[str, SegmentProfile], fixed: dict[str, str] | None = None
) -> dict[str, str]:
    """Generated names for the segments not in ``fixed``, unique with ``fixed``'s names."""
    return {s: n for s, (n, _) in named_segments(profiles, fixed).items()}


def named_segments(
    profiles: dict[str, SegmentProfile], fixed: dict[str, str] | None = None
) -> dict[str, tuple[str, list[NameTerm]]]:
    """Unique names with the facts behind their terms (fixed names have none)."""
    fixed = fixed or {}
    taken = {n.lower() for n in fixed.values()}
    first: dict[str, SegmentProfile] = {}  # base name -> the segment that took it
    out: dict[str, tuple[str, list[NameTerm]]] = {s: (n, []) for s, n in fixed.items()}
    order = sorted((s for s in profiles if s not in fixed), key=lambda s: (-profiles[s].size, s))
    for seg in order:
        p = profiles[seg]
        name, terms = name_with_terms(p)
        if name.lower() in taken:
            holder = first.get(name.lower())

            def contrast(feature: str, p=p, holder=holder) -> float:
                other = (_lift(holder, feature) or 0.0) if holder else 0.0
                return (_lift(p, feature) or 0.0) - other

            for feature in sorted(p.top_features, key=lambda f: (-abs(contrast(f)), f)):
                diff = contrast(feature)
                if abs(diff) < STRONG:
                    break  # not a meaningful distinction: numbered below
                candidate = f"{name} ({'higher' if diff > 0 else 'lower'} {_label(feature)})"
                if candidate.lower() not in taken:
                    name = candidate
                    terms = terms + [NameTerm(
                        term=f"{'higher' if diff > 0 else 'lower'} {_label(feature)}",
                        metric=f"feature.{feature}.lift", value=float(_lift(p, feature) or 0.0),
                        op=">=" if diff > 0 else "<=",
                        threshold=float(((_lift(holder, feature) or 0.0) if holder else 0.0)
                                        + (STRONG if diff > 0 else -STRONG)),
                    )]
                    break
        else:
            first[name.lower()] = p
        base, i = name, 2
        while name.lower() in taken:
            name, i = f"{base} {i}", i + 1
        taken.add(name.lower())
        out[seg] = (name, terms)
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
