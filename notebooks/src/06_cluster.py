# %% [markdown]
# # On a cluster: the same pipeline on Dask, partitioned by item
#
# Every stage of stockseries works item by item, except one global value: the last bucket of
# the dense series. `stockseries.distributed` uses that: it computes the last timestamp of the
# whole input first (a cheap reduction), shuffles the events by `item_id` so that each
# partition holds whole items, and runs the **same in-memory functions** on every partition.
# The results are the single-machine ones, alert ids included.
#
# It needs the `distributed` extra (`pip install 'stockseries[distributed]'`). Here a
# `LocalCluster` of two worker processes stands in for a real cluster; with a running one you
# would write `Client("tcp://HOST:8786")` and change nothing else.

# %%
import logging
import tempfile
from pathlib import Path
from typing import Any

import polars as pl
from dask.distributed import Client, progress

import stockseries as ss
import stockseries.distributed as ssd
from stockseries.outofcore import write_partitioned

work = Path(tempfile.mkdtemp())
# settings tuned in notebook 02
PARAMS: dict[str, Any] = dict(method="zscore", window=120, k=6.0, min_demand=4, smooth=10)
logging.getLogger("distributed").setLevel(logging.ERROR)  # shuffle bookkeeping is chatty

# %% [markdown]
# ## 1. Start a cluster
#
# Two worker processes with one thread each. `ssd.local_cluster` is a Dask `LocalCluster`
# whose workers also run Polars with one thread each (`POLARS_MAX_THREADS`, set before the
# worker imports Polars): by default every worker's Polars would start a thread per core, and
# the workers would fight over the machine's cores. On a cluster of your own, start the
# workers with `POLARS_MAX_THREADS` equal to their `--nthreads`. The client's dashboard link
# opens Dask's live view of the workers, the task stream and the memory of each worker.

# %%
cluster = ssd.local_cluster(
    n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0"
)
client = Client(cluster)
sorted(client.run(pl.thread_pool_size).values())  # Polars threads in each worker

# %%
# NBVAL_IGNORE_OUTPUT
print("dashboard:", client.dashboard_link)

# %% [markdown]
# ## 2. Events split by day across files
#
# A typical export: one folder per day. Every item appears in every day, so the cluster has to
# bring each item's events together: a hash shuffle by `item_id` (each day's events are split
# into Arrow pieces by item hash, and Dask moves the pieces to the worker that needs them).

# %%
sim = ss.simulate(30, start="2024-01-01", days=3, seed=7)
by_day = work / "by_day"
files = write_partitioned(sim.events, by_day)
[f.relative_to(work).as_posix() for f in files]

# %% [markdown]
# `detect_alerts` takes the folder (or a glob, a Dask DataFrame, a polars or pandas frame) and the
# same settings as in memory. `compute=True` brings the result back as an `Alerts`; without it
# you get a lazy Dask DataFrame.

# %%
on_cluster = ssd.detect_alerts(by_day, "1m", suppliers=sim.catalog, compute=True, **PARAMS)
on_cluster

# %% [markdown]
# ## 3. The same alerts as on one machine

# %%
in_memory = ss.detect_alerts(ss.read_events(by_day), "1m", suppliers=sim.catalog, **PARAMS)
on_cluster.frame.equals(in_memory.frame), len(on_cluster), len(in_memory)

# %% [markdown]
# ## 4. Lazy results and Dask's progress bar
#
# Without `compute=True` the result is a Dask DataFrame, one partition per group of items.
# `persist()` starts the work on the cluster and `progress(...)` shows Dask's progress bar; the
# dashboard shows the same run task by task. Columns are Arrow-backed, so nulls, `NaN`, strings
# and UTC microsecond timestamps are exactly those of the polars result.

# %%
series = ssd.resample(by_day, "1h")
series.npartitions, dict(series.dtypes.astype(str))

# %%
# NBVAL_IGNORE_OUTPUT
series = series.persist()
progress(series, notebook=False)  # a text bar, so the stored notebook shows it too

# %%
hourly = pl.from_pandas(series.compute()).sort("item_id", "ts")
hourly.equals(ss.resample(ss.read_events(by_day), "1h")), hourly.height

# %% [markdown]
# ## 5. Data laid out by item: no shuffle
#
# `write_partitioned(events, root, by="item")` writes `item_bucket=K/` folders, each holding whole
# items. The cluster reads each folder as one partition and skips the shuffle entirely — worth
# it when the same data set is processed many times.

# %%
by_item = work / "by_item"
write_partitioned(sim.events, by_item, by="item", buckets=4)
sorted(p.name for p in by_item.iterdir())

# %%
bucketed = ssd.detect_alerts(by_item, "1m", suppliers=sim.catalog, compute=True, **PARAMS)
bucketed.frame.equals(in_memory.frame)

# %% [markdown]
# ## 6. Results straight to files
#
# With `path=` the workers write one Parquet file per partition. The folder appears only once
# every file is written, so a run that fails half-way (a worker lost, a bad event) never leaves
# a partial result that looks complete.

# %%
written = ssd.stock_levels(by_item, path=work / "levels")
[p.name for p in written], pl.read_parquet(written).height == sim.events.height

# %%
client.close()
cluster.close()
