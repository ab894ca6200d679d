"""``stockseries plan``: reorder points, suggested orders and stock-out risk per item."""

from __future__ import annotations

import argparse

from stockseries.cli._options import add_events_input, read_initial, read_input_events
from stockseries.cli._registry import command

#: What ``plan`` writes: the reorder table, then the risk columns.
RISK_EXTRA = ("daily_rate", "cover", "projected_stockout", "p_stockout", "at_risk", "order_by")


def _arguments(p: argparse.ArgumentParser) -> None:
    add_events_input(p)
    p.add_argument(
        "--catalog",
        required=True,
        help="CSV/Parquet with lead_time (and review_period) per item_id or per supplier_id",
    )
    p.add_argument(
        "--service-level", type=float, default=0.95, help="target in [0.5, 1) (default: 0.95)"
    )
    p.add_argument(
        "--service",
        choices=("fill", "cycle"),
        default="fill",
        help="fill: share of demand served from stock; cycle: P(no stock-out per cycle) "
        "(default: fill)",
    )
    p.add_argument("--every", default="1h", help="bucket width of the series (default: 1h)")
    p.add_argument(
        "--window",
        default="1d",
        help="trailing window the demand rate is estimated over; items need that much "
        "history (default: 1d)",
    )
    p.add_argument("--lead-time", help="lead time of items the catalog gives none (e.g. 2d)")
    p.add_argument(
        "--review-period",
        default="1d",
        help="review period of items the catalog gives none (default: 1d)",
    )
    p.add_argument("--initial", help="CSV/Parquet with columns item_id,initial")
    p.add_argument("--on-order", help="CSV/Parquet with columns item_id,on_order")
    p.add_argument("--risk-alerts", help="also write stock-out risk alert episodes here")
    p.add_argument("-o", "--output", required=True, help="plan file (.csv/.parquet/.ndjson)")


@command(
    "plan",
    help="reorder points, suggested orders and stock-out risk per item",
    arguments=_arguments,
    order=55,
)
def run_plan(args: argparse.Namespace) -> int:
    """Write one row per item: safety stock, reorder point, order quantity, risk."""
    from stockseries._io import read_table, write_frame
    from stockseries.planning import read_catalog, reorder_points, risk_alerts, stockout_risk
    from stockseries.series import resample

    catalog = read_catalog(args.catalog)
    on_order = read_table(args.on_order) if args.on_order else None
    series = resample(read_input_events(args), every=args.every, initial=read_initial(args.initial))
    common = {
        "service_level": args.service_level,
        "service": args.service,
        "window": args.window,
        "lead_time": args.lead_time,
        "every": args.every,
    }
    plan = reorder_points(
        series, catalog, on_order=on_order, review_period=args.review_period, **common
    )
    risk = stockout_risk(series, catalog, on_order=on_order, **common)
    table = plan.join(risk.select("item_id", *RISK_EXTRA[1:]), on="item_id", how="left")
    inputs = tuple(p for p in (args.events, args.catalog, args.initial, args.on_order) if p)
    write_frame(table, args.output, inputs=inputs)
    at_risk = table.filter(table["at_risk"].fill_null(False))
    ordering = table.filter(table["order_quantity"].fill_null(0) > 0)
    print(
        f"wrote a plan for {table.height:,} items to {args.output}: {at_risk.height} at risk "
        f"of running out within their lead time, {ordering.height} with an order to place"
    )
    unplanned = table.filter(table["reorder_point"].is_null())
    if unplanned.height:
        print(
            f"note: {unplanned.height} item(s) have less than --window {args.window} of "
            "history; their plan figures are empty (use a shorter --window or more data)"
        )
    if args.risk_alerts:
        alerts = risk_alerts(series, catalog, review_period=args.review_period, **common)
        write_frame(alerts, args.risk_alerts, inputs=inputs)
        print(f"wrote {alerts.height:,} stock-out risk alert(s) to {args.risk_alerts}")
    return 0
