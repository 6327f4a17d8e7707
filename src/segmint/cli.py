"""The ``segmint`` command line: a thin shell over :class:`segmint.Project`.

Each command parses options, makes one or two library calls and prints.
User errors (:class:`segmint.SegmintError`) become a one-line message and a
non-zero exit code, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

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


features_app = typer.Typer(no_args_is_help=False)
app.add_typer(features_app, name="features")

_PROJECT_OPTION = typer.Option(
    Path("segmint.yaml"), "--project", "-p", help="Project file (or its folder)."
)


@features_app.callback(invoke_without_command=True)
def features(
    ctx: typer.Context,
    as_of: str | None = typer.Option(
        None, "--as-of", help="Use only data up to the end of this day (YYYY-MM-DD)."
    ),
    out: Path | None = typer.Option(None, "--out", help="Also write the features to a Parquet file."),
    project: Path = _PROJECT_OPTION,
) -> None:
    """Compute every client's features as of a date and store the snapshot in the warehouse.

    Example: segmint features --as-of 2024-06-30 --out features.parquet
    """
    if ctx.invoked_subcommand is not None:
        return
    if as_of is None:
        raise typer.BadParameter("give --as-of DATE, or a subcommand (list)", param_hint="--as-of")
    from segmint.project import Project

    frame = Project.from_yaml(project).features(as_of)
    if out is not None:
        frame.to_parquet(out, index=False)
    console.print(
        f"{len(frame)} clients x {frame.shape[1] - 1} features as of {as_of} "
        "stored in the warehouse table `features`" + (f" and written to {out}" if out else "")
    )


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


if __name__ == "__main__":
    main()
