# %% [markdown]
# # Tune spike thresholds against labelled spikes
#
# A detector is only useful if analysts trust it. Here we search detector settings on one
# simulated data set with known spikes, check them on a second one (a different seed: no tuning
# on the test data), and explore interactively with the `SpikeTuner` panel.

# %%
import polars as pl

import stockseries as ss
from stockseries import charts
from stockseries.report import readable_metrics
from stockseries.widgets import SpikeTuner

pl.Config.set_tbl_rows(25).set_fmt_str_lengths(60)  # tables up to 25 rows in full
_ = charts.enable_offline()  # no network needed; each chart also carries a picture (PNG)

# %%
train = ss.simulate(20, start="2024-01-01", days=2, seed=1)
train_series = ss.resample(train.events, every="1m")
train

# %% [markdown]
# `tune` runs a grid over method, window, k and min_demand, then refines around the best setting.

# %%
result = ss.tune(train_series, train.labels, progress=False)
result

# %%
result.best

# %%
charts.pr_curve(result.trials, current=result.best)

# %% [markdown]
# The chosen parameters on fresh data:

# %%
test = ss.simulate(20, start="2024-02-01", days=2, seed=2)
test_series = ss.resample(test.events, every="1m")
found = ss.alerts(ss.detect_spikes(test_series, **result.best), suppliers=test.catalog)
readable_metrics(ss.evaluate(found, test.labels))

# %% [markdown]
# ## The tuning panel
#
# Move the sliders: the chart, the alert table and the precision / recall / F1 against the labels
# update live. The panel keeps its last result as attributes (`params`, `alerts`, `scores`,
# `chart`), and `export_params()` / `export_alerts()` hand the chosen setting on.

# %%
start = {name: result.best[name] for name in ("method", "window", "k", "min_demand", "smooth")}
tuner = SpikeTuner(
    train_series, train.labels, catalog=train.catalog, items=["A000", "A003"], **start
)
tuner

# %%
tuner.params, tuner.scores

# %% [markdown]
# Beside the transform control the panel says which transform the data call for
# (`choose_transform` on every item at the bucket size shown) and offers a "use it" button; the
# method's own default stays until you press it. The evidence:

# %%
tuner.transform_choice

# %% [markdown]
# Set a control from code (or drag it): a lower `k` catches more but cries wolf more often.

# %%
tuner.k.value = 3.0
tuner.refresh()
len(tuner.alerts), tuner.scores

# %%
print(tuner.export_json())
