"""Column names and dtypes shared by every stage.

One place defines the canonical event schema so that readers, generators and
the engine cannot drift apart.
"""

from __future__ import annotations

import polars as pl

# The UTC helpers live in _time; re-exported here because every stage imports them from here.
from stockseries._time import epoch_us as timestamp_us  # noqa: F401  (re-export)
from stockseries._time import in_utc as in_utc

TS = "ts"
ITEM = "item_id"
KIND = "kind"
QUANTITY = "quantity"

ORDER = "order"
DELIVERY = "delivery"
KINDS = (ORDER, DELIVERY)

TS_DTYPE = pl.Datetime("us", "UTC")


#: Required event columns and their canonical dtypes.
EVENT_SCHEMA: dict[str, pl.DataType] = {
    TS: TS_DTYPE,
    ITEM: pl.String(),
    KIND: pl.String(),
    QUANTITY: pl.Int64(),
}

#: Optional event columns, carried through unchanged when present.
OPTIONAL_COLUMNS = ("event_id", "customer_id", "supplier_id", "description")

#: Columns of a per-item series produced by :func:`stockseries.resample`.
SERIES_COLUMNS = ("item_id", "ts", "demand", "orders", "supply", "deliveries", "level")

#: Columns of a ground-truth spike label frame produced by the simulator.
LABEL_COLUMNS = ("item_id", "start", "end", "multiplier")

#: Columns of an alert frame (:attr:`stockseries.Alerts.frame`), in order; alert sinks send
#: them in this order too.
ALERT_COLUMNS = (
    "alert_id",
    "item_id",
    "start",
    "end",
    "buckets",
    "peak_demand",
    "peak_ts",
    "threshold",
    "score",
    "excess",
    "supplier_id",
)
