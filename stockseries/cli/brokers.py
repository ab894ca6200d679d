"""``stockseries live`` and ``stockseries publish`` (Kafka / Redis Streams).

The commands themselves live in :mod:`stockseries.brokers.commands`; this module registers
them with the shared detection options.
"""

from __future__ import annotations

import argparse

from stockseries.cli._options import (
    add_detection_options,
    detect_options,
    episode_options,
    read_initial,
    suppliers,
)
from stockseries.cli._registry import command


def _live_arguments(p: argparse.ArgumentParser) -> None:
    from stockseries.brokers.commands import live_arguments

    live_arguments(p, add_detection_options)


@command(
    "live",
    help="consume a Kafka topic or Redis stream with the incremental engine",
    arguments=_live_arguments,
    order=75,
)
def run_live(args: argparse.Namespace) -> int:
    """Consume until stopped; write alerts equal to ``detect``'s."""
    import polars as pl

    from stockseries.brokers.commands import run_live as run

    catalog = suppliers(pl.DataFrame(), args.catalog) if args.catalog else None
    detection = {**detect_options(args), **episode_options(args)}
    return run(args, detection, read_initial(args.initial), catalog)


def _publish_arguments(p: argparse.ArgumentParser) -> None:
    from stockseries.brokers.commands import publish_arguments

    publish_arguments(p)


@command(
    "publish",
    help="put a file of events on a Kafka topic or Redis stream, keyed by item_id",
    arguments=_publish_arguments,
    order=76,
)
def run_publish(args: argparse.Namespace) -> int:
    """Publish an event file."""
    from stockseries.brokers.commands import run_publish as run

    return run(args)
