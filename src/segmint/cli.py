"""The ``segmint`` command line: a thin shell over :class:`segmint.Project`.

Each command parses options, makes one or two library calls and prints.
User errors (:class:`segmint.SegmintError`) become a one-line message and a
non-zero exit code, never a traceback.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

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


def main() -> None:
    """Entry point: run the app, turning user errors into clean messages."""
    try:
        app()  # standalone: click prints usage errors itself and exits 2
    except SegmintError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)


@app.callback()
def _root() -> None:
    """Automated client segmentation and profiling.

    Example: segmint demo
    """


@app.command()
def version() -> None:
    """Print the segmint version.

    Example: segmint version
    """
    from segmint import __version__

    console.print(__version__)


@app.command()
def segment(
    as_of: str = typer.Option(None, "--as-of", help="Features snapshot date (default: latest)."),
    out: str = typer.Option(None, "--out", help="Also write assignments to FILE.parquet or .csv."),
    refit: bool = typer.Option(False, "--refit", help="Refit every dimension."),
    project: str = typer.Option(".", "--project", "-p", help="Project file or folder."),
) -> None:
    """Assign every client to a segment of each dimension (fit when needed).

    Example: segmint segment --as-of 2024-06-30 --out segments.parquet
    """
    import datetime as dt
    from pathlib import Path

    from rich.table import Table

    from segmint.errors import ConfigError
    from segmint.project import Project

    try:
        date = dt.date.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise ConfigError(f"--as-of {as_of!r}: expected a date like 2024-06-30") from None
    out_path = Path(out).resolve() if out else None  # relative to where the command runs
    run = Project.from_yaml(project).segment(date, refit=refit, out=out_path, load=False)
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


if __name__ == "__main__":
    main()
