"""``--scheduler`` / ``--workers``: the ``levels``, ``series`` and ``detect`` commands on Dask.

The same command with one of these options writes the same output file as without: the work
runs through :mod:`stockseries.distributed` on a running scheduler (``--scheduler
tcp://HOST:PORT``) or on a local cluster of ``--workers N`` processes started for the command
and stopped after it (:func:`stockseries.distributed.local_cluster`: one task thread and one
Polars thread per worker process). Progress is a tqdm bar over finished partitions (``-q`` hides it).
Dask is imported only when one of the options is given.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from stockseries.cli._options import (
    detect_options,
    episode_options,
    print_frame,
    read_initial,
    read_input_events,
    replay_suppliers,
    suppliers,
)

__all__ = ["add_cluster_options", "on_cluster", "run_on_cluster"]

_PARQUET = (".parquet", ".pq")


def add_cluster_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--scheduler`` and ``--workers`` to a sub-command's parser."""
    group = parser.add_argument_group(
        "on a Dask cluster (needs the 'distributed' extra)",
        "Run partitioned by item on a Dask cluster; the output is the same as without.",
    )
    where = group.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="e.g. tcp://10.0.0.5:8786")
    where.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="start a local cluster of N worker processes (one task and one Polars thread each)",
    )


def on_cluster(args: argparse.Namespace) -> bool:
    """True when the command line asked for a cluster."""
    return bool(getattr(args, "scheduler", None) or getattr(args, "workers", None) is not None)


def run_on_cluster(args: argparse.Namespace) -> int:
    """Run ``args.command`` on the cluster and write ``args.output``; returns the exit status."""
    from stockseries._io import check_output, write_frame

    if getattr(args, "out_of_core", False):
        raise ValueError("--out-of-core and --scheduler/--workers exclude each other")
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    try:
        import stockseries.distributed as ssd
    except ImportError as err:
        raise ValueError(str(err)) from None
    inputs = (args.events, args.initial, getattr(args, "catalog", None))
    check_output(args.output, inputs)
    try:
        result = _compute(ssd, args)
    except ssd.ClusterRunError as err:
        raise ValueError(str(err)) from None
    frame = getattr(result, "frame", result)
    write_frame(frame, args.output, inputs=inputs)
    if args.command == "levels":
        print(f"wrote {frame.height:,} events with running stock levels to {args.output}")
    elif args.command == "series":
        items = frame["item_id"].n_unique()
        print(f"wrote {frame.height:,} {args.every} buckets for {items} items to {args.output}")
    else:
        print(f"{frame.height} alert(s) written to {args.output}")
        if frame.height:
            print_frame(frame.select("item_id", "start", "end", "peak_demand", "threshold"))
    return 0


def _compute(ssd: Any, args: argparse.Namespace) -> Any:
    source = _source(args)
    initial = read_initial(args.initial)
    with _client(args) as client:
        common: dict[str, Any] = {
            "client": client,
            "compute": True,
            "progress": not getattr(args, "quiet", False),
        }
        if args.command == "levels":
            return ssd.stock_levels(source, initial=initial, **common)
        if args.command == "series":
            return ssd.resample(source, args.every, initial, dense=not args.sparse, **common)
        return ssd.detect_alerts(
            source,
            args.every,
            initial=initial,
            suppliers=_suppliers(args, source),
            **detect_options(args),
            **episode_options(args),
            **common,
        )


def _source(args: argparse.Namespace) -> Any:
    """Parquet paths go to the workers as they are; anything else is read here first."""
    path = Path(args.events)
    parquet = path.is_dir() or path.suffix.lower() in _PARQUET
    if parquet and args.epoch_unit is None:
        return args.events
    return read_input_events(args)


def _suppliers(args: argparse.Namespace, source: Any) -> pl.DataFrame | None:
    """Item → first supplier, as the in-memory ``detect`` command finds it."""
    if isinstance(source, pl.DataFrame):
        return suppliers(source, args.catalog)
    return replay_suppliers(args.events, args.catalog)


@contextlib.contextmanager
def _client(args: argparse.Namespace) -> Iterator[Any]:
    from distributed import Client

    # Shuffle bookkeeping is logged at WARNING level; a command line user needs none of it.
    logging.getLogger("distributed").setLevel(logging.ERROR)
    if args.scheduler:
        try:
            client = Client(args.scheduler, timeout="10s")
        except (OSError, TimeoutError) as err:
            raise ValueError(
                f"cannot reach the Dask scheduler at {args.scheduler}: {err}"
            ) from None
        with client:
            yield client
        return
    from stockseries.distributed import local_cluster

    # One task thread and one Polars thread per worker process.
    with (
        local_cluster(
            n_workers=args.workers, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client
