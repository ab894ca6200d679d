"""stockseries under benchmark: each stage is one or two public calls.

Library functions are resolved lazily so that the harness still runs (and says which stage
is "not available") while parts of the library are missing.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import polars as pl

from benchmarks.workload import EVERY, WINDOW, K, Workload

NATIVE = "polars"

# stage -> the public names it calls, as (module, attribute)
REQUIRES: dict[str, tuple[tuple[str, str], ...]] = {
    "simulate": (("stockseries.generate", "simulate"),),
    "read_csv": (("stockseries.events", "read_events"),),
    "read_parquet": (("stockseries.events", "read_events"),),
    "stock_levels": (("stockseries.stock", "stock_levels"),),
    "resample": (("stockseries.series", "resample"),),
    "zscore": (("stockseries.spikes", "detect_spikes"),),
    "pipeline": (
        ("stockseries.events", "read_events"),
        ("stockseries.alerts", "detect_alerts"),
    ),
    "incremental": (("stockseries.live", "StreamProcessor"),),
}


def _api(module: str, name: str) -> Any:
    return getattr(importlib.import_module(module), name)


def available(stage: str) -> str | None:
    """``None`` when every name the stage needs imports, else what is missing."""
    for module, name in REQUIRES[stage]:
        try:
            _api(module, name)
        except Exception as error:  # a module mid-edit may fail to import in any way
            return f"{module}.{name} not available ({type(error).__name__}: {error})"
    return None


def simulate(work: Workload) -> pl.DataFrame:
    # Orders arrive at base_rate per item per minute; the replenishment deliveries and the
    # injected spikes add a few percent on top, so events/s is computed on the rows produced.
    base_rate = work.n_events / (work.n_items * work.days * 24 * 60)
    simulation = _api("stockseries.generate", "simulate")(
        work.n_items, days=float(work.days), seed=work.seed, base_rate=base_rate
    )
    return simulation.events  # type: ignore[no-any-return]


def read_csv(path: Path) -> pl.DataFrame:
    return _api("stockseries.events", "read_events")(path)  # type: ignore[no-any-return]


def read_parquet(path: Path) -> pl.DataFrame:
    return _api("stockseries.events", "read_events")(path)  # type: ignore[no-any-return]


def stock_levels(events: pl.DataFrame) -> pl.DataFrame:
    return _api("stockseries.stock", "stock_levels")(events)  # type: ignore[no-any-return]


def resample(events: pl.DataFrame) -> pl.DataFrame:
    return _api("stockseries.series", "resample")(events, every=EVERY)  # type: ignore[no-any-return]


def zscore(series: pl.DataFrame) -> pl.DataFrame:
    detect_spikes = _api("stockseries.spikes", "detect_spikes")
    return detect_spikes(series, "zscore", window=WINDOW, k=K)  # type: ignore[no-any-return]


def pipeline(path: Path) -> Any:
    events = _api("stockseries.events", "read_events")(path)
    detect_alerts = _api("stockseries.alerts", "detect_alerts")
    return detect_alerts(events, EVERY, "zscore", window=WINDOW, k=K)


class ClosedSeries:
    """What a stream consumer kept: the closed buckets that saw events (like the peers' dicts).

    Keeping every dense row would measure the consumer's memory, not the processor's.
    """

    def __init__(self) -> None:
        self.parts: list[pl.DataFrame] = []

    def keep(self, series: pl.DataFrame) -> None:
        self.parts.append(series.filter((pl.col("orders") + pl.col("deliveries")) > 0))

    @property
    def frame(self) -> pl.DataFrame:
        return pl.concat(self.parts, how="vertical_relaxed")


def incremental(frames: list[pl.DataFrame]) -> ClosedSeries:
    processor = _api("stockseries.live", "StreamProcessor")(every=EVERY, window=WINDOW, k=K)
    received = ClosedSeries()
    for frame in frames:
        received.keep(processor.push(frame).series)
    received.keep(processor.flush().series)
    return received
