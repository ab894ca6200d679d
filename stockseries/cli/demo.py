"""``stockseries demo``: the main job on the bundled data."""

from __future__ import annotations

import argparse

from stockseries.cli._registry import command


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", default="out", help="folder for report.html and alerts.csv")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


@command(
    "demo",
    help="the main job on the bundled data: report + alerts",
    arguments=_arguments,
    order=90,
)
def run_demo(args: argparse.Namespace) -> int:
    """Run :func:`stockseries.demo.run_demo` and print its summary."""
    from pathlib import Path

    from stockseries.demo import run_demo as demo

    print(demo(Path(args.output), progress=not args.quiet))
    return 0
