"""Lead times and review periods from a catalog: per item, per supplier, or a default.

A catalog row with an ``item_id`` sets that item's values; a row with a ``supplier_id`` and no
``item_id`` sets the default of every item of that supplier; the keyword defaults fill what is
left. Durations are Polars duration strings (``"2d"``, ``"36h"``), ``datetime.timedelta``,
Polars ``Duration`` values or plain numbers of days.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl

from stockseries._frames import to_polars, unwrap_frame
from stockseries._time import duration_us

__all__ = ["CatalogError", "catalog_frame", "lead_times", "normalise_catalog", "read_catalog"]

LEAD_TIME, REVIEW_PERIOD = "lead_time", "review_period"
_DAY_US = 86_400_000_000


class CatalogError(ValueError):
    """A catalog that cannot plan: names the column, the rule and the rows (1-based)."""


def read_catalog(path: str | Path) -> pl.DataFrame:
    """Read a catalog from CSV or Parquet; lead times become ``Duration("us")`` columns.

    Parameters
    ----------
    path : str or Path
        ``.csv`` or ``.parquet``: ``item_id`` and/or ``supplier_id``, optional
        ``description``, ``lead_time`` and ``review_period`` (durations such as ``"2d"``,
        ``"36h"`` or numbers of days) and any other columns (carried through).

    Returns
    -------
    polars.DataFrame
        The catalog with ``lead_time``/``review_period`` as ``Duration("us")`` when present.

    Raises
    ------
    CatalogError
        Unreadable durations, negative or zero lead times, or rows naming neither an item nor
        a supplier — with the rows (1-based data lines) that break the rule.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"catalog {str(path)!r} does not exist")
    if path.suffix.lower() in (".parquet", ".pq"):
        frame = pl.read_parquet(path)
    else:
        frame = pl.read_csv(
            path,
            schema_overrides={LEAD_TIME: pl.String, REVIEW_PERIOD: pl.String},
            infer_schema_length=10_000,
        )
    return normalise_catalog(frame)


def catalog_frame(catalog: Any) -> Any:
    """A mapping of columns (``{"item_id": [...], "lead_time": [...]}``) is a frame too."""
    if isinstance(catalog, dict):
        return pl.DataFrame(catalog)
    return catalog


def normalise_catalog(catalog: Any) -> pl.DataFrame:
    """The catalog as a polars frame with duration columns parsed and checked."""
    frame, _ = to_polars(unwrap_frame(catalog))
    if "item_id" not in frame.columns and "supplier_id" not in frame.columns:
        raise CatalogError(f"catalog needs an item_id or a supplier_id column; got {frame.columns}")
    for name in ("item_id", "supplier_id"):
        if name in frame.columns:
            frame = frame.with_columns(pl.col(name).cast(pl.String))
    keys = [pl.col(n).is_null() for n in ("item_id", "supplier_id") if n in frame.columns]
    orphan = frame.select(pl.arg_where(pl.all_horizontal(keys))).to_series().to_list()
    if orphan:
        raise CatalogError(
            f"catalog rows {_lines(orphan)} name neither an item_id nor a supplier_id"
        )
    for name in (LEAD_TIME, REVIEW_PERIOD):
        if name in frame.columns:
            frame = frame.with_columns(_durations(frame[name], name))
    return frame


def _durations(column: pl.Series, name: str) -> pl.Series:
    """A column of durations (strings, numbers of days, Duration) as Duration("us")."""
    if isinstance(column.dtype, pl.Duration):
        micros = column.dt.total_microseconds().to_list()
    else:
        micros = [_one_duration(value, name, row) for row, value in enumerate(column.to_list())]
    out = pl.Series(name, micros, dtype=pl.Int64)
    bad = out.to_frame().select(pl.arg_where(pl.col(name) <= 0)).to_series().to_list()
    if name == LEAD_TIME and bad:
        raise CatalogError(
            f"column {name!r} must be a positive duration; rows {_lines(bad)} are not "
            f"({[column[i] for i in bad[:5]]})"
        )
    if name == REVIEW_PERIOD:
        negative = out.to_frame().select(pl.arg_where(pl.col(name) < 0)).to_series().to_list()
        if negative:
            raise CatalogError(f"column {name!r} must not be negative; rows {_lines(negative)} are")
    return out.cast(pl.Duration("us"))


def _one_duration(value: Any, name: str, row: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise CatalogError(f"column {name!r}: row {row + 1} holds {value!r}, not a duration")
    if isinstance(value, int | float):
        if value != value or value in (float("inf"), float("-inf")):
            raise CatalogError(f"column {name!r}: row {row + 1} holds {value!r}")
        return round(value * _DAY_US)
    text = str(value).strip()
    try:
        return round(float(text) * _DAY_US)
    except ValueError:
        pass
    if text.startswith("-"):
        return -1
    try:
        return duration_us(text, name, allow_zero=True)
    except (TypeError, ValueError) as err:
        raise CatalogError(f"column {name!r}: row {row + 1}: {err}") from None


def _lines(rows: list[int]) -> str:
    shown = ", ".join(str(r + 1) for r in rows[:5])
    return shown + (f" (and {len(rows) - 5} more)" if len(rows) > 5 else "")


def lead_times(
    catalog: Any,
    items: pl.Series,
    *,
    lead_time: str | timedelta | None = None,
    review_period: str | timedelta | None = "1d",
    all_items_known: bool = True,
) -> pl.DataFrame:
    """Lead time and review period (µs) of every item in ``items``.

    Returns ``item_id``, ``supplier_id`` (String, null when unknown), ``description`` (when
    the catalog has it), ``lead_time_us`` and ``review_period_us`` (Int64). Items the catalog
    names but the data does not are an error (a typo in the catalog would otherwise plan
    nothing for the item meant) unless ``all_items_known=False`` (a live stream has not seen
    every item yet); data items with no lead time anywhere are an error too.
    """
    frame = (
        normalise_catalog(catalog)
        if catalog is not None
        else pl.DataFrame(schema={"item_id": pl.String})
    )
    wanted = pl.DataFrame({"item_id": items.cast(pl.String).unique(maintain_order=True)})
    has_item = "item_id" in frame.columns
    item_rows = frame.filter(pl.col("item_id").is_not_null()) if has_item else frame.clear()
    if has_item and all_items_known:
        _check_items(frame, set(wanted["item_id"].to_list()))
        dupes = item_rows.filter(pl.col("item_id").is_duplicated())["item_id"].unique()
        if len(dupes):
            raise CatalogError(f"catalog lists item(s) more than once: {dupes.head(5).to_list()}")
    columns = [
        c
        for c in ("supplier_id", "description", LEAD_TIME, REVIEW_PERIOD)
        if c in item_rows.columns
    ]
    out = wanted.join(item_rows.select("item_id", *columns), on="item_id", how="left")
    for name in ("supplier_id", LEAD_TIME, REVIEW_PERIOD):
        if name not in out.columns:
            dtype = pl.String if name == "supplier_id" else pl.Duration("us")
            out = out.with_columns(pl.lit(None, dtype=dtype).alias(name))
    out = _supplier_defaults(out, frame)
    defaults = {
        LEAD_TIME: None if lead_time is None else duration_us(lead_time, "lead_time"),
        REVIEW_PERIOD: None
        if review_period is None
        else duration_us(review_period, "review_period", allow_zero=True),
    }
    out = out.with_columns(
        pl.col(name)
        .dt.total_microseconds()
        .fill_null(pl.lit(value, dtype=pl.Int64))
        .alias(f"{name}_us")
        for name, value in defaults.items()
    ).drop(LEAD_TIME, REVIEW_PERIOD)
    missing = out.filter(pl.col("lead_time_us").is_null())["item_id"]
    if len(missing):
        raise CatalogError(
            f"no lead_time for item(s) {missing.head(5).to_list()}"
            + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            + ": give the catalog a lead_time per item or per supplier, or pass lead_time="
        )
    return out.with_columns(pl.col("review_period_us").fill_null(0))


def _check_items(frame: pl.DataFrame, known: set[str]) -> None:
    rows = frame.with_row_index("_row").filter(
        pl.col("item_id").is_not_null() & ~pl.col("item_id").is_in(list(known))
    )
    if len(rows):
        raise CatalogError(
            f"catalog rows {_lines(rows['_row'].to_list())} name item(s) "
            f"{rows['item_id'].head(5).to_list()} that are not in the data; drop them or "
            "plan on data that has them"
        )


def _supplier_defaults(out: pl.DataFrame, frame: pl.DataFrame) -> pl.DataFrame:
    if "supplier_id" not in frame.columns:
        return out
    by_supplier = frame.filter(pl.col("supplier_id").is_not_null())
    if "item_id" in frame.columns:
        by_supplier = by_supplier.filter(pl.col("item_id").is_null())
    present = [c for c in (LEAD_TIME, REVIEW_PERIOD) if c in by_supplier.columns]
    if by_supplier.is_empty() or not present:
        return out
    defaults = by_supplier.select(
        "supplier_id", *(pl.col(c).alias(f"{c}_supplier") for c in present)
    ).unique("supplier_id", keep="first")
    out = out.join(defaults, on="supplier_id", how="left")
    return out.with_columns(pl.coalesce(c, f"{c}_supplier").alias(c) for c in present).drop(
        f"{c}_supplier" for c in present
    )
