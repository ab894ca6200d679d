"""``stockseries levels`` and ``stockseries series``: events → stock levels / bucketed series."""

from __future__ import annotations

import argparse

from stockseries.cli._cluster import add_cluster_options, on_cluster, run_on_cluster
from stockseries.cli._options import (
    add_events_input,
    add_out_of_core_options,
    is_out_of_core,
    read_initial,
    read_input_events,
    run_out_of_core,
)
from stockseries.cli._registry import command


def _levels_arguments(p: argparse.ArgumentParser) -> None:
    add_events_input(p)
    p.add_argument("-o", "--output", required=True, help="output file (.csv/.parquet/.ndjson)")
    p.add_argument("--initial", help="CSV/Parquet with columns item_id,initial (integers)")
    add_cluster_options(p)


@command(
    "levels",
    help="running stock level after every event",
    arguments=_levels_arguments,
    order=20,
)
def run_levels(args: argparse.Namespace) -> int:
    """Write every event with the item's running stock level."""
    if on_cluster(args):
        return run_on_cluster(args)
    from stockseries._io import write_frame
    from stockseries.stock import stock_levels

    levels = stock_levels(read_input_events(args), initial=read_initial(args.initial))
    write_frame(levels, args.output, inputs=(args.events, args.initial, args.rejected))
    print(f"wrote {levels.height:,} events with running stock levels to {args.output}")
    return 0


def _series_arguments(p: argparse.ArgumentParser) -> None:
    add_events_input(p)
    p.add_argument("--every", default="1m", help="bucket size, e.g. 90s, 1m, 15min, 1h30m, 1d")
    p.add_argument("-o", "--output", required=True, help="output file (.csv/.parquet/.ndjson)")
    p.add_argument("--initial", help="CSV/Parquet with columns item_id,initial (integers)")
    p.add_argument("--sparse", action="store_true", help="only non-empty buckets")
    add_out_of_core_options(p)
    add_cluster_options(p)


@command("series", help="dense per-item time series", arguments=_series_arguments, order=30)
def run_series(args: argparse.Namespace) -> int:
    """Write the per-item bucketed series (out of core for a folder)."""
    if on_cluster(args):
        return run_on_cluster(args)
    from stockseries._io import check_output, write_frame
    from stockseries._schema import SERIES_COLUMNS
    from stockseries.series import resample

    if is_out_of_core(args):
        check_output(args.output, (args.events, args.initial))
        result = run_out_of_core(
            args,
            series_out=args.output,
            series_columns=SERIES_COLUMNS,
            dense=not args.sparse,
            initial=read_initial(args.initial),
        )
        print(
            f"wrote {result.series_rows:,} {args.every} buckets for {result.items} items "
            f"to {args.output}"
        )
        return 0
    series = resample(
        read_input_events(args),
        every=args.every,
        initial=read_initial(args.initial),
        dense=not args.sparse,
    )
    write_frame(series, args.output, inputs=(args.events, args.initial, args.rejected))
    items = series["item_id"].n_unique()
    print(f"wrote {series.height:,} {args.every} buckets for {items} items to {args.output}")
    return 0
