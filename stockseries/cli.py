"""The ``stockseries`` command line: batch jobs over event files.

Every sub-command reads any supported event source (CSV, Parquet, NDJSON, a directory or a glob),
writes CSV, Parquet or NDJSON chosen by the output extension, and turns bad input into a one-line
message on stderr and exit status 2 — never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from stockseries._io import read_table, write_frame
from stockseries.spikes.methods import METHODS, method_options, option_methods

#: Exit status for bad input or bad arguments (argparse uses 2 as well).
EXIT_BAD_INPUT = 2

#: Detection settings used by ``stockseries demo``. ``tune`` found them on a *different*
#: simulated data set (``simulate(20, days=2, seed=1)``), not on the bundled one, so the
#: demo's scores are honest out-of-sample figures.
DEMO_PARAMS: dict[str, Any] = {
    "method": "zscore",
    "window": 120,
    "k": 6.0,
    "min_demand": 4,
    "smooth": 10,
}


# --------------------------------------------------------------------------- helpers


def _fail(message: str) -> int:
    print(f"stockseries: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _read_initial(path: str | None) -> pl.DataFrame | None:
    if path is None:
        return None
    table = read_table(path)
    missing = {"item_id", "initial"} - set(table.columns)
    if missing:
        raise ValueError(
            f"--initial {path}: missing column(s) {', '.join(sorted(missing))}; "
            "expected a table with columns item_id,initial"
        )
    return table.select(pl.col("item_id").cast(pl.String), pl.col("initial").cast(pl.Int64))


def _read_labels(path: str) -> pl.DataFrame:
    return read_table(path, datetime_columns=("start", "end")).with_columns(
        pl.col("item_id").cast(pl.String)
    )


def _read_alerts(path: str) -> pl.DataFrame:
    return read_table(path, datetime_columns=("start", "end", "peak_ts")).with_columns(
        pl.col("item_id").cast(pl.String)
    )


def _detect_options(args: argparse.Namespace) -> dict[str, Any]:
    """Detector keyword arguments from the shared detection options."""
    options: dict[str, Any] = {"method": args.method, "k": args.k, "min_demand": args.min_demand}
    # No --window means the method's own default (60 buckets, 7 periods for seasonal, none for
    # threshold, which would refuse one).
    if args.window is not None:
        options["window"] = args.window
    if args.min_periods is not None:
        options["min_periods"] = args.min_periods
    if args.smooth != 1:
        options["smooth"] = args.smooth
    for option in method_options():
        value = getattr(args, option.name)
        # Flags left unset (None, or False for switches) mean the method's own default.
        if value is not None and value is not False:
            options[option.name] = value
    return options


def _episode_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "merge_gap": args.merge_gap,
        "min_buckets": args.min_buckets,
        "cooldown": args.cooldown,
    }


def _suppliers(events: pl.DataFrame, catalog_path: str | None) -> pl.DataFrame | None:
    if catalog_path is not None:
        return read_table(catalog_path).select(
            pl.col("item_id").cast(pl.String), pl.col("supplier_id").cast(pl.String)
        )
    if "supplier_id" in events.columns:
        return (
            events.select("item_id", "supplier_id")
            .drop_nulls()
            .unique("item_id", keep="first", maintain_order=True)
        )
    return None


def _replay_suppliers(source: str, catalog_path: str | None) -> pl.DataFrame | None:
    """Item → supplier map for a replay, read up front so alerts match ``detect``'s."""
    from stockseries.events import scan_events

    if catalog_path is not None:
        return _suppliers(pl.DataFrame(), catalog_path)
    scan = scan_events(source)
    if "supplier_id" not in scan.collect_schema().names():
        return None
    # Two columns of a lazy scan: cheap even when the events themselves are streamed.
    return _suppliers(scan.select("item_id", "supplier_id").collect(), None)


def _out_of_core(args: argparse.Namespace) -> bool:
    """``--out-of-core``, ``--in-memory``, or automatic: out of core for a directory."""
    if args.out_of_core or args.in_memory:
        return bool(args.out_of_core)
    return Path(args.events).is_dir()


def _run_out_of_core(args: argparse.Namespace, **options: Any) -> Any:
    from stockseries.outofcore import ChunkOrderError, _compact, run_out_of_core

    try:
        return run_out_of_core(
            args.events,
            every=args.every,
            lateness=args.lateness,
            progress=not args.quiet,
            epoch_unit=args.epoch_unit,
            **options,
        )
    except ChunkOrderError as exc:
        raise ValueError(
            f"{exc} On the command line: --lateness {_compact(int(exc.needed.total_seconds()))}, or "
            "--in-memory if the data fits in memory."
        ) from exc


def _print_frame(frame: pl.DataFrame, rows: int = 10) -> None:
    with pl.Config(tbl_rows=rows, tbl_cols=12, tbl_width_chars=120, tbl_hide_dataframe_shape=True):
        print(frame)


# --------------------------------------------------------------------------- commands


def cmd_simulate(args: argparse.Namespace) -> int:
    from stockseries.generate import simulate

    sim = simulate(
        args.items,
        start=args.start,
        days=args.days,
        seed=args.seed,
        base_rate=args.base_rate,
        n_spikes=args.spikes,
    )
    write_frame(sim.events, args.output)
    if args.labels:
        write_frame(sim.labels, args.labels)
    if args.catalog:
        write_frame(sim.catalog, args.catalog)
    print(f"wrote {sim.events.height:,} events for {args.items} items to {args.output}")
    if args.labels:
        print(f"wrote {sim.labels.height} spike labels to {args.labels}")
    return 0


def cmd_levels(args: argparse.Namespace) -> int:
    from stockseries.events import read_events
    from stockseries.stock import stock_levels

    levels = stock_levels(
        read_events(args.events, epoch_unit=args.epoch_unit), initial=_read_initial(args.initial)
    )
    write_frame(levels, args.output)
    print(f"wrote {levels.height:,} events with running stock levels to {args.output}")
    return 0


def cmd_series(args: argparse.Namespace) -> int:
    from stockseries._schema import SERIES_COLUMNS
    from stockseries.events import read_events
    from stockseries.series import resample

    if _out_of_core(args):
        result = _run_out_of_core(
            args,
            series_out=args.output,
            series_columns=SERIES_COLUMNS,
            dense=not args.sparse,
            initial=_read_initial(args.initial),
        )
        print(
            f"wrote {result.series_rows:,} {args.every} buckets for {result.items} items "
            f"to {args.output}"
        )
        return 0
    series = resample(
        read_events(args.events, epoch_unit=args.epoch_unit),
        every=args.every,
        initial=_read_initial(args.initial),
        dense=not args.sparse,
    )
    write_frame(series, args.output)
    items = series["item_id"].n_unique()
    print(f"wrote {series.height:,} {args.every} buckets for {items} items to {args.output}")
    return 0


def _detect(args: argparse.Namespace) -> Any:
    """Alerts of an in-memory run; never builds the dense series (see ``detect_alerts``)."""
    from stockseries.alerts import detect_alerts
    from stockseries.events import read_events

    events = read_events(args.events, epoch_unit=args.epoch_unit)
    return detect_alerts(
        events,
        args.every,
        initial=_read_initial(args.initial),
        suppliers=_suppliers(events, args.catalog),
        **_episode_options(args),
        **_detect_options(args),
    )


def cmd_detect(args: argparse.Namespace) -> int:
    if _out_of_core(args):
        from stockseries.outofcore import _first_suppliers

        suppliers = (
            _suppliers(pl.DataFrame(), args.catalog)
            if args.catalog
            else _first_suppliers(args.events)
        )
        found = _run_out_of_core(
            args,
            initial=_read_initial(args.initial),
            suppliers=suppliers,
            **_detect_options(args),
            **_episode_options(args),
        ).alerts
    else:
        found = _detect(args)
    write_frame(found.frame, args.output)
    print(f"{len(found)} alert(s) written to {args.output}")
    if len(found):
        _print_frame(found.frame.select("item_id", "start", "end", "peak_demand", "threshold"))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from stockseries.alerts import evaluate

    scores = evaluate(_read_alerts(args.alerts), _read_labels(args.labels))
    if args.output:
        write_frame(scores, args.output)
    _print_frame(scores, rows=30)
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from stockseries.alerts import tune
    from stockseries.events import read_events
    from stockseries.series import resample

    series = resample(read_events(args.events, epoch_unit=args.epoch_unit), every=args.every)
    options: dict[str, Any] = {"methods": tuple(args.methods), "objective": args.objective}
    if args.target_recall is not None:
        options["target_recall"] = args.target_recall
    if args.max_false_per_day is not None:
        options["max_false_per_day"] = args.max_false_per_day
    result = tune(series, _read_labels(args.labels), progress=not args.quiet, **options)
    if args.output:
        write_frame(result.trials, args.output)
    print(f"tried {result.trials.height} settings; best:")
    print(json.dumps(result.best, indent=2, default=str))
    if args.params_out:
        Path(args.params_out).write_text(json.dumps(result.best, indent=2, default=str) + "\n")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from stockseries.live import replay_file

    source: Any = args.events
    if args.epoch_unit is not None:
        from stockseries.events import read_events

        source = read_events(args.events, epoch_unit=args.epoch_unit)
    found = replay_file(
        source,
        frame_size=args.frame_size,
        every=args.every,
        lateness=args.lateness,
        checkpoint=args.checkpoint,
        suppliers=_replay_suppliers(args.events, args.catalog),
        **_detect_options(args),
        **_episode_options(args),
    )
    write_frame(found.frame, args.output)
    print(f"{len(found)} alert(s) written to {args.output}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from stockseries.demo import run_demo

    summary = run_demo(Path(args.output), progress=not args.quiet)
    print(summary)
    return 0


# --------------------------------------------------------------------------- parser


def _add_detection_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("detection")
    group.add_argument("--every", default="1m", help="bucket size, e.g. 90s, 1m, 7m, 1h, 1d")
    group.add_argument(
        "--method",
        default="zscore",
        choices=METHODS,
    )
    group.add_argument(
        "--window",
        type=int,
        default=None,
        help="baseline length in buckets (default: 60; seasonal: 7 periods; threshold: none)",
    )
    group.add_argument("--k", type=float, default=3.0, help="threshold multiplier")
    group.add_argument("--min-periods", type=int, default=None)
    group.add_argument("--min-demand", type=float, default=0)
    group.add_argument(
        "--smooth", type=int, default=1, help="compare the mean of the last N buckets"
    )
    for option in method_options():
        help_text = f"{', '.join(option_methods(option.name))}: {option.help}"
        if option.kind == "bool":
            group.add_argument(option.flag, action="store_true", help=help_text)
        else:
            kind = {"int": int, "float": float, "level": float}.get(option.kind, str)
            group.add_argument(option.flag, type=kind, default=None, help=help_text)
    episodes = parser.add_argument_group("alert episodes")
    episodes.add_argument("--merge-gap", type=int, default=0)
    episodes.add_argument("--min-buckets", type=int, default=1)
    episodes.add_argument("--cooldown", type=int, default=0)
    parser.add_argument("--initial", help="CSV/Parquet with columns item_id,initial")
    parser.add_argument("--catalog", help="CSV/Parquet with item_id,supplier_id")


def _add_out_of_core_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "larger-than-memory input",
        "A directory is processed out of core (one hive partition or file at a time, results "
        "streamed to the output; streamed series rows are not sorted); a file in memory.",
    )
    mode = group.add_mutually_exclusive_group()
    mode.add_argument(
        "--out-of-core", action="store_true", help="process out of core even for a single file"
    )
    mode.add_argument(
        "--in-memory", action="store_true", help="read everything into memory even for a directory"
    )
    group.add_argument(
        "--lateness",
        default="0s",
        help="out of core: how far partitions/files may overlap in time, e.g. 10m",
    )
    group.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stockseries",
        description="Inventory event streams: stock levels, per-item series, spike alerts.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("simulate", help="write simulated order/delivery events")
    p.add_argument("-o", "--output", required=True, help="events file (.csv/.parquet/.ndjson)")
    p.add_argument("--labels", help="also write the injected spike labels here")
    p.add_argument("--catalog", help="also write the item catalog here")
    p.add_argument("--items", type=int, default=20)
    p.add_argument("--days", type=float, default=2.0)
    p.add_argument("--start", default="2024-01-01")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--base-rate", type=float, default=1.0, help="orders per item per minute")
    p.add_argument("--spikes", type=int, default=None, help="number of injected spikes")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("levels", help="running stock level after every event")
    p.add_argument("events")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--initial", help="CSV/Parquet with columns item_id,initial")
    p.set_defaults(func=cmd_levels)

    p = sub.add_parser("series", help="dense per-item time series")
    p.add_argument("events")
    p.add_argument("--every", default="1m")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--initial", help="CSV/Parquet with columns item_id,initial")
    p.add_argument("--sparse", action="store_true", help="only non-empty buckets")
    _add_out_of_core_options(p)
    p.set_defaults(func=cmd_series)

    p = sub.add_parser("detect", help="demand-spike alerts")
    p.add_argument("events")
    p.add_argument("-o", "--output", required=True, help="alerts file")
    _add_detection_options(p)
    _add_out_of_core_options(p)
    p.set_defaults(func=cmd_detect)

    p = sub.add_parser("evaluate", help="score alerts against labelled spike windows")
    p.add_argument("alerts")
    p.add_argument("labels")
    p.add_argument("-o", "--output", help="also write the scores here")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("tune", help="search detector settings against labels")
    p.add_argument("events")
    p.add_argument("labels")
    p.add_argument("--every", default="1m")
    p.add_argument("--methods", nargs="+", default=["zscore"])
    p.add_argument("--objective", default="f1")
    p.add_argument("--target-recall", type=float, default=None)
    p.add_argument("--max-false-per-day", type=float, default=None)
    p.add_argument("-o", "--output", help="write every setting tried here")
    p.add_argument("--params-out", help="write the best parameters as JSON here")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("replay", help="run an event file through the incremental processor")
    p.add_argument("events")
    p.add_argument("--frame-size", type=int, default=10_000)
    p.add_argument("--lateness", default="0s")
    p.add_argument("--checkpoint", help="resume from / save state to this file")
    p.add_argument("-o", "--output", required=True, help="alerts file")
    _add_detection_options(p)
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("demo", help="the main job on the bundled data: report + alerts")
    p.add_argument("-o", "--output", default="out", help="folder for report.html and alerts.csv")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_demo)
    for name, command in sub.choices.items():
        if name not in ("simulate", "evaluate", "demo"):
            command.add_argument(
                "--epoch-unit",
                choices=("s", "ms", "us", "ns"),
                default=None,
                help="unit of integer epoch timestamps in EVENTS (ISO-8601 needs none)",
            )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``stockseries`` console script; returns the exit status."""
    from stockseries.events import EventValidationError

    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except EventValidationError as exc:
        return _fail(str(exc))
    except (FileNotFoundError, ValueError, pl.exceptions.PolarsError) as exc:
        return _fail(str(exc))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
