"""The cluster versions of ``stock_levels``, ``resample``, ``stockouts`` and ``detect_alerts``.

Each one: validated events as Dask partitions (:mod:`._sources`); the global last timestamp by a
reduction; a hash shuffle by ``item_id`` (Dask's P2P shuffle) so that each partition holds whole
items over the whole time range — skipped when the data set is laid out by item bucket; then
the in-memory function on every partition (:mod:`._kernels`); then the result lazily, in the
client (:mod:`._outputs`), or in files.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

import dask.dataframe as dd
import polars as pl

from stockseries._frames import is_pandas
from stockseries._schema import ITEM, TS
from stockseries.alerts import Alerts
from stockseries.distributed._arrow import pandas_of, polars_of
from stockseries.distributed._kernels import Task, pack, run_local, run_partition
from stockseries.distributed._outputs import collect, write_parts
from stockseries.distributed._sources import SEQ, event_partitions
from stockseries.stock import Initial

__all__ = ["cluster_client", "detect_alerts", "resample", "stock_levels", "stockouts"]

Path = str | os.PathLike[str]
# Any instant works for the parameter probe: only the result's columns and settings are used.
_PROBE_END = datetime(2000, 1, 1, tzinfo=UTC)


def cluster_client(client: Any = None) -> Any:
    """``client``, or the current Dask client; a clear error when there is none."""
    if client is not None:
        return client
    from distributed import get_client

    try:
        return get_client()
    except ValueError:
        raise RuntimeError(
            "no Dask client: start one first (from dask.distributed import Client; "
            "client = Client() for a local cluster, or Client('tcp://HOST:PORT')) or pass client="
        ) from None


def stock_levels(
    events: Any,
    initial: Initial = None,
    *,
    client: Any = None,
    npartitions: int | None = None,
    compute: bool = False,
    path: Path | None = None,
    progress: bool = False,
    shuffle: str = "p2p",
) -> Any:
    """:func:`stockseries.stock_levels` on a Dask cluster.

    Parameters
    ----------
    events : Dask DataFrame, path, glob, polars or pandas DataFrame
        Events (see :mod:`stockseries.distributed`).
    initial : int, mapping or frame, optional
        Starting stock, as in :func:`stockseries.stock_levels`.
    client : distributed.Client, optional
        Default: the current client.
    npartitions : int, optional
        Partitions after the shuffle by item (default: as many as the input has).
    compute : bool, default False
        Return the result computed (polars, or pandas for pandas input), in replay order.
    path : str or path-like, optional
        Write the result as a folder of Parquet files (``part-NNNNN.parquet``); returns the
        files. The folder appears only once every file is written.
    progress : bool, default False
        A tqdm bar over finished partitions while computing or writing.
    shuffle : {"p2p", "tasks"}, default "p2p"
        Dask's shuffle by item: peer-to-peer (spills to disk, memory bounded as data grows) or
        the task-based one (faster for small data, holds it in memory).

    Returns
    -------
    dask.dataframe.DataFrame, polars/pandas DataFrame or list of pathlib.Path
        Lazily: every event with its ``level``, partitioned by item, each partition in replay
        order. Computed: the rows of :func:`stockseries.stock_levels`, in its order.
    """
    task = Task("stock_levels", {"initial": initial})
    run = _Run(events, task, client, npartitions, needs_end=False, shuffle=shuffle)
    if path is not None:
        return run.write(path, progress, drop=[SEQ])
    if not compute:
        return run.result.drop(columns=[SEQ])
    frame = run.collect(progress).sort(TS, SEQ).drop(SEQ)
    return run.shaped(frame)


def resample(
    events: Any,
    every: str | timedelta = "1m",
    initial: Initial = None,
    *,
    dense: bool = True,
    client: Any = None,
    npartitions: int | None = None,
    compute: bool = False,
    path: Path | None = None,
    progress: bool = False,
    shuffle: str = "p2p",
) -> Any:
    """:func:`stockseries.resample` on a Dask cluster.

    Every item's dense series runs to the last bucket of the whole input, as in memory.
    Parameters as in :func:`stockseries.resample` and :func:`stock_levels` (this module).

    Returns
    -------
    dask.dataframe.DataFrame, polars/pandas DataFrame or list of pathlib.Path
        Lazily: the series, partitioned by item, each partition sorted by ``item_id``, ``ts``.
        Computed: the frame of :func:`stockseries.resample`, sorted the same way.
    """
    task = Task("resample", {"every": every, "initial": initial, "dense": dense})
    run = _Run(events, task, client, npartitions, needs_end=True, shuffle=shuffle)
    if path is not None:
        return run.write(path, progress)
    if not compute:
        return run.result
    return run.shaped(run.collect(progress).sort(ITEM, maintain_order=True))


def stockouts(
    events: Any,
    every: str | timedelta = "1m",
    initial: Initial = None,
    *,
    client: Any = None,
    npartitions: int | None = None,
    compute: bool = False,
    path: Path | None = None,
    progress: bool = False,
    shuffle: str = "p2p",
) -> Any:
    """:func:`stockseries.stockouts` of events on a Dask cluster (exact, event granularity).

    An interval still open at the end ends at the last event of the whole input, as in
    memory. ``every`` is accepted for symmetry and not used (events input). A series is
    small enough to take to :func:`stockseries.stockouts` directly.
    """
    task = Task("stockouts", {"every": every, "initial": initial})
    run = _Run(events, task, client, npartitions, needs_end=True, shuffle=shuffle)
    if path is not None:
        return run.write(path, progress)
    if not compute:
        return run.result
    return run.shaped(run.collect(progress).sort(ITEM, maintain_order=True))


def detect_alerts(
    events: Any,
    every: str | timedelta = "1m",
    method: str = "zscore",
    *,
    initial: Initial = None,
    suppliers: Any = None,
    merge_gap: int = 0,
    min_buckets: int = 1,
    cooldown: int = 0,
    column: str = "demand",
    client: Any = None,
    npartitions: int | None = None,
    compute: bool = False,
    path: Path | None = None,
    progress: bool = False,
    shuffle: str = "p2p",
    **detector_options: Any,
) -> Any:
    """:func:`stockseries.detect_alerts` on a Dask cluster: the same alerts, ids included.

    Detection settings and episode rules as in :func:`stockseries.detect_alerts`; cluster
    arguments as in :func:`stock_levels` (this module).

    Returns
    -------
    dask.dataframe.DataFrame, Alerts or list of pathlib.Path
        Lazily: the alert rows (columns of :attr:`stockseries.Alerts.frame`), partitioned by
        item. Computed: an :class:`stockseries.Alerts` equal to the in-memory one.
    """
    kwargs = {
        "every": every,
        "method": method,
        "initial": initial,
        "suppliers": suppliers,
        "merge_gap": merge_gap,
        "min_buckets": min_buckets,
        "cooldown": cooldown,
        "column": column,
        **detector_options,
    }
    run = _Run(
        events, Task("detect_alerts", kwargs), client, npartitions, needs_end=True, shuffle=shuffle
    )
    if path is not None:
        return run.write(path, progress)
    if not compute:
        return run.result
    frame = run.collect(progress).sort("start", ITEM, maintain_order=True)
    probe = run.probe
    assert isinstance(probe, Alerts)
    return Alerts(frame, probe.params, probe.every)


class _Run:
    """One cluster run: validated partitions, the end reduction, the shuffle, the kernel."""

    def __init__(
        self,
        events: Any,
        task: Task,
        client: Any,
        npartitions: int | None,
        *,
        needs_end: bool,
        shuffle: str,
    ) -> None:
        if shuffle not in ("p2p", "tasks"):
            raise ValueError(f"shuffle must be 'p2p' or 'tasks', got {shuffle!r}")
        if npartitions is not None and npartitions < 1:
            raise ValueError(f"npartitions must be >= 1, got {npartitions}")
        self.client = cluster_client(client)
        self.task = task
        self.was_pandas = is_pandas(events)
        source = event_partitions(events, npartitions)
        # Settings are checked here, before any work on the cluster, by running the function
        # on the end marker alone; the result also gives the output's columns and dtypes.
        empty = polars_of(source.frame._meta)
        self.probe = _probe(empty, task)
        meta = pandas_of(_frame_of(self.probe).clear())
        end = source.frame[TS].max() if needs_end else None
        packed = pack(source.frame._meta, task)
        items = source.frame.map_partitions(pack, task, meta=packed, enforce_metadata=False)
        single = items.npartitions == 1 and npartitions in (None, 1)
        if not (source.by_item or single):
            items = items.shuffle(
                on=ITEM, npartitions=npartitions or items.npartitions, shuffle_method=shuffle
            )
        self.result: dd.DataFrame = items.map_partitions(
            run_partition, end, task, meta=meta, enforce_metadata=False
        )

    def collect(self, progress: bool) -> pl.DataFrame:
        return collect(self.result, self.client, progress=progress, what=self.task.name)

    def write(self, path: Path, progress: bool, drop: list[str] | None = None) -> Any:
        result = self.result.drop(columns=drop) if drop else self.result
        return write_parts(result, path, self.client, progress=progress, what=self.task.name)

    def shaped(self, frame: pl.DataFrame) -> Any:
        return frame.to_pandas() if self.was_pandas else frame


def _probe(empty: pl.DataFrame, task: Task) -> Any:
    return run_local(empty, _PROBE_END, task)


def _frame_of(result: Any) -> pl.DataFrame:
    return result.frame if isinstance(result, Alerts) else result
