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


if __name__ == "__main__":
    main()
