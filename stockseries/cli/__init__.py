"""The ``stockseries`` command line: batch jobs over event files.

Every sub-command reads any supported event source (CSV, Parquet, NDJSON, a directory or a glob),
writes CSV, Parquet or NDJSON chosen by the output extension, and turns bad input into a one-line
message on stderr and exit status 2 — never a traceback.

Each sub-command lives in its own module of this package and registers itself with
:func:`stockseries.cli._registry.command`; :func:`build_parser` imports every module whose name
does not start with ``_``. Shared options and helpers are in :mod:`stockseries.cli._options`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence
from typing import Any

from stockseries.cli._options import EXIT_BAD_INPUT, fail
from stockseries.cli._registry import COMMANDS, Command

__all__ = ["EXIT_BAD_INPUT", "build_parser", "main"]


def _load_commands() -> list[Command]:
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")
    return sorted(COMMANDS.values(), key=lambda command: (command.order, command.name))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every registered sub-command."""
    from stockseries import __version__

    parser = argparse.ArgumentParser(
        prog="stockseries",
        description="Inventory event streams: stock levels, per-item series, spike alerts.",
    )
    parser.add_argument("--version", action="version", version=f"stockseries {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in _load_commands():
        p = sub.add_parser(
            command.name,
            help=command.help,
            description=command.description or command.help,
            formatter_class=_HelpFormatter,
        )
        command.arguments(p)
        p.set_defaults(func=command.run)
    return parser


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default after its help, unless the help already says it in words
    ("(default: the method's)"), which would otherwise be followed by "(default: None)"."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if "(default:" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``stockseries`` console script; returns the exit status."""
    import polars as pl

    from stockseries.events import EventValidationError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        status: int = _run(args)
    except BrokenPipeError:
        # The reader went away (``stockseries ... | head``): not an error of ours. Point stdout
        # at /dev/null so the interpreter's final flush does not complain either.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("stockseries: interrupted", file=sys.stderr)
        return 130
    except EventValidationError as exc:
        return fail(_validation_message(exc))
    except (ValueError, pl.exceptions.PolarsError) as exc:
        return fail(str(exc))
    except OSError as exc:  # missing file, full disk, permission denied ...
        return fail(_os_message(exc))
    except ImportError as exc:  # an optional extra that is not installed
        return fail(str(exc))
    return status


def _run(args: argparse.Namespace) -> int:
    """Run the command; the outputs it staged (``args.pending_outputs``, e.g. the
    ``--rejected`` rows) are renamed into place if it succeeds and removed if not, so that a
    failed command leaves none of its files."""
    pending: list[Any] = []
    args.pending_outputs = pending
    committed = 0
    try:
        status: int = args.func(args)
        if status == 0:
            for staged in pending:
                staged.commit()
                committed += 1
        return status
    finally:
        for staged in pending[committed:]:
            staged.abort()


def _validation_message(exc: Any) -> str:
    """The error with the command line's way out instead of the API's."""
    text = str(exc)
    if exc.hint.startswith("(pass strict=False"):
        text = text.replace(
            exc.hint, "(--rejected FILE keeps the valid rows and writes the others there)"
        )
    return text


def _os_message(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError) and exc.filename is None:
        return str(exc)
    where = f": {exc.filename}" if exc.filename else ""
    return f"{exc.strerror or exc}{where}" if exc.strerror else str(exc)
