"""Options and helpers shared by the sub-commands (public names for the command modules).

A command that reads events calls :func:`add_events_input` when it builds its arguments and
:func:`read_input_events` when it runs, so every such command accepts the same input options.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import polars as pl

from stockseries._io import read_table
from stockseries.spikes.methods import METHODS, method_options, option_methods

__all__ = [
    "EXIT_BAD_INPUT",
    "add_detection_options",
    "add_events_input",
    "add_out_of_core_options",
    "detect_options",
    "episode_options",
    "fail",
    "is_out_of_core",
    "print_frame",
    "read_alerts",
    "read_initial",
    "read_input_events",
    "read_labels",
    "replay_suppliers",
    "run_out_of_core",
    "suppliers",
]

#: Exit status for bad input or bad arguments (argparse uses 2 as well).
EXIT_BAD_INPUT = 2


def fail(message: str) -> int:
    """Print ``stockseries: error: message`` on stderr and return :data:`EXIT_BAD_INPUT`."""
    print(f"stockseries: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


# --------------------------------------------------------------------------- input


def add_events_input(parser: argparse.ArgumentParser) -> None:
    """The ``EVENTS`` argument and the options that say how to read it."""
    parser.add_argument(
        "events", help="event file (.csv/.parquet/.ndjson), a folder of them or a glob"
    )
    parser.add_argument(
        "--epoch-unit",
        choices=("s", "ms", "us", "ns"),
        default=None,
        help="unit of integer epoch timestamps in EVENTS (ISO-8601 needs none)",
    )


def read_input_events(args: argparse.Namespace) -> pl.DataFrame:
    """The validated events named by :func:`add_events_input`'s options."""
    from stockseries.events import read_events

    events: pl.DataFrame = read_events(args.events, epoch_unit=args.epoch_unit)
    return events


def read_initial(path: str | None) -> pl.DataFrame | None:
    """``--initial``: a table with columns ``item_id,initial``."""
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


def read_labels(path: str) -> pl.DataFrame:
    """A labels table (``item_id,start,end``) with UTC timestamps."""
    return read_table(path, datetime_columns=("start", "end")).with_columns(
        pl.col("item_id").cast(pl.String)
    )


def read_alerts(path: str) -> pl.DataFrame:
    """An alerts table written by ``detect``/``replay`` with UTC timestamps."""
    return read_table(path, datetime_columns=("start", "end", "peak_ts")).with_columns(
        pl.col("item_id").cast(pl.String)
    )


def suppliers(events: pl.DataFrame, catalog_path: str | None) -> pl.DataFrame | None:
    """Item → supplier from ``--catalog``, else from the events' ``supplier_id`` column."""
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


def replay_suppliers(source: str, catalog_path: str | None) -> pl.DataFrame | None:
    """Item → supplier map for a replay, read up front so alerts match ``detect``'s."""
    from stockseries.events import scan_events

    if catalog_path is not None:
        return suppliers(pl.DataFrame(), catalog_path)
    scan = scan_events(source)
    if "supplier_id" not in scan.collect_schema().names():
        return None
    # Two columns of a lazy scan: cheap even when the events themselves are streamed.
    return suppliers(scan.select("item_id", "supplier_id").collect(), None)


# --------------------------------------------------------------------------- detection


def add_detection_options(parser: argparse.ArgumentParser) -> None:
    """Bucket size, detector and alert-episode options (``detect``, ``replay``)."""
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


def detect_options(args: argparse.Namespace) -> dict[str, Any]:
    """Detector keyword arguments from :func:`add_detection_options`' options."""
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


def episode_options(args: argparse.Namespace) -> dict[str, Any]:
    """Alert-episode keyword arguments (``merge_gap``, ``min_buckets``, ``cooldown``)."""
    return {
        "merge_gap": args.merge_gap,
        "min_buckets": args.min_buckets,
        "cooldown": args.cooldown,
    }


# --------------------------------------------------------------------------- out of core


def add_out_of_core_options(parser: argparse.ArgumentParser) -> None:
    """``--out-of-core``/``--in-memory``, ``--lateness`` and ``--quiet``."""
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


def is_out_of_core(args: argparse.Namespace) -> bool:
    """``--out-of-core``, ``--in-memory``, or automatic: out of core for a directory."""
    if args.out_of_core or args.in_memory:
        return bool(args.out_of_core)
    return Path(args.events).is_dir()


def run_out_of_core(args: argparse.Namespace, **options: Any) -> Any:
    """:func:`stockseries.outofcore.run_out_of_core` with the command's input options."""
    from stockseries._time import format_duration
    from stockseries.outofcore import ChunkOrderError
    from stockseries.outofcore import run_out_of_core as run

    try:
        return run(
            args.events,
            every=args.every,
            lateness=args.lateness,
            progress=not args.quiet,
            epoch_unit=args.epoch_unit,
            **options,
        )
    except ChunkOrderError as exc:
        needed = format_duration(int(exc.needed.total_seconds()) * 1_000_000)
        raise ValueError(
            f"{exc} On the command line: --lateness {needed}, or "
            "--in-memory if the data fits in memory."
        ) from exc


# --------------------------------------------------------------------------- output


def print_frame(frame: pl.DataFrame, rows: int = 10) -> None:
    """Print a small table on stdout."""
    with pl.Config(tbl_rows=rows, tbl_cols=12, tbl_width_chars=120, tbl_hide_dataframe_shape=True):
        print(frame)
