"""Column names and dtypes shared by every stage.

One place defines the canonical event schema so that readers, generators and
the engine cannot drift apart.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

TS = "ts"
ITEM = "item_id"
KIND = "kind"
QUANTITY = "quantity"

ORDER = "order"
DELIVERY = "delivery"
KINDS = (ORDER, DELIVERY)

TS_DTYPE = pl.Datetime("us", "UTC")


def in_utc(column: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A Datetime column in UTC: naive values are taken as UTC, aware ones converted."""
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
        return column.dt.replace_time_zone("UTC")
    return column.dt.convert_time_zone("UTC")


def timestamp_us(value: str | datetime) -> int:
    """Microseconds since the epoch of an ISO string or datetime; naive values are UTC."""
    series = pl.Series([value])
    if series.dtype == pl.String:
        series = series.str.to_datetime(time_unit="us", time_zone="UTC")
    elif isinstance(series.dtype, pl.Datetime) and series.dtype.time_zone is None:
        series = series.dt.replace_time_zone("UTC")
    return int(series.dt.cast_time_unit("us").dt.convert_time_zone("UTC").cast(pl.Int64)[0])


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
