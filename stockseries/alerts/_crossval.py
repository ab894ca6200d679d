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

__all__ = [
    "CONFIG_COLUMNS",
    "MAX_FOLDS",
    "counts_of",
    "cross_validated",
    "fold_of_items",
    "fold_prefix",
    "rank_by_items",
]

#: At most this many groups of items (5-fold cross-validation with many items; one item
#: per group -- leave one item out -- with up to 5).
MAX_FOLDS = 5

#: What identifies a configuration: everything but ``k``, which each fold refits.
CONFIG_COLUMNS = (
    "method", "window", "smooth", "direction", "transform", "min_demand", "merge_gap",
    "min_buckets",
)  # fmt: skip

_COUNTS = ("n_alerts", "hits", "found", "labels", "days")
_METRIC_NAMES = ("precision", "recall", "f1", "false_per_day", "n_alerts")


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
    trials: pl.DataFrame,
    choose: Mapping[str, Any],
    n_folds: int,
    config: Sequence[str] = CONFIG_COLUMNS,
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
            "_trial", *config, "k", *_metrics(fitted),
            *(pl.col(held + c).alias("_h_" + c) for c in _COUNTS),
        )  # fmt: skip
        ranked, _ = rank_trials(frame, warn=False, **choose)
        chosen = ranked.sort("rank").group_by(config, maintain_order=True).first()
        per_fold.append(chosen.select(*config, *(pl.col("_h_" + c).alias(c) for c in _COUNTS)))
    summed = (
        pl.concat(per_fold)
        .group_by(config, maintain_order=True)
        .agg(pl.col(c).sum() for c in _COUNTS)
    )
    best = ranked_all.sort("rank").group_by(config, maintain_order=True).first()
    configs = best.select(*config, "_trial").join(
        summed.select(*config, *(m.alias("val_" + m.meta.output_name()) for m in _held(summed))),
        on=list(config),
        nulls_equal=True,
    )
    return configs, ranked_all


def _held(frame: pl.DataFrame) -> Sequence[pl.Expr]:
    return _metrics({c: pl.col(c) for c in _COUNTS if c in frame.columns})


def rank_by_items(
    trials: pl.DataFrame,
    how: str,
    choose: Mapping[str, Any],
    n_folds: int,
    config: Sequence[str] = CONFIG_COLUMNS,
) -> tuple[pl.DataFrame, str]:
    """Rank by cross-validation over items (see :mod:`stockseries.alerts._crossval`).

    Each configuration is represented by its best trial on all items. Representatives that
    meet the constraints both on all items and held out come first. With a constraint
    (``target_recall``, ``max_false_per_day``) -- a promise about unseen items -- the
    held-out scores only decide feasibility and the objective is read on all items (the
    most data, the least noise); without one the held-out objective ranks them.
    ``config``: the columns naming a configuration (all settings but ``k``).
    """
    configs, ranked_all = cross_validated(trials, choose, n_folds, config)
    val = ["val_" + name for name in _METRIC_NAMES]
    reps = ranked_all.join(configs.select("_trial", *val), on="_trial", how="inner")
    held = reps.select(
        "_trial", "k", "min_demand", "min_buckets", *(pl.col(v).alias(v[4:]) for v in val)
    )
    held_ranked, _ = rank_trials(held, warn=False, **choose)
    constrained = choose["target_recall"] is not None or choose["max_false_per_day"] is not None
    order = reps.join(
        held_ranked.select("_trial", held_feasible="feasible", held_rank="rank"), on="_trial"
    ).select(
        "_trial",
        _ok=~(pl.col("feasible") & pl.col("held_feasible")),
        _by=pl.col("rank") if constrained else pl.col("held_rank"),
    )
    ranked = (
        ranked_all.drop(*(c for c in val if c in ranked_all.columns))
        .join(configs.select("_trial", *val), on="_trial", how="left")
        .join(order, on="_trial", how="left")
        .sort(pl.col("_by").is_null(), "_ok", "_by", "rank")
        .with_columns(rank=pl.int_range(1, pl.len() + 1, dtype=pl.Int64))
        .drop("_ok", "_by")
        .sort("_trial")
    )
    judged = "constraints" if constrained else "objective"
    note = (
        f"{how}; {judged} held out: cross-validated over {n_folds} groups of items "
        "(k refit on the other items)"
    )
    return ranked, note
