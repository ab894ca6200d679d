"""The table of sub-commands: each command module registers its own with :func:`command`.

A new sub-command is a new module in :mod:`stockseries.cli` (any name not starting with ``_``)
that decorates its run function::

    from stockseries.cli._registry import command

    def _arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("events", help="...")

    @command("mything", help="one line for the command list", arguments=_arguments, order=70)
    def run_mything(args: argparse.Namespace) -> int:
        ...  # import heavy modules here, not at the top: `stockseries --help` stays fast
        return 0

:func:`stockseries.cli.build_parser` imports every such module, so nothing else needs editing.
Commands are listed by ``order``, then by name.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["COMMANDS", "Command", "command"]

Run = Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class Command:
    """One sub-command: its name, one-line help, how to add its arguments and how to run it."""

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Run
    order: int = 100
    description: str | None = None


#: Every registered sub-command by name (filled as the command modules are imported).
COMMANDS: dict[str, Command] = {}


def command(
    name: str,
    *,
    help: str,
    arguments: Callable[[argparse.ArgumentParser], None],
    order: int = 100,
    description: str | None = None,
) -> Callable[[Run], Run]:
    """Register the decorated function as the sub-command ``name``."""

    def register(run: Run) -> Run:
        if name in COMMANDS and COMMANDS[name].run is not run:
            raise RuntimeError(f"two sub-commands are called {name!r}")
        COMMANDS[name] = Command(name, help, arguments, run, order, description)
        return run

    return register
