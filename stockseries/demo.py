"""The main job: the whole pipeline on the bundled sample data.

``stockseries demo`` (and :func:`run_demo`) reads the bundled events, builds the per-item
series, finds stock-outs and demand spikes, scores the alerts against the simulator's
ground-truth labels and writes an offline HTML report plus an alerts CSV.
"""

from __future__ import annotations

import dataclasses
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
    """What the demo (or ``stockseries report``) did, printed by the CLI."""

    events: int
    items: int
    buckets: int
    stockouts: int
    alerts: int
    scores: dict[str, float]
    report: Path
    alerts_csv: Path
    command: str = "demo"
    every: str = "1m"

    def __str__(self) -> str:
        lines = [
            f"stockseries {self.command}: {self.events:,} events, {self.items} items, "
            f"{self.buckets:,} buckets of {self.every}",
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


_RULES = ("merge_gap", "min_buckets", "cooldown")


def run_report(
    events: pl.DataFrame,
    output: Path | str,
    *,
    settings: dict[str, Any],
    every: str = "1m",
    labels: pl.DataFrame | None = None,
    suppliers: pl.DataFrame | None = None,
    initial: Any = None,
    title: str = "stockseries report",
    source: dict[str, Any] | None = None,
    readable_alerts: bool = True,
    interactive: bool = False,
    progress: bool = True,
) -> DemoSummary:
    """The main job on any events: series, stock-outs, alerts, scores, report and alerts file.

    Writes ``report.html`` (self-contained, offline, recording ``settings``, the data span
    and the version) and ``alerts.csv`` into ``output``.

    Parameters
    ----------
    events
        Validated events.
    output
        Folder for ``report.html`` and ``alerts.csv`` (created).
    settings
        Detector settings (:func:`~stockseries.spikes.detect_spikes` keywords) and alert
        episode rules (``merge_gap``, ``min_buckets``, ``cooldown``), flat.
    every
        Bucket size.
    labels
        Labelled spikes (``item_id``, ``start``, ``end``) to score the alerts against.
    suppliers, initial
        Item → supplier table; initial stock (as :func:`~stockseries.series.resample`).
    title, source
        Report heading; what the data is (shown with the settings).
    readable_alerts
        Round ``threshold``, ``score`` and ``excess`` in ``alerts.csv`` to 3 decimals (the
        demo keeps its file byte for byte as it always was).
    interactive
        Charts drawn in the browser with Vega inlined (see :func:`write_report`).
    progress
        Show a progress bar.
    """
    import polars.selectors as cs
    from tqdm.auto import tqdm

    from stockseries._io import write_frame
    from stockseries.alerts import alerts, evaluate
    from stockseries.report import write_report
    from stockseries.series import resample, stockouts
    from stockseries.spikes import detect_spikes

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    detection = {k: v for k, v in settings.items() if k not in _RULES}
    rules = {k: v for k, v in settings.items() if k in _RULES}
    steps = tqdm(total=4, desc=title, disable=not progress)
    series = resample(events, every=every, initial=initial)
    outs = stockouts(events, initial=initial)
    steps.update()
    detected = detect_spikes(series, **detection)
    found = alerts(detected, params=detection, every=every, suppliers=suppliers, **rules)
    steps.update()
    scores: dict[str, float] = {}
    if labels is not None:
        scores_frame = evaluate(found, labels, series=detected)
        scores = {
            row["metric"]: float(row["value"])
            for row in scores_frame.iter_rows(named=True)
            if row["metric"] in ("precision", "recall", "f1") and row["value"] is not None
        }
    frame = found.frame.with_columns(cs.float().round(3)) if readable_alerts else found.frame
    alerts_csv = write_frame(frame, output / "alerts.csv")
    steps.update()
    report = write_report(
        output / "report.html",
        events=events,
        series=series,
        detected=detected,
        alerts=found,
        labels=labels,
        stockouts=outs,
        title=title,
        settings={"every": every, **settings},
        source=source,
        interactive=interactive,
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
        command="report",
        every=every,
    )


def run_demo(output: Path | str = "out", *, progress: bool = True) -> DemoSummary:
    """Run the pipeline on the bundled data and write ``report.html`` and ``alerts.csv``."""
    events, labels, catalog = load_sample()
    summary = run_report(
        events,
        output,
        settings=DEMO_PARAMS,
        labels=labels,
        suppliers=catalog,
        title="stockseries demo — bundled sample data",
        source={"events": "bundled sample data (data/events.parquet)", "labels": "data/labels.csv"},
        readable_alerts=False,
        progress=progress,
    )
    return dataclasses.replace(summary, command="demo")
