"""Seeded, vectorised simulators of inventory event streams.

Every generator draws from a :class:`numpy.random.Generator` derived from ``seed`` (and from
the generator's own name, so two generators given the same seed are still independent), does
all its random draws as whole NumPy arrays and builds the output frame once. The same
arguments always give the same frame.

The outputs are canonical event frames (see ``ARCHITECTURE.md``): ``ts``
(``Datetime("us", "UTC")``), ``item_id``, ``kind`` (``"order"``/``"delivery"``),
``quantity`` (``Int64`` > 0), plus ``event_id`` (unique and deterministic), ``customer_id``
on orders and ``supplier_id`` on deliveries. Rows are sorted by ``ts``.

* :func:`catalog` - items with descriptions, suppliers, popularity and order rates.
* :func:`timed_orders`, :func:`random_deliveries` - the two streams of the original
  core.async blog post: one order per tick, deliveries after uniform random waits.
* :func:`poisson_demand` - Poisson orders per item with a daily cycle.
* :func:`inject_spikes` - extra orders that multiply demand in labelled windows.
* :func:`simulate` - all of the above plus replenishing deliveries, in one call.
* :func:`merge_streams`, :func:`iter_frames` - combine streams, replay them in frames.

Times are ISO strings (naive means UTC), :class:`datetime.datetime` (pandas timestamps
included) or :class:`numpy.datetime64`; durations are Polars duration strings (``"90s"``,
``"1h30m"``) or :class:`datetime.timedelta`.
"""

from __future__ import annotations

import datetime as dt
import html
import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final, TypeAlias

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa

from stockseries._duration import duration_us
from stockseries._frames import is_pandas, like_input, to_polars
from stockseries._schema import (
    DELIVERY,
    ITEM,
    KIND,
    LABEL_COLUMNS,
    ORDER,
    QUANTITY,
    TS,
    TS_DTYPE,
    in_utc,
)

__all__ = [
    "Simulation",
    "catalog",
    "inject_spikes",
    "iter_frames",
    "merge_streams",
    "poisson_demand",
    "random_deliveries",
    "simulate",
    "timed_orders",
]

TimeLike: TypeAlias = str | dt.datetime | dt.date | np.datetime64
DurationLike: TypeAlias = str | dt.timedelta | np.timedelta64
Weights: TypeAlias = bool | str | Mapping[str, float] | Sequence[float] | npt.ArrayLike | None
Rates: TypeAlias = float | Mapping[str, float] | None

IntArray: TypeAlias = npt.NDArray[np.int64]
#: Any signed integer width: per-event codes are stored in the narrowest dtype that holds them.
CodeArray: TypeAlias = npt.NDArray[np.signedinteger[Any]]
FloatArray: TypeAlias = npt.NDArray[np.float64]

_US_PER_SECOND: Final = 1_000_000
_US_PER_MINUTE: Final = 60 * _US_PER_SECOND
_US_PER_HOUR: Final = 60 * _US_PER_MINUTE
_US_PER_DAY: Final = 24 * _US_PER_HOUR
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

#: Elements per step of the passes over whole event arrays: their temporaries stay small
#: (and in cache) instead of costing several event-sized arrays at large sizes.
_CHUNK: Final = 1 << 20

#: Random spikes start this long after the beginning of the span, so detectors have history.
SPIKE_WARMUP: Final = dt.timedelta(hours=6)
#: Minimum quiet time between two random spikes of the same item.
SPIKE_GAP: Final = dt.timedelta(hours=2)

#: Spread (sigma of the log) of the per-item order rates around the base rate.
_RATE_SIGMA: Final = 0.25
#: Orders name one of this many customers, drawn uniformly.
_N_CUSTOMERS: Final = 1_000

# Replenishment policy of simulate(): periodic review, order-up-to, delivered after a lead time.
_REVIEW_WAIT_MINUTES: Final = (120, 240)
_LEAD_TIME_MINUTES: Final = (30, 90)
_CASE_SIZES: Final = (6, 10, 12, 20, 24)
_SAFETY_FACTOR: Final = 1.15

# Each generator draws from its own stream, so equal seeds never give correlated streams.
_STREAM_IDS: Final = {
    "catalog": 1,
    "timed_orders": 2,
    "random_deliveries": 3,
    "poisson_demand": 4,
    "inject_spikes": 5,
    "replenish": 6,
}

# event_id prefixes; with the seed in the id, streams of distinct generators/seeds never clash.
_ID_PREFIX: Final = {
    "timed_orders": "T",
    "random_deliveries": "D",
    "poisson_demand": "P",
    "inject_spikes": "X",
    "simulate": "E",
}

_PART_NAMES: Final = (
    "Windscreen wiper",
    "Brake pad set",
    "Oil filter",
    "Air filter",
    "Cabin filter",
    "Spark plug",
    "Headlight bulb",
    "Tail light bulb",
    "Car battery 12V",
    "Coolant 5L",
    "Engine oil 5W-30",
    "Timing belt",
    "Fan belt",
    "Fuel pump",
    "Alternator",
    "Starter motor",
    "Radiator cap",
    "Brake disc",
    "Clutch kit",
    "Shock absorber",
    "Wheel bearing",
    "Side mirror glass",
    "Floor mat set",
    "Tyre valve",
    "Fuse assortment",
    "Horn",
    "Jump leads",
    "Tow rope",
    "Screenwash 5L",
    "Ice scraper",
    "Seat cover",
    "Door seal",
    "Exhaust clamp",
    "Thermostat",
    "Water pump",
    "Ignition coil",
    "Glow plug",
    "Brake fluid DOT4",
    "Wheel nut",
    "Number plate",
)
_VARIANTS: Final = ("front", "rear", "heavy-duty", "compact", "premium", "economy", "left", "right")


# --------------------------------------------------------------------------- argument parsing


def _rng(seed: int, stream: str) -> np.random.Generator:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return np.random.default_rng(np.random.SeedSequence([_STREAM_IDS[stream], int(seed)]))


def _to_us(value: TimeLike, name: str) -> int:
    """Microseconds since the Unix epoch; naive values are taken as UTC."""
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            raise ValueError(f"{name} is NaT")
        return int(value.astype("datetime64[us]").astype(np.int64))
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(
                f"{name}={value!r} is not an ISO-8601 timestamp (e.g. '2024-01-01T06:00:00Z')"
            ) from None
    if isinstance(value, dt.datetime):
        if value != value:  # pandas.NaT is a datetime that is not equal to itself
            raise ValueError(f"{name} is NaT")
        aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return int((aware - _EPOCH) // dt.timedelta(microseconds=1))
    if isinstance(value, dt.date):
        return _to_us(dt.datetime(value.year, value.month, value.day), name)
    raise TypeError(
        f"{name} must be an ISO string, datetime or numpy.datetime64, got {type(value).__name__}"
    )


def _duration_bounds(
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


def _span(start: TimeLike, end: TimeLike) -> tuple[int, int]:
    start_us, end_us = _to_us(start, "start"), _to_us(end, "end")
    if end_us <= start_us:
        raise ValueError(f"end ({end!r}) must be after start ({start!r})")
    return start_us, end_us


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _quantity_range(value: int | tuple[int, int], name: str = "quantity") -> tuple[int, int]:
    """Inclusive ``(low, high)`` with ``1 <= low <= high``; a single int means a fixed quantity."""
    pair = (value, value) if _is_int(value) else value
    if not isinstance(pair, tuple | list) or len(pair) != 2 or not all(map(_is_int, pair)):
        raise ValueError(
            f"{name} must be an int or an inclusive (low, high) pair of ints, got {value!r}"
        )
    lo, hi = int(pair[0]), int(pair[1])  # type: ignore[index, arg-type]
    if lo < 1:
        raise ValueError(f"{name} must be at least 1 (quantities are > 0), got {value!r}")
    if lo > hi:
        raise ValueError(f"{name} range is empty: low {lo} > high {hi}")
    return lo, hi


def _multiplier_range(value: float | tuple[float, float]) -> tuple[float, float]:
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


def _cycle(daily_amplitude: float, peak_hour: float) -> tuple[float, int]:
    amplitude = float(daily_amplitude)
    if not 0.0 <= amplitude <= 1.0:
        raise ValueError(
            f"daily_amplitude must be in [0, 1] (the rate must stay >= 0), got {daily_amplitude!r}"
        )
    peak = float(peak_hour)
    if not 0.0 <= peak < 24.0:
        raise ValueError(f"peak_hour must be in [0, 24), got {peak_hour!r}")
    return amplitude, round(peak * _US_PER_HOUR)


def _catalog_frame(catalog: Any) -> tuple[pl.DataFrame, bool]:
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


def _per_item(
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


def _resolve_weights(weights: Weights, frame: pl.DataFrame) -> FloatArray | None:
    """Normalised picking probabilities, or ``None`` for uniform picking."""
    if weights is None or weights is False:
        return None
    if weights is True or (isinstance(weights, str) and weights == "catalog"):
        if "weight" not in frame.columns:
            raise ValueError("weights='catalog' needs a 'weight' column in the catalog")
        array = _per_item(
            frame["weight"].cast(pl.Float64).to_numpy(), frame[ITEM], "catalog 'weight'"
        )
    elif isinstance(weights, str):
        raise ValueError(
            f"weights must be None, True, 'catalog', a mapping or a sequence, got {weights!r}"
        )
    else:
        array = _per_item(weights, frame[ITEM], "weights")  # type: ignore[arg-type]
    total = array.sum()
    if total <= 0:
        raise ValueError("weights must have a positive sum")
    return array / total


def _resolve_rates(rate: Rates, frame: pl.DataFrame) -> FloatArray:
    """Orders per minute per catalog row."""
    if rate is None:
        if "rate" not in frame.columns:
            raise ValueError("rate=None needs a 'rate' column in the catalog (or pass rate=)")
        return _per_item(frame["rate"].cast(pl.Float64).to_numpy(), frame[ITEM], "catalog 'rate'")
    if isinstance(rate, Mapping):
        return _per_item(rate, frame[ITEM], "rate")
    if isinstance(rate, bool) or not isinstance(rate, int | float | np.number):
        raise TypeError(
            f"rate must be None, a number or a mapping item -> rate, got {type(rate).__name__}"
        )
    value = float(rate)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"rate must be finite and >= 0 (orders per minute), got {rate!r}")
    return np.full(frame.height, value)


# --------------------------------------------------------------------------- random cores


@dataclass(frozen=True)
class _Draws:
    """Events as NumPy arrays, sorted by time; the frame is built once from these.

    Only ``ts`` is int64; the other fields use the narrowest signed dtype that holds their
    values, which keeps the intermediate arrays of a large simulation small.
    """

    ts: IntArray
    item: CodeArray  # catalog row
    quantity: CodeArray
    customer: CodeArray  # customer number, -1 for deliveries

    FIELDS: ClassVar[tuple[str, ...]] = ("ts", "item", "quantity", "customer")

    @property
    def size(self) -> int:
        return int(self.ts.shape[0])


def _empty_draws() -> _Draws:
    empty = np.empty(0, dtype=np.int64)
    return _Draws(empty, empty, empty, empty)


def _narrowest(low: int, high: int) -> np.dtype[np.signedinteger[Any]]:
    """The smallest signed integer dtype holding every value of ``[low, high]``."""
    for dtype in (np.int8, np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


def _draw_integers(
    rng: np.random.Generator, low: int, high: int, n: int, dtype: npt.DTypeLike
) -> CodeArray:
    """``rng.integers(low, high, size=n, dtype=np.int64)``, stored as ``dtype``.

    Drawn in chunks: NumPy fills int64 draws one value at a time from the bit stream (no
    state kept between values of one call), so consecutive chunks give the same numbers
    as one big call, without its event-sized int64 temporary.
    """
    out = np.empty(n, dtype=dtype)
    for lo in range(0, n, _CHUNK):
        hi = min(lo + _CHUNK, n)
        out[lo:hi] = rng.integers(low, high, size=hi - lo, dtype=np.int64)
    return out


def _pick_items(rng: np.random.Generator, p: FloatArray | None, k: int, n: int) -> CodeArray:
    """``n`` catalog rows drawn with probabilities ``p`` (uniform when ``None``)."""
    rows = _draw_integers(rng, 0, k, n, _narrowest(-1, k - 1))
    if p is None:
        return rows
    # Walker's alias method: O(1) per draw, several times faster than searchsorted on a CDF.
    scaled = p * k
    prob = np.ones(k)
    alias = np.arange(k)
    small = [i for i in range(k) if scaled[i] < 1.0]
    large = [i for i in range(k) if scaled[i] >= 1.0]
    while small and large:
        s, g = small.pop(), large.pop()
        prob[s], alias[s] = scaled[s], g
        scaled[g] -= 1.0 - scaled[s]
        (small if scaled[g] < 1.0 else large).append(g)
    # All columns are drawn before all coin flips (the order of the original whole-array
    # draws); the flips come chunk by chunk into one reused buffer.
    alias_rows = alias.astype(rows.dtype)
    flips = np.empty(min(n, _CHUNK))
    for lo in range(0, n, _CHUNK):
        column = rows[lo : lo + _CHUNK]
        flip = rng.random(out=flips[: column.shape[0]])
        at = column.astype(np.intp)
        np.copyto(column, np.take(alias_rows, at), where=flip >= np.take(prob, at))
    return rows


def _draw_customers(rng: np.random.Generator, n: int) -> CodeArray:
    return _draw_integers(rng, 0, _N_CUSTOMERS, n, _narrowest(-1, _N_CUSTOMERS - 1))


def _draw_quantities(rng: np.random.Generator, quantity: tuple[int, int], n: int) -> CodeArray:
    return _draw_integers(rng, quantity[0], quantity[1] + 1, n, _narrowest(*quantity))


def _uniform_points(
    rng: np.random.Generator, p0: IntArray, p1: IntArray, counts: IntArray
) -> IntArray:
    """``counts[g]`` uniform points in each ``[p0[g], p1[g])``, sorted within each piece.

    Normalised cumulative sums of exponential spacings are uniform order statistics, so the
    points come out sorted in O(n) instead of an O(n log n) sort. The running sums are kept
    in the output's own memory (viewed as float64) and turned into times chunk by chunk,
    so the only event-sized array is the result.
    """
    n = int(counts.sum())
    points = np.empty(n, dtype=np.int64)
    cumulative = points.view(np.float64)
    rng.standard_exponential(out=cumulative)
    np.cumsum(cumulative, out=cumulative)
    closing = rng.standard_exponential(counts.shape[0])  # the spacing after the last point
    if n == 0:
        return points
    ends = np.cumsum(counts)
    # cumulative sum before a piece's first point and at its last one (0 before the first)
    first = ends - counts
    before = np.where(first > 0, cumulative[np.maximum(first - 1, 0)], 0.0)
    total = np.where(ends > 0, cumulative[np.maximum(ends - 1, 0)], 0.0) - before + closing
    width = p1 - p0
    scale = width / total
    last = width - 1
    for lo in range(0, n, _CHUNK):
        hi = min(lo + _CHUNK, n)
        g0 = int(np.searchsorted(ends, lo, side="right"))
        g1 = int(np.searchsorted(ends, hi - 1, side="right")) + 1
        repeats = np.minimum(ends[g0:g1], hi) - np.maximum(first[g0:g1], lo)
        unit = cumulative[lo:hi] - np.repeat(before[g0:g1], repeats)
        unit *= np.repeat(scale[g0:g1], repeats)
        offset = unit.astype(np.int64)
        # guards float rounding at 1.0
        np.minimum(offset, np.repeat(last[g0:g1], repeats), out=offset)
        offset += np.repeat(p0[g0:g1], repeats)
        points[lo:hi] = offset
    return points


def _cycle_integral(t0: IntArray, t1: IntArray, amplitude: float, peak_us: int) -> FloatArray:
    """Integral in minutes of ``1 + a·cos(2π(hour − peak)/24)`` over ``[t0, t1)``."""
    minutes = (t1 - t0) / _US_PER_MINUTE
    if amplitude == 0.0:
        return minutes
    # Reduce modulo a day in integers first so the phase keeps full precision for any date.
    phase0 = 2 * np.pi * ((t0 - peak_us) % _US_PER_DAY) / _US_PER_DAY
    phase1 = 2 * np.pi * ((t1 - peak_us) % _US_PER_DAY) / _US_PER_DAY
    day_minutes = _US_PER_DAY / _US_PER_MINUTE
    return minutes + amplitude * day_minutes / (2 * np.pi) * (np.sin(phase1) - np.sin(phase0))


def _arrivals(
    rng: np.random.Generator,
    seg_start: IntArray,
    seg_end: IntArray,
    seg_rate: FloatArray,
    amplitude: float,
    peak_us: int,
) -> tuple[IntArray, IntArray]:
    """Poisson arrivals at ``seg_rate·cycle(t)`` per minute on each ``[start, end)`` segment.

    Segments are cut at epoch-aligned minutes; each piece gets a Poisson count with the exact
    integral of the intensity as mean, and sorted uniform offsets inside the piece (the cycle
    changes the rate by < 0.3 % within a minute). Returns ``(ts, arrivals per segment)``;
    ``ts`` is sorted in time within each segment, segments in the given order.
    """
    first = seg_start // _US_PER_MINUTE
    stop = -(-seg_end // _US_PER_MINUTE)
    n_pieces = stop - first
    piece_seg = np.repeat(np.arange(seg_start.shape[0]), n_pieces)
    piece_rank = np.arange(piece_seg.shape[0]) - np.repeat(np.cumsum(n_pieces) - n_pieces, n_pieces)
    minute = (first[piece_seg] + piece_rank) * _US_PER_MINUTE
    p0 = np.maximum(minute, seg_start[piece_seg])
    p1 = np.minimum(minute + _US_PER_MINUTE, seg_end[piece_seg])
    expected = seg_rate[piece_seg] * _cycle_integral(p0, p1, amplitude, peak_us)
    counts = rng.poisson(np.maximum(expected, 0.0)).astype(np.int64)
    per_segment = np.zeros(seg_start.shape[0], dtype=np.int64)
    np.add.at(per_segment, piece_seg, counts)
    return _uniform_points(rng, p0, p1, counts), per_segment


def _timed_core(
    rng: np.random.Generator,
    k: int,
    p: FloatArray | None,
    start: int,
    end: int,
    every: int,
    quantity: tuple[int, int],
) -> _Draws:
    n = -(-(end - start) // every)
    ts = start + np.arange(n, dtype=np.int64) * every
    item = _pick_items(rng, p, k, n)
    qty = _draw_quantities(rng, quantity, n)
    customer = _draw_customers(rng, n)
    return _Draws(ts, item, qty, customer)


def _deliveries_core(
    rng: np.random.Generator,
    k: int,
    p: FloatArray | None,
    start: int,
    end: int,
    max_wait: int,
    quantity: tuple[int, int],
) -> _Draws:
    expected = (end - start) / ((max_wait - 1) / 2)
    batch = int(expected * 1.05 + 6 * math.sqrt(expected) + 16)
    chunks: list[IntArray] = []
    last = start
    # Usually one batch; loop only tops up when the first batch falls short of ``end``.
    while last < end:
        times = last + np.cumsum(rng.integers(0, max_wait, size=batch, dtype=np.int64))
        chunks.append(times[times < end])
        last = int(times[-1])
    ts = np.concatenate(chunks) if chunks else np.empty(0, dtype=np.int64)
    n = ts.shape[0]
    item = _pick_items(rng, p, k, n)
    qty = _draw_quantities(rng, quantity, n)
    return _Draws(ts, item, qty, np.full((n,), -1, dtype=np.int8))


def _poisson_core(
    rng: np.random.Generator,
    rates: FloatArray,
    start: int,
    end: int,
    amplitude: float,
    peak_us: int,
    quantity: tuple[int, int],
) -> _Draws:
    total = float(rates.sum())
    if total == 0.0:
        return _empty_draws()
    # All items share the daily cycle, so their superposition is one Poisson process at the
    # summed rate whose events are marked with an item independently: no sort needed.
    ts, _ = _arrivals(
        rng, np.array([start]), np.array([end]), np.array([total]), amplitude, peak_us
    )
    n = ts.shape[0]
    item = _pick_items(rng, rates / total, rates.shape[0], n)
    qty = _draw_quantities(rng, quantity, n)
    customer = _draw_customers(rng, n)
    return _Draws(ts, item, qty, customer)


def _spike_orders_core(
    rng: np.random.Generator,
    rates: FloatArray,
    labels: pl.DataFrame,
    item_row: IntArray,
    amplitude: float,
    peak_us: int,
    quantity: tuple[int, int],
) -> _Draws:
    if labels.height == 0:
        return _empty_draws()
    starts = labels["start"].dt.epoch("us").to_numpy()
    ends = labels["end"].dt.epoch("us").to_numpy()
    extra = (labels["multiplier"].to_numpy() - 1.0) * rates[item_row]
    ts, per_window = _arrivals(rng, starts, ends, extra, amplitude, peak_us)
    window = np.repeat(np.arange(per_window.shape[0]), per_window)
    order = np.argsort(ts, kind="stable")  # windows of different items overlap in time
    rows = item_row.astype(_narrowest(-1, rates.shape[0] - 1))
    ts, item = ts[order], rows[window[order]]
    n = ts.shape[0]
    qty = _draw_quantities(rng, quantity, n)
    customer = _draw_customers(rng, n)
    return _Draws(ts, item, qty, customer)


def _merge_positions(parts: Sequence[IntArray]) -> list[IntArray]:
    """Where each element of each sorted array lands in their stable merge.

    Ties keep argument order. An element's position is its own index plus how many elements
    of every other part precede it; that count comes from searching the shorter array in the
    longer one (a histogram + cumsum when the longer one is the one being placed), so the
    cost is linear in the big part and logarithmic per element of the small ones.
    """
    positions = []
    for j, x in enumerate(parts):
        pos = np.arange(x.shape[0], dtype=np.int64)
        for p, y in enumerate(parts):
            if p == j or x.shape[0] == 0 or y.shape[0] == 0:
                continue
            if x.shape[0] <= y.shape[0]:
                # earlier parts win ties: count y <= x for them, y < x for later ones
                pos += np.searchsorted(y, x, side="right" if p < j else "left")
            else:
                first_after = np.searchsorted(x, y, side="left" if p < j else "right")
                pos += np.cumsum(np.bincount(first_after, minlength=x.shape[0] + 1))[:-1]
        positions.append(pos)
    return positions


def _merge_order(parts: Sequence[IntArray]) -> IntArray:
    """Stable merge permutation of already-sorted arrays (ties keep argument order)."""
    order = np.empty(sum(x.shape[0] for x in parts), dtype=np.int64)
    offset = 0
    for x, pos in zip(parts, _merge_positions(parts), strict=True):
        order[pos] = offset + np.arange(x.shape[0])
        offset += x.shape[0]
    return order


def _concat_draws(parts: Sequence[tuple[str, _Draws]]) -> tuple[_Draws, npt.NDArray[np.int8]]:
    """Merge draws by time (stable, argument order on ties); also returns the kind codes.

    Only the smaller parts are placed by :func:`_merge_positions`-style searches; the largest
    part fills the remaining slots in order, one chunk of the output at a time (a masked
    assignment per field), which is cheaper than computing and scattering to its positions.
    Each merged field takes the widest dtype of that field among the parts.
    """
    stamps = [d.ts for _, d in parts]
    sizes = [x.shape[0] for x in stamps]
    n = sum(sizes)
    largest = int(np.argmax(sizes)) if parts else 0
    kinds = np.empty(n, dtype=np.int8)
    fields: dict[str, CodeArray] = {
        f: np.empty(n, dtype=np.result_type(np.int8, *(getattr(d, f) for _, d in parts)))
        for f in _Draws.FIELDS
    }
    free = np.ones(n, dtype=bool)
    for j, (kind, d) in enumerate(parts):
        if j == largest or d.size == 0:
            continue
        pos = np.arange(d.size, dtype=np.int64)
        for p, y in enumerate(stamps):
            if p != j and y.shape[0]:
                # earlier parts win ties: count y <= x for them, y < x for later ones
                pos += np.searchsorted(y, d.ts, side="right" if p < j else "left")
        free[pos] = False
        kinds[pos] = 0 if kind == ORDER else 1
        for name, out in fields.items():
            out[pos] = getattr(d, name)
    if parts:
        kind, d = parts[largest]
        kinds[free] = 0 if kind == ORDER else 1
        taken = 0  # elements of the largest part already placed
        for lo in range(0, n, _CHUNK):
            mask = free[lo : lo + _CHUNK]
            count = int(np.count_nonzero(mask))
            for name, out in fields.items():
                out[lo : lo + _CHUNK][mask] = getattr(d, name)[taken : taken + count]
            taken += count
    return _Draws(**fields), kinds


# --------------------------------------------------------------------------- frame building


def _id_strings(prefix: str, width: int, n: int) -> list[str]:
    return [f"{prefix}{i:0{width}d}" for i in range(n)]


def _digit_table(places: Sequence[tuple[int, int]]) -> npt.NDArray[np.uint64]:
    """``table[x]`` = the ASCII digits of ``x`` as bytes of a little-endian uint64.

    ``places`` lists ``(power of ten, byte offset)`` from the most significant digit down;
    ``x`` has ``len(places)`` digits.
    """
    x = np.arange(10 ** len(places), dtype=np.uint64)
    table = np.zeros(x.shape[0], dtype=np.uint64)
    for exponent, offset in places:
        digit = (x // np.uint64(10**exponent)) % np.uint64(10) + np.uint64(ord("0"))
        table |= digit << np.uint64(8 * offset)
    return table


def _row_ids(prefix: str, n: int) -> pl.Series:
    """``prefix`` + zero-padded row number: unique, deterministic and sortable as strings.

    Formatting 10 M ids in Polars takes longer than generating the events, so short ids
    (<= 12 bytes, stored inline in Arrow string views) are written straight into the view
    buffer; longer ones fall back to Polars formatting.
    """
    width = len(str(max(n - 1, 0)))
    text_len = len(prefix) + width
    if text_len > 12 or not prefix.isascii():
        return pl.select(
            pl.concat_str(pl.lit(prefix), pl.int_range(n).cast(pl.String).str.zfill(width))
        ).to_series()
    # A view is 16 bytes: int32 length, then the (<= 12) bytes of the string itself; read as
    # two little-endian uint64 words, "head" holds the length and text[:4], "tail" text[4:].
    # The digit with place value 10**e sits at text[text_len - 1 - e]; the lowest
    # ``n_tail`` digits fall into the tail word and the rest into the head word.
    text = prefix.encode().ljust(12, b"\0")
    head_constant = text_len | int.from_bytes(text[:4], "little") << 32
    tail_constant = int.from_bytes(text[4:], "little")
    n_tail = max(0, min(width, text_len - max(4, len(prefix))))
    n_low = min(n_tail, 3)  # ids run in blocks of 10**n_low sharing every higher digit
    tail_low = _digit_table([(e, text_len - 1 - e - 4) for e in reversed(range(n_low))])
    tail_high = _digit_table(
        [(e - n_low, text_len - 1 - e - 4) for e in reversed(range(n_low, n_tail))]
    ) | np.uint64(tail_constant)
    head = _digit_table(
        [(e - n_tail, text_len - 1 - e + 4) for e in reversed(range(n_tail, width))]
    ) | np.uint64(head_constant)
    # Whole blocks are filled by broadcasting (no per-row division); the ragged end is cut.
    block = 10**n_low
    n_blocks = -(-n // block)
    block_number = np.arange(n_blocks, dtype=np.int64)
    high_span = 10 ** (n_tail - n_low)
    views = np.empty((n_blocks, block, 2), dtype=np.uint64)
    views[:, :, 0] = head[block_number // high_span][:, None]
    np.bitwise_or(tail_high[block_number % high_span][:, None], tail_low, out=views[:, :, 1])
    buffer = pa.py_buffer(views.reshape(-1)[: 2 * n])
    array = pa.Array.from_buffers(pa.string_view(), n, [None, buffer], null_count=0)
    return pl.Series("event_id", array)


#: Arrow string views keep strings of at most this many bytes inline in the 16-byte view.
_INLINE_BYTES: Final = 12


def _inline_views(table: pl.Series) -> npt.NDArray[np.uint64] | None:
    """The 16-byte Arrow views of ``table``'s strings plus a zero (empty) view at the end.

    ``None`` when some entry is null or too long to be stored inline in its view.
    """
    if table.null_count():
        return None
    encoded = [value.encode() for value in table.to_list()]
    if any(len(text) > _INLINE_BYTES for text in encoded):
        return None
    # A view is an int32 length and then the string itself, padded with zero bytes; read
    # as two little-endian uint64 words.
    views = np.zeros((len(encoded) + 1, 2), dtype=np.uint64)
    for i, text in enumerate(encoded):
        padded = text.ljust(_INLINE_BYTES, b"\0")
        views[i, 0] = len(text) | int.from_bytes(padded[:4], "little") << 32
        views[i, 1] = int.from_bytes(padded[4:], "little")
    return views


def _lookup_strings(
    name: str, table: pl.Series, index: CodeArray, present: npt.NDArray[np.bool_] | None = None
) -> pl.Series:
    """``table[index]`` as a String column; null where ``index < 0`` or ``present`` is False.

    The strings of the tables simulate() uses fit in their Arrow views, so each row's view
    is copied from a small table straight into the column's one buffer, chunk by chunk:
    no event-sized temporaries and no second copy. Other tables go through Polars.
    """
    n = index.shape[0]
    table = table.cast(pl.String)
    views = _inline_views(table)
    if views is None:
        known = index >= 0
        if present is not None:
            known &= present
        rows = np.where(known, index, table.len())  # the null appended below
        padded = pl.concat([table, pl.Series([None], dtype=pl.String)])
        return padded.gather(rows).alias(name)
    null_row = views.shape[0] - 1
    buffer = np.empty((n, 2), dtype=np.uint64)
    bits = np.empty(-(-n // 8), dtype=np.uint8)  # _CHUNK is a multiple of 8
    n_null = 0
    for lo in range(0, n, _CHUNK):
        rows = index[lo : lo + _CHUNK].astype(np.intp)
        valid = rows >= 0
        if present is not None:
            valid &= present[lo : lo + _CHUNK]
        n_null += valid.shape[0] - int(np.count_nonzero(valid))
        rows[~valid] = null_row
        np.take(views, rows, axis=0, out=buffer[lo : lo + _CHUNK])
        bits[lo // 8 : lo // 8 + -(-valid.shape[0] // 8)] = np.packbits(valid, bitorder="little")
    validity = pa.py_buffer(bits) if n_null else None
    array = pa.Array.from_buffers(
        pa.string_view(), n, [validity, pa.py_buffer(buffer)], null_count=n_null
    )
    return pl.Series(name, array)


def _events_frame(
    parts: list[tuple[str, _Draws]], frame: pl.DataFrame, id_prefix: str
) -> pl.DataFrame:
    """The canonical event frame of ``(kind, draws)`` parts merged by time, built once.

    ``parts`` is emptied once merged and each per-row code array is dropped right after its
    last column is built, so a caller that keeps no other reference to the draws holds
    little more than the frame itself at the end. There is a ``customer_id`` column when
    some part is orders and a ``supplier_id`` one when some part is deliveries (and the
    catalog has suppliers).
    """
    has_orders = any(kind == ORDER for kind, _ in parts)
    has_deliveries = any(kind == DELIVERY for kind, _ in parts) and "supplier_id" in frame.columns
    if len(parts) == 1:
        kind, draws = parts[0]
        codes = np.full(draws.size, 0 if kind == ORDER else 1, dtype=np.int8)
    else:
        draws, codes = _concat_draws(parts)
    parts.clear()
    n, item, customer = draws.size, draws.item, draws.customer
    # int64 ts and quantity arrays become the columns as they are, without a copy.
    ts = pl.Series(TS, draws.ts, dtype=pl.Int64).cast(TS_DTYPE)
    quantity = pl.Series(QUANTITY, draws.quantity).cast(pl.Int64)
    del draws
    optional: list[pl.Series] = []
    if has_deliveries:
        optional.append(
            _lookup_strings("supplier_id", frame["supplier_id"], item, present=codes == 1)
        )
    kinds = _lookup_strings(KIND, pl.Series([ORDER, DELIVERY]), codes)
    del codes
    items = _lookup_strings(ITEM, frame[ITEM], item)
    del item
    if has_orders:
        customers = pl.Series(_id_strings("C", 4, _N_CUSTOMERS))
        optional.insert(0, _lookup_strings("customer_id", customers, customer))
    del customer
    return pl.DataFrame([ts, items, kinds, quantity, _row_ids(id_prefix, n), *optional])


def _labels_frame(
    items: Sequence[str] | pl.Series, start: IntArray, end: IntArray, multiplier: FloatArray
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "item_id": pl.Series(items, dtype=pl.String),
            "start": pl.Series(start, dtype=pl.Int64).cast(TS_DTYPE),
            "end": pl.Series(end, dtype=pl.Int64).cast(TS_DTYPE),
            "multiplier": pl.Series(multiplier, dtype=pl.Float64),
        }
    ).sort(["item_id", "start"], maintain_order=True)


# --------------------------------------------------------------------------- public API


def catalog(n_items: int = 20, *, seed: int = 0, n_suppliers: int | None = None) -> pl.DataFrame:
    """A deterministic item catalog: ids, descriptions, suppliers, popularity and rates.

    Parameters
    ----------
    n_items
        Number of items; ids are ``"A000"``, ``"A001"``, … (zero-padded, so they sort).
    seed
        Seed of the random generator.
    n_suppliers
        Number of suppliers ``"S00"``, ``"S01"``, …; items are spread evenly over them.
        Defaults to ``max(1, n_items // 5)``.

    Returns
    -------
    polars.DataFrame
        ``item_id`` (String), ``description`` (String, unique), ``supplier_id`` (String),
        ``weight`` (Float64, relative popularity, sums to 1) and ``rate`` (Float64, mean
        orders per minute, lognormal around 1.0 with mean 1.0; ``weight`` is ``rate``
        normalised).

    Examples
    --------
    >>> from stockseries.generate import catalog
    >>> cat = catalog(4, seed=1)
    >>> cat.columns
    ['item_id', 'description', 'supplier_id', 'weight', 'rate']
    >>> cat["item_id"].to_list()
    ['A000', 'A001', 'A002', 'A003']
    >>> round(cat["weight"].sum(), 12)
    1.0
    """
    if not _is_int(n_items) or n_items < 1:
        raise ValueError(f"n_items must be a positive integer, got {n_items!r}")
    suppliers = max(1, n_items // 5) if n_suppliers is None else n_suppliers
    if not _is_int(suppliers) or suppliers < 1:
        raise ValueError(f"n_suppliers must be a positive integer, got {n_suppliers!r}")
    rng = _rng(seed, "catalog")
    width = max(3, len(str(n_items - 1)))
    # Plain names first, then the same names with variants, so small catalogs read naturally.
    names: list[str] = []
    for block in (None, *_VARIANTS):
        base = [name if block is None else f"{name}, {block}" for name in _PART_NAMES]
        names.extend(base[i] for i in rng.permutation(len(base)))
        if len(names) >= n_items:
            break
    while len(names) < n_items:
        names.append(f"{_PART_NAMES[len(names) % len(_PART_NAMES)]} #{len(names)}")
    supplier_of = rng.permutation(np.arange(n_items) % suppliers)
    rate = np.round(np.exp(rng.normal(-(_RATE_SIGMA**2) / 2, _RATE_SIGMA, size=n_items)), 3)
    rate = np.maximum(rate, 0.001)
    s_width = max(2, len(str(suppliers - 1)))
    return pl.DataFrame(
        {
            "item_id": [f"A{i:0{width}d}" for i in range(n_items)],
            "description": names[:n_items],
            "supplier_id": [f"S{s:0{s_width}d}" for s in supplier_of],
            "weight": rate / rate.sum(),
            "rate": rate,
        },
        schema={
            "item_id": pl.String,
            "description": pl.String,
            "supplier_id": pl.String,
            "weight": pl.Float64,
            "rate": pl.Float64,
        },
    )


def timed_orders(
    catalog: Any,
    *,
    start: TimeLike,
    end: TimeLike,
    every: DurationLike = "1s",
    weights: Weights = None,
    quantity: int | tuple[int, int] = (1, 5),
    seed: int = 0,
) -> Any:
    """One order at every tick of a fixed cadence, for a random catalog item.

    Ticks are ``start, start + every, …`` strictly before ``end``.

    Parameters
    ----------
    catalog
        Polars or pandas frame with an ``item_id`` column (e.g. from :func:`catalog`).
    start, end
        The half-open span ``[start, end)``; naive times are UTC.
    every
        Cadence, e.g. ``"1s"``, ``"90s"`` or a :class:`datetime.timedelta`.
    weights
        How items are picked: ``None`` uniformly; ``True`` or ``"catalog"`` by the catalog's
        ``weight`` column; a mapping ``item_id -> weight`` (missing items get 0) or a
        sequence aligned with the catalog rows.
    quantity
        Inclusive ``(low, high)`` range of the uniform integer quantity (or one int).
    seed
        Seed of the random generator.

    Returns
    -------
    polars.DataFrame or pandas.DataFrame
        Orders with ``ts``, ``item_id``, ``kind``, ``quantity``, ``event_id`` (``"T<seed>-…"``)
        and ``customer_id``; pandas when ``catalog`` is pandas.

    Examples
    --------
    >>> from stockseries.generate import catalog, timed_orders
    >>> orders = timed_orders(catalog(3), start="2024-01-01", end="2024-01-01T00:00:05", seed=1)
    >>> orders["ts"].dt.second().to_list()
    [0, 1, 2, 3, 4]
    >>> orders.columns
    ['ts', 'item_id', 'kind', 'quantity', 'event_id', 'customer_id']
    """
    frame, was_pandas = _catalog_frame(catalog)
    start_us, end_us = _span(start, end)
    every_us = duration_us(every, "every")
    qty = _quantity_range(quantity)
    p = _resolve_weights(weights, frame)
    draws = _timed_core(
        _rng(seed, "timed_orders"), frame.height, p, start_us, end_us, every_us, qty
    )
    return like_input(_events_frame([(ORDER, draws)], frame, f"T{seed}-"), was_pandas)


def random_deliveries(
    catalog: Any,
    *,
    start: TimeLike,
    end: TimeLike,
    max_wait: DurationLike = "10s",
    quantity: int | tuple[int, int] = (1, 20),
    weights: Weights = None,
    seed: int = 0,
) -> Any:
    """Deliveries after random waits, each of a random catalog item.

    The first delivery comes a wait after ``start``, each next one a wait after the previous;
    waits are uniform on ``[0, max_wait)`` (in whole microseconds), so about two deliveries
    arrive per ``max_wait``.

    Parameters
    ----------
    catalog
        Polars or pandas frame with an ``item_id`` column; its ``supplier_id`` column, when
        present, is carried onto the deliveries.
    start, end
        The half-open span ``[start, end)``; naive times are UTC.
    max_wait
        Upper bound (exclusive) of the wait between deliveries.
    quantity
        Inclusive ``(low, high)`` range of the uniform integer quantity (or one int).
    weights
        How items are picked, as in :func:`timed_orders`.
    seed
        Seed of the random generator.

    Returns
    -------
    polars.DataFrame or pandas.DataFrame
        Deliveries with ``ts``, ``item_id``, ``kind``, ``quantity``, ``event_id``
        (``"D<seed>-…"``) and ``supplier_id`` (when the catalog has one).

    Examples
    --------
    >>> from stockseries.generate import catalog, random_deliveries
    >>> import datetime as dt
    >>> d = random_deliveries(catalog(3), start="2024-01-01", end="2024-01-01T01:00", seed=1)
    >>> d["kind"].unique().to_list(), d["ts"].diff().max() < dt.timedelta(seconds=10)
    (['delivery'], True)
    """
    frame, was_pandas = _catalog_frame(catalog)
    start_us, end_us = _span(start, end)
    wait_us = duration_us(max_wait, "max_wait")
    if wait_us < 2:
        raise ValueError("max_wait must be at least 2 microseconds (waits are whole microseconds)")
    qty = _quantity_range(quantity)
    p = _resolve_weights(weights, frame)
    draws = _deliveries_core(
        _rng(seed, "random_deliveries"), frame.height, p, start_us, end_us, wait_us, qty
    )
    return like_input(_events_frame([(DELIVERY, draws)], frame, f"D{seed}-"), was_pandas)


def poisson_demand(
    catalog: Any,
    *,
    start: TimeLike,
    end: TimeLike,
    rate: Rates = None,
    daily_amplitude: float = 0.6,
    peak_hour: float = 13.0,
    quantity: int | tuple[int, int] = (1, 3),
    seed: int = 0,
) -> Any:
    """Poisson orders per item, modulated by a daily cycle.

    Item ``i`` receives orders at ``rate_i · (1 + a·cos(2π(hour − peak_hour)/24))`` per
    minute (``hour`` is the UTC hour of day, fractional), a non-homogeneous Poisson process.
    The expected number of orders over any span is the exact integral of that rate.

    Parameters
    ----------
    catalog
        Polars or pandas frame with an ``item_id`` column (and ``rate`` when ``rate=None``).
    start, end
        The half-open span ``[start, end)``; naive times are UTC.
    rate
        Mean orders per minute: ``None`` uses the catalog's ``rate`` column; a number is the
        same for every item; a mapping ``item_id -> rate`` (missing items get 0).
    daily_amplitude
        Relative amplitude ``a`` of the daily cycle, in ``[0, 1]``; 0 turns it off.
    peak_hour
        UTC hour of day (``[0, 24)``) at which demand peaks.
    quantity
        Inclusive ``(low, high)`` range of the uniform integer quantity (or one int).
    seed
        Seed of the random generator.

    Returns
    -------
    polars.DataFrame or pandas.DataFrame
        Orders with ``ts``, ``item_id``, ``kind``, ``quantity``, ``event_id``
        (``"P<seed>-…"``) and ``customer_id``; pandas when ``catalog`` is pandas.

    Examples
    --------
    >>> from stockseries.generate import catalog, poisson_demand
    >>> orders = poisson_demand(
    ...     catalog(5), start="2024-01-01", end="2024-01-02", rate=1.0, seed=1
    ... )
    >>> orders.height  # 5 items x 1 order/min x 1440 min = 7200 expected, sd 85
    7367
    >>> by_hour = orders.group_by(orders["ts"].dt.hour()).len().sort("ts")
    >>> by_hour.filter(by_hour["ts"].is_in([1, 13]))["len"].to_list()  # 120 vs 480 expected
    [139, 483]
    """
    frame, was_pandas = _catalog_frame(catalog)
    start_us, end_us = _span(start, end)
    rates = _resolve_rates(rate, frame)
    amplitude, peak_us = _cycle(daily_amplitude, peak_hour)
    qty = _quantity_range(quantity)
    draws = _poisson_core(
        _rng(seed, "poisson_demand"), rates, start_us, end_us, amplitude, peak_us, qty
    )
    return like_input(_events_frame([(ORDER, draws)], frame, f"P{seed}-"), was_pandas)


def _window_grid(shortest: int, longest: int) -> int:
    """The coarsest of 1 min / 1 s / 1 µs on which a duration in the range can be drawn."""
    for grid in (_US_PER_MINUTE, _US_PER_SECOND):
        if -(-shortest // grid) <= longest // grid:
            return grid
    return 1


def _spike_capacity(start: int, end: int, longest: int, grid: int) -> tuple[int, int, int]:
    """``(first start, last end, spikes that always fit on one item)`` for random windows."""
    gap = SPIKE_GAP // dt.timedelta(microseconds=1)
    first = -(-(start + SPIKE_WARMUP // dt.timedelta(microseconds=1)) // grid) * grid
    last = end // grid * grid
    room = last - first
    per_item = (room + gap) // (longest + gap) if room >= longest else 0
    return first, last, int(per_item)


def _random_spikes(
    rng: np.random.Generator,
    items: pl.Series,
    rates: FloatArray,
    start: int,
    end: int,
    n_spikes: int,
    multiplier: tuple[float, float],
    duration: tuple[int, int],
) -> tuple[pl.DataFrame, IntArray]:
    shortest, longest = duration
    grid = _window_grid(shortest, longest)
    first, _, per_item = _spike_capacity(start, end, longest, grid)
    eligible = np.flatnonzero(rates > 0)
    if n_spikes == 0:
        return _labels_frame([], *(np.empty(0, dtype=np.int64),) * 2, np.empty(0)), np.empty(
            0, dtype=np.int64
        )
    if eligible.shape[0] == 0:
        raise ValueError("cannot inject spikes: every item has a zero base rate")
    need = -(-n_spikes // eligible.shape[0])
    if need > per_item:
        raise ValueError(
            f"cannot fit {n_spikes} spikes ({need} per item) of up to {dt.timedelta(microseconds=longest)} "
            f"with {SPIKE_GAP} gaps after a {SPIKE_WARMUP} warm-up in this span "
            f"(at most {per_item} per item); lower n_spikes or lengthen the span"
        )
    # Balanced: every eligible item gets floor or ceil of n_spikes / items, in random order.
    row = rng.permutation(eligible)[np.arange(n_spikes) % eligible.shape[0]]
    lo_units, hi_units = -(-shortest // grid), longest // grid
    length = rng.integers(lo_units, hi_units + 1, size=n_spikes) * grid
    lo, hi = multiplier
    mult = np.clip(np.round(rng.uniform(lo, hi, size=n_spikes), 2), lo, hi)
    gap = SPIKE_GAP // dt.timedelta(microseconds=1)
    room = end // grid * grid - first
    per_row_count = np.bincount(row, minlength=items.len())
    per_row_busy = np.bincount(row, weights=length, minlength=items.len()).astype(np.int64)
    slack_units = (room - per_row_busy - (per_row_count - 1) * gap)[row] // grid
    offset = rng.integers(0, slack_units + 1) * grid
    # Sorted offsets plus the lengths and gaps of the earlier windows: uniform placements of
    # non-overlapping, gap-separated windows (stars and bars).
    order = np.lexsort((offset, row))
    row, length, mult, offset = row[order], length[order], mult[order], offset[order]
    step = length + gap
    before = np.cumsum(step) - step
    opens = np.r_[True, row[1:] != row[:-1]]
    group = np.cumsum(opens) - 1
    begin = first + offset + before - before[opens][group]
    labels = _labels_frame(items.gather(row), begin, begin + length, mult)
    return labels, _label_rows(labels, items)


def _label_rows(labels: pl.DataFrame, items: pl.Series) -> IntArray:
    lookup = pl.DataFrame({ITEM: items, "_row": pl.int_range(items.len(), eager=True)})
    return (
        labels.select(ITEM)
        .join(lookup, on=ITEM, how="left", maintain_order="left")["_row"]
        .to_numpy()
        .astype(np.int64)
    )


def _explicit_spikes(
    spikes: Any, items: pl.Series, start: int, end: int
) -> tuple[pl.DataFrame, IntArray]:
    if isinstance(spikes, pl.DataFrame | pl.LazyFrame) or is_pandas(spikes):
        frame, _ = to_polars(spikes)
        missing = [c for c in LABEL_COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(
                f"spikes frame is missing columns {missing} (needs {list(LABEL_COLUMNS)})"
            )
        records = frame.select(LABEL_COLUMNS).rows()
    elif isinstance(spikes, Sequence) and not isinstance(spikes, str):
        records = []
        for i, spike in enumerate(spikes):
            if isinstance(spike, Mapping):
                spike = tuple(spike.get(c) for c in LABEL_COLUMNS)
            if not isinstance(spike, Sequence) or isinstance(spike, str) or len(spike) != 4:
                raise ValueError(
                    f"spikes[{i}] must be (item_id, start, end, multiplier), got {spike!r}"
                )
            records.append(tuple(spike))
    else:
        raise TypeError(
            "spikes must be a frame with columns item_id, start, end, multiplier or a list of "
            f"(item_id, start, end, multiplier) tuples, got {type(spikes).__name__}"
        )
    known = set(items.to_list())
    unknown = sorted({str(r[0]) for r in records if r[0] not in known})
    if unknown:
        raise ValueError(f"spikes name items not in the catalog: {unknown[:5]}")
    # Spikes are few (one row per window), so per-row parsing is fine here.
    begin = np.array(
        [_to_us(r[1], f"spikes[{i}].start") for i, r in enumerate(records)], dtype=np.int64
    )
    finish = np.array(
        [_to_us(r[2], f"spikes[{i}].end") for i, r in enumerate(records)], dtype=np.int64
    )
    try:
        mult = np.array([float(r[3]) for r in records], dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("spikes multiplier must be numeric") from None
    for rule, bad in (
        ("end must be after start", finish <= begin),
        ("multiplier must be finite and >= 1", ~np.isfinite(mult) | (mult < 1)),
        ("window must lie inside [start, end] of the span", (begin < start) | (finish > end)),
    ):
        if bad.any():
            rows = np.flatnonzero(bad)[:5].tolist()
            raise ValueError(f"spikes: {rule}; offending rows {rows}: {[records[r] for r in rows]}")
    labels = _labels_frame([str(r[0]) for r in records], begin, finish, mult)
    overlap = labels.filter(
        (pl.col("item_id") == pl.col("item_id").shift(-1))
        & (pl.col("end") > pl.col("start").shift(-1))
    )
    if overlap.height:
        raise ValueError(
            "spikes overlap on the same item (each window must end before the next starts): "
            f"{overlap.select('item_id', 'start', 'end').rows()[:5]}"
        )
    return labels, _label_rows(labels, items)


def _spikes_core(
    catalog_frame: pl.DataFrame,
    rates: FloatArray,
    start: int,
    end: int,
    *,
    n_spikes: int,
    multiplier: tuple[float, float],
    duration: tuple[int, int],
    amplitude: float,
    peak_us: int,
    quantity: tuple[int, int],
    seed: int,
    spikes: Any,
) -> tuple[_Draws, pl.DataFrame]:
    rng = _rng(seed, "inject_spikes")
    items = catalog_frame[ITEM]
    if spikes is None:
        labels, rows = _random_spikes(rng, items, rates, start, end, n_spikes, multiplier, duration)
    else:
        labels, rows = _explicit_spikes(spikes, items, start, end)
    draws = _spike_orders_core(rng, rates, labels, rows, amplitude, peak_us, quantity)
    return draws, labels


def inject_spikes(
    catalog: Any,
    *,
    start: TimeLike,
    end: TimeLike,
    n_spikes: int = 10,
    multiplier: float | tuple[float, float] = (4.0, 8.0),
    duration: DurationLike | tuple[DurationLike, DurationLike] = ("10m", "30m"),
    rate: Rates = None,
    daily_amplitude: float = 0.6,
    peak_hour: float = 13.0,
    quantity: int | tuple[int, int] = (1, 3),
    seed: int = 0,
    spikes: Any = None,
) -> tuple[Any, Any]:
    """Extra orders that multiply an item's demand inside labelled windows.

    Inside a window ``[start, end)`` with multiplier ``m`` the extra orders arrive at
    ``(m − 1)·base_rate(t)``, where ``base_rate`` is the :func:`poisson_demand` rate for the
    same ``rate``, ``daily_amplitude`` and ``peak_hour``; so merged with that base demand,
    the window has ``m`` times the usual order rate.

    Random windows (``spikes=None``) are spread evenly over the items with a positive rate
    (each gets ``n_spikes // items`` or one more), placed uniformly at random with these
    rules: they start at least 6 h after ``start`` (history for the detectors), end by
    ``end``, never overlap on the same item and are at least 2 h apart on it. Durations are
    uniform in ``duration`` and boundaries fall on whole minutes (whole seconds or
    microseconds when the duration range needs them); multipliers are uniform in
    ``multiplier``, rounded to 0.01.

    Parameters
    ----------
    catalog
        Polars or pandas frame with an ``item_id`` column (and ``rate`` when ``rate=None``).
    start, end
        The half-open span ``[start, end)``; naive times are UTC.
    n_spikes
        Number of random windows (ignored when ``spikes`` is given).
    multiplier
        ``(low, high)`` range of the demand multiplier (or one number), at least 1.
    duration
        ``(shortest, longest)`` window length (or one duration).
    rate, daily_amplitude, peak_hour
        The base demand, as in :func:`poisson_demand`.
    quantity
        Inclusive ``(low, high)`` range of the quantity of an extra order.
    seed
        Seed of the random generator.
    spikes
        Explicit windows instead of random ones: a frame with columns ``item_id``, ``start``,
        ``end``, ``multiplier`` or a list of such tuples. Windows must lie inside the span
        and not overlap on the same item; the warm-up and gap rules do not apply.

    Returns
    -------
    (extra_orders, labels)
        ``extra_orders``: orders (``event_id`` ``"X<seed>-…"``, ``customer_id``) sorted by
        ``ts``; ``labels``: ``item_id`` (String), ``start``, ``end``
        (``Datetime("us", "UTC")``, half-open), ``multiplier`` (Float64), sorted by
        ``item_id``, ``start``. Both pandas when ``catalog`` is pandas.

    Examples
    --------
    >>> from stockseries.generate import catalog, inject_spikes
    >>> extra, labels = inject_spikes(
    ...     catalog(2), start="2024-01-01", end="2024-01-02", n_spikes=2, seed=1
    ... )
    >>> labels.columns, labels.height
    (['item_id', 'start', 'end', 'multiplier'], 2)
    >>> bool(extra["ts"].is_between(labels["start"].min(), labels["end"].max()).all())
    True
    """
    frame, was_pandas = _catalog_frame(catalog)
    start_us, end_us = _span(start, end)
    if spikes is None and (not _is_int(n_spikes) or n_spikes < 0):
        raise ValueError(f"n_spikes must be a non-negative integer, got {n_spikes!r}")
    rates = _resolve_rates(rate, frame)
    amplitude, peak_us = _cycle(daily_amplitude, peak_hour)
    draws, labels = _spikes_core(
        frame,
        rates,
        start_us,
        end_us,
        n_spikes=int(n_spikes),
        multiplier=_multiplier_range(multiplier),
        duration=_duration_bounds(duration, "duration"),
        amplitude=amplitude,
        peak_us=peak_us,
        quantity=_quantity_range(quantity),
        seed=seed,
        spikes=spikes,
    )
    orders = _events_frame([(ORDER, draws)], frame, f"X{seed}-")
    return like_input(orders, was_pandas), like_input(labels, was_pandas)


def merge_streams(*frames: Any) -> Any:
    """Concatenate event frames and sort them by ``ts``, stably.

    Columns missing from some frames are filled with nulls; events with equal ``ts`` keep
    the argument order, then their order within their frame. Already-sorted inputs (the
    generators' outputs) are merged in linear time.

    Parameters
    ----------
    *frames
        Polars (eager or lazy) or pandas event frames with a datetime ``ts`` column.

    Returns
    -------
    polars.DataFrame or pandas.DataFrame
        pandas only when every input is pandas.

    Examples
    --------
    >>> from stockseries.generate import catalog, merge_streams, random_deliveries, timed_orders
    >>> cat = catalog(3)
    >>> span = {"start": "2024-01-01", "end": "2024-01-01T00:01"}
    >>> events = merge_streams(timed_orders(cat, **span), random_deliveries(cat, **span))
    >>> events["ts"].is_sorted(), sorted(events["kind"].unique())
    (True, ['delivery', 'order'])
    """
    if not frames:
        raise TypeError("merge_streams() needs at least one frame")
    converted = [to_polars(f) for f in frames]
    parts: list[pl.DataFrame] = []
    for i, (frame, _) in enumerate(converted):
        if TS not in frame.columns:
            raise ValueError(f"frame {i} has no '{TS}' column (columns: {frame.columns})")
        dtype = frame.schema[TS]
        if not isinstance(dtype, pl.Datetime):
            raise ValueError(f"frame {i}: '{TS}' must be a datetime column, got {dtype}")
        if frame[TS].null_count():
            raise ValueError(f"frame {i}: '{TS}' has {frame[TS].null_count()} null values")
        parts.append(frame.with_columns(in_utc(pl.col(TS), dtype).dt.cast_time_unit("us")))
    merged = pl.concat(parts, how="diagonal_relaxed")
    stamps = [p[TS].dt.epoch("us").to_numpy() for p in parts]
    if all(bool(np.all(s[1:] >= s[:-1])) for s in stamps):
        merged = merged[_merge_order(stamps)]
    else:
        merged = merged.sort(TS, maintain_order=True)
    return like_input(merged, all(was for _, was in converted))


@dataclass(frozen=True, eq=False)
class Simulation:
    """A simulated data set: events, ground-truth spike labels and the item catalog.

    Attributes
    ----------
    events
        Event frame (orders and deliveries) sorted by ``ts``.
    labels
        Injected spike windows (``item_id``, ``start``, ``end``, ``multiplier``).
    catalog
        The items, with the rates actually used (``base_rate`` applied).
    start, end
        The simulated span ``[start, end)`` (UTC), when known.
    """

    events: pl.DataFrame
    labels: pl.DataFrame
    catalog: pl.DataFrame
    start: dt.datetime | None = None
    end: dt.datetime | None = None

    def _span_text(self, arrow: str = "→") -> str:
        start, end = self.start, self.end
        if start is None or end is None:
            if self.events.height == 0:
                return "empty"
            start, end = self.events[TS].min(), self.events[TS].max()  # type: ignore[assignment]
        assert start is not None and end is not None
        whole_days = all(t.time() == dt.time() for t in (start, end))
        fmt = "%Y-%m-%d" if whole_days else "%Y-%m-%d %H:%M"
        return f"{start:{fmt}} {arrow} {end:{fmt}}"

    def __repr__(self) -> str:
        return (
            f"Simulation(events={self.events.height:,}, items={self.catalog.height}, "
            f"spikes={self.labels.height}, span={self._span_text()})"
        )

    def _repr_html_(self) -> str:
        rows = [
            ("events", f"{self.events.height:,}"),
            ("items", f"{self.catalog.height:,}"),
            ("spikes", f"{self.labels.height:,}"),
            ("span", self._span_text()),
            ("columns", ", ".join(self.events.columns)),
        ]
        body = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
            f"<td style='text-align:left'>{html.escape(v)}</td></tr>"
            for k, v in rows
        )
        return f"<div><strong>Simulation</strong><table>{body}</table></div>"


def _sold_before(
    orders: Sequence[_Draws], k: int, start: int, end: int, when: IntArray
) -> IntArray:
    """Units of each item (row) ordered strictly before each time of its row in ``when``.

    ``orders`` are time-sorted parts in any order of each other. When every time in
    ``when`` lies on a whole minute after ``start`` (or at ``end``, which no order reaches),
    a per-(minute, item) histogram and its running sums answer every query at once;
    otherwise orders are sorted by a composite (item, time) key and searched.
    """
    n_orders = sum(d.size for d in orders)
    n_minutes = -(-(end - start) // _US_PER_MINUTE)
    offset = when - start
    on_minutes = bool(np.all((offset % _US_PER_MINUTE == 0) | (when == end)))
    if on_minutes and k * n_minutes <= 2 * n_orders + 2**20:
        # Minute-major bins: a chunk of time-sorted orders covers one contiguous run of bins,
        # so each chunk's histogram is small and is added to its run only.
        per_minute = np.zeros(n_minutes * k, dtype=np.float64)
        for d in orders:
            for lo in range(0, d.size, _CHUNK):
                minute = d.ts[lo : lo + _CHUNK] - start
                minute //= _US_PER_MINUTE
                first, last = int(minute.min()), int(minute.max())
                minute -= first
                minute *= k
                minute += d.item[lo : lo + _CHUNK]
                # Float weights are exact: the sums stay far below 2**53 units.
                per_minute[first * k : (last + 1) * k] += np.bincount(
                    minute, weights=d.quantity[lo : lo + _CHUNK], minlength=(last - first + 1) * k
                )
        cumulative = np.zeros((n_minutes + 1, k), dtype=np.int64)
        np.cumsum(per_minute.reshape(n_minutes, k), axis=0, out=cumulative[1:], dtype=np.int64)
        minute = np.minimum(-(-offset // _US_PER_MINUTE), n_minutes)
        return np.asarray(np.take_along_axis(cumulative.T, minute, axis=1))
    if n_orders == 0:
        return np.zeros(when.shape, dtype=np.int64)
    span = end - start + 1
    if k * span >= 2**62:
        raise ValueError("span x items too large for the replenishment simulation")
    key = np.concatenate([d.item.astype(np.int64) * span + (d.ts - start) for d in orders])
    by_key = np.argsort(key)  # ties share a key, so their order cannot change a sum below
    quantity = np.concatenate([d.quantity for d in orders])[by_key]
    cumulative = np.concatenate(([0], np.cumsum(quantity)))
    rows = np.arange(k)[:, None]
    sold_at = cumulative[np.searchsorted(key[by_key], rows * span + offset)]
    return np.asarray(sold_at - cumulative[np.searchsorted(key[by_key], rows * span)])


def _replenish_core(
    rng: np.random.Generator,
    orders: Sequence[_Draws],
    rates: FloatArray,
    mean_quantity: float,
    start: int,
    end: int,
    amplitude: float,
) -> tuple[_Draws, _Draws]:
    """Periodic-review, order-up-to replenishment; returns ``(initial stock, deliveries)``.

    Per item: every 2–4 h a review orders what was sold since the previous review (rounded
    to whole cases, keeping the inventory position within one case of the target ``S``),
    delivered after a fixed 30–90 min lead time. ``S`` covers the longest review cycle plus
    the lead time at the daily peak, so stock stays positive except when a spike eats it.
    """
    k = rates.shape[0]
    lead: IntArray = (
        np.asarray(rng.integers(*_LEAD_TIME_MINUTES, endpoint=True, size=k)) * _US_PER_MINUTE
    )
    case: IntArray = np.asarray(rng.choice(np.array(_CASE_SIZES, dtype=np.int64), size=k))
    lo, hi = _REVIEW_WAIT_MINUTES
    cover_minutes = (hi * _US_PER_MINUTE + lead) / _US_PER_MINUTE
    target = rates * mean_quantity * cover_minutes * (1 + amplitude) * _SAFETY_FACTOR
    stock: IntArray = (np.ceil(target / case) * case).astype(np.int64)
    n_reviews = (end - start) // (lo * _US_PER_MINUTE) + 1
    waits = rng.integers(lo, hi, endpoint=True, size=(k, n_reviews)) * _US_PER_MINUTE
    review = start + np.cumsum(waits, axis=1)

    rows = np.arange(k)[:, None]
    sold = _sold_before(orders, k, start, end, np.minimum(review, end))

    # Rounding up to cases without drift: the position stays in [S, S + case).
    surplus = (-sold) % case[:, None]
    previous_sold = np.c_[np.zeros(k, dtype=np.int64), sold[:, :-1]]
    previous_surplus = np.c_[np.zeros(k, dtype=np.int64), surplus[:, :-1]]
    quantity: IntArray = sold - previous_sold + surplus - previous_surplus
    arrival = review + lead[:, None]
    keep = (arrival < end) & (quantity > 0) & (stock[:, None] > 0)
    rows_kept = np.broadcast_to(rows, keep.shape)[keep]
    arrival_kept, quantity_kept = arrival[keep], quantity[keep]
    by_time = np.argsort(arrival_kept, kind="stable")
    row_dtype = _narrowest(-1, k - 1)
    deliveries = _Draws(
        arrival_kept[by_time],
        rows_kept[by_time].astype(row_dtype),
        quantity_kept[by_time],
        np.full(by_time.shape[0], -1, dtype=np.int8),
    )
    stocked = np.flatnonzero(stock > 0)
    initial = _Draws(
        np.full(stocked.shape[0], start, dtype=np.int64),
        stocked.astype(row_dtype),
        stock[stocked],
        np.full(stocked.shape[0], -1, dtype=np.int8),
    )
    return initial, deliveries


def simulate(
    n_items: int = 20,
    *,
    start: TimeLike = "2024-01-01",
    days: float = 2.0,
    seed: int = 0,
    base_rate: float = 1.0,
    daily_amplitude: float = 0.6,
    n_spikes: int | None = None,
    multiplier: float | tuple[float, float] = (4.0, 8.0),
    duration: DurationLike | tuple[DurationLike, DurationLike] = ("10m", "30m"),
    replenish: bool = True,
) -> Simulation:
    """A realistic data set in one call: demand with a daily cycle, spikes and deliveries.

    It is exactly the composition of the public generators with the same ``seed``:
    ``catalog(n_items, seed=seed)`` (rates scaled by ``base_rate``), :func:`poisson_demand`
    (1–3 units per order, peak at 13:00 UTC), :func:`inject_spikes` and, with ``replenish``,
    deliveries: an initial stock delivery per item at ``start``, then a periodic-review
    order-up-to policy (a review every 2–4 h orders what was sold since the previous one,
    in whole cases, delivered 30–90 min later). Stock levels therefore wander in a positive
    band and can go negative when a spike drains an item before its next delivery.
    ``event_id`` is renumbered over the merged stream (``"E<seed>-…"``).

    Parameters
    ----------
    n_items
        Number of catalog items.
    start
        Start of the span (naive is UTC).
    days
        Length of the span in days (fractions allowed).
    seed
        Seed of every random draw.
    base_rate
        Mean orders per item per minute; item rates are lognormal around it.
    daily_amplitude
        Relative amplitude of the daily cycle in ``[0, 1]``.
    n_spikes
        Number of injected spikes; ``None`` means about one per item per day (as many as
        fit the span after the 6 h warm-up).
    multiplier, duration
        Ranges of the spike multipliers and durations, as in :func:`inject_spikes`.
    replenish
        Add deliveries; without them there are only orders.

    Returns
    -------
    Simulation

    Examples
    --------
    >>> from stockseries.generate import simulate
    >>> sim = simulate(3, days=1.0, seed=1)
    >>> sim
    Simulation(events=..., items=3, spikes=3, span=2024-01-01 → 2024-01-02)
    >>> sim.events["kind"].unique().sort().to_list()
    ['delivery', 'order']
    """
    if (
        isinstance(days, bool)
        or not isinstance(days, int | float)
        or not days > 0
        or not math.isfinite(days)
    ):
        raise ValueError(f"days must be a positive number, got {days!r}")
    if (
        isinstance(base_rate, bool)
        or not isinstance(base_rate, int | float)
        or not (math.isfinite(base_rate) and base_rate >= 0)
    ):
        raise ValueError(
            f"base_rate must be finite and >= 0 (orders per item per minute), got {base_rate!r}"
        )
    cat = catalog(n_items, seed=seed)
    cat = cat.with_columns((pl.col("rate") * float(base_rate)).alias("rate"))
    start_us = _to_us(start, "start")
    end_us = start_us + round(days * _US_PER_DAY)
    amplitude, peak_us = _cycle(daily_amplitude, 13.0)
    rates = cat["rate"].to_numpy()
    quantity = (1, 3)
    mult = _multiplier_range(multiplier)
    bounds = _duration_bounds(duration, "duration")
    if n_spikes is None:
        _, _, per_item = _spike_capacity(start_us, end_us, bounds[1], _window_grid(*bounds))
        eligible = int((rates > 0).sum())
        n_spikes = min(round(n_items * days), per_item * eligible)
    elif not _is_int(n_spikes) or n_spikes < 0:
        raise ValueError(f"n_spikes must be a non-negative integer or None, got {n_spikes!r}")

    demand = _poisson_core(
        _rng(seed, "poisson_demand"), rates, start_us, end_us, amplitude, peak_us, quantity
    )
    extra, labels = _spikes_core(
        cat,
        rates,
        start_us,
        end_us,
        n_spikes=int(n_spikes),
        multiplier=mult,
        duration=bounds,
        amplitude=amplitude,
        peak_us=peak_us,
        quantity=quantity,
        seed=seed,
        spikes=None,
    )
    if replenish:
        initial, deliveries = _replenish_core(
            _rng(seed, "replenish"),
            [demand, extra],
            rates,
            sum(quantity) / 2,
            start_us,
            end_us,
            amplitude,
        )
        # Initial stock first, so it is on the shelf before any order at the same instant;
        # then base demand before spike orders, then replenishment, on equal times.
        parts = [(DELIVERY, initial), (ORDER, demand), (ORDER, extra), (DELIVERY, deliveries)]
        del initial, deliveries
    else:
        parts = [(ORDER, demand), (ORDER, extra)]
    del demand, extra  # _events_frame frees the parts once merged: keep no other reference
    events = _events_frame(parts, cat, f"E{seed}-")
    return Simulation(
        events=events,
        labels=labels,
        catalog=cat,
        start=_EPOCH + dt.timedelta(microseconds=start_us),
        end=_EPOCH + dt.timedelta(microseconds=end_us),
    )


def iter_frames(
    events: Any, *, size: int | None = None, span: DurationLike | None = None
) -> Iterator[Any]:
    """Replay events as consecutive frames of ``size`` rows or of a time ``span``.

    With ``span``, frames are the epoch-aligned windows ``[k·span, (k+1)·span)`` of ``ts``
    that contain events (empty windows are skipped); the input must be sorted by ``ts``.
    Concatenating the frames gives back the input exactly (pandas frames keep their index).

    Parameters
    ----------
    events
        Polars (eager or lazy) or pandas event frame, in the order to replay.
    size
        Rows per frame (the last one may be shorter).
    span
        Event time per frame, e.g. ``"1m"``; pass exactly one of ``size`` and ``span``.

    Yields
    ------
    polars.DataFrame or pandas.DataFrame
        Slices of ``events``, in the input's flavour.

    Examples
    --------
    >>> from stockseries.generate import catalog, iter_frames, timed_orders
    >>> orders = timed_orders(catalog(2), start="2024-01-01", end="2024-01-01T00:00:10")
    >>> [f.height for f in iter_frames(orders, size=4)]
    [4, 4, 2]
    >>> [f.height for f in iter_frames(orders, span="3s")]
    [3, 3, 3, 1]
    """
    if (size is None) == (span is None):
        raise TypeError("iter_frames() needs exactly one of size= or span=")
    if isinstance(events, pl.LazyFrame):
        events = events.collect()
    if not (isinstance(events, pl.DataFrame) or is_pandas(events)):
        raise TypeError(f"events must be a polars or pandas DataFrame, got {type(events).__name__}")
    n = len(events)
    if size is not None:
        if not _is_int(size) or size < 1:
            raise ValueError(f"size must be a positive integer, got {size!r}")
        bounds = [*range(0, n, int(size)), n]
    else:
        span_us = duration_us(span, "span")  # type: ignore[arg-type]
        stamps = _epoch_us(events)
        if n and bool(np.any(stamps[1:] < stamps[:-1])):
            row = int(np.flatnonzero(stamps[1:] < stamps[:-1])[0]) + 1
            raise ValueError(
                f"events must be sorted by '{TS}' for span= (row {row} goes back in time)"
            )
        window = stamps // span_us
        bounds = [0, *(np.flatnonzero(window[1:] != window[:-1]) + 1).tolist(), n] if n else [0]
    return _slices(events, bounds)


def _epoch_us(events: Any) -> IntArray:
    if TS not in events.columns:
        raise ValueError(f"events have no '{TS}' column (columns: {list(events.columns)})")
    column = events[TS] if isinstance(events, pl.DataFrame) else pl.from_pandas(events[TS])
    if not isinstance(column.dtype, pl.Datetime):
        raise ValueError(f"'{TS}' must be a datetime column, got {column.dtype}")
    if column.null_count():
        raise ValueError(f"'{TS}' has {column.null_count()} null values")
    return column.dt.epoch("us").to_numpy().astype(np.int64)


def _slices(events: Any, bounds: list[int]) -> Iterator[Any]:
    pandas = not isinstance(events, pl.DataFrame)
    for lo, hi in itertools.pairwise(bounds):
        yield events.iloc[lo:hi] if pandas else events.slice(lo, hi - lo)
