"""Getting results off the cluster: lazily, into the client as one Polars frame, or into files.

Each output partition is an Arrow table on a worker (:func:`~._kernels.run_pieces`). Lazily,
it becomes a pandas partition with Arrow-backed columns (:mod:`._arrow`) of a Dask DataFrame.
Computed, the tables come to the client as they are and are concatenated in Polars. Written,
every worker writes its own partitions as Parquet into a hidden folder next to the target,
and the folder is renamed to the target only when every partition has been written: either
the whole result arrives or an error is raised. A run that fails half-way (a worker killed,
an invalid event) leaves no target behind, never a partial output that looks complete.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dask
import dask.dataframe as dd
import pandas as pd
import polars as pl
from distributed import Client, as_completed

from stockseries.distributed._arrow import pandas_of

__all__ = ["ClusterRunError", "collect", "lazy_frame", "write_parts"]


class ClusterRunError(RuntimeError):
    """The cluster lost work (a worker died, the client restarted the cluster...)."""


def lazy_frame(tables: Sequence[Any], empty: pl.DataFrame, drop: Sequence[str] = ()) -> Any:
    """The delayed output tables as a Dask DataFrame (Arrow-backed pandas partitions)."""
    parts = [dask.delayed(_pandas_part, pure=True)(table, list(drop)) for table in tables]
    meta = pandas_of(empty.drop(drop))
    return dd.from_delayed(parts, meta=meta, verify_meta=False)


def _pandas_part(table: Any, drop: list[str]) -> pd.DataFrame:
    return pandas_of(_polars(table).drop(drop))


def _polars(table: Any) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def collect(
    tables: Sequence[Any], empty: pl.DataFrame, client: Client, *, progress: bool, what: str
) -> pl.DataFrame:
    """Every output table as one Polars frame (partition order)."""
    frames = [_polars(table) for table in _gather(tables, client, progress=progress, what=what)]
    return pl.concat(frames) if frames else empty


def write_parts(
    tables: Sequence[Any],
    path: str | os.PathLike[str],
    client: Client,
    *,
    progress: bool,
    what: str,
    drop: Sequence[str] = (),
) -> list[Path]:
    """Write the output tables as ``path/part-NNNNN.parquet``, all of them or nothing."""
    target = Path(path)
    if target.exists():
        raise FileExistsError(f"{target} exists; write to a new folder")
    staging = target.parent / f".{target.name}.partial-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    try:
        written = [
            dask.delayed(_write_part, pure=False)(table, str(staging), number, list(drop))
            for number, table in enumerate(tables)
        ]
        names = _gather(written, client, progress=progress, what=what)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [target / name for name in sorted(names)]


def _write_part(table: Any, folder: str, number: int, drop: list[str]) -> str:
    name = f"part-{number:05d}.parquet"
    final = Path(folder) / name
    temporary = final.with_suffix(".tmp")
    _polars(table).drop(drop).write_parquet(temporary, statistics=True)
    os.replace(temporary, final)  # a retried task overwrites whole files only
    return name


def _gather(tasks: Sequence[Any], client: Client, *, progress: bool, what: str) -> list[Any]:
    from tqdm.auto import tqdm

    futures = client.compute(list(tasks))
    try:
        with tqdm(total=len(futures), desc=what, unit="part", disable=not progress) as bar:
            for _ in as_completed(futures, loop=client.loop):  # the given client, not the default
                bar.update(1)
        return list(client.gather(futures))
    except Exception as err:
        by_a_task = any(future.status == "error" for future in futures)
        if by_a_task and isinstance(err, ValueError | TypeError | KeyError):
            raise  # the input or a setting: the same error as in memory
        raise _lost(what, err) from err
    finally:
        client.cancel(futures)


def _lost(what: str, err: BaseException) -> ClusterRunError:
    return ClusterRunError(
        f"{what} failed on the cluster ({type(err).__name__}: {err}); nothing was returned and no output was written. "
        "A worker that died is restarted by its nanny: run it again."
    )
