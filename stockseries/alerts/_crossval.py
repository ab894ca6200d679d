"""Cross-validation over items for :func:`stockseries.alerts.tune` (``validation="items"``).

A tuned threshold is a promise about items it was not fitted on. The items are split into
up to :data:`MAX_FOLDS` groups (item order, modulo); each group is held out once. Within
each *configuration* -- a trial's settings except ``k`` -- ``k`` is chosen on the other
groups with the tuning objective, and that choice is scored on the held-out group. A
configuration's held-out score is the sum of its folds' counts (alerts, true alerts,
labels found), so every item and every label is judged exactly once by a threshold it did
not help choose.

Scores are counts and add up over items (episodes never span items), so a fold's fitted
part is "all items minus the held-out group": detection and episode cutting run once per
trial on every item, plus once per held-out group.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from stockseries.alerts._scoring import rank_trials

__all__ = ["CONFIG_COLUMNS", "MAX_FOLDS", "cross_validated", "fold_of_items", "fold_prefix"]

#: At most this many groups of items (5-fold cross-validation with many items; one item
#: per group -- leave one item out -- with up to 5).
MAX_FOLDS = 5

#: What identifies a configuration: everything but ``k``, which each fold refits.
CONFIG_COLUMNS = (
    "method", "window", "smooth", "direction", "transform", "min_demand", "merge_gap",
    "min_buckets",
)  # fmt: skip

_COUNTS = ("n_alerts", "hits", "found", "labels", "days")


def fold_of_items(n_items: int) -> np.ndarray:
    """The group (0 …) of each item code: item order modulo ``min(n_items, MAX_FOLDS)``."""
    if n_items < 2:
        raise ValueError("validation='items' needs at least 2 items")
    return np.arange(n_items) % min(n_items, MAX_FOLDS)


def fold_prefix(fold: int) -> str:
    """Column prefix of a held-out group's counts in the trials frame."""
    return f"_f{fold}_"


def counts_of(scores: Mapping[str, Any], n_labels: int, item_days: float) -> dict[str, float]:
    """Additive counts behind one scope's scores (alerts, true alerts, labels found)."""
    n = scores["n_alerts"]
    return {
        "n_alerts": n,
        "hits": round((scores["precision"] or 0.0) * n),
        "found": round((scores["recall"] or 0.0) * n_labels),
        "labels": n_labels,
        "days": item_days,
    }


def _metrics(counts: Mapping[str, pl.Expr]) -> list[pl.Expr]:
    def ratio(num: pl.Expr, den: pl.Expr) -> pl.Expr:
        return pl.when(den > 0).then(num / den).otherwise(None)

    precision = ratio(counts["hits"], counts["n_alerts"])
    recall = ratio(counts["found"], counts["labels"])
    f1 = (
        pl.when((precision == 0) | (recall == 0))
        .then(0.0)
        .otherwise(2 * precision * recall / (precision + recall))
    )
    return [
        precision.alias("precision"),
        recall.alias("recall"),
        f1.alias("f1"),
        ratio(counts["n_alerts"] - counts["hits"], counts["days"]).alias("false_per_day"),
        counts["n_alerts"].cast(pl.Int64).alias("n_alerts"),
    ]


def cross_validated(
    trials: pl.DataFrame, choose: Mapping[str, Any], n_folds: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Each configuration's held-out scores, and its best trial on all items.

    ``trials`` holds, besides the usual columns, the held-out counts of every group
    (``_f{j}_n_alerts`` …) and the all-item counts (``_all_…``). Returns the frame of
    configurations (``_trial`` of the trial chosen on all items, held-out ``val_*``
    scores) and ``trials`` ranked on all items.
    """
    ranked_all, _ = rank_trials(trials, warn=False, **choose)
    per_fold = []
    for fold in range(n_folds):
        held = fold_prefix(fold)
        fitted = {c: pl.col("_all_" + c) - pl.col(held + c) for c in _COUNTS}
        frame = trials.select(
            "_trial", *CONFIG_COLUMNS, "k", *_metrics(fitted),
            *(pl.col(held + c).alias("_h_" + c) for c in _COUNTS),
        )  # fmt: skip
        ranked, _ = rank_trials(frame, warn=False, **choose)
        chosen = ranked.sort("rank").group_by(CONFIG_COLUMNS, maintain_order=True).first()
        per_fold.append(
            chosen.select(*CONFIG_COLUMNS, *(pl.col("_h_" + c).alias(c) for c in _COUNTS))
        )
    summed = (
        pl.concat(per_fold)
        .group_by(CONFIG_COLUMNS, maintain_order=True)
        .agg(pl.col(c).sum() for c in _COUNTS)
    )
    best = ranked_all.sort("rank").group_by(CONFIG_COLUMNS, maintain_order=True).first()
    configs = best.select(*CONFIG_COLUMNS, "_trial").join(
        summed.select(
            *CONFIG_COLUMNS, *(m.alias("val_" + m.meta.output_name()) for m in _held(summed))
        ),
        on=list(CONFIG_COLUMNS),
        nulls_equal=True,
    )
    return configs, ranked_all


def _held(frame: pl.DataFrame) -> Sequence[pl.Expr]:
    return _metrics({c: pl.col(c) for c in _COUNTS if c in frame.columns})
