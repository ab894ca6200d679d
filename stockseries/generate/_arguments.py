"""Argument checks shared by the generators: seeds, times, durations, ranges, catalogs."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl

from stockseries._frames import to_polars
from stockseries._schema import (
    ITEM,
)
from stockseries._time import duration_us, epoch_us
from stockseries.generate._types import (
    US_PER_HOUR,
    DurationLike,
    FloatArray,
    Rates,
    TimeLike,
    Weights,
)

#: Each generator draws from its own stream, so equal seeds never give correlated streams.
STREAM_IDS: Final = {
    "catalog": 1,
    "timed_orders": 2,
    "random_deliveries": 3,
    "poisson_demand": 4,
    "inject_spikes": 5,
    "replenish": 6,
    "realism": 7,
    # Planning columns of catalog(); a high id keeps room for the simulator's own streams.
    "lead_time": 20,
}


def stream_rng(seed: int, stream: str) -> np.random.Generator:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return np.random.default_rng(np.random.SeedSequence([STREAM_IDS[stream], int(seed)]))


def duration_bounds(
    value: DurationLike | tuple[DurationLike, DurationLike], name: str
) -> tuple[int, int]:
    if isinstance(value, tuple | list):
        if len(value) != 2:
            raise ValueError(
                f"{name} must be a duration or a (shortest, longest) pair, got {value!r}"
            )
        lo, hi = duration_us(value[0], f"{name}[0]"), duration_us(value[1], f"{name}[1]")
    else:
        lo = hi = duration_us(value, name)
    if lo > hi:
        raise ValueError(f"{name}: shortest {value[0]!r} is longer than longest {value[1]!r}")  # type: ignore[index]
    return lo, hi


def parse_span(start: TimeLike, end: TimeLike) -> tuple[int, int]:
    start_us, end_us = epoch_us(start, "start"), epoch_us(end, "end")
    if end_us <= start_us:
        raise ValueError(f"end ({end!r}) must be after start ({start!r})")
    return start_us, end_us


def is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def quantity_range(value: int | tuple[int, int], name: str = "quantity") -> tuple[int, int]:
    """Inclusive ``(low, high)`` with ``1 <= low <= high``; a single int means a fixed quantity."""
    pair = (value, value) if is_int(value) else value
    if not isinstance(pair, tuple | list) or len(pair) != 2 or not all(map(is_int, pair)):
        raise ValueError(
            f"{name} must be an int or an inclusive (low, high) pair of ints, got {value!r}"
        )
    lo, hi = int(pair[0]), int(pair[1])  # type: ignore[index, arg-type]
    if lo < 1:
        raise ValueError(f"{name} must be at least 1 (quantities are > 0), got {value!r}")
    if lo > hi:
        raise ValueError(f"{name} range is empty: low {lo} > high {hi}")
    return lo, hi


def multiplier_range(value: float | tuple[float, float]) -> tuple[float, float]:
    pair = (
        (value, value) if isinstance(value, int | float) and not isinstance(value, bool) else value
    )
    if not isinstance(pair, tuple | list) or len(pair) != 2:
        raise ValueError(f"multiplier must be a number or a (low, high) pair, got {value!r}")
    lo, hi = float(pair[0]), float(pair[1])
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo < 1.0:
        raise ValueError(f"multiplier must be finite and at least 1, got {value!r}")
    if lo > hi:
        raise ValueError(f"multiplier range is empty: low {lo} > high {hi}")
    return lo, hi


def daily_cycle(daily_amplitude: float, peak_hour: float) -> tuple[float, int]:
    amplitude = float(daily_amplitude)
    if not 0.0 <= amplitude <= 1.0:
        raise ValueError(
            f"daily_amplitude must be in [0, 1] (the rate must stay >= 0), got {daily_amplitude!r}"
        )
    peak = float(peak_hour)
    if not 0.0 <= peak < 24.0:
        raise ValueError(f"peak_hour must be in [0, 24), got {peak_hour!r}")
    return amplitude, round(peak * US_PER_HOUR)


def check_catalog(catalog: Any) -> tuple[pl.DataFrame, bool]:
    try:
        frame, was_pandas = to_polars(catalog)
    except TypeError:
        raise TypeError(
            f"catalog must be a polars or pandas DataFrame with an '{ITEM}' column "
            f"(e.g. from stockseries.generate.catalog()), got {type(catalog).__name__}"
        ) from None
    if ITEM not in frame.columns:
        raise ValueError(f"catalog has no '{ITEM}' column (columns: {frame.columns})")
    if frame.height == 0:
        raise ValueError("catalog has no items")
    items = frame[ITEM].cast(pl.String)
    if items.null_count():
        rows = np.flatnonzero(items.is_null().to_numpy())[:5].tolist()
        raise ValueError(f"catalog column '{ITEM}' has null values (rows {rows})")
    duplicated = items.filter(items.is_duplicated()).unique(maintain_order=True)
    if duplicated.len():
        raise ValueError(
            f"catalog column '{ITEM}' has duplicate ids: {duplicated.head(5).to_list()}"
        )
    return frame.with_columns(items), was_pandas


def per_item_values(
    value: Mapping[str, float] | Sequence[float] | npt.ArrayLike,
    items: pl.Series,
    name: str,
) -> FloatArray:
    """Non-negative finite numbers aligned with the catalog rows (missing mapping keys are 0)."""
    if isinstance(value, Mapping):
        known = set(items.to_list())
        unknown = [key for key in value if key not in known]
        if unknown:
            raise ValueError(f"{name} names items not in the catalog: {unknown[:5]}")
        array = np.array([float(value.get(item, 0.0)) for item in items.to_list()])
    else:
        array = np.asarray(value, dtype=np.float64).ravel()
        if array.shape[0] != items.len():
            raise ValueError(
                f"{name} has {array.shape[0]} values but the catalog has {items.len()} items"
            )
    bad = ~np.isfinite(array) | (array < 0)
    if bad.any():
        rows = np.flatnonzero(bad)[:5]
        raise ValueError(
            f"{name} must be finite and >= 0; offending items: "
            f"{dict(zip(items.gather(rows).to_list(), array[rows].tolist(), strict=True))}"
        )
    return array


def resolve_weights(weights: Weights, frame: pl.DataFrame) -> FloatArray | None:
    """Normalised picking probabilities, or ``None`` for uniform picking."""
    if weights is None or weights is False:
        return None
    if weights is True or (isinstance(weights, str) and weights == "catalog"):
        if "weight" not in frame.columns:
            raise ValueError("weights='catalog' needs a 'weight' column in the catalog")
        array = per_item_values(
            frame["weight"].cast(pl.Float64).to_numpy(), frame[ITEM], "catalog 'weight'"
        )
    elif isinstance(weights, str):
        raise ValueError(
            f"weights must be None, True, 'catalog', a mapping or a sequence, got {weights!r}"
        )
    else:
        array = per_item_values(weights, frame[ITEM], "weights")  # type: ignore[arg-type]
    total = array.sum()
    if total <= 0:
        raise ValueError("weights must have a positive sum")
    return array / total


def resolve_rates(rate: Rates, frame: pl.DataFrame) -> FloatArray:
    """Orders per minute per catalog row."""
    if rate is None:
        if "rate" not in frame.columns:
            raise ValueError("rate=None needs a 'rate' column in the catalog (or pass rate=)")
        return per_item_values(
            frame["rate"].cast(pl.Float64).to_numpy(), frame[ITEM], "catalog 'rate'"
        )
    if isinstance(rate, Mapping):
        return per_item_values(rate, frame[ITEM], "rate")
    if isinstance(rate, bool) or not isinstance(rate, int | float | np.number):
        raise TypeError(
            f"rate must be None, a number or a mapping item -> rate, got {type(rate).__name__}"
        )
    value = float(rate)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"rate must be finite and >= 0 (orders per minute), got {rate!r}")
    return np.full(frame.height, value)


def check_span_days(days: float) -> None:
    """``days`` must be a positive finite number (fractions allowed)."""
    if (
        isinstance(days, bool)
        or not isinstance(days, int | float)
        or not days > 0
        or not math.isfinite(days)
    ):
        raise ValueError(f"days must be a positive number, got {days!r}")


def check_base_rate(base_rate: float) -> None:
    """``base_rate`` must be a finite number >= 0 (orders per item per minute)."""
    if (
        isinstance(base_rate, bool)
        or not isinstance(base_rate, int | float)
        or not (math.isfinite(base_rate) and base_rate >= 0)
    ):
        raise ValueError(
            f"base_rate must be finite and >= 0 (orders per item per minute), got {base_rate!r}"
        )
