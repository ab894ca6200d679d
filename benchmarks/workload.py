"""The core benchmark workload: generated with NumPy, cached as Parquet and CSV.

The workload is independent of stockseries on purpose, so the peers can be benchmarked (and
the harness tested) before or without the library: ``n`` events over 7 days for 1,000 string
item ids, about half orders and half deliveries, quantities 1-10, sorted by ``ts``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

#: Bump when the generator changes so stale cached files are not reused.
GENERATOR_VERSION = 1

N_ITEMS = 1_000
DAYS = 7
START = datetime(2024, 1, 1, tzinfo=UTC)
EVERY = "1m"
EVERY_US = 60_000_000
WINDOW = 60
K = 3.0
FRAME_EVENTS = 10_000
CSV_TS_FORMAT = "%Y-%m-%dT%H:%M:%S%.6fZ"

EVENT_COLUMNS = ("ts", "item_id", "kind", "quantity")


@dataclass(frozen=True)
class Workload:
    """One workload size and where its cached files live (created by :func:`prepare`)."""

    n_events: int
    seed: int
    work_dir: Path
    n_items: int = N_ITEMS
    days: float = DAYS

    @property
    def stem(self) -> str:
        return (
            f"events_{self.n_events}_i{self.n_items}_d{self.days:g}_s{self.seed}"
            f"_v{GENERATOR_VERSION}"
        )

    @property
    def parquet(self) -> Path:
        return self.work_dir / f"{self.stem}.parquet"

    @property
    def csv(self) -> Path:
        return self.work_dir / f"{self.stem}.csv"

    @property
    def series(self) -> Path:
        """Dense 1-minute series of the events: the common input of the zscore stage."""
        return self.work_dir / f"{self.stem}.series.parquet"

    @property
    def meta(self) -> Path:
        """Sizes of the in-memory inputs (the denominators of "peak ÷ input")."""
        return self.work_dir / f"{self.stem}.meta.json"

    @property
    def results_dir(self) -> Path:
        return self.work_dir / "results" / self.stem


def item_labels(n_items: int = N_ITEMS) -> list[str]:
    """Item ids ``SKU-0000`` ... as plain strings."""
    return [f"SKU-{i:04d}" for i in range(n_items)]


def generate_events(
    n_events: int, *, seed: int = 0, n_items: int = N_ITEMS, days: float = DAYS
) -> pl.DataFrame:
    """Generate the core workload in memory (vectorised NumPy, no per-event Python).

    Examples
    --------
    >>> events = generate_events(1_000, seed=1)
    >>> events.columns
    ['ts', 'item_id', 'kind', 'quantity']
    >>> events["ts"].is_sorted()
    True
    """
    rng = np.random.default_rng(seed)
    start_us = int(START.timestamp() * 1_000_000)
    span_us = round(days * 86_400 * 1_000_000)
    ts = np.sort(rng.integers(start_us, start_us + span_us, n_events, dtype=np.int64))
    item_codes = rng.integers(0, n_items, n_events, dtype=np.int64)
    is_order = rng.random(n_events) < 0.5
    quantity = rng.integers(1, 11, n_events, dtype=np.int64)
    labels = pl.Series("item_id", item_labels(n_items), dtype=pl.String)
    return pl.DataFrame(
        {
            "ts": pl.Series("ts", ts).cast(pl.Datetime("us", "UTC")),
            "item_id": labels.gather(item_codes),
            "kind": pl.Series("kind", is_order).replace_strict(
                {True: "order", False: "delivery"}, return_dtype=pl.String
            ),
            "quantity": quantity,
        }
    )


def _atomic_write(path: Path, write: object) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    write(tmp)  # type: ignore[operator]
    tmp.replace(path)


def prepare(
    n_events: int,
    *,
    seed: int = 0,
    work_dir: Path,
    n_items: int = N_ITEMS,
    days: float = DAYS,
) -> Workload:
    """Generate (or reuse) the Parquet, CSV and dense-series files of one workload size."""
    work = Workload(n_events, seed, work_dir, n_items, days)
    work_dir.mkdir(parents=True, exist_ok=True)
    events: pl.DataFrame | None = None

    def load() -> pl.DataFrame:
        return events if events is not None else pl.read_parquet(work.parquet)

    if not work.parquet.exists():
        events = generate_events(n_events, seed=seed, n_items=n_items, days=days)
        _atomic_write(work.parquet, events.write_parquet)
    if not work.csv.exists():
        frame = load()
        _atomic_write(work.csv, lambda p: frame.write_csv(p, datetime_format=CSV_TS_FORMAT))
    if not work.series.exists() or not work.meta.exists():
        # The hand-written Polars peer defines the shared zscore input, so that stage can be
        # benchmarked even when stockseries.series is not there yet.
        from benchmarks import peers_polars

        events = load()
        series = peers_polars.resample(events)
        _atomic_write(work.series, series.write_parquet)
        meta = {
            "events_mb": in_memory_mb(events),
            "series_rows": series.height,
            "series_mb": in_memory_mb(series),
        }
        work.meta.write_text(json.dumps(meta))
    work.results_dir.mkdir(parents=True, exist_ok=True)
    return work


def read_meta(work: Workload) -> dict[str, float]:
    return json.loads(work.meta.read_text())  # type: ignore[no-any-return]


def in_memory_mb(frame: pl.DataFrame) -> float:
    """Arrow in-memory size of a Polars frame, in MB (10^6 bytes)."""
    return frame.estimated_size() / 1e6
