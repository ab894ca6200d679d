"""The stockseries pipeline on a Dask cluster, partitioned by item, with identical results.

Needs the ``distributed`` extra (``pip install 'stockseries[distributed]'``, which brings
``dask[distributed]``). Start a client — ``Client(ssd.local_cluster())`` for a local cluster
(:func:`local_cluster`: a ``LocalCluster`` with Polars' threads sized per worker),
``Client("tcp://HOST:PORT")`` for a running one — and call the functions as in memory::

    from dask.distributed import Client
    import stockseries.distributed as ssd

    client = Client(ssd.local_cluster(n_workers=2, threads_per_worker=1))
    found = ssd.detect_alerts("events/", "1m", window=60, k=4, compute=True)  # Alerts

Inputs: a Dask DataFrame of events, a Parquet file, folder (hive folders such as
``day=2024-01-01/`` add a column, as with :func:`stockseries.read_events`) or glob, or a
polars/pandas frame (validated on the client and split by item into ``npartitions``, so it
needs no shuffle). Every other partition is validated on a worker with
:func:`stockseries.validate_events`; error rows are positions within the partition.

Outputs: a lazy Dask DataFrame (pandas partitions with Arrow-backed columns, so nulls, NaN,
strings and ``Datetime("us", "UTC")`` are exactly those of the in-memory result), or with
``compute=True`` the in-memory result (polars, pandas for pandas input, :class:`Alerts` for
``detect_alerts``), or with ``path=`` a folder of Parquet files written by the workers that
appears only once complete.

How: each input partition is read and validated on a worker, split by a hash of ``item_id``
into Arrow pieces kept as files on the worker's disk (so a worker's memory follows the largest
output partition, not the data size), and the pieces are brought together (Dask moves their
bytes between workers) so that each output partition holds whole items; the last timestamp of
the whole input, which bounds every item's dense series, travels with the pieces; the
in-memory function runs once per output partition. A folder written by
``write_partitioned(events, root, by="item")`` (``item_bucket=K/`` folders) holds whole items
per folder and is processed without a shuffle.

**Threads.** Polars sizes its thread pool when it is imported, to every core of the machine
unless ``POLARS_MAX_THREADS`` says otherwise; in a Dask worker process that runs
``threads_per_worker`` tasks, Polars should have as many threads, or the workers of one machine
fight over its cores (the 50 M-event benchmark ran 1.3× slower). :func:`local_cluster` starts
a ``LocalCluster`` set up that way (the CLI's ``--workers N`` and notebook 06 use it). On a
cluster of your own, start every worker process with ``POLARS_MAX_THREADS`` equal to its
``--nthreads`` (:func:`worker_environment`): in the shell of ``dask worker``, the pod or job
environment, or Dask's ``distributed.nanny.pre-spawn-environ`` setting — not the nanny's
``env``, which is applied too late when the worker re-imports a script that imports Polars.

:func:`tune` runs the per-item work of :func:`stockseries.tune` (signals, baselines, episodes
of every setting) on the workers and adds up the per-setting counts on the client: the same
trials, ranks and best setting. :func:`choose_transform` computes the per-item likelihoods of
:func:`stockseries.choose_transform` on the workers and pools them on the client: the same
choice, and ``tune(transforms="auto")`` chooses with it before searching, as in memory.
"""

from __future__ import annotations

try:
    import dask.dataframe  # noqa: F401
    import distributed  # noqa: F401
except ImportError as err:  # pragma: no cover - exercised without the extra installed
    raise ImportError(
        "stockseries.distributed needs Dask's distributed scheduler: "
        "pip install 'stockseries[distributed]' (or pip install 'dask[distributed]')"
    ) from err

from stockseries.distributed._api import (
    cluster_client,
    detect_alerts,
    resample,
    stock_levels,
    stockouts,
)
from stockseries.distributed._cluster import local_cluster, worker_environment
from stockseries.distributed._outputs import ClusterRunError
from stockseries.distributed._tune import choose_transform, tune

__all__ = [
    "ClusterRunError",
    "choose_transform",
    "cluster_client",
    "detect_alerts",
    "local_cluster",
    "resample",
    "stock_levels",
    "stockouts",
    "tune",
    "worker_environment",
]
