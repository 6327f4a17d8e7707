"""The ``segmint`` command line: a thin shell over :class:`segmint.Project`.

Each command parses options, makes one or two library calls and prints.
User errors (:class:`segmint.SegmintError`) become a one-line message and a
non-zero exit code, never a traceback.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from segmint.errors import SegmintError

app = typer.Typer(
    name="segmint",
    help="Automated client segmentation and profiling.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


EXIT_IO = 74  # sysexits.h EX_IOERR
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


def _fail(message: str, code: int) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(code)


def main() -> None:
    """Entry point: run the app, turning user errors into clean messages.

    Exit codes are listed in the app's help (see ``_root``): a user's situation
    (error in the project file or data, refused shrink, file system, Ctrl-C) never
    shows a traceback; anything else is a bug in segmint and keeps it.
    """
    import duckdb

    interrupted = "interrupted; the warehouse is unchanged (the interrupted step was rolled back)"
    try:
        app()  # standalone: click prints usage errors itself and exits 2
    except SystemExit as exc:
        if exc.code == EXIT_INTERRUPTED:  # typer turns Ctrl-C into a silent exit 130
            _fail(interrupted, EXIT_INTERRUPTED)
        raise
    except SegmintError as exc:
        _fail(str(exc), exc.exit_code)
    except (KeyboardInterrupt, duckdb.InterruptException):
        _fail(interrupted, EXIT_INTERRUPTED)
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        if isinstance(exc, NotADirectoryError | FileExistsError):
            why = "a part of the path is a file, not a folder"
        elif isinstance(exc, PermissionError):
            why = "permission denied (read-only folder or file?)"
        else:
            why = exc.strerror or str(exc)
        _fail(f"{where}{why} (nothing was changed by the failed step)", EXIT_IO)
    except (duckdb.IOException, duckdb.PermissionException, duckdb.OutOfMemoryException) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        _fail(f"{first} (the failed step was rolled back; the warehouse is as it was)", EXIT_IO)


@app.callback(
    epilog="Exit codes: 0 done; 1 a bug in segmint (with a traceback: please report it); "
    "2 an error in the project file, the data or the command line (the message names "
    "the file, key or column); 3 a reload would shrink an entity past "
    "contracts.max_shrink (rerun with --allow-shrink if intended); "
    "74 the file system refused (permission, read-only folder, disk full) or out of "
    "memory; 130 interrupted (Ctrl-C): the step in progress is rolled back, the "
    "warehouse is unchanged."
)
def _root() -> None:
    """Automated client segmentation and profiling.

    Example: segmint demo
    """


AllowShrinkOpt = Annotated[
    bool,
    typer.Option(
        "--allow-shrink",
        help="Accept a reload that empties an entity or removes more than "
        "contracts.max_shrink of its rows (refused by default, exit code 3).",
    ),
]

ProjectOpt = Annotated[
    Path,
    typer.Option("--project", "-p", help="Project file (or its folder).", show_default=True),
]


def _project(path: Path):
    from segmint import Project

    return Project.from_yaml(path)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description:<14}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    )


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create the project in.")] = Path("."),
    force: Annotated[bool, typer.Option(help="Overwrite an existing segmint.yaml.")] = False,
) -> None:
    """Scaffold a project: a commented segmint.yaml to edit.

    Example: segmint init my-project
    """
    from importlib import resources

    from segmint.errors import ConfigError

    target = directory / "segmint.yaml"
    if target.exists() and not force:
        raise ConfigError(f"{target} already exists (use --force to overwrite)")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "data").mkdir(exist_ok=True)
    text = (resources.files("segmint.config") / "template.yaml").read_text()
    tmp = target.with_suffix(".yaml.tmp")
    tmp.write_text(text)
    tmp.replace(target)
    console.print(f"created {target}; edit its sources and mappings, then run `segmint ingest -p {target}`")


def print_ingest_report(report) -> None:
    table = Table(title=f"ingest {report.run_id} ({report.seconds:.1f} s)")
    table.add_column("entity")
    table.add_column("mode")
    for col in ("read", "loaded", "quarantined", "collapsed", "notes", "before", "in table"):
        table.add_column(col, justify="right")
    for name, e in report.entities.items():
        table.add_row(
            name, e.mode, f"{e.rows_read:,}", f"{e.rows_loaded:,}", f"{e.rows_quarantined:,}",
            f"{e.duplicates_collapsed:,}", f"{sum(e.notes.values()):,}", f"{e.rows_before:,}",
            f"{e.rows_in_table:,}",
        )
    console.print(table)
    for f in report.skipped_files:
        console.print(
            f"[yellow]skipped[/] {f['file']} (source {f['source']}): {f['why']}", highlight=False
        )
    for name, e in report.entities.items():
        if e.mode != "unchanged":
            console.print(f"{name}: {e.mode} ({e.mode_reason})", highlight=False)
    if report.rows_quarantined:
        reasons = Table(title="quarantined rows (table `quarantine`)")
        for col in ("entity", "reason", "rows"):
            reasons.add_column(col, justify="right" if col == "rows" else "left")
        for name, e in report.entities.items():
            for reason, n in e.quarantined.items():
                reasons.add_row(name, reason, f"{n:,}")
        console.print(reasons)
    if any(e.notes for e in report.entities.values()):
        notes = Table(title="loaded with a value set to null (table `quarantine`, note = true)")
        for col in ("entity", "reason", "values"):
            notes.add_column(col, justify="right" if col == "values" else "left")
        for name, e in report.entities.items():
            for reason, n in e.notes.items():
                notes.add_row(name, reason, f"{n:,}")
        console.print(notes)
    console.print(f"warehouse: {report.warehouse}", highlight=False)


@app.command()
def ingest(
    project: ProjectOpt = Path("segmint.yaml"),
    full: Annotated[bool, typer.Option("--full", help="Reload every entity from all its files (and checksum every file again).")] = False,
    allow_shrink: AllowShrinkOpt = False,
) -> None:
    """Load what is new in the sources into the warehouse, applying the data contracts.

    Each entity is `unchanged` (same files: skipped), `appended` (only new files:
    they are checked and their good rows appended) or `reloaded` (from all its
    files: a file changed or vanished, mappings or contracts changed, a table
    source, or --full). Bad rows go to the `quarantine` table with a reason;
    structural problems (missing file or column) stop the run before anything
    is written.

    Example: segmint ingest -p my-project/segmint.yaml
    """
    proj = _project(project)
    with _progress() as bar:
        task = bar.add_task("ingest", total=None)

        def tick(step: str, done: int, total: int) -> None:
            bar.update(task, description=step, completed=done, total=total)

        report = proj.ingest(progress=tick, full=full, allow_shrink=allow_shrink)
    print_ingest_report(report)
    print_notes(proj.readiness(strict=False).warnings)


def _date(value: str | None):
    import datetime as dt

    from segmint.errors import ConfigError

    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--as-of: {value!r} is not a date (expected YYYY-MM-DD)") from None


@app.command()
def catalog(
    project: ProjectOpt = Path("segmint.yaml"),
    format: Annotated[str, typer.Option("--format", "-f", help="json or md.")] = "md",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write to this file instead of stdout.")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Assignments date (YYYY-MM-DD); latest by default.")] = None,
) -> None:
    """Build the versioned segment catalog: profiles, rules (SQL and English), names, personas.

    The catalog is stored in the warehouse table `segment_catalog` and printed
    (or written to --out) as Markdown or JSON.

    Example: segmint catalog --format json --out catalog.json
    """
    from segmint.errors import ConfigError
    from segmint.profiles import catalog_json, catalog_markdown

    if format not in ("json", "md"):
        raise ConfigError(f"--format: {format!r} is not one of json, md")
    result = _project(project).catalog(as_of=_date(as_of))
    text = catalog_json(result) if format == "json" else catalog_markdown(result)
    if out is None:
        sys.stdout.write(text)
        return
    from segmint.report import write_report

    write_report(out, text)
    err_console.print(f"catalog v{result.version} ({result.as_of}) written to {out}")


@app.command()
def report(
    project: ProjectOpt = Path("segmint.yaml"),
    out: Annotated[Path | None, typer.Option("--out", "-o", help="HTML file (default: report.html in the project folder).")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Assignments date (YYYY-MM-DD); latest by default.")] = None,
) -> None:
    """Write the segment report: one self-contained HTML file that opens offline.

    Example: segmint report --out report.html
    """
    path = _project(project).report(out.resolve() if out else None, as_of=_date(as_of))
    console.print(f"report written to {path}")


@app.command()
def version() -> None:
    """Print the segmint version.

    Example: segmint version
    """
    from segmint import __version__

    console.print(__version__)


@app.command()
def generate(
    clients: int = typer.Option(..., "--clients", help="Number of clients (about 90 transactions each)."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed writes identical files."),
    faults: float = typer.Option(
        0.0, "--faults", help="Rate of each fault kind per row (0 = clean); see truth/faults.csv."
    ),
    start: dt.datetime | None = typer.Option(
        None, "--start", formats=["%Y-%m-%d"], help="First simulated day (default: END minus 3 years)."
    ),
    end: dt.datetime = typer.Option(
        "2025-12-31", "--end", formats=["%Y-%m-%d"], help="Last simulated day."
    ),
    migration_rate: float = typer.Option(
        0.10, "--migration-rate", help="Share of clients changing segment in the last 26 weeks."
    ),
    chunk_size: int = typer.Option(
        50_000, "--chunk-size", help="Clients per part file (a multiple of 1,000)."
    ),
    campaigns: int = typer.Option(
        0, "--campaigns", help="Randomised campaigns to run (planted effect per persona; docs/experiments.md)."
    ),
) -> None:
    """Write a synthetic bank (CRM, transactions, holdings, engagement, profitability).

    Also writes the planted segments and faults under truth/ and a ready segmint.yaml.

    Example: segmint generate --clients 10000 --out demo-bank --faults 0.001
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from segmint.datasets import generate_bank

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task("clients", total=clients)
        data = generate_bank(
            out,
            n_clients=clients,
            seed=seed,
            faults=faults,
            start=start.date() if start else None,
            end=end.date(),
            migration_rate=migration_rate,
            chunk_size=chunk_size,
            progress=lambda done, total: bar.update(task, completed=done),
            campaigns=campaigns,
        )
    console.print(
        f"wrote {data.n_clients:,} clients, {data.n_transactions:,} transactions, "
        f"{data.n_holdings:,} holdings, {data.n_engagement:,} engagement events, "
        f"{data.n_profitability:,} profitability rows, {data.n_faults:,} faults, "
        f"{data.n_migrants:,} migrants"
        + (f", {data.n_exposures:,} campaign exposures" if data.n_exposures else "")
        + f" to {data.out_dir}",
        highlight=False,
    )
    console.print(f"project file: {data.config}", highlight=False)


@app.command()
def segment(
    as_of: str = typer.Option(None, "--as-of", help="Features snapshot date (default: latest)."),
    out: str = typer.Option(None, "--out", help="Also write assignments to FILE.parquet or .csv."),
    refit: bool = typer.Option(False, "--refit", help="Refit every dimension."),
    project: ProjectOpt = Path("segmint.yaml"),
) -> None:
    """Assign every client to a segment of each dimension (fit when needed).

    Example: segmint segment --as-of 2024-06-30 --out segments.parquet
    """
    out_path = Path(out).resolve() if out else None  # relative to where the command runs
    run = _project(project).segment(_date(as_of), refit=refit, out=out_path, load=False)
    table = Table(title=f"Segments as of {run.as_of}")
    for col in ("dimension", "segment", "name", "clients"):
        table.add_column(col)
    for r in run.sizes.itertuples(index=False):
        table.add_row(r.dimension, r.segment_id, r.segment_name, f"{r.clients:,}")
    console.print(table)
    for name, mv in run.models.items():
        state = "fitted" if name in run.fitted else "applied"
        console.print(f"{name}: {state} version {mv.version} ({mv.method}, k={mv.k})")
    for name, why in run.skipped.items():
        console.print(f"{name}: skipped ({why})")


def _run_with_progress(proj, *, as_of=None, report=None, allow_shrink=False, strict=None):
    with _progress() as bar:
        task = bar.add_task("ingest", total=5)

        def tick(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        return proj.run(
            as_of=as_of, report=report, progress=tick, allow_shrink=allow_shrink, strict=strict
        )


def print_notes(notes) -> None:
    """One line per note: what was left out or is short (never silent)."""
    for note in notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)


def print_run_summary(run) -> None:
    from segmint.disclosure import SUPPRESSED, show_count, suppression_note

    print_ingest_report(run.ingest)
    table = Table(title=f"Segments as of {run.as_of} ({run.n_clients:,} clients, {run.n_features} features)")
    for col in ("dimension", "segment", "name", "clients", "share"):
        table.add_column(col, justify="right" if col in {"clients", "share"} else "left")
    for dim in run.catalog.dimensions:
        for i, seg in enumerate(dim.segments):
            table.add_row(
                dim.dimension if i == 0 else "",
                seg.segment_id,
                seg.name,
                show_count(seg.profile.size),
                SUPPRESSED if seg.profile.share is None else f"{seg.profile.share:.1%}",
                end_section=i == len(dim.segments) - 1,
            )
    console.print(table)
    if any(seg.profile.suppressed for dim in run.catalog.dimensions for seg in dim.segments):
        console.print(suppression_note(run.catalog.min_cell), highlight=False)
    scores = run.scores
    if scores is not None and (scores.scored or scores.skipped):
        done = ", ".join(f"{m} v{v}" for m, v in scores.scored.items()) or "none"
        console.print(f"propensity scores: {done}" + "".join(
            f"; {m} not scored ({why})" for m, why in scores.skipped.items()))
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in run.timings.items())
    console.print(f"stages: {timings}")
    print_notes(run.notes)
    console.print(f"report: {run.report}", highlight=False)


@app.command()
def run(
    project: ProjectOpt = Path("segmint.yaml"),
    as_of: Annotated[str | None, typer.Option("--as-of", help="Snapshot date (default: latest transaction).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Report file (default: report.html beside the project file).")] = None,
    allow_shrink: AllowShrinkOpt = False,
    strict: Annotated[bool, typer.Option("--strict", help="Stop after ingestion (non-zero exit) when the data is short of the readiness minimums.")] = False,
) -> None:
    """Run the whole pipeline: ingest, readiness check, features, segment, catalog, report.

    Data short of the `readiness:` minimums (default 12 months of transactions, 500
    clients with repeat activity) is a warning, or with --strict an error naming what
    is short.

    Example: segmint run -p my-project/segmint.yaml --as-of 2025-12-31 --strict
    """
    proj = _project(project)
    print_run_summary(
        _run_with_progress(
            proj, as_of=_date(as_of), report=out, allow_shrink=allow_shrink,
            strict=True if strict else None,
        )
    )


@app.command()
def demo(
    dataset: Annotated[str, typer.Option(help="bank (synthetic, generated) or cdnow (real purchase data).")] = "bank",
    directory: Annotated[Path | None, typer.Option("--dir", help="Folder for the demo project (default: ./segmint-demo-DATASET).")] = None,
    clients: Annotated[int, typer.Option(help="Clients to generate (bank only).")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed (bank only).")] = 0,
) -> None:
    """Generate a demo project and run the whole pipeline on it.

    `bank` generates a synthetic bank with planted segments (see docs/generator.md);
    `cdnow` uses the real CDNOW purchase histories shipped with segmint.

    Example: segmint demo --dataset cdnow
    """
    from segmint.errors import ConfigError

    if dataset not in ("bank", "cdnow"):
        raise ConfigError(f"--dataset {dataset!r}: expected 'bank' or 'cdnow'")
    directory = directory or Path(f"segmint-demo-{dataset}")
    if dataset == "bank":
        from segmint.datasets import generate_bank

        with _progress() as bar:
            task = bar.add_task("generate", total=clients)
            data = generate_bank(
                directory, n_clients=clients, seed=seed,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        config = data.config
        console.print(f"generated {data.n_clients:,} clients and {data.n_transactions:,} transactions in {directory}")
    else:
        from segmint.datasets import write_cdnow_project

        config = write_cdnow_project(directory)
        console.print(f"wrote the CDNOW project to {directory}")
    proj = _project(config)
    print_run_summary(_run_with_progress(proj))

def print_cycle(result) -> None:
    table = Table(title=f"Cycle {result.cycle_id} (previous: {result.previous_as_of or 'none'})")
    for col in ("dimension", "version", "clients", "reclassified", "ARI", "up", "down", "stable core"):
        table.add_column(col, justify="left" if col == "dimension" else "right")

    def fmt(x, spec="{:,}"):
        import pandas as pd

        return "-" if x is None or pd.isna(x) else spec.format(x)

    for r in result.stability.itertuples(index=False):
        table.add_row(
            r.dimension, str(r.model_version), f"{r.clients:,}", fmt(r.reclassification_rate, "{:.1%}"),
            fmt(r.ari, "{:.3f}"), fmt(r.upward), fmt(r.downward), fmt(r.stable_core),
        )
    console.print(table)
    console.print(
        f"{result.changes:,} history changes; refitted: {', '.join(result.refitted) or 'none'}; "
        f"{len(result.upward):,} clients on an upward trajectory",
        highlight=False,
    )
    for a in result.alerts:
        style = {"critical": "bold red", "warning": "yellow"}.get(a.severity, "dim")
        console.print(f"[{style}]{a.severity}[/] {a.rule}: {a.message}", highlight=False)
    if not result.alerts:
        console.print("no alerts")
    if result.webhook is not None:
        console.print(f"webhook: {result.webhook}", highlight=False)


@app.command()
def update(
    project: ProjectOpt = Path("segmint.yaml"),
    as_of: Annotated[str | None, typer.Option("--as-of", help="Cycle date (default: latest transaction).")] = None,
    refit: Annotated[bool, typer.Option("--refit", help="Refit every dimension, keeping segment identities.")] = False,
    ingest: Annotated[bool, typer.Option("--ingest/--no-ingest", help="Refresh the sources first.")] = True,
    allow_shrink: AllowShrinkOpt = False,
    force_as_of: Annotated[bool, typer.Option("--force-as-of", help="Accept an --as-of after the newest data or after today.")] = False,
    undo: Annotated[str | None, typer.Option("--undo", metavar="AS_OF", help="Roll back the cycle of AS_OF and every later one, instead of running a cycle.")] = None,
) -> None:
    """Run one update cycle: ingest, features, assign, record history, migration, drift and alerts.

    An --as-of after the newest loaded data or after today is refused (cycles run forward,
    so it would block every later cycle) unless --force-as-of; --undo AS_OF rolls back a
    cycle and the ones after it, leaving the warehouse as it was before it.

    Example: segmint update -p my-project/segmint.yaml --as-of 2025-12-31
    """
    if undo is not None:
        days = _project(project).undo(_date(undo))
        console.print("undone: " + ", ".join(d.isoformat() for d in days), highlight=False)
        return
    print_cycle(
        _project(project).update(
            _date(as_of), refit=refit, ingest=ingest, force_as_of=force_as_of,
            allow_shrink=allow_shrink,
        )
    )


@app.command()
def history(
    client_id: Annotated[str, typer.Argument(help="The client's id.")],
    project: ProjectOpt = Path("segmint.yaml"),
) -> None:
    """Show one client's segment path in every dimension.

    Example: segmint history C00000042
    """
    frame = _project(project).history(client_id)
    if frame.empty:
        console.print(f"no history for client {client_id}", highlight=False)
        return
    table = Table(title=f"Segment history of {client_id}")
    for col in ("dimension", "segment", "name", "version", "from", "to"):
        table.add_column(col)
    for r in frame.itertuples(index=False):
        table.add_row(
            r.dimension, r.segment_id, r.segment_name, str(r.model_version),
            str(r.valid_from.date() if hasattr(r.valid_from, "date") else r.valid_from),
            "current" if r.valid_to is None or r.valid_to != r.valid_to else str(
                r.valid_to.date() if hasattr(r.valid_to, "date") else r.valid_to
            ),
        )
    console.print(table)


@app.command()
def schedule(
    every: Annotated[str, typer.Option("--every", help="Interval: 30m, 6h, 1d.")],
    project: ProjectOpt = Path("segmint.yaml"),
    max_cycles: Annotated[int | None, typer.Option("--max-cycles", help="Stop after N cycles (default: run until stopped).")] = None,
    ingest: Annotated[bool, typer.Option("--ingest/--no-ingest", help="Refresh the sources at each cycle.")] = True,
) -> None:
    """Run the update cycle at an interval, in the foreground, logging each cycle.

    For production, prefer cron or an orchestrator calling `segmint update` (docs/monitoring.md).

    Example: segmint schedule --every 1d
    """
    import logging

    from segmint.monitoring import parse_interval, run_schedule

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    interval = parse_interval(every)
    proj = _project(project)
    run_schedule(lambda: proj.update(ingest=ingest), interval, max_cycles=max_cycles)


features_app = typer.Typer(no_args_is_help=False)
app.add_typer(features_app, name="features")

@features_app.callback(invoke_without_command=True)
def features(
    ctx: typer.Context,
    as_of: str | None = typer.Option(
        None, "--as-of", help="Use only data up to the end of this day (YYYY-MM-DD)."
    ),
    out: Path | None = typer.Option(None, "--out", help="Also write the features to a Parquet file."),
    project: ProjectOpt = Path("segmint.yaml"),
) -> None:
    """Compute every client's features as of a date and store the snapshot in the warehouse.

    Example: segmint features --as-of 2024-06-30 --out features.parquet
    """
    if ctx.invoked_subcommand is not None:
        return
    if as_of is None:
        raise typer.BadParameter("give --as-of DATE, or a subcommand (list)", param_hint="--as-of")
    from segmint.project import Project

    proj = Project.from_yaml(project)
    result = proj.snapshot_features(as_of)
    if out is not None:
        proj.features_frame(as_of).to_parquet(out, index=False)
    console.print(
        f"{result.rows} clients x {len(result.columns) - 1} features as of {as_of} "
        "stored in the warehouse table `features`" + (f" and written to {out}" if out else "")
    )
    print_notes(result.notes)


@features_app.command("list")
def features_list(
    project: Path | None = typer.Option(
        None, "--project", "-p", help="Project file whose `features:` options to show."
    ),
) -> None:
    """Print the feature catalog: name, group, definition and unit of every feature.

    Example: segmint features list
    """
    from rich.table import Table

    from segmint.config import load_config
    from segmint.features.docs import catalog

    if project is not None:
        cfg = load_config(project)
        rows = catalog(cfg.features, currency=cfg.contracts.currency)
    else:
        rows = catalog()
    table = Table("name", "group", "definition", "unit", show_lines=False)
    for r in rows:
        table.add_row(r["name"], r["group"], f"{r['description']}\n[dim]{r['definition']}[/]", r["unit"])
    console.print(table)


events_app = typer.Typer(no_args_is_help=True, help="Event-triggered re-scoring.")
app.add_typer(events_app, name="events")


@events_app.command("ingest")
def events_ingest(
    file: Path = typer.Argument(..., help="CSV or Parquet of events (client_id, ts, event_type, ...)."),
    as_of: str | None = typer.Option(
        None, "--as-of", help="Re-score as of this day (default: latest event or transaction day)."
    ),
    project: ProjectOpt = Path("segmint.yaml"),
) -> None:
    """Store events, evaluate the `events:` rules and re-score the clients they mark.

    Example: segmint events ingest events.csv
    """
    from segmint.project import Project

    result = Project.from_yaml(project).ingest_events(file, as_of=as_of)
    console.print(
        f"{result.n_events} events stored; {len(result.clients)} client(s) triggered "
        f"as of {result.as_of}"
    )
    for rule, n in result.triggers.groupby("rule").client_id.nunique().items():
        console.print(f"  {rule}: {n}")
    if result.rescore is not None:
        console.print(
            f"{len(result.rescore.features)} re-scored; {len(result.rescore.changes)} segment "
            "change(s) recorded in `segment_history`"
        )


propensity_app = typer.Typer(
    no_args_is_help=True, help="Propensity models: fit, evaluate on time, score every client."
)
app.add_typer(propensity_app, name="propensity")


def _metrics_table(metrics: dict) -> Table:
    table = Table("scorer", "ROC AUC", "PR AUC", "Brier", "ECE", "top-decile lift")
    for key, m in metrics["scorers"].items():
        label = key if key != "naive" else f"naive ({m.get('rule')})"
        cells = [m.get(c) for c in ("roc_auc", "pr_auc", "brier", "ece", "top_decile_lift")]
        table.add_row(label, *("-" if v is None else f"{v:.3f}" for v in cells))
    return table


@propensity_app.command("fit")
def propensity_fit(
    name: str = typer.Argument(..., help="Model name under targeting.propensity."),
    project: ProjectOpt = Path("segmint.yaml"),
) -> None:
    """Fit a propensity model point-in-time, evaluate it on the latest complete date, store it.

    Example: segmint propensity fit churn
    """
    pv = _project(project).fit_propensity(name)
    m = pv.metrics
    counts = m["counts"]
    console.print(
        f"{name}: version {pv.version}; trained on {', '.join(pv.params['train_as_of'])} "
        f"({counts['training']['n']:,} examples, {counts['training']['positives']:,} positive), "
        f"calibrated on {pv.params['calibration_as_of']} "
        f"({m['calibration']['hgb']['method']}), evaluated on {m['evaluation_as_of']} "
        f"({counts['evaluation']['n']:,} examples, {counts['evaluation']['positives']:,} positive)"
    )
    console.print(_metrics_table(m))
    for note in pv.params["dropped"]:
        console.print(f"  note: {note}")


@propensity_app.command("evaluate")
def propensity_evaluate(
    name: str = typer.Argument(..., help="Model name under targeting.propensity."),
    as_of: str | None = typer.Option(
        None, "--as-of",
        help="Evaluate the stored model on this later date (its outcome window must be "
        "complete); default: the evaluation made at fit time.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON on stdout."),
    project: ProjectOpt = Path("segmint.yaml"),
) -> None:
    """Show a propensity model's evaluation on time: ROC/PR AUC, Brier, ECE, lift, drivers.

    Example: segmint propensity evaluate churn --json
    """
    import json

    metrics = _project(project).evaluate_propensity(name, as_of=_date(as_of))
    if as_json:
        sys.stdout.write(json.dumps(metrics, indent=2, default=str) + "\n")
        return
    console.print(f"{name} v{metrics['version']}, evaluated on {metrics['evaluation_as_of']}")
    console.print(_metrics_table(metrics))
    for d in metrics.get("drivers", [])[:5]:
        console.print(f"  driver: {d['label']} ({d['feature']}): AUC drop {d['importance']:.3f}")


@propensity_app.command("score")
def propensity_score(
    name: str | None = typer.Argument(None, help="Model to score (default: every declared one)."),
    as_of: str | None = typer.Option(
        None, "--as-of", help="Features snapshot to score (default: the latest)."
    ),
    project: ProjectOpt = Path("segmint.yaml"),
) -> None:
    """Score every client with a propensity model into `scores` and `propensity_<name>`.

    Example: segmint propensity score churn
    """
    result = _project(project).score_propensity(
        None if name is None else [name], as_of=_date(as_of)
    )
    for model, version in result.scored.items():
        console.print(f"{model}: version {version}, {result.clients:,} clients scored as of {result.as_of}")
    for model, why in result.skipped.items():
        console.print(f"{model}: not scored: {why}")
# -- governance ---------------------------------------------------------------------

audit_app = typer.Typer(no_args_is_help=True, help="Fairness audits.")
app.add_typer(audit_app, name="audit")
models_app = typer.Typer(no_args_is_help=True, help="Model versions: review, approve, pin, roll back.")
app.add_typer(models_app, name="models")
alerts_app = typer.Typer(no_args_is_help=True, help="Monitoring alerts.")
app.add_typer(alerts_app, name="alerts")
export_app = typer.Typer(no_args_is_help=True, help="Exports for sharing outside the warehouse.")
app.add_typer(export_app, name="export")

ActorOpt = Annotated[str | None, typer.Option("--by", help="Who decides (default: the OS user).")]
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="Why, for the audit log.")]


def _actor(by: str | None) -> str:
    from segmint.governance._audit_log import default_actor

    return by or default_actor()


@audit_app.command("fairness")
def audit_fairness(
    project: ProjectOpt = Path("segmint.yaml"),
    as_of: Annotated[str | None, typer.Option("--as-of", help="Assignments of this date (default: latest).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full audit as JSON.")] = False,
) -> None:
    """Audit segments (and audiences, propensity deciles, offers) for disparities between
    protected groups, and model inputs for proxies; exit 1 when the policy is breached.

    Example: segmint audit fairness --json > audit.json
    """
    import json

    from segmint.governance import audit_fairness as run_audit

    proj = _project(project)
    with proj.warehouse() as wh:
        audit = run_audit(wh, proj.config.governance.fairness, as_of=_date(as_of))
    if as_json:
        print(json.dumps(audit.to_dict(), indent=1, default=str))
    else:
        console.print(f"fairness audit as of {audit.as_of}: attributes "
                      f"{', '.join(audit.attributes) or 'none'}", highlight=False)
        for line in audit.findings():
            console.print(f"  {line}", highlight=False)
        for note in audit.notes:
            console.print(f"  note: {note}", highlight=False)
        console.print("passed" if audit.passed else f"FAILED: {len(audit.breaches())} breach(es)")
    if not audit.passed:
        raise typer.Exit(1)


@models_app.command("list")
def models_list(project: ProjectOpt = Path("segmint.yaml")) -> None:
    """List model versions and their status (applied, proposed, rejected, ...).

    Example: segmint models list
    """
    from segmint.governance import model_versions

    with _project(project).warehouse() as wh:
        frame = model_versions(wh)
    table = Table()
    for col in ("dimension", "version", "as_of", "k", "status", "pinned"):
        table.add_column(col)
    for r in frame.itertuples(index=False):
        table.add_row(r.dimension, str(r.version), str(r.as_of), str(r.k), r.status, "yes" if r.pinned else "")
    console.print(table)


@models_app.command("diff")
def models_diff(
    dimension: Annotated[str, typer.Argument(help="Dimension.")],
    version: Annotated[int, typer.Argument(help="Version to compare with the applied one.")],
    project: ProjectOpt = Path("segmint.yaml"),
) -> None:
    """Show what a proposed version changes: segments, shares, rules, fairness (JSON).

    Example: segmint models diff behaviour 3
    """
    import json

    from segmint.governance import proposal_diff

    proj = _project(project)
    with proj.warehouse() as wh:
        diff = proposal_diff(wh, dimension, version, fairness=proj.config.governance.fairness)
    print(json.dumps(diff, indent=1, default=str))


def _decision(action: str, dimension: str, version: int | None, project: Path, by, reason) -> None:
    from segmint import governance as gov

    proj = _project(project)
    seg = proj.config.segmentation
    with proj.warehouse() as wh:
        if action == "approve":
            gov.approve(wh, dimension, version, actor=_actor(by), reason=reason, config=seg)
        elif action == "reject":
            gov.reject(wh, dimension, version, actor=_actor(by), reason=reason)
        elif action == "pin":
            gov.pin(wh, dimension, version, actor=_actor(by), reason=reason, config=seg)
        elif action == "unpin":
            gov.unpin(wh, dimension, actor=_actor(by), reason=reason, config=seg)
        else:
            version = gov.rollback(wh, dimension, actor=_actor(by), reason=reason, config=seg)
    console.print(f"{dimension}: {action} done" + (f" (version {version})" if version else ""))


@models_app.command("approve")
def models_approve(
    dimension: Annotated[str, typer.Argument(help="Dimension.")],
    version: Annotated[int, typer.Argument(help="Proposed version.")],
    project: ProjectOpt = Path("segmint.yaml"), by: ActorOpt = None, reason: ReasonOpt = None,
) -> None:
    """Approve a proposed version: it applies from now on.

    Example: segmint models approve behaviour 3 --by alice --reason "reviewed diff"
    """
    _decision("approve", dimension, version, project, by, reason)


@models_app.command("reject")
def models_reject(
    dimension: Annotated[str, typer.Argument(help="Dimension.")],
    version: Annotated[int, typer.Argument(help="Proposed version.")],
    project: ProjectOpt = Path("segmint.yaml"), by: ActorOpt = None, reason: ReasonOpt = None,
) -> None:
    """Reject a proposed version: it never applies.

    Example: segmint models reject behaviour 3 --reason "segments not actionable"
    """
    _decision("reject", dimension, version, project, by, reason)


@models_app.command("pin")
def models_pin(
    dimension: Annotated[str, typer.Argument(help="Dimension.")],
    version: Annotated[int, typer.Argument(help="Version to hold the dimension at.")],
    project: ProjectOpt = Path("segmint.yaml"), by: ActorOpt = None, reason: ReasonOpt = None,
) -> None:
    """Hold a dimension at a version whatever is fitted later.

    Example: segmint models pin value 2
    """
    _decision("pin", dimension, version, project, by, reason)


@models_app.command("unpin")
def models_unpin(
    dimension: Annotated[str, typer.Argument(help="Dimension.")],
    project: ProjectOpt = Path("segmint.yaml"), by: ActorOpt = None, reason: ReasonOpt = None,
) -> None:
    """Release a pin.

    Example: segmint models unpin value
    """
    _decision("unpin", dimension, None, project, by, reason)


@models_app.command("rollback")
def models_rollback(
    dimension: Annotated[str, typer.Argument(help="Dimension.")],
    project: ProjectOpt = Path("segmint.yaml"), by: ActorOpt = None, reason: ReasonOpt = None,
) -> None:
    """Withdraw the applied version; the one before it applies again.

    Example: segmint models rollback behaviour --reason "complaints from branches"
    """
    _decision("rollback", dimension, None, project, by, reason)


@alerts_app.command("ack")
def alerts_ack(
    cycle_id: Annotated[str, typer.Argument(help="Cycle id (its as_of).")],
    rule: Annotated[str, typer.Argument(help="Alert rule.")],
    dimension: Annotated[str | None, typer.Option("--dimension", help="Only this dimension's alerts.")] = None,
    project: ProjectOpt = Path("segmint.yaml"), by: ActorOpt = None, reason: ReasonOpt = None,
) -> None:
    """Acknowledge alerts (recorded in the audit log).

    Example: segmint alerts ack 2024-06-30 share_shift --reason "seasonal"
    """
    from segmint.governance import acknowledge_alert

    with _project(project).warehouse() as wh:
        n = acknowledge_alert(wh, cycle_id, rule, actor=_actor(by), reason=reason, dimension=dimension)
    console.print(f"{n} alert(s) acknowledged")


@app.command()
def erase(
    client_ids: Annotated[list[str] | None, typer.Argument(help="Client ids to erase.")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="File of ids (one a line, or CSV/Parquet with client_id).")] = None,
    project: ProjectOpt = Path("segmint.yaml"), by: ActorOpt = None, reason: ReasonOpt = None,
) -> None:
    """Erase clients from every warehouse table and keep them out of later ingests.

    Needs the pseudonymisation key (governance.pseudonymise) for the tombstone; with the
    erasure key (governance.erasure) set, the tombstone survives a rotation of the first.

    Example: segmint erase C00000042 C00000043 --reason "erasure request 2024-117"
    """
    from segmint.governance import erase_clients, optional_key, pseudonym_key, read_ids

    proj = _project(project)
    ids = list(client_ids or []) + (read_ids(file) if file else [])
    gov = proj.config.governance
    key = pseudonym_key(gov.pseudonymise, proj.root)
    with proj.warehouse() as wh:
        result = erase_clients(wh, ids, key=key, erasure_key=optional_key(gov.erasure, proj.root),
                               actor=_actor(by), reason=reason)
    console.print(f"{len(ids)} client(s) erased: {result.total} row(s) in {len(result.rows)} table(s)")


@export_app.command("profiles")
def export_profiles_cmd(
    out: Annotated[Path, typer.Option("--out", help="CSV or JSON file to write.")],
    project: ProjectOpt = Path("segmint.yaml"),
    dp_epsilon: Annotated[float | None, typer.Option("--dp-epsilon", help="Release with differential-privacy noise, spending this epsilon.")] = None,
    mean: Annotated[list[str] | None, typer.Option("--mean", help="FEATURE or FEATURE:LO:HI (bounds required with --dp-epsilon); repeatable.")] = None,
    by: ActorOpt = None,
) -> None:
    """Export segment sizes, shares and feature means for sharing: small cells suppressed,
    or differentially private with --dp-epsilon.

    Example: segmint export profiles --out partner.csv --dp-epsilon 0.5 --mean clv_12m:0:5000
    """
    from segmint.errors import ParameterError
    from segmint.governance import export_profiles

    means: dict[str, tuple[float, float] | None] = {}
    for m in mean or []:
        parts = m.split(":")
        if len(parts) == 1:
            means[parts[0]] = None
        elif len(parts) == 3:
            try:
                means[parts[0]] = (float(parts[1]), float(parts[2]))
            except ValueError:
                raise ParameterError(f"--mean {m}: bounds must be numbers") from None
        else:
            raise ParameterError(f"--mean {m}: expected FEATURE or FEATURE:LO:HI")
    proj = _project(project)
    gov = proj.config.governance
    with proj.warehouse() as wh:
        frame = export_profiles(
            wh, proj.resolve(str(out)), min_cell=gov.min_cell, budget=gov.privacy_budget,
            dp_epsilon=dp_epsilon, means=means, actor=_actor(by),
        )
    console.print(f"{len(frame)} segment rows written to {out}")


@app.command()
def publish(project: ProjectOpt = Path("segmint.yaml")) -> None:
    """Publish the current segments, scores, history, catalog and alerts to the serving store.

    Runs at the end of `segmint run`, `segmint update` and event re-scoring anyway; use it
    after changing `serving:` or to publish by hand.

    Example: segmint publish -p my-project/segmint.yaml
    """
    pub = _project(project).publish(kind="manual", force=True)
    if pub is None:
        console.print("nothing to publish yet (run `segmint run` first)")
        return
    console.print(
        f"published {pub.publication_id}: {pub.clients:,} clients as of {pub.as_of} "
        f"to {pub.location} ({pub.seconds:.1f} s)",
        highlight=False,
    )


def _rescorer(proj):
    """The event re-scoring the service runs for POST /v1/events: store the events, re-score
    the clients the project's rules mark, publish."""

    def rescore(frame):
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "events.parquet"
            frame.to_parquet(path, index=False)
            result = proj.ingest_events(path)
        return {
            "events_stored": int(result.n_events),
            "clients_triggered": len(result.clients),
            "clients_rescored": 0 if result.rescore is None else len(result.rescore.features),
            "segment_changes": 0 if result.rescore is None else len(result.rescore.changes),
            "as_of": result.as_of.isoformat(),
        }

    return rescore


@app.command()
def serve(
    project: ProjectOpt = Path("segmint.yaml"),
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Serve the HTTP API and the dashboard from the serving store (FastAPI on uvicorn).

    The OpenAPI document is at /openapi.json and /docs; the dashboard at /dashboard.
    Create keys first with `segmint api-key create`.

    Example: segmint serve -p my-project/segmint.yaml --port 8000
    """
    import logging

    from segmint.api import app_for_project

    try:
        import uvicorn
    except ImportError:
        from segmint.errors import MissingDependencyError

        raise MissingDependencyError("uvicorn", "serve") from None

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    proj = _project(project)
    app_ = app_for_project(proj.config, proj.root, rescore=_rescorer(proj))
    uvicorn.run(app_, host=host, port=port, access_log=False, log_level="info")


keys_app = typer.Typer(no_args_is_help=True, help="API keys of the HTTP service (stored hashed).")
app.add_typer(keys_app, name="api-key")


def _state(proj):
    from segmint.api import ServiceState
    from segmint.api._store import resolve

    return ServiceState(resolve(proj.root, proj.config.serving.state))


@keys_app.command("create")
def api_key_create(
    role: Annotated[str, typer.Option("--role", help="admin, analyst, rm (relationship manager) or campaign.")],
    name: Annotated[str, typer.Option("--name", help="Who or what holds the key.")],
    book: Annotated[str | None, typer.Option("--book", help="The book (RM or branch) an rm key may see.")] = None,
    project: ProjectOpt = Path("segmint.yaml"),
) -> None:
    """Create an API key and print it once (only its hash is stored).

    Example: segmint api-key create --role rm --book North --name alice
    """
    key_id, key = _state(_project(project)).create_key(role=role, name=name, book=book)
    err_console.print(f"key {key_id} ({role}{', book ' + book if book else ''}) created; "
                      "it is shown once:", highlight=False)
    sys.stdout.write(key + "\n")


@keys_app.command("revoke")
def api_key_revoke(
    key_id: Annotated[str, typer.Argument(help="The key id (see `segmint api-key list`).")],
    project: ProjectOpt = Path("segmint.yaml"),
) -> None:
    """Revoke an API key (it stops working within seconds).

    Example: segmint api-key revoke 3f9c2a1b7e
    """
    from segmint.errors import ParameterError

    if not _state(_project(project)).revoke_key(key_id):
        raise ParameterError(f"api-key revoke: no active key {key_id!r}")
    console.print(f"key {key_id} revoked", highlight=False)


@keys_app.command("list")
def api_key_list(project: ProjectOpt = Path("segmint.yaml")) -> None:
    """List API keys (ids, names, roles, books; never the keys).

    Example: segmint api-key list
    """
    table = Table("key id", "name", "role", "book", "created", "revoked")
    for k in _state(_project(project)).list_keys():
        table.add_row(k.key_id, k.name, k.role, k.book or "", k.created_at, k.revoked_at or "")
    console.print(table)

from segmint._cli_experiment import experiment_app  # noqa: E402

app.add_typer(experiment_app, name="experiment")
# -- targeting ----------------------------------------------------------------------------
audience_app = typer.Typer(no_args_is_help=True, help="Audiences declared in segmint.yaml.")
app.add_typer(audience_app, name="audience")


def _frame_table(frame, title: str | None = None, *, missing: str = "") -> Table:
    """A frame as a table; a missing value reads ``missing`` (``suppressed`` for a frame
    of released counts)."""
    import pandas as pd

    table = Table(title=title)
    for col in frame.columns:
        table.add_column(str(col))
    for row in frame.itertuples(index=False):
        table.add_row(*[missing if v is None or (not isinstance(v, str) and pd.isna(v))
                        else (f"{v:.4g}" if isinstance(v, float) else str(v)) for v in row])
    return table


def _suppression_line(proj, any_suppressed) -> None:
    """Why a count reads "suppressed" (printed when one does)."""
    from segmint.disclosure import suppression_note

    if any_suppressed:
        console.print(suppression_note(proj.config.governance.min_cell), highlight=False)


@audience_app.command("build")
def audience_build(
    name: Annotated[str, typer.Argument(help="Audience name (a key of `audiences:`).")],
    project: ProjectOpt = Path("segmint.yaml"),
    as_of: Annotated[str | None, typer.Option("--as-of", help="Features date (default: latest).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Export the members to .csv or .parquet.")] = None,
    mark_contacted: Annotated[bool, typer.Option("--mark-contacted", help="Record the members in `contacts`.")] = False,
) -> None:
    """Select and store the next version of an audience; optionally export it.

    Example: segmint audience build card_upsell --out card_upsell.csv
    """
    from segmint.disclosure import show_count

    proj = _project(project)
    b = proj.build_audience(name, as_of=_date(as_of), out=out, mark_contacted=mark_contacted)
    info = proj.audience(name, version=b.version)  # the counts as released
    console.print(f"audience {b.audience} v{b.version} as of {b.as_of}: {show_count(info['members'])} "
                  f"members, {show_count(info['holdout'])} in the holdout"
                  + (f"; written to {out}" if out else ""), highlight=False)
    console.print("  " + ", ".join(f"{k} {show_count(v)}" for k, v in info["counts"].items()),
                  highlight=False)
    ch = info["changes"]
    if ch:
        console.print(f"  since v{b.version - 1}: +{show_count(ch['added'])} -{show_count(ch['removed'])} "
                      f"(kept {show_count(ch['kept'])})", highlight=False)
    for note in b.notes:
        console.print(f"  note: {note}", highlight=False)
    _suppression_line(proj, info["suppressed"])


@audience_app.command("list")
def audience_list(project: ProjectOpt = Path("segmint.yaml")) -> None:
    """List declared and built audiences: latest version, size, changes since the build before.

    Example: segmint audience list
    """
    from segmint.disclosure import SUPPRESSED

    proj = _project(project)
    frame = proj.audiences()
    built = frame["version"].notna()
    counts = ["members", "holdout", "added", "removed"]
    # a built audience's missing count is suppressed; an unbuilt one has none
    shown = frame.drop(columns="suppressed").astype(object)
    for c in counts:
        shown.loc[built & frame[c].isna(), c] = SUPPRESSED
    console.print(_frame_table(shown, "Audiences"))
    _suppression_line(proj, frame["suppressed"].any())


@audience_app.command("show")
def audience_show(
    name: Annotated[str, typer.Argument(help="Audience name.")],
    project: ProjectOpt = Path("segmint.yaml"),
    version: Annotated[int | None, typer.Option("--version", help="Build version (default: latest).")] = None,
) -> None:
    """Show a build: counts at each selection step, notes, changes and segment mix.

    Example: segmint audience show card_upsell
    """
    from segmint.disclosure import SUPPRESSED, show_count

    proj = _project(project)
    info = proj.audience(name, version=version)
    console.print(f"audience {name} v{info['version']} as of {info['as_of']}: "
                  f"{show_count(info['members'])} members, {show_count(info['holdout'])} holdout",
                  highlight=False)
    console.print("  " + ", ".join(f"{k} {show_count(v)}" for k, v in info["counts"].items()),
                  highlight=False)
    if info["changes"]:
        console.print("  changes: " + ", ".join(f"{k} {show_count(v)}" for k, v in info["changes"].items()),
                      highlight=False)
    for note in info["notes"]:
        console.print(f"  note: {note}", highlight=False)
    console.print(_frame_table(info["segments"], "Members by segment", missing=SUPPRESSED))
    _suppression_line(proj, info["suppressed"])


@audience_app.command("overlap")
def audience_overlap_cmd(
    names: Annotated[list[str] | None, typer.Argument(help="Audiences (default: all built).")] = None,
    project: ProjectOpt = Path("segmint.yaml"),
) -> None:
    """Members shared by the latest builds of audiences (the diagonal holds the sizes).

    Example: segmint audience overlap card_upsell savers
    """
    from segmint.disclosure import SUPPRESSED

    proj = _project(project)
    matrix = proj.audience_overlap(names)
    console.print(_frame_table(matrix.reset_index(), "Overlap", missing=SUPPRESSED))
    _suppression_line(proj, bool(matrix.isna().to_numpy().any()))


@audience_app.command("export")
def audience_export(
    name: Annotated[str, typer.Argument(help="Audience name.")],
    out: Annotated[Path, typer.Option("--out", help="A .csv or .parquet file.")],
    project: ProjectOpt = Path("segmint.yaml"),
    version: Annotated[int | None, typer.Option("--version", help="Build version (default: latest).")] = None,
) -> None:
    """Write a stored build's members with segment names, scores and reasons.

    Example: segmint audience export card_upsell --out card_upsell.parquet
    """
    path = _project(project).export_audience(name, out, version=version)
    console.print(f"written to {path}", highlight=False)


@app.command()
def lookalike(
    project: ProjectOpt = Path("segmint.yaml"),
    segment: Annotated[str | None, typer.Option("--segment", help="Seed segment as DIMENSION=SEGMENT.")] = None,
    audience: Annotated[str | None, typer.Option("--audience", help="Seed audience (latest build).")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="Seed client list (.csv/.parquet with client_id).")] = None,
    method: Annotated[str, typer.Option("--method", help="cosine, centroid or classifier.")] = "cosine",
    holdout: Annotated[float, typer.Option("--holdout", help="Seed share held out for fidelity.")] = 0.3,
    drop_atypical: Annotated[float, typer.Option("--drop-atypical", help="Share of least typical seed members dropped.")] = 0.0,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Features date (default: latest).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the ranked clients to .csv or .parquet.")] = None,
) -> None:
    """Rank clients by similarity to a seed and print the reach-versus-fidelity curve.

    Example: segmint lookalike --segment behaviour=behaviour-3 --out lookalikes.csv
    """
    from segmint.errors import ParameterError

    seed: dict = {}
    if segment:
        if "=" not in segment:
            raise ParameterError(f"--segment {segment!r}: expected DIMENSION=SEGMENT")
        dim, seg = segment.split("=", 1)
        seed["segment"] = {dim: seg}
    if audience:
        seed["audience"] = audience
    if file:
        seed["file"] = str(file)
    if len(seed) != 1:
        raise ParameterError("give exactly one of --segment, --audience or --file")
    res = _project(project).lookalike(seed, as_of=_date(as_of), method=method, holdout=holdout,
                                      drop_atypical=drop_atypical)
    console.print(f"seed {res.seed_size:,} clients ({res.heldout_size:,} held out), space of "
                  f"{res.dimension}, method {res.method}; seed mean {res.value}: "
                  f"{res.seed_value if res.seed_value is None else f'{res.seed_value:.4g}'}", highlight=False)
    console.print(_frame_table(res.curve.iloc[:: max(1, len(res.curve) // 10)], "Reach vs fidelity"))
    if res.curve_optimised is not None:
        reach = 2 * res.heldout_size
        n_drop = int(res.typicality.atypical.sum())
        console.print(f"without the {n_drop} least typical seed members, fidelity at reach {reach:,}: "
                      f"{res.recovered_at(reach, res.curve_optimised):.1%} (all: {res.recovered_at(reach):.1%})",
                      highlight=False)
    if out is not None:
        suffix = out.suffix.lower()
        if suffix == ".parquet":
            res.scores.to_parquet(out, index=False)
        elif suffix == ".csv":
            res.scores.to_csv(out, index=False)
        else:
            raise ParameterError(f"--out {out}: expected a .csv or .parquet file")
        console.print(f"{len(res.scores):,} ranked clients written to {out}", highlight=False)


@app.command()
def nbo(
    project: ProjectOpt = Path("segmint.yaml"),
    as_of: Annotated[str | None, typer.Option("--as-of", help="Features date (default: latest).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the offers to .csv or .parquet.")] = None,
) -> None:
    """Rank each client's eligible offers (`nbo:`) under the contact policy; store `nbo_offers`.

    Example: segmint nbo --out offers.csv
    """
    res = _project(project).next_best_offers(as_of=_date(as_of), out=out)
    console.print(f"{len(res.offers):,} offers to {res.offers.client_id.nunique():,} clients as of "
                  f"{res.as_of} (from {res.candidates:,} eligible pairs, {res.rounds} policy rounds); "
                  "by channel: " + ", ".join(f"{k} {v:,}" for k, v in res.channel_use.items()),
                  highlight=False)
    console.print(_frame_table(res.by_segment, "Best offer per segment"))


@app.command()
def profitability(
    dimension: Annotated[str, typer.Argument(help="Dimension whose segments to rank.")],
    project: ProjectOpt = Path("segmint.yaml"),
    as_of: Annotated[str | None, typer.Option("--as-of", help="Features date (default: latest).")] = None,
    months: Annotated[int, typer.Option("--months", help="Window in months.")] = 12,
) -> None:
    """Fully loaded profitability per segment: revenue, each cost, margin, CLV; losses flagged.

    Example: segmint profitability value --months 12
    """
    frame = _project(project).profitability(dimension, as_of=_date(as_of), months=months)
    console.print(_frame_table(frame.drop(columns=["dimension"]), f"Profitability of {dimension}"))


@app.command()
def affinity(
    project: ProjectOpt = Path("segmint.yaml"),
    dimension: Annotated[str | None, typer.Option("--dimension", help="Also per segment of this dimension.")] = None,
    items: Annotated[str, typer.Option("--items", help="products or categories.")] = "products",
    min_count: Annotated[int, typer.Option("--min-count", help="Smallest count shown.")] = 10,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Features date (default: latest).")] = None,
) -> None:
    """Cross-sell affinity: association rules and upgrade paths, globally and per segment.

    Example: segmint affinity --dimension behaviour
    """
    rules, paths = _project(project).affinity(dimension=dimension, items=items, as_of=_date(as_of),
                                              min_count=min_count)
    console.print(_frame_table(rules.head(30), f"Rules ({items})"))
    if not paths.empty:
        console.print(_frame_table(paths.head(30), "Upgrade paths"))


if __name__ == "__main__":
    main()
