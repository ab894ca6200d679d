"""The item catalog: ids, descriptions, suppliers, popularity and order rates."""

from __future__ import annotations

from typing import Final

import numpy as np
import polars as pl

from stockseries.generate._arguments import is_int, stream_rng
from stockseries.generate._types import (
    RATE_SIGMA,
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
