"""Observable rules: short conjunctions of feature thresholds that reproduce membership.

For each segment a shallow one-vs-rest decision tree (scikit-learn,
``class_weight="balanced"``) is fitted on a deterministic sample of clients
(at most ``sample_size``; missing values imputed with the sample median for
fitting only). Every leaf of the tree is a candidate conjunction; the one with
the best F1 on the sample becomes the segment's rule, conditions on the same
feature merged (so a rule never has more than ``max_conditions`` conditions)
and conditions that add less than ``ROUNDING_TOLERANCE`` of F1 dropped.
Thresholds are then rounded to readable values -- whole numbers for
integer-valued features, two significant figures otherwise -- unless rounding
costs more than ``ROUNDING_TOLERANCE`` of F1, in which case three, then four
significant figures are kept.

The rule set applies the rules in order -- most precise first -- as one SQL
``CASE``: the first matching rule wins; a client no rule matches gets the
*fallback*, the most common segment among the sample's unmatched clients
(``'unmatched'`` if the sample has none). A condition on a null value is not
met, in SQL and in :func:`apply_rules` alike. Precision, recall, coverage and
the set's fidelity are measured on every client, in DuckDB.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
from sklearn.tree import DecisionTreeClassifier

from segmint.profiles._labels import is_share as _is_share
from segmint.profiles._labels import label as _label
from segmint.profiles._models import Condition, RuleSet, SegmentRule
from segmint.profiles._profile import ASSIGN, FEATURES, q

ROUNDING_TOLERANCE = 0.005
UNMATCHED = "unmatched"


@dataclass(frozen=True)
class _Candidate:
    segment_id: str
    conditions: tuple[Condition, ...]
    f1: float
    precision: float


def sample_frame(
    con: duckdb.DuckDBPyConnection, dimension: str, features: list[str], *, sample_size: int, seed: int = 0
) -> pd.DataFrame:
    """A deterministic sample (by hash of client_id) of clients with segment and features."""
    cols = "".join(f", f.{q(f)}" for f in features)
    return con.execute(
        f"""SELECT a.segment_id{cols} FROM {ASSIGN} a JOIN {FEATURES} f USING (client_id)
            WHERE a.dimension = ? ORDER BY hash(a.client_id, ?), a.client_id LIMIT ?""",
        [dimension, seed, sample_size],
    ).df()


def condition_sql(c: Condition) -> str:
    return f"{q(c.feature)} {c.op} {format_number(c.threshold)}"


def rule_sql(conditions: list[Condition] | tuple[Condition, ...]) -> str:
    return " AND ".join(condition_sql(c) for c in conditions)


def case_sql(rules: list[SegmentRule], fallback: str) -> str:
    """One CASE expression: the first matching rule's segment, else the fallback."""
    whens = "\n".join(f"  WHEN {r.sql} THEN {_str(r.segment_id)}" for r in rules)
    return f"CASE\n{whens}\n  ELSE {_str(fallback)}\nEND" if rules else _str(fallback)


def _str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def format_number(x: float) -> str:
    """A numeric literal that SQL and Python read as the same double.

    Plain decimals (DuckDB reads them as exact DECIMALs) except for tiny
    magnitudes, which keep an exponent (read as DOUBLE by both).
    """
    x = float(x)
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    if abs(x) < 1e-4 or abs(x) >= 1e15:
        return repr(x)
    return np.format_float_positional(x, trim="-")


def english(conditions: list[Condition] | tuple[Condition, ...]) -> str:
    parts = []
    for c in conditions:
        label = _label(c.feature)
        word = "at most" if c.op == "<=" else "above"
        parts.append(f"{label} {word} {_display(c.feature, c.threshold)}")
    return " and ".join(parts)


def _display(feature: str, x: float) -> str:
    if _is_share(feature) and 0 <= x <= 1:
        return format_number(round(x * 100, 6)) + "%"
    return format_number(x)


def match(conditions, frame: pd.DataFrame) -> np.ndarray:
    """Boolean mask of rows meeting every condition (a null never meets one)."""
    mask = np.ones(len(frame), dtype=bool)
    for c in conditions:
        x = frame[c.feature].to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            mask &= (x <= c.threshold) if c.op == "<=" else (x > c.threshold)
    return mask


def apply_rules(rules: list[SegmentRule], fallback: str, frame: pd.DataFrame) -> np.ndarray:
    """The rule set's segment for every row of ``frame`` (first matching rule wins)."""
    out = np.full(len(frame), fallback, dtype=object)
    for r in reversed(sorted(rules, key=lambda r: r.order)):
        out[match(r.conditions, frame)] = r.segment_id
    return out


def _f1(mask: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    tp = float(np.sum(mask & y))
    if tp == 0:
        return 0.0, 0.0
    precision, recall = tp / mask.sum(), tp / y.sum()
    return 2 * precision * recall / (precision + recall), precision


def _leaf_paths(tree: DecisionTreeClassifier, features: list[str]) -> list[list[Condition]]:
    t = tree.tree_
    paths: list[list[Condition]] = []
    stack: list[tuple[int, list[Condition]]] = [(0, [])]
    while stack:
        node, path = stack.pop()
        if t.children_left[node] == -1:
            paths.append(path)
            continue
        f, thr = features[t.feature[node]], float(t.threshold[node])
        stack.append((t.children_left[node], [*path, Condition(feature=f, op="<=", threshold=thr)]))
        stack.append((t.children_right[node], [*path, Condition(feature=f, op=">", threshold=thr)]))
    return paths


def _merge(path: list[Condition]) -> tuple[Condition, ...]:
    """One condition per (feature, op): the tightest threshold."""
    merged: dict[tuple[str, str], float] = {}
    for c in path:
        key = (c.feature, c.op)
        old = merged.get(key)
        merged[key] = c.threshold if old is None else (min(old, c.threshold) if c.op == "<=" else max(old, c.threshold))
    return tuple(Condition(feature=f, op=op, threshold=t) for (f, op), t in merged.items())


def _prune(conditions: tuple[Condition, ...], frame: pd.DataFrame, y: np.ndarray) -> tuple[Condition, ...]:
    """Drop conditions (last first) whose removal costs at most ROUNDING_TOLERANCE of F1."""
    out = list(conditions)
    best, _ = _f1(match(out, frame), y)
    for c in reversed(conditions):
        if len(out) == 1:
            break
        trial = [x for x in out if x is not c]
        f1, _ = _f1(match(trial, frame), y)
        if f1 >= best - ROUNDING_TOLERANCE:
            out, best = trial, max(best, f1)
    return tuple(out)


def _round(x: float, sig: int, integer: bool) -> float:
    if integer:
        x = math.floor(x)  # x <= 12.5 and x <= 12 agree on integers (likewise for >)
        if abs(x) < 10 ** sig:
            return float(x)
    if x == 0:
        return 0.0
    return float(f"{x:.{sig}g}")


def _readable(
    conditions: tuple[Condition, ...], frame: pd.DataFrame, y: np.ndarray, integer: dict[str, bool]
) -> tuple[Condition, ...]:
    base, _ = _f1(match(conditions, frame), y)
    out = list(conditions)
    for i, c in enumerate(conditions):
        for sig in (2, 3, 4):
            trial = [*out]
            trial[i] = Condition(feature=c.feature, op=c.op, threshold=_round(c.threshold, sig, integer[c.feature]))
            f1, _ = _f1(match(trial, frame), y)
            if f1 >= base - ROUNDING_TOLERANCE or sig == 4:
                out = trial
                break
    return tuple(out)


def fit_rules(
    con: duckdb.DuckDBPyConnection,
    dimension: str,
    features: list[str],
    *,
    max_conditions: int = 4,
    max_depth: int | None = None,
    sample_size: int = 50_000,
    seed: int = 0,
) -> tuple[list[SegmentRule], RuleSet]:
    """Fit one observable rule per segment and measure the ordered rule set.

    Returns the rules (segments whose tree found no useful split get none) and
    the :class:`RuleSet` with its CASE expression, fallback and fidelity.
    """
    depth = min(max_depth or max_conditions, max_conditions)
    frame = sample_frame(con, dimension, features, sample_size=sample_size, seed=seed)
    segments = frame.segment_id.value_counts().sort_index(kind="stable")
    segments = segments.sort_values(ascending=False, kind="stable").index.tolist()
    X = frame[features].to_numpy(dtype=float, na_value=np.nan)
    medians = np.nanmedian(np.where(np.isnan(X).all(axis=0), 0.0, X), axis=0) if len(X) else np.zeros(len(features))
    X_fit = np.where(np.isnan(X), medians, X)
    integer = {
        f: bool(np.all(np.isnan(X[:, j]) | (X[:, j] == np.round(X[:, j])))) for j, f in enumerate(features)
    }
    candidates: list[_Candidate] = []
    for seg in segments if features else []:
        y = (frame.segment_id == seg).to_numpy()
        if y.all() or not y.any():
            continue
        tree = DecisionTreeClassifier(
            max_depth=depth, class_weight="balanced", random_state=seed,
            min_samples_leaf=max(5, len(frame) // 500),
        ).fit(X_fit, y)
        best: _Candidate | None = None
        for path in _leaf_paths(tree, features):
            conds = _merge(path)
            if not conds:
                continue
            f1, precision = _f1(match(conds, frame), y)
            if best is None or f1 > best.f1:
                best = _Candidate(seg, conds, f1, precision)
        if best is None or best.f1 == 0:
            continue
        conds = _prune(best.conditions, frame, y)
        conds = _readable(conds, frame, y, integer)
        f1, precision = _f1(match(conds, frame), y)
        candidates.append(_Candidate(seg, conds, f1, precision))

    candidates.sort(key=lambda c: (-c.precision, c.segment_id))
    rules = [
        SegmentRule(
            segment_id=c.segment_id, order=i + 1, conditions=list(c.conditions), sql=rule_sql(c.conditions),
            english=english(c.conditions), precision=0.0, recall=0.0, coverage=0.0,
        )
        for i, c in enumerate(candidates)
    ]
    matched = np.zeros(len(frame), dtype=bool)
    for r in rules:
        matched |= match(r.conditions, frame)
    rest = frame.segment_id[~matched]
    fallback = str(rest.value_counts().sort_index().idxmax()) if len(rest) else UNMATCHED

    rules, fidelity = _measure(con, dimension, rules, fallback)
    ruleset = RuleSet(sql=case_sql(rules, fallback), fallback=fallback, fidelity=fidelity,
                      sample_size=len(frame), max_conditions=max_conditions)
    return rules, ruleset


def _measure(
    con: duckdb.DuckDBPyConnection, dimension: str, rules: list[SegmentRule], fallback: str,
    *, case: str | None = None,
) -> tuple[list[SegmentRule], float]:
    """Precision, recall and coverage of each rule and the set's fidelity, over every client."""
    case = case or case_sql(rules, fallback)
    parts = ["count(*)", f"avg(CASE WHEN ({case}) = segment_id THEN 1 ELSE 0 END)"]
    for r in rules:
        s = _str(r.segment_id)
        parts += [f"count_if({r.sql})", f"count_if(({r.sql}) AND segment_id = {s})", f"count_if(segment_id = {s})"]
    row = con.execute(
        f"""SELECT {', '.join(parts)} FROM {ASSIGN} a LEFT JOIN {FEATURES} f USING (client_id)
            WHERE a.dimension = ?""",
        [dimension],
    ).fetchone()
    n, fidelity = row[0], float(row[1] or 0.0)
    out = []
    for i, r in enumerate(rules):
        hit, tp, pos = row[2 + 3 * i: 5 + 3 * i]
        out.append(r.model_copy(update={
            "precision": tp / hit if hit else 0.0, "recall": tp / pos if pos else 0.0, "coverage": hit / n if n else 0.0,
        }))
    return out, fidelity


# -- rule-defined dimensions: their own definition --------------------------------------
_OPS = [(">=", "at least"), ("<=", "at most"), ("<>", "is not"), ("!=", "is not"),
        (">", "above"), ("<", "below"), ("=", "is")]
_TOKEN = re.compile(r"\"([^\"]+)\"|\b([A-Za-z_][A-Za-z0-9_]*)\b|(>=|<=|<>|!=|>|<|=)")


def definition_english(when: str, percentiles: dict[str, dict[str, float | None]]) -> str:
    """A rule's ``when`` in words: features by their labels, ``pNN`` as the percentile
    with its resolved value (``12-month CLV at least its 90th percentile (1,234.5)``)."""
    ops = dict(_OPS)
    last_feature: list[str] = []

    def word(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if m.group(3):
            return ops[m.group(3)]
        pm = _PCT.match(name)
        if pm and last_feature:
            key = f"p{float(pm.group(1)):g}"
            # the subject: a feature, or an expression over features (keyed by its SQL)
            subjects = [s for s in percentiles if key in percentiles[s]]
            subject = last_feature[-1] if last_feature[-1] in subjects or not subjects else (
                subjects[0] if len(subjects) == 1 else next(
                    (s for s in subjects if last_feature[-1] in s), subjects[0]))
            v = percentiles.get(subject, {}).get(key)
            shown = "unknown" if v is None else _readable_number(last_feature[-1], v)
            return f"its {_ordinal(pm.group(1))} percentile ({shown})"
        upper = name.upper()
        if upper in {"AND", "OR", "NOT", "BETWEEN", "IN"}:
            return name.lower()
        if upper == "IS":
            return "is"
        if upper == "NULL":
            return "unknown"
        last_feature.append(name)
        return _label(name)

    return _TOKEN.sub(word, when)


def _readable_number(feature: str, x: float) -> str:
    """A percentile's value in words: 4 significant figures, thousands separated (the
    SQL keeps the exact value)."""
    if _is_share(feature) and 0 <= x <= 1:
        return f"{x:.1%}"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{float(f'{x:.4g}'):g}"


_PCT = re.compile(r"^p(\d{1,2}(?:\.\d+)?|100)$", re.IGNORECASE)


def _ordinal(n: str) -> str:
    if "." in n:
        return f"{n}th"
    i = int(n)
    suffix = "th" if 10 <= i % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(i % 10, "th")
    return f"{i}{suffix}"


def definition_rules(
    con: duckdb.DuckDBPyConnection, dimension: str, params: dict
) -> tuple[list[SegmentRule], RuleSet]:
    """A rule-defined dimension's rules exactly as defined (no surrogate).

    Each segment's rule is its own ``when`` (several rules of one segment joined by OR),
    its SQL the compiled expression (percentiles resolved to the fitted values); the rule
    set is the dimension's own CASE (first match wins, the default last), so its fidelity
    is 1.0 by construction -- and measured, like a learned dimension's.
    """
    segments = params["segments"]
    by_label: dict[int, list[dict]] = {}
    for r in params["rules"]:
        by_label.setdefault(int(r["label"]), []).append(r)
    rules = []
    for order, (label, items) in enumerate(
        sorted(by_label.items(), key=lambda kv: params["rules"].index(kv[1][0])), start=1
    ):
        sql = " OR ".join(f"({r['sql']})" for r in items) if len(items) > 1 else items[0]["sql"]
        parts = [definition_english(r["when"], params.get("percentiles") or {}) for r in items]
        text = " or ".join(f"({t})" for t in parts) if len(parts) > 1 else parts[0]
        rules.append(SegmentRule(
            segment_id=segments[label]["id"], order=order, conditions=[], sql=sql,
            english=text, precision=0.0, recall=0.0, coverage=0.0,
        ))
    default = segments[int(params["default_label"])]["id"]
    whens = "\n".join(
        f"  WHEN {r['sql']} THEN {_str(segments[int(r['label'])]['id'])}" for r in params["rules"]
    )
    case = f"CASE\n{whens}\n  ELSE {_str(default)}\nEND"
    rules, fidelity = _measure(con, dimension, rules, default, case=case)
    ruleset = RuleSet(sql=case, fallback=default, fidelity=fidelity, sample_size=0,
                      max_conditions=0, kind="definition")
    return rules, ruleset
