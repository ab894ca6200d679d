"""``stockseries simulate``: write simulated order/delivery events."""

from __future__ import annotations

import argparse

from stockseries.cli._options import count, number
from stockseries.cli._registry import command


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", required=True, help="events file (.csv/.parquet/.ndjson)")
    p.add_argument("--labels", help="also write the injected spike labels here")
    p.add_argument("--catalog", help="also write the item catalog here")
    p.add_argument("--items", type=count(1), default=20, help="number of items")
    p.add_argument("--days", type=number, default=2.0, help="length of the simulation in days")
    p.add_argument("--start", default="2024-01-01", help="first instant (ISO-8601, UTC)")
    p.add_argument("--seed", type=count(0), default=0, help="random seed (same seed, same events)")
    p.add_argument("--base-rate", type=number, default=1.0, help="orders per item per minute")
    p.add_argument(
        "--spikes",
        type=count(0),
        default=None,
        help="number of injected spikes (default: ~1 per item-day)",
    )


@command("simulate", help="write simulated order/delivery events", arguments=_arguments, order=10)
def run_simulate(args: argparse.Namespace) -> int:
    """Simulate events (and optionally labels and catalog) and write them."""
    from stockseries._io import write_frame
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
