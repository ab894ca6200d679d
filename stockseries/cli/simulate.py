"""``stockseries simulate``: write simulated order/delivery events."""

from __future__ import annotations

import argparse

from stockseries.cli._registry import command


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", required=True, help="events file (.csv/.parquet/.ndjson)")
    p.add_argument("--labels", help="also write the injected spike labels here")
    p.add_argument("--catalog", help="also write the item catalog here")
    p.add_argument("--items", type=int, default=20)
    p.add_argument("--days", type=float, default=2.0)
    p.add_argument("--start", default="2024-01-01")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--base-rate", type=float, default=1.0, help="orders per item per minute")
    p.add_argument("--spikes", type=int, default=None, help="number of injected spikes")


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
