"""The cluster versions of ``stock_levels``, ``resample``, ``stockouts`` and ``detect_alerts``.

Each one: validated events, one delayed Polars frame per input partition (:mod:`._sources`);
a shuffle by ``item_id`` done in Arrow so that each output partition holds whole items over
the whole time range, with the global last timestamp gathered on the way — skipped when the
data set is laid out by item bucket; then the in-memory function on every output partition
(:mod:`._kernels`); then the result lazily, in the client, or in files (:mod:`._outputs`).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

import dask
import polars as pl

from stockseries._frames import is_pandas
from stockseries._schema import ITEM, TS
from stockseries.alerts import Alerts
from stockseries.distributed._kernels import Task, latest, run_local, run_pieces, split
from stockseries.distributed._outputs import collect, lazy_frame, write_parts
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
        Partitions after the shuffle by item (default: as many as the input has). Fewer,
        bigger partitions cost less fixed overhead; each must fit in a worker's memory.
    compute : bool, default False
        Return the result computed (polars, or pandas for pandas input), in replay order.
    path : str or path-like, optional
        Write the result as a folder of Parquet files (``part-NNNNN.parquet``), each written
        by the worker that computed it; returns the files. The folder appears only once every
        file is written.
    progress : bool, default False
        A tqdm bar over finished partitions while computing or writing.

    Returns
    -------
    dask.dataframe.DataFrame, polars/pandas DataFrame or list of pathlib.Path
        Lazily: every event with its ``level``, partitioned by item, each partition in replay
        order. Computed: the rows of :func:`stockseries.stock_levels`, in its order.
    """
    run = _Run(events, Task("stock_levels", {"initial": initial}), client, npartitions)
    return run.output(compute, path, progress, order=(TS, SEQ), hidden=(SEQ,))


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
    return _Run(events, task, client, npartitions).output(compute, path, progress)


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
) -> Any:
    """:func:`stockseries.stockouts` of events on a Dask cluster (exact, event granularity).

    An interval still open at the end ends at the last event of the whole input, as in
    memory. ``every`` is accepted for symmetry and not used (events input). A series is
    small enough to take to :func:`stockseries.stockouts` directly.
    """
    task = Task("stockouts", {"every": every, "initial": initial})
    return _Run(events, task, client, npartitions).output(compute, path, progress)


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
    run = _Run(events, Task("detect_alerts", kwargs), client, npartitions)
    return run.output(compute, path, progress, order=("start", ITEM))


class _Run:
    """One cluster run: validated partitions, the shuffle by item with the end, the kernel."""

    def __init__(self, events: Any, task: Task, client: Any, npartitions: int | None) -> None:
        if npartitions is not None and npartitions < 1:
            raise ValueError(f"npartitions must be >= 1, got {npartitions}")
        self.client = cluster_client(client)
        self.task = task
        self.was_pandas = is_pandas(events)
        source = event_partitions(events, npartitions, stamp=task.name == "stock_levels")
        # Settings are checked here, before any work on the cluster, by running the function
        # on no events; the result also gives the output's columns and dtypes.
        self.probe = run_local(source.empty, _PROBE_END, task)
        self.empty = _frame_of(self.probe).clear()
        count = len(source.parts)
        # Partitions of whole items (item buckets, or one partition) need no shuffle.
        whole = source.by_item or (count == 1 and npartitions in (None, 1))
        parts = 1 if whole else npartitions or count
        name = "split" if whole else "shuffle-split"
        token = dask.base.tokenize(source.parts, task, parts)
        splits = [
            dask.delayed(split, nout=parts + 1, pure=True)(
                part, task, parts, dask_key_name=f"{name}-{token}-{i}"
            )
            for i, part in enumerate(source.parts)
        ]
        end = dask.delayed(latest, pure=True)([s[0] for s in splits]) if task.needs_end else None
        if whole:  # input partition i is output partition i
            pieces = [[s[1]] for s in splits]
        else:  # output partition j: piece j of every input partition, in input order
            pieces = [[s[1 + j] for s in splits] for j in range(parts)]
        self.tables = [
            dask.delayed(run_pieces, pure=True)(
                group, end, task, dask_key_name=f"run-partition-{token}-{j}"
            )
            for j, group in enumerate(pieces)
        ]

    def output(
        self,
        compute: bool,
        path: Path | None,
        progress: bool,
        order: tuple[str, ...] = (ITEM,),
        hidden: tuple[str, ...] = (),
    ) -> Any:
        """Lazily, computed (rows sorted by ``order``, stably) or written to ``path``."""
        what = self.task.name
        if path is not None:
            return write_parts(
                self.tables, path, self.client, progress=progress, what=what, drop=hidden
            )
        if not compute:
            return lazy_frame(self.tables, self.empty, drop=hidden)
        got = collect(self.tables, self.empty, self.client, progress=progress, what=what)
        frame = got.sort(*order, maintain_order=True).drop(hidden)
        if isinstance(self.probe, Alerts):
            return Alerts(frame, self.probe.params, self.probe.every)
        return frame.to_pandas() if self.was_pandas else frame


def _frame_of(result: Any) -> pl.DataFrame:
    return result.frame if isinstance(result, Alerts) else result
