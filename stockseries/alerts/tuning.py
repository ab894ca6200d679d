"""Searching detection settings against labels: :func:`tune` and :class:`TuneResult`."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from stockseries import _frames
from stockseries.alerts._ids import alert_params
from stockseries.alerts._scoring import (
    Prepared,
    TuneData,
    as_tuple,
    episode_bounds,
    label_index,
    rank_trials,
    refinement,
    trial_scores,
)
from stockseries.alerts.evaluate import (
    intervals,
    series_item_days,
)
from stockseries.spikes._layout import bucket_every, prepare
from stockseries.spikes.methods import Detection, method_spec, spike_params

_TRIAL_SCHEMA = {
    "stage": pl.String,
    "method": pl.String,
    "window": pl.Int64,
    "smooth": pl.Int64,
    "k": pl.Float64,
    "min_demand": pl.Float64,
    "merge_gap": pl.Int64,
    "min_buckets": pl.Int64,
    "precision": pl.Float64,
    "recall": pl.Float64,
    "f1": pl.Float64,
    "false_per_day": pl.Float64,
    "n_alerts": pl.Int64,
}


@dataclass(frozen=True, eq=False)
class TuneResult:
    """Every setting :func:`tune` tried, and the best one.

    Attributes
    ----------
    trials : polars.DataFrame
        One row per setting: ``stage`` (``"grid"`` or ``"refine"``),
        ``method``, ``window``, ``smooth``, ``k``, ``min_demand``,
        ``merge_gap``, ``min_buckets``, ``precision``, ``recall``, ``f1``,
        ``false_per_day`` (false alerts per item-day), ``n_alerts``,
        ``feasible`` (meets the constraints) and ``rank`` (1 = best).
    best : dict
        Detection parameters of the best trial, complete (see
        :func:`~stockseries.spikes.spike_params`): ``detect_spikes(series, **best)``.
    alert_params : dict
        Its episode rules: ``alerts(detected, params=best, **alert_params)``.
    objective : str
        How the best was chosen, in words.
    """

    trials: pl.DataFrame
    best: dict[str, Any]
    alert_params: dict[str, Any]
    objective: str

    @property
    def best_trial(self) -> dict[str, Any]:
        """The row of :attr:`trials` ranked first."""
        return self.trials.filter(pl.col("rank") == 1).row(0, named=True)

    def _setting(self) -> str:
        parts = [str(self.best["method"])]
        for key in ("window", "smooth", "k", "min_demand"):
            if self.best.get(key) is not None:
                parts.append(f"{key}={self.best[key]:g}")
        parts += [f"{key}={value}" for key, value in self.alert_params.items() if key != "cooldown"]
        return " ".join(parts)

    def _scores(self) -> str:
        row = self.best_trial
        return ", ".join(
            f"{key}=null" if row[key] is None else f"{key}={row[key]:.3f}"
            for key in ("f1", "precision", "recall", "false_per_day")
        )

    def __repr__(self) -> str:
        return f"TuneResult({self._setting()}: {self._scores()}; {self.trials.height} trials)"

    def _repr_html_(self) -> str:
        top = self.trials.sort("rank").head(10)
        return (
            f"<div><strong>Best: {html.escape(self._setting())}</strong> "
            f"({html.escape(self._scores())})<div>{html.escape(self.objective)}; "
            f"{self.trials.height} trials, top 10:</div>{top._repr_html_()}</div>"
        )


_GRID_DEFAULTS: dict[str, Any] = {
    "methods": ("zscore",),
    "windows": (30, 60, 120),
    "ks": (2.0, 3.0, 4.0, 5.0, 6.0, 7.0),
    "min_demands": (0, 1, 2, 4),
    "smooths": (1, 5, 10),
    "merge_gap": 0,
    "min_buckets": 1,
    "cooldown": 0,
    "min_periods": None,
    "column": "demand",
    "method_options": None,
}

Key = tuple[str, int, int]


@dataclass(frozen=True)
class TuneGrid:
    """The settings :func:`tune` searches, checked when the record is built.

    Every field accepts one value or a sequence (duplicates are dropped, order kept);
    after construction each holds a tuple. Building it checks every value with
    :func:`~stockseries.spikes.spike_params` and the episode rules, so a bad grid fails
    before any work.

    Examples
    --------
    >>> grid = TuneGrid(methods=("zscore", "mad"), windows=60, ks=(3, 4))
    >>> grid.windows, grid.ks, len(grid.settings())
    ((60,), (3.0, 4.0), 6)
    >>> TuneGrid(methods="threshold")
    Traceback (most recent call last):
    ...
    ValueError: method='threshold' cannot be tuned: it has no baseline to scale
    """

    methods: Sequence[str] | str = _GRID_DEFAULTS["methods"]
    windows: Sequence[int] | int = _GRID_DEFAULTS["windows"]
    ks: Sequence[float] | float = _GRID_DEFAULTS["ks"]
    min_demands: Sequence[float] | float = _GRID_DEFAULTS["min_demands"]
    smooths: Sequence[int] | int = _GRID_DEFAULTS["smooths"]
    merge_gap: Sequence[int] | int = 0
    min_buckets: Sequence[int] | int = 1
    cooldown: int = 0
    min_periods: int | None = None
    column: str = "demand"
    method_options: Mapping[str, Mapping[str, Any]] | None = None

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        put("methods", as_tuple(self.methods, "methods"))
        put("windows", as_tuple(self.windows, "windows"))
        for md in as_tuple(self.min_demands, "min_demands"):
            spike_params(min_demand=md)  # every value checked before any work
        for k in as_tuple(self.ks, "ks"):
            spike_params(k=k)
        put("ks", tuple(dict.fromkeys(float(k) for k in as_tuple(self.ks, "ks"))))
        md_values = as_tuple(self.min_demands, "min_demands")
        put("min_demands", tuple(dict.fromkeys(float(m) for m in md_values)))
        put("smooths", as_tuple(self.smooths, "smooths"))
        put("merge_gap", as_tuple(self.merge_gap, "merge_gap"))
        put("min_buckets", as_tuple(self.min_buckets, "min_buckets"))
        put("method_options", dict(self.method_options or {}))
        for method in self.methods:
            if not method_spec(method).tunable:
                raise ValueError(f"method={method!r} cannot be tuned: it has no baseline to scale")
        for gap, least in self.rules():
            alert_params(every="1m", merge_gap=gap, min_buckets=least, cooldown=self.cooldown)
        self.settings()  # windows, smooths, options: checked by spike_params

    def rules(self) -> list[tuple[int, int]]:
        """The (merge_gap, min_buckets) pairs searched."""
        return [(g, b) for g in self.merge_gap for b in self.min_buckets]  # type: ignore[union-attr]

    def settings(self) -> dict[Key, Detection]:
        """One detection per method, window and smooth (``k`` set to the first grid value)."""
        options: Mapping[str, Mapping[str, Any]] = self.method_options  # type: ignore[assignment]
        settings: dict[Key, Detection] = {}
        for method in self.methods:  # type: ignore[union-attr]
            for window in self.windows:  # type: ignore[union-attr]
                for smooth in self.smooths:  # type: ignore[union-attr]
                    params = spike_params(
                        method,
                        column=self.column,
                        window=window,
                        k=self.ks[0],  # type: ignore[index]
                        min_periods=self.min_periods,
                        smooth=smooth,
                        **options.get(method, {}),
                    )
                    settings[(method, params["window"], params["smooth"])] = params
        return settings

    def combos(self, params: Mapping[str, Any]) -> list[tuple[float | None, float]]:
        """The (k, min_demand) pairs tried for one detection (``k`` only where it applies)."""
        ks: tuple[Any, ...] = self.ks if params["k"] is not None else (None,)  # type: ignore[assignment]
        return [(k, md) for k in ks for md in self.min_demands]  # type: ignore[union-attr]


def tune(
    series: Any,
    labels: Any,
    *,
    methods: Sequence[str] | str = _GRID_DEFAULTS["methods"],
    windows: Sequence[int] | int = _GRID_DEFAULTS["windows"],
    ks: Sequence[float] | float = _GRID_DEFAULTS["ks"],
    min_demands: Sequence[float] | float = _GRID_DEFAULTS["min_demands"],
    smooths: Sequence[int] | int = _GRID_DEFAULTS["smooths"],
    objective: str = "f1",
    target_recall: float | None = None,
    max_false_per_day: float | None = None,
    refine: bool = True,
    progress: bool = True,
    merge_gap: Sequence[int] | int = 0,
    min_buckets: Sequence[int] | int = 1,
    cooldown: int = 0,
    min_periods: int | None = None,
    column: str = "demand",
    method_options: Mapping[str, Mapping[str, Any]] | None = None,
    grid: TuneGrid | None = None,
) -> TuneResult:
    """Search detection parameters that best recover labelled spikes.

    Every combination of ``methods`` × ``windows`` × ``smooths`` × ``ks`` ×
    ``min_demands`` (× ``merge_gap`` × ``min_buckets`` when given as
    sequences) is turned into alert episodes and scored with the event-level
    metrics of :func:`evaluate`. With ``refine``, nine ``k`` values spanning
    the best k's grid neighbours are then crossed with the best
    ``min_demand`` − 1, +0, +1 for the best of everything else. Signals and
    baselines are computed once per method, window and smooth; each ``k`` and
    ``min_demand`` is a cheap comparison on top, and episodes and scores only
    touch the flagged buckets, so hundreds of settings over millions of
    buckets take seconds.

    Choosing the best:

    - default: the highest ``objective`` (``"f1"``, ``"precision"`` or ``"recall"``);
    - ``target_recall``: among settings with recall ≥ target, the fewest
      false alerts per item-day (also within ``max_false_per_day`` if given);
    - ``max_false_per_day`` alone: within that budget, the highest recall.

    Ties go to larger ``k``, ``min_demand`` and ``min_buckets`` (fewer alerts
    on unseen data). If no setting meets the constraints a warning is issued
    and the highest ``objective`` wins.

    Parameters
    ----------
    series : frame
        A series frame (``item_id``, ``ts``, ``column``), dense per item.
    labels : frame
        Spike windows (``item_id``, ``start``, ``end``), e.g. ``Simulation.labels``.
    methods, windows, ks, min_demands, smooths
        The grid (see :func:`~stockseries.spikes.detect_spikes`). ``quantile``
        ignores ``k`` (one trial per window); ``threshold`` cannot be tuned.
        The default ``smooths`` include 5 and 10 buckets because per-minute
        demand rarely separates spikes from noise without averaging.
    objective, target_recall, max_false_per_day
        How to choose, see above.
    refine : bool
        Search finer around the best grid setting.
    progress : bool
        Show a tqdm progress bar.
    merge_gap, min_buckets : int or sequence of int
        Episode rules, as for :func:`alerts`; a sequence is searched.
    cooldown : int
        Episode rule, fixed.
    min_periods : int, optional
        As for ``detect_spikes`` (default: the window).
    column : str
        The watched column.
    method_options : mapping, optional
        Extra options per method, e.g. ``{"quantile": {"q": 0.995}}``.

    grid : TuneGrid, optional
        The whole grid as one record (checked when built); the keyword forms
        (``methods`` … ``method_options``) build the same record and must be left at
        their defaults when ``grid`` is given.

    Returns
    -------
    TuneResult

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> from datetime import datetime, timedelta, timezone
    >>> rng = np.random.default_rng(0)
    >>> demand = rng.poisson(2.0, 600)
    >>> demand[300:310] += 12
    >>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> series = pl.DataFrame({"item_id": "a", "demand": demand,
    ...                        "ts": [t0 + timedelta(minutes=i) for i in range(600)]})
    >>> truth = pl.DataFrame({"item_id": ["a"], "start": [t0 + timedelta(minutes=300)],
    ...                       "end": [t0 + timedelta(minutes=310)]})
    >>> result = tune(series, truth, ks=(3.0, 5.0), min_demands=(0, 8), smooths=1, progress=False)
    >>> result
    TuneResult(zscore window=60 smooth=1 k=7 min_demand=9 merge_gap=0 min_buckets=1: f1=1.000, precision=1.000, recall=1.000, false_per_day=0.000; 37 trials)
    >>> from stockseries.alerts import alerts
    >>> from stockseries.spikes import detect_spikes
    >>> detected = detect_spikes(series, **result.best)
    >>> alerts(detected, params=result.best, **result.alert_params)
    Alerts(1 episode, 1 item, 2024-01-01 05:00 → 2024-01-01 05:01)
    """
    keywords: dict[str, Any] = {
        "methods": methods,
        "windows": windows,
        "ks": ks,
        "min_demands": min_demands,
        "smooths": smooths,
        "merge_gap": merge_gap,
        "min_buckets": min_buckets,
        "cooldown": cooldown,
        "min_periods": min_periods,
        "column": column,
        "method_options": method_options,
    }
    if grid is None:
        grid = TuneGrid(**keywords)
    else:
        changed = [name for name, value in keywords.items() if value != _GRID_DEFAULTS[name]]
        if changed:
            raise TypeError(f"give either grid= or {', '.join(changed)}, not both")
    if objective not in ("f1", "precision", "recall"):
        raise ValueError(f"objective must be 'f1', 'precision' or 'recall', got {objective!r}")
    search = _Search(grid, series, labels)
    search.run_grid(progress, objective, target_recall, max_false_per_day, refine)
    trials, how = rank_trials(
        search.trials_frame(), objective, target_recall, max_false_per_day, warn=True
    )
    return _result(trials, how, search.settings, grid.cooldown)


def _result(
    trials: pl.DataFrame, how: str, settings: dict[Key, Detection], cooldown: int
) -> TuneResult:
    top = trials.filter(pl.col("rank") == 1).row(0, named=True)
    md = top["min_demand"]
    best = spike_params(
        **{
            **settings[(top["method"], top["window"], top["smooth"])],
            "k": top["k"] if top["k"] is not None else 3.0,
            "min_demand": int(md) if float(md).is_integer() else md,
        }
    )
    return TuneResult(
        trials=trials.drop("_trial"),
        best=best.to_dict(),
        alert_params={
            "merge_gap": top["merge_gap"],
            "min_buckets": top["min_buckets"],
            "cooldown": cooldown,
        },
        objective=how,
    )


class _Search:
    """One tuning run: the series prepared once, every trial's scores recorded."""

    def __init__(self, grid: TuneGrid, series: Any, labels: Any) -> None:
        self.grid = grid
        self.settings = grid.settings()
        self.rules = grid.rules()
        frame, layout = prepare(_frames.to_polars(series)[0], grid.column)
        self.frame, self.layout = frame, layout
        self.x = frame.get_column(grid.column).to_numpy()
        ts_us = frame.get_column("ts").dt.epoch("us").to_numpy()
        every_us = bucket_every(ts_us, layout, dense=False)
        truth, _ = intervals(labels, "labels")
        t0 = int(ts_us.min())
        names = frame.get_column("item_id").cast(pl.String).gather(layout.starts)
        self.data = TuneData(
            codes=np.repeat(np.arange(len(layout.starts), dtype=np.int64), layout.lengths),
            t_rel=ts_us - t0,
            every_us=every_us,
            item_days=series_item_days(frame, layout, ts_us, every_us),
            labels=label_index(truth, names, t0, int(ts_us.max()) - t0 + every_us),
            fallback=(truth, names, t0),
        )
        self.cache: dict[Key, Prepared] = {}
        self.records: list[dict[str, Any]] = []

    def prepared(self, key: Key) -> Prepared:
        if key not in self.cache:
            self.cache[key] = Prepared.build(self.frame, self.layout, self.x, self.settings[key])
        return self.cache[key]

    def run(
        self, key: Key, combos: Sequence[tuple[float | None, float]], stage: str, bar: Any
    ) -> None:
        prep = self.prepared(key)
        for k, md in combos:
            flagged, down = prep.flagged(k, md)
            for gap, least in self.rules:
                bounds = episode_bounds(flagged, self.data, gap, least, self.grid.cooldown, down)
                self.records.append(
                    {
                        "stage": stage,
                        "method": key[0],
                        "window": key[1],
                        "smooth": key[2],
                        "k": k,
                        "min_demand": md,
                        "merge_gap": gap,
                        "min_buckets": least,
                        **trial_scores(self.data, *bounds),
                    }
                )
            bar.update(len(self.rules))

    def trials_frame(self) -> pl.DataFrame:
        return pl.DataFrame(self.records, schema=_TRIAL_SCHEMA).with_row_index("_trial")

    def run_grid(
        self,
        progress: bool,
        objective: str,
        target_recall: float | None,
        max_false_per_day: float | None,
        refine: bool,
    ) -> None:
        """The grid, then (with ``refine``) finer k and min_demand around the best setting."""
        from tqdm.auto import tqdm

        plan = [(key, self.grid.combos(params)) for key, params in self.settings.items()]
        total = sum(len(c) for _, c in plan) * len(self.rules)
        with tqdm(total=total, desc="tune", disable=not progress, leave=False) as bar:
            for key, combos in plan:
                self.run(key, combos, "grid", bar)
            if refine:
                extra, key = self._refinement(objective, target_recall, max_false_per_day)
                bar.total += len(extra) * len(self.rules)
                bar.refresh()
                self.run(key, extra, "refine", bar)
            bar.refresh()  # the last updates may fall inside tqdm's redraw interval

    def _refinement(
        self, objective: str, target_recall: float | None, max_false_per_day: float | None
    ) -> tuple[list[tuple[float | None, float]], Key]:
        ranked, _ = rank_trials(
            self.trials_frame(), objective, target_recall, max_false_per_day, warn=False
        )
        top = ranked.filter(pl.col("rank") == 1).row(0, named=True)
        key = (top["method"], top["window"], top["smooth"])
        tried = {
            (r["k"], r["min_demand"])
            for r in self.records
            if (r["method"], r["window"], r["smooth"]) == key
        }
        ks: Sequence[float] = self.grid.ks  # type: ignore[assignment]
        return [combo for combo in refinement(top, ks) if combo not in tried], key
