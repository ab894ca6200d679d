# %% [markdown]
# # Quickstart: events → stock levels → series → alerts
#
# stockseries turns two event streams per item — **orders** (stock goes down) and **deliveries**
# (stock goes up) — into running stock levels, per-item time series and demand-spike alerts.
# This notebook walks the whole pipeline on simulated data. Everything is seeded, so the outputs
# below are exactly what you get.

# %%
import polars as pl

import stockseries as ss
from stockseries import charts
from stockseries.report import readable_metrics

pl.Config.set_tbl_rows(25).set_fmt_str_lengths(60)  # tables up to 25 rows in full
charts.enable_offline()  # no network needed; each chart also carries a picture (PNG)

# %% [markdown]
# ## 1. Generate events
#
# `simulate` builds a catalog, Poisson demand with a daily cycle, replenishing deliveries and a few
# injected demand spikes whose windows come back as ground-truth `labels`.

# %%
sim = ss.simulate(8, start="2024-01-01", days=2, seed=42)
sim

# %%
sim.events.head()

# %%
sim.labels

# %% [markdown]
# ## 2. Running stock levels
#
# Events are processed in timestamp order (ties keep input order). `level` is the initial stock
# plus deliveries minus orders so far; a negative level is unmet demand.

# %%
levels = ss.stock_levels(sim.events, initial=40)
levels.select("ts", "item_id", "kind", "quantity", "level").head(8)

# %% [markdown]
# ## 3. Per-item time series
#
# `resample` buckets events on an epoch-aligned grid (here one minute). The series is dense: every
# item has a row for every bucket from its first event to the end of the data.

# %%
series = ss.resample(sim.events, every="1m", initial=40)
series.filter(pl.col("item_id") == "A000").head()

# %% [markdown]
# Stock-outs: intervals during which an item's level was below zero. Times are kept to the
# microsecond; rounded to the second they read better:

# %%
outs = ss.stockouts(sim.events, initial=40)
outs.with_columns(
    pl.col("start", "end").dt.round("1s"),
    pl.duration(seconds=pl.col("duration").dt.total_seconds().round()).alias("duration"),
)

# %%
ss.days_of_cover(series, window="1d")

# %%
charts.level_chart(series, outs, items="A003")  # an item that ran out of stock

# %% [markdown]
# ## 4. Demand spikes and alerts
#
# `detect_spikes` compares each bucket with a rolling baseline of the same item: here the mean of the
# last 10 minutes (`smooth=10`) against the previous two hours (`window=120`), flagged above
# mean + 6·σ — settings `tune` found on other data (see notebook 02). Consecutive flagged buckets
# become one alert episode with a stable id.

# %%
detected = ss.detect_spikes(series, method="zscore", window=120, k=6, min_demand=4, smooth=10)
found = ss.alerts(detected, suppliers=sim.catalog)
found

# %%
found.frame.select("item_id", "supplier_id", "start", "end", "peak_demand", "threshold").head()

# %%
charts.demand_chart(detected, found, items=["A000", "A001"])

# %% [markdown]
# How good are the alerts? The simulator knows where it injected spikes:

# %%
scores = ss.evaluate(found, sim.labels, series=detected)
readable_metrics(scores)  # names and units; `scores` keeps the numbers

# %%
charts.evaluation_chart(found, sim.labels)

# %%
charts.alert_timeline(found, span=series)  # the axis spans the data, not only the alerts
