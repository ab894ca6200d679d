"""``stockseries report``: the demo's self-contained report for your own events."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from stockseries.cli._options import (
    add_detection_options,
    add_events_input,
    detect_options,
    episode_options,
    read_initial,
    read_input_events,
    read_labels,
    suppliers,
)
from stockseries.cli._registry import command

# Keys of a settings file (tune --params-out, SpikeTuner.export_json) that are not settings.
_NOT_SETTINGS = ("items",)


def _arguments(p: argparse.ArgumentParser) -> None:
    add_events_input(p)
    p.add_argument("-o", "--output", required=True, help="folder for report.html and alerts.csv")
    p.add_argument("--labels", help="labelled spikes (item_id,start,end) to score the alerts")
    add_detection_options(p)
    if "--params" not in p._option_string_actions:  # until the shared options carry it
        p.add_argument(
            "--params",
            metavar="FILE",
            help="settings file written by tune --params-out (or SpikeTuner.export_json)",
        )
    p.add_argument(
        "--interactive",
        action="store_true",
        help="charts with tooltips and zoom, Vega inlined (still one offline file, ~1 MB more)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _settings(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """Bucket size and detector + episode settings: ``--params`` file, else the flags."""
    from stockseries.cli import _options

    resolve = getattr(_options, "detection_settings", None)
    if resolve is not None:  # the shared --params reader (flags given on top win)
        found = resolve(args).to_dict()
        found.pop("every", None)
        return args.every, found
    if args.params is None:
        return args.every or "1m", {**detect_options(args), **episode_options(args)}
    try:
        values = json.loads(Path(args.params).read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"--params {args.params}: not JSON ({exc})") from None
    if not isinstance(values, dict):
        raise ValueError(f"--params {args.params}: expected a JSON object of settings")
    every = values.pop("every", None) or args.every or "1m"
    return every, {k: v for k, v in values.items() if k not in _NOT_SETTINGS}


@command(
    "report",
    help="the demo's offline HTML report (and alerts.csv) for your own events",
    arguments=_arguments,
    order=85,
    description=(
        "Resample EVENTS, find stock-outs and demand-spike alerts, score them against --labels "
        "when given, and write DIR/report.html (self-contained, opens offline; records the "
        "settings, the data span and the version) and DIR/alerts.csv."
    ),
)
def run_report(args: argparse.Namespace) -> int:
    """Write ``report.html`` and ``alerts.csv`` for the events and print a summary."""
    from stockseries.demo import run_report as report

    every, settings = _settings(args)
    events = read_input_events(args)
    labels = read_labels(args.labels) if args.labels else None
    source = {"events": args.events}
    if args.labels:
        source["labels"] = args.labels
    if args.params:
        source["settings file"] = args.params
    summary = report(
        events,
        Path(args.output),
        settings=settings,
        every=every,
        labels=labels,
        suppliers=suppliers(events, args.catalog),
        initial=read_initial(args.initial),
        title=f"stockseries report — {Path(args.events).name}",
        source=source,
        interactive=args.interactive,
        progress=not args.quiet,
    )
    print(summary)
    return 0
