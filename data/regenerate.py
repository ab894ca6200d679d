"""Regenerate the bundled sample data in this folder with the seeded simulator.

Usage (from the repository root, with stockseries installed)::

    python data/regenerate.py

Regeneration is deterministic: the same stockseries version writes the same data every
time (and byte-identical files with the same Polars version). See ``data/README.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from stockseries.generate import simulate

HERE = Path(__file__).resolve().parent

#: ISO-8601 UTC with a ``Z`` suffix; fractional seconds only when present.
CSV_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.fZ"

#: The main sample (``stockseries.demo.SAMPLE_PARAMS`` uses the same parameters).
SAMPLE: dict[str, Any] = {"n_items": 20, "start": "2024-01-01", "days": 3.0, "seed": 7}

#: The small "bring your own data" example.
SMALL: dict[str, Any] = {"n_items": 5, "start": "2024-01-01", "days": 1.0, "seed": 7}


def write_sample(folder: Path = HERE) -> dict[str, Path]:
    """Write every bundled file into ``folder`` and return their paths by name."""
    paths = {
        name: folder / name
        for name in (
            "events.parquet",
            "labels.csv",
            "catalog.csv",
            "events_small.csv",
            "labels_small.csv",
        )
    }
    sim = simulate(**SAMPLE)
    sim.events.write_parquet(paths["events.parquet"], compression="zstd", compression_level=9)
    sim.labels.write_csv(paths["labels.csv"], datetime_format=CSV_DATETIME_FORMAT)
    durations = [n for n, t in sim.catalog.schema.items() if isinstance(t, pl.Duration)]
    # Lead times and review periods as duration strings ("45m", "4h"), as read_catalog reads.
    sim.catalog.with_columns(
        pl.col(name).dt.total_minutes().cast(pl.String) + "m" for name in durations
    ).write_csv(paths["catalog.csv"])

    small = simulate(**SMALL)
    # The small CSV carries the item descriptions too, to show optional columns passing through.
    events = small.events.join(
        small.catalog.select("item_id", "description"),
        on="item_id",
        how="left",
        maintain_order="left",
    )
    events.write_csv(paths["events_small.csv"], datetime_format=CSV_DATETIME_FORMAT)
    small.labels.write_csv(paths["labels_small.csv"], datetime_format=CSV_DATETIME_FORMAT)
    return paths


def main() -> None:
    for name, path in write_sample().items():
        if path.suffix == ".parquet":
            rows = pl.read_parquet(path).height
        else:
            rows = pl.read_csv(path).height
        print(f"{name:<18} {rows:>7,} rows  {path.stat().st_size / 1024:>7.1f} KiB")


if __name__ == "__main__":
    main()
