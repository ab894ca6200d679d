"""The tuner's computation, cached: a control change recomputes only what it alters.

What each change costs (see ``benchmarks/TUNER.md`` for measured seconds):

* **Detection** runs once per item and setting. Frames are kept per item for the last
  few settings, so paging, selecting items again or going back to an earlier setting
  detects nothing.
* **k and min_demand** do not change a baseline. For detections whose bars are
  ``baseline ± k·spread`` on the signal itself (no ``transform``, not ``robust``), the bars
  and flags at another ``k`` or ``min_demand`` are derived from the cached detection
  (:func:`flags_at`): exactly what ``detect_spikes`` returns at that setting (the tests check
  every method and direction). Other detections run again.
* **Alerts** are cut from the flagged rows only (what :func:`~stockseries.alerts.alerts`
  reads of a detection when ``every`` is given).
* **The precision/recall-versus-k curve** (with labels) comes from the rows flagged at the
  smallest ``k`` of the grid, re-flagged per ``k``, episodes of every ``k`` cut at once
  (:func:`pr_table`): no detection, and cached while only ``k`` moves.

Public names inside the package (used by :mod:`stockseries.notebook.tuner`).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from stockseries._schema import ITEM, TS
from stockseries._time import duration_us
from stockseries.notebook.tuner_compute import scores_of
from stockseries.spikes.methods import method_spec, setting

__all__ = ["DERIVED", "TunerEngine", "derivable", "episode_bounds", "flags_at", "pr_table"]

#: Settings that only move the bars and flags of a detection, never its baseline.
DERIVED = ("k", "min_demand")


def derivable(detection: Mapping[str, Any]) -> bool:
    """Whether ``k`` and ``min_demand`` can be applied to a finished detection exactly.

    True when the bars are ``baseline ± k·spread`` on the compared signal itself: no
    ``transform`` (bars on another scale) and not ``robust`` (baselines depend on ``k``
    through the capping).
    """
    return setting(detection, "transform") is None and not setting(detection, "robust")


def flags_at(
    detected: pl.DataFrame,
    detection: Mapping[str, Any],
    *,
    k: float | None = None,
    min_demand: float | None = None,
    mark_drops: bool = False,
) -> pl.DataFrame:
    """The detection with its bars and flags at another ``k`` / ``min_demand``.

    Exact for :func:`derivable` detections: ``threshold = baseline + k·spread`` (``lower =
    baseline − k·spread``), flagged when sufficient and past a bar, rises reaching
    ``min_demand``, drops only where the baseline does (``mark_drops``: a ``_down`` column
    says which buckets are drops). Otherwise the score decides
    (``score > k`` / ``score < −k``): the baselines stay those of the detection's own ``k``,
    an approximation used only for the precision/recall curve.
    """
    spec = method_spec(detection["method"])
    direction = setting(detection, "direction")
    k = detection.get("k") if k is None else k
    min_demand = detection.get("min_demand", 0) if min_demand is None else min_demand
    column = detection.get("column", "demand")
    compared = pl.col("signal" if "signal" in detected.columns else column)
    sufficient = pl.col("sufficient")
    frame = detected
    if derivable(detection):
        if spec.uses_k:
            frame = frame.with_columns(threshold=pl.col("baseline") + k * pl.col("spread"))
            if "lower" in frame.columns:
                frame = frame.with_columns(lower=pl.col("baseline") - k * pl.col("spread"))
        rise = compared > pl.col("threshold")
        drop = compared < pl.col("lower") if "lower" in frame.columns else pl.lit(False)
    else:
        assert k is not None  # the k methods: score = (signal − baseline) / spread
        rise = pl.col("score") > k
        drop = pl.col("score") < -k
    flagged = pl.lit(False)
    if direction != "down":
        flagged = flagged | (sufficient & rise & (compared >= min_demand))
    drops: list[pl.Expr] = []
    if direction != "up":
        expected = pl.col("baseline") >= min_demand if min_demand > 0 else pl.lit(True)
        flagged = flagged | (sufficient & drop & expected)
        if mark_drops:  # which flagged buckets are drops: an episode never mixes both
            drops.append(drop.fill_null(False).alias("_down"))
    return frame.with_columns(flagged.fill_null(False).alias("flagged"), *drops)


def pr_table(
    detected: pl.DataFrame,
    labels: pl.DataFrame,
    k_values: Sequence[float],
    detection: Mapping[str, Any],
    alert_kwargs: Mapping[str, Any],
) -> pl.DataFrame:
    """Precision/recall/F1 per ``k`` from one detection: only the bars move.

    A bucket flagged at some ``k`` is flagged at every smaller one, so the rows flagged at
    the smallest ``k`` hold every other ``k``'s flags. Each ``k`` re-flags those rows
    (:func:`flags_at`); the episodes of every ``k`` are cut at once (:func:`episode_bounds`,
    ``k`` and item together as the key) and scored as :func:`~stockseries.alerts.evaluate`
    scores them (same-item ``[start, end)`` overlap).
    """
    from stockseries.alerts.evaluate import f1_score, intervals, ratio

    candidates = flags_at(detected, detection, k=min(k_values), mark_drops=True)
    candidates = candidates.filter(pl.col("flagged"))
    items = candidates.get_column(ITEM).unique(maintain_order=True)
    codes = pl.DataFrame({ITEM: items, "_code": pl.int_range(items.len(), eager=True)})
    width = max(items.len(), 1)
    columns: list[str | pl.Expr] = ["_key", pl.col(TS).dt.epoch("us").alias("_t")]
    stacked = pl.concat(
        flags_at(candidates, detection, k=k_value, mark_drops=True)
        .filter(pl.col("flagged"))
        .join(codes, on=ITEM, how="left", maintain_order="left")
        .with_columns(_key=pl.col("_code") + i * width)
        .select(*columns, *(["_down"] if "_down" in candidates.columns else []))
        for i, k_value in enumerate(k_values)
    )
    every_us = duration_us(alert_kwargs["every"], "every")
    rules = {n: int(alert_kwargs.get(n, d)) for n, d in (("merge_gap", 0), ("cooldown", 0))}
    bounds = episode_bounds(stacked, every_us, min_buckets=1, **rules)
    episodes = bounds.with_columns(_k=pl.col("_key") // width, _code=pl.col("_key") % width).join(
        codes, on="_code", how="left"
    )
    truth, _ = intervals(labels, "labels")  # UTC microseconds, as evaluate compares them
    truth = truth.select(
        ITEM,
        pl.col("start").dt.epoch("us").alias("l_start"),
        pl.col("end").dt.epoch("us").alias("l_end"),
    )
    pairs = (
        episodes.with_row_index("_a")
        .join(truth.with_row_index("_l"), on=ITEM)
        .filter((pl.col("_start_us") < pl.col("l_end")) & (pl.col("l_start") < pl.col("_end_us")))
        .group_by("_k")
        .agg(pl.col("_a").n_unique().alias("hits"), pl.col("_l").n_unique().alias("found"))
    )
    counts = dict(episodes.group_by("_k").len().iter_rows())
    matched = {row[0]: row[1:] for row in pairs.iter_rows()}
    rows = []
    for i, k_value in enumerate(k_values):
        hits, found = matched.get(i, (0, 0))
        precision, recall = ratio(hits, counts.get(i, 0)), ratio(found, labels.height)
        rows.append((k_value, precision, recall, f1_score(precision, recall)))
    return pl.DataFrame(
        rows,
        schema={"k": pl.Float64, "precision": pl.Float64, "recall": pl.Float64, "f1": pl.Float64},
        orient="row",
    )


def episode_bounds(
    rows: pl.DataFrame, every_us: int, *, merge_gap: int, min_buckets: int, cooldown: int
) -> pl.DataFrame:
    """Start and end (µs) of the episodes of flagged rows, by the rules of ``alerts``.

    ``rows``: ``_key`` (the item), ``_t`` (bucket start, µs), optionally ``_down``, sorted by
    key and time. The same rules as :func:`stockseries.alerts._episodes.cut_episodes` (runs
    merged across ``merge_gap`` buckets, never mixing directions, at least ``min_buckets``,
    the cooldown after each reported episode) without the peak and excess columns the
    curve does not need; the tests check both agree.
    """
    from stockseries.alerts._episodes import cooldown_keep

    key, t = pl.col("_key"), pl.col("_t")
    new_episode = (key != key.shift(1)) | (t - t.shift(1) > (merge_gap + 1) * every_us)
    if "_down" in rows.columns:
        new_episode = new_episode | (pl.col("_down") != pl.col("_down").shift(1))
    episodes = (
        rows.with_columns(_episode=new_episode.fill_null(True).cum_sum())
        .group_by("_episode", maintain_order=True)
        .agg(key.first(), t.first().alias("_start_us"), (t.last() + every_us).alias("_end_us"))
        .filter((pl.col("_end_us") - pl.col("_start_us")) // every_us >= min_buckets)
        .drop("_episode")
    )
    if cooldown > 0 and episodes.height > 1:
        keep = cooldown_keep(
            episodes.get_column("_key").rle_id().to_numpy().astype(np.int64),
            episodes.get_column("_start_us").to_numpy(),
            episodes.get_column("_end_us").to_numpy(),
            cooldown * every_us,
        )
        episodes = episodes.filter(pl.Series(keep))
    return episodes


def _key(values: Mapping[str, Any]) -> str:
    return json.dumps(dict(values), sort_keys=True, default=str)


class TunerEngine:
    """Detections, alerts, scores and the k curve of the tuner, with their caches.

    Parameters
    ----------
    series_of
        ``series_of(every, items)``: the series frame of those items at that bucket size.
    labels
        Ground truth (or ``None``).
    keep
        Settings whose per-item detections are kept (least recently used dropped).
    """

    def __init__(
        self,
        series_of: Callable[[str, Sequence[str]], pl.DataFrame],
        labels: pl.DataFrame | None,
        *,
        keep: int = 4,
    ) -> None:
        self._series_of = series_of
        self._labels = labels
        self._keep = keep
        self._detections: OrderedDict[str, dict[str, pl.DataFrame]] = OrderedDict()
        self._trials: tuple[str, pl.DataFrame] | None = None

    def detect(
        self, every: str, detection: Mapping[str, Any], items: Sequence[str]
    ) -> pl.DataFrame:
        """The detection frame of ``items`` (in that order), detecting only what is new."""
        from stockseries.spikes import detect_spikes

        exact = derivable(detection)
        shaping = {n: v for n, v in detection.items() if not (exact and n in DERIVED)}
        key = _key({"every": every, **shaping})
        per_item = self._detections.pop(key, {})
        self._detections[key] = per_item  # most recently used last
        while len(self._detections) > self._keep:
            self._detections.popitem(last=False)
        missing = [i for i in items if i not in per_item]
        if missing:
            fresh = detect_spikes(self._series_of(every, missing), **detection)
            for (item,), part in fresh.partition_by(ITEM, as_dict=True).items():
                per_item[str(item)] = part
        frame = pl.concat([per_item[i] for i in items if i in per_item])
        # Kept frames may come from another k / min_demand: their flags are re-derived.
        return flags_at(frame, detection) if exact else frame

    def alerts(
        self, detected: pl.DataFrame, detection: Mapping[str, Any], alert_kwargs: Mapping[str, Any]
    ) -> Any:
        """Alert episodes, cut from the flagged rows only (``every`` is given)."""
        from stockseries.alerts import alerts

        return alerts(detected.filter(pl.col("flagged")), params=detection, **alert_kwargs)

    def scores(self, found: Any, items: Sequence[str]) -> dict[str, float | None] | None:
        """Precision, recall, F1 of ``found`` against the labels of ``items``."""
        labels = self.labels_of(items)
        return None if labels is None else scores_of(found, labels)

    def labels_of(self, items: Sequence[str]) -> pl.DataFrame | None:
        if self._labels is None:
            return None
        return self._labels.filter(pl.col(ITEM).is_in(list(items)))

    def trials(
        self,
        detected: pl.DataFrame,
        items: Sequence[str],
        k_grid: Sequence[float],
        detection: Mapping[str, Any],
        alert_kwargs: Mapping[str, Any],
    ) -> pl.DataFrame | None:
        """The k curve (``None`` without labels or ``k``), reused while only ``k`` moves."""
        labels = self.labels_of(items)
        k = detection.get("k")
        if labels is None or k is None:
            return None
        key = _key(
            {
                "items": list(items),
                **{n: v for n, v in detection.items() if n != "k"},
                **{n: v for n, v in alert_kwargs.items() if n != "suppliers"},
            }
        )
        if self._trials is not None and self._trials[0] == key:
            if float(k) in self._trials[1]["k"].to_list():
                return self._trials[1]
        k_values = sorted({*k_grid, float(k)})
        table = pr_table(detected, labels, k_values, detection, alert_kwargs)
        self._trials = (key, table)  # one entry: reused only while nothing but k moves
        return table
