"""Writing data sets: events partitioned by day, and simulated data sets of any size."""

from __future__ import annotations

import os
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

from stockseries._io import AtomicFile
from stockseries._schema import DELIVERY, ITEM, KIND, QUANTITY, TS, TS_DTYPE, timestamp_us
from stockseries.events import validate_events
from stockseries.outofcore.chunks import REQUIRED
from stockseries.outofcore.results import GeneratedDataset

__all__ = [
    "ITEM_BUCKET",
    "US_PER_DAY",
    "PartitionBy",
    "WriteMode",
    "check_target",
    "generate_dataset",
    "write_partitioned",
]

WriteMode = Literal["error", "append"]
PartitionBy = Literal["day", "item"]
#: Hive key of data sets written with ``write_partitioned(..., by="item")``.
ITEM_BUCKET = "item_bucket"
US_PER_DAY = 86_400_000_000
_PARTITION_KEY = "day"


def write_partitioned(
    events: Any,
    root: str | os.PathLike[str],
    *,
    mode: WriteMode = "error",
    by: PartitionBy = "day",
    buckets: int = 16,
) -> list[Path]:
    """Write events as a Parquet data set partitioned by UTC day or by item (hive layout).

    With ``by="day"`` each day goes to ``root/day=YYYY-MM-DD/part-N.parquet``, sorted by ``ts``
    (stable), with every column of ``events``; the ``day`` column comes back from the folder
    name when the data set is read (:func:`stockseries.events.read_events` or
    :func:`run_out_of_core`). With ``by="item"`` each item goes to one of ``buckets`` folders
    ``root/item_bucket=K/`` (K = CRC-32 of the UTF-8 item id modulo ``buckets``: stable across
    runs, machines and versions, so appends keep items together). Every such folder holds whole
    items, which :mod:`stockseries.distributed` processes without a shuffle
    (:func:`run_out_of_core` needs day folders: item buckets overlap in time).

    Parameters
    ----------
    events : polars or pandas DataFrame (or LazyFrame)
        Events, validated with :func:`stockseries.events.validate_events`.
    root : str or path-like
        The data set folder.
    mode : {"error", "append"}, default "error"
        ``"error"``: ``root`` must not exist or be empty. ``"append"``: add new part files next
        to existing ones (a partition with two parts is read as one chunk).
    by : {"day", "item"}, default "day"
        Partition key: the UTC day of ``ts``, or a bucket of ``item_id``.
    buckets : int, default 16
        Number of item buckets (``by="item"`` only).

    Returns
    -------
    list of pathlib.Path
        The files written, in day order.

    Examples
    --------
    >>> import shutil, tempfile
    >>> from pathlib import Path
    >>> import polars as pl
    >>> events = pl.DataFrame({
    ...     "ts": ["2024-01-01T23:59:00Z", "2024-01-02T00:01:00Z"],
    ...     "item_id": ["A", "A"], "kind": ["delivery", "order"], "quantity": [5, 2]})
    >>> root = Path(tempfile.mkdtemp()) / "events"
    >>> [p.relative_to(root).as_posix() for p in write_partitioned(events, root)]
    ['day=2024-01-01/part-0.parquet', 'day=2024-01-02/part-0.parquet']
    >>> [p.relative_to(root).as_posix() for p in write_partitioned(events, root, mode="append")]
    ['day=2024-01-01/part-1.parquet', 'day=2024-01-02/part-1.parquet']
    >>> shutil.rmtree(root.parent)
    """
    target = Path(root)
    check_target(target, mode)
    frame = validate_events(events)
    if not isinstance(frame, pl.DataFrame):  # pandas in: the files are the same either way
        frame = pl.from_pandas(frame)
    key = _partition_key(by, buckets)
    if key in frame.columns:
        raise ValueError(
            f"events have a {key!r} column, which would clash with the partition key "
            f"read back from the folder names; rename or drop it"
        )
    frame = frame.sort(TS, maintain_order=True)
    written: list[Path] = []
    parts = frame.with_columns(_partition_values(frame, by, buckets)).partition_by(
        key, as_dict=True, maintain_order=True, include_key=False
    )
    for (name, *_), part in sorted(parts.items(), key=lambda kv: kv[0]):
        folder = target / f"{key}={name}"
        folder.mkdir(parents=True, exist_ok=True)
        index = len(list(folder.glob("part-*.parquet")))
        path = folder / f"part-{index}.parquet"
        with AtomicFile(path) as out:
            part.write_parquet(out.temporary, compression="zstd", statistics=True)
        written.append(path)
    return written


def _partition_key(by: PartitionBy, buckets: int) -> str:
    if by == "day":
        return _PARTITION_KEY
    if by != "item":
        raise ValueError(f"by must be 'day' or 'item', got {by!r}")
    if isinstance(buckets, bool) or not isinstance(buckets, int) or buckets < 1:
        raise ValueError(f"buckets must be an integer >= 1, got {buckets!r}")
    return ITEM_BUCKET


def _partition_values(frame: pl.DataFrame, by: PartitionBy, buckets: int) -> pl.Expr:
    if by == "day":
        return pl.col(TS).dt.date().dt.to_string("%Y-%m-%d").alias(_PARTITION_KEY)
    # CRC-32 per distinct item (not Polars' hash, which may change between versions).
    items = frame.get_column(ITEM).unique()
    numbers = pl.Series([zlib.crc32(item.encode()) % buckets for item in items], dtype=pl.Int64)
    return pl.col(ITEM).replace_strict(items, numbers).alias(ITEM_BUCKET)


def check_target(root: Path, mode: WriteMode) -> None:
    if mode not in ("error", "append"):
        raise ValueError(f"mode must be 'error' or 'append', got {mode!r}")
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"{root} exists and is not a folder")
    if mode == "error" and root.exists() and any(root.iterdir()):
        raise FileExistsError(
            f"{root} is not empty; write to a new folder, or pass mode='append' to add part files"
        )


# Rough shares used to aim at ``n_events`` (the last day is cut at the exact count anyway):
# spikes add about 7 % to the orders and deliveries about 5 % (orders of 2 units on average,
# deliveries of 40).
_OVERHEAD = 1.10
_DELIVERY_QUANTITY = (20, 60)
_ORDER_QUANTITY = (1, 3)
_TARGET_RATE = 5.0  # orders per item per minute when ``days`` is not given
_DAY_SEED_STRIDE = 1_000_003


def generate_dataset(
    root: str | os.PathLike[str],
    n_events: int,
    *,
    n_items: int = 1000,
    days: int | None = None,
    start: str | datetime = "2024-01-01",
    seed: int = 0,
    extra_columns: bool = False,
    progress: bool = True,
) -> GeneratedDataset:
    """Simulate ``n_events`` events day by day straight to a day-partitioned Parquet data set.

    Memory holds one day at a time, so this scales to hundreds of millions of events (the
    input of the out-of-core benchmark). Each day is drawn with :mod:`stockseries.generate`
    for a fixed :func:`~stockseries.generate.catalog`: :func:`~stockseries.generate.poisson_demand`
    (daily cycle), :func:`~stockseries.generate.inject_spikes` (about one spike per item per
    day) and :func:`~stockseries.generate.random_deliveries` picked by popularity, sized to
    match demand on average; the first day starts with a stock delivery per item. Rates are
    chosen to reach ``n_events`` in about ``days`` days and the last day is cut at exactly
    ``n_events`` events. Day ``d`` uses seed ``seed · 1000003 + d``: same arguments, same data.

    Parameters
    ----------
    root : str or path-like
        New (or empty) folder; gets ``events/day=YYYY-MM-DD/part-0.parquet`` per day,
        ``labels.parquet`` and ``catalog.parquet``.
    n_events : int
        Exact number of events.
    n_items : int, default 1000
        Catalog size.
    days : int, optional
        Days to spread them over; default: about 5 orders per item per minute.
    start : str or datetime, default "2024-01-01"
        First day (midnight UTC).
    seed : int, default 0
        Seed of every draw.
    extra_columns : bool, default False
        Also write ``event_id``, ``customer_id`` and ``supplier_id`` (only the four event
        columns otherwise: smaller files).
    progress : bool, default True
        Show a progress bar.

    Returns
    -------
    GeneratedDataset

    Examples
    --------
    >>> import shutil, tempfile
    >>> from pathlib import Path
    >>> root = Path(tempfile.mkdtemp()) / "data"
    >>> generate_dataset(root, 50_000, n_items=5, days=2, progress=False)
    GeneratedDataset(events=50,000, days=2, items=5, spikes=...)
    >>> sorted(p.name for p in root.iterdir())
    ['catalog.parquet', 'events', 'labels.parquet']
    >>> sorted(p.name for p in (root / "events").iterdir())
    ['day=2024-01-01', 'day=2024-01-02']
    >>> shutil.rmtree(root.parent)
    """
    from tqdm.auto import tqdm

    from stockseries.generate import catalog

    if isinstance(n_events, bool) or not isinstance(n_events, int) or n_events < 1:
        raise ValueError(f"n_events must be a positive integer, got {n_events!r}")
    if isinstance(n_items, bool) or not isinstance(n_items, int) or n_items < 1:
        raise ValueError(f"n_items must be a positive integer, got {n_items!r}")
    if days is None:
        days = max(1, round(n_events / (n_items * _TARGET_RATE * 1440 * _OVERHEAD)))
    elif isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(f"days must be a positive integer, got {days!r}")
    target = Path(root)
    check_target(target, "error")
    first_day = _midnight_us(start)

    items = catalog(n_items, seed=seed)
    scale = n_events / (days * 1440 * _OVERHEAD * float(items["rate"].sum()))
    items = items.with_columns(pl.col("rate") * scale)
    columns = [*REQUIRED, *(("event_id", "customer_id", "supplier_id") if extra_columns else ())]
    with tqdm(
        total=n_events, desc="generate", unit="ev", unit_scale=True, disable=not progress
    ) as bar:
        days_written, labels, size, span = _write_days(
            target, items, n_events, first_day, seed, columns, bar.update
        )
    for name, table in (("labels", labels), ("catalog", items)):
        with AtomicFile(target / f"{name}.parquet") as out:
            table.write_parquet(out.temporary)
    return GeneratedDataset(
        root=target,
        events=n_events,
        days=days_written,
        items=n_items,
        spikes=labels.height,
        start=span[0],
        end=span[1],
        bytes=size,
    )


def _write_days(
    target: Path,
    items: pl.DataFrame,
    n_events: int,
    first_day: int,
    seed: int,
    columns: list[str],
    advance: Any,
) -> tuple[int, pl.DataFrame, int, tuple[Any, Any]]:
    """Simulate and write day after day until ``n_events``: days, labels, bytes, span."""
    # Deliveries arrive on average every max_wait / 2 and carry 40 units: enough to match
    # the expected units ordered per day.
    units_per_day = float(items["rate"].sum()) * 1440 * sum(_ORDER_QUANTITY) / 2 * 1.07
    mean_delivery = sum(_DELIVERY_QUANTITY) / 2
    max_wait = timedelta(microseconds=max(2, round(2 * US_PER_DAY * mean_delivery / units_per_day)))
    written, day_index, size = 0, 0, 0
    labels: list[pl.DataFrame] = []
    first_ts = last_ts = None
    while written < n_events:
        day_start = first_day + day_index * US_PER_DAY
        frame, day_labels = _simulate_day(
            items,
            day_start,
            seed * _DAY_SEED_STRIDE + day_index,
            max_wait,
            columns,
            stock=day_index == 0,
        )
        frame = frame.head(n_events - written)
        if frame.height:
            cut = frame.get_column(TS).max()
            labels.append(day_labels.filter(pl.col("start") <= cut))
            size += sum(
                p.stat().st_size for p in write_partitioned(frame, target / "events", mode="append")
            )
            first_ts = first_ts or frame.get_column(TS).min()
            last_ts = cut
        written += frame.height
        advance(frame.height)
        day_index += 1
    all_labels = pl.concat(labels) if labels else pl.DataFrame()
    return day_index, all_labels, size, (first_ts, last_ts)


def _midnight_us(start: str | datetime) -> int:
    us = timestamp_us(start)
    return us - us % US_PER_DAY


def _simulate_day(
    items: pl.DataFrame,
    day_start: int,
    seed: int,
    max_wait: timedelta,
    columns: Sequence[str],
    *,
    stock: bool,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One day of orders, spikes and deliveries for a fixed catalog, sorted by ``ts``."""
    from stockseries.generate import inject_spikes, merge_streams, poisson_demand, random_deliveries

    span: dict[str, Any] = {
        "start": _to_datetime(day_start),
        "end": _to_datetime(day_start + US_PER_DAY),
        "seed": seed,
    }
    orders = poisson_demand(items, quantity=_ORDER_QUANTITY, **span)
    extra, labels = inject_spikes(items, n_spikes=items.height, quantity=_ORDER_QUANTITY, **span)
    deliveries = random_deliveries(
        items, max_wait=max_wait, quantity=_DELIVERY_QUANTITY, weights=True, **span
    )
    streams = [orders, extra, deliveries]
    if stock:
        # Four hours of demand on the shelf before the first order.
        initial = np.ceil(items["rate"].to_numpy() * 240 * sum(_ORDER_QUANTITY) / 2).astype(
            np.int64
        )
        streams.insert(
            0,
            pl.DataFrame(
                {
                    TS: pl.Series([day_start] * items.height, dtype=pl.Int64).cast(TS_DTYPE),
                    ITEM: items[ITEM],
                    KIND: DELIVERY,
                    QUANTITY: pl.Series(initial + 1, dtype=pl.Int64),
                    "supplier_id": items["supplier_id"],
                }
            ),
        )
    # Only the kept columns are merged: the ids are the most expensive columns to move.
    kept = [stream.select([c for c in columns if c in stream.columns]) for stream in streams]
    merged = merge_streams(*kept)
    return merged.select([c for c in columns if c in merged.columns]), labels


def _to_datetime(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)
