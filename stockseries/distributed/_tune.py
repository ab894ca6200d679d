"""``tune`` on a cluster: the rolling statistics of every item run on the workers.

What :func:`stockseries.tune` spends its time on is per item: the signal and baseline of every
method, window and smoothing, and the episodes of every setting. Each partition of whole items
runs the in-memory ``tune`` (grid only, no refinement) on its own items and labels; what comes
back is small: per setting, the number of alerts, of alerts that hit a label and of labels
detected, which add up across items. The client adds them, recomputes precision, recall, F1
and false alerts per item-day exactly as one process does, ranks with the same rule, and runs
the refinement round around the best setting on the cluster again.

:func:`choose_transform` (and ``tune(transforms="auto")``, which resolves the grid with it
before searching) works the same way: each partition of whole items computes its items' mean
log-likelihoods (:func:`~stockseries.spikes._transform_choice.item_likelihoods`) on a
worker; the client concatenates the items frames, sorts them by ``item_id`` (the order of the
one-process frame) and pools them (``pooled_choice``), so the result is the in-memory one.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import dask
import numpy as np
import polars as pl

from stockseries._frames import frame_of
from stockseries._schema import ITEM, TS
from stockseries.alerts._scoring import rank_trials, refinement
from stockseries.alerts._search import SETTING_COLUMNS, TRIAL_SCHEMA, key_of
from stockseries.alerts.evaluate import f1_score, ratio
from stockseries.alerts.tuning import TuneGrid, TuneResult, tune_result
from stockseries.alerts.tuning import tune as tune_in_memory
from stockseries.distributed._api import cluster_client
from stockseries.distributed._arrow import polars_of
from stockseries.spikes._layout import prepare
from stockseries.spikes._transform_choice import (
    DEFAULT_WINDOW,
    TransformChoice,
    check_window,
    checked_series,
    item_likelihoods,
    pooled_choice,
)

__all__ = ["choose_transform", "tune"]

_US_PER_DAY = 86_400_000_000
_COUNTS = ["n_alerts", "hits", "detected", "n_labels"]


def tune(
    series: Any,
    labels: Any,
    *,
    client: Any = None,
    npartitions: int | None = None,
    objective: str = "f1",
    target_recall: float | None = None,
    max_false_per_day: float | None = None,
    refine: bool = True,
    grid: TuneGrid | None = None,
    **grid_options: Any,
) -> TuneResult:
    """:func:`stockseries.tune` with its per-item work on a Dask cluster; the same result.

    Parameters
    ----------
    series : Dask DataFrame, polars or pandas DataFrame
        A dense series, e.g. the lazy result of :func:`stockseries.distributed.resample`
        (whose partitions already hold whole items) or an in-memory series (split by item
        into ``npartitions``, default: twice the number of workers).
    labels : frame
        Spike windows (``item_id``, ``start``, ``end``).
    objective, target_recall, max_false_per_day, refine
        As for :func:`stockseries.tune`.
    grid : TuneGrid, optional
        The settings to search; or give them as keywords (``methods``, ``windows``, ``ks``,
        ``min_demands``, ``smooths``, ``merge_gap``, ``min_buckets``, ``cooldown``,
        ``min_periods``, ``column``, ``method_options``). ``transforms="auto"`` chooses
        the transform with :func:`choose_transform` on the cluster first (one more pass over
        the data), then searches with it, as :func:`stockseries.tune` does.

    Returns
    -------
    TuneResult
        Equal to the in-memory result (trials, ranks, best setting and, with
        ``transforms="auto"``, ``transform_choice``).
    """
    if objective not in ("f1", "precision", "recall"):
        raise ValueError(f"objective must be 'f1', 'precision' or 'recall', got {objective!r}")
    grid = grid if grid is not None else TuneGrid(**grid_options)
    client = cluster_client(client)
    truth = frame_of(labels, "labels").with_columns(pl.col(ITEM).cast(pl.String))
    choice = None
    if grid.chooses_transform:  # one transform for all items, as in memory (grid.resolved)
        series = _checked(series, grid.column)
        parts = _partitions(series, _npartitions(client, npartitions))
        choice = _chosen(client, parts, DEFAULT_WINDOW, grid.column)
        grid = replace(grid, transforms=(choice.transform,))
    else:
        parts = _partitions(series, _npartitions(client, npartitions))
    trials = _scored(client, parts, truth, grid, "grid")
    if refine:
        ranked, _ = rank_trials(trials, objective, target_recall, max_false_per_day, warn=False)
        top = ranked.filter(pl.col("rank") == 1).row(0, named=True)
        fine = _refine_grid(grid, top)
        tried = {
            (r["k"], r["min_demand"])
            for r in trials.iter_rows(named=True)
            if key_of(r) == key_of(top)
        }
        extra = [combo for combo in refinement(top, grid.ks) if combo not in tried]  # type: ignore[arg-type]
        if extra:
            more = _scored(client, parts, truth, fine, "refine")
            wanted = pl.DataFrame(
                extra, schema={"k": pl.Float64, "min_demand": pl.Float64}, orient="row"
            )
            more = wanted.join(
                more,
                on=["k", "min_demand"],
                how="left",
                nulls_equal=True,
                maintain_order="left_right",
            )
            trials = pl.concat([trials, more.select(trials.columns)])
    trials = trials.drop("_trial").with_row_index("_trial")
    ranked, how = rank_trials(trials, objective, target_recall, max_false_per_day, warn=True)
    return tune_result(ranked, how, grid.settings(), grid, choice)


def choose_transform(
    series: Any,
    *,
    window: int = DEFAULT_WINDOW,
    column: str = "demand",
    client: Any = None,
    npartitions: int | None = None,
) -> TransformChoice:
    """:func:`stockseries.choose_transform` with the per-item likelihoods on a Dask cluster.

    Parameters
    ----------
    series : Dask DataFrame, polars or pandas DataFrame
        A dense series. A Dask DataFrame must hold whole items per partition, e.g. the lazy
        result of :func:`stockseries.distributed.resample` (a ``ValueError`` when an item is
        found in two partitions); an in-memory frame is checked on the client and split by
        item into ``npartitions`` (default: twice the number of workers).
    window, column
        As for :func:`stockseries.choose_transform`.

    Returns
    -------
    TransformChoice
        Equal to the in-memory result: the same transform, and the same ``loglik`` and
        ``items`` to the bit (each item's likelihoods are computed from its own rows by the
        same code; the items are pooled on the client in ``item_id`` order, as in memory).

    Raises
    ------
    ValueError
        As in memory: a window below 3, or no judged bucket (too short or constant).
        A polars or pandas frame is checked on the client, with the in-memory error (a
        negative value: its row positions in ``series``). A Dask DataFrame is checked on
        the workers, partition by partition: a negative value is named by its ``item_id``
        and ``ts`` (row positions in a partition mean nothing to the caller); the column,
        null and order checks name rows within the partition, as the rest of
        :mod:`stockseries.distributed` does.
    """
    check_window(window)
    client = cluster_client(client)
    parts = _partitions(_checked(series, column), _npartitions(client, npartitions))
    return _chosen(client, parts, window, column)


def _npartitions(client: Any, npartitions: int | None) -> int:
    return npartitions or 2 * max(1, len(client.scheduler_info()["workers"]))


def _checked(series: Any, column: str) -> Any:
    """An in-memory frame checked (and sorted) on the client as in memory; a Dask DataFrame
    unchanged (each partition is checked on its worker)."""
    import dask.dataframe as dd

    return series if isinstance(series, dd.DataFrame) else checked_series(series, column)


def _chosen(client: Any, parts: list[Any], window: int, column: str) -> TransformChoice:
    tasks = [dask.delayed(_likelihoods)(part, window, column) for part in parts]
    items = pl.concat(client.gather(client.compute(tasks))).sort(ITEM)
    split = items.filter(pl.col(ITEM).is_duplicated()).get_column(ITEM).unique(maintain_order=True)
    if split.len():
        raise ValueError(
            f"series: items {split.head(5).to_list()} are in more than one partition; a Dask "
            "DataFrame must hold whole items per partition (as distributed.resample gives)"
        )
    return pooled_choice(items, window, column)


def _likelihoods(part: pl.DataFrame, window: int, column: str) -> pl.DataFrame:
    """One partition's items frame (runs on a worker)."""
    frame, _ = prepare(part, column)
    negative = frame.filter(pl.col(column) < 0).head(5)
    if negative.height:
        where = ", ".join(f"item {item!r} at {ts}" for item, ts in negative.select(ITEM, TS).rows())
        raise ValueError(
            f"column {column!r} has negative values ({where}); transforms need "
            "counts or amounts >= 0"
        )
    return item_likelihoods(frame, window, column)


def _partitions(series: Any, n: int) -> list[Any]:
    """Delayed polars frames of whole items."""
    import dask.dataframe as dd

    if isinstance(series, dd.DataFrame):
        return [dask.delayed(polars_of)(part) for part in series.to_delayed()]
    frame = frame_of(series, "series")
    bucket = (pl.col(ITEM).hash(seed=0) % n).alias("_part")
    groups = frame.with_columns(bucket).partition_by("_part", include_key=False)
    return [dask.delayed(group) for group in groups]


def _scored(
    client: Any, parts: list[Any], truth: pl.DataFrame, grid: TuneGrid, stage: str
) -> pl.DataFrame:
    tasks = [dask.delayed(_counts)(part, truth, grid) for part in parts]
    counted = [c for c in client.gather(client.compute(tasks)) if c is not None]
    spans = sum(c["span_us"] for c in counted)
    items = sum(c["items"] for c in counted)
    every = min(c["every"] for c in counted)
    item_days = float(spans + items * every) / _US_PER_DAY
    sums = (
        pl.concat([c["trials"] for c in counted])
        .group_by("_trial", maintain_order=True)
        .agg(pl.first(*SETTING_COLUMNS), pl.sum(*_COUNTS))
        .sort("_trial")
    )
    n_labels = truth.height
    rows = []
    for row in sums.iter_rows(named=True):
        precision = ratio(row["hits"], row["n_alerts"])
        recall = ratio(row["detected"], n_labels)
        rows.append(
            {
                "stage": stage,
                **{name: row[name] for name in SETTING_COLUMNS},
                "precision": precision,
                "recall": recall,
                "f1": f1_score(precision, recall),
                "false_per_day": ratio(row["n_alerts"] - row["hits"], item_days),
                "n_alerts": row["n_alerts"],
            }
        )
    return pl.DataFrame(rows, schema=TRIAL_SCHEMA).with_row_index("_trial")


def _counts(part: pl.DataFrame, truth: pl.DataFrame, grid: TuneGrid) -> dict[str, Any] | None:
    """One partition's additive counts per setting (runs on a worker)."""
    if part.height == 0:
        return None
    mine = truth.join(part.select(pl.col(ITEM).unique()), on=ITEM, how="semi")
    found = tune_in_memory(part, mine, grid=grid, refine=False, progress=False).trials
    n = found.get_column("n_alerts").to_numpy()
    precision = found.get_column("precision").fill_null(0).to_numpy()
    recall = found.get_column("recall").fill_null(0).to_numpy()
    # The in-memory result leaves out the direction and transform when the grid has one each.
    single = {"direction": grid.directions[0], "transform": grid.transforms[0]}  # type: ignore[index]
    setting = [
        pl.col(name)
        if name in found.columns
        else pl.lit(single[name], TRIAL_SCHEMA[name]).alias(name)
        for name in SETTING_COLUMNS
    ]
    trials = found.select(setting).with_columns(
        pl.Series("_trial", np.arange(found.height)),
        pl.Series("n_alerts", n),
        pl.Series("hits", np.rint(precision * n).astype(np.int64)),
        pl.Series("detected", np.rint(recall * mine.height).astype(np.int64)),
        pl.lit(mine.height, pl.Int64).alias("n_labels"),
    )
    ts_us = part.select(pl.col(TS).dt.epoch("us"), ITEM).sort(ITEM, TS)
    spans = ts_us.group_by(ITEM).agg(
        (pl.col(TS).max() - pl.col(TS).min()).alias("span"), pl.col(TS).diff().min().alias("step")
    )
    totals = spans.select(pl.col("span").sum(), pl.col("step").min()).row(0)
    return {
        "trials": trials,
        "span_us": int(totals[0]),
        "items": spans.height,
        # Items of a single bucket have no step; the other partitions will know it.
        "every": int(totals[1]) if totals[1] is not None else np.iinfo(np.int64).max,
    }


def _refine_grid(grid: TuneGrid, top: dict[str, Any]) -> TuneGrid:
    fine = refinement(top, grid.ks)  # type: ignore[arg-type]
    ks = [k for k in dict.fromkeys(k for k, _ in fine) if k is not None] or grid.ks[:1]  # type: ignore[index]
    return TuneGrid(
        methods=top["method"],
        windows=top["window"],
        smooths=top["smooth"],
        directions=top["direction"],
        transforms=top["transform"],
        ks=ks,
        min_demands=sorted(dict.fromkeys(md for _, md in fine)),
        merge_gap=grid.merge_gap,
        min_buckets=grid.min_buckets,
        cooldown=grid.cooldown,
        min_periods=grid.min_periods,
        column=grid.column,
        method_options=grid.method_options,
    )
