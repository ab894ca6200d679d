"""The detection benchmark's choice per split, made by the product's own rule.

``benchmarks/detection.py`` detects every setting of its grid once on all five tickers and
counts per ticker; for each split the setting is then chosen on the three training
tickers exactly as ``stockseries.tune(..., target_recall=1.0)`` chooses -- with
``validation="items"`` (cross-validation over the training tickers: within each
configuration, ``k`` chosen on two tickers must hit every window of the third, for each
of the three; the fewest false alarms on all three among those) or without validation
(every training window hit, then the fewest false alarms). The per-ticker counts become a
trials frame with the columns the tuner's ranking reads, and the tuner's ranking
functions choose; nothing here is a rule of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from stockseries.alerts._crossval import fold_prefix, rank_by_items
from stockseries.alerts._scoring import rank_trials

#: How ``tune(target_recall=1.0)`` chooses (see ``stockseries.alerts.tune``).
CHOOSE: dict[str, Any] = {
    "objective": "f1",
    "target_recall": 1.0,
    "max_false_per_day": None,
    "penalty": 0.0,
}


def _counts(hit: int, windows: int, false: int, episodes: int, days: float) -> dict[str, Any]:
    return {
        "n_alerts": episodes,
        "hits": episodes - false,
        "found": hit,
        "labels": windows,
        "days": days,
    }


def _metrics(c: Mapping[str, Any]) -> dict[str, Any]:
    precision = c["hits"] / c["n_alerts"] if c["n_alerts"] else None
    recall = c["found"] / c["labels"] if c["labels"] else None
    if precision == 0 or recall == 0:
        f1: float | None = 0.0
    elif precision is None or recall is None:
        f1 = None
    else:
        f1 = 2 * precision * recall / (precision + recall)
    false = (c["n_alerts"] - c["hits"]) / c["days"]
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "false_per_day": false,
        "n_alerts": c["n_alerts"],
    }


def trials_frame(
    trials: Sequence[
        tuple[Mapping[str, Any], Mapping[str, tuple[int, int, int]], Mapping[str, int]]
    ],
    train: Sequence[str],
    days: Mapping[str, float],
) -> tuple[pl.DataFrame, list[str]]:
    """The tuner's trials frame for ``train``, and the columns naming a configuration.

    ``trials``: (setting, ``item -> (windows hit, windows, false-alarm episodes)``,
    ``item -> episodes``) per setting.
    """
    names = list(dict.fromkeys(key for setting, _, _ in trials for key in setting))
    names += [name for name in ("min_demand",) if name not in names]  # the tuner ranks by it
    config = [name for name in names if name != "k"] + ["min_buckets"]
    rows = []
    for index, (setting, counts, episodes) in enumerate(trials):
        row: dict[str, Any] = {"_trial": index, "min_buckets": 1, "k": None}
        row |= {name: setting.get(name) for name in names}
        row["min_demand"] = setting.get("min_demand", 0)
        total = dict.fromkeys(("n_alerts", "hits", "found", "labels"), 0) | {"days": 0.0}
        for fold, item in enumerate(train):
            mine = _counts(*counts[item], episodes.get(item, 0), days[item])
            row |= {fold_prefix(fold) + key: value for key, value in mine.items()}
            total = {key: total[key] + mine[key] for key in total}
        row |= {"_all_" + key: value for key, value in total.items()}
        row |= _metrics(total)
        rows.append(row)
    frame = pl.DataFrame(rows, infer_schema_length=None).with_columns(
        pl.col("k").cast(pl.Float64),
        pl.col("min_demand").cast(pl.Float64),
        pl.col("_trial").cast(pl.UInt32),
    )
    return frame, config


def select(
    trials: Sequence[
        tuple[Mapping[str, Any], Mapping[str, tuple[int, int, int]], Mapping[str, int]]
    ],
    train: Sequence[str],
    days: Mapping[str, float],
    *,
    validation: bool,
) -> int:
    """Index of the trial ``tune(target_recall=1.0[, validation="items"])`` would choose."""
    frame, config = trials_frame(trials, train, days)
    if validation:
        ranked, _ = rank_by_items(frame, "", CHOOSE, len(train), config)
    else:
        ranked, _ = rank_trials(frame, warn=False, **CHOOSE)
    return int(ranked.filter(pl.col("rank") == 1)["_trial"][0])
