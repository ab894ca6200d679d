# %% [markdown]
# # From a broker: Redis Streams and Kafka driving the live dashboard
#
# In production, orders and deliveries arrive on a message broker: Kafka (or any
# Kafka-protocol broker) in most shops, Redis Streams in smaller ones. `stockseries.brokers`
# reads them as **async sources of validated event frames** — the same frames the simulated
# sources of notebook 04 yield — so a `LiveDashboard`, `run_stream` or the checkpointed
# `consume` loop run on them unchanged. This notebook starts its own `redis-server` on a free
# local port (Debian's `redis-server` package; nothing leaves this machine) and stops it at
# the end. Kafka works the same way with `kafka_source(topics, brokers=..., group_id=...)`.

# %%
import logging
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl
import redis

import stockseries as ss
from stockseries import charts
from stockseries.brokers import consume, publish_redis, redis_source
from stockseries.dashboard import LiveDashboard

charts.enable_offline()
# Dead-lettered messages are also logged as warnings; section 4 shows them from the stream.
logging.getLogger("stockseries.brokers").setLevel(logging.ERROR)
SETTINGS: dict[str, Any] = {"every": "5m", "window": 60, "k": 6.0}

# %% [markdown]
# ## 1. A local Redis server
#
# A throw-away server: no persistence, a temporary folder, a free port on 127.0.0.1.

# %%
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
folder = Path(tempfile.mkdtemp())
server = subprocess.Popen(
    [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1",
     "--save", "", "--appendonly", "no", "--dir", str(folder)],
    stdout=subprocess.DEVNULL,
)  # fmt: skip
url = f"redis://127.0.0.1:{port}/0"
client: Any = redis.Redis.from_url(url)
for _ in range(100):  # wait (at most 5 s) until it answers
    try:
        client.ping()
        break
    except redis.ConnectionError:
        time.sleep(0.05)
client.ping()

# %% [markdown]
# ## 2. Publish events
#
# `publish_redis` (or `stockseries publish events.parquet --redis URL --stream S`) puts a frame
# of events on a stream: one JSON event per entry (what existing producers send) or Arrow IPC
# batches of many events per entry (for throughput). Here orders go as JSON, deliveries as Arrow.

# %%
feed = ss.simulate(20, start="2024-03-01", days=0.5, n_spikes=10, seed=11)
orders = feed.events.filter(pl.col("kind") == "order")
deliveries = feed.events.filter(pl.col("kind") == "delivery")
(
    publish_redis(orders, url=url, stream="orders"),
    publish_redis(deliveries, url=url, stream="deliveries", format="arrow", batch_size=1000),
)

# %%
[fields for _, fields in client.xrange("orders", count=1)]  # an entry: item_id + JSON event

# %% [markdown]
# ## 3. A broker source driving the dashboard
#
# `redis_source` reads both streams with a consumer group, validates every entry and releases
# events in **event-time order across the streams** (up to the minimum of their latest event
# times, so one stream running ahead never makes the other's events late). `end_when_idle=1`
# ends the iteration once the streams have been quiet for a second — a bounded run for this
# notebook; leave it out and the dashboard follows the streams live, with Start/Stop.

# %%
dashboard = LiveDashboard(
    lambda: redis_source(["orders", "deliveries"], url=url, group="dash", end_when_idle=1.0),
    ss.StreamProcessor(**SETTINGS, suppliers=feed.catalog),
    history="6h",
)
dashboard

# %%
await dashboard.run()

# %% [markdown]
# The alerts are exactly those of the batch pipeline on the same events:

# %%
batch = ss.detect_alerts(feed.events, "5m", window=60, k=6.0, suppliers=feed.catalog)
dashboard.alerts.equals(batch.frame), dashboard.alerts.height

# %%
# NBVAL_IGNORE_OUTPUT
# (how many buckets the live dashboard has retained when this cell runs depends on timing)
dashboard.chart

# %% [markdown]
# ## 4. Bad messages go to a dead-letter stream
#
# An entry that is not a valid event never stops the stream and is never dropped silently: it
# goes to `<stream>.dead-letter` with the reason and its original fields.

# %%
good = b'{"ts": "2024-03-01T12:00:00Z", "item_id": "A001", "kind": "order", "quantity": 2}'
for event in (good, good.replace(b"order", b"refund"), b"not json", good):
    client.xadd("returns", {"event": event})
bad = redis_source("returns", url=url, group="dash", end_when_idle=0.5)
[frame.height async for frame in bad], bad.stats["dead_lettered"]

# %%
[
    (fields[b"reason"].decode(), fields[b"field:event"])
    for _, fields in client.xrange("returns.dead-letter")
]

# %% [markdown]
# ## 5. Exactly-once state with checkpoints
#
# `consume` (and `stockseries live --redis URL --stream S --group G --checkpoint state.zip`)
# writes the processor's state together with the stream positions it reflects, in one atomic
# checkpoint. After a crash, the next run resumes from it: every event counts exactly once in
# the stock, and alerts closed after the last checkpoint are sent again with the same
# `alert_id`, which the sinks deduplicate.

# %%
state = folder / "state.zip"
first = await consume(
    redis_source(["orders", "deliveries"], url=url, group="job", end_when_idle=0.5),
    ss.StreamProcessor(**SETTINGS),
    checkpoint=state,
)
first

# %% [markdown]
# More events arrive; the next run starts where the checkpoint ends:

# %%
later = ss.simulate(20, start="2024-03-01T12:00:00Z", days=0.1, seed=12).events
publish_redis(later.filter(pl.col("kind") == "order"), url=url, stream="orders")
second = await consume(
    redis_source(["orders", "deliveries"], url=url, group="job", end_when_idle=0.5),
    ss.StreamProcessor(**SETTINGS),
    checkpoint=state,
)
everything = pl.concat([feed.events, later.filter(pl.col("kind") == "order")])
expected = ss.stock_levels(everything).group_by("item_id").agg(pl.col("level").last())
second.stats["events"], second.levels.equals(expected.sort("item_id"))

# %% [markdown]
# Stop the server:

# %%
server.terminate()
server.wait(10)
shutil.rmtree(folder, ignore_errors=True)
print("redis-server stopped:", server.returncode is not None)
