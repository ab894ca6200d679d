"""Scoring many tuning trials fast: episodes and event-level scores on arrays.

:func:`stockseries.alerts.tune` scores hundreds of settings; cutting each into episodes
with Polars and matching them with joins would dominate. Here episodes are cut on the
flagged rows' arrays with the rules of :func:`stockseries.alerts.alerts`, and matched
against labels indexed as sorted integer keys, by binary search.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from stockseries._schema import TS_DTYPE
from stockseries.alerts._episodes import cooldown_keep
from stockseries.alerts.evaluate import event_scores, f1_score, ratio
from stockseries.spikes._baselines import judged_baseline, signal_baseline
from stockseries.spikes._decide import compute_thresholds, decide, decide_on
from stockseries.spikes._layout import Layout
from stockseries.spikes.methods import method_spec, setting

__all__ = [
    "LabelIndex",
    "Prepared",
    "TuneData",
    "as_tuple",
    "episode_bounds",
    "index_scores",
    "label_index",
    "rank_trials",
    "refinement",
    "trial_scores",
]


def as_tuple(values: Iterable[Any] | Any, name: str) -> tuple[Any, ...]:
    if isinstance(values, str) or not isinstance(values, Iterable):
        values = (values,)
    out = tuple(dict.fromkeys(values))
    if not out:
        raise ValueError(f"{name} must not be empty")
    return out


@dataclass
class TuneData:
    """Everything a trial needs that does not depend on the setting (times relative to t0, µs)."""

    codes: np.ndarray  # item number of each row (rows sorted by item, ts)
    t_rel: np.ndarray
    every_us: int
    item_days: float
    labels: LabelIndex | None  # None: keys would overflow, score with Polars instead
    fallback: tuple[pl.DataFrame, pl.Series, int]  # truth, item names by code, t0
    rows: np.ndarray | None = None  # the rows scored (validation scopes); None: all


@dataclass
class LabelIndex:
    """Labels as sorted integer keys ``code * scale + time`` for overlap tests by binary search.

    Times are clipped to ``[0, scale)``, which keeps every overlap test's
    answer; labels of items absent from the series can match nothing but
    still count in ``n_labels``.
    """

    n_labels: int
    scale: int
    start_key: np.ndarray  # sorted
    end_key: np.ndarray
    reach_key: np.ndarray  # running max of end_key: the furthest any label so far reaches


def label_index(truth: pl.DataFrame, names: pl.Series, t0: int, horizon: int) -> LabelIndex | None:
    scale = horizon + 2
    if len(names) * scale >= 2**62:
        return None
    lookup = pl.DataFrame({"item_id": names, "_code": np.arange(len(names), dtype=np.int64)})
    known = (
        truth.join(lookup, on="item_id", how="inner")
        .select(
            "_code",
            ((pl.col("start").dt.epoch("us") - t0).clip(0, scale - 1)).alias("s"),
            ((pl.col("end").dt.epoch("us") - t0).clip(0, scale - 1)).alias("e"),
        )
        .sort("_code", "s")
    )
    codes = known.get_column("_code").to_numpy()
    start_key = codes * scale + known.get_column("s").to_numpy()
    end_key = codes * scale + known.get_column("e").to_numpy()
    reach = np.maximum.accumulate(end_key) if len(end_key) else end_key
    return LabelIndex(truth.height, scale, start_key, end_key, reach)


def episode_bounds(
    flagged: np.ndarray,
    data: TuneData,
    merge_gap: int,
    min_buckets: int,
    cooldown: int,
    down: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Item code, start and end of each episode: :func:`cut_episodes` rules, on arrays.

    ``down`` marks drops (when they are watched): an episode never mixes directions.
    """
    idx = np.flatnonzero(flagged)
    codes, t = data.codes[idx], data.t_rel[idx]
    every = data.every_us
    if len(idx) == 0:
        return codes, t, t
    new = np.ones(len(idx), dtype=bool)
    new[1:] = (codes[1:] != codes[:-1]) | (np.diff(t) > (merge_gap + 1) * every)
    if down is not None:
        falls = down[idx]
        new[1:] |= falls[1:] != falls[:-1]
    first = np.flatnonzero(new)
    last = np.append(first[1:], len(idx)) - 1
    code, start, end = codes[first], t[first], t[last] + every
    keep = (end - start) // every >= min_buckets
    code, start, end = code[keep], start[keep], end[keep]
    if cooldown > 0 and len(code) > 1:
        keep = cooldown_keep(code, start, end, cooldown * every)
        code, start, end = code[keep], start[keep], end[keep]
    return code, start, end


def index_scores(
    ix: LabelIndex, code: np.ndarray, start: np.ndarray, end: np.ndarray, item_days: float
) -> dict[str, Any]:
    """Event-level precision, recall, F1 and false alerts per item-day, by binary search."""
    a_start = code * ix.scale + start
    a_end = code * ix.scale + end
    # An alert hits when some label of its item starts before the alert ends and
    # reaches past the alert start (earlier items' keys never reach that far).
    j = np.searchsorted(ix.start_key, a_end, side="left") - 1
    hits = (
        int(((j >= 0) & (ix.reach_key[np.maximum(j, 0)] > a_start)).sum())
        if len(ix.reach_key)
        else 0
    )
    # A label is detected when the last alert of its item starting before the
    # label ends, ends after the label starts (episodes of an item are disjoint).
    i = np.searchsorted(a_start, ix.end_key, side="left") - 1
    detected = int(((i >= 0) & (a_end[np.maximum(i, 0)] > ix.start_key)).sum()) if len(a_end) else 0
    n_alerts = len(code)
    precision = ratio(hits, n_alerts)
    recall = ratio(detected, ix.n_labels)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1_score(precision, recall),
        "false_per_day": ratio(n_alerts - hits, item_days),
        "n_alerts": n_alerts,
    }


def trial_scores(
    data: TuneData, code: np.ndarray, start: np.ndarray, end: np.ndarray
) -> dict[str, Any]:
    if data.labels is not None:
        return index_scores(data.labels, code, start, end, data.item_days)
    truth, names, t0 = data.fallback
    found = pl.DataFrame(
        {
            "item_id": names.gather(code),
            "start": pl.Series(start + t0).cast(TS_DTYPE),
            "end": pl.Series(end + t0).cast(TS_DTYPE),
            "alert_id": pl.Series([None] * len(code), dtype=pl.String),
        }
    )
    scores = event_scores(found, truth, data.item_days)
    return {
        "precision": scores["precision"],
        "recall": scores["recall"],
        "f1": scores["f1"],
        "false_per_day": scores["false_alerts_per_item_day"],
        "n_alerts": scores["n_alerts"],
    }


@dataclass
class Prepared:
    """One method/window/smooth (and direction, transform): the signal and its baseline,
    shared by every k and min_demand tried."""

    params: Mapping[str, Any]
    signal: np.ndarray
    judged: np.ndarray
    base: Any
    sufficient: np.ndarray
    robust: bool
    frame: pl.DataFrame
    layout: Layout
    at_least: dict[float, np.ndarray] = field(default_factory=dict)

    @classmethod
    def build(
        cls, frame: pl.DataFrame, layout: Layout, x: np.ndarray, params: Mapping[str, Any]
    ) -> Prepared:
        spec = method_spec(params["method"])
        transform = setting(params, "transform")
        robust = bool(setting(params, "robust"))
        if transform is None and spec.integer_path:
            signal, base = signal_baseline(frame, layout, x, params)
            judged = signal
        else:
            signal, judged, base = judged_baseline(frame, layout, x, params)
        sufficient = base.history >= params["min_periods"]
        return cls(params, signal, judged, base, sufficient, robust, frame, layout)

    def flagged(self, k: float | None, min_demand: float) -> tuple[np.ndarray, np.ndarray | None]:
        """Flags for ``k`` and ``min_demand``, and which of them are drops (or None)."""
        simple = (
            setting(self.params, "direction") == "up"
            and self.judged is self.signal
            and self.base.judged is None
            and not self.robust
        )
        if simple:
            threshold = compute_thresholds(self.signal, self.base, k)
            flagged = np.greater(self.signal, threshold)
            flagged &= self.sufficient
            if min_demand > 0:
                if min_demand not in self.at_least:
                    self.at_least[min_demand] = self.signal >= min_demand
                flagged &= self.at_least[min_demand]
            return flagged, None
        params = {**self.params, "k": k, "min_demand": min_demand}
        if self.robust:
            decision = decide(self.frame, self.layout, params)
        else:
            decision = decide_on(self.signal, self.judged, self.base, params)
        return decision.flagged, decision.down


def rank_trials(
    trials: pl.DataFrame,
    objective: str,
    target_recall: float | None,
    max_false_per_day: float | None,
    *,
    warn: bool,
    penalty: float = 0.0,
) -> tuple[pl.DataFrame, str]:
    """Rank trials (``rank`` 1 = best) and say how, in words.

    ``penalty`` > 0 scores ``objective − penalty × false_per_day``.
    """
    feasible = pl.lit(True)
    if target_recall is not None:
        feasible &= pl.col("recall").fill_null(0) >= target_recall
    if max_false_per_day is not None:
        feasible &= pl.col("false_per_day").fill_null(0) <= max_false_per_day
    trials = trials.with_columns(feasible=feasible)
    score = pl.col(objective).fill_null(0)
    if penalty:
        score = score - penalty * pl.col("false_per_day").fill_null(0)
        objective = f"{objective} - {penalty:g} x false alerts per item-day"
    if target_recall is not None:
        # Then the higher recall, not the objective: event precision (so F1) rises when one
        # event is cut into several alerts, which a tie-break should not reward.
        keys = [pl.col("false_per_day").fill_null(0), -pl.col("recall").fill_null(0)]
        how = f"fewest false alerts per item-day with recall >= {target_recall:g}"
        if max_false_per_day is not None:
            how += f" and <= {max_false_per_day:g} false alerts per item-day"
    elif max_false_per_day is not None:
        keys = [-pl.col("recall").fill_null(0), -score]
        how = f"highest recall with <= {max_false_per_day:g} false alerts per item-day"
    else:
        keys = [-score]
        how = f"highest {objective}"
    if not trials.get_column("feasible").any():
        if warn:
            warnings.warn(
                f"no setting meets the constraints ({how}); choosing the highest {objective}",
                UserWarning,
                stacklevel=3,
            )
        keys = [-score]
        how = f"highest {objective} (no setting met: {how})"
    # Ties go to the more conservative setting: fewer alerts on unseen data.
    order = [
        ~pl.col("feasible"),
        *keys,
        -pl.col("k").fill_null(0),
        -pl.col("min_demand"),
        -pl.col("min_buckets"),
        # A longer merge gap joins nearby flags into one episode: fewer alerts.
        *([-pl.col("merge_gap")] if "merge_gap" in trials.columns else []),
        pl.col("_trial"),
    ]
    ranked = trials.with_columns(rank=pl.arg_sort_by(order).arg_sort().cast(pl.Int64) + 1)
    return ranked, how


def refinement(best: Mapping[str, Any], ks: Sequence[float]) -> list[tuple[float | None, float]]:
    """Nine k values spanning the best k's grid neighbours, crossed with min_demand − 1, +0, +1."""
    k = best["k"]
    if k is None:
        fine_ks: list[float | None] = [None]
    else:
        grid = sorted(set(ks))
        i = grid.index(k)
        step = min((b - a for a, b in itertools.pairwise(grid)), default=1.0)
        # k must stay > 0: below the smallest grid value, go down at most halfway to 0.
        low = grid[i - 1] if i > 0 else (k - step if k - step > 0 else k / 2)
        high = grid[i + 1] if i + 1 < len(grid) else k + step
        fine_ks = [round(float(v), 6) for v in np.linspace(low, high, 9)]
    md = best["min_demand"]
    return [(kk, m) for kk in fine_ks for m in sorted({max(md - 1, 0.0), md, md + 1})]
