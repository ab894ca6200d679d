"""Where the events come from: a Dask DataFrame, Parquet files, or an in-memory frame.

Every source becomes the same thing, :class:`EventPartitions`: a Dask DataFrame of validated
events in canonical form (Arrow-backed pandas partitions, see :mod:`._arrow`) with one extra
column, :data:`SEQ`, the event's position in the input (file or partition number in the high
bits, row in the low bits). The shuffle by item does not keep rows in input order; sorting a
partition by :data:`SEQ` restores it, so events of one item with equal timestamps are replayed
in input order exactly as the in-memory functions replay them.

A folder whose files all sit in ``item_bucket=K/`` sub-folders (written by
``write_partitioned(events, root, by="item")``) already holds whole items per folder: each
folder becomes one partition and no shuffle is needed.
"""

from __future__ import annotations

import glob as globbing
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.dataframe as dd
import pandas as pd
import polars as pl

from stockseries._frames import is_pandas
from stockseries.distributed._arrow import pandas_of, polars_of
from stockseries.events import validate_events
from stockseries.outofcore import ITEM_BUCKET

__all__ = ["SEQ", "EventPartitions", "event_partitions"]

#: Input position of each event: ``(partition << ROW_BITS) | row``.
SEQ = "_stockseries_seq"
ROW_BITS = 40
_PARQUET = (".parquet", ".pq")


@dataclass(frozen=True)
class EventPartitions:
    """Validated events as a Dask DataFrame, and whether partitions already hold whole items."""

    frame: dd.DataFrame
    by_item: bool


def event_partitions(source: Any, npartitions: int | None) -> EventPartitions:
    """Turn any supported ``source`` into validated, position-stamped event partitions.

    An in-memory frame is validated here and split into ``npartitions``.
    """
    if isinstance(source, dd.DataFrame):
        meta = _validated_part(source._meta)
        frame = source.map_partitions(_validated_part, meta=meta)
        return EventPartitions(frame, by_item=False)
    if isinstance(source, str | os.PathLike):
        return _file_partitions(source)
    if isinstance(source, pl.DataFrame | pl.LazyFrame) or is_pandas(source):
        return _frame_partitions(source, npartitions or 1)
    raise TypeError(
        "events must be a Dask DataFrame, a Parquet file, folder or glob, or a polars/pandas "
        f"frame; got {type(source).__name__}"
    )


def _validated_part(part: pd.DataFrame, partition_info: Any = None) -> pd.DataFrame:
    number = 0 if partition_info is None else int(partition_info["number"])
    frame = validate_events(polars_of(part))
    return pandas_of(_stamped(frame, number))


def _stamped(frame: pl.DataFrame, number: int) -> pl.DataFrame:
    seq = (pl.int_range(pl.len(), dtype=pl.Int64) + (number << ROW_BITS)).alias(SEQ)
    return frame.with_columns(seq)


def _frame_partitions(source: Any, npartitions: int) -> EventPartitions:
    if npartitions < 1:
        raise ValueError(f"npartitions must be >= 1, got {npartitions}")
    frame = validate_events(source)
    if not isinstance(frame, pl.DataFrame):
        frame = polars_of(frame)
    size = max(1, -(-frame.height // npartitions))
    parts = [pandas_of(_stamped(frame.slice(i * size, size), i)) for i in range(npartitions)]
    meta = parts[0].iloc[:0]
    # The parts travel inside the task graph rather than scattered: a graph can be run again
    # when a worker dies, scattered data would be lost with it.
    return EventPartitions(dd.from_map(_identity, parts, meta=meta), by_item=False)


def _identity(part: pd.DataFrame) -> pd.DataFrame:
    return part


# --------------------------------------------------------------------------- files


def _file_partitions(source: str | os.PathLike[str]) -> EventPartitions:
    files, hive = parquet_files(source)
    root = Path(source)
    buckets = _item_buckets(root, files) if root.is_dir() else None
    groups = list(buckets.values()) if buckets else [[name] for name in files]
    meta = pandas_of(_read_files(groups[0], hive, 0, rows=0))
    frame = dd.from_map(
        _read_group,
        [(names, number) for number, names in enumerate(groups)],
        hive=hive,
        meta=meta,
        label="read-events",
        enforce_metadata=False,
    )
    return EventPartitions(frame, by_item=bool(buckets))


def parquet_files(source: str | os.PathLike[str]) -> tuple[list[str], bool]:
    """The Parquet files of a file, folder (searched recursively) or glob; hive for folders.

    Names starting with ``.`` or ``_`` are skipped, as :func:`stockseries.read_events` does.
    """
    path, text = Path(source), os.fspath(source)
    if path.is_dir():
        files = sorted(
            str(found)
            for found in path.rglob("*")
            if found.is_file()
            and not any(part.startswith((".", "_")) for part in found.relative_to(path).parts)
        )
        hive = True
    elif path.is_file():
        files, hive = [text], False
    elif globbing.has_magic(text):
        files = sorted(f for f in globbing.glob(text, recursive=True) if Path(f).is_file())
        hive = False
    else:
        raise FileNotFoundError(f"no such event file or directory: {text!r}")
    if not files:
        raise FileNotFoundError(f"{text!r} holds no event files")
    other = [name for name in files if Path(name).suffix.lower() not in _PARQUET]
    if other:
        raise ValueError(
            f"the cluster engine reads Parquet files; {other[0]!r} is not one (read it with "
            "stockseries.read_events and pass the frame, or convert it to Parquet)"
        )
    return files, hive


def _item_buckets(root: Path, files: list[str]) -> dict[str, list[str]] | None:
    """Files grouped by their ``item_bucket=K`` folder when every file sits in one."""
    groups: dict[str, list[str]] = {}
    for name in files:
        first = Path(name).relative_to(root).parts[0]
        key, sep, _ = first.partition("=")
        if not sep or key != ITEM_BUCKET:
            return None
        groups.setdefault(first, []).append(name)
    return groups


def _read_group(args: tuple[list[str], int], hive: bool) -> pd.DataFrame:
    names, number = args
    return pandas_of(_read_files(names, hive, number))


def _read_files(names: list[str], hive: bool, number: int, rows: int | None = None) -> pl.DataFrame:
    lazy = pl.scan_parquet(names, hive_partitioning=hive)
    if rows is not None:
        lazy = lazy.head(rows)
    # Each file of a group is numbered on its own so that positions follow the file order.
    return _stamped(validate_events(lazy.collect()), number)
