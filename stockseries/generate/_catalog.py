"""The item catalog: ids, descriptions, suppliers, popularity and order rates."""

from __future__ import annotations

from typing import Final

import numpy as np
import polars as pl

from stockseries._time import duration_us
from stockseries.generate._arguments import duration_bounds, is_int, stream_rng
from stockseries.generate._types import (
    RATE_SIGMA,
    DurationLike,
    IntArray,
)

PART_NAMES: Final = (
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
VARIANTS: Final = ("front", "rear", "heavy-duty", "compact", "premium", "economy", "left", "right")


def catalog(
    n_items: int = 20,
    *,
    seed: int = 0,
    n_suppliers: int | None = None,
    lead_time: DurationLike | tuple[DurationLike, DurationLike] | None = None,
    review_period: DurationLike | None = None,
) -> pl.DataFrame:
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
    lead_time
        Adds a ``lead_time`` column (``Duration``): one duration for every item, or a
        ``(shortest, longest)`` range drawn per supplier (whole minutes, from a random stream
        of its own, so the other columns do not change) — what
        :func:`stockseries.reorder_points` plans with.
    review_period
        Adds a ``review_period`` column (``Duration``), the same for every item.

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
    >>> catalog(4, seed=1, lead_time="2d", review_period="1d")["lead_time"].to_list()[0]
    datetime.timedelta(days=2)
    """
    if not is_int(n_items) or n_items < 1:
        raise ValueError(f"n_items must be a positive integer, got {n_items!r}")
    suppliers = max(1, n_items // 5) if n_suppliers is None else n_suppliers
    if not is_int(suppliers) or suppliers < 1:
        raise ValueError(f"n_suppliers must be a positive integer, got {n_suppliers!r}")
    rng = stream_rng(seed, "catalog")
    width = max(3, len(str(n_items - 1)))
    # Plain names first, then the same names with variants, so small catalogs read naturally.
    names: list[str] = []
    for block in (None, *VARIANTS):
        base = [name if block is None else f"{name}, {block}" for name in PART_NAMES]
        names.extend(base[i] for i in rng.permutation(len(base)))
        if len(names) >= n_items:
            break
    while len(names) < n_items:
        names.append(f"{PART_NAMES[len(names) % len(PART_NAMES)]} #{len(names)}")
    supplier_of = rng.permutation(np.arange(n_items) % suppliers)
    rate = np.round(np.exp(rng.normal(-(RATE_SIGMA**2) / 2, RATE_SIGMA, size=n_items)), 3)
    rate = np.maximum(rate, 0.001)
    s_width = max(2, len(str(suppliers - 1)))
    frame = pl.DataFrame(
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
    return with_lead_times(frame, supplier_of, suppliers, seed, lead_time, review_period)


def with_lead_times(
    frame: pl.DataFrame,
    supplier_of: IntArray,
    suppliers: int,
    seed: int,
    lead_time: DurationLike | tuple[DurationLike, DurationLike] | None,
    review_period: DurationLike | None,
) -> pl.DataFrame:
    """The catalog with the optional ``lead_time`` / ``review_period`` columns."""
    if lead_time is not None:
        lo, hi = duration_bounds(lead_time, "lead_time")
        minute = 60_000_000
        per_supplier = stream_rng(seed, "lead_time").integers(
            -(-lo // minute), max(hi // minute, -(-lo // minute)), endpoint=True, size=suppliers
        )
        lead = per_supplier[supplier_of] * minute if lo != hi else np.full(len(frame), lo)
        frame = frame.with_columns(
            lead_time=pl.Series(lead, dtype=pl.Int64).cast(pl.Duration("us"))
        )
    if review_period is not None:
        review = duration_us(review_period, "review_period", allow_zero=True)
        frame = frame.with_columns(
            review_period=pl.lit(review, dtype=pl.Int64).cast(pl.Duration("us"))
        )
    return frame
