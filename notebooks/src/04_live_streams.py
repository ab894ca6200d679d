# %% [markdown]
# # Live streams: async sources, an incremental processor equal to batch, a live dashboard
#
# Inventory events rarely arrive as one file: orders and deliveries trickle in from several systems.
# `stockseries.live` processes them as they come. **Async sources** yield event frames,
# `merge_sources` merges them in event-time order, and a `StreamProcessor` keeps the running stock,
# closes per-item buckets, detects spikes and cuts alert episodes incrementally, with results
# **equal to the batch pipeline**. The `LiveDashboard` runs all of it on the notebook's event loop and
# shows it as it happens. Everything is seeded, so the outputs below are reproducible; cells marked
# `NBVAL_IGNORE_OUTPUT` hold wall-clock timings.

# %%
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl

import stockseries as ss
from stockseries import charts
from stockseries.dashboard import LiveDashboard
from stockseries.live import (
    delivery_source,
    frame_source,
    merge_sources,
    order_source,
    replay_source,
    run_stream,
)

# a five-hour baseline of 5-minute buckets
SETTINGS: dict[str, Any] = {"every": "5m", "window": 60, "k": 6.0}

charts.enable_offline()  # no network needed; each chart also carries a picture (PNG)

# %% [markdown]
# ## 1. Async sources
#
# A source is an async iterator of **event frames** (never single events: a frame of many events
# costs one step of the processor). `order_source` and `delivery_source` call the seeded simulators
# once per `span` of event time, so an endless stream uses flat memory; `frame_source` and
# `replay_source` stream an in-memory frame or a recorded file.
#
# Pacing: `speed=None` (the default) is a *virtual clock*: as fast as possible, yielding to the event
# loop after each frame. `speed=60` plays one minute of event time per second of wall time with
# `await asyncio.sleep`, so a waiting source never blocks anything else. In a notebook, `async for`
# and `await` work directly in a cell.

# %%
orders = order_source(5, start="2024-01-01", end="2024-01-01T00:10:00Z", span="1m", seed=1)
frames = [frame async for frame in orders]
len(frames)

# %%
frames[0]


# %% [markdown]
# Sources do not block each other: three sources, each playing ten minutes of event time at
# 600× (one second of wall time each), run side by side in about one second, not three.


# %%
# NBVAL_IGNORE_OUTPUT
async def count_events(source):
    return sum([frame.height async for frame in source])


started = time.perf_counter()
counts = await asyncio.gather(
    *(
        count_events(order_source(5, end="2024-01-01T00:10:00Z", seed=seed, speed=600))
        for seed in range(3)
    )
)
print(
    f"{len(counts)} sources, {sum(counts)} events in {time.perf_counter() - started:.1f} s of wall time"
)

# %%
counts

# %% [markdown]
# ## 2. Merging sources
#
# `merge_sources` drains each source in its own task through a bounded queue (back-pressure: a slow
# consumer slows the producers down and nothing is dropped) and emits frames in event-time order
# across all of them.

# %%
merged = merge_sources(
    order_source(5, end="2024-01-01T01:00:00Z", seed=1),
    delivery_source(
        5, end="2024-01-01T01:00:00Z", span="10m", max_wait="10m", quantity=(20, 60), seed=2
    ),
)
events = pl.concat([frame async for frame in merged], how="diagonal_relaxed")
events["ts"].is_sorted(), events.group_by("kind").len().sort("kind")


# %% [markdown]
# ## 3. The StreamProcessor: watermark, lateness, late events
#
# Each `push(frame)` returns a `StepResult` holding what the frame made new. The **watermark** is the
# largest event time seen minus the allowed `lateness`; a bucket `[s, s + every)` closes once
# `s + every ≤ watermark`, and only closed buckets are emitted (with their detection columns). An
# event that arrives after its bucket closed is **late**: it is reported (`StepResult.late`,
# `late_events`, the `late` counter) and changes nothing, unless the processor was built with
# `corrections=True`.
#
# One item, one-minute buckets, 30 seconds of allowed lateness:


# %%
def frame(*rows):
    ts, kind, quantity = zip(*rows, strict=True)
    return pl.DataFrame({"ts": ts, "item_id": "A", "kind": kind, "quantity": quantity})


proc = ss.StreamProcessor("1m", window=5, lateness="30s")
proc.push(
    frame(
        ("2024-01-01T00:00:10Z", "delivery", 10),
        ("2024-01-01T00:00:40Z", "order", 2),
        ("2024-01-01T00:01:20Z", "order", 1),
    )
)

# %% [markdown]
# The watermark is 00:00:50, so the 00:00 bucket is still open and an order stamped 00:00:55 that
# comes with the next frame still counts. That frame moves the watermark to 00:01:35: the 00:00
# bucket closes.

# %%
step = proc.push(frame(("2024-01-01T00:00:55Z", "order", 1), ("2024-01-01T00:02:05Z", "order", 3)))
step.series.select("item_id", "ts", "demand", "supply", "level")

# %% [markdown]
# An order for 00:00:58 arriving now is late: its bucket has closed.

# %%
step = proc.push(frame(("2024-01-01T00:00:58Z", "order", 4)))
step.late

# %%
proc.stats

# %% [markdown]
# ## 4. Incremental equals batch
#
# The processor's contract: whatever the split of the events into frames (and any arrival order within
# the lateness), the closed series and alerts equal `resample` + `detect_spikes` + `alerts` run in
# batch on the same events. Here: twelve hours of ten items with five injected spikes, fed in frames
# of 250 events.

# %%
sim = ss.simulate(10, start="2024-03-01", days=0.5, n_spikes=5, seed=4)
proc = ss.StreamProcessor(**SETTINGS, suppliers=sim.catalog)
steps: list[ss.StepResult] = []
live_alerts = await run_stream(frame_source(sim.events, frame_size=250), proc, on_step=steps.append)
live_alerts

# %%
detected = ss.detect_spikes(ss.resample(sim.events, every="5m"), window=60, k=6.0)
batch_alerts = ss.alerts(
    detected, params={"window": 60, "k": 6.0}, every="5m", suppliers=sim.catalog
)
live_series = pl.concat([step.series for step in steps]).sort("item_id", "ts")
(
    live_alerts.frame.equals(batch_alerts.frame),
    live_series.equals(detected.select(live_series.columns)),
)

# %% [markdown]
# ## 5. Checkpoint and restore
#
# `save` writes the whole state to one file, atomically; `load` resumes exactly there (and with
# `expect=` refuses a checkpoint made with other settings). Half the stream before a "restart", the
# rest after: the alerts are the same as in one go.

# %%
ordered = sim.events.sort("ts")
half = ordered.height // 2
before = ss.StreamProcessor(**SETTINGS, suppliers=sim.catalog)
closed = [
    before.push(piece).alerts_closed for piece in ss.iter_frames(ordered.head(half), size=250)
]
checkpoint = before.save(Path(tempfile.mkdtemp()) / "live.ckpt")

after = ss.StreamProcessor.load(checkpoint, expect=SETTINGS)
closed += [
    after.push(piece).alerts_closed for piece in ss.iter_frames(ordered.slice(half), size=250)
]
closed.append(after.flush().alerts_closed)
pl.concat(closed).sort("start", "item_id", maintain_order=True).equals(live_alerts.frame)

# %% [markdown]
# ## 6. The live dashboard
#
# `LiveDashboard` drives a processor from a source as a task on the kernel's event loop, so the
# notebook stays usable while it runs. About once a second it updates the counters (events,
# events/s, frames, late events, open and closed alerts, watermark), a demand and stock-level chart of
# a few items over the recent history it keeps (bounded: `history` buckets per item) and the alert
# list; closed alerts go to a sink as they close. The Start/Stop buttons, or `start()` and `stop()`,
# pause and resume without losing or repeating an event.
#
# Here it runs a **bounded** stream, twelve hours of 20 items replayed on a virtual clock, so that
# the stored outputs of this notebook can be checked. Closed alerts go to a supplier inbox through a
# `CallbackSink`. `await dashboard.run()` runs the stream to its end; the panel updates meanwhile.

# %%
feed = ss.simulate(20, start="2024-03-01", days=0.5, n_spikes=10, seed=11)
inbox: list[tuple[str | None, int]] = []
supplier_inbox = ss.CallbackSink(
    lambda supplier, payload: inbox.append((supplier, payload["count"])), name="inbox"
)
dashboard = LiveDashboard(
    lambda: replay_source(feed.events, span="5m"),  # a bounded stream on a virtual clock
    ss.StreamProcessor(**SETTINGS, suppliers=feed.catalog),
    sink=ss.Notifier(supplier_inbox, sent_at=None),
    history="6h",
)
dashboard

# %%
await dashboard.run()

# %%
{
    name: value
    for name, value in dashboard.stats.items()
    if name not in ("events_per_s", "seconds", "redraws", "chart_redraws")
}

# %%
# NBVAL_IGNORE_OUTPUT
stats = dashboard.stats
print(
    f"{stats['events_per_s']:,.0f} events/s over {stats['seconds']:.2f} s; "
    f"{stats['redraws']} redraws, {stats['chart_redraws']} of them with the chart"
)

# %% [markdown]
# The dashboard keeps its last state as attributes: `stats`, `alerts` (every closed alert),
# `open_alerts`, `series` (the last `history` buckets of each item) and `chart`. Its alerts are
# exactly those `run_stream` finds alone on the same stream, and the inbox got each of them once:

# %%
alone = await run_stream(
    replay_source(feed.events, span="5m"), ss.StreamProcessor(**SETTINGS, suppliers=feed.catalog)
)
dashboard.alerts.equals(alone.frame), sum(count for _, count in inbox) == dashboard.alerts.height

# %%
ss.evaluate(dashboard.alerts, feed.labels).filter(
    pl.col("metric").is_in(["precision", "recall", "n_alerts"])
)

# %%
dashboard.alerts.select("item_id", "supplier_id", "start", "end", "peak_demand", "threshold").head()

# %%
dashboard.series.group_by("item_id").len()["len"].unique().to_list()  # 6 h of 5-minute buckets

# %% [markdown]
# The last chart, as a static picture (the panel above shows the same):

# %%
dashboard.chart

# %% [markdown]
# ## 7. Start and stop an endless stream
#
# A wall-clock source never ends: `start()` returns at once and the pipeline runs in the background
# while you keep working; `stop()` (or the Stop button) cancels it and `start()` resumes where it
# stopped. Here ten minutes of event time play every second.

# %%
endless = LiveDashboard(
    lambda: merge_sources(
        order_source(20, span="1m", speed=600, seed=5),
        delivery_source(20, span="10m", max_wait="10m", quantity=(50, 150), speed=600, seed=6),
    ),
    ss.StreamProcessor(**SETTINGS),
)
endless

# %%
endless.start()
endless.running

# %%
await asyncio.sleep(3)  # the kernel is free meanwhile: other cells can run
endless.stop()
endless.running

# %%
# NBVAL_IGNORE_OUTPUT
endless.stats

# %%
await endless.aclose()  # stop for good and close the sources
