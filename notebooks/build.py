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
        ("md", """# Quickstart: events → stock levels → series → alerts

stockseries turns two event streams per item — **orders** (stock goes down) and **deliveries**
(stock goes up) — into running stock levels, per-item time series and demand-spike alerts.
This notebook walks the whole pipeline on simulated data. Everything is seeded, so the outputs
below are exactly what you get."""),
        ("code", SETUP),
        ("md", """## 1. Generate events

`simulate` builds a catalog, Poisson demand with a daily cycle, replenishing deliveries and a few
injected demand spikes whose windows come back as ground-truth `labels`."""),
        ("code", "sim = ss.simulate(8, start=\"2024-01-01\", days=2, seed=42)\nsim"),
        ("code", "sim.events.head()"),
        ("code", "sim.labels"),
        ("md", """## 2. Running stock levels

Events are processed in timestamp order (ties keep input order). `level` is the initial stock
plus deliveries minus orders so far; a negative level is unmet demand."""),
        ("code", "levels = ss.stock_levels(sim.events, initial=40)\nlevels.select(\"ts\", \"item_id\", \"kind\", \"quantity\", \"level\").head(8)"),
        ("md", """## 3. Per-item time series

`resample` buckets events on an epoch-aligned grid (here one minute). The series is dense: every
item has a row for every bucket from its first event to the end of the data."""),
        ("code", "series = ss.resample(sim.events, every=\"1m\", initial=40)\nseries.filter(pl.col(\"item_id\") == \"A000\").head()"),
        ("code", "outs = ss.stockouts(sim.events, initial=40)\nouts.head()"),
        ("code", "ss.days_of_cover(series, window=\"1d\")"),
        ("code", "charts.level_chart(series, outs, items=\"A000\")"),
        ("md", """## 4. Demand spikes and alerts

`detect_spikes` compares each bucket with a rolling baseline of the same item: here the mean of the
last 10 minutes (`smooth=10`) against the previous two hours (`window=120`), flagged above
mean + 6·σ — settings `tune` found on other data (see notebook 02). Consecutive flagged buckets
become one alert episode with a stable id."""),
        ("code", "detected = ss.detect_spikes(series, method=\"zscore\", window=120, k=6, min_demand=4, smooth=10)\nfound = ss.alerts(detected, suppliers=sim.catalog)\nfound"),
        ("code", "found.frame.select(\"item_id\", \"supplier_id\", \"start\", \"end\", \"peak_demand\", \"threshold\").head()"),
        ("code", "charts.demand_chart(detected, found, items=[\"A000\", \"A001\"])"),
        ("md", "How good are the alerts? The simulator knows where it injected spikes:"),
        ("code", "ss.evaluate(found, sim.labels, series=detected)"),
        ("code", "charts.evaluation_chart(found, sim.labels)"),
        ("code", "charts.alert_timeline(found)"),
    ],
    "02_tune_spike_thresholds.ipynb": [
        ("md", """# Tune spike thresholds against labelled spikes

A detector is only useful if analysts trust it. Here we search detector settings on one
simulated data set with known spikes, check them on a second one (a different seed: no tuning
on the test data), and explore interactively with the `SpikeTuner` panel."""),
        ("code", SETUP + "\nfrom stockseries.widgets import SpikeTuner"),
        ("code", "train = ss.simulate(20, start=\"2024-01-01\", days=2, seed=1)\ntrain_series = ss.resample(train.events, every=\"1m\")\ntrain"),
        ("md", "`tune` runs a grid over method, window, k and min_demand, then refines around the best setting."),
        ("code", "result = ss.tune(train_series, train.labels, progress=False)\nresult"),
        ("code", "result.best"),
        ("code", "charts.pr_curve(result.trials, current=result.best)"),
        ("md", "The chosen parameters on fresh data:"),
        ("code", "test = ss.simulate(20, start=\"2024-02-01\", days=2, seed=2)\ntest_series = ss.resample(test.events, every=\"1m\")\nfound = ss.alerts(ss.detect_spikes(test_series, **result.best), suppliers=test.catalog)\nss.evaluate(found, test.labels)"),
        ("md", """## The tuning panel

Move the sliders: the chart, the alert table and the precision / recall / F1 against the labels
update live. The panel keeps its last result as attributes (`params`, `alerts`, `scores`,
`chart`), and `export_params()` / `export_alerts()` hand the chosen setting on."""),
        ("code", "start = {name: result.best[name] for name in (\"method\", \"window\", \"k\", \"min_demand\", \"smooth\")}\ntuner = SpikeTuner(train_series, train.labels, catalog=train.catalog, items=[\"A000\", \"A003\"], **start)\ntuner"),
        ("code", "tuner.params, tuner.scores"),
        ("md", "Set a control from code (or drag it): a lower `k` catches more but cries wolf more often."),
        ("code", "tuner.k.value = 3.0\ntuner.refresh()\nlen(tuner.alerts), tuner.scores"),
        ("code", "print(tuner.export_json())"),
    ],
    "03_bring_your_own_data.ipynb": [
        ("md", """# Bring your own data: CSV / Parquet in, validation errors shown and fixed

`read_events` reads CSV, Parquet and NDJSON files (or a folder or glob of them) and pandas or
polars frames. It validates the schema — `ts`, `item_id`, `kind` (`order`|`delivery`),
`quantity` (integer > 0) — and never drops a row silently."""),
        ("code", SETUP + "\nimport tempfile\nfrom pathlib import Path\n\nDATA = Path(\"..\") / \"data\"\nwork = Path(tempfile.mkdtemp())"),
        ("code", "events = ss.read_events(DATA / \"events_small.csv\")\nevents.head()"),
        ("code", "events.schema"),
        ("md", """## A file with problems

Real exports are messy. This one has a refund row, a negative quantity, a missing item id and a
timestamp nobody can parse. Naive timestamps are taken as UTC; offsets are converted."""),
        ("code", """bad_csv = work / "export.csv"
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
    print(err)"""),
        ("md", "`strict=False` keeps going: valid events in one frame, every rejected row with its reason in another."),
        ("code", "checked = ss.read_events(bad_csv, strict=False)\nchecked"),
        ("code", "checked.rejected"),
        ("code", "checked.events"),
        ("md", "Fix the rejected rows (here: refunds are deliveries back into stock, the negative quantity was a sign error) and validate again:"),
        ("code", """fixed = (
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
all_events"""),
        ("md", "## Parquet and pandas\n\nParquet keeps the types; pandas in gives pandas out."),
        ("code", "events.write_parquet(work / \"events.parquet\")\nss.read_events(work / \"events.parquet\").equals(events)"),
        ("code", "pdf = events.to_pandas()\nlevels = ss.stock_levels(pdf, initial=20)\ntype(levels).__name__, levels[\"level\"].iloc[-1]"),
        ("code", "ss.resample(events, every=\"15m\").head()"),
    ],
    # NOTEBOOK 04 (live streams) goes here
    # NOTEBOOK 05 (scale / out-of-core) goes here
}


def build(name: str, cells: list[tuple[str, str]]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src)
        for kind, src in cells
    ]
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}).execute()
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
