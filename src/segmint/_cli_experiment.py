"""``segmint experiment ...``: holdouts, control groups, lift analysis and power planning.

A thin shell over :mod:`segmint.targeting`, kept apart from ``cli.py`` (which adds it
as a sub-command group).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from segmint.errors import ParameterError

experiment_app = typer.Typer(
    no_args_is_help=True, help="Randomised holdouts, campaign lift per segment, power planning."
)
console = Console()

ProjectOpt = Annotated[
    Path,
    typer.Option("--project", "-p", help="Project file (or its folder).", show_default=True),
]


def _project(path: Path):
    from segmint import Project

    return Project.from_yaml(path)


def _day(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ParameterError(f"--as-of: {value!r} is not a date (YYYY-MM-DD)") from None


def _fmt(x, pct: bool = False) -> str:
    if x is None or x != x:
        return "-"
    return f"{x:+.1%}" if pct else f"{x:,.4g}"


@experiment_app.command("assign")
def assign(
    campaign: Annotated[list[str] | None, typer.Argument(help="Campaigns to draw (default: all).")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Assignment date; segments as of this day.")] = None,
    project: ProjectOpt = Path("segmint.yaml"),
) -> None:
    """Assign new clients to the global holdout and draw campaign control groups.

    Clients already assigned keep their arm; assignment is a salted md5 hash of the
    client id and the experiment name, so reruns give the same arms.

    Example: segmint experiment assign spring_saver --as-of 2026-03-01
    """
    from segmint.targeting import assign_holdout, draw_campaign

    proj = _project(project)
    cfg = proj.config.experiments
    day = _day(as_of)
    with proj.warehouse() as wh:
        if cfg.holdout is not None:
            counts = assign_holdout(wh, cfg, as_of=day)
            for r in counts.itertuples(index=False):
                console.print(f"holdout {cfg.holdout.name}: {r.arm} {r.clients} ({r.new} new)")
        for name in campaign or list(cfg.campaigns):
            res = draw_campaign(wh, cfg, name, as_of=day)
            for r in res.counts.itertuples(index=False):
                console.print(f"{name} [{r.stratum}]: {r.arm} {r.clients} ({r.new} new)")


@experiment_app.command("balance")
def balance(
    name: Annotated[str, typer.Argument(help="The holdout's name or a campaign.")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="Features snapshot on or before this day.")] = None,
    project: ProjectOpt = Path("segmint.yaml"),
) -> None:
    """Check that an experiment's arms look randomised: standardised mean differences
    on pre-period features and a sample-ratio test; exits 1 when broken.

    Example: segmint experiment balance spring_saver
    """
    from segmint.targeting import balance_check

    proj = _project(project)
    with proj.warehouse(read_only=True) as wh:
        rep = balance_check(wh, proj.config.experiments, name, as_of=_day(as_of))
    console.print(f"{name}: {rep.counts} (sample-ratio p = {rep.srm_p_value:.3g}), features as of {rep.as_of}")
    table = Table("feature", "treatment", "control", "SMD")
    for r in rep.smd.itertuples(index=False):
        table.add_row(r.feature, _fmt(r.mean_treatment), _fmt(r.mean_control), f"{r.smd:+.3f}")
    console.print(table)
    for w in rep.warnings:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
    if rep.warnings:
        raise typer.Exit(1)


@experiment_app.command("analyze")
def analyze(
    name: Annotated[str, typer.Argument(help="Campaign name (in the `campaigns` exposures).")],
    by: Annotated[str | None, typer.Option("--by", help="Segmentation dimension or clients column.")] = None,
    covariate: Annotated[
        list[str] | None, typer.Option("--covariate", help="Extra CUPED covariate (a feature); repeatable.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    project: ProjectOpt = Path("segmint.yaml"),
) -> None:
    """Lift of a campaign overall and per segment, with 95% intervals, CUPED, BH q-values,
    incremental conversions and revenue, and return on cost.

    Example: segmint experiment analyze spring_saver --by value --json
    """
    import dataclasses

    from segmint.disclosure import SUPPRESSED, show_count
    from segmint.targeting import analyze_campaign, release_lifts

    proj = _project(project)
    with proj.warehouse(read_only=True) as wh:
        res = analyze_campaign(wh, proj.config.experiments, name, by=by, covariates=covariate or ())
    # the arms' counts leave the warehouse suppressed (governance.min_cell), their values too
    lifts = release_lifts(res.lifts, proj.config.governance.min_cell)
    withheld = set(lifts.loc[lifts["suppressed"], "segment"])
    res = dataclasses.replace(res, lifts=lifts, notes=[
        n for n in res.notes if not any(f"segment {s!r}" in n for s in withheld)])
    if as_json:
        typer.echo(json.dumps(res.to_dict(), indent=2, default=str))
        return
    pct = res.binary
    table = Table(title=f"{name}: {res.metric}" + (f" by {by}" if by else ""))
    for col in ("segment", "n ctl/trt", "control", "treated", "lift [95% CI]", "q", "CUPED [95% CI]", "incr.", "ROI"):
        table.add_column(col)
    for r in res.lifts.itertuples(index=False):
        counts = f"{show_count(_na(r.n_control))}/{show_count(_na(r.n_treatment))}"
        if r.suppressed:
            table.add_row(r.segment, counts, *[SUPPRESSED] * 7)
            continue
        if "lift" not in res.lifts or r.lift != r.lift:
            table.add_row(r.segment, counts, *["-"] * 7)
            continue
        table.add_row(
            r.segment, counts,
            f"{r.control:.1%}" if pct else _fmt(r.control),
            f"{r.treatment:.1%}" if pct else _fmt(r.treatment),
            f"{_fmt(r.lift, pct)} [{_fmt(r.lift_low, pct)}, {_fmt(r.lift_high, pct)}]",
            f"{r.q_value:.3g}",
            f"{_fmt(r.lift_cuped, pct)} [{_fmt(r.cuped_low, pct)}, {_fmt(r.cuped_high, pct)}]",
            f"{r.incremental:,.1f}",
            _fmt(r.roi),
        )
    console.print(table)
    if "variance_reduction" in res.lifts:
        console.print(
            f"CUPED covariates: {', '.join(res.covariates)}; variance reduction overall "
            f"{res.lifts['variance_reduction'].iloc[0]:.1%}",
            highlight=False,
        )
    for note in res.notes:
        console.print(f"note: {note}", highlight=False)
    if withheld:
        from segmint.disclosure import suppression_note

        console.print(suppression_note(proj.config.governance.min_cell), highlight=False)


def _na(x):
    """A nullable count (pandas ``NA``) as ``None``."""
    import pandas as pd

    return None if x is None or x is pd.NA or x != x else x


@experiment_app.command("plan")
def plan(
    mde: Annotated[float, typer.Option("--mde", help="Minimum detectable effect (absolute; relative with --relative).")],
    baseline: Annotated[float | None, typer.Option("--baseline", help="Control conversion rate.")] = None,
    sd: Annotated[float | None, typer.Option("--sd", help="Outcome standard deviation (mean outcomes).")] = None,
    power: Annotated[float, typer.Option("--power", help="Target power.")] = 0.8,
    alpha: Annotated[float, typer.Option("--alpha", help="Two-sided significance level.")] = 0.05,
    control_share: Annotated[float, typer.Option("--control-share", help="Share of each segment in control.")] = 0.2,
    by: Annotated[str | None, typer.Option("--by", help="Dimension whose segments to plan for.")] = None,
    campaign: Annotated[
        str | None, typer.Option("--campaign", help="Take each segment's baseline from this campaign's control arm.")
    ] = None,
    relative: Annotated[bool, typer.Option("--relative", help="The MDE is relative to the baseline.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    project: ProjectOpt = Path("segmint.yaml"),
) -> None:
    """Control size needed per segment for a minimum detectable effect, and the smallest
    segment that can be measured at all.

    Example: segmint experiment plan --mde 0.01 --baseline 0.05 --by value
    """
    from segmint.targeting import plan_segments, segment_sizes

    proj = _project(project)
    with proj.warehouse(read_only=True) as wh:
        sizes = segment_sizes(wh, proj.config.experiments, by=by, campaign=campaign)
    result = plan_segments(
        sizes, mde=mde, baseline=baseline, sd=sd, power=power, alpha=alpha,
        control_share=control_share, relative=relative,
    )
    if as_json:
        frame = result.segments.astype(object).where(result.segments.notna(), None)
        typer.echo(json.dumps({
            "mde": mde, "relative": relative, "power": power, "alpha": alpha,
            "control_share": control_share, "smallest_measurable": result.smallest_measurable,
            "segments": frame.to_dict("records"),
        }, indent=2, default=str))
        return
    table = Table(title=f"MDE {mde:g}{' (relative)' if relative else ''}, power {power:g}, alpha {alpha:g}, control {control_share:.0%}")
    for col in ("segment", "clients", "baseline", "control needed", "clients needed", "MDE at this size", "measurable"):
        table.add_column(col)
    for r in result.segments.itertuples(index=False):
        table.add_row(
            str(r.segment), f"{r.clients:,}", _fmt(r.baseline), _fmt(r.control_needed),
            _fmt(r.clients_needed), _fmt(r.mde_achievable), "yes" if r.measurable else "no",
        )
    console.print(table)
    if result.smallest_measurable == result.smallest_measurable:
        console.print(f"smallest measurable segment: {result.smallest_measurable:,.0f} clients")


@experiment_app.command("report")
def report(
    name: Annotated[list[str], typer.Argument(help="Campaigns to show.")],
    by: Annotated[str | None, typer.Option("--by", help="Segmentation dimension or clients column.")] = None,
    budget: Annotated[float | None, typer.Option("--budget", help="Also allocate this budget over segments x channels.")] = None,
    no_uplift: Annotated[bool, typer.Option("--no-uplift", help="Skip the uplift model.")] = False,
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")] = Path("experiments.html"),
    project: ProjectOpt = Path("segmint.yaml"),
) -> None:
    """Write the experiment report: lift by segment (forest plot), Qini curve, budget
    allocation and the lift cycle by cycle, one section per campaign.

    Example: segmint experiment report cmp01 --by value --budget 5000 -o experiments.html
    """
    from segmint.report import build_section, render_experiment_report, write_report

    proj = _project(project)
    with proj.warehouse(read_only=True) as wh:
        sections = [
            build_section(wh, proj.config.experiments, n, by=by, uplift=not no_uplift, budget=budget,
                          min_cell=proj.config.governance.min_cell)
            for n in name
        ]
    path = write_report(proj.resolve(str(out)) if not out.is_absolute() else out,
                        render_experiment_report(proj.config.project, sections))
    console.print(f"wrote {path}", highlight=False)


@experiment_app.command("uplift")
def uplift(
    name: Annotated[str, typer.Argument(help="A past randomised campaign.")],
    by: Annotated[str | None, typer.Option("--by", help="Dimension whose segments to classify.")] = None,
    method: Annotated[str, typer.Option("--method", help="x_learner or two_model.")] = "x_learner",
    save: Annotated[bool, typer.Option("--save", help="Write the scores to the table uplift_scores.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    project: ProjectOpt = Path("segmint.yaml"),
) -> None:
    """Fit an uplift model on a past campaign; show the held-out Qini coefficients
    (model, propensity, random), the classes per segment and incrementality-adjusted targeting.

    Example: segmint experiment uplift cmp01 --by value --save
    """
    from segmint.disclosure import SUPPRESSED, suppress_table
    from segmint.targeting import fit_uplift

    proj = _project(project)
    with proj.warehouse(read_only=not save) as wh:
        res = fit_uplift(wh, proj.config.experiments, name, by=by, method=method, save=save)
    # the segments' clients leave the warehouse suppressed (their total is implied), with
    # every value of a suppressed segment
    segments = res.segments.astype(object)
    if len(segments):
        t = suppress_table(res.segments["clients"].to_numpy(float)[None, :],
                           proj.config.governance.min_cell, total_shown=False)
        segments.loc[t.hidden[0], [c for c in segments.columns if c != "segment"]] = None
    if as_json:
        typer.echo(json.dumps({
            "campaign": name, "method": method, "as_of": str(res.as_of),
            "qini_coefficient": res.qini_coefficient, "targeting": res.targeting,
            "segments": segments.to_dict("records"),
        }, indent=2, default=str))
        return
    q = res.qini_coefficient
    console.print(
        f"{name} ({method}, features as of {res.as_of}): Qini uplift {q['uplift']:+.5f}, "
        f"propensity {q['propensity']:+.5f}, random 0", highlight=False,
    )
    table = Table("segment", "clients", "mean uplift", "class")
    for r in segments.to_dict("records"):
        if r["clients"] is None:
            table.add_row(str(r["segment"]), *[SUPPRESSED] * 3)
            continue
        table.add_row(str(r["segment"]), f"{r['clients']:,}", f"{r['uplift']:+.4f}", str(r["class"]))
    console.print(table)
    t = res.targeting
    console.print(
        f"incrementality-adjusted targeting: {t['clients_selected']:,} clients, expected "
        f"{t['expected_incremental_adjusted']:,.1f} incremental conversions vs "
        f"{t['expected_incremental_propensity']:,.1f} by propensity",
        highlight=False,
    )
