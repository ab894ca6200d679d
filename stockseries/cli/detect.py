"""``stockseries detect`` and ``stockseries replay``: events → demand-spike alerts."""

from __future__ import annotations

import argparse
from typing import Any

import polars as pl

from stockseries.cli._cluster import add_cluster_options, on_cluster, run_on_cluster
from stockseries.cli._options import (
    add_detection_options,
    add_events_input,
    add_out_of_core_options,
    count,
    detect_options,
    detection_settings,
    episode_options,
    is_out_of_core,
    print_frame,
    read_initial,
    read_input_events,
    replay_suppliers,
    run_out_of_core,
    suppliers,
    warn_few_buckets,
    warn_short_history,
    write_alerts,
)
from stockseries.cli._registry import command


def _detect_arguments(p: argparse.ArgumentParser) -> None:
    add_events_input(p)
    p.add_argument("-o", "--output", required=True, help="alerts file")
    add_detection_options(p)
    add_out_of_core_options(p)
    add_cluster_options(p)


def _detect_in_memory(args: argparse.Namespace) -> Any:
    """Alerts of an in-memory run; never builds the dense series (see ``detect_alerts``)."""
    from stockseries.alerts import detect_alerts

    events = read_input_events(args)
    found = detect_alerts(
        events,
        args.every,
        initial=read_initial(args.initial),
        suppliers=suppliers(events, args.catalog),
        **episode_options(args),
        **detect_options(args),
    )
    warn_short_history(args, events, len(found))
    return found


@command("detect", help="demand-spike alerts", arguments=_detect_arguments, order=40)
def run_detect(args: argparse.Namespace) -> int:
    """Write the alerts of a batch run (out of core for a folder)."""
    detection_settings(args)  # --params and the flags, checked before any work
    if on_cluster(args):
        return run_on_cluster(args)
    from stockseries._io import check_output

    inputs = (args.events, args.initial, args.catalog, args.rejected, args.params)
    check_output(args.output, inputs)
    if is_out_of_core(args):
        from stockseries.outofcore import first_suppliers

        result = run_out_of_core(
            args,
            initial=read_initial(args.initial),
            suppliers=(
                suppliers(pl.DataFrame(), args.catalog)
                if args.catalog
                else first_suppliers(args.events)
            ),
            **detect_options(args),
            **episode_options(args),
        )
        found = result.alerts
        if not len(found):
            # No item holds more buckets than the whole series.
            warn_few_buckets(args, result.series_rows, at_most=True)
    else:
        found = _detect_in_memory(args)
    write_alerts(found, args.output, inputs)
    print(f"{len(found)} alert(s) written to {args.output}")
    if len(found):
        print_frame(found.frame.select("item_id", "start", "end", "peak_demand", "threshold"))
    return 0


def _replay_arguments(p: argparse.ArgumentParser) -> None:
    add_events_input(p)
    p.add_argument(
        "--frame-size", type=count(1), default=10_000, help="events pushed to the engine at a time"
    )
    p.add_argument("--lateness", default="0s", help="how late an event may arrive, e.g. 30s")
    p.add_argument(
        "--checkpoint",
        help="resume from / save state to this file; a checkpoint remembers the events it "
        "consumed and refuses an input that does not begin with them",
    )
    p.add_argument(
        "--restart",
        action="store_true",
        help="ignore an existing --checkpoint and start over (e.g. after the input changed)",
    )
    p.add_argument("-o", "--output", required=True, help="alerts file")
    add_detection_options(p)


@command(
    "replay",
    help="run an event file through the incremental processor",
    arguments=_replay_arguments,
    order=70,
)
def run_replay(args: argparse.Namespace) -> int:
    """Write the alerts of the incremental engine (the same as ``detect``'s)."""
    from stockseries._io import check_output
    from stockseries.live import replay_file

    inputs = (args.events, args.initial, args.catalog, args.checkpoint, args.rejected, args.params)
    check_output(args.output, inputs)
    detection_settings(args)  # --params and the flags, checked before any work
    source: Any = args.events
    custom = (args.columns, args.kinds, args.ts_format, args.tz, args.rejected)
    if args.epoch_unit is not None or args.delimiter != "," or any(custom):
        source = read_input_events(args)
    found = replay_file(
        source,
        frame_size=args.frame_size,
        every=args.every,
        lateness=args.lateness,
        checkpoint=args.checkpoint,
        restart=args.restart,
        suppliers=replay_suppliers(args.events, args.catalog),
        **detect_options(args),
        **episode_options(args),
    )
    write_alerts(found, args.output, inputs)
    if not len(found):
        from stockseries.events import scan_events

        try:
            timestamps = source if isinstance(source, pl.DataFrame) else scan_events(args.events)
            warn_short_history(args, timestamps, 0)
        except (pl.exceptions.PolarsError, ValueError, OSError):
            pass  # the alerts are written; a hint that cannot be worked out is not an error
    print(f"{len(found)} alert(s) written to {args.output}")
    return 0
