"""The command line: parse options, call the library, render, map the outcome to an exit code.

Nothing else lives here. Imports of the library happen inside each command so that
``reconcile --help`` stays fast. ``reconcile [PATH...]`` with no sub-command converges (the
same as ``reconcile apply``); ``--dry-run`` and ``--watch`` select ``plan`` and ``watch``.
Exit codes: 0 success or no changes, 1 any error, 2 changes present (``plan`` with
``--detailed-exitcode``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

from reconciler import __version__

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2

# Flags that choose a mode of the default command rather than being options of it.
_MODE_FLAGS = {"--dry-run": "plan", "--watch": "watch"}


class _ReconcileGroup(click.Group):
    """A group whose default command is ``apply``: ``reconcile specs/`` converges ``specs/``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if any(arg in ("--help", "-h", "--version") for arg in args[:1]):
            return super().parse_args(ctx, args)
        for flag, command in _MODE_FLAGS.items():
            if flag in args and (not args or args[0] not in self.commands):
                args = [command, *[a for a in args if a != flag]]
                break
        if not args or args[0] not in self.commands:
            args = ["apply", *args]
        return super().parse_args(ctx, args)


def _fail(message: str) -> NoReturn:
    click.echo(f"reconcile: {message}", err=True)
    sys.exit(EXIT_ERROR)


def _report_invalid(error: Any) -> NoReturn:
    """Print every diagnostic of an ``InvalidInputError`` and exit 1."""
    for diagnostic in error.diagnostics:
        click.echo(str(diagnostic), err=True)
    count = len(error.diagnostics)
    files = len({d.file for d in error.diagnostics})
    click.echo(
        f"{count} problem{'s' if count != 1 else ''} in {files} file{'s' if files != 1 else ''};"
        " nothing was sent to any provider.",
        err=True,
    )
    sys.exit(EXIT_ERROR)


def _paths(paths: Sequence[str]) -> list[Path]:
    return [Path(p) for p in paths] or [Path("specs")]


@click.group(
    cls=_ReconcileGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="reconcile")
def cli() -> None:
    """Make fine-tuning jobs on Segmind, Qubrid and Cohere match the YAML specs in git.

    \b
    reconcile [PATH...]            converge: plan, then apply
    reconcile --dry-run [PATH...]  plan only, no write request of any kind
    reconcile --watch [PATH...]    the daemon
    """


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
def validate(paths: tuple[str, ...]) -> None:
    """Check specs and their datasets offline (no network). Default PATH: specs/."""
    from reconciler.diagnostics import InvalidInputError
    from reconciler.specs import load_specs

    try:
        specs = load_specs(_paths(paths))
    except InvalidInputError as error:
        _report_invalid(error)
    files = len({spec.source.file for spec in specs})
    click.echo(
        f"ok: {len(specs)} spec{'s' if len(specs) != 1 else ''} in {files}"
        f" file{'s' if files != 1 else ''} valid"
    )


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8765, show_default=True, type=int, help="0 picks a free port.")
@click.option(
    "--data",
    "data_dir",
    default=".reconcile/sandbox",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for the sandbox's SQLite state.",
)
@click.option(
    "--speed",
    default=60.0,
    show_default=True,
    type=float,
    help="Simulated seconds per real second for job progress.",
)
def sandbox(host: str, port: int, data_dir: str, speed: float) -> None:
    """Serve the embedded Segmind/Qubrid/Cohere emulator until interrupted."""
    from reconciler.sandbox.server import serve_forever

    serve_forever(host=host, port=port, data_dir=Path(data_dir), speed=speed)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: no traceback ever reaches the user unless asked for."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="reconcile")
    except KeyboardInterrupt:
        click.echo("reconcile: interrupted", err=True)
        sys.exit(130)
    except Exception as error:  # the last line of defence; each command handles its own errors
        if os.environ.get("RECONCILE_DEBUG"):
            raise
        _fail(
            f"internal error: {type(error).__name__}: {error}"
            " (set RECONCILE_DEBUG=1 to see where, and please report it)"
        )
