"""Searching detection settings against labels: :func:`tune`, :class:`TuneGrid`, :class:`TuneResult`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import polars as pl

from stockseries._html import result_html
from stockseries.alerts._crossval import rank_by_items
from stockseries.alerts._ids import alert_params
from stockseries.alerts._scoring import as_tuple, rank_trials
from stockseries.alerts._search import VALIDATIONS, Combos, Key, Search, key_of
from stockseries.spikes._transform_choice import TransformChoice, choose_transform
from stockseries.spikes.methods import DIRECTIONS, TRANSFORMS, Detection, method_spec, spike_params

__all__ = ["TuneGrid", "TuneResult", "tune", "tune_result"]

_SCORES = ("f1", "precision", "recall", "false_per_day")
# Settings chosen on the fitted part that the held-out part then ranks.
_CANDIDATES = 10


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
        ``feasible`` (meets the constraints) and ``rank`` (1 = best); with searched
        directions/transforms also ``direction``/``transform``, with validation also
        ``val_precision`` … ``val_n_alerts``.
    best : dict
        Detection parameters of the best trial, complete (see
        :func:`~stockseries.spikes.spike_params`): ``detect_spikes(series, **best)``.
    alert_params : dict
        Its episode rules: ``alerts(detected, params=best, **alert_params)``.
    objective : str
        How the best was chosen, in words.
    transform_choice : TransformChoice or None
        With ``transforms="auto"``: how the transform was chosen from the data (see
        :func:`~stockseries.spikes.choose_transform`).
    """

    trials: pl.DataFrame
    best: dict[str, Any]
    alert_params: dict[str, Any]
    objective: str
    transform_choice: TransformChoice | None = None

    @property
    def best_trial(self) -> dict[str, Any]:
        """The row of :attr:`trials` ranked first."""
        return self.trials.filter(pl.col("rank") == 1).row(0, named=True)

    @property
    def runner_up(self) -> dict[str, Any] | None:
        """The row of :attr:`trials` ranked second (``None`` with a single trial)."""
        rows = self.trials.filter(pl.col("rank") == 2)
        return rows.row(0, named=True) if rows.height else None

    @property
    def detection(self) -> Detection:
        """:attr:`best` as a :class:`~stockseries.spikes.Detection` record."""
        return spike_params(**self.best)

    def params(self) -> dict[str, Any]:
        """The settings file ``stockseries tune --params-out`` writes: detection and rules."""
        return {**self.best, **self.alert_params}

    def _setting(self) -> str:
        parts = [str(self.best["method"])]
        for key in ("window", "smooth", "k", "min_demand"):
            if self.best.get(key) is not None:
                parts.append(f"{key}={self.best[key]:g}")
        for key in ("direction", "transform"):
            if key in self.best:
                parts.append(f"{key}={self.best[key]}")
        parts += [f"{key}={value}" for key, value in self.alert_params.items() if key != "cooldown"]
        return " ".join(parts)

    def _scores(self) -> str:
        row = self.best_trial
        text = ", ".join(_score(row, key) for key in _SCORES)
        if "val_f1" in row:
            text += "; held out: " + ", ".join(_score(row, "val_" + key) for key in _SCORES)
        return text

    def _runner_up(self) -> str:
        row = self.runner_up
        if row is None:
            return ""
        text = "runner-up " + _score(row, "f1")
        if "val_f1" in row:
            text += ", held out " + _score(row, "val_f1")
        return text + "; "

    def __repr__(self) -> str:
        return (
            f"TuneResult({self._setting()}: {self._scores()}; {self._runner_up()}"
            f"{self.trials.height} trials)"
        )

    def _repr_html_(self) -> str:
        note = f"{self._scores()}; {self._runner_up()}{self.objective}; {self.trials.height} trials"
        return result_html(
            f"Best: {self._setting()}",
            note=note,
            frames=[("Top 10 trials", self.trials.sort("rank"))],
        )


def _score(row: Mapping[str, Any], key: str) -> str:
    value = row.get(key)
    return f"{key}=null" if value is None else f"{key}={value:.3f}"


_GRID_DEFAULTS: dict[str, Any] = {
    "methods": ("zscore",),
    "windows": (30, 60, 120),
    "ks": (2.0, 3.0, 4.0, 5.0, 6.0, 7.0),
    "min_demands": (0, 1, 2, 4),
    "smooths": (1, 5, 10),
    "directions": ("up",),
    "transforms": (None,),
    "merge_gap": 0,
    "min_buckets": 1,
    "cooldown": 0,
    "min_periods": None,
    "column": "demand",
    "method_options": None,
}


@dataclass(frozen=True)
class TuneGrid:
    """The settings :func:`tune` searches, checked when the record is built.

    Every field accepts one value or a sequence (duplicates are dropped, order kept);
    after construction each holds a tuple. Building it checks every value with
    :func:`~stockseries.spikes.spike_params` and the episode rules, so a bad grid fails
    before any work. A ``transforms`` entry ``None`` means each method's own default;
    ``transforms="auto"`` (alone) means one transform chosen from the series, without
    labels, by :func:`~stockseries.spikes.choose_transform` (see :meth:`resolved`).

    Examples
    --------
    >>> grid = TuneGrid(methods=("zscore", "mad"), windows=60, ks=(3, 4))
    >>> grid.windows, grid.ks, len(grid.settings())
    ((60,), (3.0, 4.0), 6)
    >>> len(TuneGrid(methods=("zscore", "profile"), windows=(30, 60), smooths=1).settings())
    3
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
    directions: Sequence[str] | str = _GRID_DEFAULTS["directions"]
    transforms: Sequence[str | None] | str | None = _GRID_DEFAULTS["transforms"]
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
        put("directions", as_tuple(self.directions, "directions"))
        put("transforms", as_tuple(self.transforms, "transforms"))
        for direction in self.directions:  # type: ignore[union-attr]
            if direction not in DIRECTIONS:
                raise ValueError(f"direction must be 'up', 'down' or 'both', got {direction!r}")
        for transform in self.transforms:  # type: ignore[union-attr]
            if transform not in TRANSFORMS and not self.chooses_transform:
                raise ValueError(
                    "transforms must be None, 'sqrt' or 'log1p' (or 'auto' alone: chosen "
                    f"from the data), got {transform!r}"
                )
        put("merge_gap", as_tuple(self.merge_gap, "merge_gap"))
        put("min_buckets", as_tuple(self.min_buckets, "min_buckets"))
        put("method_options", dict(self.method_options or {}))
        for method in self.methods:
            if not method_spec(method).tunable:
                raise ValueError(f"method={method!r} cannot be tuned: it has no baseline to scale")
        for gap, least in self.rules():
            alert_params(every="1m", merge_gap=gap, min_buckets=least, cooldown=self.cooldown)
        # windows, smooths, options: checked by spike_params
        (replace(self, transforms=None) if self.chooses_transform else self).settings()

    @property
    def chooses_transform(self) -> bool:
        """True for ``transforms="auto"``: the transform is chosen from the series."""
        return self.transforms in ("auto", ("auto",))

    def resolved(self, series: Any) -> tuple[TuneGrid, TransformChoice | None]:
        """This grid with ``transforms="auto"`` replaced by the transform ``series`` calls
        for (:func:`~stockseries.spikes.choose_transform` on ``column``, default window),
        and that choice; any other grid unchanged, and ``None``."""
        if not self.chooses_transform:
            return self, None
        choice = choose_transform(series, column=self.column)
        return replace(self, transforms=(choice.transform,)), choice

    def rules(self) -> list[tuple[int, int]]:
        """The (merge_gap, min_buckets) pairs searched."""
        return [(g, b) for g in self.merge_gap for b in self.min_buckets]  # type: ignore[union-attr]

    def settings(self) -> dict[Key, Detection]:
        """One detection per method, window, smooth, direction and transform (``k`` set to
        the first grid value); a method without a window gets one per the rest."""
        if self.chooses_transform:
            raise ValueError(
                "transforms='auto' is chosen from the series: use grid.resolved(series) "
                "(stockseries.tune does), or choose with stockseries.choose_transform and "
                "give transforms=(choice.transform,)"
            )
        settings: dict[Key, Detection] = {}
        for method in self.methods:  # type: ignore[union-attr]
            windows = self.windows if method_spec(method).window is not None else (None,)
            for window in windows:  # type: ignore[union-attr]
                for smooth in self.smooths:  # type: ignore[union-attr]
                    for direction in self.directions:  # type: ignore[union-attr]
                        for transform in self.transforms:  # type: ignore[union-attr]
                            params = self._detection(method, window, smooth, direction, transform)
                            key = (method, params["window"], params["smooth"], direction, transform)
                            settings[key] = params
        return settings

    def _detection(
        self, method: str, window: int | None, smooth: int, direction: str, transform: str | None
    ) -> Detection:
        options: Mapping[str, Mapping[str, Any]] = self.method_options  # type: ignore[assignment]
        extra: dict[str, Any] = {} if transform is None else {"transform": transform}
        return spike_params(
            method,
            column=self.column,
            window=window,
            k=self.ks[0],  # type: ignore[index]
            min_periods=self.min_periods if window is not None else None,
            smooth=smooth,
            direction=direction,
            **extra,
            **options.get(method, {}),
        )

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
    directions: Sequence[str] | str = _GRID_DEFAULTS["directions"],
    transforms: Sequence[str | None] | str | None = _GRID_DEFAULTS["transforms"],
    validation: str | None = None,
    false_alarm_penalty: float = 0.0,
) -> TuneResult:
    """Search detection parameters that best recover labelled spikes.

    Every combination of ``methods`` × ``windows`` × ``smooths`` × ``directions``
    × ``transforms`` × ``ks`` × ``min_demands`` (× ``merge_gap`` × ``min_buckets``
    when given as sequences) is turned into alert episodes and scored with the event-level
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
      false alerts per item-day (also within ``max_false_per_day`` if given), then the
      highest recall (not the objective: event precision, so F1, rises when one event is
      cut into several alerts);
    - ``max_false_per_day`` alone: within that budget, the highest recall.

    With ``false_alarm_penalty`` = c the objective becomes
    ``objective − c × false_per_day``: each false alert per item-day costs c.
    Ties go to larger ``k``, ``min_demand``, ``min_buckets`` and ``merge_gap`` (fewer
    alerts on unseen data). If no setting meets the constraints a warning is issued
    and the highest ``objective`` wins.

    **Validation.** A setting that scores best on the data it was chosen on may not be
    best elsewhere. With ``validation="items"`` the items are cross-validated: they are
    split into up to 5 groups (item order modulo 5; with 5 items or fewer, one item per
    group) and each group is held out once. Within each configuration (every setting but
    ``k``) the threshold ``k`` is chosen on the other groups by the same rule and scored on
    the held-out group; a configuration's held-out score sums its groups' alerts, true
    alerts and labels found, so every item is judged by a threshold it did not help choose.
    Each configuration is then represented by its best trial on all items. With a
    constraint (``target_recall`` or ``max_false_per_day``: a promise about unseen items)
    a representative must meet it on all items *and* held out, and the objective on all
    items (more data, less noise) ranks the ones that do; without a constraint the
    held-out objective ranks them. Why: choosing ``k`` at the weakest labelled event of
    the training items has no margin, and a configuration whose ``k`` chosen on some items
    misses the events of another will miss events of new items too.

    With ``validation="time"`` the last third of the time span is held out: the grid (and
    the refinement) is scored on the earlier part, the ten best settings there are ranked
    by the same objective on the later part, and the best of those wins. Detection always
    runs on the whole series; the parts only decide which alerts and labels count. With
    either, the trials frame has ``val_precision`` … ``val_n_alerts`` (the held-out scores;
    null for trials that were not judged held out) and :class:`TuneResult` reports both
    scores of the best and of the runner-up.

    Parameters
    ----------
    series : frame
        A series frame (``item_id``, ``ts``, ``column``), dense per item.
    labels : frame
        Spike windows (``item_id``, ``start``, ``end``), e.g. ``Simulation.labels``.
    methods, windows, ks, min_demands, smooths, directions, transforms
        The grid (see :func:`~stockseries.spikes.detect_spikes`). ``quantile``
        ignores ``k`` (one trial per window); ``threshold`` cannot be tuned;
        ``profile`` takes no window (one trial per smooth). ``directions`` and
        ``transforms`` default to ``("up",)`` and ``(None,)`` (each method's own default
        transform); searching them adds ``direction``/``transform`` columns to the trials.
        ``transforms="auto"`` chooses one transform from ``series`` without the labels
        (:func:`~stockseries.spikes.choose_transform`: the likelihood of each bucket under
        the rolling baseline's normal model) and searches the rest of the grid with it
        (with ``None`` chosen, a method whose own default transform is not raw, ``profile``,
        keeps its default, as ``None`` does everywhere in the grid);
        :attr:`TuneResult.transform_choice` holds the evidence. Prefer it when the labels
        are few (a dozen events): alarms counted on so few events choose a model poorly
        (on the bundled Twitter data, searching transforms by labels on three tickers
        chose raw counts and missed a held-out window that ``"auto"``'s ``log1p`` hits).
        The default ``smooths`` include 5 and 10 buckets because per-minute
        demand rarely separates spikes from noise without averaging.
    objective, target_recall, max_false_per_day, false_alarm_penalty
        How to choose, see above.
    validation : {None, "items", "time"}
        Cross-validate over items, or choose on a later period, see above.
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
    TuneResult(zscore window=60 smooth=1 k=7 min_demand=9 merge_gap=0 min_buckets=1: f1=1.000, precision=1.000, recall=1.000, false_per_day=0.000; runner-up f1=1.000; 37 trials)
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
        "directions": directions,
        "transforms": transforms,
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
    choose = _choice(objective, target_recall, max_false_per_day, false_alarm_penalty)
    if validation not in VALIDATIONS:
        raise ValueError(f"validation must be None, 'items' or 'time', got {validation!r}")
    grid, transform_choice = grid.resolved(series)
    settings = grid.settings()
    search = Search(settings, grid.rules(), grid.cooldown, series, labels, validation)
    plan: list[tuple[Key, Combos]] = [(key, grid.combos(p)) for key, p in settings.items()]
    search.run_grid(plan, grid.ks, refine, progress, choose)  # type: ignore[arg-type]
    trials, how = rank_trials(search.trials_frame(), warn=True, **choose)
    if validation == "items":
        trials, how = rank_by_items(trials, how, choose, search.folds)
    elif validation == "time":
        trials, how = _validated(trials, how, choose, validation)
    trials = trials.select(pl.exclude("^_all_.*$", "^_f[0-9]+_.*$"))
    return tune_result(trials, how, settings, grid, transform_choice)


def _choice(
    objective: str, target_recall: float | None, max_false_per_day: float | None, penalty: float
) -> dict[str, Any]:
    if objective not in ("f1", "precision", "recall"):
        raise ValueError(f"objective must be 'f1', 'precision' or 'recall', got {objective!r}")
    if isinstance(penalty, bool) or not isinstance(penalty, int | float) or not penalty >= 0:
        raise ValueError(f"false_alarm_penalty must be a number >= 0, got {penalty!r}")
    return {
        "objective": objective,
        "target_recall": target_recall,
        "max_false_per_day": max_false_per_day,
        "penalty": float(penalty),
    }


def _validated(
    trials: pl.DataFrame, how: str, choose: Mapping[str, Any], validation: str
) -> tuple[pl.DataFrame, str]:
    """Re-rank the best :data:`_CANDIDATES` settings of the fitted part by their held-out scores."""
    candidates = trials.filter(pl.col("rank") <= _CANDIDATES)
    held = (
        candidates.drop("rank", "feasible")
        .rename({name: "_fit_" + name for name in candidates.columns if name in _METRIC_NAMES})
        .rename({"val_" + name: name for name in _METRIC_NAMES})
    )
    held_ranked, _ = rank_trials(held, warn=False, **choose)
    order = dict(zip(held_ranked["_trial"].to_list(), held_ranked["rank"].to_list(), strict=True))
    ranked = (
        trials.with_columns(
            _held=pl.col("_trial").replace_strict(order, default=None, return_dtype=pl.Int64)
        )
        .sort(pl.col("_held").is_null(), "_held", "rank")
        .with_columns(rank=pl.int_range(1, pl.len() + 1, dtype=pl.Int64))
        .with_columns(
            # Held-out scores are what chose among the candidates; others had no say.
            pl.when(pl.col("_held").is_not_null()).then(pl.col("val_" + name)).alias("val_" + name)
            for name in _METRIC_NAMES
        )
        .drop("_held")
        .sort("_trial")
    )
    part = "items" if validation == "items" else "later period"
    return ranked, f"{how} on held-out {part}, among the {_CANDIDATES} best on the rest"


_METRIC_NAMES = ("precision", "recall", "f1", "false_per_day", "n_alerts")


def tune_result(
    trials: pl.DataFrame,
    how: str,
    settings: Mapping[Key, Detection],
    grid: TuneGrid,
    transform_choice: TransformChoice | None = None,
) -> TuneResult:
    """The :class:`TuneResult` of ranked ``trials`` (one process or a cluster: the same result).

    The ``direction`` and ``transform`` columns are kept only when ``grid`` searched them.
    """
    top = trials.filter(pl.col("rank") == 1).row(0, named=True)
    md = top["min_demand"]
    key = key_of(top)
    best = spike_params(
        **{
            **settings[key],
            "k": top["k"] if top["k"] is not None else 3.0,
            "min_demand": int(md) if float(md).is_integer() else md,
        }
    )
    searched = [
        name
        for name, values in (("direction", grid.directions), ("transform", grid.transforms))
        if values != _GRID_DEFAULTS[name + "s"]
    ]
    dropped = [name for name in ("direction", "transform") if name not in searched]
    if transform_choice is not None:
        how += f"; transform chosen from the data: {transform_choice!r}"
    return TuneResult(
        trials=trials.drop("_trial", *dropped),
        best=best.to_dict(),
        alert_params={
            "merge_gap": top["merge_gap"],
            "min_buckets": top["min_buckets"],
            "cooldown": grid.cooldown,
        },
        objective=how,
        transform_choice=transform_choice,
    )
