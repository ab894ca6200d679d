"""The main job: the whole pipeline on the bundled sample data.

``stockseries demo`` (and :func:`run_demo`) reads the bundled events, builds the per-item
series, finds stock-outs and demand spikes, scores the alerts against the simulator's
ground-truth labels and writes an offline HTML report plus an alerts CSV.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

#: Detection settings used by ``stockseries demo``. ``tune`` found them on a *different*
#: simulated data set (``simulate(20, days=2, seed=1)``), not on the bundled one, so the
#: demo's scores are honest out-of-sample figures.
DEMO_PARAMS: dict[str, Any] = {
    "method": "zscore",
    "window": 120,
    "k": 6.0,
    "min_demand": 4,
    "smooth": 10,
}

#: Parameters of the bundled data set; ``data/regenerate.py`` uses the same ones.
SAMPLE_PARAMS: dict[str, Any] = {"n_items": 20, "days": 3.0, "seed": 7, "start": "2024-01-01"}


def bundled_data_dir() -> Path | None:
    """The repository's ``data/`` folder when running from a checkout, else ``None``."""
    candidate = Path(__file__).resolve().parents[1] / "data"
    return candidate if (candidate / "events.parquet").exists() else None


def load_sample() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Return ``(events, labels, catalog)`` of the bundled sample data.

    Outside a checkout (an installed wheel carries no ``data/``) the same data set is
    regenerated with the simulator, which is deterministic for a given seed.
    """
    from stockseries._io import read_table
    from stockseries.events import read_events

    folder = bundled_data_dir()
    if folder is None:
        from stockseries.generate import simulate

        sim = simulate(
            SAMPLE_PARAMS["n_items"],
            start=SAMPLE_PARAMS["start"],
            days=SAMPLE_PARAMS["days"],
            seed=SAMPLE_PARAMS["seed"],
        )
        return sim.events, sim.labels, sim.catalog
    events = read_events(folder / "events.parquet")
    labels = read_table(folder / "labels.csv", datetime_columns=("start", "end"))
    catalog = read_table(folder / "catalog.csv")
    return events, labels, catalog


@dataclass(frozen=True)
class DemoSummary:
    """What the demo did, printed by the CLI."""

    events: int
    items: int
    buckets: int
    stockouts: int
    alerts: int
    scores: dict[str, float]
    report: Path
    alerts_csv: Path

    def __str__(self) -> str:
        lines = [
            f"stockseries demo: {self.events:,} events, {self.items} items, "
            f"{self.buckets:,} one-minute buckets",
            f"  stock-out intervals: {self.stockouts}",
            f"  demand-spike alerts: {self.alerts}",
        ]
        if self.scores:
            lines.append(
                "  against the labelled spikes: "
                + ", ".join(f"{k} {v:.2f}" for k, v in self.scores.items())
            )
        lines += [f"  report: {self.report}", f"  alerts: {self.alerts_csv}"]
        return "\n".join(lines)


def run_demo(output: Path | str = "out", *, progress: bool = True) -> DemoSummary:
    """Run the pipeline on the bundled data and write ``report.html`` and ``alerts.csv``."""
    from tqdm.auto import tqdm

    from stockseries._io import write_frame
    from stockseries.alerts import alerts, evaluate
    from stockseries.report import write_report
    from stockseries.series import resample, stockouts
    from stockseries.spikes import detect_spikes

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    steps = tqdm(total=5, desc="demo", disable=not progress)
    events, labels, catalog = load_sample()
    steps.update()
    series = resample(events, every="1m")
    outs = stockouts(events)
    steps.update()
    detected = detect_spikes(series, **DEMO_PARAMS)
    found = alerts(detected, params=DEMO_PARAMS, every="1m", suppliers=catalog)
    steps.update()
    scores_frame = evaluate(found, labels, series=detected)
    scores = {
        row["metric"]: float(row["value"])
        for row in scores_frame.iter_rows(named=True)
        if row["metric"] in ("precision", "recall", "f1")
    }
    alerts_csv = write_frame(found.frame, output / "alerts.csv")
    steps.update()
    report = write_report(
        output / "report.html",
        events=events,
        series=series,
        detected=detected,
        alerts=found,
        labels=labels,
        stockouts=outs,
        title="stockseries demo — bundled sample data",
    )
    steps.update()
    steps.close()
    return DemoSummary(
        events=events.height,
        items=series["item_id"].n_unique(),
        buckets=series.height,
        stockouts=outs.height,
        alerts=len(found),
        scores=scores,
        report=report,
        alerts_csv=alerts_csv,
    )
