"""One tuning run: the series prepared once, every setting scored on one or two scopes.

A *scope* is the part of the data a score is computed on: everything, or -- with
validation -- the items (or the earlier period) the search is fitted on and the items (or
the later period) it is validated on. Detection always runs on the whole series (every
baseline sees its full history); scopes only choose which flagged buckets and which
labels count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from stockseries import _frames
from stockseries.alerts._crossval import counts_of, fold_of_items, fold_prefix
from stockseries.alerts._scoring import (
    Prepared,
    TuneData,
    episode_bounds,
    label_index,
    rank_trials,
    refinement,
    trial_scores,
)
from stockseries.alerts.evaluate import intervals, series_item_days
from stockseries.spikes._layout import bucket_every, prepare
from stockseries.spikes.methods import Detection

__all__ = ["SETTING_COLUMNS", "TRIAL_SCHEMA", "VALIDATIONS", "Key", "Search", "key_of"]

#: ``validation=`` values of :func:`stockseries.alerts.tune`.
VALIDATIONS = (None, "items", "time")

#: A detection of the grid: method, window, smooth, direction, transform.
Key = tuple[str, int | None, int, str, str | None]

TRIAL_SCHEMA: dict[str, pl.DataType] = {
    "stage": pl.String(),
    "method": pl.String(),
    "window": pl.Int64(),
    "smooth": pl.Int64(),
    "direction": pl.String(),
    "transform": pl.String(),
    "k": pl.Float64(),
    "min_demand": pl.Float64(),
    "merge_gap": pl.Int64(),
    "min_buckets": pl.Int64(),
    "precision": pl.Float64(),
    "recall": pl.Float64(),
    "f1": pl.Float64(),
    "false_per_day": pl.Float64(),
    "n_alerts": pl.Int64(),
}
_METRICS = ("precision", "recall", "f1", "false_per_day", "n_alerts")
_COUNT_SCHEMA = {
    "n_alerts": pl.Int64(), "hits": pl.Int64(), "found": pl.Int64(), "labels": pl.Int64(),
    "days": pl.Float64(),
}  # fmt: skip
Combos = Sequence[tuple[float | None, float]]


class Search:
    """Scores of settings on a series against labels (see :func:`stockseries.alerts.tune`)."""

    def __init__(
        self,
        settings: Mapping[Key, Detection],
        rules: Sequence[tuple[int, int]],
        cooldown: int,
        series: Any,
        labels: Any,
        validation: str | None,
    ) -> None:
        self.settings = settings
        self.rules = rules
        self.cooldown = cooldown
        column = next(iter(settings.values()))["column"]
        frame, layout = prepare(_frames.to_polars(series)[0], column)
        self.frame, self.layout = frame, layout
        self.x = frame.get_column(column).to_numpy()
        ts_us = frame.get_column("ts").dt.epoch("us").to_numpy()
        self.every_us = bucket_every(ts_us, layout, dense=False)
        truth, _ = intervals(labels, "labels")
        self.scopes = self._scopes(frame, ts_us, truth, validation)
        #: Held-out groups of items (validation="items"), scored for cross-validation.
        self.folds = sum(prefix.startswith("_f") for prefix in self.scopes)
        self.cache: dict[Key, Prepared] = {}
        self.records: list[dict[str, Any]] = []

    def _scopes(
        self, frame: pl.DataFrame, ts_us: np.ndarray, truth: pl.DataFrame, validation: str | None
    ) -> dict[str, TuneData]:
        layout = self.layout
        names = frame.get_column("item_id").cast(pl.String).gather(layout.starts)
        codes = np.repeat(np.arange(len(layout.starts), dtype=np.int64), layout.lengths)
        t0 = int(ts_us.min())

        def scope(rows: np.ndarray | None, labels: pl.DataFrame) -> TuneData:
            part = frame if rows is None else frame.filter(pl.Series(rows))
            part_layout = layout if rows is None else prepare(part, None)[1]
            part_ts = ts_us if rows is None else ts_us[rows]
            days = (
                series_item_days(part, part_layout, part_ts, self.every_us) if len(part_ts) else 0.0
            )
            return TuneData(
                codes=codes,
                t_rel=ts_us - t0,
                every_us=self.every_us,
                item_days=days,
                labels=label_index(labels, names, t0, int(ts_us.max()) - t0 + self.every_us),
                fallback=(labels, names, t0),
                rows=rows,
            )

        if validation is None:
            return {"": scope(None, truth)}
        if validation == "items":
            # Every item is held out once, in up to MAX_FOLDS groups (see _crossval).
            folds = fold_of_items(len(names))
            scopes = {"": scope(None, truth)}
            for fold in range(int(folds.max()) + 1):
                held = folds == fold
                held_names = names.filter(pl.Series(held))
                in_held = truth.get_column("item_id").is_in(held_names.implode())
                scopes[fold_prefix(fold)] = scope(held[codes], truth.filter(in_held))
            return scopes
        # validation == "time": the last third of the time span validates.
        cut = t0 + (int(ts_us.max()) + self.every_us - t0) * 2 // 3
        cut -= (cut - t0) % self.every_us
        cut_ts = pl.Series([cut]).cast(pl.Datetime("us", "UTC"))[0]
        early = truth.filter(pl.col("start") < cut_ts)
        late = truth.filter(pl.col("end") > cut_ts)
        return {"": scope(ts_us < cut, early), "val_": scope(ts_us >= cut, late)}

    def prepared(self, key: Key) -> Prepared:
        if key not in self.cache:
            self.cache[key] = Prepared.build(self.frame, self.layout, self.x, self.settings[key])
        return self.cache[key]

    def run(self, key: Key, combos: Combos, stage: str, bar: Any) -> None:
        """Score ``combos`` of (k, min_demand) for one detection on every scope."""
        prep = self.prepared(key)
        for k, md in combos:
            flagged, down = prep.flagged(k, md)
            for gap, least in self.rules:
                record: dict[str, Any] = {
                    "stage": stage,
                    "method": key[0],
                    "window": key[1],
                    "smooth": key[2],
                    "direction": key[3],
                    "transform": key[4],
                    "k": k,
                    "min_demand": md,
                    "merge_gap": gap,
                    "min_buckets": least,
                }
                for prefix, data in self.scopes.items():
                    mine = flagged if data.rows is None else flagged & data.rows
                    bounds = episode_bounds(mine, data, gap, least, self.cooldown, down)
                    scores = trial_scores(data, *bounds)
                    if prefix.startswith("_f"):  # a held-out group: counts for _crossval
                        counts = counts_of(scores, _n_labels(data), data.item_days)
                        record.update({prefix + name: v for name, v in counts.items()})
                        continue
                    record.update({prefix + name: scores[name] for name in _METRICS})
                    if self.folds:
                        counts = counts_of(scores, _n_labels(data), data.item_days)
                        record.update({"_all_" + name: v for name, v in counts.items()})
                self.records.append(record)
            bar.update(len(self.rules))

    def trials_frame(self) -> pl.DataFrame:
        schema = dict(TRIAL_SCHEMA)
        if "val_" in self.scopes:
            schema |= {"val_" + name: TRIAL_SCHEMA[name] for name in _METRICS}
        prefixes = ("_all_", *(fold_prefix(fold) for fold in range(self.folds)))
        for prefix in prefixes if self.folds else ():
            schema |= {prefix + name: dtype for name, dtype in _COUNT_SCHEMA.items()}
        return pl.DataFrame(self.records, schema=schema).with_row_index("_trial")

    def run_grid(
        self, plan: Sequence[tuple[Key, Combos]], ks: Sequence[float], refine: bool,
        progress: bool, choose: Mapping[str, Any],
    ) -> None:  # fmt: skip
        """The grid, then (with ``refine``) finer k and min_demand around the best setting."""
        from tqdm.auto import tqdm

        total = sum(len(c) for _, c in plan) * len(self.rules)
        with tqdm(total=total, desc="tune", disable=not progress, leave=True) as bar:
            for key, combos in plan:
                self.run(key, combos, "grid", bar)
            if refine:
                extra, key = self._refinement(ks, choose)
                bar.total += len(extra) * len(self.rules)
                bar.refresh()
                self.run(key, extra, "refine", bar)
            bar.refresh()  # the last updates may fall inside tqdm's redraw interval

    def _refinement(
        self, ks: Sequence[float], choose: Mapping[str, Any]
    ) -> tuple[list[tuple[float | None, float]], Key]:
        ranked, _ = rank_trials(self.trials_frame(), warn=False, **choose)
        top = ranked.filter(pl.col("rank") == 1).row(0, named=True)
        key = key_of(top)
        tried = {(r["k"], r["min_demand"]) for r in self.records if key_of(r) == key}
        return [combo for combo in refinement(top, ks) if combo not in tried], key


def _n_labels(data: TuneData) -> int:
    if data.labels is not None:
        return data.labels.n_labels
    return data.fallback[0].height


def key_of(row: Mapping[str, Any]) -> Key:
    """The grid key of a trial row."""
    return (row["method"], row["window"], row["smooth"], row["direction"], row["transform"])


#: The columns of :data:`TRIAL_SCHEMA` that name a setting (the others: stage and scores).
SETTING_COLUMNS = tuple(name for name in TRIAL_SCHEMA if name != "stage" and name not in _METRICS)
