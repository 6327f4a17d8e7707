"""The ``segmint`` command line: a thin shell over :class:`segmint.Project`.

Each command parses options, makes one or two library calls and prints.
User errors (:class:`segmint.SegmintError`) become a one-line message and a
non-zero exit code, never a traceback.
"""

from __future__ import annotations

import datetime as dt
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
        )
    console.print(
        f"wrote {data.n_clients:,} clients, {data.n_transactions:,} transactions, "
        f"{data.n_holdings:,} holdings, {data.n_engagement:,} engagement events, "
        f"{data.n_profitability:,} profitability rows, {data.n_faults:,} faults, "
        f"{data.n_migrants:,} migrants to {data.out_dir}",
        highlight=False,
    )
    console.print(f"project file: {data.config}", highlight=False)


if __name__ == "__main__":
    main()
