"""The tuner's computations that are not widgets: scores, checks, files (the cached
detection, alerts and k curve are in :mod:`stockseries.notebook.tuner_engine`).

Public names inside the package (used by :mod:`stockseries.notebook.tuner`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl

from stockseries._frames import frame_of
from stockseries._io import AtomicFile
from stockseries._schema import ITEM, TS

__all__ = [
    "Stopwatch",
    "check_counts",
    "infer_every",
    "partition_items",
    "scores_of",
    "write_frame",
]


def check_counts(params: Mapping[str, Any]) -> None:
    """Refuse out-of-range numbers with a message (never clamp them)."""
    for name, low in (("window", 1), ("smooth", 1), ("merge_gap", 0), ("cooldown", 0)):
        if params[name] is not None and params[name] < low:  # window None: not used
            raise ValueError(f"{name} must be at least {low}, got {params[name]}")
    if params["k"] is not None and params["k"] <= 0:
        raise ValueError(f"k must be positive, got {params['k']}")


def scores_of(found: Any, labels: pl.DataFrame, *, series: Any = None) -> dict[str, float | None]:
    """Precision, recall and F1 of ``found`` against ``labels`` (``evaluate``'s numbers)."""
    from stockseries.alerts import evaluate

    tidy = frame_of(evaluate(found, labels, series=series))
    values = dict(zip(tidy["metric"].to_list(), tidy["value"].to_list(), strict=True))
    return {m: values.get(m) for m in ("precision", "recall", "f1")}


def write_frame(frame: pl.DataFrame, path: str | Path) -> None:
    suffix = Path(path).suffix.lower()
    writers: dict[str, Callable[..., Any]] = {
        ".csv": pl.DataFrame.write_csv,
        ".parquet": pl.DataFrame.write_parquet,
        ".ndjson": pl.DataFrame.write_ndjson,
        ".jsonl": pl.DataFrame.write_ndjson,
    }
    if suffix not in writers:
        raise ValueError(
            f"unsupported extension {suffix!r} for {path}; use .csv, .parquet or .ndjson"
        )
    with AtomicFile(path) as out:
        writers[suffix](frame, out.temporary)


class Stopwatch:
    """Named laps of one refresh."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._start = self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + now - self._last
        self._last = now

    @property
    def total(self) -> float:
        return self._last - self._start


def partition_items(series: pl.DataFrame) -> dict[str, pl.DataFrame]:
    return {
        str(key[0]): part
        for key, part in series.partition_by(ITEM, as_dict=True, maintain_order=True).items()
    }


def infer_every(series: pl.DataFrame) -> timedelta:
    """Native bucket size: the smallest step between consecutive buckets of an item."""
    step = (
        series.sort(ITEM, TS)
        .select(pl.col(TS).diff().over(ITEM).alias("step"))
        .filter(pl.col("step") > timedelta(0))["step"]
        .min()
    )
    if not isinstance(step, timedelta):
        raise ValueError(
            "cannot infer the bucket size from a series with one bucket per item; pass every="
        )
    return step
