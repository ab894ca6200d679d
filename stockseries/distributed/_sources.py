"""Where the events come from: a Dask DataFrame, Parquet files, or an in-memory frame.

Every source becomes the same thing, :class:`EventPartitions`: one entry per input partition,
each giving a Polars frame of validated events in canonical form, in input order (read it with
:func:`frame_of`) — a Parquet file (or an ``item_bucket=K`` folder) as a :class:`FileRead`,
read by the worker that splits it (one task: the validated frame never travels between
workers), a delayed partition of a Dask DataFrame, or the items of an in-memory frame (split
by a hash of ``item_id`` on the client, so they need no shuffle) carried in the graph so a lost
partition can be computed again. Nothing goes through the client except an in-memory frame
given there.

For :func:`stockseries.stock_levels` every event also gets :data:`SEQ`, its position in the
whole input (partition number in the high bits, row in the low bits): the client uses it to
put the computed rows back in the in-memory order.

A folder whose files all sit in ``item_bucket=K/`` sub-folders (written by
``write_partitioned(events, root, by="item")``) already holds whole items per folder: each
folder becomes one partition and no shuffle is needed.
"""

from __future__ import annotations

import glob as globbing
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask
import dask.dataframe as dd
import polars as pl

from stockseries._frames import is_pandas
from stockseries._schema import ITEM
from stockseries.distributed._arrow import polars_of
from stockseries.events import validate_events
from stockseries.outofcore import ITEM_BUCKET

__all__ = ["SEQ", "EventPartitions", "FileRead", "event_partitions", "frame_of", "parquet_files"]

#: Input position of each event: ``(partition << ROW_BITS) | row``.
SEQ = "_stockseries_seq"
ROW_BITS = 40
_PARQUET = (".parquet", ".pq")


@dataclass(frozen=True)
class FileRead:
    """Parquet files to read and validate as one input partition, where the task runs.

    ``versions`` (the files' modification times) only make the task's key change with them.
    """

    names: tuple[str, ...]
    hive: bool
    number: int
    stamp: bool
    versions: tuple[int, ...] = ()

    def __call__(self) -> pl.DataFrame:
        """The validated events of the files."""
        return _read_files(list(self.names), self.hive, self.number, self.stamp)


def frame_of(part: Any) -> pl.DataFrame:
    """The validated events of an input partition: a computed frame, or a :class:`FileRead`."""
    return part() if isinstance(part, FileRead) else part


@dataclass(frozen=True)
class EventPartitions:
    """Validated events, one per input partition: a delayed Polars frame or a
    :class:`FileRead`.

    ``empty`` is a frame with their columns and no rows; ``by_item`` says whether every
    partition already holds whole items (no shuffle needed).
    """

    parts: list[Any]
    empty: pl.DataFrame
    by_item: bool


def event_partitions(source: Any, npartitions: int | None, *, stamp: bool) -> EventPartitions:
    """Turn any supported ``source`` into validated event partitions (with :data:`SEQ` if
    ``stamp``). An in-memory frame is validated here and split by item into ``npartitions``."""
    if isinstance(source, dd.DataFrame):
        empty = _validated(source._meta, 0, stamp)
        parts = [
            dask.delayed(_validated, pure=True)(part, number, stamp)
            for number, part in enumerate(source.to_delayed())
        ]
        return EventPartitions(parts, empty, by_item=False)
    if isinstance(source, str | os.PathLike):
        return _file_partitions(source, stamp)
    if isinstance(source, pl.DataFrame | pl.LazyFrame) or is_pandas(source):
        return _frame_partitions(source, npartitions or 1, stamp)
    raise TypeError(
        "events must be a Dask DataFrame, a Parquet file, folder or glob, or a polars/pandas "
        f"frame; got {type(source).__name__}"
    )


def _validated(part: Any, number: int, stamp: bool) -> pl.DataFrame:
    frame = validate_events(polars_of(part))
    return _stamped(frame, number) if stamp else frame


def _stamped(frame: pl.DataFrame, number: int) -> pl.DataFrame:
    seq = (pl.int_range(pl.len(), dtype=pl.Int64) + (number << ROW_BITS)).alias(SEQ)
    return frame.with_columns(seq)


def _frame_partitions(source: Any, npartitions: int, stamp: bool) -> EventPartitions:
    """An in-memory frame, validated here, split by a hash of ``item_id`` into partitions of
    whole items in input order: the client holds every event already, so no shuffle."""
    if npartitions < 1:
        raise ValueError(f"npartitions must be >= 1, got {npartitions}")
    frame = validate_events(source)
    if not isinstance(frame, pl.DataFrame):
        frame = polars_of(frame)
    if stamp:
        frame = _stamped(frame, 0)
    which = frame.get_column(ITEM).hash(seed=0) % npartitions  # as the cluster's split does
    slices = [frame.filter(which == j) for j in range(npartitions)]
    # The slices travel inside the task graph rather than scattered: a graph can be run again
    # when a worker dies, scattered data would be lost with it. Named keys: no hashing of data.
    token = uuid.uuid4().hex
    parts = [
        dask.delayed(_identity, pure=False)(part, dask_key_name=f"events-{token}-{i}")
        for i, part in enumerate(slices)
    ]
    return EventPartitions(parts, frame.clear(), by_item=True)


def _identity(part: pl.DataFrame) -> pl.DataFrame:
    return part


# --------------------------------------------------------------------------- files


def _file_partitions(source: str | os.PathLike[str], stamp: bool) -> EventPartitions:
    files, hive = parquet_files(source)
    root = Path(source)
    buckets = _item_buckets(root, files) if root.is_dir() else None
    groups = list(buckets.values()) if buckets else [[name] for name in files]
    empty = _read_files(groups[0], hive, 0, stamp, rows=0)
    parts: list[Any] = [
        FileRead(
            tuple(names),
            hive,
            number,
            stamp,
            tuple(os.stat(name).st_mtime_ns for name in names),
        )
        for number, names in enumerate(groups)
    ]
    return EventPartitions(parts, empty, by_item=bool(buckets))


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


def _read_files(
    names: list[str], hive: bool, number: int, stamp: bool, rows: int | None = None
) -> pl.DataFrame:
    lazy = pl.scan_parquet(names, hive_partitioning=hive)
    if rows is not None:
        lazy = lazy.head(rows)
    frame = validate_events(lazy.collect())
    return _stamped(frame, number) if stamp else frame
