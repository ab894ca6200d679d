# %% [markdown]
# # Bring your own data: CSV / Parquet in, validation errors shown and fixed
#
# `read_events` reads CSV, Parquet and NDJSON files (or a folder or glob of them) and pandas or
# polars frames. It validates the schema — `ts`, `item_id`, `kind` (`order`|`delivery`),
# `quantity` (integer > 0) — and never drops a row silently.

# %%
import tempfile
from pathlib import Path

import polars as pl

import stockseries as ss
from stockseries import charts

DATA = Path("..") / "data"
work = Path(tempfile.mkdtemp())

charts.enable_offline()  # no network needed; each chart also carries a picture (PNG)

# %%
events = ss.read_events(DATA / "events_small.csv")
events.head()

# %%
events.schema

# %% [markdown]
# ## A file with problems
#
# Real exports are messy. This one has a refund row, a negative quantity, a missing item id and a
# timestamp nobody can parse. Naive timestamps are taken as UTC; offsets are converted.

# %%
bad_csv = work / "export.csv"
bad_csv.write_text(
    "ts,item_id,kind,quantity\n"
    "2024-03-01T09:00:00Z,A1,order,2\n"
    "2024-03-01T10:00:00+01:00,A1,delivery,10\n"
    "2024-03-01 09:05:00,A2,order,1\n"
    "2024-03-01T09:06:00Z,A2,refund,1\n"
    "2024-03-01T09:07:00Z,A1,order,-3\n"
    "2024-03-01T09:08:00Z,,order,1\n"
    "next tuesday,A2,order,1\n"
)
try:
    ss.read_events(bad_csv)
except ss.EventValidationError as err:
    print(err)

# %% [markdown]
# `strict=False` keeps going: valid events in one frame, every rejected row with its reason in another.

# %%
checked = ss.read_events(bad_csv, strict=False)
checked

# %%
checked.rejected

# %%
checked.events

# %% [markdown]
# Fix the rejected rows (here: refunds are deliveries back into stock, the negative quantity was a sign error) and validate again:

# %%
fixed = (
    checked.rejected.filter(
        pl.col("reason").str.starts_with("kind") | pl.col("reason").str.starts_with("quantity")
    )
    .with_columns(
        pl.col("kind").replace({"refund": "delivery"}),
        pl.col("quantity").cast(pl.Int64).abs(),
    )
    .select("ts", "item_id", "kind", "quantity")
)
repaired = ss.validate_events(fixed)
all_events = ss.merge_streams(checked.events, repaired)
all_events

# %% [markdown]
# ## Parquet and pandas
#
# Parquet keeps the types; pandas in gives pandas out.

# %%
events.write_parquet(work / "events.parquet")
ss.read_events(work / "events.parquet").equals(events)

# %%
pdf = events.to_pandas()
levels = ss.stock_levels(pdf, initial=20)
type(levels).__name__, levels["level"].iloc[-1]

# %%
ss.resample(events, every="15m").head()
