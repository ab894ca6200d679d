"""Write the user-guide notebooks from the cell lists below and execute them in place.

The notebooks are the user guide and are checked by nbval against their stored outputs, so
their outputs must come from a real run with fixed seeds. After changing the public API or a
notebook's cells, regenerate them all:

    .venv/bin/python notebooks/build.py            # all notebooks
    .venv/bin/python notebooks/build.py 02         # only those whose name starts with 02

Cells starting with ``# NBVAL_IGNORE_OUTPUT`` hold genuinely variable output (timings, live
rates); nbval skips their comparison.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent

SETUP = """\
import polars as pl

import stockseries as ss
from stockseries import charts

charts.enable_offline()  # charts render as inline SVG: no network needed"""

NOTEBOOKS: dict[str, list[tuple[str, str]]] = {
    "01_quickstart.ipynb": [
        (
            "md",
            """# Quickstart: events → stock levels → series → alerts

stockseries turns two event streams per item — **orders** (stock goes down) and **deliveries**
(stock goes up) — into running stock levels, per-item time series and demand-spike alerts.
This notebook walks the whole pipeline on simulated data. Everything is seeded, so the outputs
below are exactly what you get.""",
        ),
        ("code", SETUP),
        (
            "md",
            """## 1. Generate events

`simulate` builds a catalog, Poisson demand with a daily cycle, replenishing deliveries and a few
injected demand spikes whose windows come back as ground-truth `labels`.""",
        ),
        ("code", 'sim = ss.simulate(8, start="2024-01-01", days=2, seed=42)\nsim'),
        ("code", "sim.events.head()"),
        ("code", "sim.labels"),
        (
            "md",
            """## 2. Running stock levels

Events are processed in timestamp order (ties keep input order). `level` is the initial stock
plus deliveries minus orders so far; a negative level is unmet demand.""",
        ),
        (
            "code",
            'levels = ss.stock_levels(sim.events, initial=40)\nlevels.select("ts", "item_id", "kind", "quantity", "level").head(8)',
        ),
        (
            "md",
            """## 3. Per-item time series

`resample` buckets events on an epoch-aligned grid (here one minute). The series is dense: every
item has a row for every bucket from its first event to the end of the data.""",
        ),
        (
            "code",
            'series = ss.resample(sim.events, every="1m", initial=40)\nseries.filter(pl.col("item_id") == "A000").head()',
        ),
        ("code", "outs = ss.stockouts(sim.events, initial=40)\nouts.head()"),
        ("code", 'ss.days_of_cover(series, window="1d")'),
        ("code", 'charts.level_chart(series, outs, items="A000")'),
        (
            "md",
            """## 4. Demand spikes and alerts

`detect_spikes` compares each bucket with a rolling baseline of the same item: here the mean of the
last 10 minutes (`smooth=10`) against the previous two hours (`window=120`), flagged above
mean + 6·σ — settings `tune` found on other data (see notebook 02). Consecutive flagged buckets
become one alert episode with a stable id.""",
        ),
        (
            "code",
            'detected = ss.detect_spikes(series, method="zscore", window=120, k=6, min_demand=4, smooth=10)\nfound = ss.alerts(detected, suppliers=sim.catalog)\nfound',
        ),
        (
            "code",
            'found.frame.select("item_id", "supplier_id", "start", "end", "peak_demand", "threshold").head()',
        ),
        ("code", 'charts.demand_chart(detected, found, items=["A000", "A001"])'),
        ("md", "How good are the alerts? The simulator knows where it injected spikes:"),
        ("code", "ss.evaluate(found, sim.labels, series=detected)"),
        ("code", "charts.evaluation_chart(found, sim.labels)"),
        ("code", "charts.alert_timeline(found)"),
    ],
    "02_tune_spike_thresholds.ipynb": [
        (
            "md",
            """# Tune spike thresholds against labelled spikes

A detector is only useful if analysts trust it. Here we search detector settings on one
simulated data set with known spikes, check them on a second one (a different seed: no tuning
on the test data), and explore interactively with the `SpikeTuner` panel.""",
        ),
        ("code", SETUP + "\nfrom stockseries.widgets import SpikeTuner"),
        (
            "code",
            'train = ss.simulate(20, start="2024-01-01", days=2, seed=1)\ntrain_series = ss.resample(train.events, every="1m")\ntrain',
        ),
        (
            "md",
            "`tune` runs a grid over method, window, k and min_demand, then refines around the best setting.",
        ),
        ("code", "result = ss.tune(train_series, train.labels, progress=False)\nresult"),
        ("code", "result.best"),
        ("code", "charts.pr_curve(result.trials, current=result.best)"),
        ("md", "The chosen parameters on fresh data:"),
        (
            "code",
            'test = ss.simulate(20, start="2024-02-01", days=2, seed=2)\ntest_series = ss.resample(test.events, every="1m")\nfound = ss.alerts(ss.detect_spikes(test_series, **result.best), suppliers=test.catalog)\nss.evaluate(found, test.labels)',
        ),
        (
            "md",
            """## The tuning panel

Move the sliders: the chart, the alert table and the precision / recall / F1 against the labels
update live. The panel keeps its last result as attributes (`params`, `alerts`, `scores`,
`chart`), and `export_params()` / `export_alerts()` hand the chosen setting on.""",
        ),
        (
            "code",
            'start = {name: result.best[name] for name in ("method", "window", "k", "min_demand", "smooth")}\ntuner = SpikeTuner(train_series, train.labels, catalog=train.catalog, items=["A000", "A003"], **start)\ntuner',
        ),
        ("code", "tuner.params, tuner.scores"),
        (
            "md",
            "Set a control from code (or drag it): a lower `k` catches more but cries wolf more often.",
        ),
        ("code", "tuner.k.value = 3.0\ntuner.refresh()\nlen(tuner.alerts), tuner.scores"),
        ("code", "print(tuner.export_json())"),
    ],
    "03_bring_your_own_data.ipynb": [
        (
            "md",
            """# Bring your own data: CSV / Parquet in, validation errors shown and fixed

`read_events` reads CSV, Parquet and NDJSON files (or a folder or glob of them) and pandas or
polars frames. It validates the schema — `ts`, `item_id`, `kind` (`order`|`delivery`),
`quantity` (integer > 0) — and never drops a row silently.""",
        ),
        (
            "code",
            SETUP
            + '\nimport tempfile\nfrom pathlib import Path\n\nDATA = Path("..") / "data"\nwork = Path(tempfile.mkdtemp())',
        ),
        ("code", 'events = ss.read_events(DATA / "events_small.csv")\nevents.head()'),
        ("code", "events.schema"),
        (
            "md",
            """## A file with problems

Real exports are messy. This one has a refund row, a negative quantity, a missing item id and a
timestamp nobody can parse. Naive timestamps are taken as UTC; offsets are converted.""",
        ),
        (
            "code",
            """bad_csv = work / "export.csv"
bad_csv.write_text(
    "ts,item_id,kind,quantity\\n"
    "2024-03-01T09:00:00Z,A1,order,2\\n"
    "2024-03-01T10:00:00+01:00,A1,delivery,10\\n"
    "2024-03-01 09:05:00,A2,order,1\\n"
    "2024-03-01T09:06:00Z,A2,refund,1\\n"
    "2024-03-01T09:07:00Z,A1,order,-3\\n"
    "2024-03-01T09:08:00Z,,order,1\\n"
    "next tuesday,A2,order,1\\n"
)
try:
    ss.read_events(bad_csv)
except ss.EventValidationError as err:
    print(err)""",
        ),
        (
            "md",
            "`strict=False` keeps going: valid events in one frame, every rejected row with its reason in another.",
        ),
        ("code", "checked = ss.read_events(bad_csv, strict=False)\nchecked"),
        ("code", "checked.rejected"),
        ("code", "checked.events"),
        (
            "md",
            "Fix the rejected rows (here: refunds are deliveries back into stock, the negative quantity was a sign error) and validate again:",
        ),
        (
            "code",
            """fixed = (
    checked.rejected
    .filter(pl.col("reason").str.starts_with("kind") | pl.col("reason").str.starts_with("quantity"))
    .with_columns(
        pl.col("kind").replace({"refund": "delivery"}),
        pl.col("quantity").cast(pl.Int64).abs(),
    )
    .select("ts", "item_id", "kind", "quantity")
)
repaired = ss.validate_events(fixed)
all_events = ss.merge_streams(checked.events, repaired)
all_events""",
        ),
        ("md", "## Parquet and pandas\n\nParquet keeps the types; pandas in gives pandas out."),
        (
            "code",
            'events.write_parquet(work / "events.parquet")\nss.read_events(work / "events.parquet").equals(events)',
        ),
        (
            "code",
            'pdf = events.to_pandas()\nlevels = ss.stock_levels(pdf, initial=20)\ntype(levels).__name__, levels["level"].iloc[-1]',
        ),
        ("code", 'ss.resample(events, every="15m").head()'),
    ],
    "04_live_streams.ipynb": [
        (
            "md",
            """# Live streams: async sources, an incremental processor equal to batch, a live dashboard

Inventory events rarely arrive as one file: orders and deliveries trickle in from several systems.
`stockseries.live` processes them as they come. **Async sources** yield event frames,
`merge_sources` merges them in event-time order, and a `StreamProcessor` keeps the running stock,
closes per-item buckets, detects spikes and cuts alert episodes incrementally, with results
**equal to the batch pipeline**. The `LiveDashboard` runs all of it on the notebook's event loop and
shows it as it happens. Everything is seeded, so the outputs below are reproducible; cells marked
`NBVAL_IGNORE_OUTPUT` hold wall-clock timings.""",
        ),
        (
            "code",
            SETUP
            + """
import asyncio
import tempfile
import time
from pathlib import Path

from stockseries.dashboard import LiveDashboard
from stockseries.live import (
    delivery_source,
    frame_source,
    merge_sources,
    order_source,
    replay_source,
    run_stream,
)

SETTINGS = {"every": "5m", "window": 60, "k": 6.0}  # five-hour baseline of 5-minute buckets""",
        ),
        (
            "md",
            """## 1. Async sources

A source is an async iterator of **event frames** (never single events: a frame of many events
costs one step of the processor). `order_source` and `delivery_source` call the seeded simulators
once per `span` of event time, so an endless stream uses flat memory; `frame_source` and
`replay_source` stream an in-memory frame or a recorded file.

Pacing: `speed=None` (the default) is a *virtual clock*: as fast as possible, yielding to the event
loop after each frame. `speed=60` plays one minute of event time per second of wall time with
`await asyncio.sleep`, so a waiting source never blocks anything else. In a notebook, `async for`
and `await` work directly in a cell.""",
        ),
        (
            "code",
            """orders = order_source(5, start="2024-01-01", end="2024-01-01T00:10:00Z", span="1m", seed=1)
frames = [frame async for frame in orders]
len(frames)""",
        ),
        ("code", "frames[0]"),
        (
            "md",
            """Sources do not block each other: three sources, each playing ten minutes of event time at
600× (one second of wall time each), run side by side in about one second, not three.""",
        ),
        (
            "code",
            """# NBVAL_IGNORE_OUTPUT
async def count_events(source):
    return sum([frame.height async for frame in source])


started = time.perf_counter()
counts = await asyncio.gather(
    *(count_events(order_source(5, end="2024-01-01T00:10:00Z", seed=seed, speed=600)) for seed in range(3))
)
print(f"{len(counts)} sources, {sum(counts)} events in {time.perf_counter() - started:.1f} s of wall time")""",
        ),
        ("code", "counts"),
        (
            "md",
            """## 2. Merging sources

`merge_sources` drains each source in its own task through a bounded queue (back-pressure: a slow
consumer slows the producers down and nothing is dropped) and emits frames in event-time order
across all of them.""",
        ),
        (
            "code",
            """merged = merge_sources(
    order_source(5, end="2024-01-01T01:00:00Z", seed=1),
    delivery_source(5, end="2024-01-01T01:00:00Z", span="10m", max_wait="10m", quantity=(20, 60), seed=2),
)
events = pl.concat([frame async for frame in merged], how="diagonal_relaxed")
events["ts"].is_sorted(), events.group_by("kind").len().sort("kind")""",
        ),
        (
            "md",
            """## 3. The StreamProcessor: watermark, lateness, late events

Each `push(frame)` returns a `StepResult` holding what the frame made new. The **watermark** is the
largest event time seen minus the allowed `lateness`; a bucket `[s, s + every)` closes once
`s + every ≤ watermark`, and only closed buckets are emitted (with their detection columns). An
event that arrives after its bucket closed is **late**: it is reported (`StepResult.late`,
`late_events`, the `late` counter) and changes nothing, unless the processor was built with
`corrections=True`.

One item, one-minute buckets, 30 seconds of allowed lateness:""",
        ),
        (
            "code",
            """def frame(*rows):
    ts, kind, quantity = zip(*rows)
    return pl.DataFrame({"ts": ts, "item_id": "A", "kind": kind, "quantity": quantity})


proc = ss.StreamProcessor("1m", window=5, lateness="30s")
proc.push(frame(
    ("2024-01-01T00:00:10Z", "delivery", 10),
    ("2024-01-01T00:00:40Z", "order", 2),
    ("2024-01-01T00:01:20Z", "order", 1),
))""",
        ),
        (
            "md",
            """The watermark is 00:00:50, so the 00:00 bucket is still open and an order stamped 00:00:55 that
comes with the next frame still counts. That frame moves the watermark to 00:01:35: the 00:00
bucket closes.""",
        ),
        (
            "code",
            """step = proc.push(frame(("2024-01-01T00:00:55Z", "order", 1), ("2024-01-01T00:02:05Z", "order", 3)))
step.series.select("item_id", "ts", "demand", "supply", "level")""",
        ),
        ("md", "An order for 00:00:58 arriving now is late: its bucket has closed."),
        (
            "code",
            """step = proc.push(frame(("2024-01-01T00:00:58Z", "order", 4)))
step.late""",
        ),
        ("code", "proc.stats"),
        (
            "md",
            """## 4. Incremental equals batch

The processor's contract: whatever the split of the events into frames (and any arrival order within
the lateness), the closed series and alerts equal `resample` + `detect_spikes` + `alerts` run in
batch on the same events. Here: twelve hours of ten items with five injected spikes, fed in frames
of 250 events.""",
        ),
        (
            "code",
            """sim = ss.simulate(10, start="2024-03-01", days=0.5, n_spikes=5, seed=4)
proc = ss.StreamProcessor(**SETTINGS, suppliers=sim.catalog)
steps = []
live_alerts = await run_stream(frame_source(sim.events, frame_size=250), proc, on_step=steps.append)
live_alerts""",
        ),
        (
            "code",
            """detected = ss.detect_spikes(ss.resample(sim.events, every="5m"), window=60, k=6.0)
batch_alerts = ss.alerts(detected, params={"window": 60, "k": 6.0}, every="5m", suppliers=sim.catalog)
live_series = pl.concat([step.series for step in steps]).sort("item_id", "ts")
live_alerts.frame.equals(batch_alerts.frame), live_series.equals(detected.select(live_series.columns))""",
        ),
        (
            "md",
            """## 5. Checkpoint and restore

`save` writes the whole state to one file, atomically; `load` resumes exactly there (and with
`expect=` refuses a checkpoint made with other settings). Half the stream before a "restart", the
rest after: the alerts are the same as in one go.""",
        ),
        (
            "code",
            """ordered = sim.events.sort("ts")
half = ordered.height // 2
before = ss.StreamProcessor(**SETTINGS, suppliers=sim.catalog)
closed = [before.push(piece).alerts_closed for piece in ss.iter_frames(ordered.head(half), size=250)]
checkpoint = before.save(Path(tempfile.mkdtemp()) / "live.ckpt")

after = ss.StreamProcessor.load(checkpoint, expect=SETTINGS)
closed += [after.push(piece).alerts_closed for piece in ss.iter_frames(ordered.slice(half), size=250)]
closed.append(after.flush().alerts_closed)
pl.concat(closed).sort("start", "item_id", maintain_order=True).equals(live_alerts.frame)""",
        ),
        (
            "md",
            """## 6. The live dashboard

`LiveDashboard` drives a processor from a source as a task on the kernel's event loop, so the
notebook stays usable while it runs. About once a second it updates the counters (events,
events/s, frames, late events, open and closed alerts, watermark), a demand and stock-level chart of
a few items over the recent history it keeps (bounded: `history` buckets per item) and the alert
list; closed alerts go to a sink as they close. The Start/Stop buttons, or `start()` and `stop()`,
pause and resume without losing or repeating an event.

Here it runs a **bounded** stream, twelve hours of 20 items replayed on a virtual clock, so that
the stored outputs of this notebook can be checked. Closed alerts go to a supplier inbox through a
`CallbackSink`. `await dashboard.run()` runs the stream to its end; the panel updates meanwhile.""",
        ),
        (
            "code",
            """feed = ss.simulate(20, start="2024-03-01", days=0.5, n_spikes=10, seed=11)
inbox = []
supplier_inbox = ss.CallbackSink(lambda supplier, payload: inbox.append((supplier, payload["count"])), name="inbox")
dashboard = LiveDashboard(
    lambda: replay_source(feed.events, span="5m"),  # a bounded stream on a virtual clock
    ss.StreamProcessor(**SETTINGS, suppliers=feed.catalog),
    sink=ss.Notifier(supplier_inbox, sent_at=None),
    history="6h",
)
dashboard""",
        ),
        ("code", "await dashboard.run()"),
        (
            "code",
            """{name: value for name, value in dashboard.stats.items() if name not in ("events_per_s", "seconds", "redraws", "chart_redraws")}""",
        ),
        (
            "code",
            """# NBVAL_IGNORE_OUTPUT
stats = dashboard.stats
print(f"{stats['events_per_s']:,.0f} events/s over {stats['seconds']:.2f} s; "
      f"{stats['redraws']} redraws, {stats['chart_redraws']} of them with the chart")""",
        ),
        (
            "md",
            """The dashboard keeps its last state as attributes: `stats`, `alerts` (every closed alert),
`open_alerts`, `series` (the last `history` buckets of each item) and `chart`. Its alerts are
exactly those `run_stream` finds alone on the same stream, and the inbox got each of them once:""",
        ),
        (
            "code",
            """alone = await run_stream(replay_source(feed.events, span="5m"), ss.StreamProcessor(**SETTINGS, suppliers=feed.catalog))
dashboard.alerts.equals(alone.frame), sum(count for _, count in inbox) == dashboard.alerts.height""",
        ),
        (
            "code",
            """ss.evaluate(dashboard.alerts, feed.labels).filter(pl.col("metric").is_in(["precision", "recall", "n_alerts"]))""",
        ),
        (
            "code",
            """dashboard.alerts.select("item_id", "supplier_id", "start", "end", "peak_demand", "threshold").head()""",
        ),
        (
            "code",
            """dashboard.series.group_by("item_id").len()["len"].unique().to_list()  # 6 h of 5-minute buckets""",
        ),
        ("md", "The last chart, as a static picture (the panel above shows the same):"),
        ("code", "dashboard.chart"),
        (
            "md",
            """## 7. Start and stop an endless stream

A wall-clock source never ends: `start()` returns at once and the pipeline runs in the background
while you keep working; `stop()` (or the Stop button) cancels it and `start()` resumes where it
stopped. Here ten minutes of event time play every second.""",
        ),
        (
            "code",
            """endless = LiveDashboard(
    lambda: merge_sources(
        order_source(20, span="1m", speed=600, seed=5),
        delivery_source(20, span="10m", max_wait="10m", quantity=(50, 150), speed=600, seed=6),
    ),
    ss.StreamProcessor(**SETTINGS),
)
endless""",
        ),
        (
            "code",
            """endless.start()
endless.running""",
        ),
        (
            "code",
            """await asyncio.sleep(3)  # the kernel is free meanwhile: other cells can run
endless.stop()
endless.running""",
        ),
        (
            "code",
            """# NBVAL_IGNORE_OUTPUT
endless.stats""",
        ),
        ("code", "await endless.aclose()  # stop for good and close the sources"),
    ],
    "05_scale.ipynb": [
        (
            "md",
            """# Scale: larger-than-memory data sets

A year of events for thousands of items does not fit in memory, but its per-item series and
alerts are the same whether you compute them in one go or a day at a time. `run_out_of_core`
reads a folder of Parquet files **one partition (or file) at a time**, pushes each into the
incremental engine (`StreamProcessor`, the one behind live streams) and streams the closed series
rows to a Parquet file. Memory holds one day of events plus the engine's small per-item state,
and the result is exactly the in-memory `resample` → `detect_spikes` → `alerts`.""",
        ),
        (
            "code",
            SETUP
            + """
import tempfile
from pathlib import Path

from stockseries.outofcore import ChunkOrderError, generate_dataset, run_out_of_core, write_partitioned

work = Path(tempfile.mkdtemp())
PARAMS = dict(method="zscore", window=120, k=6.0, min_demand=4, smooth=10)  # tuned in notebook 02""",
        ),
        (
            "md",
            """## 1. A day-partitioned Parquet data set

`write_partitioned` writes events as a *hive* data set: one folder per UTC day
(`day=2024-01-01/part-0.parquet`, …), each sorted by time. Writing again with `mode="append"` adds
part files (a partition is read as one chunk, whatever its number of parts). Most exports from
a warehouse or a data lake already look like this.""",
        ),
        (
            "code",
            """sim = ss.simulate(20, start="2024-01-01", days=4, seed=7)
files = write_partitioned(sim.events, work / "events")
[f.relative_to(work).as_posix() for f in files]""",
        ),
        (
            "md",
            """`read_events` reads the folder back (the `day` column comes from the folder names) — in memory:""",
        ),
        ("code", """ss.read_events(work / "events").group_by("day").len().sort("day")"""),
        (
            "md",
            """## 2. The out-of-core run

A first pass reads only the `ts` column to order the partitions by their first event and to
check that they do not overlap in time; then each partition is read, validated and pushed.
`progress=True` (the default) shows a progress bar; it is off here to keep the notebook's
output stable.""",
        ),
        (
            "code",
            """# NBVAL_IGNORE_OUTPUT
result = run_out_of_core(
    work / "events",
    every="1m",
    series_out=work / "series.parquet",
    alerts_out=work / "alerts.csv",
    suppliers=sim.catalog,
    progress=False,
    **PARAMS,
)
result""",
        ),
        (
            "code",
            """result.alerts.frame.select("item_id", "supplier_id", "start", "end", "peak_demand", "threshold").head()""",
        ),
        (
            "md",
            """## 3. Same answer as in memory

The in-memory pipeline on the same events gives the same alerts (ids included) and the same
series rows. The streamed series file is written in the order buckets close, so sort it first.""",
        ),
        (
            "code",
            """detected = ss.detect_spikes(ss.resample(sim.events, every="1m"), **PARAMS)
in_memory = ss.alerts(detected, params=PARAMS, suppliers=sim.catalog)
streamed = pl.read_parquet(work / "series.parquet").sort("item_id", "ts")
result.alerts.frame.equals(in_memory.frame), streamed.equals(detected)""",
        ),
        (
            "md",
            """When the events fit in memory but their dense series is large, `detect_alerts` gives the same
alerts in one call without ever holding the whole series or detection frame: it builds only the
watched column and detects a bounded number of rows at a time (at 10 M events its peak is about
2× the events in memory, against about 6× for the three calls; `benchmarks/RESULTS.md`).""",
        ),
        (
            "code",
            """lean = ss.detect_alerts(sim.events, "1m", suppliers=sim.catalog, **PARAMS)
lean.frame.equals(in_memory.frame)""",
        ),
        (
            "md",
            """## 4. When partitions overlap in time

Buckets close as event time moves on, so partitions may overlap by at most the `lateness` you
allow. An overlap is found by the first pass, before any work, and named — with the smallest
lateness that would accept it. Here a stray event of January 3rd sits in the January 2nd folder:""",
        ),
        (
            "code",
            """stray = ss.validate_events(
    pl.DataFrame({"ts": ["2024-01-03T00:20:00Z"], "item_id": ["A000"], "kind": ["order"], "quantity": [1]})
)
stray.write_parquet(work / "events" / "day=2024-01-02" / "part-1.parquet")
try:
    run_out_of_core(work / "events", progress=False, **PARAMS)
except ChunkOrderError as err:
    print(err)
    needed = err.needed""",
        ),
        (
            "md",
            """Either allow that lateness (nothing is late then, the result is still exact) or set the late
events aside: they are counted and handed back, never dropped silently.""",
        ),
        (
            "code",
            """allowed = run_out_of_core(work / "events", lateness=needed, progress=False, **PARAMS)
aside = run_out_of_core(work / "events", on_late="set_aside", progress=False, **PARAMS)
allowed, aside, aside.late_events.select("ts", "item_id", "kind", "quantity").head(3)""",
        ),
        (
            "md",
            """## 5. Larger data: generate straight to disk

`generate_dataset` simulates day by day straight into a partitioned data set (orders with a
daily cycle, injected spikes, deliveries that keep up with demand), so memory holds one day
however many events you ask for. It is what the 200-million-event benchmark runs on. Two
million events here:""",
        ),
        (
            "code",
            """big = generate_dataset(work / "big", 2_000_000, n_items=200, days=5, seed=1, progress=False)
big""",
        ),
        (
            "code",
            """# NBVAL_IGNORE_OUTPUT
run = run_out_of_core(big.events_dir, series_out=work / "big_series.parquet", progress=False, **PARAMS)
print(f"{run.events:,} events, {run.chunks} partitions, {run.series_rows:,} series rows, "
      f"{len(run.alerts)} alerts in {run.seconds:.1f} s ({run.events_per_second:,.0f} events/s); "
      f"peak RSS of this kernel {run.peak_rss / 2**30:.2f} GiB")""",
        ),
        (
            "code",
            """ss.evaluate(run.alerts, pl.read_parquet(big.labels_path)).filter(pl.col("metric").is_in(["precision", "recall"]))""",
        ),
        (
            "md",
            """## 6. From the command line

`stockseries series` and `stockseries detect` switch to the out-of-core pipeline by themselves
when the input is a folder (`--in-memory` to refuse, `--out-of-core` to force it for a single
file, `--lateness` for overlapping partitions, `-q` to hide the progress bar):

```bash
stockseries detect events/ -o alerts.csv --window 120 --k 6 --min-demand 4 --smooth 10
```""",
        ),
        (
            "code",
            """import contextlib

from stockseries.cli import main

with contextlib.chdir(work):
    main(["detect", "events", "-o", "cli_alerts.csv", "-q", "--lateness", "30m",
          "--window", "120", "--k", "6", "--min-demand", "4", "--smooth", "10"])""",
        ),
        (
            "md",
            """## Benchmark: 200 million events

On this project's 2-core, 23 GiB benchmark machine, `run_out_of_core` processed a
`generate_dataset` data set of **200,000,000 events** (1,000 items, 25 day partitions) in
**19 s** (10.5 M events/s) with a **peak RSS of 1.31 GiB**, streaming 35 M series rows to Parquet;
the same run from `stockseries detect <folder>` took 13 s and 1.00 GiB. Memory is set by the
events of one day, not by the size of the data set. Commands, versions and the in-memory
comparison: [`benchmarks/OUT_OF_CORE.md`](../benchmarks/OUT_OF_CORE.md).""",
        ),
        ("code", "import shutil\n\nshutil.rmtree(work)"),
    ],
}


def build(name: str, cells: list[tuple[str, str]]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src)
        for kind, src in cells
    ]
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}
    ).execute()
    for cell in nb.cells:  # ids are random per build; keep diffs small
        cell.pop("id", None)
    nb.nbformat_minor = 4
    nbformat.write(nb, HERE / name)
    print(f"wrote {name}")


def main(prefixes: list[str]) -> None:
    for name, cells in NOTEBOOKS.items():
        if not prefixes or any(name.startswith(p) for p in prefixes):
            build(name, cells)


if __name__ == "__main__":
    main(sys.argv[1:])
