"""``stockseries evaluate`` and ``stockseries tune``: alerts against labelled spikes."""

from __future__ import annotations

import argparse
import json
from typing import Any

from stockseries.cli._options import (
    add_events_input,
    number,
    print_frame,
    read_alerts,
    read_input_events,
    read_labels,
)
from stockseries.cli._registry import command
from stockseries.spikes.methods import METHOD_TABLE


def _evaluate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("alerts", help="alerts file written by detect or replay")
    p.add_argument(
        "labels", help="labelled spike windows (item_id,start,end), e.g. simulate --labels"
    )
    p.add_argument("-o", "--output", help="also write the scores here")


@command(
    "evaluate",
    help="score alerts against labelled spike windows",
    arguments=_evaluate_arguments,
    order=50,
)
def run_evaluate(args: argparse.Namespace) -> int:
    """Print (and optionally write) precision, recall, F1 ... of an alerts file."""
    from stockseries._io import write_frame
    from stockseries.alerts import evaluate

    scores = evaluate(read_alerts(args.alerts), read_labels(args.labels))
    if args.output:
        write_frame(scores, args.output, inputs=(args.alerts, args.labels))
    print_frame(scores, rows=30)
    return 0


#: Methods ``tune`` can search, and what it can maximise.
TUNABLE = tuple(name for name, spec in METHOD_TABLE.items() if spec.tunable)
OBJECTIVES = ("f1", "precision", "recall")


def _tune_arguments(p: argparse.ArgumentParser) -> None:
    add_events_input(p)
    p.add_argument("labels", help="labelled spike windows (item_id,start,end)")
    p.add_argument("--every", default="1m", help="bucket size, e.g. 1m, 15min, 1h")
    p.add_argument(
        "--methods", nargs="+", default=["zscore"], choices=TUNABLE, help="methods to search"
    )
    p.add_argument(
        "--objective",
        default="f1",
        choices=OBJECTIVES,
        help="what the best setting maximises",
    )
    p.add_argument(
        "--target-recall",
        type=number,
        default=None,
        help="among settings with at least this recall, pick the fewest false alerts",
    )
    p.add_argument(
        "--max-false-per-day",
        type=number,
        default=None,
        help="false alerts per item-day allowed (alone: the highest recall within it)",
    )
    p.add_argument(
        "--false-alarm-penalty",
        type=number,
        default=0.0,
        help="objective minus this many times the false alerts per item-day",
    )
    p.add_argument(
        "--validation",
        choices=("items", "time"),
        default=None,
        help="cross-validate over items (each held out once, k refit on the others) or "
        "choose on the last third of the time span",
    )
    p.add_argument(
        "--directions",
        nargs="+",
        default=["up"],
        choices=("up", "down", "both"),
        help="directions to try: spikes (up), drops (down) or both",
    )
    p.add_argument(
        "--transforms",
        nargs="+",
        default=["none"],
        choices=("none", "sqrt", "log1p", "auto"),
        help="signal transforms to try (none: raw demand); auto, alone: one chosen from the "
        "data without the labels (stockseries.choose_transform), best with few labelled events",
    )
    p.add_argument("-o", "--output", help="write every setting tried here")
    p.add_argument(
        "--params-out",
        help="write the best settings (detection and episode rules) as JSON here; "
        "detect/replay --params read it",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


@command(
    "tune",
    help="search detector settings against labels",
    arguments=_tune_arguments,
    order=60,
)
def run_tune(args: argparse.Namespace) -> int:
    """Search detector settings; print the best and optionally write trials and params."""
    from stockseries._io import atomic_write, check_output, write_frame
    from stockseries.alerts import tune
    from stockseries.series import resample

    inputs = (args.events, args.labels)
    for output in (args.output, args.params_out):
        if output is not None:
            check_output(output, inputs)
    series = resample(read_input_events(args), every=args.every)
    options: dict[str, Any] = {"methods": tuple(args.methods), "objective": args.objective}
    if args.target_recall is not None:
        options["target_recall"] = args.target_recall
    if args.max_false_per_day is not None:
        options["max_false_per_day"] = args.max_false_per_day
    options["false_alarm_penalty"] = args.false_alarm_penalty
    options["validation"] = args.validation
    options["directions"] = tuple(args.directions)
    options["transforms"] = tuple(None if name == "none" else name for name in args.transforms)
    result = tune(series, read_labels(args.labels), progress=not args.quiet, **options)
    if args.output:
        write_frame(result.trials, args.output, inputs=inputs)
    print(f"tried {result.trials.height} settings; best: {_best_scores(result.best_trial)}")
    if result.runner_up is not None:
        print(f"runner-up: {_best_scores(result.runner_up)}")
    print(f"chosen by: {result.objective}")
    settings = {"every": args.every, **result.params()}
    print(json.dumps(settings, indent=2, default=str))
    if args.params_out:
        atomic_write(args.params_out, json.dumps(settings, indent=2, default=str) + "\n")
    return 0


def _best_scores(row: dict[str, Any]) -> str:
    """A trial's scores, e.g. ``f1=0.912, precision=0.950, ...`` (and held-out ones)."""
    names = ["f1", "precision", "recall", "false_per_day"]
    names += [f"val_{name}" for name in names if f"val_{name}" in row]
    return ", ".join(
        f"{key}={'n/a' if row.get(key) is None else format(row[key], '.3f')}" for key in names
    )
