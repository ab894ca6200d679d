"""Episode rules and the cutting of flagged buckets into episodes, shared by batch and live."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from stockseries import _frames
from stockseries._schema import ALERT_COLUMNS
from stockseries.alerts._ids import alert_ids, direction_key, params_key


def empty_alerts(ts_dtype: pl.DataType, value_dtype: pl.DataType) -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "alert_id": pl.String,
            "item_id": pl.String,
            "start": ts_dtype,
            "end": ts_dtype,
            "buckets": pl.Int64,
            "peak_demand": value_dtype,
            "peak_ts": ts_dtype,
            "threshold": pl.Float64,
            "score": pl.Float64,
            "excess": pl.Float64,
            "supplier_id": pl.String,
        }
    )


def cut_episodes(
    rows: pl.DataFrame,
    *,
    every_us: int,
    merge_gap: int,
    min_buckets: int,
    cooldown: int,
) -> pl.DataFrame:
    """Episodes of flagged buckets.

    ``rows`` holds only flagged buckets -- ``item_id``, ``ts``, ``_t`` (epoch
    µs), ``value`` (for the peak), optionally ``compared`` (the value the
    threshold applies to, for the excess; default ``value``), ``threshold``,
    ``score`` and maybe ``supplier_id`` --
    sorted by item and time. Returns one row per surviving episode with the
    alert columns except ``alert_id`` plus ``_start_us``, ``_end_us``, sorted
    by item and start.
    """
    t = pl.col("_t")
    item = pl.col("item_id")
    # Two flagged buckets belong together when at most merge_gap buckets lie between them.
    new_episode = (item != item.shift(1)) | (t - t.shift(1) > (merge_gap + 1) * every_us)
    peak = pl.col("value").arg_max()  # first bucket holding the maximum
    extra = [pl.col("supplier_id").first()] if "supplier_id" in rows.columns else []
    compared = "compared" if "compared" in rows.columns else "value"
    excess = pl.col(compared) - pl.col("threshold")
    if "_down" in rows.columns:
        # An episode never mixes directions; a drop's peak is its lowest bucket, and its
        # excess is how far it fell below the lower bar.
        down = pl.col("_down")
        new_episode = new_episode | (down != down.shift(1))
        peak = pl.when(down).then(-pl.col("value")).otherwise(pl.col("value")).arg_max()
        excess = pl.when(down).then(-excess).otherwise(excess)
        extra.append(down.first())
    episodes = (
        rows.with_columns(_episode=new_episode.fill_null(True).cum_sum())
        .group_by("_episode", maintain_order=True)
        .agg(
            item.first(),
            pl.col("ts").first().alias("start"),
            t.first().alias("_start_us"),
            (t.last() + every_us).alias("_end_us"),
            (pl.col("ts").last() + pl.duration(microseconds=every_us)).alias("end"),
            pl.col("value").get(peak).alias("peak_demand"),
            pl.col("ts").get(peak).alias("peak_ts"),
            pl.col("threshold").get(peak),
            pl.col("score").get(peak),
            excess.sum().alias("excess"),
            *extra,
        )
        .with_columns(buckets=(pl.col("_end_us") - pl.col("_start_us")) // every_us)
        .filter(pl.col("buckets") >= min_buckets)
        .drop("_episode")
    )
    if cooldown > 0 and episodes.height > 1:
        episodes = episodes.filter(outside_cooldown(episodes, cooldown * every_us))
    return episodes


def outside_cooldown(episodes: pl.DataFrame, cooldown_us: int) -> pl.Series:
    """Which episodes (sorted by item, start) survive the cooldown; see :func:`cooldown_keep`."""
    keep = cooldown_keep(
        episodes.get_column("item_id").rle_id().to_numpy().astype(np.int64),
        episodes.get_column("_start_us").to_numpy(),
        episodes.get_column("_end_us").to_numpy(),
        cooldown_us,
    )
    return pl.Series("keep", keep)


def cooldown_keep(
    codes: np.ndarray, start: np.ndarray, end: np.ndarray, cooldown: int
) -> np.ndarray:
    """Episodes that survive the cooldown following every *reported* episode.

    Episodes are sorted by item code, then start. Each item's first episode is
    reported; the next reported one is the first starting at or after
    ``end + cooldown`` of the last reported one. Following those "next"
    pointers is a loop over an item's reported episodes (a chain), each step
    vectorised over all items.
    """
    n = len(codes)
    keep = np.zeros(n, dtype=bool)
    if n == 0:
        return keep
    # Dense ranks of all the times make one sortable integer key per (item, time).
    _, ranks = np.unique(np.concatenate([start, end + cooldown]), return_inverse=True)
    scale = int(ranks.max()) + 1
    start_key = codes * scale + ranks[:n]
    target_key = codes * scale + ranks[n:]
    nxt = np.searchsorted(start_key, target_key, side="left")
    valid = nxt < n
    valid[valid] = codes[nxt[valid]] == codes[valid]
    nxt[~valid] = -1
    frontier = np.flatnonzero(np.diff(codes, prepend=codes[0] - 1) != 0)
    while frontier.size:
        keep[frontier] = True
        frontier = nxt[frontier]
        frontier = frontier[frontier >= 0]
    return keep


def supplier_lookup(suppliers: Any) -> pl.DataFrame:
    if isinstance(suppliers, Mapping):
        return pl.DataFrame(
            {
                "item_id": [str(key) for key in suppliers],
                "supplier_id": [None if v is None else str(v) for v in suppliers.values()],
            },
            schema={"item_id": pl.String, "supplier_id": pl.String},
        )
    frame, _ = _frames.to_polars(suppliers)
    missing = [c for c in ("item_id", "supplier_id") if c not in frame.columns]
    if missing:
        raise ValueError(
            f"suppliers frame lacks column(s) {', '.join(missing)}; expected item_id, supplier_id "
            "(a catalog frame works)"
        )
    lookup = frame.select(pl.col("item_id").cast(pl.String), pl.col("supplier_id").cast(pl.String))
    dupes = lookup.filter(pl.col("item_id").is_duplicated()).get_column("item_id").unique().sort()
    if len(dupes):
        raise ValueError(f"suppliers lists item(s) more than once: {dupes.head(5).to_list()}")
    return lookup


def watches_drops(params: Mapping[str, Any] | None) -> bool:
    """Whether recorded settings (:func:`~stockseries.alerts.alert_params`) watch drops."""
    detection = (params or {}).get("detection") or {}
    return bool(detection.get("direction", "up") != "up")


def finish(
    episodes: pl.DataFrame,
    params: Mapping[str, Any],
    suppliers: Any,
    ts_dtype: pl.DataType,
    value_dtype: pl.DataType,
) -> pl.DataFrame:
    if episodes.height == 0:
        empty = empty_alerts(ts_dtype, value_dtype)
        if "_down" in episodes.columns or watches_drops(params):
            empty = empty.with_columns(direction=pl.lit(None, pl.String))
        return empty
    items = episodes.get_column("item_id").cast(pl.String)
    key = params_key(params)
    start_us = episodes.get_column("_start_us").to_numpy()
    ids = alert_ids(items, start_us, key)
    columns = list(ALERT_COLUMNS)
    if "_down" in episodes.columns:
        down = episodes.get_column("_down").to_numpy()
        if down.any():
            down_ids = alert_ids(items.filter(down), start_us[down], direction_key(key, "down"))
            ids = ids.scatter(np.flatnonzero(down), down_ids)
        episodes = episodes.with_columns(
            direction=pl.when(pl.col("_down")).then(pl.lit("down")).otherwise(pl.lit("up"))
        )
        columns.append("direction")
    episodes = episodes.with_columns(ids, items)
    if suppliers is not None:
        episodes = episodes.drop("supplier_id", strict=False).join(
            supplier_lookup(suppliers), on="item_id", how="left"
        )
    elif "supplier_id" not in episodes.columns:
        episodes = episodes.with_columns(supplier_id=pl.lit(None, dtype=pl.String))
    return (
        episodes.with_columns(
            pl.col("supplier_id").cast(pl.String),
            pl.col("buckets").cast(pl.Int64),
            pl.col("threshold", "score", "excess").cast(pl.Float64),
        )
        .sort("_start_us", "item_id", maintain_order=True)
        .select(columns)
    )
