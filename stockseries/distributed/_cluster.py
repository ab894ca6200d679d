"""A local Dask cluster whose workers run Polars with as many threads as they run tasks.

Polars sizes its thread pool once per process, from ``POLARS_MAX_THREADS`` when it is set and
from the machine's core count otherwise, and it does so when ``polars`` is *imported*. A Dask
worker process with one task thread would otherwise run a Polars pool as large as the machine:
with two workers on two cores that is four Polars threads plus Dask's own threads competing
for two cores (measured: the 50 M-event benchmark's cluster ran 22.3 s with the default pool,
17.4 s with ``POLARS_MAX_THREADS=1``, see ``benchmarks/SCALE.md``).

Dask sets ``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` of its workers the same way, through
``distributed.nanny.pre-spawn-environ``: variables there are put into the environment before
the nanny spawns the worker process, so they are in place before anything imports Polars (the
``env=`` argument of :class:`~distributed.LocalCluster` is applied later, after the worker
process has re-imported the script that started it, and is too late when that script imports
Polars). :func:`local_cluster` uses that setting; for a cluster of your own, see
:func:`worker_environment`.
"""

from __future__ import annotations

import os
from typing import Any

import dask

__all__ = ["POLARS_THREADS", "local_cluster", "worker_environment"]

#: The environment variable Polars reads to size its thread pool.
POLARS_THREADS = "POLARS_MAX_THREADS"


def worker_environment(threads_per_worker: int = 1) -> dict[str, str]:
    """The environment a stockseries worker process should start with.

    Parameters
    ----------
    threads_per_worker : int, default 1
        Task threads of each worker (``dask worker --nthreads``).

    Returns
    -------
    dict of str to str
        ``{"POLARS_MAX_THREADS": str(threads_per_worker)}``: one Polars thread per task thread.

    Examples
    --------
    >>> worker_environment(2)
    {'POLARS_MAX_THREADS': '2'}

    On a cluster of your own, set it where the worker processes start: in the shell of
    ``dask worker`` (``POLARS_MAX_THREADS=1 dask worker tcp://HOST:8786 --nthreads 1``), in the
    pod or job environment, or in Dask's configuration (``distributed.nanny.pre-spawn-environ``
    in ``~/.config/dask/distributed.yaml``).
    """
    if threads_per_worker < 1:
        raise ValueError(f"threads_per_worker must be >= 1, got {threads_per_worker}")
    return {POLARS_THREADS: str(threads_per_worker)}


def local_cluster(n_workers: int = 2, threads_per_worker: int = 1, **options: Any) -> Any:
    """A :class:`distributed.LocalCluster` of worker processes with Polars sized per worker.

    Parameters
    ----------
    n_workers : int, default 2
        Worker processes.
    threads_per_worker : int, default 1
        Task threads per worker, and Polars threads per worker process.
    **options
        Other :class:`distributed.LocalCluster` arguments (``memory_limit``, ``host``,
        ``dashboard_address``...). Workers are always processes.

    Returns
    -------
    distributed.LocalCluster
        Started; use it as a context manager or ``close()`` it. Workers restarted by their
        nanny (``client.restart()``, a killed worker) get the same setting.

    Notes
    -----
    As with Dask's own ``pre-spawn-environ`` variables, the nanny also sets
    ``POLARS_MAX_THREADS`` in the process that starts the cluster when it spawns a worker. The
    Polars pool of that process is already sized, so its Polars keeps all its threads; the
    variable is restored once the cluster has started (a worker restarted later sets it again).
    """
    from distributed import LocalCluster

    environment = worker_environment(threads_per_worker)
    if options.pop("processes", True) is not True:
        raise ValueError("local_cluster starts worker processes (processes=True)")
    # The nanny reads the setting when it is made and applies it before every spawn; a value
    # already in os.environ would win over the configuration, so it is set there too.
    settings = {f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in environment.items()}
    before = {name: os.environ.get(name) for name in environment}
    try:
        os.environ.update(environment)
        with dask.config.set(settings):
            return LocalCluster(
                n_workers=n_workers,
                threads_per_worker=threads_per_worker,
                processes=True,
                env={**options.pop("env", {}), **environment},
                **options,
            )
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
