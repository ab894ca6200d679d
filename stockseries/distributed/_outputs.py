"""Getting results off the cluster: into the client as one Polars frame, or into files.

Either the whole result arrives or an error is raised; files are written by the workers into a
hidden folder next to the target, and the folder is renamed to the target only when every
partition has been written. A run that fails half-way (a worker killed, an invalid event)
leaves no target behind, never a partial output that looks complete.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import dask.dataframe as dd
import pandas as pd
import polars as pl
from distributed import Client, as_completed

from stockseries.distributed._arrow import polars_of

__all__ = ["ClusterRunError", "collect", "write_parts"]


class ClusterRunError(RuntimeError):
    """The cluster lost work (a worker died, the client restarted the cluster...)."""


def collect(result: dd.DataFrame, client: Client, *, progress: bool, what: str) -> pl.DataFrame:
    """Every partition of ``result`` as one Polars frame (partition order)."""
    parts = _gather(result, client, progress=progress, what=what)
    frames = [polars_of(part) for part in parts]
    return pl.concat(frames) if frames else polars_of(result._meta)


def write_parts(
    result: dd.DataFrame, path: str | os.PathLike[str], client: Client, *, progress: bool, what: str
) -> list[Path]:
    """Write ``result`` as ``path/part-NNNNN.parquet``, all of it or nothing."""
    target = Path(path)
    if target.exists():
        raise FileExistsError(f"{target} exists; write to a new folder")
    staging = target.parent / f".{target.name}.partial-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    try:
        written = result.map_partitions(
            _write_part,
            str(staging),
            meta=pd.DataFrame({"name": pd.Series([], dtype=str)}),
            enforce_metadata=False,
        )
        names = [
            name
            for part in _gather(written, client, progress=progress, what=what)
            for name in part["name"]
        ]
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [target / name for name in sorted(names)]


def _write_part(part: pd.DataFrame, folder: str, partition_info: Any = None) -> pd.DataFrame:
    number = 0 if partition_info is None else int(partition_info["number"])
    name = f"part-{number:05d}.parquet"
    final = Path(folder) / name
    temporary = final.with_suffix(".tmp")
    polars_of(part).write_parquet(temporary, statistics=True)
    os.replace(temporary, final)  # a retried task overwrites whole files only
    return pd.DataFrame({"name": [name]})


def _gather(result: dd.DataFrame, client: Client, *, progress: bool, what: str) -> list[Any]:
    from tqdm.auto import tqdm

    # to_delayed keeps partition order; computing them together shares one graph.
    futures = client.compute(result.to_delayed())
    try:
        with tqdm(total=len(futures), desc=what, unit="part", disable=not progress) as bar:
            for _ in as_completed(futures):
                bar.update(1)
        return list(client.gather(futures))
    except (ValueError, TypeError, KeyError):
        raise  # the input or a setting: the same error as in memory
    except Exception as err:
        raise ClusterRunError(
            f"{what} failed on the cluster ({type(err).__name__}: {err}); nothing was returned "
            "and no output was written. A worker that died is restarted by its nanny: run it "
            "again."
        ) from err
    finally:
        client.cancel(futures)
