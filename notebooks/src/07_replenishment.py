# %% [markdown]
# # When will it run out, and how much to order?
#
# A demand spike matters because stock runs out before the supplier can deliver. This notebook
# is the forward-looking half of stockseries: per item a **demand forecast**, a **reorder point**
# with its **safety stock**, the **suggested order**, and **stock-out risk alerts** that the same
# sinks deliver to suppliers as demand-spike alerts — in batch and live, with the same ids.
#
# The bundled data was simulated with a replenishment policy whose lead times the catalog
# records (`lead_time` per item, `review_period` 4 h), so the plan below is about the same
# world that produced the events.

# %%
import tempfile
from pathlib import Path

import polars as pl

import stockseries as ss
from stockseries import charts
from stockseries.notebook import PlanPanel, plan_chart, risk_chart

charts.enable_offline()
pl.Config.set_tbl_cols(12).set_tbl_width_chars(140).set_fmt_str_lengths(120)

DATA = Path("..") / "data"
events = ss.read_events(DATA / "events.parquet")
catalog = ss.read_catalog(DATA / "catalog.csv")
catalog.select("item_id", "description", "supplier_id", "lead_time", "review_period").head()

# %% [markdown]
# ## 1. The series and a demand forecast
#
# Ten-minute buckets. `demand_forecast` uses the detection baselines (the trailing mean, or an
# EWMA) and gives the expected demand over a horizon with its standard deviation.

# %%
series = ss.resample(events, "10m")
ss.demand_forecast(series, "4h", window="1d").head()

# %% [markdown]
# ## 2. Reorder points and suggested orders
#
# A periodic-review, order-up-to policy with a reorder point. With lead time `L`, review period
# `R` and the trailing window's rate `m` and variance `v`:
# `safety_stock = z·σ(L+R)`, `order_up_to = m·(L+R) + safety_stock`,
# `reorder_point = m·L + z·σ(L)`, `order_quantity = order_up_to − (level + on order)`.
# By default the service level is a **fill rate** (share of demand served from stock) and `z`
# solves the normal loss equation; `service="cycle"` uses `z = Φ⁻¹(service level)`.

# %%
plan = ss.reorder_points(series, catalog, service_level=0.95, window="1d")
plan.select(
    "item_id",
    "level",
    "lead_time",
    "daily_rate",
    "safety_stock",
    "reorder_point",
    "order_up_to",
    "order_quantity",
    "order_now",
).head(8)

# %% [markdown]
# Reorder points grow with the service level and the lead time (property-tested):

# %%
strict = ss.reorder_points(series, catalog, service_level=0.99, window="1d")
pl.DataFrame(
    {
        "item_id": plan["item_id"],
        "safety stock @95%": plan["safety_stock"].round(1),
        "safety stock @99%": strict["safety_stock"].round(1),
    }
).head(5)

# %% [markdown]
# ## 3. Stock-out risk now
#
# `p_stockout` is the probability that demand over the lead time exceeds what is in stock (plus
# on order): running out before a delivery ordered now can arrive. `cover` is how long the stock
# lasts at the current rate.

# %%
risk = ss.stockout_risk(series, catalog, window="1d")
risk.select("item_id", "level", "daily_rate", "cover", "projected_stockout", "p_stockout").head(8)

# %%
risk_chart(risk, service_level=0.95)

# %% [markdown]
# ## 4. Risk alerts over the history, delivered like spike alerts
#
# `risk_alerts` judges every bucket as `stockout_risk` would have at its end; a run of at-risk
# buckets is one episode of `kind="stockout_risk"`, with the message a purchaser acts on.

# %%
found = ss.risk_alerts(series, catalog, window="1d")
print(f"{found.height} stock-out risk episodes")
found.select("item_id", "start", "buckets", "level", "order_quantity", "message").head(5)

# %%
outbox = Path(tempfile.mkdtemp())
result = ss.notify(found, ss.FileSink(outbox / "suppliers.ndjson"), state=outbox / "sent.json")
again = ss.notify(found, ss.FileSink(outbox / "suppliers.ndjson"), state=outbox / "sent.json")
print(f"first run delivered {result.delivered}, second run {again.delivered} (idempotent by id)")

# %% [markdown]
# The item of the first episode, with its projected path at the current rate and its policy
# lines (hover for values; scroll to zoom, drag to pan):

# %%
item = found["item_id"][0]
plan_chart(series, plan, item)

# %% [markdown]
# ## 5. Live: the same episodes as events arrive
#
# `RiskMonitor` takes the closed series rows a `StreamProcessor` emits and issues the same
# episodes, with the same ids, as the batch call above.

# %%
processor = ss.StreamProcessor("10m")
monitor = ss.RiskMonitor(catalog, every="10m", window="1d")
for start in range(0, events.height, 20_000):
    monitor.update(processor.push(events.slice(start, 20_000)).series)
monitor.update(processor.flush().series)
live = monitor.alerts()
print("live == batch:", live.equals(found))

# %% [markdown]
# ## 6. Try it: service level and lead times
#
# `PlanPanel` recomputes the plan as you move the controls and lists the items that cross their
# reorder point or are at risk. From the command line the same table is
# `stockseries plan EVENTS --catalog CATALOG -o plan.csv [--risk-alerts risk.csv]`.
# `benchmarks/PLANNING.md` backtests following these suggestions on simulated demand.

# %%
panel = PlanPanel(series, catalog, window="1d")
panel
